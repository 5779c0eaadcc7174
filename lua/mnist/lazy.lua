-- mnist.lazy: module tables whose fields load on first use, so that `require "mnist"` and
-- `require "mnist.nn"` cost only what a program touches (a cold `mnist.lua predict` needs 10 of
-- the 44 nn classes).
--
--   lazy.fields(M, { optim = "mnist.optim",                        -- M.optim: the module
--                    load_dataset = { "mnist.dataset", "load_dataset" } })  -- a field of one
--   lazy.load_all(M)   -- every lazy field, loaded: pairs(M) then lists them all
--
-- A field is loaded by `require` and stored in M on its first read: M.X is the very value
-- require gives (nn.Linear == require "mnist.nn.Linear"), and later reads are plain lookups.
-- pairs(M) lists only what was loaded (LuaJIT has no __pairs): code that enumerates M (the
-- REPL's completion) calls load_all first.
local M = {}

-- Makes M's `fields` (name -> module name, or {module name, field}) load on first read.
function M.fields(t, fields)
  return setmetatable(t, {
    lazy_fields = fields,
    __index = function(_, key)
      local where = fields[key]
      if where == nil then return nil end
      local value
      if type(where) == "string" then value = require(where) else value = require(where[1])[where[2]] end
      rawset(t, key, value)
      return value
    end,
  })
end

-- Loads every lazy field of t (a table made by M.fields; any other table is left as it is).
function M.load_all(t)
  local mt = getmetatable(t)
  for key in pairs(type(mt) == "table" and mt.lazy_fields or {}) do
    local _ = t[key]
  end
  return t
end

return M
