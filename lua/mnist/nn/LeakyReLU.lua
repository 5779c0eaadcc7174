-- nn.LeakyReLU([negval [, ip]]): y = x > 0 ? x : negval * x elementwise, any shape; negval
-- defaults to 1/100 as in Torch7 (PyTorch's negative_slope 0.01). ip = true works in place
-- (then negval must be >= 0, so that the output keeps the input's sign for backward).
local Activation = require "mnist.nn.Activation"

local LeakyReLU, parent = Activation:extend("LeakyReLU")
LeakyReLU.kind = "leaky_relu"

function LeakyReLU:__init(negval, ip)
  negval = negval == nil and 1 / 100 or negval
  if type(negval) ~= "number" or negval ~= negval then
    self:argumentError("negval must be a number, got %s", tostring(negval))
  end
  parent.__init(self)
  self.a = negval
  self.negval = negval
  self:setInPlace(ip)
  if self.inplace and negval < 0 then
    self:argumentError("in place needs negval >= 0, got %g", negval)
  end
end

function LeakyReLU:describe()
  return self:label(("%g"):format(self.negval))
end

return LeakyReLU
