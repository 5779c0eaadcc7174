-- An all-convolutional network (Springenberg et al., 2014): strided convolutions instead of
-- pooling, a 1x1 convolution to the 10 classes and global average pooling instead of a linear
-- layer.
--   mnist.lua train --set model_file=examples/models/allconv.lua
local nn = require "mnist.nn"

-- conv 3x3 (padded), ReLU, batch norm.
local function conv(from, to, stride)
  return nn.Sequential()
    :add(nn.SpatialConvolution(from, to, 3, 3, stride, stride, 1, 1))
    :add(nn.ReLU(true))
    :add(nn.SpatialBatchNormalization(to))
end

return {
  features = function()
    return nn.Sequential()
      :add(conv(1, 32, 1))     -- (N, 32, 28, 28)
      :add(conv(32, 32, 2))    -- (N, 32, 14, 14)
      :add(conv(32, 64, 1))    -- (N, 64, 14, 14)
      :add(conv(64, 64, 2))    -- (N, 64, 7, 7)
  end,
  head = function()
    return nn.Sequential()
      :add(nn.SpatialConvolution(64, 10, 1, 1))  -- (N, 10, 7, 7): a score map per class
      :add(nn.SpatialAveragePooling(7, 7))       -- (N, 10, 1, 1): global average pooling
      :add(nn.View(10))                          -- (N, 10)
      :add(nn.LogSoftMax())
  end,
}
