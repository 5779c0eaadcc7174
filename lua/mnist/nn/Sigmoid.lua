-- nn.Sigmoid(): y = 1 / (1 + exp(-x)) elementwise, any shape (gradient y (1 - y)).
local Activation = require "mnist.nn.Activation"

local Sigmoid = Activation:extend("Sigmoid")
Sigmoid.kind = "sigmoid"

return Sigmoid
