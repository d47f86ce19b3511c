-- Typed defaults, merged with the user's options by `vim.tbl_deep_extend`.

local M = {}

---@class starassist.Keymaps
---@field accept string|false       accept the whole suggestion
---@field accept_line string|false  accept up to the end of the current line of the suggestion
---@field accept_word string|false  accept the next word of the suggestion
---@field dismiss string|false
---@field trigger string|false      ask for suggestions explicitly (several, cycle with next/prev)
---@field next string|false
---@field prev string|false

---@class starassist.InlineConfig
---@field enabled boolean
---@field auto_trigger boolean   request suggestions while typing (else only on `trigger`)
---@field debounce_ms integer    client-side wait after a keystroke; the server debounces too
---@field hl_group string        highlight of the suggestion's virtual text
---@field native "auto"|boolean  use Neovim 0.12+ `vim.lsp.inline_completion` when it exists

---@class starassist.Config
---@field cmd string[]|fun(dispatchers: table): table  the server command (`starassist lsp`)
---@field filetypes string[]|nil   attach only to these filetypes (nil: every file buffer)
---@field root_markers string[]
---@field auto_start boolean       start the server for matching buffers
---@field settings table           server settings tree: { model = {...}, completion = {...}, chat = {...} }
---@field inline starassist.InlineConfig
---@field keymaps starassist.Keymaps
M.defaults = {
  cmd = { 'starassist', 'lsp' },
  filetypes = nil,
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod' },
  auto_start = true,
  settings = {},
  inline = {
    enabled = true,
    auto_trigger = true,
    debounce_ms = 30,
    hl_group = 'Comment',
    native = 'auto',
  },
  keymaps = {
    accept = '<Tab>',
    accept_line = '<M-l>',
    accept_word = '<M-w>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
    next = '<M-]>',
    prev = '<M-[>',
  },
}

---@type starassist.Config
M.current = vim.deepcopy(M.defaults)

local function is_key(v)
  return v == false or type(v) == 'string'
end

--- Check the merged options; returns a list of problems (each names the option and what it wants).
---@param cfg starassist.Config
---@return string[]
function M.validate(cfg)
  local problems = {}
  local function check(name, ok, want)
    if not ok then
      table.insert(problems, ('%s: expected %s, got %s'):format(name, want, vim.inspect(vim.tbl_get(cfg, unpack(vim.split(name, '.', { plain = true }))))))
    end
  end
  check('cmd', (type(cfg.cmd) == 'table' and #cfg.cmd > 0) or type(cfg.cmd) == 'function', 'a non-empty list like { "starassist", "lsp" }')
  check('filetypes', cfg.filetypes == nil or type(cfg.filetypes) == 'table', 'a list of filetypes or nil')
  check('root_markers', type(cfg.root_markers) == 'table', 'a list of file names')
  check('auto_start', type(cfg.auto_start) == 'boolean', 'true or false')
  check('settings', type(cfg.settings) == 'table', 'a table like { model = { path = "..." } }')
  check('inline.enabled', type(cfg.inline.enabled) == 'boolean', 'true or false')
  check('inline.auto_trigger', type(cfg.inline.auto_trigger) == 'boolean', 'true or false')
  check('inline.debounce_ms', type(cfg.inline.debounce_ms) == 'number' and cfg.inline.debounce_ms >= 0, 'a number >= 0')
  check('inline.hl_group', type(cfg.inline.hl_group) == 'string', 'a highlight group name')
  check('inline.native', cfg.inline.native == 'auto' or type(cfg.inline.native) == 'boolean', '"auto", true or false')
  for name, value in pairs(cfg.keymaps) do
    check('keymaps.' .. name, is_key(value), 'a key like "<Tab>" or false')
  end
  return problems
end

--- Merge `opts` over the defaults (not over the previous call: setup() twice with the same opts is a no-op).
---@param opts table|nil
---@return starassist.Config, string[]
function M.set(opts)
  opts = opts or {}
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- Lists replace the default rather than merging index by index.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts[key] ~= nil then
      merged[key] = opts[key]
    end
  end
  local problems = M.validate(merged)
  M.current = merged
  return merged, problems
end

---@return starassist.Config
function M.get()
  return M.current
end

return M
