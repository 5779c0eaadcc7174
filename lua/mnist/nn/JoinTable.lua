-- nn.JoinTable(dim [, nInputDims]): a table of tensors, equal in every dim but `dim`, joined
-- along `dim` into one tensor; the input gradient is the table of gradOutput's blocks. As in
-- Torch7, with nInputDims given, an input of nInputDims + 1 dims is a batch and `dim` moves one
-- further: JoinTable(1, 3) joins (C, H, W) images along C and (N, C, H, W) batches along dim 2.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local JoinTable, parent = Module:extend("JoinTable")

function JoinTable:__init(dim, nInputDims)
  parent.__init(self)
  self.dimension = self:wholeArgument(dim, "dim", 1)
  if nInputDims ~= nil then self.nInputDims = self:wholeArgument(nInputDims, "nInputDims", 1) end
  self.gradInput = {}
end

function JoinTable:describe()
  return ("JoinTable(%d%s)"):format(self.dimension,
    self.nInputDims and (", " .. self.nInputDims) or "")
end

-- The dim joined along for this input, and the joined shape, or a clear error.
function JoinTable:joined(input)
  self:checkTensorTable(input)
  local first = input[1]
  local dim = self.dimension
  if self.nInputDims and first:dim() == self.nInputDims + 1 then dim = dim + 1 end
  if dim > first:dim() then
    self:fail("cannot join %d-D tensors along dim %d", first:dim(), dim)
  end
  local shape = first:size()
  for i = 2, #input do
    local t = input[i]
    local ok = t:dim() == #shape
    for d = 1, #shape do
      if ok and d ~= dim and t:size(d) ~= shape[d] then ok = false end
    end
    if not ok then
      self:fail("input[%d] %s does not match input[1] %s outside dim %d", i, T.shape_str(t),
        T.shape_str(first), dim)
    end
    shape[dim] = shape[dim] + t:size(dim)
  end
  return dim, shape
end

function JoinTable:updateOutput(input)
  local dim, shape = self:joined(input)
  local out, offset = self:buffer("output", shape), 0
  for _, t in ipairs(input) do
    core.concat_copy(out, t, dim, offset, true)
    offset = offset + t:size(dim)
  end
  return out
end

function JoinTable:updateGradInput(input, gradOutput)
  local dim = self:joined(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local offset = 0
  for i, t in ipairs(input) do
    core.concat_copy(gradOutput, self:bufferAt("gradInput", i, t:size()), dim, offset, false)
    offset = offset + t:size(dim)
  end
  for i = #input + 1, #self.gradInput do self.gradInput[i] = nil end
  return self.gradInput
end

function JoinTable:clearState()
  parent.clearState(self)
  self.gradInput = {}
  return self
end

return JoinTable
