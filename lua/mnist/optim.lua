-- mnist.optim: Torch7's optim API (optim.X(feval, x, config, state) -> x, {fx}) with
-- torch.optim's numbers where both have the method: SGD (momentum, dampening, Nesterov, weight
-- decay, Torch7's learningRateDecay), Adam, AdamW, Adadelta, Adagrad, RMSprop, ASGD; and Torch7's
-- own NAG, L-BFGS (with optim.lswolfe / optim.polyinterp) and CG. Each step of the first-order
-- methods is one fused C loop over the flat parameter vector (csrc/nn/optim.c); lbfgs and cg run
-- on its vector kernels (core.vec_dot, vec_axpby, ...). Schedules, ConfusionMatrix and Logger
-- live in lua/mnist/optim/ and are exported here.
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
-- Config keys (Torch7's names; defaults are torch.optim's, or Torch7's for Torch7's methods): see
-- SPECS below and the comment above each method. For instance
--   sgd       learningRate (required), learningRateDecay 0, momentum 0, dampening 0 (PyTorch's
--             default; Torch7's was the momentum), nesterov false, weightDecay 0
--   adam      learningRate 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8, weightDecay 0 (L2 on the
--             gradient, as torch.optim.Adam)
--   adamw     as adam, but weightDecay 0.01, decoupled (as torch.optim.AdamW)
--   adadelta  learningRate 1.0, rho 0.9, eps 1e-6, weightDecay 0
-- PyTorch spellings (lr, weight_decay, betas, ...) are rejected with the right name; other keys
-- are ignored, so one table may carry the whole run's settings.
--
-- State (torch.optim's names, Torch7's for Torch7's methods; tensors are allocated once):
--   step             number of steps taken (every first-order method; Torch7's evalCounter)
--   momentum_buffer  sgd with momentum ~= 0 (absent until the first such step, which seeds it
--                    with the gradient, as PyTorch), rmsprop with momentum
--   exp_avg, exp_avg_sq   adam, adamw
--   square_avg, acc_delta adadelta;  sum adagrad;  square_avg, grad_avg rmsprop;  dfdx nag;
--   eta_t, mu_t, ax asgd;  nIter, funcEval, ... lbfgs;  df0, df1, df2, s, x0 cg
-- A copy of state (tensors cloned) resumes the run bit for bit. As in Torch, `state` defaults to
-- `config` when the caller passes no state, and then the moments are written into the config
-- table: pass an explicit state. With neither a config nor a state nothing would survive between
-- calls, so that is an error.
local core = require "mnist.core"
local schedules = require "mnist.optim.schedules"
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
local function positive(v) return v > 0 and v < math.huge end
local function whole_positive(v) return v >= 1 and v == math.floor(v) and v < 2 ^ 53 end
local NUMBER_GT0 = { positive, "a number > 0" }
local WHOLE_GE1 = { whole_positive, "a whole number >= 1" }
local OPTIONAL = {} -- a default meaning "may be absent" (the optimizer derives a value)

SPECS.adagrad = {
  torch = "torch.optim.Adagrad",
  keys = {
    hyper("learningRate", 1e-2, NUMBER_GE0),
    hyper("learningRateDecay", 0, NUMBER_GE0),
    hyper("weightDecay", 0, NUMBER_GE0),
    hyper("initialAccumulatorValue", 0, NUMBER_GE0),
    hyper("epsilon", 1e-10, NUMBER_GE0),
  },
  aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay",
              lr_decay = "learningRateDecay", eps = "epsilon",
              initial_accumulator_value = "initialAccumulatorValue" },
}
SPECS.rmsprop = {
  torch = "torch.optim.RMSprop",
  keys = {
    hyper("learningRate", 1e-2, NUMBER_GE0),
    hyper("alpha", 0.99, { unit_closed, "a number in [0, 1]" }),
    hyper("epsilon", 1e-8, NUMBER_GE0),
    hyper("weightDecay", 0, NUMBER_GE0),
    hyper("momentum", 0, NUMBER_GE0),
    hyper("centered", false, "boolean"),
    hyper("initialMean", 0, NUMBER_GE0),
  },
  aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay",
              eps = "epsilon" },
}
SPECS.nag = {
  torch = "Torch7's optim.nag",
  keys = {
    hyper("learningRate", 1e-3, NUMBER_GE0),
    hyper("learningRateDecay", 0, NUMBER_GE0),
    hyper("weightDecay", 0, NUMBER_GE0),
    hyper("momentum", 0.9, NUMBER_GT0),
  },
  aliases = { lr = "learningRate", learning_rate = "learningRate", weight_decay = "weightDecay",
              lr_decay = "learningRateDecay" },
}
SPECS.asgd = {
  torch = "Torch7's optim.asgd",
  keys = {
    hyper("eta0", 1e-4, NUMBER_GE0),
    hyper("lambda", 1e-4, NUMBER_GE0),
    hyper("alpha", 0.75, NUMBER_GE0),
    hyper("t0", 1e6, NUMBER_GE0),
  },
  aliases = { lr = "eta0", learningRate = "eta0", learning_rate = "eta0", lambd = "lambda" },
}
SPECS.lbfgs = {
  torch = "Torch7's optim.lbfgs",
  keys = {
    hyper("maxIter", 20, WHOLE_GE1),
    hyper("maxEval", OPTIONAL, NUMBER_GT0),
    hyper("tolFun", 1e-5, NUMBER_GE0),
    hyper("tolX", 1e-9, NUMBER_GE0),
    hyper("nCorrection", 100, WHOLE_GE1),
    hyper("lineSearch", OPTIONAL, "function"),
    hyper("lineSearchOptions", OPTIONAL, "table"),
    hyper("learningRate", 1, NUMBER_GT0),
    hyper("verbose", false, "boolean"),
  },
  aliases = { lr = "learningRate", max_iter = "maxIter", max_eval = "maxEval",
              tolerance_grad = "tolFun", tolerance_change = "tolX", history_size = "nCorrection",
              line_search_fn = "lineSearch (a function, e.g. optim.lswolfe)" },
}
SPECS.cg = {
  torch = "Torch7's optim.cg",
  keys = {
    hyper("rho", 0.01, NUMBER_GT0),
    hyper("sig", 0.5, NUMBER_GT0),
    hyper("int", 0.1, NUMBER_GT0),
    hyper("ext", 3.0, NUMBER_GT0),
    hyper("maxIter", 20, WHOLE_GE1),
    hyper("ratio", 100, NUMBER_GT0),
    hyper("maxEval", OPTIONAL, NUMBER_GT0),
  },
  aliases = { max_iter = "maxIter", max_eval = "maxEval" },
}
table.insert(SPECS.sgd.keys, 2, hyper("learningRateDecay", 0, NUMBER_GE0))
SPECS.sgd.aliases.lr_decay = "learningRateDecay"
SPECS.adamw = { torch = "torch.optim.AdamW", keys = {}, aliases = SPECS.adam.aliases }
for i, h in ipairs(ADAM_KEYS) do
  SPECS.adamw.keys[i] = h.key == "weightDecay" and hyper("weightDecay", 0.01, NUMBER_GE0) or h
end

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
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
      if h.default ~= OPTIONAL then v = h.default end
    elseif type(h.rule) == "string" then -- a Lua type
      if type(v) ~= h.rule and not (h.rule == "function" and is_callable(v)) then
        fail(name, "config.%s must be a %s, got %s", h.key, h.rule, type(v))
      end
    elseif type(v) ~= "number" or not h.rule[1](v) then
      fail(name, "config.%s must be %s, got %s", h.key, h.rule[2],
        type(v) == "number" and tostring(v) or type(v))
    end
    hp[h.key] = v
  end
  return hp
end

-- Arguments, feval and state ----------------------------------------------------------------------

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

-- Torch7's annealing: lr / (1 + (step - 1) * learningRateDecay), step counting this one.
local function decayed_rate(hp, step)
  return hp.learningRate / (1 + (step - 1) * hp.learningRateDecay)
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
  core.sgd_update(x, buf, dfdx, decayed_rate(hp, step), hp.momentum, hp.dampening,
    hp.weightDecay, hp.nesterov, first_step)
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

-- Adagrad as torch.optim.Adagrad, which is also Torch7's optim.adagrad: the epsilon is added
-- outside the square root in both; Torch7's is fixed at 1e-10, PyTorch's default. Torch7's
-- learningRateDecay is PyTorch's lr_decay. State: sum (Torch7's paramVariance), step.
function M.adagrad(feval, x, config, state)
  local name = "optim.adagrad"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("adagrad", name, config)
  local step = steps_taken(name, state) + 1
  local f, dfdx = evaluate(name, feval, x)
  local sum, fresh = moment(name, state, "sum", x)
  if fresh and hp.initialAccumulatorValue ~= 0 then sum:fill(hp.initialAccumulatorValue) end
  core.adagrad_update(x, sum, dfdx, decayed_rate(hp, step), hp.epsilon, hp.weightDecay)
  state.sum, state.step = sum, step
  return x, { f }
end

-- RMSprop as torch.optim.RMSprop (momentum, centered); with neither it is Torch7's optim.rmsprop,
-- epsilon outside the root in both, and Torch7's initialMean (the first square_avg) is kept.
-- State: square_avg (Torch7's m), grad_avg (centered), momentum_buffer (momentum > 0), step.
function M.rmsprop(feval, x, config, state)
  local name = "optim.rmsprop"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("rmsprop", name, config)
  local step = steps_taken(name, state) + 1
  local f, dfdx = evaluate(name, feval, x)
  local square_avg, fresh = moment(name, state, "square_avg", x)
  if fresh and hp.initialMean ~= 0 then square_avg:fill(hp.initialMean) end
  local grad_avg = hp.centered and moment(name, state, "grad_avg", x) or nil
  local momentum_buffer = hp.momentum ~= 0 and moment(name, state, "momentum_buffer", x) or nil
  core.rmsprop_update(x, square_avg, grad_avg, momentum_buffer, dfdx, hp.learningRate, hp.alpha,
    hp.epsilon, hp.weightDecay, hp.momentum)
  state.square_avg, state.grad_avg, state.momentum_buffer = square_avg, grad_avg, momentum_buffer
  state.step = step
  return x, { f }
end

-- Nesterov's accelerated gradient as Torch7's optim.nag (Sutskever et al. 2013): x first moves by
-- momentum * velocity, feval is called there, then velocity = momentum * velocity - clr * g and
-- x -= clr * g. torch.optim.SGD(nesterov=True) follows the look-ahead point instead: with a
-- constant rate the two evaluate the gradient at the same points (equal losses), and PyTorch's
-- parameters are ours plus momentum * velocity. Defaults are Torch7's (learningRate 1e-3,
-- momentum 0.9). State: dfdx (the velocity, Torch7's name), step (Torch7's evalCounter).
-- If feval fails after the look-ahead, x is moved back (to within float rounding).
function M.nag(feval, x, config, state)
  local name = "optim.nag"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("nag", name, config)
  local step = steps_taken(name, state) + 1
  local velocity, fresh = moment(name, state, "dfdx", x)
  if not fresh then core.vec_axpby(x, hp.momentum, velocity, 1) end
  local ok, f, dfdx = pcall(evaluate, name, feval, x)
  if not ok then
    if not fresh then core.vec_axpby(x, -hp.momentum, velocity, 1) end
    error(f, 0)
  end
  core.nag_update(x, velocity, dfdx, decayed_rate(hp, step), hp.momentum, hp.weightDecay, fresh)
  state.dfdx, state.step = velocity, step
  return x, { f }
end

local function state_number(name, state, key, default)
  local v = state[key]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v then
    fail(name, "state.%s must be a number, got %s", key, tostring(v))
  end
  return v
end

-- Averaged SGD as Torch7's optim.asgd (and torch.optim.ASGD: eta0 is its lr, lambda its lambd):
--   x = x * (1 - lambda * eta_t) - eta_t * dfdx,   ax = running average of x from step t0 on
--   eta_t = eta0 / (1 + lambda * eta0 * t)^alpha,   mu_t = 1 / max(1, t - t0)
-- Returns x, {fx}, ax. State: eta_t, mu_t, ax, step (Torch7's t).
function M.asgd(feval, x, config, state)
  local name = "optim.asgd"
  config, state = check_call(name, feval, x, config, state)
  local hp = read_config("asgd", name, config)
  local taken = steps_taken(name, state)
  local eta = state_number(name, state, "eta_t", hp.eta0)
  local mu = state_number(name, state, "mu_t", 1)
  local f, dfdx = evaluate(name, feval, x)
  local ax = moment(name, state, "ax", x)
  core.asgd_update(x, ax, dfdx, eta, hp.lambda, mu)
  local t = taken + 1
  state.eta_t = hp.eta0 / (1 + hp.lambda * hp.eta0 * t) ^ hp.alpha
  state.mu_t = 1 / math.max(1, t - hp.t0)
  state.ax, state.step = ax, t
  return x, { f }, ax
end

-- Line-search methods ------------------------------------------------------------------------------

local dot, axpby = core.vec_dot, core.vec_axpby

local function finite_number(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- A whole-number counter kept in state (0 when absent).
local function counter(name, state, key)
  local v = state[key]
  if v == nil then return 0 end
  if type(v) ~= "number" or v < 0 or v ~= math.floor(v) then
    fail(name, "state.%s must be a whole number >= 0, got %s", key, tostring(v))
  end
  return v
end

-- A float32 vector of x's size kept in state[key] (made once).
local function buffer(name, state, key, x)
  local b = moment(name, state, key, x)
  state[key] = b
  return b
end

-- optim.polyinterp(points [, xmin, xmax]): the minimiser of the cubic through two points given as
-- {{x1, f1, g1}, {x2, f2, g2}} (positions, values, derivatives), as Torch7's optim.polyinterp.
-- Without bounds: the cubic's local minimum, clamped to [min x, max x] (the midpoint when the cubic
-- has none). With bounds: the lowest value of the cubic among the bounds, the two points and the
-- cubic's critical points that lie within [xmin, xmax] (the midpoint of the bounds when the fit is
-- not finite).
function M.polyinterp(points, xmin_bound, xmax_bound)
  local name = "optim.polyinterp"
  if T.is_tensor(points) then points = points:totable() end
  if type(points) ~= "table" or #points ~= 2 then
    fail(name, "points must be two {x, f, g} triplets (the cubic case of Torch7's polyinterp)")
  end
  for i = 1, 2 do
    local p = points[i]
    if type(p) ~= "table" or type(p[1]) ~= "number" or type(p[2]) ~= "number" or type(p[3]) ~= "number" then
      fail(name, "point %d must be {x, f, g} (three numbers)", i)
    end
  end
  local lo, hi = points[1], points[2]
  if hi[1] < lo[1] then lo, hi = hi, lo end
  if xmin_bound == nil and xmax_bound == nil then
    local d1 = lo[3] + hi[3] - 3 * (lo[2] - hi[2]) / (lo[1] - hi[1])
    local d2 = math.sqrt(d1 * d1 - lo[3] * hi[3])
    if d2 ~= d2 then return (lo[1] + hi[1]) / 2 end -- no real minimum: bisect
    local t = hi[1] - (hi[1] - lo[1]) * ((hi[3] + d2 - d1) / (hi[3] - lo[3] + 2 * d2))
    return math.min(math.max(t, lo[1]), hi[1])
  end
  xmin_bound = xmin_bound or lo[1]
  xmax_bound = xmax_bound or hi[1]
  -- p(z) = f1 + g1 z + c z^2 + e z^3 with z = x - x1, through (x2, f2) with slope g2 there
  local x1, f1, g1 = points[1][1], points[1][2], points[1][3]
  local h = points[2][1] - x1
  local a = (points[2][2] - f1 - g1 * h) / (h * h)
  local b = (points[2][3] - g1) / h
  local e = (b - 2 * a) / h
  local c = 3 * a - b
  local middle = (xmin_bound + xmax_bound) / 2
  if not (finite_number(c) and finite_number(e)) then return middle end
  local candidates = { xmin_bound, xmax_bound, points[1][1], points[2][1] }
  if e ~= 0 then -- p'(z) = g1 + 2c z + 3e z^2
    local disc = c * c - 3 * e * g1
    if disc >= 0 then
      local r = math.sqrt(disc)
      candidates[#candidates + 1] = x1 + (-c + r) / (3 * e)
      candidates[#candidates + 1] = x1 + (-c - r) / (3 * e)
    end
  elseif c ~= 0 then
    candidates[#candidates + 1] = x1 - g1 / (2 * c)
  end
  local best, best_value = middle, math.huge
  for _, xc in ipairs(candidates) do
    if xc >= xmin_bound and xc <= xmax_bound then
      local z = xc - x1
      local value = f1 + z * (g1 + z * (c + z * e))
      if value < best_value then best, best_value = xc, value end
    end
  end
  return best
end

-- optim.lswolfe(opfunc, x, t, d, f, g, gtd [, options]) -> f, g, x, t, evaluations: a line search
-- along d from x (where opfunc gave f and g; gtd = g.d < 0) for a step t satisfying the strong
-- Wolfe conditions, as Torch7's optim.lswolfe (minFunc's WolfeLineSearch): bracketing with cubic
-- extrapolation bounded to [t + 0.01 (t - t_prev), 10 t], then zooming with cubic interpolation.
-- Options: c1 1e-4 (sufficient decrease), c2 0.9 (curvature), tolX 1e-9 (stop when the bracket
-- times the slope is smaller), maxIter 20. x is left at x + t d; g is a new tensor.
-- torch.optim.LBFGS's line_search_fn="strong_wolfe" is a port of the same search that differs by
-- design: 25 evaluations at most, extrapolation by the cubic's clamped local minimum (not the
-- lowest point of the cubic over the bounds), and it stops zooming when the bracket times max|d|
-- is below its tolerance, checked before each evaluation.
function M.lswolfe(opfunc, x, t, d, f, g, gtd, options)
  local name = "optim.lswolfe"
  options = options or {}
  if type(options) ~= "table" then fail(name, "options must be a table, got %s", type(options)) end
  local function option(key, default, ok, rule)
    local v = options[key]
    if v == nil then return default end
    if type(v) ~= "number" or not ok(v) then fail(name, "options.%s must be %s, got %s", key, rule, tostring(v)) end
    return v
  end
  local c1 = option("c1", 1e-4, function(v) return v > 0 and v < 1 end, "in (0, 1)")
  local c2 = option("c2", 0.9, function(v) return v > c1 and v < 1 end, "in (c1, 1)")
  local tolX = option("tolX", 1e-9, at_least_zero, "a number >= 0")
  local max_iter = option("maxIter", 20, function(v) return v >= 1 and v == math.floor(v) end,
    "a whole number >= 1")
  for _, arg in ipairs { { "t", t }, { "f", f }, { "gtd", gtd } } do
    if not finite_number(arg[2]) then fail(name, "%s must be a finite number, got %s", arg[1], tostring(arg[2])) end
  end
  for _, arg in ipairs { { "x", x }, { "d", d }, { "g", g } } do
    if not T.is_tensor(arg[2]) or arg[2]:dtype() ~= "float32" then
      fail(name, "%s must be a float32 tensor, got %s", arg[1], type(arg[2]))
    end
  end
  local x_init, g_init = x:clone(), g:clone()
  local function move_to(step) -- x = x_init + step d
    x:copy(x_init)
    axpby(x, step, d, 1)
  end

  axpby(x, t, d, 1)
  local f_new, g_new = evaluate(name, opfunc, x)
  local evals = 1
  local gtd_new = dot(g_new, d)

  -- bracket an interval containing a point that satisfies the conditions
  local iter, t_prev, done = 0, 0, false
  local f_prev, g_prev, gtd_prev = f, g_init, gtd
  local bracket, bracket_f, bracket_g
  while iter < max_iter do
    if f_new > f + c1 * t * gtd or (iter > 1 and f_new >= f_prev) then
      bracket, bracket_f, bracket_g = { t_prev, t }, { f_prev, f_new }, { g_prev, g_new:clone() }
      break
    elseif math.abs(gtd_new) <= -c2 * gtd then
      bracket, bracket_f, bracket_g = { t }, { f_new }, { g_new:clone() }
      done = true
      break
    elseif gtd_new >= 0 then
      bracket, bracket_f, bracket_g = { t_prev, t }, { f_prev, f_new }, { g_prev, g_new:clone() }
      break
    end
    local before = t_prev
    t_prev = t
    t = M.polyinterp({ { before, f_prev, gtd_prev }, { t, f_new, gtd_new } },
      t + 0.01 * (t - before), t * 10)
    f_prev, g_prev, gtd_prev = f_new, g_new:clone(), gtd_new
    move_to(t)
    f_new, g_new = evaluate(name, opfunc, x)
    evals = evals + 1
    gtd_new = dot(g_new, d)
    iter = iter + 1
  end
  if iter == max_iter then
    bracket, bracket_f, bracket_g = { 0, t }, { f, f_new }, { g_init, g_new:clone() }
  end

  -- zoom: shrink the bracket around a point that satisfies the conditions
  local insufficient = false
  while not done and iter < max_iter do
    local lo = bracket_f[1] <= bracket_f[2] and 1 or 2
    local hi = 3 - lo
    t = M.polyinterp({ { bracket[1], bracket_f[1], dot(bracket_g[1], d) },
      { bracket[2], bracket_f[2], dot(bracket_g[2], d) } })
    local top, bottom = math.max(bracket[1], bracket[2]), math.min(bracket[1], bracket[2])
    if math.min(top - t, t - bottom) / (top - bottom) < 0.1 then
      -- too close to an end: after two such steps (or outside), move a tenth of the bracket in
      if insufficient or t >= top or t <= bottom then
        t = math.abs(t - top) < math.abs(t - bottom) and top - 0.1 * (top - bottom)
          or bottom + 0.1 * (top - bottom)
        insufficient = false
      else
        insufficient = true
      end
    else
      insufficient = false
    end
    move_to(t)
    f_new, g_new = evaluate(name, opfunc, x)
    evals = evals + 1
    gtd_new = dot(g_new, d)
    iter = iter + 1
    if f_new > f + c1 * t * gtd or f_new >= bracket_f[lo] then
      bracket[hi], bracket_f[hi], bracket_g[hi] = t, f_new, g_new:clone()
    else
      if math.abs(gtd_new) <= -c2 * gtd then
        done = true
      elseif gtd_new * (bracket[hi] - bracket[lo]) >= 0 then
        bracket[hi], bracket_f[hi], bracket_g[hi] = bracket[lo], bracket_f[lo], bracket_g[lo]
      end
      bracket[lo], bracket_f[lo], bracket_g[lo] = t, f_new, g_new:clone()
    end
    if not done and math.abs((bracket[1] - bracket[2]) * gtd_new) < tolX then break end
  end

  local lo = (#bracket == 1 or bracket_f[1] <= bracket_f[2]) and 1 or 2
  t = bracket[lo]
  move_to(t)
  return bracket_f[lo], bracket_g[lo], x, t, evals
end

-- L-BFGS as Torch7's optim.lbfgs: up to maxIter iterations in one call, each a two-loop
-- recursion over the last nCorrection steps, then either a fixed step (learningRate; the first
-- iteration of a run scales it by min(1, 1 / sum|g|)) or config.lineSearch (optim.lswolfe)
-- with config.lineSearchOptions. Stops early on sum|g| <= tolFun, sum|t d| <= tolX,
-- |f - f_old| < tolX, a direction that does not descend, or maxEval (default 1.25 maxIter)
-- evaluations. Returns x, {f at every evaluation point it accepted}, evaluations.
-- State, kept across calls: nIter and funcEval (Torch7's counters over all calls), d, t, Hdiag,
-- g_old, f_old, old_steps and old_grad_diffs (the s and y histories: Torch7's old_dirs and
-- old_stps), spare (recycled history vectors).
-- torch.optim.LBFGS is a port of the same code; with no line search the steps agree, and only the
-- stopping tests differ by design (PyTorch: max|g| <= 1e-7 and max|t d| <= tolerance_change).
function M.lbfgs(opfunc, x, config, state)
  local name = "optim.lbfgs"
  config, state = check_call(name, opfunc, x, config, state)
  local hp = read_config("lbfgs", name, config)
  local max_eval = hp.maxEval or hp.maxIter * 1.25
  local say = hp.verbose and function(msg) print("<optim.lbfgs> " .. msg) end or function() end
  local n_iter_total, func_evals = counter(name, state, "nIter"), counter(name, state, "funcEval")
  local steps, diffs, spare = state.old_steps or {}, state.old_grad_diffs or {}, state.spare or {}
  local d = buffer(name, state, "d", x)
  local g_old = buffer(name, state, "g_old", x)
  local q = buffer(name, state, "q", x)
  local t, Hdiag, f_old = state.t, state.Hdiag or 1, state.f_old

  local f, g = evaluate(name, opfunc, x)
  local f_hist, evals = { f }, 1
  func_evals = func_evals + 1
  state.funcEval = func_evals
  if core.vec_abs_sum(g) <= hp.tolFun then
    say("optimality condition below tolFun")
    return x, f_hist, evals
  end

  local function vector()
    return table.remove(spare) or T.zeros(x:numel())
  end

  local iter = 0
  while iter < hp.maxIter do
    iter = iter + 1
    n_iter_total = n_iter_total + 1
    state.nIter = n_iter_total
    if n_iter_total == 1 then
      axpby(d, -1, g, 0)
      steps, diffs, Hdiag = {}, {}, 1
    else
      local y, s = vector(), vector()
      y:copy(g)
      axpby(y, -1, g_old, 1) -- y = g - g_old
      axpby(s, t, d, 0)      -- s = t d
      local ys = dot(y, s)
      if ys > 1e-10 then
        if #steps == hp.nCorrection then -- forget the oldest pair
          spare[#spare + 1] = table.remove(steps, 1)
          spare[#spare + 1] = table.remove(diffs, 1)
        end
        steps[#steps + 1], diffs[#diffs + 1] = s, y
        Hdiag = ys / dot(y, y)
      else
        spare[#spare + 1], spare[#spare + 1] = s, y
      end
      -- two-loop recursion: d = -H g
      local k = #steps
      local ro, al = {}, {}
      for i = 1, k do ro[i] = 1 / dot(diffs[i], steps[i]) end
      axpby(q, -1, g, 0)
      for i = k, 1, -1 do
        al[i] = dot(steps[i], q) * ro[i]
        axpby(q, -al[i], diffs[i], 1)
      end
      axpby(d, Hdiag, q, 0)
      for i = 1, k do
        local be = dot(diffs[i], d) * ro[i]
        axpby(d, al[i] - be, steps[i], 1)
      end
    end
    g_old:copy(g)
    f_old = f

    local gtd = dot(g, d)
    if gtd > -hp.tolX then
      say("the direction does not descend")
      break
    end
    if n_iter_total == 1 then
      t = math.min(1, 1 / core.vec_abs_sum(g)) * hp.learningRate
    else
      t = hp.learningRate
    end

    local ls_evals = 0
    if hp.lineSearch then
      f, g, x, t, ls_evals = hp.lineSearch(opfunc, x, t, d, f, g, gtd, hp.lineSearchOptions)
      f_hist[#f_hist + 1] = f
    else
      axpby(x, t, d, 1)
      if iter ~= hp.maxIter then -- no use evaluating after the last iteration
        f, g = evaluate(name, opfunc, x)
        ls_evals = 1
        f_hist[#f_hist + 1] = f
      end
    end
    evals = evals + ls_evals
    func_evals = func_evals + ls_evals
    state.funcEval = func_evals

    if iter == hp.maxIter then say("reached max number of iterations") break end
    if evals >= max_eval then say("max nb of function evals") break end
    if core.vec_abs_sum(g) <= hp.tolFun then say("optimality condition below tolFun") break end
    if core.vec_abs_sum(d) * math.abs(t) <= hp.tolX then say("step size below tolX") break end
    if math.abs(f - f_old) < hp.tolX then say("function value changing less than tolX") break end
  end

  state.old_steps, state.old_grad_diffs, state.spare = steps, diffs, spare
  state.Hdiag, state.f_old, state.t = Hdiag, f_old, t
  return x, f_hist, evals
end

-- Nonlinear conjugate gradients as Torch7's optim.cg (Rasmussen's minimize.m): Polak-Ribiere
-- directions, a line search by cubic and quadratic fits under the Wolfe-Powell conditions
-- (rho 0.01, sig 0.5), extrapolating at most ext (3) times the current step, never closer than
-- int (0.1) to the ends of the bracket, and a first step of at most ratio (100) times the last.
-- One call spends maxEval (default 1.25 maxIter) evaluations at most, maxIter per line search.
-- Returns x, {f after each successful line search, starting with f(x)}, evaluations. Where a line
-- search fails it restarts along the steepest descent and gives up after two failures in a row
-- (Rasmussen's rule; Torch7's port gives up after the first, a Lua truthiness slip).
-- State: the buffers df0, df1, df2, s, x0, reused between calls.
function M.cg(opfunc, x, config, state)
  local name = "optim.cg"
  config, state = check_call(name, opfunc, x, config, state)
  local hp = read_config("cg", name, config)
  local max_eval = hp.maxEval or hp.maxIter * 1.25
  local RHO, SIG, INT, EXT, RATIO = hp.rho, hp.sig, hp.int, hp.ext, hp.ratio
  local df0, df1, df2 = buffer(name, state, "df0", x), buffer(name, state, "df1", x), buffer(name, state, "df2", x)
  local s, x0 = buffer(name, state, "s", x), buffer(name, state, "x0", x)

  local function eval_into(target)
    local fv, g = evaluate(name, opfunc, x)
    target:copy(g)
    return fv
  end

  local fx = {}
  local f1 = eval_into(df1)
  fx[1] = f1
  local evals = 1
  axpby(s, -1, df1, 0)
  local d1 = -dot(s, s)
  local z1 = 1 / (1 - d1)
  local ls_failed = false

  while evals < max_eval do
    x0:copy(x)
    df0:copy(df1)
    local f0 = f1
    axpby(x, z1, s, 1)
    local f2 = eval_into(df2)
    evals = evals + 1
    local d2 = dot(df2, s)
    local f3, d3, z3 = f1, d1, -z1 -- point 3 starts as point 1
    local m = math.min(hp.maxIter, max_eval - evals)
    local success, limit = false, -1
    while true do
      while (f2 > f1 + z1 * RHO * d1 or d2 > -SIG * d1) and m > 0 do
        limit = z1 -- tighten the bracket
        local z2
        if f2 > f1 then -- quadratic fit
          z2 = z3 - (0.5 * d3 * z3 * z3) / (d3 * z3 + f2 - f3)
        else -- cubic fit
          local A = 6 * (f2 - f3) / z3 + 3 * (d2 + d3)
          local B = 3 * (f3 - f2) - z3 * (d3 + 2 * d2)
          z2 = (math.sqrt(B * B - A * d2 * z3 * z3) - B) / A
        end
        if not finite_number(z2) then z2 = z3 / 2 end -- bisect when the fit is useless
        z2 = math.max(math.min(z2, INT * z3), (1 - INT) * z3)
        z1 = z1 + z2
        axpby(x, z2, s, 1)
        f2 = eval_into(df2)
        evals, m = evals + 1, m - 1
        d2 = dot(df2, s)
        z3 = z3 - z2
      end
      if f2 > f1 + z1 * RHO * d1 or d2 > -SIG * d1 then
        break -- failure
      elseif d2 > SIG * d1 then
        success = true
        break
      elseif m == 0 then
        break -- out of evaluations
      end
      -- extrapolate with a cubic fit
      local A = 6 * (f2 - f3) / z3 + 3 * (d2 + d3)
      local B = 3 * (f3 - f2) - z3 * (d3 + 2 * d2)
      local z2 = -d2 * z3 * z3 / (B + math.sqrt(B * B - A * d2 * z3 * z3))
      if not finite_number(z2) or z2 < 0 then
        z2 = limit < -0.5 and z1 * (EXT - 1) or (limit - z1) / 2
      elseif limit > -0.5 and z2 + z1 > limit then
        z2 = (limit - z1) / 2
      elseif limit < -0.5 and z2 + z1 > z1 * EXT then
        z2 = z1 * (EXT - 1)
      elseif z2 < -z3 * INT then
        z2 = -z3 * INT
      elseif limit > -0.5 and z2 < (limit - z1) * (1 - INT) then
        z2 = (limit - z1) * (1 - INT)
      end
      f3, d3, z3 = f2, d2, -z2
      z1 = z1 + z2
      axpby(x, z2, s, 1)
      f2 = eval_into(df2)
      evals, m = evals + 1, m - 1
      d2 = dot(df2, s)
    end

    if success then
      f1 = f2
      fx[#fx + 1] = f1
      local beta = (dot(df2, df2) - dot(df2, df1)) / dot(df1, df1) -- Polak-Ribiere
      axpby(s, -1, df2, beta)
      df1, df2 = df2, df1
      d2 = dot(df1, s)
      if d2 > 0 then -- not a descent direction: steepest descent
        axpby(s, -1, df1, 0)
        d2 = -dot(s, s)
      end
      z1 = z1 * math.min(RATIO, d1 / (d2 - 1e-300))
      d1 = d2
      ls_failed = false
    else
      x:copy(x0) -- back to the point before the failed search
      df1:copy(df0)
      f1 = f0
      if ls_failed or evals > max_eval then break end
      df1, df2 = df2, df1 -- Rasmussen's swap: restart along the last gradient seen
      axpby(s, -1, df1, 0)
      d1 = -dot(s, s)
      z1 = 1 / (1 - d1)
      ls_failed = true
    end
  end
  state.df0, state.df1, state.df2 = df0, df1, df2
  return x, fx, evals
end

-- Learning-rate schedules, confusion matrix, logger ---------------------------------------------

for name, make in pairs(schedules) do M[name] = make end
M.ConfusionMatrix = require "mnist.optim.ConfusionMatrix"
M.Logger = require "mnist.optim.Logger"

return M
