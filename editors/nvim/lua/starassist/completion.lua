-- Inline completion: asks the server with `textDocument/inlineCompletion`, shows the suggestion as virtual
-- text (an extmark) at the cursor, and accepts it whole, by line or by word. Typing the suggestion's next
-- characters keeps the rest on screen without a new request. Neovim 0.12+ has `vim.lsp.inline_completion`;
-- with `inline.native = "auto"` it is used instead of this module's rendering.

local config = require('starassist.config')
local lsp = require('starassist.lsp')

local M = {}

local METHOD = 'textDocument/inlineCompletion'
-- LSP InlineCompletionTriggerKind
M.INVOKED = 1
M.AUTOMATIC = 2

M.ns = vim.api.nvim_create_namespace('starassist.inline')
-- Requests sent so far (tests check that typing through a suggestion sends none).
M.requests_sent = 0

---@class starassist.Item
---@field ghost string           text still to insert at the cursor
---@field replace_after string   text after the cursor that the item replaces (e.g. an auto-closed bracket)
---@field command table|nil      LSP command to run when the item is accepted

---@class starassist.BufState
---@field items starassist.Item[]
---@field index integer
---@field row integer            0-based row of the cursor the suggestion is anchored at
---@field col integer            0-based byte column
---@field tick integer           changedtick the suggestion matches
---@field extmark integer|nil
---@field client_id integer|nil
---@field request {client_id: integer, id: integer}|nil
---@field timer uv.uv_timer_t|nil

---@type table<integer, starassist.BufState>
local states = {}

local function state(bufnr)
  local s = states[bufnr]
  if not s then
    s = { items = {}, index = 1, row = -1, col = -1, tick = -1 }
    states[bufnr] = s
  end
  return s
end

--- Whether Neovim's own inline completion (0.12+) should do the work.
function M.use_native()
  local native = config.get().inline.native
  return native ~= false and vim.lsp.inline_completion ~= nil
end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function render(bufnr)
  local s = states[bufnr]
  if not s then
    return
  end
  local item = s.items[s.index]
  if not item then
    if s.extmark then
      pcall(vim.api.nvim_buf_del_extmark, bufnr, M.ns, s.extmark)
      s.extmark = nil
    end
    return
  end
  local hl = config.get().inline.hl_group
  local lines = vim.split(item.ghost, '\n', { plain = true })
  local opts = {
    id = s.extmark,
    virt_text = { { lines[1], hl } },
    virt_text_pos = 'inline',
    hl_mode = 'combine',
    priority = 200,
  }
  if #lines > 1 then
    opts.virt_lines = vim.tbl_map(function(l)
      return { { l, hl } }
    end, vim.list_slice(lines, 2))
  end
  s.extmark = vim.api.nvim_buf_set_extmark(bufnr, M.ns, s.row, s.col, opts)
end

--- Remove the suggestion (and stop waiting for one).
---@param bufnr integer|nil
function M.dismiss(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local s = states[bufnr]
  if not s then
    return
  end
  if s.timer then
    s.timer:stop()
  end
  if s.request then
    local client = vim.lsp.get_client_by_id(s.request.client_id)
    if client then
      client:cancel_request(s.request.id)
    end
    s.request = nil
  end
  s.items = {}
  s.index = 1
  if s.extmark then
    pcall(vim.api.nvim_buf_del_extmark, bufnr, M.ns, s.extmark)
    s.extmark = nil
  end
end

--- The suggestion text shown in `bufnr`, or nil.
---@param bufnr integer|nil
---@return string|nil
function M.current(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local s = states[bufnr]
  local item = s and s.items[s.index]
  return item and item.ghost or nil
end

---@return boolean
function M.visible(bufnr)
  return M.current(bufnr) ~= nil
end

--- Turn the server's items into ghost texts relative to the cursor (row, col in bytes).
---@param result lsp.InlineCompletionList|lsp.InlineCompletionItem[]|nil
---@param encoding string  the client's offset encoding
---@return starassist.Item[]
function M.items_from_result(result, line, row, col, encoding)
  local raw = result and (result.items or result) or {}
  local out, seen = {}, {}
  for _, item in ipairs(raw) do
    local text = item.insertText
    if type(text) == 'table' then
      text = text.value
    end
    local start_col, end_col = col, col
    local usable = type(text) == 'string'
    if usable and item.range then
      local r = item.range
      if r.start.line ~= row or r['end'].line ~= row then
        usable = false -- ranges over several lines do not happen at a cursor; ignore such items
      else
        start_col = vim.str_byteindex(line, encoding, r.start.character, false)
        end_col = vim.str_byteindex(line, encoding, r['end'].character, false)
      end
    end
    if usable and start_col <= col and end_col >= col then
      local typed = line:sub(start_col + 1, col)
      if text:sub(1, #typed) == typed then
        local ghost = text:sub(#typed + 1)
        if ghost ~= '' and not seen[ghost] then
          seen[ghost] = true
          table.insert(out, { ghost = ghost, replace_after = line:sub(col + 1, end_col), command = item.command })
        end
      end
    end
  end
  return out
end

--- Show `items` in `bufnr` anchored at the cursor.
function M.show(bufnr, items, client_id)
  local s = state(bufnr)
  s.items = items
  s.index = 1
  s.row, s.col = cursor()
  s.tick = vim.api.nvim_buf_get_changedtick(bufnr)
  s.client_id = client_id
  render(bufnr)
end

--- Ask the server for suggestions at the cursor. `on_done(items)` runs when the answer was handled.
---@param bufnr integer|nil
---@param trigger_kind integer|nil  M.INVOKED or M.AUTOMATIC (default)
---@param on_done fun(items: starassist.Item[]|nil)|nil
---@return boolean sent
function M.request(bufnr, trigger_kind, on_done)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = lsp.client(bufnr)
  if not client then
    return false
  end
  local s = state(bufnr)
  M.requests_sent = M.requests_sent + 1
  if s.request then
    local old = vim.lsp.get_client_by_id(s.request.client_id)
    if old then
      old:cancel_request(s.request.id)
    end
    s.request = nil
  end
  local row, col = cursor()
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = trigger_kind or M.AUTOMATIC }
  local id
  local ok, request_id = client:request(METHOD, params, function(err, result)
    if s.request and s.request.id == id then
      s.request = nil
    end
    local r, c = cursor()
    local stale = vim.api.nvim_get_current_buf() ~= bufnr
      or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick
      or r ~= row
      or c ~= col
    if err or stale then
      if on_done then
        on_done(nil)
      end
      return
    end
    local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
    local items = M.items_from_result(result, line, row, col, client.offset_encoding)
    M.show(bufnr, items, client.id)
    if on_done then
      on_done(items)
    end
  end, bufnr)
  if ok and request_id then
    id = request_id
    s.request = { client_id = client.id, id = request_id }
  end
  return ok == true
end

--- Explicit request (several suggestions; cycle with next/prev).
function M.trigger()
  if M.use_native() then
    return
  end
  M.request(0, M.INVOKED)
end

--- Cycle through the suggestions of the last answer.
---@param delta integer
function M.cycle(delta)
  if M.use_native() and vim.lsp.inline_completion.select then
    vim.lsp.inline_completion.select({ count = delta })
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local s = states[bufnr]
  if not s or #s.items < 2 then
    return
  end
  s.index = (s.index - 1 + delta) % #s.items + 1
  render(bufnr)
end

-- The part of `ghost` that a line / word accept takes.
local function take(ghost, kind)
  if kind == 'line' then
    local first_nl = ghost:find('\n', 1, true)
    if first_nl == 1 then
      -- At the end of a line: take the line break and the next line.
      local second = ghost:find('\n', 2, true)
      return second and ghost:sub(1, second - 1) or ghost
    end
    return first_nl and ghost:sub(1, first_nl - 1) or ghost
  end
  if kind == 'word' then
    return ghost:match('^\n[ \t]*') or ghost:match('^[ \t]*[%w_]+') or ghost:match('^[ \t]*[^%w_%s]+') or ghost:sub(1, 1)
  end
  return ghost
end

--- Accept the whole suggestion ("full"), its current line ("line") or its next word ("word").
---@param kind "full"|"line"|"word"|nil
---@return boolean accepted  false when nothing was shown
function M.accept(kind)
  kind = kind or 'full'
  if M.use_native() then
    -- Neovim's own inline completion accepts whole suggestions; line/word keys keep their usual meaning there.
    return kind == 'full' and vim.lsp.inline_completion.get() == true
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local s = states[bufnr]
  local item = s and s.items[s.index]
  if not item then
    return false
  end
  local row, col = cursor()
  local part = take(item.ghost, kind)
  local full = part == item.ghost
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local end_col = col
  if full and item.replace_after ~= '' and line:sub(col + 1, col + #item.replace_after) == item.replace_after then
    end_col = col + #item.replace_after
  end
  local lines = vim.split(part, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  if full then
    local client = s.client_id and vim.lsp.get_client_by_id(s.client_id)
    M.dismiss(bufnr)
    if client and item.command then
      -- The server counts accepted suggestions through the item's command (local statistics only).
      client:exec_cmd(item.command, { bufnr = bufnr })
    end
  else
    item.ghost = item.ghost:sub(#part + 1)
    s.items = { item }
    s.index = 1
    s.row, s.col = new_row, new_col
    s.tick = vim.api.nvim_buf_get_changedtick(bufnr)
    render(bufnr)
  end
  return true
end

-- After a change: if the user typed the suggestion's next characters, keep the rest; else dismiss.
local function typed_through(bufnr)
  local s = states[bufnr]
  if not s or #s.items == 0 then
    return false
  end
  local row, col = cursor()
  if row ~= s.row or col < s.col then
    return false
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local typed = line:sub(s.col + 1, col)
  local kept = {}
  for i, item in ipairs(s.items) do
    if #item.ghost > #typed and item.ghost:sub(1, #typed) == typed then
      item.ghost = item.ghost:sub(#typed + 1)
      table.insert(kept, item)
    elseif i == s.index then
      s.index = 1
    end
  end
  if #kept == 0 then
    return false
  end
  s.items = kept
  s.index = math.min(s.index, #kept)
  s.row, s.col = row, col
  s.tick = vim.api.nvim_buf_get_changedtick(bufnr)
  render(bufnr)
  return true
end

local function schedule_request(bufnr)
  local cfg = config.get().inline
  local s = state(bufnr)
  s.timer = s.timer or vim.uv.new_timer()
  s.timer:stop()
  s.timer:start(
    cfg.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if vim.api.nvim_get_current_buf() == bufnr and vim.fn.mode():sub(1, 1) == 'i' then
        M.request(bufnr, M.AUTOMATIC)
      end
    end)
  )
end

--- React to typing in insert mode (TextChangedI).
function M.on_text_changed(bufnr)
  local s = states[bufnr]
  if s and s.tick == vim.api.nvim_buf_get_changedtick(bufnr) then
    return -- our own edit (a partial accept)
  end
  if typed_through(bufnr) then
    return
  end
  M.dismiss(bufnr)
  if config.get().inline.auto_trigger then
    schedule_request(bufnr)
  end
end

--- React to cursor motion without typing (CursorMovedI). Typing moves the cursor too, and CursorMovedI comes
--- before TextChangedI: a motion with a text change is left to on_text_changed (it may be typing through).
function M.on_cursor_moved(bufnr)
  local s = states[bufnr]
  if not s or #s.items == 0 or vim.api.nvim_buf_get_changedtick(bufnr) ~= s.tick then
    return
  end
  local row, col = cursor()
  if row ~= s.row or col ~= s.col then
    M.dismiss(bufnr)
  end
end

--- Attach to a buffer whose starassist client just started (LspAttach).
function M.attach(bufnr, client)
  if not config.get().inline.enabled then
    return
  end
  if M.use_native() then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr, client_id = client and client.id })
  end
end

--- Create the autocmds in `group` (cleared by setup() on reload).
---@param group integer
function M.setup(group)
  local function ours(bufnr)
    return config.get().inline.enabled and not M.use_native() and lsp.client(bufnr) ~= nil
  end
  vim.api.nvim_create_autocmd('TextChangedI', {
    group = group,
    callback = function(ev)
      if ours(ev.buf) then
        M.on_text_changed(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('CursorMovedI', {
    group = group,
    callback = function(ev)
      if ours(ev.buf) then
        M.on_cursor_moved(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    callback = function(ev)
      M.dismiss(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    callback = function(ev)
      M.dismiss(ev.buf)
      local s = states[ev.buf]
      if s and s.timer then
        s.timer:close()
      end
      states[ev.buf] = nil
    end,
  })
end

return M
