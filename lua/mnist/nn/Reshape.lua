-- nn.Reshape(d1, d2, ... [, batchMode]): Torch7's Reshape. The input's elements viewed as
-- (d1, d2, ...) when it has exactly d1*d2*... of them, else as a batch (N, d1, d2, ...) with N
-- the input's first dim. batchMode = true always takes the first dim as the batch; false never.
-- The output shares the input's storage (a view, no copy), like nn.View; at most 4 dims in all.
--   nn.Reshape(64*3*3)   -- (N, 64, 3, 3) -> (N, 576), as in Torch7's MNIST demo
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"
local View = require "mnist.nn.View"

local Reshape, parent = Module:extend("Reshape")

function Reshape:__init(...)
  parent.__init(self)
  local args = { ... }
  if #args == 1 and type(args[1]) == "table" then args = { unpack(args[1]) } end
  if type(args[#args]) == "boolean" then self.batchMode = table.remove(args) end
  if #args == 0 or #args > 3 then self:argumentError("expected 1 to 3 sizes, got %d", #args) end
  self.size, self.nelement = {}, 1
  for i, d in ipairs(args) do
    if type(d) ~= "number" or d < 1 or d ~= math.floor(d) then
      self:argumentError("size %d must be a whole number >= 1, got %s", i, tostring(d))
    end
    self.size[i], self.nelement = d, self.nelement * d
  end
end

function Reshape:describe()
  return ("Reshape(%s)"):format(table.concat(self.size, "x"))
end

-- The output shape for input, or a clear error.
function Reshape:outputShape(input)
  input = self:checkInput(input)
  local batch = self.batchMode
  if batch == nil then batch = input:numel() ~= self.nelement end
  local shape = {}
  if batch then
    if input:dim() < 2 or input:numel() ~= input:size(1) * self.nelement then
      self:fail("cannot reshape %s into a batch of (%s)", T.shape_str(input),
        table.concat(self.size, ", "))
    end
    shape[1] = input:size(1)
  elseif input:numel() ~= self.nelement then
    self:fail("cannot reshape %s (%d elements) into (%s)", T.shape_str(input), input:numel(),
      table.concat(self.size, ", "))
  end
  for _, d in ipairs(self.size) do shape[#shape + 1] = d end
  return shape
end

-- Views of the input and gradient, remembered while the same tensors come back: as nn.View's.
Reshape.updateOutput = View.updateOutput
Reshape.updateGradInput = View.updateGradInput
Reshape.clearState = View.clearState

return Reshape
