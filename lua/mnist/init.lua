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

-- The rest loads on first use (mnist/lazy.lua), so a script pays only for what it touches.
require("mnist.lazy").fields(M, {
  config = "mnist.config",
  optim = "mnist.optim",
  nn = "mnist.nn",
  -- Models (lua/mnist/model.lua): feature extractor and classifier, fresh or pretrained.
  model = "mnist.model",
  features = { "mnist.model", "features" },
  classifier = { "mnist.model", "classifier" },
  -- Data: download, record files, the batch loader, preprocessing (labels are 0-based, 0..9).
  download = "mnist.download",
  dataset = "mnist.dataset",
  preprocessing = "mnist.preprocessing",
  load_dataset = { "mnist.dataset", "load_dataset" },
  preprocess_images = { "mnist.preprocessing", "preprocess_images" },
  preprocess_labels = { "mnist.preprocessing", "preprocess_labels" },
})

return M
