-- nn.LogSoftMax(): log(softmax(x)) over each row of a batch (N, D); pairs with
-- nn.ClassNLLCriterion (together: nn.CrossEntropyCriterion on the raw scores).
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local LogSoftMax = Module:extend("LogSoftMax")

function LogSoftMax:updateOutput(input)
  input = self:checkInput(input, 2, "(N, classes)")
  return core.logsoftmax_forward(self:buffer("output", input:size()), input)
end

function LogSoftMax:updateGradInput(input, gradOutput)
  self:checkInput(input, 2, "(N, classes)")
  gradOutput = self:checkGradOutput(gradOutput)
  return core.logsoftmax_backward(self:buffer("gradInput", input:size()), gradOutput, self.output)
end

return LogSoftMax
