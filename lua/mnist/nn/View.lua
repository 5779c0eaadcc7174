-- nn.View(d1, d2, ...): reshapes each sample of the batch, keeping the batch dim:
-- (N, ...) -> (N, d1, d2, ...). One size may be -1 (inferred). The output shares the input's
-- storage (no copy), as Torch's View. nn.Flatten() is View(-1): (N, C, H, W) -> (N, C*H*W).
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local View, parent = Module:extend("View")

function View:__init(...)
  parent.__init(self)
  local sizes = select("#", ...) == 1 and type(...) == "table" and { unpack((...)) } or { ... }
  local inferred = 0
  for i, d in ipairs(sizes) do
    if d == -1 then
      inferred = inferred + 1
    elseif type(d) ~= "number" or d < 1 or d ~= math.floor(d) then
      self:argumentError("size %d must be a whole number >= 1 or -1, got %s", i, tostring(d))
    end
  end
  if #sizes == 0 or #sizes > 3 or inferred > 1 then
    self:argumentError("expected 1 to 3 sizes, at most one of them -1")
  end
  self.sizes = sizes
end

function View:describe()
  return ("View(%s)"):format(table.concat(self.sizes or {}, ", "))
end

-- The output shape for an input (N, ...), or a clear error.
function View:outputShape(input)
  if not T.is_tensor(input) then self:fail("expected a tensor input, got %s", type(input)) end
  if input:dim() < 2 then self:fail("expected a batch (N, ...), got %s", T.shape_str(input)) end
  local per_sample = input:numel() / input:size(1)
  local known, shape = 1, { input:size(1) }
  for i, d in ipairs(self.sizes) do
    shape[i + 1] = d
    if d ~= -1 then known = known * d end
  end
  local numel = 1
  for i = 2, #shape do
    if shape[i] == -1 then shape[i] = per_sample / known end
    numel = numel * shape[i]
  end
  if numel ~= per_sample or per_sample % known ~= 0 then
    self:fail("cannot view samples of %d elements (input %s) as (%s)", per_sample,
      T.shape_str(input), table.concat(self.sizes, ", "))
  end
  return shape
end

-- The views are remembered: the same input tensor (the previous module's reused buffer) gets the
-- same view back, so a training step allocates nothing here either.
function View:updateOutput(input)
  if input ~= self._viewed or not input:isContiguous() then -- a strided input: a contiguous copy
    self.output = input:contiguous():view(self:outputShape(input))
    self._viewed = input
  end
  return self.output
end

function View:updateGradInput(input, gradOutput)
  if gradOutput ~= self._gradViewed or input ~= self._viewed then
    gradOutput = self:checkGradOutput(gradOutput)
    self.gradInput = gradOutput:view(input:size())
    self._gradViewed = gradOutput
  end
  return self.gradInput
end

function View:clearState()
  self._viewed, self._gradViewed = nil, nil
  return Module.clearState(self)
end

return View
