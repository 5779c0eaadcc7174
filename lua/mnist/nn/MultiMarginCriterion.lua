-- nn.MultiMarginCriterion([p [, weights [, margin]]]): the multi-class hinge loss of scores
-- (N, classes) against 0-based labels: for sample i with label y,
--   loss_i = w[y] / classes * sum_{j ~= y} max(0, margin - x[i, y] + x[i, j])^p
-- averaged over the batch (summed when crit.sizeAverage is false). p is 1 (default) or 2, margin
-- defaults to 1, weights (optional) hold one per class. Torch7's definition, which PyTorch's
-- MultiMarginLoss shares: note the division by the number of classes (not by the classes other
-- than y), and that the class weight multiplies the whole sample's sum (the label's weight, not
-- each violating class's).
local core = require "mnist.core"
local Criterion = require "mnist.nn.Criterion"

local MultiMarginCriterion, parent = Criterion:extend("MultiMarginCriterion")

function MultiMarginCriterion:__init(p, weights, margin)
  parent.__init(self)
  self.p = p == nil and 1 or p
  if self.p ~= 1 and self.p ~= 2 then self:argumentError("p must be 1 or 2, got %s", tostring(p)) end
  self:setWeights(weights)
  self.margin = margin == nil and 1 or margin
  if type(self.margin) ~= "number" then
    self:argumentError("margin must be a number, got %s", type(margin))
  end
end

function MultiMarginCriterion:describe()
  return ("MultiMarginCriterion(p=%d, margin=%g)"):format(self.p, self.margin)
end

function MultiMarginCriterion:updateOutput(input, target)
  local labels = self:checkBatch(input, target)
  self:checkWeights(input:size(2))
  self.output = core.multimargin_forward(input, labels, self.weights, self.p, self.margin,
    self.sizeAverage)
  return self.output
end

function MultiMarginCriterion:updateGradInput(input, target)
  local labels = self:checkBatch(input, target)
  self:checkWeights(input:size(2))
  return core.multimargin_backward(self:buffer("gradInput", input:size()), input, labels,
    self.weights, self.p, self.margin, self.sizeAverage, 1)
end

return MultiMarginCriterion
