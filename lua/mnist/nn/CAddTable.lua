-- nn.CAddTable([inplace]): the elementwise sum of a table of tensors of one shape; each input's
-- gradient is gradOutput (copied into its own buffer, or gradOutput itself when inplace, which
-- also sums into the first input instead of a buffer of its own, as Torch7's).
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local CAddTable, parent = Module:extend("CAddTable")

function CAddTable:__init(inplace)
  parent.__init(self)
  if inplace ~= nil and type(inplace) ~= "boolean" then
    self:argumentError("inplace must be a boolean, got %s", type(inplace))
  end
  self.inplace = inplace or nil
  self.gradInput = {}
end

function CAddTable:describe()
  return self.inplace and "CAddTable(in place)" or "CAddTable"
end

-- Checks a table of at least one tensor, all of input[1]'s shape.
function CAddTable:checkSameShapes(input)
  self:checkTensorTable(input)
  for i = 2, #input do
    if not Module.sameSize(input[i], input[1]) then
      self:fail("input[%d] %s differs in shape from input[1] %s", i, T.shape_str(input[i]),
        T.shape_str(input[1]))
    end
  end
end

function CAddTable:updateOutput(input)
  self:checkSameShapes(input)
  local out = self.inplace and input[1] or self:buffer("output", input[1]:size()):copy(input[1])
  for i = 2, #input do out:add(input[i]) end
  self.output = out
  return out
end

function CAddTable:updateGradInput(input, gradOutput)
  self:checkSameShapes(input)
  gradOutput = self:checkGradOutput(gradOutput)
  for i = 1, #input do
    self.gradInput[i] = self.inplace and gradOutput or
      self:bufferAt("gradInput", i, gradOutput:size()):copy(gradOutput)
  end
  for i = #input + 1, #self.gradInput do self.gradInput[i] = nil end
  return self.gradInput
end

function CAddTable:clearState()
  parent.clearState(self)
  self.gradInput = {}
  return self
end

return CAddTable
