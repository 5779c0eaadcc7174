-- nn.SpatialDropout([p]): Torch7's dropout of whole feature maps: in training each (n, c) plane of
-- a batch (N, C, H, W) is zeroed with probability p (default 0.5) or kept as it is; in evaluation
-- every value is scaled by 1 - p. That is Torch7's convention (the expected value matches in
-- evaluation), not PyTorch's Dropout2d, which scales the kept planes by 1/(1-p) in training and
-- is the identity in evaluation. (nn.Dropout follows PyTorch's inverted convention, as Torch7's
-- Dropout does by default.) Draws from mnist.random.default, one number per plane. m.mask (N, C)
-- holds the last mask.
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local SpatialDropout, parent = Module:extend("SpatialDropout")

function SpatialDropout:__init(p)
  parent.__init(self)
  self.p = p == nil and 0.5 or p
  if type(self.p) ~= "number" or not (self.p >= 0 and self.p <= 1) then
    self:argumentError("p must be a probability in [0, 1], got %s", tostring(p))
  end
end

function SpatialDropout:describe()
  return ("SpatialDropout(%g)"):format(self.p)
end

function SpatialDropout:check(input)
  input = self:checkInput(input, 4, "(N, C, H, W)")
end

function SpatialDropout:updateOutput(input)
  self:check(input)
  local out = self:buffer("output", input:size())
  if not self.train then return out:copy(input):scale(1 - self.p) end
  if self.shard then
    -- data parallel (mnist.distributed): the global batch's mask, this rank's rows of it
    local global = input:size()
    global[1] = self.shard.total
    core.spatial_dropout_forward(self:buffer("shardOutput", global),
      self:buffer("shardMask", { global[1], global[2] }), self:buffer("shardInput", global), self.p, 1,
      require("mnist.random").default)
    self.mask = self.shardMask:narrow(1, self.shard.first, input:size(1))
    return core.spatial_dropout_backward(out, input, self.mask)
  end
  return core.spatial_dropout_forward(out, self:buffer("mask", { input:size(1), input:size(2) }),
    input, self.p, 1, require("mnist.random").default)
end

function SpatialDropout:updateGradInput(input, gradOutput)
  self:check(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput = self:buffer("gradInput", input:size())
  if not self.train then return gradInput:copy(gradOutput):scale(1 - self.p) end
  return core.spatial_dropout_backward(gradInput, gradOutput, self.mask)
end

function SpatialDropout:clearState()
  self.mask, self.shardOutput, self.shardMask, self.shardInput = nil, nil, nil, nil
  return Module.clearState(self)
end

return SpatialDropout
