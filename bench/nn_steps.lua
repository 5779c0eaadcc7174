-- Allocation per training step once shapes are stable (issue 13's target for the new layers):
-- a model built from them (residual block, inception-style Concat, average and ceil-mode pooling,
-- zero padding, spatial dropout, the new activations, Reshape, SoftMax + BCE...) runs forward,
-- criterion, backward and an SGD step; counted over the steps after a warm-up:
--   tensors  buffers (output, gradInput, ...) that are not the same objects as in the step before
--   Lua KB   Lua heap growth per step with the collector stopped (shape tables and the like;
--            no tensor storage lives on the Lua heap)
--   eval "$(make -s env)"; luajit bench/nn_steps.lua [steps]
local mnist = require "mnist"
local nn, T = mnist.nn, mnist.tensor

local steps = tonumber(arg[1]) or 20
mnist.manual_seed(0)
local c = 8
local model = nn.Sequential()
  :add(nn.SpatialConvolutionMM(1, c, 3, 3, 1, 1, 1, 1)):add(nn.ELU())
  :add(nn.ConcatTable()
    :add(nn.Sequential():add(nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1)):add(nn.Tanh())
      :add(nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1)))
    :add(nn.Identity()))
  :add(nn.CAddTable()):add(nn.LeakyReLU(0.1, true))
  :add(nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1):ceil()):add(nn.SpatialZeroPadding(1))
  :add(nn.Concat(2)
    :add(nn.SpatialConvolution(c, 4, 1, 1))
    :add(nn.Sequential():add(nn.SpatialAveragePooling(3, 3, 1, 1, 1, 1)):add(nn.SpatialConvolution(c, 4, 1, 1))))
  :add(nn.SpatialDropout(0.1)):add(nn.HardTanh()):add(nn.SpatialAveragePooling(17, 17))
  :add(nn.Reshape(8)):add(nn.Linear(8, 10)):add(nn.Sigmoid())
local crit = nn.BCECriterion()
local x = T.zeros(16, 1, 28, 28)
mnist.random.default:fill_uniform(x, 0, 1)
local target = T.zeros(16, 10)
for i = 1, 16 do target:set(i, (i - 1) % 10 + 1, 1) end
local flat, gflat = model:getParameters()

local function buffers()
  local list = {}
  for _, m in ipairs(model:listModules()) do
    for _, key in ipairs { "output", "gradInput", "mask", "indices", "workspace" } do
      list[#list + 1] = m[key] or false
    end
  end
  return list
end

local function step()
  local loss = crit:forward(model:forward(x), target)
  model:zeroGradParameters()
  model:backward(x, crit:backward(model.output, target))
  flat:axpy(-0.1, gflat)
  return loss
end

for _ = 1, 3 do step() end -- warm-up: the buffers take their shapes
local before, changed = buffers(), 0
collectgarbage("collect")
collectgarbage("stop")
local kb0 = collectgarbage("count")
local loss
for _ = 1, steps do
  loss = step()
  local now = buffers()
  for i = 1, #now do
    if now[i] ~= before[i] then changed = changed + 1 end
  end
  before = now
end
local kb = (collectgarbage("count") - kb0) / steps
collectgarbage("restart")
print(("%d modules, %d steps: %d new tensor buffers, %.1f KB of Lua heap per step (loss %.4f)")
  :format(#model:listModules(), steps, changed, kb, loss))
