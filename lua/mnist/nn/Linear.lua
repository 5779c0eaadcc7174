-- nn.Linear(nIn, nOut [, bias]): y = x @ weight^T + bias over a batch (N, nIn) -> (N, nOut).
--   weight (nOut, nIn) and bias (nOut), as PyTorch's nn.Linear; Linear(nIn, nOut, false) has no
--   bias. Initialised as PyTorch: uniform(-1/sqrt(nIn), 1/sqrt(nIn)) for weight and bias.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local Linear, parent = Module:extend("Linear")

function Linear:__init(nIn, nOut, bias)
  parent.__init(self)
  self:wholeArgument(nIn, "inputSize", 1)
  self:wholeArgument(nOut, "outputSize", 1)
  self.weight, self.gradWeight = T.zeros(nOut, nIn), T.zeros(nOut, nIn)
  if bias ~= false then self.bias, self.gradBias = T.zeros(nOut), T.zeros(nOut) end
  self:reset()
end

-- Re-draws the weights: uniform(-stdv, stdv), by default PyTorch's 1/sqrt(nIn).
function Linear:reset(stdv)
  return self:resetUniform(self.weight:size(2), stdv)
end

function Linear:describe()
  return ("Linear(%d->%d%s)"):format(self.weight:size(2), self.weight:size(1),
    self.bias and "" or ", without bias")
end

-- The input, contiguous, after its checks.
function Linear:checkLinearInput(input)
  input = self:checkInput(input, 2, "(N, features)")
  if input:size(2) ~= self.weight:size(2) then
    self:fail("expected %d input features, got %d (input %s)", self.weight:size(2), input:size(2),
      T.shape_str(input))
  end
  return input
end

function Linear:updateOutput(input)
  input = self:checkLinearInput(input)
  return core.linear_forward(self:buffer("output", { input:size(1), self.weight:size(1) }), input,
    self.weight, self.bias)
end

function Linear:gradients(input, gradOutput, wantInput, wantParams)
  input = self:checkLinearInput(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput = wantInput and self:buffer("gradInput", input:size()) or nil
  core.linear_backward(gradInput, wantParams and self.gradWeight or nil,
    wantParams and self.gradBias or nil, gradOutput, input, self.weight)
  return self.gradInput
end

function Linear:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, true, false)
end

function Linear:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, false, true)
end

function Linear:backward(input, gradOutput)
  if self.skipGradInput then self.gradInput = nil end
  return self:gradients(input, gradOutput, not self.skipGradInput, true)
end

return Linear
