-- The optimizers' step time on one flat vector (default: 1.2M parameters, the default model's
-- size), interleaved so that every optimizer sees the same machine state. Only the fused update
-- is timed: feval returns a fixed gradient at once.
--
--   luajit bench/optim.lua [--n 1200000] [--rounds 7] [--steps 50] [--threads 2]
--
-- Prints, per optimizer, the median over rounds of the mean step time, and the bytes moved per
-- step (reads + writes of float32 vectors) as GB/s, since these loops are bound by memory.
local core = require "mnist.core"
local T = require "mnist.tensor"
local optim = require "mnist.optim"

local args = { n = 1200000, rounds = 7, steps = 50, threads = 2 }
local i = 1
while i <= #arg do
  local key = arg[i]:match("^%-%-(.+)$")
  if not key or args[key] == nil or not tonumber(arg[i + 1]) then error("optim.lua: bad argument " .. arg[i], 0) end
  args[key] = tonumber(arg[i + 1])
  i = i + 2
end
core.blas_set_threads(args.threads)

-- name, config, vectors read + written per step (params r/w, grad r, each moment r/w)
local CASES = {
  { "sgd", { learningRate = 0.01 }, 3 },
  { "sgd", { learningRate = 0.01, momentum = 0.9 }, 5, "sgd+momentum" },
  { "adagrad", { learningRate = 0.045 }, 5 },
  { "rmsprop", { learningRate = 0.01 }, 5 },
  { "nag", { learningRate = 0.01 }, 7 }, -- the look-ahead pass reads and writes params once more
  { "adam", {}, 7 },
  { "adadelta", {}, 7 },
}

local grad = T.zeros(args.n):fill(1e-3)
local function feval() return 0, grad end
local runs = {}
for k, case in ipairs(CASES) do
  runs[k] = { x = T.zeros(args.n):fill(0.5), state = {}, times = {} }
  optim[case[1]](feval, runs[k].x, case[2], runs[k].state) -- allocate the moments
end

for _ = 1, args.rounds do
  for k, case in ipairs(CASES) do
    local run = runs[k]
    local start = core.wall_time()
    for _ = 1, args.steps do optim[case[1]](feval, run.x, case[2], run.state) end
    run.times[#run.times + 1] = (core.wall_time() - start) / args.steps
  end
end

print(("%d parameters, %d threads, median of %d rounds of %d steps"):format(args.n, args.threads,
  args.rounds, args.steps))
for k, case in ipairs(CASES) do
  table.sort(runs[k].times)
  local t = runs[k].times[math.ceil(#runs[k].times / 2)]
  print(("%-14s %8.3f ms/step  %6.1f GB/s"):format(case[4] or case[1], t * 1e3,
    case[3] * 4 * args.n / t / 1e9))
end
