-- nn.ReLU(): y = max(x, 0) elementwise, any shape.
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local ReLU = Module:extend("ReLU")

function ReLU:updateOutput(input)
  self:checkInput(input)
  return core.relu_forward(self:buffer("output", input:size()), input)
end

function ReLU:updateGradInput(input, gradOutput)
  self:checkInput(input)
  self:checkGradOutput(gradOutput)
  return core.relu_backward(self:buffer("gradInput", input:size()), gradOutput, self.output)
end

return ReLU
