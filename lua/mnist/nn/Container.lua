-- nn.Container: the base of the modules made of other modules (Sequential, Concat, ConcatTable,
-- ParallelTable). It holds the children in m.modules and gives them the common parts:
--   m:add(module [, name]), m:get(i), m:size()      -- children, 1-based as in Torch
--   parameters, training/evaluate, clearState, reset, share, apply, findModules
--   tensor names "<i-1>.weight" (or "<name>.weight"), as PyTorch's containers
-- Branching containers (every child sees the input, or its own part of it) print as Torch7's:
--   nn.ConcatTable {
--     input
--       |`-> (1): nn.Identity
--       |`-> (2): nn.Linear(10 -> 3)
--        ... -> output
--   }
local Module = require "mnist.nn.Module"

local Container, parent = Module:extend("Container")

function Container:__init()
  parent.__init(self)
  self.modules = {}
end

-- container:add(module [, name]): appends a child; returns the container so calls chain. The
-- name (default: its 0-based position, as in PyTorch) prefixes the child's tensor names.
function Container:add(module, name)
  if not Module.isModule(module) or module.isCriterion then
    local got = type(module) == "table" and module.isCriterion and "a criterion" or type(module)
    self:fail("add expects an nn module, got %s", got)
  end
  if name ~= nil and (type(name) ~= "string" or not name:match("^[%a_][%w_]*$")) then
    self:fail("add: a child's name must be an identifier, got %s", tostring(name))
  end
  self.modules[#self.modules + 1] = module
  self.names = self.names or {}
  self.names[#self.modules] = name
  return self
end

function Container:get(index)
  return self.modules[index]
end

function Container:size()
  return #self.modules
end

-- Every child's parameters, in order (a module added twice appears twice: getParameters keeps it
-- one region).
function Container:parameters()
  local params, grads = {}, {}
  for _, m in ipairs(self.modules) do
    local p, g = m:parameters()
    for i = 1, #p do
      params[#params + 1], grads[#grads + 1] = p[i], g[i]
    end
  end
  return params, grads
end

function Container:zeroGradParameters()
  for _, m in ipairs(self.modules) do m:zeroGradParameters() end
end

function Container:training()
  self.train = true
  for _, m in ipairs(self.modules) do m:training() end
  return self
end

function Container:evaluate()
  self.train = false
  for _, m in ipairs(self.modules) do m:evaluate() end
  return self
end

function Container:clearState()
  parent.clearState(self)
  for _, m in ipairs(self.modules) do m:clearState() end
  return self
end

-- Every child sees the input (Concat, ConcatTable): each is told.
function Container:setInputGradient(wanted)
  parent.setInputGradient(self, wanted)
  for _, m in ipairs(self.modules) do m:setInputGradient(wanted) end
  return self
end

function Container:namedTensors(prefix)
  prefix = prefix or ""
  local list = {}
  for i, m in ipairs(self.modules) do
    local name = self.names and self.names[i] or tostring(i - 1)
    for _, pair in ipairs(m:namedTensors(prefix .. name .. ".")) do list[#list + 1] = pair end
  end
  return list
end

-- "1,199,882"
function Container.thousands(n)
  local s = tostring(n)
  repeat
    local k
    s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2")
  until k == 0
  return s
end

-- A child's line in a printout: its text (indented under the first line) and, for a leaf with
-- parameters, their count.
function Container:childText(i, indent)
  local m = self.modules[i]
  local text = tostring(m):gsub("\n", "\n" .. indent)
  local count = m:numParameters()
  if count > 0 and not m.modules then
    text = text .. ("  -- %s parameters"):format(Container.thousands(count))
  end
  local name = self.names and self.names[i]
  return ("(%d)%s: %s"):format(i, name and (" " .. name) or "", text)
end

-- Torch7's printout of a branching container (see the top of this file).
function Container:__tostring__()
  local lines = { ("nn.%s {  -- %s parameters"):format(self:describe(),
    Container.thousands(self:numParameters())), "  input" }
  for i = 1, #self.modules do
    lines[#lines + 1] = "    |`-> " .. self:childText(i, "    |    ")
  end
  lines[#lines + 1] = "     ... -> output"
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

return Container
