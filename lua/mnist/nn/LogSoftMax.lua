-- nn.LogSoftMax(): log(softmax(x)), along the dim nn.SoftMax picks (Torch7's rule: the classes of
-- a (N, classes) batch, the channels of an image batch); pairs with nn.ClassNLLCriterion
-- (together: nn.CrossEntropyCriterion on the raw scores).
local SoftMax = require "mnist.nn.SoftMax"

local LogSoftMax = SoftMax:extend("LogSoftMax")
LogSoftMax.takeLog = true

return LogSoftMax
