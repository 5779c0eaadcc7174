-- nn.ParallelTable(): child i gets entry i of the input table; the output is the table of their
-- outputs, {child1(x[1]), child2(x[2]), ...}, and the input gradient the table of theirs.
local T = require "mnist.tensor"
local Container = require "mnist.nn.Container"

local ParallelTable, parent = Container:extend("ParallelTable")

function ParallelTable:__init()
  parent.__init(self)
  self.output, self.gradInput = {}, {}
end

function ParallelTable:checkTable(x, what)
  if type(x) ~= "table" or T.is_tensor(x) or #x < #self.modules then
    self:fail("expected a table of at least %d %ss (one per child), got %s", #self.modules, what,
      type(x) == "table" and not T.is_tensor(x) and ("%d"):format(#x) or
      (T.is_tensor(x) and "a tensor" or type(x)))
  end
end

function ParallelTable:updateOutput(input)
  self:checkTable(input, "input")
  local out = self.output
  for i, m in ipairs(self.modules) do out[i] = m:updateOutput(input[i]) end
  for i = #self.modules + 1, #out do out[i] = nil end
  return out
end

-- method: "backward", "updateGradInput" or "accGradParameters" of every child on its entries.
function ParallelTable:gradients(input, gradOutput, method)
  self:checkTable(input, "input")
  self:checkTable(gradOutput, "gradOutput")
  local gradInput = self.gradInput
  for i, m in ipairs(self.modules) do
    local gi = m[method](m, input[i], gradOutput[i])
    if method ~= "accGradParameters" then gradInput[i] = gi end
  end
  for i = #self.modules + 1, #gradInput do gradInput[i] = nil end
  return gradInput
end

function ParallelTable:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, "updateGradInput")
end

function ParallelTable:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, "accGradParameters")
end

function ParallelTable:backward(input, gradOutput)
  return self:gradients(input, gradOutput, "backward")
end

function ParallelTable:clearState()
  parent.clearState(self)
  self.output, self.gradInput = {}, {}
  return self
end

return ParallelTable
