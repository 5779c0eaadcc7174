-- nn.ReLU([inplace]): y = max(x, 0) elementwise, any shape.
--   nn.ReLU(true) works in place, as Torch's: the output IS the input tensor (its values
--   overwritten) and backward writes the input gradient over gradOutput. It saves a buffer and a
--   pass over memory each way; use it where nothing else needs the input or gradOutput
--   afterwards (behind a convolution or a linear layer, whose backward needs its input, not its
--   output). The default, nn.ReLU(), leaves both alone.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local ReLU, parent = Module:extend("ReLU")

function ReLU:__init(inplace)
  parent.__init(self)
  if inplace ~= nil and type(inplace) ~= "boolean" then
    self:argumentError("inplace must be a boolean, got %s", type(inplace))
  end
  self.inplace = inplace or nil
end

function ReLU:describe()
  return self.inplace and "ReLU(in place)" or "ReLU"
end

function ReLU:updateOutput(input)
  if self.inplace and not input:isContiguous() then
    self:fail("runs in place, so it needs a contiguous input, got a strided view %s", T.shape_str(input))
  end
  input = self:checkInput(input)
  if self.inplace then
    self.output = core.relu_forward(input, input)
    return self.output
  end
  return core.relu_forward(self:buffer("output", input:size()), input)
end

function ReLU:updateGradInput(input, gradOutput)
  input = self:checkInput(input)
  gradOutput = self:checkGradOutput(gradOutput)
  if self.inplace then
    self.gradInput = core.relu_backward(gradOutput, gradOutput, self.output)
    return self.gradInput
  end
  return core.relu_backward(self:buffer("gradInput", input:size()), gradOutput, self.output)
end

return ReLU
