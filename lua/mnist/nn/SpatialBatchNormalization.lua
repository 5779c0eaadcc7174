-- nn.SpatialBatchNormalization(n [, eps [, momentum [, affine]]]): batch norm per channel over
-- images (N, n, H, W), as PyTorch's BatchNorm2d. Everything else is nn.BatchNormalization's.
local BatchNormalization = require "mnist.nn.BatchNormalization"

local SpatialBatchNormalization = BatchNormalization:extend("SpatialBatchNormalization")
SpatialBatchNormalization.nDim = 4
SpatialBatchNormalization.layout = "(N, C, H, W)"

return SpatialBatchNormalization
