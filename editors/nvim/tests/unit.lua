-- Pure parts of the plugin, no server: options, result conversion (UTF-16 positions), partial accepts.
local H = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'helpers.lua'))
H.load_plugin()

local config = require('starassist.config')
local completion = require('starassist.completion')

-- Options: lists replace defaults, tables merge, bad values are named.
local cfg, problems = config.set({ cmd = { '/opt/sa' }, inline = { debounce_ms = 5 }, keymaps = { accept = false } })
H.eq({ '/opt/sa' }, cfg.cmd, 'cmd replaces the default list')
H.eq(5, cfg.inline.debounce_ms, 'inline.debounce_ms')
H.eq(true, cfg.inline.auto_trigger, 'defaults kept next to overrides')
H.eq(false, cfg.keymaps.accept, 'a key can be disabled')
H.eq({}, problems, 'no problems')
local _, bad = config.set({ cmd = {}, inline = { debounce_ms = -1, native = 'yes' } })
H.eq(3, #bad, 'three problems')
H.ok(bad[1]:find('^cmd: expected'), 'problem names the option: ' .. bad[1])
config.set({}) -- a second call starts again from the defaults
H.eq({ 'starassist', 'lsp' }, config.get().cmd, 'defaults restored')

-- Item conversion: the range is in UTF-16 code units; the emoji takes two, the bytes four.
local line = 'label = "🚀" + fo)'
local col = #'label = "🚀" + fo' -- cursor before ")", in bytes
local u16 = vim.str_utfindex(line, 'utf-16', col, false)
H.eq(17, u16, 'utf-16 column of the cursor (the emoji counts two)')
local result = {
  items = {
    -- replaces the typed "fo" and the auto-closed ")" after the cursor
    { insertText = 'format(x))', range = { start = { line = 3, character = u16 - 2 }, ['end'] = { line = 3, character = u16 + 1 } } },
    { insertText = 'foo', range = { start = { line = 3, character = u16 - 2 }, ['end'] = { line = 3, character = u16 } } },
    { insertText = 'bar', range = { start = { line = 3, character = u16 - 2 }, ['end'] = { line = 3, character = u16 } } }, -- does not match "fo"
    { insertText = { kind = 'snippet', value = 'o' }, range = { start = { line = 3, character = u16 - 2 }, ['end'] = { line = 3, character = u16 } } }, -- nothing left
    { insertText = 'o' }, -- no range: inserted at the cursor
  },
}
local items = completion.items_from_result(result, line, 3, col, 'utf-16')
H.eq({
  { ghost = 'rmat(x))', replace_after = ')' },
  { ghost = 'o', replace_after = '' },
}, vim.tbl_map(function(i) return { ghost = i.ghost, replace_after = i.replace_after } end, items), 'items')
-- Same cursor with UTF-8 positions (a client that negotiated utf-8).
local u8 = col
local items8 = completion.items_from_result({ { insertText = 'foo', range = { start = { line = 3, character = u8 - 2 }, ['end'] = { line = 3, character = u8 } } } }, line, 3, col, 'utf-8')
H.eq('o', items8[1].ghost, 'utf-8 ranges')
H.eq({}, completion.items_from_result(nil, line, 3, col, 'utf-16'), 'null result')

-- Rendering and accepting word / line / full in a scratch buffer.
local buf = vim.api.nvim_create_buf(true, false)
vim.api.nvim_set_current_buf(buf)
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'def f(x):', '    return (x' , 'print(f(1))' })
vim.api.nvim_win_set_cursor(0, { 2, #'    return (x' })
completion.show(buf, { { ghost = ' * 2 + 1)\n    # done', replace_after = '' } }, nil)
local marks = vim.api.nvim_buf_get_extmarks(buf, completion.ns, 0, -1, { details = true })
H.eq(1, #marks, 'one extmark')
H.eq(' * 2 + 1)', marks[1][4].virt_text[1][1], 'first line as inline virtual text')
H.eq('    # done', marks[1][4].virt_lines[1][1][1], 'further lines as virtual lines')
H.ok(completion.accept('word'), 'word accepted')
H.eq('    return (x *', vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1], 'after word accept')
H.eq(' 2 + 1)\n    # done', completion.current(buf), 'rest after word accept')
H.ok(completion.accept('line'), 'line accepted')
H.eq('    return (x * 2 + 1)', vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1], 'after line accept')
H.eq('\n    # done', completion.current(buf), 'rest after line accept')
H.ok(completion.accept('full'), 'full accepted')
H.eq({ 'def f(x):', '    return (x * 2 + 1)', '    # done', 'print(f(1))' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'buffer after accept')
H.eq({ 3, #'    # done' }, vim.api.nvim_win_get_cursor(0), 'cursor at the end of the inserted text')
H.eq(false, completion.visible(buf), 'nothing shown after a full accept')
H.eq(0, #vim.api.nvim_buf_get_extmarks(buf, completion.ns, 0, -1, {}), 'extmark removed')
H.eq(false, completion.accept('full'), 'accept without a suggestion does nothing')

-- A full accept replaces the auto-closed bracket after the cursor instead of doubling it.
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'print(' .. ')' })
vim.api.nvim_win_set_cursor(0, { 1, #'print(' })
completion.show(buf, { { ghost = '"hi")', replace_after = ')' } }, nil)
completion.accept('full')
H.eq({ 'print("hi")' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'closing bracket replaced')

-- Typing through: the typed characters match the suggestion, the rest stays, no request is made.
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'x = ' })
vim.api.nvim_win_set_cursor(0, { 1, 4 })
completion.show(buf, { { ghost = 'compute(1)', replace_after = '' }, { ghost = 'other', replace_after = '' } }, nil)
vim.api.nvim_buf_set_text(buf, 0, 4, 0, 4, { 'com' })
vim.api.nvim_win_set_cursor(0, { 1, 7 })
completion.on_text_changed(buf)
H.eq('pute(1)', completion.current(buf), 'rest of the suggestion after typing through')
vim.api.nvim_buf_set_text(buf, 0, 7, 0, 7, { 'X' })
vim.api.nvim_win_set_cursor(0, { 1, 8 })
config.get().inline.auto_trigger = false
completion.on_text_changed(buf)
H.eq(false, completion.visible(buf), 'dismissed when the typed text diverges')

-- setup() twice: one autocmd set, keys not duplicated.
require('starassist').setup({ auto_start = false })
require('starassist').setup({ auto_start = false })
local autocmds = vim.api.nvim_get_autocmds({ group = 'starassist', event = 'TextChangedI' })
H.eq(1, #autocmds, 'TextChangedI autocmds after two setup() calls')
H.ok(vim.fn.maparg('<M-w>', 'i') ~= '', 'accept_word key mapped')
H.ok(vim.fn.exists(':Starassist') == 2, ':Starassist command exists')

-- The keys, typed in insert mode: <M-w> takes a word, <Tab> the rest; <Tab> without a suggestion is a tab.
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'x = ' })
vim.api.nvim_win_set_cursor(0, { 1, 4 })
completion.show(buf, { { ghost = 'compute(1) + 2', replace_after = '' } }, nil)
vim.api.nvim_feedkeys(vim.keycode('A<M-w>'), 'xt', false)
H.eq({ 'x = compute' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'after <M-w>')
completion.show(buf, { { ghost = '(1) + 2', replace_after = '' } }, nil)
vim.api.nvim_feedkeys(vim.keycode('A<Tab>'), 'xt', false)
H.eq({ 'x = compute(1) + 2' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'after <Tab>')
vim.api.nvim_feedkeys(vim.keycode('A<Tab>'), 'xt', false)
H.eq({ 'x = compute(1) + 2\t' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), '<Tab> without a suggestion')
completion.show(buf, { { ghost = 'zzz', replace_after = '' } }, nil)
vim.api.nvim_feedkeys(vim.keycode('A<C-]>'), 'xt', false)
H.eq(false, completion.visible(buf), '<C-]> dismisses')

-- A missing server: one message naming the fix, no error, for any number of buffers.
local notes = {}
local notify = vim.notify
vim.notify = function(msg, level)
  table.insert(notes, { msg = msg, level = level })
end
require('starassist').setup({ cmd = { '/nonexistent/starassist', 'lsp' } })
for _, name in ipairs({ 'a.py', 'b.py' }) do
  vim.cmd.edit(vim.fs.joinpath(vim.fn.tempname(), name))
  vim.bo.filetype = 'python'
end
vim.notify = notify
H.eq(1, #notes, 'one message: ' .. vim.inspect(notes))
H.eq(vim.log.levels.ERROR, notes[1].level, 'an error')
H.ok(notes[1].msg:find('^%[starassist%] `/nonexistent/starassist` not found'), notes[1].msg)
H.eq(0, #vim.lsp.get_clients(), 'no client started')

-- The current function from text alone (Python has no parser in Neovim): decorators, nested blocks, Lua `end`.
local scope = require('starassist.scope')
local py = {
  'import math',                  -- 1
  '',                             -- 2
  '@cache',                       -- 3
  'def area(r):',                 -- 4
  '    if r < 0:',                -- 5
  '        raise ValueError(r)',  -- 6
  '',                             -- 7
  '    return math.pi * r ** 2',  -- 8
  '',                             -- 9
  '',                             -- 10
  'x = area(2)',                  -- 11
  'print(x)',                     -- 12
}
H.eq({ 3, 8 }, { scope.guess(py, 6) }, 'function around a nested line, with its decorator')
H.eq({ 3, 8 }, { scope.guess(py, 4) }, 'cursor on the header')
H.eq({ 3, 8 }, { scope.guess(py, 7) }, 'cursor on a blank line inside')
H.eq({ 11, 12 }, { scope.guess(py, 12) }, 'no function: the paragraph')
local lua = { 'local M = {}', 'local function f(a)', '  if a then', '    return 1', '  end', 'end', 'return M' }
H.eq({ 2, 6 }, { scope.guess(lua, 4) }, 'Lua: the closing end belongs to the function')
local js = { 'class A {', '  run(x) {', '    return x', '  }', '  method go() {', '    return 2', '  }', '}' }
H.eq({ 5, 7 }, { scope.guess(js, 6) }, 'closing brace at the header indent')

-- The modify preview: replacement lines and the unified diff of the whole buffer.
local modify = require('starassist.modify')
local before = { 'a', 'b', 'c', 'd' }
H.eq({ 'a', 'B1', 'B2', 'd' }, modify.replaced(before, 2, 3, 'B1\nB2'), 'lines 2-3 replaced')
H.eq('--- a/x.py\n+++ b/x.py\n@@ -1,4 +1,4 @@\n a\n-b\n-c\n+B1\n+B2\n d\n',
  modify.unified_diff('x.py', before, modify.replaced(before, 2, 3, 'B1\nB2')), 'unified diff')
H.eq('', modify.unified_diff('x.py', before, before), 'no change, no diff')

H.report({ ok = true })
