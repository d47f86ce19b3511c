-- :Starassist modify — the server proposes new text for a range ("apply": false); a float shows it as a unified
-- diff; `a` applies it as one undo step, `r` (or closing the float) leaves the buffer as it was.

local commands = require('starassist.commands')
local ui = require('starassist.ui')

local M = {}

local diff = (vim.text and vim.text.diff) or vim.diff

---@class starassist.Proposal
---@field bufnr integer
---@field line1 integer
---@field line2 integer
---@field lines string[]   replacement for lines line1..line2
---@field tick integer     b:changedtick the proposal was made for
---@field diff string
---@field float starassist.Float|nil

---@type starassist.Proposal|nil  the proposal on screen (tests read it)
M.pending = nil

--- The buffer's lines with line1..line2 replaced by `new_text` (the server's text for the range from the start
--- of line1 to the end of line2).
---@param lines string[]
---@return string[]
function M.replaced(lines, line1, line2, new_text)
  local out = vim.list_slice(lines, 1, line1 - 1)
  vim.list_extend(out, vim.split(new_text, '\n', { plain = true }))
  vim.list_extend(out, lines, line2 + 1)
  return out
end

--- A unified diff of two versions of a file named `name` ('' when they are equal).
---@param name string
---@param before string[]
---@param after string[]
---@return string
function M.unified_diff(name, before, after)
  local hunks = diff(table.concat(before, '\n') .. '\n', table.concat(after, '\n') .. '\n',
    { result_type = 'unified', ctxlen = 3 })
  if hunks == '' then
    return ''
  end
  return ('--- a/%s\n+++ b/%s\n%s'):format(name, name, hunks)
end

local function notify(msg, level)
  require('starassist').notify(msg, level)
end

--- Close the preview without touching the buffer.
function M.reject()
  local p = M.pending
  M.pending = nil
  if p and p.float then
    ui.close(p.float)
  end
end

--- Apply the previewed change as one undo step. Returns true when applied.
---@return boolean
function M.accept()
  local p = M.pending
  M.reject()
  if not p or not vim.api.nvim_buf_is_valid(p.bufnr) then
    return false
  end
  if vim.api.nvim_buf_get_changedtick(p.bufnr) ~= p.tick then
    notify('the buffer changed since the preview — nothing applied; run modify again', vim.log.levels.WARN)
    return false
  end
  vim.api.nvim_buf_call(p.bufnr, function()
    -- Setting 'undolevels' to itself closes the undo block, so earlier changes made without a keystroke in
    -- between (scripts, other plugins) stay out of this one: one `u` undoes exactly the modification.
    vim.bo.undolevels = vim.bo.undolevels
  end)
  vim.api.nvim_buf_set_lines(p.bufnr, p.line1 - 1, p.line2, false, p.lines)
  return true
end

---@param proposal starassist.Proposal
local function preview(proposal)
  M.reject()
  local lines = vim.split(proposal.diff, '\n', { plain = true, trimempty = true })
  proposal.float = ui.open(lines, {
    title = ' starassist: modify ',
    footer = ' a accept · r reject ',
    filetype = 'diff',
    enter = true,
    relative = 'editor',
  })
  M.pending = proposal
  local buf = proposal.float.buf
  for _, key in ipairs({ 'a', '<CR>' }) do
    vim.keymap.set('n', key, M.accept, { buffer = buf, nowait = true, desc = 'starassist: apply the change' })
  end
  for _, key in ipairs({ 'r', 'q', '<Esc>' }) do
    vim.keymap.set('n', key, M.reject, { buffer = buf, nowait = true, desc = 'starassist: reject the change' })
  end
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      if M.pending == proposal then -- closed some other way: a rejection
        M.pending = nil
      end
    end,
  })
end

--- Ask the server for the change and preview it.
function M.request(bufnr, line1, line2, instruction)
  local arg = commands.range_argument(bufnr, line1, line2)
  arg.instruction = instruction
  arg.apply = false
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  notify(('asking for the change to lines %d-%d…'):format(line1, line2))
  commands.exec(bufnr, 'starassist.modify', arg, {
    on_result = function(result)
      if type(result) ~= 'table' or type(result.newText) ~= 'string' then
        notify('the server proposed no change', vim.log.levels.WARN)
        return
      end
      if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
        notify('the buffer changed while the change was made — run modify again', vim.log.levels.WARN)
        return
      end
      local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
      local after = M.replaced(before, line1, line2, result.newText)
      local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':~:.')
      local text = M.unified_diff(name ~= '' and name or '[No Name]', before, after)
      if text == '' then
        notify('the model proposed no change — rephrase the instruction')
        return
      end
      preview({
        bufnr = bufnr,
        line1 = line1,
        line2 = line2,
        lines = vim.split(result.newText, '\n', { plain = true }),
        tick = tick,
        diff = text,
      })
    end,
  })
end

--- :Starassist modify [instruction] — asks for the instruction when it is not given.
function M.modify(bufnr, line1, line2, instruction)
  if instruction and instruction ~= '' then
    M.request(bufnr, line1, line2, instruction)
    return
  end
  vim.ui.input({ prompt = '[starassist] how should the code change? ' }, function(input)
    if input and input ~= '' then
      M.request(bufnr, line1, line2, input)
    end
  end)
end

return M
