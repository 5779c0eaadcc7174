-- The elementwise activations against memory bandwidth (issue 13's target: forward and backward
-- at >= 70% of it): each kernel on a contiguous (64, 32, 26, 26) batch (the default model's
-- first activation, 5.5 MB a tensor), timed as the best of runs, its bytes moved (tensors read
-- plus written) per second, over memcpy's (t:copy(x): one read, one write) in the same run.
--   eval "$(make -s env)"; luajit bench/activations.lua [threads] [runs] [cpu]
-- The best of the runs (the machines are shared: the median moves with the neighbours' load);
-- with "cpu", the process's CPU time instead of wall time (one thread only).
-- memcpy runs on one thread; with threads = 2 the kernels split the batch over two (the ratio
-- then shows what the second core adds, not a like-for-like comparison).
local mnist = require "mnist"
local core = require "mnist.core"
local nn, T = mnist.nn, mnist.tensor

local threads, runs = tonumber(arg[1]) or 1, tonumber(arg[2]) or 50
local clock = arg[3] == "cpu" and os.clock or core.wall_time
core.blas_set_threads(threads)
local shape = { 64, 32, 26, 26 }
local x, dy, out = T.zeros(shape), T.zeros(shape), T.zeros(shape)
mnist.random.default:fill_uniform(x, -3, 3)
mnist.random.default:fill_uniform(dy, -1, 1)
local bytes = x:numel() * 4

-- fn() repeated until a sample lasts 5 ms (os.clock ticks coarsely), the best sample per call.
local function best(fn)
  local reps, best_time = 1, math.huge
  repeat
    local t0 = clock()
    for _ = 1, reps do fn() end
    local dt = clock() - t0
    if dt < 5e-3 then reps = reps * 2 end
  until dt >= 5e-3
  for _ = 1, runs do
    local t0 = clock()
    for _ = 1, reps do fn() end
    best_time = math.min(best_time, (clock() - t0) / reps)
  end
  return best_time
end

local copy_time = best(function() out:copy(x) end)
local copy_bw = 2 * bytes / copy_time
print(("threads %d, batch %s, best of %d runs, %s time"):format(threads, table.concat(shape, "x"),
  runs, clock == os.clock and "CPU" or "wall"))
print(("memcpy: %.3f ms, %.1f GB/s"):format(copy_time * 1e3, copy_bw / 1e9))
print(("%-22s %10s %9s %7s %10s %9s %7s"):format("module", "fwd ms", "GB/s", "ratio", "bwd ms", "GB/s", "ratio"))

-- tensors each pass reads + writes: forward x -> y; backward per kernel (what it reads, and dx):
-- ELU's gradient reads dy and y (y > 0 exactly where x > 0), LogSigmoid's dy and x
local cases = {
  { nn.ReLU(), 3 }, { nn.Tanh(), 3 }, { nn.Sigmoid(), 3 }, { nn.LogSigmoid(), 3 },
  { nn.LeakyReLU(0.1), 3 }, { nn.ELU(), 3 }, { nn.HardTanh(), 3 },
}
local worst, slowest_bw = math.huge, math.huge
for _, case in ipairs(cases) do
  local m, bwd_tensors = case[1], case[2]
  m:forward(x)
  m:backward(x, dy)
  local f = best(function() m:updateOutput(x) end)
  local b = best(function() m:updateGradInput(x, dy) end)
  local fbw, bbw = 2 * bytes / f, bwd_tensors * bytes / b
  worst = math.min(worst, fbw / copy_bw, bbw / copy_bw)
  slowest_bw = math.min(slowest_bw, fbw, bbw)
  print(("%-22s %10.3f %9.1f %6.0f%% %10.3f %9.1f %6.0f%%"):format(tostring(m), f * 1e3, fbw / 1e9,
    100 * fbw / copy_bw, b * 1e3, bbw / 1e9, 100 * bbw / copy_bw))
end
print(("lowest ratio: %.0f%% of memcpy's bandwidth"):format(100 * worst))

-- The batch (5.5 MB a tensor) stays in a large L3 cache, so the memcpy above is the cache's
-- bandwidth; the machine's memory bandwidth is a copy of tensors far larger than any cache.
local big_in, big_out = T.zeros { 64 * 1024 * 1024 }:fill(1), T.zeros { 64 * 1024 * 1024 }:fill(2) -- written: not the zero page
local big_time = best(function() big_out:copy(big_in) end)
local memory_bw = 2 * big_in:numel() * 4 / big_time
print(("memory (a 256 MB copy): %.1f GB/s; the slowest pass above: %.0f%% of it"):format(memory_bw / 1e9,
  100 * slowest_bw / memory_bw))
