-- Headless Neovim against the real server: :Starassist chat (streaming into a split, history, /reset),
-- :Starassist explain (a float for the current function), :Starassist modify (a diff preview; reject leaves the
-- buffer alone, accept changes it and one `undo` restores it).
-- Environment: STARASSIST_TEST_CMD = JSON list, the server command; STARASSIST_TEST_DIR = a scratch directory.
local H = dofile(vim.fs.joinpath(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h'), 'helpers.lua'))
H.load_plugin()
vim.o.columns, vim.o.lines = 100, 40

local cmd = vim.json.decode((assert(os.getenv('STARASSIST_TEST_CMD'), 'STARASSIST_TEST_CMD is not set')))
local dir = (assert(os.getenv('STARASSIST_TEST_DIR'), 'STARASSIST_TEST_DIR is not set'))
local report = {}

local lsp = require('starassist.lsp')
local chat = require('starassist.chat')
local explain = require('starassist.explain')
local modify = require('starassist.modify')
require('starassist').setup({
  cmd = cmd,
  settings = { chat = { max_tokens = 32 } },
  inline = { auto_trigger = false },
})

local buf = H.edit_file(dir, 'shapes.py', {
  'import math',
  '',
  '',
  'def circle_area(radius):',
  '    """Area of a circle."""',
  '    return math.pi * radius ** 2',
  '',
  '',
  'def square_area(side):',
  '    return side * side',
  '',
})
local code_win = vim.api.nvim_get_current_win()
H.wait_attached(buf)

local t0 = vim.uv.hrtime()
local function step(name) -- timings on stderr, for a slow run
  io.stderr:write(('%s: %.1f s\n'):format(name, (vim.uv.hrtime() - t0) / 1e9))
end
step('server ready')

local function lines_of(b)
  return vim.api.nvim_buf_get_lines(b, 0, -1, false)
end

-- 1. Chat: the answer streams into the split (more than one piece), the history goes with the next question.
local pieces = 0
local append = chat.append
chat.append = function(piece)
  pieces = pieces + 1
  append(piece)
end
local function answered(n)
  H.ok(vim.wait(120000, function()
    return chat.cancel == nil and #chat.history == n
  end, 20), 'chat answered (' .. n .. ' turns in the history)')
end
vim.cmd('4,6Starassist chat What does this function return?')
local chat_win = vim.api.nvim_get_current_win()
H.ok(chat_win ~= code_win, 'the chat opened in its own window')
H.eq(chat.buf, vim.api.nvim_win_get_buf(chat_win), 'the chat window shows the chat buffer')
H.ok(vim.tbl_contains(vim.api.nvim_tabpage_list_wins(0), code_win), 'a split: the code stays visible')
H.eq('', vim.api.nvim_win_get_config(chat_win).relative, 'not a float')
answered(2)
step('first chat answer')
H.ok(pieces > 1, 'the answer arrived in pieces: ' .. pieces)
H.ok(chat.history[1].content:find('def circle_area(radius):', 1, true), 'the selected lines went with the question')
local first_answer = chat.history[2].content
H.ok(first_answer:match('%S'), 'a non-empty answer')
vim.cmd('Starassist chat And for a radius of 2?')
answered(4)
step('second chat answer')
H.eq('And for a radius of 2?', chat.history[3].content, 'the second question in the history')
local text = lines_of(chat.buf)
report.chat = table.concat(text, '\n')
H.eq(chat.YOU, text[1], 'transcript starts with the first question')
H.ok(vim.tbl_contains(text, 'What does this function return?'), 'first question shown')
H.ok(vim.tbl_contains(text, 'And for a radius of 2?'), 'second question shown')
H.eq(2, #vim.tbl_filter(function(l) return l == chat.ASSISTANT end, text), 'two answers shown')
H.ok(report.chat:find(vim.split(first_answer, '\n')[1], 1, true), 'the first answer is still shown')
H.eq(vim.api.nvim_buf_line_count(chat.buf), vim.api.nvim_win_get_cursor(chat_win)[1], 'the window follows the answer')
vim.cmd('Starassist chat /reset')
H.eq({ '' }, lines_of(chat.buf), '/reset empties the chat')
H.eq({}, chat.history, '/reset forgets the history')
vim.cmd.close()
vim.api.nvim_set_current_win(code_win)

-- 2. Explain without a range: the function at the cursor, in a float next to it; the cursor stays in the code.
vim.api.nvim_win_set_cursor(code_win, { 5, 4 })
vim.cmd('Starassist explain')
local float = H.ok(explain.float, 'explain opened a float')
H.eq(code_win, vim.api.nvim_get_current_win(), 'the cursor stays in the code')
H.ok(vim.wait(120000, function()
  return float.done == true
end, 20), 'explanation complete')
step('explanation')
local config = vim.api.nvim_win_get_config(float.win)
H.ok(config.relative ~= '', 'a floating window')
report.explain_title = config.title and config.title[1] and config.title[1][1]
H.ok((report.explain_title or ''):find('lines 4%-6'), 'the current function (lines 4-6): ' .. vim.inspect(config.title))
report.explanation = table.concat(lines_of(float.buf), '\n')
H.ok(report.explanation:match('%S') and report.explanation ~= '…', 'the float has the explanation')
vim.api.nvim_set_current_win(float.win)
vim.api.nvim_feedkeys('q', 'xt', false)
H.ok(not vim.api.nvim_win_is_valid(float.win), 'q closes the float')
H.eq(nil, explain.float, 'no explanation open')
vim.api.nvim_set_current_win(code_win)

-- 3. Modify: an edit made before (as a script or another plugin would) must stay out of the modification's undo step.
vim.api.nvim_buf_set_lines(buf, 0, 1, false, { 'import math  # pi' })
local before = lines_of(buf)
local tick = vim.api.nvim_buf_get_changedtick(buf)
local function preview()
  vim.api.nvim_set_current_win(code_win)
  vim.api.nvim_win_set_cursor(code_win, { 6, 4 })
  vim.cmd('Starassist modify add a type hint for radius and the return value')
  H.ok(vim.wait(120000, function()
    return modify.pending ~= nil
  end, 20), 'a preview within 120 s')
  local p = modify.pending
  H.eq(p.float.win, vim.api.nvim_get_current_win(), 'the preview has the focus')
  H.eq('diff', vim.bo[p.float.buf].filetype, 'the preview is a diff')
  return p, lines_of(p.float.buf)
end
local p, diff = preview()
step('modify preview')
report.diff = table.concat(diff, '\n')
H.eq('--- a/shapes.py', diff[1], 'diff header')
H.ok(diff[3]:find('^@@ '), 'a hunk')
H.ok(#vim.tbl_filter(function(l) return l:find('^%+') end, vim.list_slice(diff, 3)) > 0, 'added lines')
H.eq({ 4, 6 }, { p.line1, p.line2 }, 'the current function')
H.eq(before, lines_of(buf), 'nothing changed before the decision')
vim.api.nvim_feedkeys('r', 'xt', false)
H.eq(nil, modify.pending, 'rejected')
H.ok(not vim.api.nvim_win_is_valid(p.float.win), 'the preview closed')
H.eq(before, lines_of(buf), 'reject leaves the buffer untouched')
H.eq(tick, vim.api.nvim_buf_get_changedtick(buf), 'not even a no-op change')

p = preview()
step('second modify preview')
vim.api.nvim_feedkeys('a', 'xt', false)
H.eq(nil, modify.pending, 'accepted')
local after = lines_of(buf)
H.eq(modify.replaced(before, 4, 6, table.concat(p.lines, '\n')), after, 'accept applied the proposal')
H.ok(not vim.deep_equal(before, after), 'the buffer changed')
report.modified = table.concat(after, '\n')
vim.api.nvim_buf_call(buf, function()
  vim.cmd('undo')
end)
H.eq(before, lines_of(buf), 'one undo restores the buffer as it was before the modification')

lsp.stop()
report.ok = true
H.report(report)
