-- A multi-layer perceptron: the 28x28 image as 784 numbers, two hidden layers.
--   mnist.lua train --set model_file=examples/models/mlp.lua
-- A model file returns the constructors of the two parts of the classifier (as the entries of
-- lua/mnist/model.lua's architectures): features, whose weights a transfer-learning user reuses,
-- and head, which ends in the log-probabilities (N, 10) of the digits. The arch name is `name`,
-- else the file's base name ("mlp").
local nn = require "mnist.nn"

return {
  features = function()
    return nn.Sequential()
      :add(nn.Flatten())                  -- (N, 784)
      :add(nn.Linear(28 * 28, 512))
      :add(nn.ReLU(true))
      :add(nn.BatchNormalization(512))
      :add(nn.Linear(512, 256))
      :add(nn.ReLU(true))
      :add(nn.BatchNormalization(256))    -- (N, 256)
  end,
  head = function()
    return nn.Sequential()
      :add(nn.Linear(256, 10))
      :add(nn.LogSoftMax())               -- (N, 10)
  end,
}
