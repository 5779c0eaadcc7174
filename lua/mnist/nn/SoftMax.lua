-- nn.SoftMax(): exp(x) / sum(exp(x)), computed stably, along the dim Torch7 picks by the input's
-- rank: the only dim of a 1-D vector, dim 2 of a (N, D) batch, dim 1 of a (C, H, W) image (over
-- the channels at each pixel), dim 2 of a (N, C, H, W) batch. PyTorch's nn.Softmax() without a
-- dim picked the same (deprecated there: it now wants the dim); nn.LogSoftMax follows the rule too.
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local SoftMax = Module:extend("SoftMax")
SoftMax.takeLog = false

local DIM_BY_RANK = { 1, 2, 1, 2 }

-- The dim the input is normalised along (1-based), or a clear error.
function SoftMax:softmaxDim(input)
  input = self:checkInput(input)
  local dim = DIM_BY_RANK[input:dim()]
  if not dim then self:fail("expected a 1-D to 4-D input, got %s", self.shapeString(input)) end
  return dim
end

function SoftMax:updateOutput(input)
  local dim = self:softmaxDim(input)
  return core.softmax_forward(self:buffer("output", input:size()), input, dim, self.takeLog)
end

function SoftMax:updateGradInput(input, gradOutput)
  local dim = self:softmaxDim(input)
  gradOutput = self:checkGradOutput(gradOutput)
  return core.softmax_backward(self:buffer("gradInput", input:size()), gradOutput, self.output,
    dim, self.takeLog)
end

return SoftMax
