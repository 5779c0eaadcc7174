-- nn.SpatialZeroPadding(padLeft [, padRight [, padTop [, padBottom]]]): adds rows and columns of
-- zeros around every image of a batch (N, C, H, W) -> (N, C, H + t + b, W + l + r); the missing
-- sides take padLeft, as in Torch7. A negative count crops instead (Torch7 allows it too).
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local SpatialZeroPadding, parent = Module:extend("SpatialZeroPadding")

function SpatialZeroPadding:__init(l, r, t, b)
  parent.__init(self)
  local function whole(v, what)
    if type(v) ~= "number" or v ~= math.floor(v) then
      self:argumentError("%s must be a whole number, got %s", what, tostring(v))
    end
    return v
  end
  self.pad_l = whole(l, "padLeft")
  self.pad_r = whole(r == nil and l or r, "padRight")
  self.pad_t = whole(t == nil and l or t, "padTop")
  self.pad_b = whole(b == nil and l or b, "padBottom")
end

function SpatialZeroPadding:describe()
  return ("SpatialZeroPadding(l=%d, r=%d, t=%d, b=%d)"):format(self.pad_l, self.pad_r, self.pad_t,
    self.pad_b)
end

function SpatialZeroPadding:outputShape(input)
  input = self:checkInput(input, 4, "(N, C, H, W)")
  local h = input:size(3) + self.pad_t + self.pad_b
  local w = input:size(4) + self.pad_l + self.pad_r
  if h < 1 or w < 1 then
    self:fail("cropping input %s leaves nothing (%dx%d)", T.shape_str(input), h, w)
  end
  return { input:size(1), input:size(2), h, w }, input
end

function SpatialZeroPadding:updateOutput(input)
  local shape
  shape, input = self:outputShape(input)
  return core.pad2d_forward(self:buffer("output", shape), input, self.pad_l,
    self.pad_r, self.pad_t, self.pad_b)
end

function SpatialZeroPadding:updateGradInput(input, gradOutput)
  self:outputShape(input)
  gradOutput = self:checkGradOutput(gradOutput)
  return core.pad2d_backward(self:buffer("gradInput", input:size()), gradOutput, self.pad_l,
    self.pad_r, self.pad_t, self.pad_b)
end

return SpatialZeroPadding
