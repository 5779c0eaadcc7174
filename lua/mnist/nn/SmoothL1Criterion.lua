-- nn.SmoothL1Criterion([sizeAverage]): the Huber loss with delta 1, elementwise
-- |d| < 1 ? d^2 / 2 : |d| - 1/2 for d = input - target, summed and divided by the number of
-- elements unless sizeAverage is false; as Torch7 and PyTorch's SmoothL1Loss (beta 1).
local PointwiseCriterion = require "mnist.nn.PointwiseCriterion"

local SmoothL1Criterion = PointwiseCriterion:extend("SmoothL1Criterion")
SmoothL1Criterion.kind = "smooth_l1"

return SmoothL1Criterion
