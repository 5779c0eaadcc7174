-- nn.CrossEntropyCriterion(): log-softmax and the negative log-likelihood fused, on raw scores
-- (N, classes), averaged over the batch (summed when crit.sizeAverage is false); as PyTorch's
-- CrossEntropyLoss(). The gradient is (softmax - onehot) / N in one pass. m.logProbabilities holds
-- the last log-softmax. (Torch7's class weights are not supported here: ClassNLLCriterion(weights)
-- after LogSoftMax gives them.)
local core = require "mnist.core"
local Criterion = require "mnist.nn.Criterion"

local CrossEntropyCriterion = Criterion:extend("CrossEntropyCriterion")

function CrossEntropyCriterion:updateOutput(input, target)
  local labels
  labels, input = self:checkBatch(input, target)
  local logp = self:buffer("logProbabilities", input:size())
  self.output = core.cross_entropy_forward(logp, input, labels)
  if not self.sizeAverage then self.output = self.output * input:size(1) end
  return self.output
end

-- Uses the log-probabilities of the last forward call (on the same input).
function CrossEntropyCriterion:updateGradInput(input, target)
  local labels = self:checkBatch(input, target)
  if not self.logProbabilities then self:fail("backward called before forward") end
  return core.cross_entropy_backward(self:buffer("gradInput", input:size()), self.logProbabilities,
    labels, self.sizeAverage and 1 or input:size(1))
end

return CrossEntropyCriterion
