-- nn.Criterion: the base class of the losses, with Torch7's contract:
--   loss = crit:forward(input, target)      -- a number (also crit.output)
--   gradInput = crit:backward(input, target) -- d(loss)/d(input), a buffer reused across calls
-- Classification targets are class labels, 0-based (the digit itself for MNIST): a Lua table of N
-- numbers, or a float32 (or uint8) tensor of shape (N). Regression criteria (MSECriterion, ...)
-- take a target tensor of the input's shape.
-- crit.sizeAverage (true by default, as Torch7): the loss is a mean (over the batch, or over the
-- elements for the elementwise losses); false makes it a sum.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local Criterion, parent = Module:extend("Criterion")
Criterion.isCriterion = true

function Criterion:__init()
  parent.__init(self)
  self.output = 0
  self.sizeAverage = true
end

-- Sets sizeAverage from a constructor argument (nil keeps true), or raises.
function Criterion:setSizeAverage(sizeAverage)
  if sizeAverage ~= nil and type(sizeAverage) ~= "boolean" then
    self:argumentError("sizeAverage must be a boolean, got %s", type(sizeAverage))
  end
  self.sizeAverage = sizeAverage ~= false
end

-- Optional per-class weights: nil, or a float32 vector of `count` values (any count when nil).
function Criterion:setWeights(weights)
  if weights ~= nil and not (T.is_tensor(weights) and weights:dim() == 1 and weights:dtype() == "float32") then
    self:argumentError("weights must be a float32 vector (one weight per class), got %s",
      T.is_tensor(weights) and T.shape_str(weights) or type(weights))
  end
  self.weights = weights
end

-- Checks that the weights, if any, hold one value per class.
function Criterion:checkWeights(classes)
  if self.weights and self.weights:numel() ~= classes then
    self:fail("has %d class weights for %d classes", self.weights:numel(), classes)
  end
end

function Criterion:forward(input, target)
  return self:updateOutput(input, target)
end

function Criterion:backward(input, target)
  return self:updateGradInput(input, target)
end

-- Checks scores (N, classes) and returns the labels as a tensor of shape (N): the target itself,
-- or (for a table) a buffer filled from it.
-- The labels (a tensor) and the input made contiguous, after their checks.
function Criterion:checkBatch(input, target)
  input = self:checkInput(input, 2, "(N, classes)")
  local n, classes = input:size(1), input:size(2)
  if type(target) == "table" then
    if #target ~= n then
      self:fail("expected %d labels for input %s, got %d", n, T.shape_str(input), #target)
    end
    local labels = self:buffer("_labels", { n })
    for i = 1, n do
      local v = target[i]
      if type(v) ~= "number" or v < 0 or v >= classes or v ~= math.floor(v) then
        self:fail("label %s at position %d is out of range 0..%d", tostring(v), i, classes - 1)
      end
      labels[i] = v
    end
    return labels, input
  end
  if not T.is_tensor(target) then
    self:fail("expected labels as a table or a tensor of shape (%d), got %s", n, type(target))
  end
  if target:dim() ~= 1 or target:size(1) ~= n then
    self:fail("expected labels of shape (%d) for input %s, got %s", n, T.shape_str(input),
      T.shape_str(target))
  end
  local position, value = core.labels_check(target, n, classes)
  if position then
    self:fail("label %s at position %d is out of range 0..%d", tostring(value), position,
      classes - 1)
  end
  return target:contiguous(), input
end

return Criterion
