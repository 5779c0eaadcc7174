-- mnist: a Torch-style MNIST pipeline for LuaJIT with a C core.
--   local mnist = require "mnist"
--   local net = mnist.classifier{pretrained = true}     -- images in, log-probabilities out
--   print(net:predict("digit.png"))                     -- 7  mnist.tensor (10) ...
--   local features = mnist.features{pretrained = true}  -- the feature extractor, any image size
--   print(mnist.tensor{{1, 2}, {3, 4}})
local M = {}

M.version = require "mnist.version"
M.core = require "mnist.core"
M.tensor = require "mnist.tensor"
M.random = require "mnist.random"
M.manual_seed = M.random.manual_seed
M.config = require "mnist.config"
M.optim = require "mnist.optim"
M.nn = require "mnist.nn"

-- Models (lua/mnist/model.lua): feature extractor and classifier, fresh or pretrained.
M.model = require "mnist.model"
M.features = M.model.features
M.classifier = M.model.classifier

-- Data: download, record files, the batch loader, preprocessing (labels are 0-based, 0..9).
M.download = require "mnist.download"
M.dataset = require "mnist.dataset"
M.preprocessing = require "mnist.preprocessing"
M.load_dataset = M.dataset.load_dataset
M.preprocess_images = M.preprocessing.preprocess_images
M.preprocess_labels = M.preprocessing.preprocess_labels

return M
