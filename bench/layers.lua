-- Where a training step's time goes, layer by layer: forward and backward of every leaf module
-- of a classifier, the median over runs (microseconds per batch), on random images.
--   eval "$(make -s env)"; luajit bench/layers.lua [default|lenet|fast|best|model.lua] [batch] [threads] [runs] [cpu]
-- With "cpu", the process's CPU time instead of wall time: on a busy machine a one-thread run's
-- CPU time leaves out the time other processes held the core (with 2 threads it adds both up).
local mnist = require "mnist"
local core = require "mnist.core"
local nn, T = mnist.nn, mnist.tensor

local arch, batch = arg[1] or "default", tonumber(arg[2]) or 64
local threads, runs = tonumber(arg[3]) or 2, tonumber(arg[4]) or 200
local clock = arg[5] == "cpu" and os.clock or core.wall_time
core.blas_set_threads(threads)

mnist.random.manual_seed(0)
local net = mnist.classifier(arch:match("%.lua$") and { model_file = arch } or { arch = arch })
net:training()
net:setInputGradient(false)
net:getParameters()
local crit = nn.ClassNLLCriterion()
local x = T.zeros(batch, 1, 28, 28)
mnist.random.default:fill_uniform(x, 0, 1)
local labels = T.zeros(batch)
for i = 1, batch do labels[i] = (i - 1) % 10 end

-- The leaves in forward order, each with the name of its place in the net.
local leaves = {}
local function collect(module, name)
  if module.modules then
    for i, child in ipairs(module.modules) do
      collect(child, name .. "." .. (module.names and module.names[i] or tostring(i - 1)))
    end
  else
    leaves[#leaves + 1] = { module = module, name = name:sub(2), fwd = {}, bwd = {} }
  end
end
collect(net, "")
-- the first leaf skips its input gradient, as in training
for i, leaf in ipairs(leaves) do leaf.module:setInputGradient(i > 1) end

local function step(record)
  local input = x
  for _, leaf in ipairs(leaves) do
    local t0 = clock()
    leaf.input, input = input, leaf.module:forward(input)
    if record then leaf.fwd[#leaf.fwd + 1] = clock() - t0 end
  end
  crit:forward(input, labels)
  local grad = crit:backward(input, labels)
  for i = #leaves, 1, -1 do
    local leaf = leaves[i]
    local t0 = clock()
    grad = leaf.module:backward(leaf.input, grad)
    if record then leaf.bwd[#leaf.bwd + 1] = clock() - t0 end
  end
end

local function median(t)
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

for _ = 1, 5 do step(false) end
for _ = 1, runs do step(true) end
local total = 0
print(("%s, batch %d, %d threads, median of %d runs (us per batch, %s time)"):format(arch, batch,
  threads, runs, arg[5] == "cpu" and "CPU" or "wall"))
print(("%-28s %9s %9s"):format("layer", "forward", "backward"))
for _, leaf in ipairs(leaves) do
  local f, b = median(leaf.fwd) * 1e6, median(leaf.bwd) * 1e6
  total = total + f + b
  print(("%-28s %9.1f %9.1f"):format(leaf.name .. " " .. leaf.module.__typename, f, b))
end
print(("%-28s %9.1f us = %.0f images/s (without the loss and the optimizer)"):format("sum", total,
  batch / total * 1e6))
