-- One forward and one backward call of a module (arg[1]: Tanh, Sigmoid, LogSigmoid, ELU, pool24, pool8), for counting
-- instructions (load-independent, unlike the timings) with callgrind:
--   sh bench/kernel_instructions.sh BUILD_DIR ...
-- Shapes: the activations on bench/activations.lua's (64, 32, 26, 26); the pooling on the
-- default model's (64, 64, 24, 24) and LeNet's second (64, 16, 8, 8).
local mnist = require "mnist"
local core = require "mnist.core"
local nn, T = mnist.nn, mnist.tensor
core.blas_set_threads(1)
local case = arg[1] or "Tanh"
local function uniform(...)
  local t = T.zeros(...)
  mnist.random.default:fill_uniform(t, -3, 3)
  return t
end
local pools = { pool24 = { 64, 64, 24, 24 }, pool8 = { 64, 16, 8, 8 } }
if pools[case] then
  local x = uniform(unpack(pools[case]))
  local m = nn.SpatialMaxPooling(2, 2, 2, 2)
  local y = m:forward(x)
  m:backward(x, uniform(unpack(y:size())))
else
  local x, dy = uniform(64, 32, 26, 26), uniform(64, 32, 26, 26)
  local m = assert(nn[case], "no module nn." .. case)()
  m:forward(x)
  m:backward(x, dy)
end
