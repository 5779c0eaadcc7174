-- nn.BatchNormalization(n [, eps [, momentum [, affine]]]): batch norm over (N, n) rows, as
-- PyTorch's BatchNorm1d (eps 1e-5, momentum 0.1, affine true). nn.SpatialBatchNormalization is
-- the same over (N, n, H, W) images (BatchNorm2d).
--   weight (n) = 1 and bias (n) = 0 are parameters (absent when affine is false);
--   running_mean (n) = 0 and running_var (n) = 1 are buffers: updated in training
--   (running = 0.9 * running + 0.1 * batch, with the unbiased batch variance), used in evaluation.
local core = require "mnist.core"
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local BatchNormalization, parent = Module:extend("BatchNormalization")
BatchNormalization.nDim = 2
BatchNormalization.layout = "(N, C)"

function BatchNormalization:__init(n, eps, momentum, affine)
  parent.__init(self)
  self:wholeArgument(n, "the number of features", 1)
  self.eps = eps or 1e-5
  self.momentum = momentum or 0.1
  if type(self.eps) ~= "number" or self.eps <= 0 then
    self:argumentError("eps must be a number > 0, got %s", tostring(self.eps))
  end
  if type(self.momentum) ~= "number" or self.momentum < 0 or self.momentum > 1 then
    self:argumentError("momentum must be a number in [0, 1], got %s", tostring(self.momentum))
  end
  self.affine = affine ~= false
  if self.affine then
    self.weight, self.gradWeight = T.ones(n), T.zeros(n)
    self.bias, self.gradBias = T.zeros(n), T.zeros(n)
  end
  self.running_mean, self.running_var = T.zeros(n), T.ones(n)
  self.save_mean, self.save_invstd = T.zeros(n), T.zeros(n)
end

-- Back to the initial state: weight 1, bias 0, running mean 0 and variance 1.
function BatchNormalization:reset()
  if self.affine then
    self.weight:fill(1)
    self.bias:fill(0)
  end
  self.running_mean:fill(0)
  self.running_var:fill(1)
  return self
end

function BatchNormalization:describe()
  return ("%s(%d%s)"):format((self.__typename:gsub("^nn%.", "")), self.running_mean:numel(),
    self.affine and "" or ", not affine")
end

-- The input, contiguous, after its checks.
function BatchNormalization:checkBatch(input)
  input = self:checkInput(input, self.nDim, self.layout)
  local n = self.running_mean:numel()
  if input:size(2) ~= n then
    self:fail("expected %d channel%s, got %d (input %s)", n, n == 1 and "" or "s", input:size(2),
      T.shape_str(input))
  end
  if self.train and input:numel() / n < 2 then
    self:fail("expected more than 1 value per channel when training, got input %s",
      T.shape_str(input))
  end
  return input
end

-- self.reducer (set by mnist.distributed under mpirun): in training, the statistics run over every
-- rank's rows of the batch (core.batchnorm_forward_synced), as PyTorch's SyncBatchNorm.
function BatchNormalization:updateOutput(input)
  input = self:checkBatch(input)
  if self.reducer and self.train then
    return core.batchnorm_forward_synced(self:buffer("output", input:size()), self.save_mean,
      self.save_invstd, self.running_mean, self.running_var, input, self.weight, self.bias,
      self.momentum, self.eps, self.reducer)
  end
  return core.batchnorm_forward(self:buffer("output", input:size()), self.save_mean,
    self.save_invstd, self.running_mean, self.running_var, input, self.weight, self.bias,
    self.train, self.momentum, self.eps)
end

-- Uses the statistics of the last forward pass (batch ones in training, running in evaluation).
function BatchNormalization:gradients(input, gradOutput, wantInput, wantParams)
  input = self:checkBatch(input)
  gradOutput = self:checkGradOutput(gradOutput)
  local gradInput = wantInput and self:buffer("gradInput", input:size()) or nil
  if self.reducer and self.train then
    core.batchnorm_backward_synced(gradInput, wantParams and self.gradWeight or nil,
      wantParams and self.gradBias or nil, gradOutput, input, self.weight, self.save_mean,
      self.save_invstd, self.reducer)
    return self.gradInput
  end
  core.batchnorm_backward(gradInput, wantParams and self.gradWeight or nil,
    wantParams and self.gradBias or nil, gradOutput, input, self.weight, self.save_mean,
    self.save_invstd, self.train)
  return self.gradInput
end

function BatchNormalization:updateGradInput(input, gradOutput)
  return self:gradients(input, gradOutput, true, false)
end

function BatchNormalization:accGradParameters(input, gradOutput)
  if self.affine then self:gradients(input, gradOutput, false, true) end
end

function BatchNormalization:backward(input, gradOutput)
  return self:gradients(input, gradOutput, true, self.affine)
end

return BatchNormalization
