-- nn.ClassNLLCriterion([weights [, sizeAverage]]): the negative log-likelihood of the labels for
-- log-probabilities input (N, classes) (LogSoftMax's output) and 0-based labels:
--   loss = -sum_i w[label_i] input[i, label_i] / sum_i w[label_i]    (sizeAverage, the default)
--   loss = -sum_i w[label_i] input[i, label_i]                        (sizeAverage = false)
-- with w the optional per-class weights (a float32 vector, all 1 without). As Torch7 and PyTorch's
-- NLLLoss(weight, reduction='mean' / 'sum').
local core = require "mnist.core"
local Criterion = require "mnist.nn.Criterion"

local ClassNLLCriterion, parent = Criterion:extend("ClassNLLCriterion")

function ClassNLLCriterion:__init(weights, sizeAverage)
  parent.__init(self)
  self:setWeights(weights)
  self:setSizeAverage(sizeAverage)
end

function ClassNLLCriterion:updateOutput(input, target)
  local labels
  labels, input = self:checkBatch(input, target)
  self:checkWeights(input:size(2))
  self.output, self.total_weight = core.class_nll_forward(input, labels, self.weights,
    self.sizeAverage)
  return self.output
end

function ClassNLLCriterion:updateGradInput(input, target)
  local labels = self:checkBatch(input, target)
  self:checkWeights(input:size(2))
  return core.class_nll_backward(self:buffer("gradInput", input:size()), labels, self.weights,
    self.sizeAverage, 1)
end

return ClassNLLCriterion
