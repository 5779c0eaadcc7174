-- mnist.optim: Torch7's optim API (optim.X(feval, x, config, state) -> x, {fx}) with
-- torch.optim's numbers: SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW, Adadelta.
-- Each step is one fused C loop over the flat parameter vector (csrc/nn/optim.c).
--
--   local optim = require "mnist.optim"
--   local params, grads = model:getParameters()
--   local config = { learningRate = 0.01, momentum = 0.9 } -- hyper-parameters: never written
--   local state = {}                                       -- moments and step count live here
--   local function feval(x)                                -- x is params
--     grads:fill(0)
--     local loss = ... forward, backward (accumulates into grads) ...
--     return loss, grads                                   -- a number, a tensor of x's size
--   end
--   optim.sgd(feval, params, config, state)                --> params (updated in place), {loss}
--
-- Config keys (Torch7's names; defaults are torch.optim's):
--   sgd       learningRate (required), momentum 0, dampening 0, nesterov false, weightDecay 0
--   adam      learningRate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8, weightDecay 0 (L2 on the
--             gradient, as torch.optim.Adam)
--   adamw     as adam, but weightDecay 0.01, decoupled (as torch.optim.AdamW)
--   adadelta  learningRate 1.0, rho 0.9, eps 1e-6, weightDecay 0
-- PyTorch spellings (lr, weight_decay, betas, ...) are rejected with the right name; other keys
-- are ignored, so one table may carry the whole run's settings.
--
-- State (torch.optim's names; tensors are allocated once, on the first step):
--   step             number of steps taken (all optimizers)
--   momentum_buffer  sgd with momentum ~= 0 (absent until the first such step, which seeds it
--                    with the gradient, as PyTorch)
--   exp_avg, exp_avg_sq   adam, adamw
--   square_avg, acc_delta adadelta
-- A copy of state (tensors cloned) resumes the run bit for bit. As in Torch, `state` defaults to
-- `config` when the caller passes no state, and then the moments are written into the config
-- table: pass an explicit state. With neither a config nor a state nothing would survive between
-- calls, so that is an error.
--
-- Learning-rate schedule: optim.StepLR (below) keeps its own copy of the config.
local core = require "mnist.core"
local T = require "mnist.tensor"

local M = {}

local function fail(name, fmt, ...)
  error(name .. ": " .. fmt:format(...), 0)
end

-- Hyper-parameters --------------------------------------------------------------------------------

local function at_least_zero(v) return v >= 0 end -- false for NaN, as every check below
local function unit_open(v) return v >= 0 and v < 1 end
local function unit_closed(v) return v >= 0 and v <= 1 end
local function finite(v) return v == v and v > -math.huge and v < math.huge end

-- Each entry: key, default (nil: required), test, the rule the test enforces (for the message).
local NUMBER_GE0 = { at_least_zero, "a number >= 0" }
local function hyper(key, default, rule) return { key = key, default = default, rule = rule } end

local ADAM_KEYS = {
  hyper("learningRate", 1e-3, NUMBER_GE0),
  hyper("beta1", 0.9, { unit_open, "a number in [0, 1)" }),
  hyper("beta2", 0.999, { unit_open, "a number in [0, 1)" }),
  hyper("epsilon", 1e-8, NUMBER_GE0),
  hyper("weightDecay", 0, NUMBER_GE0),
}

local SPECS = {
  sgd = {
    torch = "torch.optim.SGD",
    keys = {
      hyper("learningRate", nil, NUMBER_GE0),
      hyper("momentum", 0, NUMBER_GE0),
      hyper("dampening", 0, { finite, "a finite number" }),
      hyper("nesterov", false, "boolean"),
      hyper("weightDecay", 0, NUMBER_GE0),
    },
    aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay" },
  },
  adam = {
    torch = "torch.optim.Adam",
    keys = ADAM_KEYS,
    aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay",
                betas = "beta1 and beta2", eps = "epsilon" },
  },
  adadelta = {
    torch = "torch.optim.Adadelta",
    keys = {
      hyper("learningRate", 1.0, NUMBER_GE0),
      hyper("rho", 0.9, { unit_closed, "a number in [0, 1]" }),
      hyper("eps", 1e-6, NUMBER_GE0),
      hyper("weightDecay", 0, NUMBER_GE0),
    },
    aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay",
                epsilon = "eps" },
  },
}
SPECS.adamw = { torch = "torch.optim.AdamW", keys = {}, aliases = SPECS.adam.aliases }
for i, h in ipairs(ADAM_KEYS) do
  SPECS.adamw.keys[i] = h.key == "weightDecay" and hyper("weightDecay", 0.01, NUMBER_GE0) or h
end

local function normalized(key) return (key:lower():gsub("_", "")) end

-- The hyper-parameters of optimizer `kind` from config (defaults filled in) as a new table.
local function read_config(kind, name, config)
  local spec = SPECS[kind]
  local known = {}
  for _, h in ipairs(spec.keys) do known[normalized(h.key)] = h.key end
  for key in pairs(config) do
    if type(key) == "string" then
      local meant = spec.aliases[key] or known[normalized(key)]
      if meant and meant ~= key then
        fail(name, "config key '%s' is not known; did you mean %s?", key, meant)
      end
    end
  end
  local hp = {}
  for _, h in ipairs(spec.keys) do
    local v = config[h.key]
    if v == nil then
      if h.default == nil then
        fail(name, "config.%s is required (%s has no default)", h.key, spec.torch)
      end
      v = h.default
    elseif h.rule == "boolean" then
      if type(v) ~= "boolean" then fail(name, "config.%s must be a boolean, got %s", h.key, type(v)) end
    elseif type(v) ~= "number" or not h.rule[1](v) then
      fail(name, "config.%s must be %s, got %s", h.key, h.rule[2],
        type(v) == "number" and tostring(v) or type(v))
    end
    hp[h.key] = v
  end
  return hp
end

-- Arguments, feval and state ----------------------------------------------------------------------

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- config and state as the caller meant them (Torch's defaults), after checking x and feval.
local function check_call(name, feval, x, config, state)
  if not is_callable(feval) then fail(name, "feval must be a function, got %s", type(feval)) end
  if not T.is_tensor(x) or x:dtype() ~= "float32" then
    fail(name, "x must be a float32 tensor (the flat parameters), got %s",
      T.is_tensor(x) and x:dtype() .. " tensor" or type(x))
  end
  if config == nil and state == nil then
    fail(name, "pass a config table (hyper-parameters, may be {}) and a state table (moments), "
      .. "or the moments are lost after this call")
  end
  if config ~= nil and type(config) ~= "table" then fail(name, "config must be a table, got %s", type(config)) end
  if state ~= nil and type(state) ~= "table" then fail(name, "state must be a table, got %s", type(state)) end
  config = config or {}
  return config, state or config
end

-- Calls feval(x) and checks that it returned a number and a float tensor of x's element count.
local function evaluate(name, feval, x)
  local f, dfdx = feval(x)
  if type(f) ~= "number" then
    fail(name, "feval must return the loss as a number first, got %s", type(f))
  end
  if not T.is_tensor(dfdx) or dfdx:dtype() ~= "float32" then
    fail(name, "feval must return the gradient as a float32 tensor second, got %s",
      T.is_tensor(dfdx) and dfdx:dtype() .. " tensor" or type(dfdx))
  end
  if dfdx:numel() ~= x:numel() then
    fail(name, "feval returned a gradient of shape %s (%d elements) for x of shape %s (%d elements)",
      T.shape_str(dfdx), dfdx:numel(), T.shape_str(x), x:numel())
  end
  return f, dfdx
end

-- The steps taken so far (0 for a fresh state).
local function steps_taken(name, state)
  local step = state.step
  if step == nil then return 0 end
  if type(step) ~= "number" or step < 0 or step ~= math.floor(step) then
    fail(name, "state.step must be a whole number >= 0, got %s", tostring(step))
  end
  return step
end

-- state[key], checked against x; or a new zero tensor of x's shape that the caller stores in state
-- once the step has succeeded (so a failed call leaves state as it was).
local function moment(name, state, key, x)
  local buf = state[key]
  if buf == nil then return T.zeros(x:size()), true end
  if not T.is_tensor(buf) or buf:dtype() ~= "float32" or buf:numel() ~= x:numel() then
    fail(name, "state.%s is %s but x has shape %s: is this the state of other parameters?", key,
      T.is_tensor(buf) and ("a tensor of shape " .. T.shape_str(buf)) or type(buf), T.shape_str(x))
  end
  return buf, false
end

-- Optimizers --------------------------------------------------------------------------------------

-- SGD as torch.optim.SGD (momentum, dampening, Nesterov, L2 weight decay).
function M.sgd(feval, x, config, state)
  local name = "optim.sgd"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("sgd", name, config)
  if hp.nesterov and (hp.momentum <= 0 or hp.dampening ~= 0) then
    fail(name, "nesterov requires momentum > 0 and dampening 0, got momentum %s and dampening %s",
      tostring(hp.momentum), tostring(hp.dampening))
  end
  local step = steps_taken(name, state) + 1
  local f, dfdx = evaluate(name, feval, x)
  local buf, first_step
  if hp.momentum ~= 0 then buf, first_step = moment(name, state, "momentum_buffer", x) end
  core.sgd_update(x, buf, dfdx, hp.learningRate, hp.momentum, hp.dampening, hp.weightDecay,
    hp.nesterov, first_step)
  if buf then state.momentum_buffer = buf end
  state.step = step
  return x, { f }
end

local function adam(kind, name, decoupled, feval, x, config, state)
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config(kind, name, config)
  local step = steps_taken(name, state) + 1
  local f, dfdx = evaluate(name, feval, x)
  local exp_avg = moment(name, state, "exp_avg", x)
  local exp_avg_sq = moment(name, state, "exp_avg_sq", x)
  core.adam_update(x, exp_avg, exp_avg_sq, dfdx, hp.learningRate, hp.beta1, hp.beta2, hp.epsilon,
    hp.weightDecay, decoupled, step)
  state.exp_avg, state.exp_avg_sq, state.step = exp_avg, exp_avg_sq, step
  return x, { f }
end

-- Adam as torch.optim.Adam: weightDecay adds an L2 term to the gradient.
function M.adam(feval, x, config, state)
  return adam("adam", "optim.adam", false, feval, x, config, state)
end

-- AdamW as torch.optim.AdamW: weightDecay (default 0.01) shrinks the parameters directly.
function M.adamw(feval, x, config, state)
  return adam("adamw", "optim.adamw", true, feval, x, config, state)
end

-- Adadelta as torch.optim.Adadelta (with its learning rate, default 1.0).
function M.adadelta(feval, x, config, state)
  local name = "optim.adadelta"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("adadelta", name, config)
  local step = steps_taken(name, state) + 1
  local f, dfdx = evaluate(name, feval, x)
  local square_avg = moment(name, state, "square_avg", x)
  local acc_delta = moment(name, state, "acc_delta", x)
  core.adadelta_update(x, square_avg, acc_delta, dfdx, hp.learningRate, hp.rho, hp.eps,
    hp.weightDecay)
  state.square_avg, state.acc_delta, state.step = square_avg, acc_delta, step
  return x, { f }
end

-- Learning-rate schedule --------------------------------------------------------------------------

-- optim.StepLR(config_or_lr, step_size [, gamma]): torch.optim.lr_scheduler.StepLR. The learning
-- rate is multiplied by gamma (default 0.1, as PyTorch; pytorch/examples' MNIST uses 0.7 with
-- step_size 1) after every step_size epochs. The user's config is never touched: the scheduler
-- owns a copy, `sched.config`, whose learningRate it keeps current, and the training loop passes
-- that copy to the optimizer:
--
--   local sched = optim.StepLR(config, 1, 0.7)
--   for epoch = 1, epochs do
--     for each batch: optim.adadelta(feval, params, sched.config, state)
--     sched:step()                               -- once per epoch, after the epoch
--   end
--
-- sched:get_lr() is the current rate; sched.last_epoch counts step() calls;
-- sched:state_dict() / sched:load_state_dict(t) save and restore the schedule for resuming.
local StepLR = {}
StepLR.__index = StepLR

function M.StepLR(config_or_lr, step_size, gamma)
  local name = "optim.StepLR"
  local config
  if type(config_or_lr) == "number" then
    config = { learningRate = config_or_lr }
  elseif type(config_or_lr) == "table" then
    config = {}
    for k, v in pairs(config_or_lr) do config[k] = v end
    if config.learningRate == nil then
      fail(name, "config.learningRate is missing: the schedule needs the base learning rate")
    end
  else
    fail(name, "expected a config table or a learning rate, got %s", type(config_or_lr))
  end
  local lr = config.learningRate
  if type(lr) ~= "number" or not at_least_zero(lr) then
    fail(name, "the learning rate must be a number >= 0, got %s", tostring(lr))
  end
  if type(step_size) ~= "number" or step_size < 1 or step_size ~= math.floor(step_size) then
    fail(name, "step_size must be a whole number >= 1, got %s", tostring(step_size))
  end
  gamma = gamma == nil and 0.1 or gamma
  if type(gamma) ~= "number" or not at_least_zero(gamma) then
    fail(name, "gamma must be a number >= 0, got %s", tostring(gamma))
  end
  return setmetatable({ config = config, base_lr = lr, step_size = step_size, gamma = gamma,
    last_epoch = 0 }, StepLR)
end

-- Ends an epoch: decays the rate when step_size epochs have passed. Returns the new rate.
function StepLR:step()
  self.last_epoch = self.last_epoch + 1
  -- multiplied in place, as PyTorch's get_lr, so the rates agree to the last bit
  if self.last_epoch % self.step_size == 0 then
    self.config.learningRate = self.config.learningRate * self.gamma
  end
  return self.config.learningRate
end

function StepLR:get_lr()
  return self.config.learningRate
end

function StepLR:state_dict()
  return { last_epoch = self.last_epoch, learningRate = self.config.learningRate }
end

function StepLR:load_state_dict(t)
  if type(t) ~= "table" or type(t.last_epoch) ~= "number" or type(t.learningRate) ~= "number" then
    fail("optim.StepLR:load_state_dict", "expected a table from state_dict()")
  end
  self.last_epoch, self.config.learningRate = t.last_epoch, t.learningRate
  return self
end

return M
