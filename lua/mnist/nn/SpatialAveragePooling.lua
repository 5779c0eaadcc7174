-- nn.SpatialAveragePooling(kW, kH [, dW, dH [, padW, padH]]): the mean of each kW x kH window,
-- (N, C, H, W) -> (N, C, OH, OW) with OH = floor((H + 2*padH - kH) / dH) + 1 (OW alike), or
-- rounded up after m:ceil() (m:floor() goes back). As Torch7 (and unlike PyTorch's AvgPool2d,
-- whose stride defaults to the kernel) the strides default to 1. Padding (at most half the
-- kernel) counts in the divisor by default, as in both; m:setCountExcludePad() divides by the
-- real inputs of each window instead (m:setCountIncludePad() goes back). A ceil-mode window that
-- hangs past the padding divides by its part inside the padded image (Torch7's and PyTorch's rule).
--   nn.SpatialAveragePooling(H, W)  -- over a whole H x W plane: global average pooling
local core = require "mnist.core"
local Module = require "mnist.nn.Module"
local SpatialMaxPooling = require "mnist.nn.SpatialMaxPooling"

local SpatialAveragePooling, parent = Module:extend("SpatialAveragePooling")

function SpatialAveragePooling:__init(kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  self.kW = self:wholeArgument(kW, "kW", 1)
  self.kH = self:wholeArgument(kH, "kH", 1, self.kW)
  self.dW = self:wholeArgument(dW, "dW", 1, 1)
  self.dH = self:wholeArgument(dH, "dH", 1, 1)
  self.padW = self:wholeArgument(padW, "padW", 0, 0)
  self.padH = self:wholeArgument(padH, "padH", 0, 0)
  self.ceil_mode = false
  self.count_include_pad = true
  SpatialMaxPooling.checkPadding(self)
end

SpatialAveragePooling.ceil = SpatialMaxPooling.ceil
SpatialAveragePooling.floor = SpatialMaxPooling.floor
SpatialAveragePooling.outputShape = SpatialMaxPooling.outputShape

function SpatialAveragePooling:setCountIncludePad()
  self.count_include_pad = true
  return self
end

function SpatialAveragePooling:setCountExcludePad()
  self.count_include_pad = false
  return self
end

function SpatialAveragePooling:describe()
  return SpatialMaxPooling.describe(self) .. (self.count_include_pad and "" or ", pad excluded")
end

function SpatialAveragePooling:updateOutput(input)
  local shape
  shape, input = self:outputShape(input)
  local out = self:buffer("output", shape)
  return core.avgpool2d_forward(out, input, self.kH, self.kW, self.dH, self.dW, self.padH,
    self.padW, self.ceil_mode, self.count_include_pad)
end

function SpatialAveragePooling:updateGradInput(input, gradOutput)
  self:outputShape(input)
  gradOutput = self:checkGradOutput(gradOutput)
  return core.avgpool2d_backward(self:buffer("gradInput", input:size()), gradOutput, self.kH,
    self.kW, self.dH, self.dW, self.padH, self.padW, self.ceil_mode, self.count_include_pad)
end

return SpatialAveragePooling
