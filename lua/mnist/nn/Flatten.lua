-- nn.Flatten(): (N, C, H, W) -> (N, C*H*W), sharing storage; as PyTorch's nn.Flatten().
local View = require "mnist.nn.View"

local Flatten, parent = View:extend("Flatten")

function Flatten:__init()
  parent.__init(self, -1)
end

function Flatten:describe()
  return "Flatten"
end

return Flatten
