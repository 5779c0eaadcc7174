-- nn.Dropout([p]): in training, zeroes each element with probability p (default 0.5) and scales
-- the others by 1/(1-p) (inverted dropout, as PyTorch); in evaluation, the identity. Draws from
-- mnist.random.default, so mnist.manual_seed(s) reproduces the masks. m.mask holds the last one.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local Dropout, parent = Module:extend("Dropout")

function Dropout:__init(p)
  parent.__init(self)
  self.p = p == nil and 0.5 or p
  if type(self.p) ~= "number" or self.p < 0 or self.p > 1 then
    self:argumentError("p must be a probability in [0, 1], got %s", tostring(p))
  end
end

function Dropout:describe()
  return ("Dropout(%g)"):format(self.p)
end

function Dropout:updateOutput(input)
  input = self:checkInput(input)
  local out = self:buffer("output", input:size())
  if not self.train then return out:copy(input) end
  if self.shard then
    -- data parallel (mnist.distributed): the mask of the whole global batch, drawn as one process
    -- draws it, and this rank's rows of it (out = input * mask)
    local global = input:size()
    global[1] = self.shard.total
    core.dropout_forward(self:buffer("shardOutput", global), self:buffer("shardMask", global),
      self:buffer("shardInput", global), self.p, require("mnist.random").default)
    self.mask = self.shardMask:narrow(1, self.shard.first, input:size(1))
    return core.dropout_backward(out, input, self.mask)
  end
  return core.dropout_forward(out, self:buffer("mask", input:size()), input, self.p,
    require("mnist.random").default)
end

function Dropout:updateGradInput(input, gradOutput)
  input = self:checkInput(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput = self:buffer("gradInput", input:size())
  if not self.train then return gradInput:copy(gradOutput) end
  return core.dropout_backward(gradInput, gradOutput, self.mask)
end

function Dropout:clearState()
  self.mask, self.shardOutput, self.shardMask, self.shardInput = nil, nil, nil, nil
  return Module.clearState(self)
end

return Dropout
