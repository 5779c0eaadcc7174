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
M.optim = require "mnist.optim"
M.nn = require "mnist.nn"

return M
