-- nn.HardTanh([min_value [, max_value [, inplace]]]): y = min(max(x, min_value), max_value)
-- elementwise, any shape; the bounds default to -1 and 1. The gradient passes strictly between
-- them (0 at the bounds, as Torch7 and PyTorch). inplace = true works in place.
local Activation = require "mnist.nn.Activation"

local HardTanh, parent = Activation:extend("HardTanh")
HardTanh.kind = "hardtanh"

function HardTanh:__init(minValue, maxValue, inplace)
  minValue = minValue == nil and -1 or minValue
  maxValue = maxValue == nil and 1 or maxValue
  if type(minValue) ~= "number" or type(maxValue) ~= "number" or not (minValue < maxValue) then
    self:argumentError("expected min_value < max_value, got %s and %s", tostring(minValue),
      tostring(maxValue))
  end
  parent.__init(self)
  self.a, self.b = minValue, maxValue
  self.min_val, self.max_val = minValue, maxValue
  self:setInPlace(inplace)
end

function HardTanh:describe()
  if self.min_val == -1 and self.max_val == 1 then return self:label() end
  return self:label(("%g, %g"):format(self.min_val, self.max_val))
end

return HardTanh
