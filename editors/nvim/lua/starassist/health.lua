-- :checkhealth starassist

local M = {}

function M.check()
  local health = vim.health
  local config = require('starassist.config')
  local lsp = require('starassist.lsp')
  local cfg = config.get()

  health.start('starassist: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed', { 'Upgrade Neovim' })
  end
  if vim.lsp.inline_completion then
    health.ok('native inline completion (vim.lsp.inline_completion) available')
  else
    health.info('this Neovim has no vim.lsp.inline_completion; starassist renders suggestions itself')
  end

  health.start('starassist: configuration')
  local problems = config.validate(cfg)
  if #problems == 0 then
    health.ok('options are valid')
  end
  for _, p in ipairs(problems) do
    health.error(p, { 'Fix the option in require("starassist").setup{...}' })
  end

  health.start('starassist: server')
  if type(cfg.cmd) == 'function' then
    health.info('cmd is a function; cannot check the executable')
  else
    local exe = cfg.cmd[1]
    if vim.fn.executable(exe) == 1 then
      health.ok(('server executable: %s'):format(vim.fn.exepath(exe)))
      -- `<cmd> --help` proves the command runs (e.g. `starassist lsp --help`) without starting a server.
      local probe = vim.list_extend(vim.deepcopy(cfg.cmd), { '--help' })
      local ok, res = pcall(function()
        return vim.system(probe, { text = true }):wait(20000)
      end)
      if ok and res.code == 0 then
        health.ok(('`%s` runs'):format(table.concat(cfg.cmd, ' ')))
      else
        local why = ok and vim.trim((res.stderr ~= '' and res.stderr) or res.stdout or '') or tostring(res)
        health.error(('`%s --help` failed: %s'):format(table.concat(cfg.cmd, ' '), why:sub(1, 300)), {
          'Reinstall starassist (pip install -U starassist)',
          'or fix cmd in require("starassist").setup{...}',
        })
      end
    else
      health.error(('server executable not found: %s'):format(exe), {
        'pip install starassist',
        'or set cmd = { "/path/to/venv/bin/starassist", "lsp" } in setup()',
      })
    end
  end

  local clients = vim.lsp.get_clients({ name = lsp.name })
  if #clients == 0 then
    health.info('no starassist server running (it starts when a matching buffer opens)')
  end
  for _, client in ipairs(clients) do
    local caps = client.server_capabilities or {}
    health.ok(('server running (client id %d, %d buffer(s), position encoding %s)'):format(
      client.id, vim.tbl_count(client.attached_buffers), client.offset_encoding))
    if caps.inlineCompletionProvider then
      health.ok('server offers textDocument/inlineCompletion')
    else
      health.warn('server does not offer textDocument/inlineCompletion', { 'Update starassist' })
    end
  end
  local timings = lsp.timings_text()
  if timings then
    health.info('last completion: ' .. timings)
  end
end

return M
