-- :Starassist explain — the explanation of a range (or the current function) streams into a float at the cursor,
-- which closes like a hover: when the cursor moves, or with `q` inside it.

local commands = require('starassist.commands')
local ui = require('starassist.ui')

local M = {}

---@type starassist.Float|nil  the open explanation (tests read it)
M.float = nil

local function close()
  if M.float then
    ui.close(M.float)
    M.float = nil
  end
end

---@param bufnr integer
---@param line1 integer
---@param line2 integer
function M.explain(bufnr, line1, line2)
  close()
  local float = ui.open({ '…' }, {
    title = (' starassist: explain lines %d-%d '):format(line1, line2),
    filetype = 'markdown',
    enter = false,
    relative = 'cursor',
  })
  M.float = float
  local text = ''
  local cancel = commands.exec(bufnr, 'starassist.explain', commands.range_argument(bufnr, line1, line2), {
    on_text = function(piece)
      text = text .. piece
      ui.set_text(float, text)
    end,
    on_result = function(result)
      local answer = type(result) == 'table' and result.text or result
      if type(answer) ~= 'string' or answer == '' then
        answer = '(no explanation)'
      end
      float.done = true
      ui.set_text(float, answer)
    end,
    on_error = function(message)
      float.done = true
      ui.set_text(float, message)
    end,
  })
  if not cancel then
    close()
    return
  end
  -- Close when the cursor leaves its place in the code (CursorMoved also fires once without a move). The clean-up
  -- does not rely on WinClosed: autocommands do not fire from inside another one's callback.
  local win = vim.api.nvim_get_current_win()
  local pos = vim.api.nvim_win_get_cursor(win)
  local group = vim.api.nvim_create_augroup('starassist_explain', { clear = true })
  local function finish()
    cancel()
    if M.float == float then
      M.float = nil
    end
    pcall(vim.api.nvim_del_augroup_by_id, group)
  end
  vim.api.nvim_create_autocmd({ 'CursorMoved', 'CursorMovedI', 'InsertCharPre' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      local here = vim.api.nvim_win_is_valid(win) and vim.api.nvim_win_get_cursor(win) or {}
      if vim.api.nvim_get_current_win() ~= float.win and not vim.deep_equal(here, pos) then
        ui.close(float)
        finish()
      end
    end,
  })
  vim.api.nvim_create_autocmd('WinClosed', {
    group = group,
    pattern = tostring(float.win),
    once = true,
    callback = finish,
  })
end

return M
