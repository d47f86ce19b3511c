-- Shared by the headless test scripts: put the plugin on the runtimepath and report results.
-- Scripts run as `nvim --headless --clean -l tests/<name>.lua`; a failed assert exits non-zero.

local H = {}

H.plugin_dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')

function H.load_plugin()
  -- The plugin works in insert mode, where the cursor may sit after the last character. A script has no insert
  -- mode, so allow that position in normal mode instead.
  vim.o.virtualedit = 'onemore'
  vim.opt.runtimepath:prepend(H.plugin_dir)
  vim.cmd.runtime('plugin/starassist.lua')
end

function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(('%s: expected %s, got %s'):format(what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.ok(value, what)
  if not value then
    error(what, 2)
  end
  return value
end

--- Write `lines` to dir/name and edit it (the FileType autocmd of setup() starts the server); returns the buffer.
function H.edit_file(dir, name, lines)
  local path = vim.fs.joinpath(dir, name)
  local file = assert(io.open(path, 'w'))
  file:write(table.concat(lines, '\n'))
  file:close()
  vim.cmd.edit(path)
  return vim.api.nvim_get_current_buf(), path
end

--- Wait until the server answered `initialize` and its client is attached to `buf`.
function H.wait_attached(buf)
  local lsp = require('starassist.lsp')
  H.ok(vim.wait(120000, function()
    local c = lsp.client(buf)
    return c ~= nil and c.initialized == true
  end, 50), 'server initialized and attached within 120 s')
end

--- Print one machine-readable line for the pytest side.
function H.report(tbl)
  io.stdout:write('RESULT ' .. vim.json.encode(tbl) .. '\n')
end

return H
