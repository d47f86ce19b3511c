-- The server's commands (starassist.explain / modify / chat) over workspace/executeCommand. Answers stream as
-- `starassist/text` notifications {token, text}; the token ties them to the request that asked.

local M = {}

---@type table<string, fun(piece: string)>
local streams = {}
local serial = 0

--- Handler for `starassist/text` (registered in lsp.start).
function M.on_text(_, result)
  local on_text = type(result) == 'table' and streams[result.token] or nil
  if on_text and type(result.text) == 'string' then
    on_text(result.text)
  end
end

--- The client for `bufnr`, else any running starassist client (the chat buffer has none of its own).
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.client(bufnr)
  local lsp = require('starassist.lsp')
  return lsp.client(bufnr) or lsp.client(nil)
end

--- {uri, range} for whole lines line1..line2 (1-based) of `bufnr`, in the client's position encoding.
---@return table
function M.range_argument(bufnr, line1, line2)
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  local client = M.client(bufnr)
  local enc = client and client.offset_encoding or 'utf-16'
  return {
    uri = vim.uri_from_bufnr(bufnr),
    range = {
      start = { line = line1 - 1, character = 0 },
      ['end'] = { line = line2 - 1, character = vim.str_utfindex(last, enc, #last, false) },
    },
  }
end

---@class starassist.ExecOpts
---@field on_result fun(result: any)
---@field on_error fun(message: string)|nil   default: notify
---@field on_text fun(piece: string)|nil      stream the answer

--- Run server command `name` with one argument. Returns a function that cancels the request, or nil when no
--- server runs (the user was told).
---@param bufnr integer
---@param name string
---@param arg table
---@param opts starassist.ExecOpts
---@return fun()|nil
function M.exec(bufnr, name, arg, opts)
  local notify = require('starassist').notify
  local client = M.client(bufnr)
  if not client then
    notify('the server is not running — open a file or :Starassist start', vim.log.levels.WARN)
    return nil
  end
  local token
  if opts.on_text then
    serial = serial + 1
    token = 'nvim-' .. serial
    arg.token = token
    streams[token] = opts.on_text
  end
  local on_error = opts.on_error or function(message)
    notify(message, vim.log.levels.ERROR)
  end
  local params = { command = name, arguments = { arg } }
  local done = false
  local ok, id = client:request('workspace/executeCommand', params, function(err, result)
    done = true
    if token then
      streams[token] = nil
    end
    if err then
      on_error(name .. ' failed: ' .. (err.message or vim.inspect(err)))
    else
      opts.on_result(result)
    end
  end, bufnr)
  if not ok then
    streams[token or ''] = nil
    on_error(name .. ': the server is not running')
    return nil
  end
  return function()
    streams[token or ''] = nil
    if not done then
      done = true
      client:cancel_request(id)
    end
  end
end

return M
