-- nn.DistKLDivCriterion([sizeAverage]): the Kullback-Leibler divergence of the target
-- distribution from the input, given as log-probabilities: elementwise
-- t > 0 ? t (log t - x) : 0, summed and divided by the number of ELEMENTS unless sizeAverage is
-- false. As Torch7, and PyTorch's KLDivLoss(reduction='mean'); PyTorch's 'batchmean' (the true
-- KL divergence per sample) is this with sizeAverage = false, divided by the batch size.
local PointwiseCriterion = require "mnist.nn.PointwiseCriterion"

local DistKLDivCriterion = PointwiseCriterion:extend("DistKLDivCriterion")
DistKLDivCriterion.kind = "dist_kl_div"

return DistKLDivCriterion
