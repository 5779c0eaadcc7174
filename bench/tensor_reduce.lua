-- sum over a dim of a 4096x4096 float tensor (64 MiB), contiguous and transposed, against the
-- memory bandwidth of a copy of the same tensor measured in the same run.
--   eval "$(make -s env)"; luajit bench/tensor_reduce.lua [size] [threads] [runs]
-- A sum reads the tensor once: its rate is size^2 * 4 bytes / time. A copy reads and writes it: its
-- rate counts both (the bytes that crossed the memory bus). The ratio is sum's rate over copy's;
-- near 1 or above means the sum runs at the speed of memory. Times are medians over runs.
local T = require "mnist.tensor"
local torch = require "mnist.torch"
local core = require "mnist.core"

local n = tonumber(arg[1]) or 4096
local threads, runs = tonumber(arg[2]) or core.blas_info().threads, tonumber(arg[3]) or 15
core.blas_set_threads(threads)

local x = T(n, n)
do -- values that are not all equal (a pattern, no random generator needed)
  local row = T(n)
  for j = 1, n do row[j] = (j * 7919 % 1000) / 1000 - 0.5 end
  x:copy(row:view(1, n):expand(n, n))
  x:add(0.25)
end
local xt = x:t()
local bytes = n * n * 4

local function median_time(fn)
  fn() -- warm up (allocations, page faults)
  local times = {}
  for r = 1, runs do
    local t0 = core.wall_time()
    fn()
    times[r] = core.wall_time() - t0
  end
  table.sort(times)
  return times[math.floor((runs + 1) / 2)]
end

local copy_dst = T(n, n)
local copy_time = median_time(function() copy_dst:copy(x) end)
local copy_rate = 2 * bytes / copy_time / 1e9

print(("tensor %dx%d float32 (%.0f MiB), %d threads, median of %d runs"):format(n, n, bytes / 2 ^ 20,
  threads, runs))
print(("%-28s %9.2f ms %7.2f GB/s (read + write)"):format("copy", copy_time * 1e3, copy_rate))
local res = T()
for _, case in ipairs {
  { "sum(1) contiguous", x, 1 }, { "sum(2) contiguous", x, 2 },
  { "sum(1) transposed", xt, 1 }, { "sum(2) transposed", xt, 2 },
} do
  local name, input, dim = case[1], case[2], case[3]
  local time = median_time(function() torch.sum(res, input, dim) end)
  local rate = bytes / time / 1e9
  print(("%-28s %9.2f ms %7.2f GB/s (read)   %.2f x copy"):format(name, time * 1e3, rate, rate / copy_rate))
end
local all_time = median_time(function() x:sum() end)
print(("%-28s %9.2f ms %7.2f GB/s (read)   %.2f x copy"):format("sum() all elements", all_time * 1e3,
  bytes / all_time / 1e9, bytes / all_time / 1e9 / copy_rate))
