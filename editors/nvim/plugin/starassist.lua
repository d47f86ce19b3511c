-- User command :Starassist {start|stop|restart|status|toggle|log|chat|explain|modify}. setup() is not called here:
-- call require('starassist').setup{...} from your config.

if vim.g.loaded_starassist then
  return
end
vim.g.loaded_starassist = true

local subcommands = {
  start = function()
    require('starassist').start()
  end,
  stop = function()
    require('starassist').stop()
  end,
  restart = function()
    require('starassist').restart()
  end,
  status = function()
    require('starassist').status()
  end,
  toggle = function()
    require('starassist').toggle()
  end,
  log = function()
    vim.cmd.edit(vim.lsp.get_log_path())
  end,
  chat = function(opts, rest)
    require('starassist').chat(rest, opts.line1, opts.line2, opts.range > 0)
  end,
  explain = function(opts)
    require('starassist').explain(opts.line1, opts.line2, opts.range > 0)
  end,
  modify = function(opts, rest)
    require('starassist').modify(opts.line1, opts.line2, rest, opts.range > 0)
  end,
}

vim.api.nvim_create_user_command('Starassist', function(opts)
  local name, rest = opts.args:match('^(%S+)%s*(.*)$')
  local fn = name and subcommands[name]
  if not fn then
    vim.notify('[starassist] unknown subcommand "' .. (name or '') .. '"; use one of: '
      .. table.concat(vim.tbl_keys(subcommands), ', '), vim.log.levels.ERROR)
    return
  end
  fn(opts, rest)
end, {
  nargs = '+',
  range = true,
  desc = 'starassist: start, stop, restart, status, toggle, log, chat, explain, modify',
  complete = function(arg_lead, cmdline)
    if cmdline:match('^%S*Starassist%s+%S+%s') then
      return {}
    end
    return vim.tbl_filter(function(s)
      return s:find(arg_lead, 1, true) == 1
    end, vim.fn.sort(vim.tbl_keys(subcommands)))
  end,
})
