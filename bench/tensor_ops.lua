-- Element-wise tensor ops against memory bandwidth: a contiguous copy (the memcpy of the core's
-- threads), add and cmul in place, on 16M floats, then the same ops on transposed operands; every
-- figure is the median of `runs`, the ops interleaved in each run so machine noise hits all alike.
--   eval "$(make -s env)"; luajit bench/tensor_ops.lua [threads] [runs] [n]
-- Bandwidth counts the bytes each op must move: copy reads 1 and writes 1 tensor, x:add(y) and
-- x:cmul(y) read 2 and write 1.
local core = require "mnist.core"
local T = require "mnist.tensor"

local threads, runs, n = tonumber(arg[1]) or 2, tonumber(arg[2]) or 15, tonumber(arg[3]) or 16 * 2 ^ 20
core.blas_set_threads(threads)
local side = math.floor(math.sqrt(n))

local x, y, dst = T.ones(n), T.ones(n), T.zeros(n)
local xs, ys = T.ones(side, side), T.ones(side, side)
local xt, yt = xs:t(), ys:t()
local ops = {
  { name = "copy (memcpy)", streams = 2, elems = n, run = function() dst:copy(x) end },
  { name = "add", streams = 3, elems = n, run = function() x:add(y) end },
  { name = "cmul", streams = 3, elems = n, run = function() x:cmul(y) end },
  { name = "add, both transposed", streams = 3, elems = side * side, run = function() xt:add(yt) end },
  { name = "add, one transposed", streams = 3, elems = side * side, run = function() xs:add(yt) end },
  { name = "sum(1) (a new row of sums)", streams = 1, elems = side * side, run = function() xs:sum(1) end },
}
local times = {}
for _, op in ipairs(ops) do times[op.name] = {} end
for _ = 1, runs do
  for _, op in ipairs(ops) do
    local ok = pcall(op.run) -- warm the pages, and skip ops this build lacks
    if ok then
      local t0 = core.wall_time()
      op.run()
      table.insert(times[op.name], core.wall_time() - t0)
    end
  end
  x:fill(1)
  xs:fill(1)
end

local function median(v)
  table.sort(v)
  return v[math.ceil(#v / 2)]
end

local info = core.blas_info()
print(("%d elements (%.0f MB a tensor), %d threads, gemm kernel %s, median of %d"):format(
  n, n * 4 / 2 ^ 20, threads, info.gemm, runs))
local base
for _, op in ipairs(ops) do
  local t = times[op.name]
  if #t > 0 then
    local s = median(t)
    local gbps = op.streams * op.elems * 4 / s / 1e9
    base = base or gbps
    print(("%-28s %8.2f ms  %6.1f GB/s  %5.0f%% of copy"):format(op.name, s * 1e3, gbps, 100 * gbps / base))
  else
    print(("%-28s (not in this build)"):format(op.name))
  end
end
