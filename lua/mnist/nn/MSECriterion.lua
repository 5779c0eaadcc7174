-- nn.MSECriterion([sizeAverage]): sum((input - target)^2), divided by the number of elements
-- unless sizeAverage is false; as Torch7 and PyTorch's MSELoss.
local PointwiseCriterion = require "mnist.nn.PointwiseCriterion"

local MSECriterion = PointwiseCriterion:extend("MSECriterion")
MSECriterion.kind = "mse"

return MSECriterion
