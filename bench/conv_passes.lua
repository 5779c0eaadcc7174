-- One convolution's three passes timed apart: forward, input gradient, weight (and bias) gradient,
-- and both gradients in one backward call, the best of `runs` (milliseconds). Default: the default
-- model's second convolution, 32 -> 64 channels 3x3 on a (64, 32, 26, 26) batch (Winograd).
--   eval "$(make -s env)"; luajit bench/conv_passes.lua [threads] [runs] [batch cin cout h w k pad]
-- Compare two builds interleaved with bench/interleave.sh.
local mnist = require "mnist"
local core = require "mnist.core"
local T = mnist.tensor

local threads, runs = tonumber(arg[1]) or 1, tonumber(arg[2]) or 25
local n, c, o = tonumber(arg[3]) or 64, tonumber(arg[4]) or 32, tonumber(arg[5]) or 64
local h, w = tonumber(arg[6]) or 26, tonumber(arg[7]) or 26
local k, pad = tonumber(arg[8]) or 3, tonumber(arg[9]) or 0
local oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
core.blas_set_threads(threads)

local function uniform(lo, hi, ...)
  local t = T.zeros(...)
  mnist.random.default:fill_uniform(t, lo, hi)
  return t
end
local x, weight, bias = uniform(-1, 1, n, c, h, w), uniform(-0.1, 0.1, o, c, k, k), T.zeros(o)
local y, dy = T.zeros(n, o, oh, ow), uniform(-1, 1, n, o, oh, ow)
local dx, dw, db = T.zeros(n, c, h, w), T.zeros(o, c, k, k), T.zeros(o)
local ws = T.zeros(core.conv2d_workspace_size(x, weight, 1, 1, pad, pad))

local function best(fn)
  fn()
  local best_time = math.huge
  for _ = 1, runs do
    local t0 = core.wall_time()
    fn()
    best_time = math.min(best_time, core.wall_time() - t0)
  end
  return best_time * 1e3
end

print(("conv %d -> %d, %dx%d, pad %d, on (%d, %d, %d, %d), %s path, %d threads, best of %d (ms)"):format(
  c, o, k, k, pad, n, c, h, w, core.conv2d_path(x, weight, 1, 1, pad, pad), threads, runs))
print(("forward %.2f  input grad %.2f  weight grad %.2f  both grads %.2f"):format(
  best(function() core.conv2d_forward(y, ws, x, weight, bias, 1, 1, pad, pad) end),
  best(function() core.conv2d_backward(dx, nil, nil, ws, dy, x, weight, 1, 1, pad, pad) end),
  best(function() core.conv2d_backward(nil, dw, db, ws, dy, x, weight, 1, 1, pad, pad) end),
  best(function() core.conv2d_backward(dx, dw, db, ws, dy, x, weight, 1, 1, pad, pad) end)))
