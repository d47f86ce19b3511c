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

--- Print one machine-readable line for the pytest side.
function H.report(tbl)
  io.stdout:write('RESULT ' .. vim.json.encode(tbl) .. '\n')
end

return H
