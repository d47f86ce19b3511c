-- Insert-mode keys. Each falls back to the key's normal meaning when no suggestion is shown.

local config = require('starassist.config')

local M = {}

---@type string[]  keys set by the last setup(), removed on the next one
local installed = {}

local function feed(key)
  vim.api.nvim_feedkeys(vim.keycode(key), 'n', false)
end

--- Remove the keys installed by a previous setup().
function M.clear()
  for _, lhs in ipairs(installed) do
    pcall(vim.keymap.del, 'i', lhs)
  end
  installed = {}
end

function M.setup()
  local completion = require('starassist.completion')
  M.clear()
  local keys = config.get().keymaps
  local actions = {
    accept = { 'accept the suggestion', function() return completion.accept('full') end },
    accept_line = { 'accept a line of the suggestion', function() return completion.accept('line') end },
    accept_word = { 'accept a word of the suggestion', function() return completion.accept('word') end },
    dismiss = {
      'dismiss the suggestion',
      function()
        local shown = completion.visible()
        completion.dismiss()
        return shown
      end,
    },
    trigger = { 'ask for suggestions', function() completion.trigger() return true end },
    next = { 'next suggestion', function() completion.cycle(1) return completion.visible() end },
    prev = { 'previous suggestion', function() completion.cycle(-1) return completion.visible() end },
  }
  for name, spec in pairs(actions) do
    local lhs = keys[name]
    if lhs then
      vim.keymap.set('i', lhs, function()
        if not spec[2]() then
          feed(lhs)
        end
      end, { desc = '[starassist] ' .. spec[1], silent = true })
      table.insert(installed, lhs)
    end
  end
end

return M
