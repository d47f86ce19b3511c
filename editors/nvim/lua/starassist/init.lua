-- starassist: local fill-in-the-middle completions in Neovim, served by `starassist lsp`.
--
--   require('starassist').setup({ cmd = { 'starassist', 'lsp' }, settings = { model = { path = '...' } } })
--
-- setup() may be called again (e.g. when re-sourcing the config): it clears its autocmds and keys first.

local M = {}

local PREFIX = '[starassist] '

---@param msg string
---@param level integer|nil
function M.notify(msg, level)
  vim.notify(PREFIX .. msg, level or vim.log.levels.INFO)
end

---@param opts starassist.Config|table|nil
function M.setup(opts)
  local config = require('starassist.config')
  local lsp = require('starassist.lsp')
  local completion = require('starassist.completion')
  local keymaps = require('starassist.keymaps')

  local cfg, problems = config.set(opts)
  for _, p in ipairs(problems) do
    M.notify('bad option ' .. p .. ' (see :checkhealth starassist)', vim.log.levels.ERROR)
  end

  local group = vim.api.nvim_create_augroup('starassist', { clear = true })
  completion.setup(group)
  keymaps.setup()

  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == lsp.name then
        completion.attach(ev.buf, client)
      end
    end,
  })

  if cfg.auto_start then
    vim.api.nvim_create_autocmd('FileType', {
      group = group,
      callback = function(ev)
        if lsp.wants(ev.buf) then
          lsp.start(ev.buf)
        end
      end,
    })
    -- Buffers already open when setup() runs (lazy loading).
    for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= '' and lsp.wants(bufnr) then
        lsp.start(bufnr)
      end
    end
  end
  -- A second setup() with other server settings reaches running servers at once.
  lsp.push_settings()
  M.did_setup = true
end

--- Start the server for the current buffer.
function M.start()
  local id = require('starassist.lsp').start(0)
  if not id then
    M.notify('the server did not start — check `cmd` (:checkhealth starassist)', vim.log.levels.ERROR)
  end
  return id
end

function M.stop()
  require('starassist.completion').dismiss(0)
  require('starassist.lsp').stop()
end

function M.restart()
  local lsp = require('starassist.lsp')
  local buffers = {}
  for _, client in ipairs(vim.lsp.get_clients({ name = lsp.name })) do
    vim.list_extend(buffers, vim.tbl_keys(client.attached_buffers))
  end
  lsp.stop(true)
  vim.defer_fn(function()
    for _, bufnr in ipairs(#buffers > 0 and buffers or { vim.api.nvim_get_current_buf() }) do
      if vim.api.nvim_buf_is_valid(bufnr) then
        lsp.start(bufnr)
      end
    end
  end, 200)
end

--- Toggle suggestions while typing.
function M.toggle()
  local cfg = require('starassist.config').get()
  cfg.inline.auto_trigger = not cfg.inline.auto_trigger
  if not cfg.inline.auto_trigger then
    require('starassist.completion').dismiss(0)
  end
  M.notify('suggestions while typing ' .. (cfg.inline.auto_trigger and 'on' or 'off'))
end

function M.status()
  local lsp = require('starassist.lsp')
  local client = lsp.client(0)
  if not client then
    M.notify('not attached to this buffer')
    return
  end
  local timings = lsp.timings_text()
  M.notify(('running (client %d)%s'):format(client.id, timings and ('; last completion: ' .. timings) or ''))
end

--- Lines line1..line2, or the function at the cursor when the command had no range.
local function lines_of(line1, line2, has_range)
  if has_range then
    return line1, line2
  end
  return require('starassist.scope').current_function()
end

--- Explain lines line1..line2 (or the current function) in a float.
function M.explain(line1, line2, has_range)
  local first, last = lines_of(line1, line2, has_range ~= false)
  require('starassist.explain').explain(vim.api.nvim_get_current_buf(), first, last)
end

--- Rewrite lines line1..line2 (or the current function) following `instruction` (asked for when empty), after a
--- diff preview.
function M.modify(line1, line2, instruction, has_range)
  local first, last = lines_of(line1, line2, has_range ~= false)
  require('starassist.modify').modify(vim.api.nvim_get_current_buf(), first, last, instruction)
end

--- Open the chat split; with a range, its lines go with the question as context.
function M.chat(message, line1, line2, has_range)
  local context = has_range and { bufnr = vim.api.nvim_get_current_buf(), line1 = line1, line2 = line2 } or nil
  require('starassist.chat').chat(message, context)
end

return M
