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

-- The one list of the modules (the rockspec installs each file).
M.Module = require "mnist.nn.Module"
M.Container = require "mnist.nn.Container"
M.Sequential = require "mnist.nn.Sequential"
M.Concat = require "mnist.nn.Concat"
M.ConcatTable = require "mnist.nn.ConcatTable"
M.ParallelTable = require "mnist.nn.ParallelTable"
M.SpatialConvolution = require "mnist.nn.SpatialConvolution"
M.SpatialConvolutionMM = require "mnist.nn.SpatialConvolutionMM"
M.SpatialMaxPooling = require "mnist.nn.SpatialMaxPooling"
M.SpatialAveragePooling = require "mnist.nn.SpatialAveragePooling"
M.SpatialZeroPadding = require "mnist.nn.SpatialZeroPadding"
M.BatchNormalization = require "mnist.nn.BatchNormalization"
M.SpatialBatchNormalization = require "mnist.nn.SpatialBatchNormalization"
M.Linear = require "mnist.nn.Linear"
M.Activation = require "mnist.nn.Activation"
M.ReLU = require "mnist.nn.ReLU"
M.Tanh = require "mnist.nn.Tanh"
M.Sigmoid = require "mnist.nn.Sigmoid"
M.LogSigmoid = require "mnist.nn.LogSigmoid"
M.LeakyReLU = require "mnist.nn.LeakyReLU"
M.ELU = require "mnist.nn.ELU"
M.HardTanh = require "mnist.nn.HardTanh"
M.Identity = require "mnist.nn.Identity"
M.SoftMax = require "mnist.nn.SoftMax"
M.LogSoftMax = require "mnist.nn.LogSoftMax"
M.Dropout = require "mnist.nn.Dropout"
M.SpatialDropout = require "mnist.nn.SpatialDropout"
M.View = require "mnist.nn.View"
M.Flatten = require "mnist.nn.Flatten"
M.Reshape = require "mnist.nn.Reshape"
M.JoinTable = require "mnist.nn.JoinTable"
M.CAddTable = require "mnist.nn.CAddTable"
M.CMulTable = require "mnist.nn.CMulTable"
M.SelectTable = require "mnist.nn.SelectTable"
M.Criterion = require "mnist.nn.Criterion"
M.ClassNLLCriterion = require "mnist.nn.ClassNLLCriterion"
M.CrossEntropyCriterion = require "mnist.nn.CrossEntropyCriterion"
M.PointwiseCriterion = require "mnist.nn.PointwiseCriterion"
M.MSECriterion = require "mnist.nn.MSECriterion"
M.BCECriterion = require "mnist.nn.BCECriterion"
M.SmoothL1Criterion = require "mnist.nn.SmoothL1Criterion"
M.DistKLDivCriterion = require "mnist.nn.DistKLDivCriterion"
M.MultiMarginCriterion = require "mnist.nn.MultiMarginCriterion"

return M
