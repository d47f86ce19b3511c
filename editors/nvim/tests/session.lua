-- Headless Neovim against the real server: `vim.lsp.start`, buffer edits, `textDocument/inlineCompletion`
-- through vim.lsp.buf_request_sync, then the plugin's own path (virtual text, accept), then :checkhealth.
-- Chat, explain and modify are in assist.lua.
-- Environment: STARASSIST_TEST_CMD = JSON list, the server command; STARASSIST_TEST_DIR = a scratch directory.
local H = dofile(vim.fs.joinpath(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h'), 'helpers.lua'))
H.load_plugin()

local cmd = vim.json.decode((assert(os.getenv('STARASSIST_TEST_CMD'), 'STARASSIST_TEST_CMD is not set')))
local dir = (assert(os.getenv('STARASSIST_TEST_DIR'), 'STARASSIST_TEST_DIR is not set'))
local report = {}

local starassist = require('starassist')
local lsp = require('starassist.lsp')
local completion = require('starassist.completion')
starassist.setup({
  cmd = cmd,
  settings = { completion = { max_tokens = 24 }, chat = { max_tokens = 48 } },
  inline = { auto_trigger = false },
})

-- Opening the file sets the filetype; the FileType autocmd of setup() starts the server (auto_start).
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
  '',
})
H.eq('python', vim.bo[buf].filetype, 'filetype')
-- The client attaches to the buffer once the server answered `initialize`.
H.wait_attached(buf)
local client = lsp.client(buf)
report.offset_encoding = client.offset_encoding
H.ok(client.server_capabilities.inlineCompletionProvider, 'server offers inlineCompletionProvider')
H.ok(client:supports_method('textDocument/inlineCompletion', buf), 'client sees the method as supported')

-- Edit the buffer: fix the signature (a change in the middle), then type the body (changes at the end).
vim.api.nvim_buf_set_text(buf, 8, 4, 8, 15, { 'rectangle_area' })
vim.api.nvim_buf_set_text(buf, 8, #'def rectangle_area(', 8, #'def rectangle_area(side', { 'width, height' })
vim.api.nvim_buf_set_lines(buf, 9, 10, false, { '    """Area of a rectangle."""', '    return width' })
H.eq('def rectangle_area(width, height):', vim.api.nvim_buf_get_lines(buf, 8, 9, false)[1], 'edited line')
vim.api.nvim_win_set_cursor(0, { 11, #'    return width' })

-- 1. Raw request, as any Neovim 0.11 user could send it.
local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
params.context = { triggerKind = 1 } -- Invoked
local responses = vim.lsp.buf_request_sync(buf, 'textDocument/inlineCompletion', params, 60000)
local response = H.ok(responses and responses[client.id], 'a response within 60 s')
H.ok(response.err == nil, 'no error: ' .. vim.inspect(response.err))
local items = response.result and (response.result.items or response.result) or {}
H.ok(#items >= 1, 'at least one item: ' .. vim.inspect(response.result))
for _, item in ipairs(items) do
  local text = type(item.insertText) == 'table' and item.insertText.value or item.insertText
  H.ok(type(text) == 'string' and text ~= '', 'non-empty insertText')
  if item.range then
    H.eq(params.position, item.range.start, 'item range starts at the cursor')
  end
end
report.raw_items = items

-- 2. The plugin's path: request, virtual text at the cursor, accept.
local done, shown = false, nil
H.ok(completion.request(buf, completion.INVOKED, function(result)
  done, shown = true, result
end), 'request sent')
H.ok(vim.wait(60000, function()
  return done
end, 20), 'plugin request answered within 60 s')
H.ok(shown and #shown >= 1, 'the plugin shows a suggestion')
local ghost = completion.current(buf)
report.ghost = ghost
local marks = vim.api.nvim_buf_get_extmarks(buf, completion.ns, 0, -1, { details = true })
H.eq(1, #marks, 'one extmark')
H.eq({ 10, #'    return width' }, { marks[1][2], marks[1][3] }, 'extmark at the cursor')
H.eq(vim.split(ghost, '\n', { plain = true })[1], marks[1][4].virt_text[1][1], 'virtual text is the suggestion')

local before = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local stats_dir = os.getenv('STARASSIST_DATA_DIR')
H.ok(completion.accept('full'), 'accepted')
local after = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local expected = vim.split(table.concat(before, '\n', 1, 11) .. ghost, '\n', { plain = true })
vim.list_extend(expected, before, 12)
H.eq(expected, after, 'buffer after accepting the suggestion')
H.eq(0, #vim.api.nvim_buf_get_extmarks(buf, completion.ns, 0, -1, {}), 'virtual text gone after accept')
report.accepted_line = after[11]

-- The accept command reached the server: its local stats file counts it.
if stats_dir then
  local stats_file = vim.fs.joinpath(stats_dir, 'stats.json')
  H.ok(vim.wait(10000, function()
    local f = io.open(stats_file)
    if not f then
      return false
    end
    local ok, data = pcall(vim.json.decode, f:read('*a'))
    f:close()
    return ok and type(data) == 'table' and (data.accepted or 0) >= 1
  end, 50), 'the server counted the accepted suggestion in ' .. stats_file)
end

-- 3. :checkhealth starassist reports no errors.
vim.cmd('checkhealth starassist')
local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
report.health = health
H.ok(health:find('server offers textDocument/inlineCompletion', 1, true), 'health sees the server:\n' .. health)
H.ok(not health:find('ERROR', 1, true), 'health has no errors:\n' .. health)
vim.cmd.close()

-- 4. Clean shutdown.
client:stop()
H.ok(vim.wait(15000, function()
  return client:is_stopped()
end, 50), 'server stopped within 15 s')
report.ok = true
H.report(report)
