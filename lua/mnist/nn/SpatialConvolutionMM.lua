-- nn.SpatialConvolutionMM(nIn, nOut, kW, kH [, dW, dH [, padW, padH]]): Torch7's name for the
-- im2col convolution; here the very same module as nn.SpatialConvolution (which already picks
-- im2col, Winograd or a direct kernel per layer), only printed under its own name. One difference
-- from Torch7: the weight keeps SpatialConvolution's (nOut, nIn, kH, kW) layout (PyTorch's,
-- which the weights files use) rather than Torch7's (nOut, nIn*kH*kW).
local SpatialConvolution = require "mnist.nn.SpatialConvolution"

local SpatialConvolutionMM = SpatialConvolution:extend("SpatialConvolutionMM")

function SpatialConvolutionMM:describe()
  return (SpatialConvolution.describe(self):gsub("^SpatialConvolution", "SpatialConvolutionMM"))
end

return SpatialConvolutionMM
