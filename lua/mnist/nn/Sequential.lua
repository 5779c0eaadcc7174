-- nn.Sequential: modules applied one after the other; each one's output is the next one's input.
--   local model = nn.Sequential():add(nn.Linear(784, 10)):add(nn.LogSoftMax())
--   model.modules[1], model:get(1), model:size()   -- the children, 1-based as in Torch
-- Tensor names follow PyTorch's nn.Sequential: the child's 0-based index, "0.weight", "1.bias".
local Module = require "mnist.nn.Module"

local Sequential, parent = Module:extend("Sequential")

function Sequential:__init()
  parent.__init(self)
  self.modules = {}
end

-- Appends a module; returns self so calls chain.
-- seq:add(module [, name]): appends a child. The name (default: its 0-based position, as in
-- PyTorch's nn.Sequential) prefixes the child's tensor names: "features.0.weight".
function Sequential:add(module, name)
  if not Module.isModule(module) or module.isCriterion then
    local got = type(module) == "table" and module.isCriterion and "a criterion" or type(module)
    self:fail("add expects an nn module, got %s", got)
  end
  if name ~= nil and (type(name) ~= "string" or not name:match("^[%a_][%w_]*$")) then
    self:fail("add: a child's name must be an identifier, got %s", tostring(name))
  end
  self.modules[#self.modules + 1] = module
  self.names = self.names or {}
  self.names[#self.modules] = name
  return self
end

function Sequential:get(index)
  return self.modules[index]
end

function Sequential:size()
  return #self.modules
end

function Sequential:updateOutput(input)
  local x = input
  for _, m in ipairs(self.modules) do x = m:updateOutput(x) end
  self.output = x
  return x
end

-- The input each child saw in the last forward pass.
function Sequential:childInput(i, input)
  return i == 1 and input or self.modules[i - 1].output
end

function Sequential:updateGradInput(input, gradOutput)
  local g = gradOutput
  for i = #self.modules, 1, -1 do
    g = self.modules[i]:updateGradInput(self:childInput(i, input), g)
  end
  self.gradInput = g
  return g
end

function Sequential:accGradParameters(input, gradOutput)
  local g = gradOutput
  for i = #self.modules, 1, -1 do
    local m = self.modules[i]
    m:accGradParameters(self:childInput(i, input), g)
    g = m.gradInput
  end
end

function Sequential:backward(input, gradOutput)
  local g = gradOutput
  for i = #self.modules, 1, -1 do g = self.modules[i]:backward(self:childInput(i, input), g) end
  self.gradInput = g
  return g
end

function Sequential:setInputGradient(wanted)
  parent.setInputGradient(self, wanted)
  if self.modules[1] then self.modules[1]:setInputGradient(wanted) end
  return self
end

function Sequential:parameters()
  local params, grads = {}, {}
  for _, m in ipairs(self.modules) do
    local p, g = m:parameters()
    for i = 1, #p do
      params[#params + 1], grads[#grads + 1] = p[i], g[i]
    end
  end
  return params, grads
end

function Sequential:training()
  self.train = true
  for _, m in ipairs(self.modules) do m:training() end
  return self
end

function Sequential:evaluate()
  self.train = false
  for _, m in ipairs(self.modules) do m:evaluate() end
  return self
end

function Sequential:clearState()
  parent.clearState(self)
  for _, m in ipairs(self.modules) do m:clearState() end
  return self
end

function Sequential:namedTensors(prefix)
  prefix = prefix or ""
  local list = {}
  for i, m in ipairs(self.modules) do
    local name = self.names and self.names[i] or tostring(i - 1)
    for _, pair in ipairs(m:namedTensors(prefix .. name .. ".")) do list[#list + 1] = pair end
  end
  return list
end

local function thousands(n)
  local s = tostring(n)
  repeat
    local k
    s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2")
  until k == 0
  return s
end

-- Torch's printout, with parameter counts:
--   nn.Sequential {  -- 1,199,882 parameters
--     [input -> (1) -> (2) -> output]
--     (1): nn.SpatialConvolution(1 -> 32, 3x3)  -- 320 parameters
--     (2): nn.ReLU
--   }
function Sequential:__tostring__()
  local lines = { ("nn.Sequential {  -- %s parameters"):format(thousands(self:numParameters())) }
  local flow = { "[input" }
  for i = 1, #self.modules do flow[#flow + 1] = "(" .. i .. ")" end
  flow[#flow + 1] = "output]"
  lines[2] = "  " .. table.concat(flow, " -> ")
  for i, m in ipairs(self.modules) do
    local text = tostring(m):gsub("\n", "\n  ")
    local count = m:numParameters()
    if count > 0 and not m.modules then
      text = text .. ("  -- %s parameters"):format(thousands(count))
    end
    local name = self.names and self.names[i]
    lines[#lines + 1] = ("  (%d)%s: %s"):format(i, name and (" " .. name) or "", text)
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

return Sequential
