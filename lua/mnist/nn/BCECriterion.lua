-- nn.BCECriterion([weights [, sizeAverage]]): binary cross-entropy of probabilities input in
-- (0, 1) against targets in [0, 1], elementwise
--   -w (t log(x + eps) + (1 - t) log(1 - x + eps)),  eps = 1e-12
-- summed and divided by the number of elements unless sizeAverage is false. weights (optional):
-- one per element, or one per entry of the last dim (repeated over the batch). This is Torch7's
-- formula; PyTorch's BCELoss has no eps but clamps each log at -100 (gradient divided by
-- max(x (1 - x), 1e-12)): the two agree to float precision away from 0 and 1, and differ only
-- in how they keep log(0) finite.
local PointwiseCriterion = require "mnist.nn.PointwiseCriterion"

local BCECriterion, parent = PointwiseCriterion:extend("BCECriterion")
BCECriterion.kind = "bce"

function BCECriterion:__init(weights, sizeAverage)
  parent.__init(self, sizeAverage)
  self:setWeights(weights)
end

return BCECriterion
