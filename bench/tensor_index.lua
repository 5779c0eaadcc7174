-- Indexing and joining against PyTorch on this machine: `luajit bench/tensor_index.lua` (from the
-- checkout, after `make`; `eval "$(make -s env)"` sets the paths). Each workload runs in both, one
-- process each, alternating ours and theirs BENCH_REPS times (default 5); the table shows the
-- median microseconds per call and the ratio (ours / PyTorch, below 1 is faster). PyTorch runs with
-- BENCH_THREADS threads (default 2) and OPENBLAS_NUM_THREADS=1, its best setting here.
local cjson = require "cjson"
local core = require "mnist.core"
local T = require "mnist.tensor"
local torch = require "mnist.torch"

local REPS = tonumber(os.getenv("BENCH_REPS") or "") or 5
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "") or 2
local PYTHON = os.getenv("BENCH_PYTHON") or "/usr/bin/python3"
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."

-- The workloads (bench/tensor_index_torch.py has the same ones, by name).
local function workloads()
  local rows = T(60000, 784):fill(1)
  local bytes = T.bytes(10000, 784)
  local batch, perm, targets = {}, {}, {}
  for i = 1, 64 do batch[i], targets[i] = (i * 937) % 60000 + 1, (i * 937) % 60000 % 1000 + 1 end
  for i = 1, 10000 do perm[i] = (i * 7919) % 10000 + 1 end
  batch, perm, targets = T.of("int64", batch), T.of("int64", perm), T.of("int64", targets)
  local logp = T(4096, 10):fill(1)
  local labels = T.empty("int64", 4096, 1):fill(3)
  local big = T(1000000):fill(1)
  local mask = T.bytes(1000000)
  mask:narrow(1, 1, 500000):fill(1)
  local parts = {}
  for i = 1, 10 do parts[i] = T(1000, 784):fill(i) end
  local acc, src = T(1000, 784), T(64, 784):fill(1)
  local wide = T(784, 60000):fill(1)
  return {
    { "index rows (60000x784 f32, 64 rows)", function() return rows:index(1, batch) end },
    { "index shuffle (10000x784 u8, all rows)", function() return bytes:index(1, perm) end },
    { "index of a transposed view (784x60000 -> t, 64 rows)", function() return wide:t():index(1, batch) end },
    { "gather (4096x10, dim 2, one per row)", function() return logp:gather(2, labels) end },
    { "maskedSelect (1e6 f32, half)", function() return big:maskedSelect(mask) end },
    { "cat (10 x 1000x784 along dim 1)", function() return torch.cat(parts, 1) end },
    { "indexAdd (1000x784 += 64 rows)", function() return acc:indexAdd(1, targets, src) end },
    { "repeatTensor (784 -> 256x784)", function() return rows[1]:repeatTensor(256, 1) end },
  }
end

local function time_us(fn)
  fn()
  local n, t0 = 0, core.wall_time()
  repeat
    fn()
    n = n + 1
  until core.wall_time() - t0 > 0.3
  return (core.wall_time() - t0) / n * 1e6
end

local function median(v)
  table.sort(v)
  return v[math.floor((#v + 1) / 2)]
end

local ours, theirs = {}, {}
local names = {}
for rep = 1, REPS do
  for i, w in ipairs(workloads()) do
    names[i] = w[1]
    ours[i] = ours[i] or {}
    table.insert(ours[i], time_us(w[2]))
  end
  collectgarbage()
  local cmd = ("OPENBLAS_NUM_THREADS=1 %s %s/tensor_index_torch.py %d"):format(PYTHON, HERE, THREADS)
  local p = assert(io.popen(cmd))
  local result = cjson.decode(p:read("*a"))
  p:close()
  for i, us in ipairs(result) do
    theirs[i] = theirs[i] or {}
    table.insert(theirs[i], us)
  end
end

print(("%-56s %12s %12s %7s"):format("workload (median of " .. REPS .. ")", "ours us", "PyTorch us", "ratio"))
for i, label in ipairs(names) do
  local a, b = median(ours[i]), median(theirs[i])
  print(("%-56s %12.1f %12.1f %7.2f"):format(label, a, b, a / b))
end
