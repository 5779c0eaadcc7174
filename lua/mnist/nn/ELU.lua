-- nn.ELU([alpha [, inplace]]): y = x > 0 ? x : alpha * (exp(x) - 1) elementwise, any shape;
-- alpha (>= 0) defaults to 1, as in Torch7 and PyTorch. inplace = true works in place.
local Activation = require "mnist.nn.Activation"

local ELU, parent = Activation:extend("ELU")
ELU.kind = "elu"

function ELU:__init(alpha, inplace)
  alpha = alpha == nil and 1 or alpha
  if type(alpha) ~= "number" or not (alpha >= 0) then
    self:argumentError("alpha must be a number >= 0, got %s", tostring(alpha))
  end
  parent.__init(self)
  self.a = alpha
  self.alpha = alpha
  self:setInPlace(inplace)
end

function ELU:describe()
  return self:label(("alpha=%g"):format(self.alpha))
end

return ELU
