-- Starts `starassist lsp` with `vim.lsp.start` and keeps the latest per-request timings.

local config = require('starassist.config')

local M = {}

M.name = 'starassist'
---@type table|nil  last `starassist/timings` notification
M.last_timings = nil

--- Client capabilities: Neovim's own plus inline completion (0.11 does not announce it itself).
---@return lsp.ClientCapabilities
function M.capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  return caps
end

---@param bufnr integer
---@return boolean
function M.wants(bufnr)
  local cfg = config.get()
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then
    return false
  end
  if cfg.filetypes == nil then
    return true
  end
  return vim.tbl_contains(cfg.filetypes, vim.bo[bufnr].filetype)
end

---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  return clients[1]
end

local function root_dir(bufnr)
  local cfg = config.get()
  local ok, root = pcall(vim.fs.root, bufnr, cfg.root_markers)
  return (ok and root) or vim.fn.getcwd()
end

--- Start (or reuse) the server and attach it to `bufnr`. Returns the client id.
---@param bufnr integer|nil
---@return integer|nil
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local cfg = config.get()
  if type(cfg.cmd) == 'table' and vim.fn.executable(cfg.cmd[1]) ~= 1 then
    -- Said once per session: a FileType autocmd would otherwise repeat it for every buffer.
    if not M.warned_missing then
      M.warned_missing = true
      vim.notify(('[starassist] `%s` not found — pip install starassist, or set cmd in require("starassist").setup{}')
        :format(cfg.cmd[1]), vim.log.levels.ERROR)
    end
    return nil
  end
  return vim.lsp.start({
    name = M.name,
    cmd = cfg.cmd,
    root_dir = root_dir(bufnr),
    -- The server reads its settings tree from initializationOptions, and later from
    -- workspace/didChangeConfiguration / workspace/configuration under the "starassist" section.
    init_options = cfg.settings,
    settings = { starassist = cfg.settings },
    capabilities = M.capabilities(),
    handlers = {
      ['starassist/timings'] = function(_, result)
        M.last_timings = result
      end,
      ['starassist/text'] = require('starassist.commands').on_text,
    },
  }, { bufnr = bufnr })
end

--- Stop every starassist client.
---@param force boolean|nil
function M.stop(force)
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client:stop(force)
  end
end

--- Send new settings to running servers (after `setup()` is called again with other settings).
function M.push_settings()
  local cfg = config.get()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    client.settings = { starassist = cfg.settings }
    client:notify('workspace/didChangeConfiguration', { settings = { starassist = cfg.settings } })
  end
end

--- A one-line summary of the latest timings, e.g. "412 prompt tokens (400 reused), 130 ms".
---@return string|nil
function M.timings_text()
  local t = M.last_timings
  if type(t) ~= 'table' then
    return nil
  end
  if type(t.timings) == 'table' then
    t = vim.tbl_extend('force', t, t.timings)
  end
  local total = t.total_ms or ((t.prompt_ms or 0) + (t.generation_ms or 0))
  local parts = {}
  if t.prompt_tokens then
    table.insert(parts, ('%d prompt tokens (%d reused)'):format(t.prompt_tokens, t.reused_tokens or 0))
  end
  if t.generated_tokens then
    table.insert(parts, ('%d generated'):format(t.generated_tokens))
  end
  table.insert(parts, ('%d ms'):format(math.floor(total + 0.5)))
  return table.concat(parts, ', ')
end

return M
