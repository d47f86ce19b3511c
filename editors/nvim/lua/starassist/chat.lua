-- :Starassist chat — a conversation in a split. Answers stream into the buffer; the history (what the model
-- read, as the server returns it) goes with every question, so the server keeps no state. `/reset` clears both.
-- In the chat buffer: `i`, `a`, `o` or <CR> ask a question, `q` closes the window.

local commands = require('starassist.commands')

local M = {}

M.NAME = 'starassist://chat'
M.YOU = '## You'
M.ASSISTANT = '## starassist'

---@type {role: "user"|"assistant", content: string}[]
M.history = {}
---@type integer|nil
M.buf = nil
---@type fun()|nil  cancels the answer being written
M.cancel = nil

local function notify(msg, level)
  require('starassist').notify(msg, level)
end

local function set_lines(first, last, lines)
  vim.bo[M.buf].modifiable = true
  vim.api.nvim_buf_set_lines(M.buf, first, last, false, lines)
  vim.bo[M.buf].modifiable = false
end

local function is_empty()
  local lines = vim.api.nvim_buf_get_lines(M.buf, 0, -1, false)
  return #lines == 1 and lines[1] == ''
end

-- Windows showing the chat keep their cursor on the last line as text arrives.
local function follow()
  for _, win in ipairs(vim.fn.win_findbuf(M.buf)) do
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(M.buf), 0 })
  end
end

---@return integer
function M.buffer()
  if M.buf and vim.api.nvim_buf_is_valid(M.buf) then
    return M.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  M.buf = buf
  vim.api.nvim_buf_set_name(buf, M.NAME)
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  for _, key in ipairs({ 'i', 'a', 'o', '<CR>' }) do
    vim.keymap.set('n', key, M.ask, { buffer = buf, nowait = true, desc = 'starassist: ask a question' })
  end
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, nowait = true, desc = 'starassist: close the chat' })
  return buf
end

--- Show the chat in a split (or go to the window already showing it). Returns the window.
---@return integer
function M.open()
  local buf = M.buffer()
  local win = vim.fn.win_findbuf(buf)[1]
  if win then
    vim.api.nvim_set_current_win(win)
    return win
  end
  vim.cmd(vim.o.columns >= 160 and 'botright vsplit' or 'botright split')
  win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].winbar = 'starassist chat — i: ask · /reset: start over · q: close'
  follow()
  return win
end

--- Forget the conversation and empty the buffer.
function M.reset()
  M.buffer()
  if M.cancel then
    M.cancel()
    M.cancel = nil
  end
  M.history = {}
  set_lines(0, -1, { '' })
end

--- Append streamed text to the end of the buffer.
---@param piece string
function M.append(piece)
  local n = vim.api.nvim_buf_line_count(M.buf)
  local pieces = vim.split(piece, '\n', { plain = true })
  pieces[1] = vim.api.nvim_buf_get_lines(M.buf, n - 1, n, false)[1] .. pieces[1]
  set_lines(n - 1, n, pieces)
  follow()
end

---@class starassist.ChatContext
---@field bufnr integer
---@field line1 integer
---@field line2 integer

--- Send a question (or `/reset`). `context`: lines of a code buffer to attach.
---@param message string
---@param context starassist.ChatContext|nil
function M.send(message, context)
  message = vim.trim(message or '')
  M.buffer()
  if message == '' then
    return
  end
  if message == '/reset' then
    M.reset()
    return
  end
  if M.cancel then
    notify('still answering the last question — wait for it, or /reset', vim.log.levels.WARN)
    return
  end
  local arg = { message = message, history = vim.deepcopy(M.history) }
  local bufnr = vim.api.nvim_get_current_buf()
  if context then
    bufnr = context.bufnr
    arg.context = commands.range_argument(context.bufnr, context.line1, context.line2)
  end
  local header = { M.YOU }
  vim.list_extend(header, vim.split(message, '\n', { plain = true }))
  if context then
    table.insert(header, ('(with %s lines %d-%d)'):format(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(context.bufnr), ':t'),
      context.line1, context.line2))
  end
  vim.list_extend(header, { '', M.ASSISTANT, '' })
  if is_empty() then
    set_lines(0, -1, header)
  else
    set_lines(-1, -1, vim.list_extend({ '' }, header))
  end
  local answer_line = vim.api.nvim_buf_line_count(M.buf) - 1 -- 0-based, where the answer starts
  follow()
  local cancel
  cancel = commands.exec(bufnr, 'starassist.chat', arg, {
    on_text = M.append,
    on_result = function(result)
      if M.cancel ~= cancel then
        return -- reset meanwhile
      end
      M.cancel = nil
      if type(result) ~= 'table' or type(result.text) ~= 'string' then
        return
      end
      -- The whole answer replaces the streamed pieces (the server trims it).
      set_lines(answer_line, -1, vim.split(result.text, '\n', { plain = true }))
      follow()
      table.insert(M.history, { role = 'user', content = result.message or message })
      table.insert(M.history, { role = 'assistant', content = result.text })
    end,
    on_error = function(msg)
      if M.cancel == cancel then
        M.cancel = nil
        set_lines(answer_line, -1, { '(' .. msg .. ')' })
      end
    end,
  })
  M.cancel = cancel
  if not cancel then
    set_lines(answer_line, -1, { '(the server is not running — open a file or :Starassist start)' })
  end
end

--- Ask for a question at the command line and send it.
function M.ask()
  vim.ui.input({ prompt = 'starassist> ' }, function(input)
    if input then
      M.send(input)
    end
  end)
end

--- :[range]Starassist chat [message]
---@param message string|nil
---@param context starassist.ChatContext|nil
function M.chat(message, context)
  M.open()
  if message and message ~= '' then
    M.send(message, context)
  else
    M.ask()
  end
end

return M
