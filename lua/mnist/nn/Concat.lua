-- nn.Concat(dim): every child gets the same input tensor; their outputs, equal in every dim but
-- `dim`, are joined along `dim` (counted with the batch dim, as Torch7's Concat: Concat(2) joins
-- the channels of (N, C, H, W) outputs: an inception block). The input gradient is the sum of
-- the children's. Prints and names its tensors as the other containers ("0.weight", ...).
local core = require "mnist.core"
local T = require "mnist.tensor"
local Container = require "mnist.nn.Container"

local Concat, parent = Container:extend("Concat")

function Concat:__init(dim)
  parent.__init(self)
  self.dimension = self:wholeArgument(dim, "dim", 1)
end

function Concat:describe()
  return ("Concat(%d)"):format(self.dimension)
end

-- The output shape of the children's outputs joined along the dim, or a clear error.
function Concat:joinedShape()
  local dim, shape = self.dimension, nil
  for i, m in ipairs(self.modules) do
    local o = m.output
    if not T.is_tensor(o) then self:fail("child %d returned %s, not a tensor", i, type(o)) end
    if dim > o:dim() then
      self:fail("cannot join along dim %d outputs of %d dims (child %d: %s)", dim, o:dim(), i,
        T.shape_str(o))
    end
    if not shape then
      shape = o:size()
    else
      local ok = o:dim() == #shape
      for d = 1, #shape do
        if ok and d ~= dim and o:size(d) ~= shape[d] then ok = false end
      end
      if not ok then
        self:fail("child %d's output %s does not match (%s) outside dim %d", i, T.shape_str(o),
          table.concat(shape, ", "), dim)
      end
      shape[dim] = shape[dim] + o:size(dim)
    end
  end
  return shape
end

function Concat:updateOutput(input)
  if #self.modules == 0 then self:fail("has no children") end
  for _, m in ipairs(self.modules) do m:updateOutput(input) end
  local out = self:buffer("output", self:joinedShape())
  local offset = 0
  for _, m in ipairs(self.modules) do
    core.concat_copy(out, m.output, self.dimension, offset, true)
    offset = offset + m.output:size(self.dimension)
  end
  return out
end

-- Child i's block of gradOutput, copied into a buffer of its own (kernels take whole tensors).
function Concat:childGradOutput(i, gradOutput, offset)
  local g = self:bufferAt("gradOutputs", i, self.modules[i].output:size())
  core.concat_copy(gradOutput, g, self.dimension, offset, false)
  return g
end

-- method: "backward", "updateGradInput" or "accGradParameters" of every child, on its block.
function Concat:gradients(input, gradOutput, method)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput, offset = nil, 0
  for i, m in ipairs(self.modules) do
    local g = self:childGradOutput(i, gradOutput, offset)
    offset = offset + m.output:size(self.dimension)
    local gi = m[method](m, input, g)
    if method ~= "accGradParameters" and T.is_tensor(gi) then
      if gradInput then
        gradInput:add(gi)
      else
        gradInput = self:buffer("gradInput", gi:size()):copy(gi)
      end
    end
  end
  if method ~= "accGradParameters" then self.gradInput = gradInput end
  return self.gradInput
end

function Concat:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, "updateGradInput")
end

function Concat:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, "accGradParameters")
end

function Concat:backward(input, gradOutput)
  return self:gradients(input, gradOutput, "backward")
end

function Concat:clearState()
  self.gradOutputs = nil
  return parent.clearState(self)
end

return Concat
