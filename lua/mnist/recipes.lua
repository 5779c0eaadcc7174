-- mnist.recipes: the two recipes' models, built-in archs beside model.lua's default and lenet
-- (mnist.classifier{arch = "fast"}, config/fast.yml and config/best.yml; README, "Recipes").
--
--   fast  LeNet-5 with batch norm after each stage: 99.0% in 2 epochs, a few seconds. Its second
--         convolution has 16 output channels, so the direct kernel's vector lanes run it
--         (csrc/nn/conv_direct.h); batch norm lets Adam take a large one-cycle peak rate.
--   best  two 5x5 convolutions (32, 64 maps) with pooling and batch norm, a 256-unit hidden layer:
--         three times cheaper per image than the default model (8 MFLOP forward against 24; it
--         trains 2.1x as fast), so 15 minutes buy 20 epochs of augmented (shifted, rotated,
--         scaled) digits.
--
-- Each entry is what a model file returns (README, "Your own model"): features and head
-- constructors; the classifier is features followed by head.
local nn = require "mnist.nn"

local M = {}

-- conv kxk (from -> to), ReLU, max-pool 2x2, batch norm: one stage of both models.
local function stage(from, to, k)
  return nn.Sequential()
    :add(nn.SpatialConvolution(from, to, k, k))
    :add(nn.ReLU(true))
    :add(nn.SpatialMaxPooling(2, 2, 2, 2))
    :add(nn.SpatialBatchNormalization(to))
end

-- flatten (inputs), linear -> hidden, ReLU, batch norm, linear -> 10, log-softmax: both heads.
local function head(inputs, hidden)
  return nn.Sequential()
    :add(nn.Flatten())
    :add(nn.Linear(inputs, hidden))
    :add(nn.ReLU(true))
    :add(nn.BatchNormalization(hidden))
    :add(nn.Linear(hidden, 10))
    :add(nn.LogSoftMax())                          -- (N, 10)
end

M.fast = {
  features = function()
    return nn.Sequential()
      :add(stage(1, 6, 5))                         -- (N, 6, 12, 12)
      :add(stage(6, 16, 5))                        -- (N, 16, 4, 4)
  end,
  head = function() return head(16 * 4 * 4, 120) end,
}

M.best = {
  features = function()
    return nn.Sequential()
      :add(stage(1, 32, 5))                        -- (N, 32, 12, 12)
      :add(stage(32, 64, 5))                       -- (N, 64, 4, 4)
  end,
  head = function() return head(64 * 4 * 4, 256) end,
}

return M
