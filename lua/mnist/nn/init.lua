-- mnist.nn: Torch7-style neural network modules over the C kernels of csrc/.
--   local nn = require "mnist.nn"
--   local model = nn.Sequential()
--     :add(nn.SpatialConvolution(1, 32, 3, 3)):add(nn.ReLU())
--     :add(nn.SpatialMaxPooling(2, 2)):add(nn.Flatten())
--     :add(nn.Linear(32 * 13 * 13, 10)):add(nn.LogSoftMax())
--   local crit = nn.ClassNLLCriterion()
--   local loss = crit:forward(model:forward(images), labels)      -- labels: 0-based digits
--   model:zeroGradParameters()
--   model:backward(images, crit:backward(model.output, labels))
-- See mnist/nn/Module.lua for the module contract and how to write your own module.
local M = {}

-- The one list of the modules (the rockspec installs each file). Each class loads on first use
-- (mnist/lazy.lua): nn.Linear is require "mnist.nn.Linear"; lazy.load_all(nn) loads them all.
local CLASSES = {
  "Module",
  "Container",
  "Sequential",
  "Concat",
  "ConcatTable",
  "ParallelTable",
  "SpatialConvolution",
  "SpatialConvolutionMM",
  "SpatialMaxPooling",
  "SpatialAveragePooling",
  "SpatialZeroPadding",
  "BatchNormalization",
  "SpatialBatchNormalization",
  "Linear",
  "Activation",
  "ReLU",
  "Tanh",
  "Sigmoid",
  "LogSigmoid",
  "LeakyReLU",
  "ELU",
  "HardTanh",
  "Identity",
  "SoftMax",
  "LogSoftMax",
  "Dropout",
  "SpatialDropout",
  "View",
  "Flatten",
  "Reshape",
  "JoinTable",
  "CAddTable",
  "CMulTable",
  "SelectTable",
  "Criterion",
  "ClassNLLCriterion",
  "CrossEntropyCriterion",
  "PointwiseCriterion",
  "MSECriterion",
  "BCECriterion",
  "SmoothL1Criterion",
  "DistKLDivCriterion",
  "MultiMarginCriterion",
}

local fields = {}
for _, name in ipairs(CLASSES) do fields[name] = "mnist.nn." .. name end
require("mnist.lazy").fields(M, fields)

return M
