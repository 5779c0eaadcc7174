-- nn.Activation: the base of the elementwise activations computed by one C kernel pair
-- (core.activation_forward / activation_backward, csrc/nn/activation.c): Tanh, Sigmoid,
-- LogSigmoid, LeakyReLU, ELU, HardTanh. Any input shape; the output has the input's shape.
-- A subclass sets `kind` (the kernel's name for it) and, in its __init, the constants a and b
-- and whether it works in place (self:setInPlace(ip)), where Torch7 allows it: the output IS
-- the input tensor (overwritten) and backward writes the input gradient over gradOutput.
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local Activation, parent = Module:extend("Activation")

-- The kernel's constants a and b (0 unless a subclass sets them).
function Activation:__init()
  parent.__init(self)
  self.a, self.b = 0, 0
end

-- ip: nil or a boolean (Torch's `ip` / `inplace` argument).
function Activation:setInPlace(ip)
  if ip ~= nil and type(ip) ~= "boolean" then
    self:argumentError("inplace must be a boolean, got %s", type(ip))
  end
  self.inplace = ip or nil
  return self
end

function Activation:updateOutput(input)
  input = self:checkInput(input)
  local out = self.inplace and input or self:buffer("output", input:size())
  core.activation_forward(out, input, self.kind, self.a, self.b)
  self.output = out
  return out
end

function Activation:updateGradInput(input, gradOutput)
  input = self:checkInput(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput = self.inplace and gradOutput or self:buffer("gradInput", input:size())
  core.activation_backward(gradInput, gradOutput, input, self.output, self.kind, self.a, self.b)
  self.gradInput = gradInput
  return gradInput
end

-- "Name" or "Name(in place)", for the subclasses' describe.
function Activation:label(args)
  local name = self.__typename:gsub("^nn%.", "")
  local parts = {}
  if args then parts[#parts + 1] = args end
  if self.inplace then parts[#parts + 1] = "in place" end
  return #parts > 0 and ("%s(%s)"):format(name, table.concat(parts, ", ")) or name
end

function Activation:describe()
  return self:label()
end

return Activation
