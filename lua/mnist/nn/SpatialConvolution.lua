-- nn.SpatialConvolution(nIn, nOut, kW, kH [, dW, dH [, padW, padH]]): 2-D convolution over a
-- batch (N, nIn, H, W) -> (N, nOut, OH, OW), OH = floor((H + 2*padH - kH) / dH) + 1 (OW alike).
-- Torch's argument order (width first); kH defaults to kW, strides to 1, padding to 0.
--   weight (nOut, nIn, kH, kW) and bias (nOut), as PyTorch's Conv2d; m:noBias() drops the bias.
-- The kernel (csrc/nn/conv.c) is im2col feeding one sgemm per image, the batch split over threads;
-- the module caches its workspace in m.workspace (one image's columns per thread).
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local SpatialConvolution, parent = Module:extend("SpatialConvolution")

function SpatialConvolution:__init(nIn, nOut, kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  self.nInputPlane = self:wholeArgument(nIn, "nInputPlane", 1)
  self.nOutputPlane = self:wholeArgument(nOut, "nOutputPlane", 1)
  self.kW = self:wholeArgument(kW, "kW", 1)
  self.kH = self:wholeArgument(kH, "kH", 1, self.kW)
  self.dW = self:wholeArgument(dW, "dW", 1, 1)
  self.dH = self:wholeArgument(dH, "dH", 1, 1)
  self.padW = self:wholeArgument(padW, "padW", 0, 0)
  self.padH = self:wholeArgument(padH, "padH", 0, 0)
  self.weight = T.zeros(nOut, nIn, self.kH, self.kW)
  self.bias = T.zeros(nOut)
  self.gradWeight = T.zeros(nOut, nIn, self.kH, self.kW)
  self.gradBias = T.zeros(nOut)
  self:reset()
end

-- Re-draws the weights: uniform(-stdv, stdv), by default PyTorch's 1/sqrt(nIn*kH*kW).
function SpatialConvolution:reset(stdv)
  return self:resetUniform(self.nInputPlane * self.kH * self.kW, stdv)
end

-- Removes the bias (PyTorch's bias=False).
function SpatialConvolution:noBias()
  self.bias, self.gradBias = nil, nil
  return self
end

function SpatialConvolution:describe()
  local s = ("SpatialConvolution(%d->%d, %dx%d"):format(self.nInputPlane, self.nOutputPlane,
    self.kW, self.kH)
  if self.dW ~= 1 or self.dH ~= 1 or self.padW ~= 0 or self.padH ~= 0 then
    s = s .. (", %d,%d"):format(self.dW, self.dH)
  end
  if self.padW ~= 0 or self.padH ~= 0 then s = s .. (", %d,%d"):format(self.padW, self.padH) end
  return s .. (self.bias and ")" or ") without bias")
end

-- Checks the input and returns the output shape {N, nOut, OH, OW}.
-- The output's shape, and the input made contiguous.
function SpatialConvolution:outputShape(input)
  input = self:checkInput(input, 4, "(N, C, H, W)")
  local n, c, h, w = input:size(1), input:size(2), input:size(3), input:size(4)
  if c ~= self.nInputPlane then
    self:fail("expected %d input channel%s, got %d (input %s)", self.nInputPlane,
      self.nInputPlane == 1 and "" or "s", c, T.shape_str(input))
  end
  local ph, pw = h + 2 * self.padH, w + 2 * self.padW
  if ph < self.kH or pw < self.kW then
    self:fail("input %dx%d (padded %dx%d) is smaller than the %dx%d kernel (height x width)", h, w,
      ph, pw, self.kH, self.kW)
  end
  return { n, self.nOutputPlane, math.floor((ph - self.kH) / self.dH) + 1,
    math.floor((pw - self.kW) / self.dW) + 1 }, input
end

function SpatialConvolution:ensureWorkspace(input)
  return self:workspaceBuffer("workspace", core.conv2d_workspace_size(input, self.weight, self.dH,
    self.dW, self.padH, self.padW))
end

function SpatialConvolution:updateOutput(input)
  local shape
  shape, input = self:outputShape(input)
  local out = self:buffer("output", shape)
  core.conv2d_forward(out, self:ensureWorkspace(input), input, self.weight, self.bias,
    self.dH, self.dW, self.padH, self.padW)
  return out
end

-- One fused kernel call computes whichever of gradInput / gradWeight / gradBias is asked for.
function SpatialConvolution:gradients(input, gradOutput, wantInput, wantParams)
  local _, dense = self:outputShape(input)
  input, gradOutput = dense, self:checkGradOutput(gradOutput)
  local gradInput = wantInput and self:buffer("gradInput", input:size()) or nil
  core.conv2d_backward(gradInput, wantParams and self.gradWeight or nil,
    wantParams and self.gradBias or nil, self:ensureWorkspace(input), gradOutput, input,
    self.weight, self.dH, self.dW, self.padH, self.padW)
  return self.gradInput
end

function SpatialConvolution:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, true, false)
end

function SpatialConvolution:accGradParameters(input, gradOutput)
  self:gradients(input, gradOutput, false, true)
end

function SpatialConvolution:backward(input, gradOutput)
  if self.skipGradInput then self.gradInput = nil end
  return self:gradients(input, gradOutput, not self.skipGradInput, true)
end

return SpatialConvolution
