-- Typing in insert mode against the real server, as a user does: keys go through Neovim's input loop, so
-- TextChangedI, the debounce timer, the request, the virtual text and the <Tab> mapping all run for real.
-- Run with `nvim --headless --clean -S tests/typing.lua` (`-l` has no input loop); it quits by itself:
-- exit 0 and a RESULT line on success, exit 1 with the reason on stderr otherwise.
-- Environment: STARASSIST_TEST_CMD (JSON list), STARASSIST_TEST_DIR.
local H = dofile(vim.fs.joinpath(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h'), 'helpers.lua'))
H.load_plugin()

local function finish(err, report)
  vim.schedule(function()
    for _, client in ipairs(vim.lsp.get_clients()) do
      client:stop()
    end
    vim.wait(10000, function()
      return #vim.lsp.get_clients() == 0
    end, 50)
    if err then
      io.stderr:write('typing test failed: ' .. tostring(err) .. '\n')
      vim.cmd('cquit 1')
    else
      H.report(report)
      vim.cmd('qall!')
    end
  end)
end

local ok, err = pcall(function()
  local cmd = vim.json.decode((assert(os.getenv('STARASSIST_TEST_CMD'))))
  local dir = (assert(os.getenv('STARASSIST_TEST_DIR')))
  require('starassist').setup({ cmd = cmd, settings = { completion = { max_tokens = 16 } } })
  local completion = require('starassist.completion')

  local buf = H.edit_file(dir, 'typing.py', { 'def add(a, b):', '    """Return the sum of a and b."""', '' })
  H.wait_attached(buf)

  local typed = '    return a'
  local report = { typed = typed, tick = -1 }
  local started = vim.uv.now()
  local timer = assert(vim.uv.new_timer())
  local phase = 'waiting'
  timer:start(50, 50, vim.schedule_wrap(function()
    if phase == 'waiting' and completion.visible(buf) then
      -- A suggestion appeared on its own while typing. Type its first character: the rest stays on screen
      -- without a new request.
      phase = 'typing-through'
      report.suggestion = completion.current(buf)
      report.mode = vim.api.nvim_get_mode().mode
      report.requests_before = completion.requests_sent
      typed = typed .. report.suggestion:sub(1, 1)
      vim.api.nvim_feedkeys(report.suggestion:sub(1, 1), 't', false)
    elseif phase == 'typing-through' and vim.api.nvim_buf_get_changedtick(buf) ~= report.tick then
      report.tick = vim.api.nvim_buf_get_changedtick(buf)
      if vim.api.nvim_get_current_line():sub(-#typed) == typed then
        -- Accept the rest with the real <Tab> mapping.
        phase = 'accepting'
        report.rest = completion.current(buf)
        report.requests_after = completion.requests_sent
        vim.api.nvim_feedkeys(vim.keycode('<Tab><Esc>'), 't', false)
      end
    elseif phase == 'accepting' and vim.api.nvim_get_mode().mode == 'n' then
      timer:stop()
      phase = 'done'
      report.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
      report.typed = typed
      local whole = table.concat(report.lines, '\n')
      if not whole:find(typed .. report.rest, 1, true) then
        finish(('buffer %s lacks the typed text + the rest of the suggestion %q'):format(vim.inspect(report.lines), report.rest))
      elseif completion.visible(buf) then
        finish('the suggestion is still shown after accepting')
      else
        finish(nil, report)
      end
    elseif phase ~= 'done' and vim.uv.now() - started > 90000 then
      timer:stop()
      phase = 'done'
      finish('no suggestion appeared within 90 s while typing')
    end
  end))
  -- Type a new line in insert mode; the keys are processed by the input loop after this script returns.
  vim.api.nvim_feedkeys('Go' .. typed, 't', false)
end)
if not ok then
  finish(err)
end
