-- nn.ClassNLLCriterion(): the negative log-likelihood of the labels, averaged over the batch:
-- loss = -mean_i input[i, label_i] for log-probabilities input (N, classes) (LogSoftMax's
-- output) and 0-based labels. As PyTorch's NLLLoss() (reduction 'mean', no class weights).
local core = require "mnist.core"
local Criterion = require "mnist.nn.Criterion"

local ClassNLLCriterion = Criterion:extend("ClassNLLCriterion")

function ClassNLLCriterion:updateOutput(input, target)
  local labels
  labels, input = self:checkBatch(input, target)
  self.output = core.nll_forward(input, labels)
  return self.output
end

function ClassNLLCriterion:updateGradInput(input, target)
  local labels = self:checkBatch(input, target)
  return core.nll_backward(self:buffer("gradInput", input:size()), labels, 1)
end

return ClassNLLCriterion
