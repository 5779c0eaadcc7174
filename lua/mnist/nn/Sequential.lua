-- nn.Sequential: modules applied one after the other; each one's output is the next one's input.
--   local model = nn.Sequential():add(nn.Linear(784, 10)):add(nn.LogSoftMax())
--   model.modules[1], model:get(1), model:size()   -- the children, 1-based as in Torch
-- Tensor names follow PyTorch's nn.Sequential: the child's 0-based index, "0.weight", "1.bias".
local Container = require "mnist.nn.Container"
local Module = require "mnist.nn.Module"

local Sequential = Container:extend("Sequential")

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

-- Only the first child sees the input.
function Sequential:setInputGradient(wanted)
  Module.setInputGradient(self, wanted)
  if self.modules[1] then self.modules[1]:setInputGradient(wanted) end
  return self
end

-- Torch's printout, with parameter counts:
--   nn.Sequential {  -- 1,199,882 parameters
--     [input -> (1) -> (2) -> output]
--     (1): nn.SpatialConvolution(1 -> 32, 3x3)  -- 320 parameters
--     (2): nn.ReLU
--   }
function Sequential:__tostring__()
  local lines = { ("nn.Sequential {  -- %s parameters"):format(Container.thousands(self:numParameters())) }
  local flow = { "[input" }
  for i = 1, #self.modules do flow[#flow + 1] = "(" .. i .. ")" end
  flow[#flow + 1] = "output]"
  lines[2] = "  " .. table.concat(flow, " -> ")
  for i = 1, #self.modules do lines[#lines + 1] = "  " .. self:childText(i, "  ") end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

return Sequential
