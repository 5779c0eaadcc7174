-- Times one training step of the default model (forward, loss, backward) on a batch of 64
-- random 28x28 images: the median of several runs, per phase.
--   eval "$(make -s env)"; luajit bench/nn_step.lua [batch] [runs]
local mnist = require "mnist"
local nn, T = mnist.nn, mnist.tensor

local batch, runs = tonumber(arg[1]) or 64, tonumber(arg[2]) or 15

local ffi = require "ffi"
ffi.cdef [[ typedef struct { long tv_sec; long tv_nsec; } mn_timespec;
            int clock_gettime(int clk_id, mn_timespec *tp); ]]
local ts = ffi.new("mn_timespec")
local function now() -- seconds, CLOCK_MONOTONIC
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- The default model of DESIGN.md section 4 (until the model issue adds its constructor).
local model = nn.Sequential()
  :add(nn.SpatialConvolution(1, 32, 3, 3)):add(nn.ReLU())
  :add(nn.SpatialConvolution(32, 64, 3, 3)):add(nn.ReLU())
  :add(nn.SpatialMaxPooling(2, 2)):add(nn.SpatialBatchNormalization(64))
  :add(nn.Flatten()):add(nn.Linear(9216, 128)):add(nn.ReLU())
  :add(nn.BatchNormalization(128)):add(nn.Linear(128, 10)):add(nn.LogSoftMax())
local crit = nn.ClassNLLCriterion()
local x = T.zeros(batch, 1, 28, 28)
mnist.random.default:fill_uniform(x, 0, 1)
local labels = T.zeros(batch)
for i = 1, batch do labels[i] = (i - 1) % 10 end
model:getParameters()

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

local fwd, bwd, total = {}, {}, {}
for r = 0, runs do
  local t0 = now()
  local y = model:forward(x)
  crit:forward(y, labels)
  local t1 = now()
  model:zeroGradParameters()
  model:backward(x, crit:backward(y, labels))
  local t2 = now()
  if r > 0 then -- the first run allocates the buffers
    fwd[#fwd + 1], bwd[#bwd + 1], total[#total + 1] = t1 - t0, t2 - t1, t2 - t0
  end
end
-- What OpenBLAS sgemm reaches right now on conv2's product shape (this machine's speed varies
-- from run to run: read the step time against it).
local a, b, c = T.zeros(64, 288), T.zeros(288, 2880), T.zeros(64, 2880)
local gemm = {}
for r = 1, 20 do
  local t0 = now()
  T.matmul(a, b, false, false, c)
  gemm[r] = now() - t0
end
local gflops = 2 * 64 * 288 * 2880 / median(gemm) / 1e9
local info = mnist.core.blas_info()
print(("batch %d, %d runs, OpenBLAS %s x%d threads (sgemm %.0f GFLOP/s): forward %.1f ms, backward %.1f ms, step %.1f ms (%.0f images/s)")
  :format(batch, runs, info.core, info.threads, gflops, median(fwd) * 1e3, median(bwd) * 1e3,
    median(total) * 1e3, batch / median(total)))
