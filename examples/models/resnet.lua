-- A small residual network: two residual blocks (He et al., 2015), each adding its input back to
-- the output of two 3x3 convolutions with batch norm (ConcatTable feeds both branches, CAddTable
-- sums them).
--   mnist.lua train --set model_file=examples/models/resnet.lua
local nn = require "mnist.nn"

-- conv 3x3 (same size), batch norm, ReLU, conv 3x3, batch norm, plus the input; then ReLU.
local function residual_block(planes)
  local branch = nn.Sequential()
    :add(nn.SpatialConvolution(planes, planes, 3, 3, 1, 1, 1, 1))
    :add(nn.SpatialBatchNormalization(planes))
    :add(nn.ReLU(true))
    :add(nn.SpatialConvolution(planes, planes, 3, 3, 1, 1, 1, 1))
    :add(nn.SpatialBatchNormalization(planes))
  return nn.Sequential()
    :add(nn.ConcatTable():add(branch):add(nn.Identity()))
    :add(nn.CAddTable())
    :add(nn.ReLU(true))
end

return {
  name = "resnet-small",
  features = function()
    return nn.Sequential()
      :add(nn.SpatialConvolution(1, 16, 3, 3, 1, 1, 1, 1))   -- (N, 16, 28, 28)
      :add(nn.SpatialBatchNormalization(16))
      :add(nn.ReLU(true))
      :add(residual_block(16))
      :add(nn.SpatialConvolution(16, 32, 3, 3, 2, 2, 1, 1))  -- (N, 32, 14, 14)
      :add(nn.SpatialBatchNormalization(32))
      :add(nn.ReLU(true))
      :add(residual_block(32))
      :add(nn.SpatialMaxPooling(2, 2))                       -- (N, 32, 7, 7)
  end,
  head = function()
    return nn.Sequential()
      :add(nn.Flatten())                                     -- (N, 1568)
      :add(nn.Linear(32 * 7 * 7, 10))
      :add(nn.LogSoftMax())                                  -- (N, 10)
  end,
}
