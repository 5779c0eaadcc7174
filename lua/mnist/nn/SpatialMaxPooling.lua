-- nn.SpatialMaxPooling(kW, kH [, dW, dH [, padW, padH]]): the maximum of each kW x kH window,
-- (N, C, H, W) -> (N, C, OH, OW) with OH = floor((H + 2*padH - kH) / dH) + 1 (OW alike), or
-- rounded up after m:ceil() (Torch7's ceil mode; m:floor() goes back), where a last window that
-- would start beyond the image and its top/left padding is dropped: every window holds at least
-- one input. That is PyTorch's rule, and Torch7's with padding; Torch7 skips it without padding,
-- which leaves an empty last window when the stride exceeds the kernel (kept out here). Strides default to the kernel size (non-overlapping
-- windows, as Torch7 and PyTorch's MaxPool2d); padding (at most half the kernel) never wins.
-- m.indices keeps where each maximum came from.
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
  self.ceil_mode = false
  self:checkPadding()
end

-- Shared with SpatialAveragePooling: padding of at most half the window, as Torch7 requires.
function SpatialMaxPooling:checkPadding()
  if 2 * self.padW > self.kW or 2 * self.padH > self.kH then
    self:argumentError("padding %d,%d must be at most half the %dx%d kernel", self.padW, self.padH,
      self.kW, self.kH)
  end
end

-- Round the number of windows up (Torch7's m:ceil()) or down (the default, m:floor()).
function SpatialMaxPooling:ceil()
  self.ceil_mode = true
  return self
end

function SpatialMaxPooling:floor()
  self.ceil_mode = false
  return self
end

function SpatialMaxPooling:describe()
  local s = ("%s(%dx%d, %d,%d"):format((self.__typename:gsub("^nn%.", "")), self.kW, self.kH,
    self.dW, self.dH)
  if self.padW ~= 0 or self.padH ~= 0 then s = s .. (", %d,%d"):format(self.padW, self.padH) end
  return s .. (self.ceil_mode and ", ceil)" or ")")
end

-- The windows along one axis (the C kernel's rule, csrc/nn/pool.c).
local function windows(size, k, s, pad, ceil)
  local span = size + 2 * pad - k
  local n = (ceil and math.ceil(span / s) or math.floor(span / s)) + 1
  if ceil and (n - 1) * s >= size + pad then n = n - 1 end
  return n
end

-- The output's shape, and the input made contiguous.
function SpatialMaxPooling:outputShape(input)
  input = self:checkInput(input, 4, "(N, C, H, W)")
  local h, w = input:size(3) + 2 * self.padH, input:size(4) + 2 * self.padW
  if h < self.kH or w < self.kW then
    self:fail("input %dx%d (padded %dx%d) is smaller than the %dx%d window (height x width)",
      input:size(3), input:size(4), h, w, self.kH, self.kW)
  end
  return { input:size(1), input:size(2),
    windows(input:size(3), self.kH, self.dH, self.padH, self.ceil_mode),
    windows(input:size(4), self.kW, self.dW, self.padW, self.ceil_mode) }, input
end

function SpatialMaxPooling:updateOutput(input)
  local shape
  shape, input = self:outputShape(input)
  local out = self:buffer("output", shape)
  core.maxpool2d_forward(out, self:buffer("indices", shape), input, self.kH, self.kW, self.dH,
    self.dW, self.padH, self.padW, self.ceil_mode)
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
