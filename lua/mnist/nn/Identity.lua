-- nn.Identity(): passes its input through untouched, tensor or table (output IS the input,
-- gradInput IS gradOutput, as Torch7's): the skip branch of a residual block.
local Module = require "mnist.nn.Module"

local Identity = Module:extend("Identity")

function Identity:updateOutput(input)
  self.output = input
  return input
end

function Identity:updateGradInput(_, gradOutput)
  self.gradInput = gradOutput
  return gradOutput
end

-- Nothing of its own to drop: output and gradInput belong to the neighbours.
function Identity:clearState()
  self.output, self.gradInput = nil, nil
  return self
end

return Identity
