-- mnist: a Torch-style MNIST pipeline for LuaJIT with a C core.
--   local mnist = require "mnist"
--   print(mnist.tensor{{1, 2}, {3, 4}})
local M = {}

M.version = require "mnist.version"
M.core = require "mnist.core"
M.tensor = require "mnist.tensor"
M.random = require "mnist.random"
M.manual_seed = M.random.manual_seed
M.config = require "mnist.config"

-- Data: download, record files, the batch loader, preprocessing (labels are 0-based, 0..9).
M.download = require "mnist.download"
M.dataset = require "mnist.dataset"
M.preprocessing = require "mnist.preprocessing"
M.load_dataset = M.dataset.load_dataset
M.preprocess_images = M.preprocessing.preprocess_images
M.preprocess_labels = M.preprocessing.preprocess_labels

return M
