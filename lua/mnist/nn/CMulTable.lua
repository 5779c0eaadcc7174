-- nn.CMulTable(): the elementwise product of a table of tensors of one shape; input i's gradient
-- is gradOutput times the product of the other inputs (computed as such, not by dividing the
-- output by input i, so zeros are fine).
local CAddTable = require "mnist.nn.CAddTable"

local CMulTable, parent = CAddTable:extend("CMulTable")

function CMulTable:__init()
  parent.__init(self)
end

function CMulTable:describe()
  return "CMulTable"
end

function CMulTable:updateOutput(input)
  self:checkSameShapes(input)
  local out = self:buffer("output", input[1]:size()):copy(input[1])
  for i = 2, #input do out:cmul(input[i]) end
  return out
end

function CMulTable:updateGradInput(input, gradOutput)
  self:checkSameShapes(input)
  gradOutput = self:checkGradOutput(gradOutput)
  for i = 1, #input do
    local g = self:bufferAt("gradInput", i, gradOutput:size()):copy(gradOutput)
    for j = 1, #input do
      if j ~= i then g:cmul(input[j]) end
    end
  end
  for i = #input + 1, #self.gradInput do self.gradInput[i] = nil end
  return self.gradInput
end

return CMulTable
