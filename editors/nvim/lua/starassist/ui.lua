-- Floating windows for explain (streamed markdown) and the modify preview (a diff).

local M = {}

---@class starassist.Float
---@field buf integer
---@field win integer
---@field max_width integer
---@field max_height integer
---@field done boolean|nil  the answer is complete

local function size(lines, max_width, max_height)
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width, max_width)
  local height = 0
  for _, line in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(line) / width))
  end
  return width, math.max(1, math.min(height, max_height))
end

---@class starassist.FloatOpts
---@field title string
---@field footer string|nil
---@field filetype string
---@field enter boolean
---@field relative "cursor"|"editor"

--- Open a scratch float showing `lines`.
---@param lines string[]
---@param opts starassist.FloatOpts
---@return starassist.Float
function M.open(lines, opts)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = opts.filetype
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local max_width = math.max(20, math.min(100, vim.o.columns - 4))
  local max_height = math.max(3, math.floor(vim.o.lines * 0.6))
  local width, height = size(lines, max_width, max_height)
  local where = opts.relative == 'editor'
      and { relative = 'editor', row = math.floor((vim.o.lines - height) / 2) - 1, col = math.floor((vim.o.columns - width) / 2) }
    or { relative = 'cursor', row = 1, col = 0 }
  local win = vim.api.nvim_open_win(buf, opts.enter, vim.tbl_extend('force', where, {
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = opts.title,
    footer = opts.footer,
    footer_pos = opts.footer and 'right' or nil,
  }))
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.keymap.set('n', 'q', function()
    M.close({ win = win })
  end, { buffer = buf, nowait = true, desc = 'starassist: close' })
  return { buf = buf, win = win, max_width = max_width, max_height = max_height }
end

--- Replace the float's text and fit its size to it (for streamed answers).
---@param float starassist.Float
---@param text string
function M.set_text(float, text)
  if not vim.api.nvim_win_is_valid(float.win) then
    return
  end
  local lines = vim.split(text, '\n', { plain = true })
  vim.bo[float.buf].modifiable = true
  vim.api.nvim_buf_set_lines(float.buf, 0, -1, false, lines)
  vim.bo[float.buf].modifiable = false
  local width, height = size(lines, float.max_width, float.max_height)
  vim.api.nvim_win_set_config(float.win, { width = width, height = height })
end

---@param float {win: integer}
function M.close(float)
  if float.win and vim.api.nvim_win_is_valid(float.win) then
    vim.api.nvim_win_close(float.win, true)
  end
end

return M
