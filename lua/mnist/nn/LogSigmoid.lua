-- nn.LogSigmoid(): y = log(1 / (1 + exp(-x))) elementwise, any shape, without overflow for large
-- |x| (gradient 1 / (1 + exp(x)), from the input).
local Activation = require "mnist.nn.Activation"

local LogSigmoid = Activation:extend("LogSigmoid")
LogSigmoid.kind = "logsigmoid"

return LogSigmoid
