-- mnist.optim.schedules: learning-rate schedules with torch.optim.lr_scheduler's formulas, exported
-- as optim.StepLR, optim.MultiStepLR, optim.CosineAnnealingLR, optim.OneCycleLR and optim.LinearLR
-- (the linear warm-up).
--
-- Every schedule owns a copy of the config it is given (the user's table is never written),
-- `sched.config`, whose learningRate it keeps current; the training loop passes that copy to the
-- optimizer and calls sched:step() once per epoch, or once per batch for a schedule made with
-- `per_step = true` (OneCycleLR and LinearLR count batches; sched.per_step says which):
--
--   local sched = optim.CosineAnnealingLR(config, epochs)
--   for epoch = 1, epochs do
--     for each batch: optim.sgd(feval, params, sched.config, state)
--     sched:step()
--   end
--
-- sched:get_lr() is the current rate; sched.last_epoch counts step() calls (PyTorch's name, also
-- for batch-stepped schedules); sched:state_dict() / sched:load_state_dict(t) save and restore it.
-- The first argument is a config table holding learningRate (the base rate; OneCycleLR's maximum)
-- or the base rate as a number.
local M = {}

local function fail(name, fmt, ...)
  error(name .. ": " .. fmt:format(...), 0)
end

local function is_whole(v, min)
  return type(v) == "number" and v == math.floor(v) and v >= min and v < 2 ^ 53
end

local function check_number(name, what, v, ok, rule)
  if type(v) ~= "number" or v ~= v or not ok(v) then
    fail(name, "%s must be %s, got %s", what, rule, tostring(v))
  end
  return v
end

local function at_least_zero(v) return v >= 0 and v < math.huge end

-- The schedule's own copy of the config, and its base learning rate.
local function own_config(name, config_or_lr)
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
  check_number(name, "the learning rate", config.learningRate, at_least_zero, "a number >= 0")
  return config, config.learningRate
end

local Schedule = {}
Schedule.__index = Schedule

-- A schedule whose rate after k steps is rate_at(self, k) (k = 0 before the first step).
local function new_schedule(name, config_or_lr, fields)
  local config, base_lr = own_config(name, config_or_lr)
  fields.name, fields.config, fields.base_lr, fields.last_epoch = name, config, base_lr, 0
  local sched = setmetatable(fields, Schedule)
  config.learningRate = sched:rate_at(0)
  return sched
end

-- Ends an epoch (or a batch, for per-step schedules). Returns the new rate.
function Schedule:step()
  self.last_epoch = self.last_epoch + 1
  self.config.learningRate = self:rate_at(self.last_epoch, self.config.learningRate)
  return self.config.learningRate
end

function Schedule:get_lr()
  return self.config.learningRate
end

function Schedule:state_dict()
  return { last_epoch = self.last_epoch, learningRate = self.config.learningRate }
end

function Schedule:load_state_dict(t)
  if type(t) ~= "table" or not is_whole(t.last_epoch, 0) or type(t.learningRate) ~= "number" then
    fail(self.name .. ":load_state_dict", "expected a table from state_dict()")
  end
  self.last_epoch, self.config.learningRate = t.last_epoch, t.learningRate
  return self
end

-- StepLR(config_or_lr, step_size [, gamma = 0.1]): the rate is multiplied by gamma after every
-- step_size epochs (torch.optim.lr_scheduler.StepLR; pytorch/examples' MNIST: 1, 0.7).
local function step_rate(self, k, current)
  if k == 0 then return self.base_lr end
  -- multiplied in place, as PyTorch's get_lr, so the rates agree to the last bit
  return k % self.step_size == 0 and current * self.gamma or current
end

function M.StepLR(config_or_lr, step_size, gamma)
  local name = "optim.StepLR"
  own_config(name, config_or_lr)
  if not is_whole(step_size, 1) then
    fail(name, "step_size must be a whole number >= 1, got %s", tostring(step_size))
  end
  gamma = gamma == nil and 0.1 or gamma
  if type(gamma) ~= "number" or not at_least_zero(gamma) then
    fail(name, "gamma must be a number >= 0, got %s", tostring(gamma))
  end
  return new_schedule(name, config_or_lr, { step_size = step_size, gamma = gamma, rate_at = step_rate })
end

-- MultiStepLR(config_or_lr, milestones [, gamma = 0.1]): the rate is multiplied by gamma when the
-- epoch count reaches each milestone (a list of increasing whole numbers >= 1), as
-- torch.optim.lr_scheduler.MultiStepLR.
local function multistep_rate(self, k, current)
  if k == 0 then return self.base_lr end
  return self.at[k] and current * self.gamma or current
end

function M.MultiStepLR(config_or_lr, milestones, gamma)
  local name = "optim.MultiStepLR"
  own_config(name, config_or_lr)
  if type(milestones) ~= "table" or #milestones == 0 then
    fail(name, "milestones must be a list of epochs, got %s", type(milestones))
  end
  local at = {}
  for i, m in ipairs(milestones) do
    if not is_whole(m, 1) or (i > 1 and m <= milestones[i - 1]) then
      fail(name, "milestones must be increasing whole numbers >= 1, got %s at position %d",
        tostring(m), i)
    end
    at[m] = true
  end
  gamma = gamma == nil and 0.1 or gamma
  check_number(name, "gamma", gamma, at_least_zero, "a number >= 0")
  local copy = {}
  for i, m in ipairs(milestones) do copy[i] = m end
  return new_schedule(name, config_or_lr, { milestones = copy, at = at, gamma = gamma,
    rate_at = multistep_rate })
end

-- CosineAnnealingLR(config_or_lr, T_max [, eta_min = 0]): half a cosine from the base rate down to
-- eta_min over T_max epochs, lr_k = eta_min + (base - eta_min) (1 + cos(pi k / T_max)) / 2
-- (torch.optim.lr_scheduler.CosineAnnealingLR's closed form; past T_max the cosine goes on, back up).
local function cosine_rate(self, k)
  return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * k / self.T_max)) / 2
end

function M.CosineAnnealingLR(config_or_lr, T_max, eta_min)
  local name = "optim.CosineAnnealingLR"
  own_config(name, config_or_lr)
  if not is_whole(T_max, 1) then fail(name, "T_max must be a whole number >= 1, got %s", tostring(T_max)) end
  eta_min = eta_min or 0
  check_number(name, "eta_min", eta_min, at_least_zero, "a number >= 0")
  return new_schedule(name, config_or_lr, { T_max = T_max, eta_min = eta_min, rate_at = cosine_rate })
end

-- OneCycleLR(config_or_lr, total_steps [, opts]): Smith's one-cycle policy, stepped per batch, as
-- torch.optim.lr_scheduler.OneCycleLR (learning rate only; momentum is not cycled). The config's
-- learningRate is the peak (PyTorch's max_lr); opts: pct_start 0.3 (share of the steps spent
-- rising), div_factor 25 (start = peak / div_factor), final_div_factor 1e4 (end = start /
-- final_div_factor), anneal_strategy "cos" or "linear", three_phase false. step() may be called
-- total_steps times; more is an error, as in PyTorch.
local function anneal(strategy, from, to, pct)
  if strategy == "cos" then return to + (from - to) / 2 * (math.cos(math.pi * pct) + 1) end
  return (to - from) * pct + from
end

local function onecycle_rate(self, k)
  if k > self.total_steps then
    fail(self.name, "stepped %d times, but total_steps is %d", k, self.total_steps)
  end
  local start = 0
  for i, phase in ipairs(self.phases) do
    if k <= phase.last or i == #self.phases then
      local pct = (k - start) / (phase.last - start)
      return anneal(self.anneal_strategy, phase.from, phase.to, pct)
    end
    start = phase.last
  end
end

function M.OneCycleLR(config_or_lr, total_steps, opts)
  local name = "optim.OneCycleLR"
  local _, max_lr = own_config(name, config_or_lr)
  if not is_whole(total_steps, 2) then
    fail(name, "total_steps must be a whole number >= 2, got %s", tostring(total_steps))
  end
  opts = opts or {}
  if type(opts) ~= "table" then fail(name, "opts must be a table, got %s", type(opts)) end
  local pct_start = opts.pct_start or 0.3
  check_number(name, "pct_start", pct_start, function(v) return v > 0 and v < 1 end, "in (0, 1)")
  local div = opts.div_factor or 25
  check_number(name, "div_factor", div, function(v) return v > 0 and v < math.huge end, "a number > 0")
  local final_div = opts.final_div_factor or 1e4
  check_number(name, "final_div_factor", final_div, function(v) return v > 0 and v < math.huge end,
    "a number > 0")
  local strategy = opts.anneal_strategy or "cos"
  if strategy ~= "cos" and strategy ~= "linear" then
    fail(name, "anneal_strategy must be 'cos' or 'linear', got %s", tostring(strategy))
  end
  local initial = max_lr / div
  local min_lr = initial / final_div
  local rise_end = pct_start * total_steps - 1 -- PyTorch's float(pct_start * total_steps) - 1
  local phases
  if opts.three_phase then
    phases = { { last = rise_end, from = initial, to = max_lr },
      { last = 2 * pct_start * total_steps - 2, from = max_lr, to = initial },
      { last = total_steps - 1, from = initial, to = min_lr } }
  else
    phases = { { last = rise_end, from = initial, to = max_lr },
      { last = total_steps - 1, from = max_lr, to = min_lr } }
  end
  local previous = 0
  for _, phase in ipairs(phases) do -- PyTorch would divide by zero (or go backwards) here
    if phase.last <= previous then
      fail(name, "pct_start %g of %d steps leaves a phase without steps", pct_start, total_steps)
    end
    previous = phase.last
  end
  return new_schedule(name, config_or_lr, { total_steps = total_steps, phases = phases,
    anneal_strategy = strategy, per_step = true, rate_at = onecycle_rate })
end

-- LinearLR(config_or_lr, total_iters [, start_factor = 1/3 [, end_factor = 1]]): the linear
-- warm-up, stepped per batch: the rate goes from base * start_factor to base * end_factor over
-- total_iters steps, then stays (torch.optim.lr_scheduler.LinearLR's closed form).
local function linear_rate(self, k)
  local progress = math.min(k, self.total_iters) / self.total_iters
  return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
end

function M.LinearLR(config_or_lr, total_iters, start_factor, end_factor)
  local name = "optim.LinearLR"
  own_config(name, config_or_lr)
  if not is_whole(total_iters, 1) then
    fail(name, "total_iters must be a whole number >= 1, got %s", tostring(total_iters))
  end
  start_factor = start_factor or 1 / 3
  end_factor = end_factor or 1
  local unit = function(v) return v > 0 and v <= 1 end
  check_number(name, "start_factor", start_factor, unit, "in (0, 1]")
  check_number(name, "end_factor", end_factor, function(v) return v >= 0 and v <= 1 end, "in [0, 1]")
  return new_schedule(name, config_or_lr, { total_iters = total_iters, start_factor = start_factor,
    end_factor = end_factor, per_step = true, rate_at = linear_rate })
end

return M
