-- nn.ConcatTable(): every child gets the same input (a tensor or a table of them); the output is
-- the table of their outputs, {child1(x), child2(x), ...}. The input gradient is the sum of the
-- children's. With nn.CAddTable, the two branches of a residual block:
--   nn.Sequential():add(nn.ConcatTable():add(block):add(nn.Identity())):add(nn.CAddTable())
local T = require "mnist.tensor"
local Container = require "mnist.nn.Container"

local ConcatTable, parent = Container:extend("ConcatTable")

function ConcatTable:__init()
  parent.__init(self)
  self.output = {}
end

function ConcatTable:updateOutput(input)
  if #self.modules == 0 then self:fail("has no children") end
  local out = type(self.output) == "table" and not T.is_tensor(self.output) and self.output or {}
  for i, m in ipairs(self.modules) do out[i] = m:updateOutput(input) end
  for i = #self.modules + 1, #out do out[i] = nil end
  self.output = out
  return out
end

-- holder[key] = src (first) or holder[key] += src, for a tensor or a (nested) table of them,
-- into buffers that are reused while the shapes hold.
local function accumulate(holder, key, src, first)
  if T.is_tensor(src) then
    local d = holder[key]
    if not (T.is_tensor(d) and Container.sameSize(d, src)) then
      d = T.zeros(src:size())
      holder[key] = d
    end
    if first then d:copy(src) else d:add(src) end
    return
  end
  if type(holder[key]) ~= "table" or T.is_tensor(holder[key]) then holder[key] = {} end
  local dst = holder[key]
  for k, v in ipairs(src) do accumulate(dst, k, v, first) end
  for k = #src + 1, #dst do dst[k] = nil end
end

-- method: "backward", "updateGradInput" or "accGradParameters" of every child, each on its own
-- entry of the gradOutput table.
function ConcatTable:gradients(input, gradOutput, method)
  if type(gradOutput) ~= "table" or T.is_tensor(gradOutput) or #gradOutput ~= #self.modules then
    self:fail("expected a table of %d gradOutputs, got %s", #self.modules,
      type(gradOutput) == "table" and not T.is_tensor(gradOutput) and ("%d"):format(#gradOutput)
      or (T.is_tensor(gradOutput) and "a tensor" or type(gradOutput)))
  end
  local first = true
  for i, m in ipairs(self.modules) do
    local gi = m[method](m, input, gradOutput[i])
    if method ~= "accGradParameters" and gi ~= nil then
      accumulate(self, "_gradSum", gi, first)
      first = false
    end
  end
  if method ~= "accGradParameters" then self.gradInput = not first and self._gradSum or nil end
  return self.gradInput
end

function ConcatTable:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, "updateGradInput")
end

function ConcatTable:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, "accGradParameters")
end

function ConcatTable:backward(input, gradOutput)
  return self:gradients(input, gradOutput, "backward")
end

function ConcatTable:clearState()
  parent.clearState(self)
  self.output, self._gradSum = {}, nil
  return self
end

return ConcatTable
