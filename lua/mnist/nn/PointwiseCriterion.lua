-- nn.PointwiseCriterion: the base of the elementwise losses (MSECriterion, SmoothL1Criterion,
-- BCECriterion, DistKLDivCriterion): an input of any shape, a float32 target of the same shape,
-- the elementwise loss summed, and divided by the number of elements when sizeAverage (Torch7's
-- and PyTorch's 'mean'). One C kernel pair (csrc/nn/loss.c) computes them; a subclass sets
-- `kind`, its name there.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Criterion = require "mnist.nn.Criterion"

local PointwiseCriterion, parent = Criterion:extend("PointwiseCriterion")

function PointwiseCriterion:__init(sizeAverage)
  parent.__init(self)
  self:setSizeAverage(sizeAverage)
end

function PointwiseCriterion:checkPair(input, target)
  input = self:checkInput(input)
  if not T.is_tensor(target) or target:dtype() ~= "float32" or not self.sameSize(input, target) then
    self:fail("expected a float32 target of the input's shape %s, got %s", T.shape_str(input),
      T.is_tensor(target) and (target:dtype() .. " " .. T.shape_str(target)) or type(target))
  end
  if self.weights and self.weights:numel() ~= input:numel() and
      self.weights:numel() ~= input:size(input:dim()) then
    self:fail("has %d weights for input %s (expected one per element or per entry of the last dim)",
      self.weights:numel(), T.shape_str(input))
  end
end

function PointwiseCriterion:updateOutput(input, target)
  self:checkPair(input, target)
  self.output = core.pointwise_loss_forward(input, target, self.weights, self.kind, self.sizeAverage)
  return self.output
end

function PointwiseCriterion:updateGradInput(input, target)
  self:checkPair(input, target)
  return core.pointwise_loss_backward(self:buffer("gradInput", input:size()), input, target,
    self.weights, self.kind, self.sizeAverage, 1)
end

return PointwiseCriterion
