-- nn.SpatialMaxPooling(kW, kH [, dW, dH [, padW, padH]]): the maximum of each kW x kH window,
-- (N, C, H, W) -> (N, C, OH, OW) with OH = floor((H + 2*padH - kH) / dH) + 1 (OW alike).
-- Strides default to the kernel size (non-overlapping windows, as PyTorch's MaxPool2d); padding
-- (at most half the kernel) never wins. m.indices keeps where each maximum came from.
local core = require "mnist.core"
local Module = require "mnist.nn.Module"

local SpatialMaxPooling, parent = Module:extend("SpatialMaxPooling")

function SpatialMaxPooling:__init(kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  self.kW = self:wholeArgument(kW, "kW", 1)
  self.kH = self:wholeArgument(kH, "kH", 1, self.kW)
  self.dW = self:wholeArgument(dW, "dW", 1, self.kW)
  self.dH = self:wholeArgument(dH, "dH", 1, self.kH)
  self.padW = self:wholeArgument(padW, "padW", 0, 0)
  self.padH = self:wholeArgument(padH, "padH", 0, 0)
  if 2 * self.padW > self.kW or 2 * self.padH > self.kH then
    self:argumentError("padding %d,%d must be at most half the %dx%d kernel", self.padW, self.padH,
      self.kW, self.kH)
  end
end

function SpatialMaxPooling:describe()
  local s = ("SpatialMaxPooling(%dx%d, %d,%d"):format(self.kW, self.kH, self.dW, self.dH)
  if self.padW ~= 0 or self.padH ~= 0 then s = s .. (", %d,%d"):format(self.padW, self.padH) end
  return s .. ")"
end

-- The output's shape, and the input made contiguous.
function SpatialMaxPooling:outputShape(input)
  input = self:checkInput(input, 4, "(N, C, H, W)")
  local h, w = input:size(3) + 2 * self.padH, input:size(4) + 2 * self.padW
  if h < self.kH or w < self.kW then
    self:fail("input %dx%d (padded %dx%d) is smaller than the %dx%d window (height x width)",
      input:size(3), input:size(4), h, w, self.kH, self.kW)
  end
  return { input:size(1), input:size(2), math.floor((h - self.kH) / self.dH) + 1,
    math.floor((w - self.kW) / self.dW) + 1 }, input
end

function SpatialMaxPooling:updateOutput(input)
  local shape
  shape, input = self:outputShape(input)
  local out = self:buffer("output", shape)
  core.maxpool2d_forward(out, self:buffer("indices", shape), input, self.kH, self.kW, self.dH,
    self.dW, self.padH, self.padW)
  return out
end

function SpatialMaxPooling:updateGradInput(input, gradOutput)
  self:outputShape(input)
  gradOutput = self:checkGradOutput(gradOutput)
  return core.maxpool2d_backward(self:buffer("gradInput", input:size()), gradOutput, self.indices)
end

function SpatialMaxPooling:clearState()
  self.indices = nil
  return Module.clearState(self)
end

return SpatialMaxPooling
