-- "The current function" for explain / modify without a range: a tree-sitter function node when the buffer has a
-- parser, else a guess from keywords and indentation that works for most languages (Neovim ships no Python
-- parser).

local M = {}

-- Words that open a function in common languages.
local KEYWORDS = { 'def', 'function', 'fn', 'func', 'fun', 'sub', 'proc', 'method' }

local function indent(line)
  return #line:match('^%s*')
end

local function blank(line)
  return line == nil or line:match('^%s*$') ~= nil
end

local function is_header(line)
  local code = line:gsub('%-%-.*$', ''):gsub('#.*$', '')
  for _, word in ipairs(KEYWORDS) do
    if code:find('%f[%w_]' .. word .. '%f[^%w_]') then
      return true
    end
  end
  return false
end

-- A line that closes a block at the header's indent: `}`, `end`, `)`.
local function is_closer(line)
  return line:match('^%s*[%]})]') ~= nil or line:match('^%s*end%f[^%w_]') ~= nil
end

--- Lines first..last (1-based) of the function around `row`, from the text alone; the paragraph around `row`
--- when no function header encloses it.
---@param lines string[]
---@param row integer
---@return integer, integer
function M.guess(lines, row)
  local r = row
  while r > 1 and blank(lines[r]) do
    r = r - 1
  end
  local header
  if is_header(lines[r] or '') then
    header = r
  else
    local limit = indent(lines[r] or '')
    for i = r - 1, 1, -1 do
      local line = lines[i]
      if not blank(line) then
        if indent(line) < limit and is_header(line) then
          header = i
          break
        end
        limit = math.min(limit, indent(line)) -- an enclosing header sits left of every line below it
        if limit == 0 then
          break
        end
      end
    end
  end
  if not header then
    local first, last = r, r
    while first > 1 and not blank(lines[first - 1]) do
      first = first - 1
    end
    while last < #lines and not blank(lines[last + 1]) do
      last = last + 1
    end
    return first, last
  end
  local base = indent(lines[header])
  local first = header
  while first > 1 and lines[first - 1]:match('^%s*@') and indent(lines[first - 1]) == base do
    first = first - 1 -- decorators
  end
  -- The body: indented deeper than the header (a signature may continue over several lines at any indent
  -- until the line that opens the body).
  local last = header
  local i = header + 1
  while i <= #lines and (blank(lines[i]) or indent(lines[i]) > base) do
    i = i + 1
  end
  last = i - 1
  if lines[i] and indent(lines[i]) == base and is_closer(lines[i]) then
    last = i
  end
  while last > header and blank(lines[last]) do
    last = last - 1
  end
  return first, last
end

local function ts_function(bufnr, row, col)
  local ok, node = pcall(vim.treesitter.get_node, { bufnr = bufnr, pos = { row - 1, col }, ignore_injections = false })
  if not ok then
    return nil
  end
  while node do
    local t = node:type()
    if (t:find('function') or t:find('method')) and not t:find('call') and not t:find('name')
      and not t:find('body') and not t:find('parameter') then
      local srow, _, erow, ecol = node:range()
      return srow + 1, (ecol == 0 and erow > srow) and erow or erow + 1
    end
    node = node:parent()
  end
  return nil
end

--- Lines of the function at the cursor of window `winid` (default: current).
---@return integer, integer
function M.current_function(winid)
  winid = winid or vim.api.nvim_get_current_win()
  local bufnr = vim.api.nvim_win_get_buf(winid)
  local row, col = unpack(vim.api.nvim_win_get_cursor(winid))
  local first, last = ts_function(bufnr, row, col)
  if first then
    return first, last
  end
  return M.guess(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), row)
end

return M
