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

M.Module = require "mnist.nn.Module"
M.Sequential = require "mnist.nn.Sequential"
M.SpatialConvolution = require "mnist.nn.SpatialConvolution"
M.SpatialMaxPooling = require "mnist.nn.SpatialMaxPooling"
M.BatchNormalization = require "mnist.nn.BatchNormalization"
M.SpatialBatchNormalization = require "mnist.nn.SpatialBatchNormalization"
M.Linear = require "mnist.nn.Linear"
M.ReLU = require "mnist.nn.ReLU"
M.Dropout = require "mnist.nn.Dropout"
M.View = require "mnist.nn.View"
M.Flatten = require "mnist.nn.Flatten"
M.LogSoftMax = require "mnist.nn.LogSoftMax"
M.Criterion = require "mnist.nn.Criterion"
M.ClassNLLCriterion = require "mnist.nn.ClassNLLCriterion"
M.CrossEntropyCriterion = require "mnist.nn.CrossEntropyCriterion"

return M
