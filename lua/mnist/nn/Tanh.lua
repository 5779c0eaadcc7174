-- nn.Tanh(): y = tanh(x) elementwise, any shape (gradient 1 - y^2, from the output).
local Activation = require "mnist.nn.Activation"

local Tanh = Activation:extend("Tanh")
Tanh.kind = "tanh"

return Tanh
