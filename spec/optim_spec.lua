-- mnist.optim against torch.optim: trajectories from spec/fixtures/make_optim_fixtures.py
-- (PyTorch 1.13, committed as spec/fixtures/optim.json), StepLR's rates, the config/state contract,
-- resuming from a saved state, and the error messages.
local cjson = require "cjson"
local mnist = require "mnist"
local core = require "mnist.core"
local T = mnist.tensor
local optim = mnist.optim

local function read_fixture()
  local f = assert(io.open("spec/fixtures/optim.json", "rb"))
  local s = f:read("*a")
  f:close()
  return cjson.decode(s)
end

local fixture = read_fixture()

-- Within 1e-5 relative, or 1e-5 absolute for values below 1 in magnitude.
local TOL = 1e-5
local function close(actual, expected)
  return math.abs(actual - expected) <= TOL * math.max(1, math.abs(expected))
end

local function assert_close_vector(actual, expected, what)
  assert.equal(#expected, #actual, what .. ": length")
  for i = 1, #expected do
    if not close(actual[i], expected[i]) then
      error(("%s: element %d is %.9g, torch.optim has %.9g"):format(what, i, actual[i], expected[i]), 2)
    end
  end
end

-- Problems (the same functions as the fixture script computes with autograd) -------------------

-- f(x) = 0.5 x'Ax - b'x, gradient Ax - b.
local function quadratic(problem)
  local a, b = T(problem.A), T(problem.b)
  local n = b:numel()
  local grad = T.zeros(n)
  return function(x)
    T.matmul(a, x:view(n, 1), false, false, grad:view(n, 1))
    grad:axpy(-1, b)
    local f = 0
    for i = 1, n do f = f + 0.5 * x[i] * (grad[i] + b[i]) - b[i] * x[i] end
    return f, grad
  end
end

-- Mean cross-entropy of a tanh network: logits = tanh(X W1' + b1) W2' + b2. The flat parameter
-- vector holds W1 (H, D), b1 (H), W2 (C, H), b2 (C) in that order; the gradient is backpropagated
-- by hand with matmul.
local function network(problem)
  local sz = problem.sizes
  local n, d, h, c = sz.inputs, sz.features, sz.hidden, sz.classes
  local inputs = T(problem.inputs) -- (N, D)
  local labels = problem.labels    -- 0-based classes
  local grad = T.zeros(h * d + h + c * h + c)
  local function parts(v) -- views of W1, b1, W2, b2 inside a flat vector
    return v:narrow(1, 1, h * d):view(h, d), v:narrow(1, h * d + 1, h),
      v:narrow(1, h * d + h + 1, c * h):view(c, h), v:narrow(1, h * d + h + c * h + 1, c)
  end
  local dw1, db1, dw2, db2 = parts(grad)
  return function(x)
    local w1, b1, w2, b2 = parts(x)
    local hidden = T.matmul(inputs, w1, false, true) -- (N, H)
    for i = 1, n do
      for j = 1, h do hidden:set(i, j, math.tanh(hidden:get(i, j) + b1[j])) end
    end
    local logits = T.matmul(hidden, w2, false, true) -- (N, C)
    local dlogits = T.zeros(n, c)
    local loss = 0
    for i = 1, n do
      local top, z = -math.huge, 0
      for k = 1, c do top = math.max(top, logits:get(i, k) + b2[k]) end
      for k = 1, c do z = z + math.exp(logits:get(i, k) + b2[k] - top) end
      for k = 1, c do
        local logp = logits:get(i, k) + b2[k] - top - math.log(z)
        local target = (k - 1 == labels[i]) and 1 or 0
        if target == 1 then loss = loss - logp / n end
        dlogits:set(i, k, (math.exp(logp) - target) / n)
      end
    end
    T.matmul(dlogits, hidden, true, false, dw2)                 -- (C, H)
    local dhidden = T.matmul(dlogits, w2)                      -- (N, H)
    for i = 1, n do
      for j = 1, h do
        local y = hidden:get(i, j)
        dhidden:set(i, j, dhidden:get(i, j) * (1 - y * y))
      end
    end
    T.matmul(dhidden, inputs, true, false, dw1)                -- (H, D)
    for j = 1, h do
      local s = 0
      for i = 1, n do s = s + dhidden:get(i, j) end
      db1[j] = s
    end
    for k = 1, c do
      local s = 0
      for i = 1, n do s = s + dlogits:get(i, k) end
      db2[k] = s
    end
    return loss, grad
  end
end

local PROBLEMS = { quadratic = quadratic, net = network }

local function copy_table(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy_table(v) or v end
  return out
end

-- A deep copy of an optimizer state: tensors cloned.
local function copy_state(state)
  local out = {}
  for k, v in pairs(state) do out[k] = T.is_tensor(v) and v:clone() or v end
  return out
end

-- Trajectories --------------------------------------------------------------------------------

describe("optim trajectories match torch.optim", function()
  for _, case in ipairs(fixture.cases) do
    for pname, make in pairs(PROBLEMS) do
      it(("%s on the %s"):format(case.name, pname), function()
        local problem, expected = fixture.problems[pname], case[pname]
        local feval = make(problem)
        local x = T(problem.x0)
        local config, state = copy_table(case.config), {}
        for step = 1, fixture.steps do
          local x_out, fx = optim[case.optimizer](feval, x, config, state)
          assert.equal(x, x_out)
          assert.equal(1, #fx)
          if not close(fx[1], expected.losses[step]) then
            error(("step %d: loss %.9g, torch.optim %.9g"):format(step, fx[1], expected.losses[step]))
          end
          assert_close_vector(x:totable(), expected.params[step], ("step %d params"):format(step))
        end
        assert.equal(fixture.steps, state.step)
        -- the run goes far beyond the tolerance, so a wrong formula cannot pass
        local moved = 0
        for i, v in ipairs(expected.params[fixture.steps]) do
          moved = math.max(moved, math.abs(v - problem.x0[i]))
        end
        assert.is_true(moved > 100 * TOL, ("moved only %g"):format(moved))
      end)
    end
  end
end)

describe("optim kernels", function()
  it("take one hand-computed SGD step (with momentum, the buffer starts as the gradient)", function()
    local x, buf, g = T { 1, 2 }, T.zeros(2), T { 0.5, -1 }
    core.sgd_update(x, buf, g, 0.1, 0.9, 0, 0, false, true)
    assert.same({ 0.5, -1 }, buf:totable())
    assert.is_true(math.abs(x[1] - 0.95) < 1e-7 and math.abs(x[2] - 2.1) < 1e-7)
    core.sgd_update(x, buf, g, 0.1, 0.9, 0, 0, false, false) -- buf = 0.9 buf + g
    assert.is_true(math.abs(buf[1] - 0.95) < 1e-7 and math.abs(x[1] - 0.855) < 1e-6)
  end)

  it("take one hand-computed Adam step: the first step moves every weight by lr", function()
    local x, m, v, g = T { 1, -1 }, T.zeros(2), T.zeros(2), T { 3, -0.25 }
    core.adam_update(x, m, v, g, 0.01, 0.9, 0.999, 0, 0, false, 1)
    assert.is_true(math.abs(x[1] - 0.99) < 1e-7 and math.abs(x[2] + 0.99) < 1e-7)
  end)

  it("reject vectors of other sizes, shared memory and bad steps", function()
    local x, g = T.zeros(4), T.zeros(4)
    assert.has_error(function() core.sgd_update(x, T.zeros(3), g, 0.1, 0.9, 0, 0, false, true) end,
      "sgd_update: momentum_buf has shape (3) (3 elements), params (4) (4 elements)")
    assert.has_error(function() core.sgd_update(x, nil, g, 0.1, 0.9, 0, 0, false, true) end,
      "sgd_update: momentum 0.9 needs a momentum_buf")
    assert.has_error(function() core.adam_update(x, x, T.zeros(4), g, 0.1, 0.9, 0.99, 1e-8, 0, false, 1) end,
      "adam_update: params and exp_avg share memory")
    assert.has_error(function() core.adam_update(x, T.zeros(4), T.zeros(4), g, 0.1, 0.9, 0.99, 1e-8, 0, false, 0) end,
      "adam_update: step must be a whole number >= 1, got 0")
    local arena = T.zeros(8)
    assert.has_error(function()
      core.adadelta_update(arena:narrow(1, 1, 4), arena:narrow(1, 4, 4), T.zeros(4), g, 1, 0.9, 1e-6, 0)
    end, "adadelta_update: params and square_avg share memory")
    assert.has_error(function() core.adadelta_update(x, T.zeros(4), T.zeros(4), g, "1", 0.9, 1e-6, 0) end,
      "adadelta_update: lr must be a number, got string")
  end)
end)

-- The config/state contract -------------------------------------------------------------------

local CONFIGS = {
  { "sgd", { learningRate = 0.1, momentum = 0.9, nesterov = true, weightDecay = 1e-3 },
    { "momentum_buffer" } },
  { "adam", { learningRate = 0.01, weightDecay = 0.1 }, { "exp_avg", "exp_avg_sq" } },
  { "adamw", {}, { "exp_avg", "exp_avg_sq" } },
  { "adadelta", { rho = 0.95 }, { "square_avg", "acc_delta" } },
}

describe("optim config and state", function()
  local problem = fixture.problems.net

  for _, entry in ipairs(CONFIGS) do
    local kind, config, moments = entry[1], entry[2], entry[3]

    it(kind .. " never writes config and keeps its moments in state, allocated once", function()
      local feval, x = network(problem), T(problem.x0)
      local config_copy, state = copy_table(config), {}
      optim[kind](feval, x, config, state)
      local first = {}
      for _, key in ipairs(moments) do
        assert.is_true(T.is_tensor(state[key]), key)
        assert.equal(x:numel(), state[key]:numel())
        first[key] = state[key]
      end
      for _ = 1, 4 do optim[kind](feval, x, config, state) end
      assert.same(config_copy, config)
      assert.equal(5, state.step)
      for _, key in ipairs(moments) do
        assert.equal(first[key], state[key]) -- the same tensor, updated in place
        assert.is_nil(config[key])
      end
    end)

    it(kind .. " resumes bit for bit from a saved copy of its state", function()
      local feval = network(problem)
      local x, state = T(problem.x0), {}
      for _ = 1, 3 do optim[kind](feval, x, config, state) end
      local saved_x, saved_state = x:clone(), copy_state(state)
      for _ = 1, 4 do optim[kind](feval, x, config, state) end
      local x2, state2 = saved_x, saved_state
      for _ = 1, 4 do optim[kind](feval, x2, config, state2) end
      assert.equal(x:tobytes(), x2:tobytes())
      for _, key in ipairs(moments) do assert.equal(state[key]:tobytes(), state2[key]:tobytes()) end
      assert.equal(7, state2.step)
      -- and a fresh state is not the same run (the comparison can fail)
      local x3 = saved_x:clone()
      for _ = 1, 4 do optim[kind](feval, x3, config, {}) end
      assert.not_equal(x:tobytes(), x3:tobytes())
    end)
  end

  it("uses config as the state when no state is given (Torch's default)", function()
    local feval, x = quadratic(fixture.problems.quadratic), T(fixture.problems.quadratic.x0)
    local config = { learningRate = 0.01 }
    optim.adam(feval, x, config)
    optim.adam(feval, x, config)
    assert.equal(2, config.step)
    assert.is_true(T.is_tensor(config.exp_avg))
    assert.equal(0.01, config.learningRate)
  end)

  it("runs with default hyper-parameters when config is {} or nil with a state", function()
    local feval, x = quadratic(fixture.problems.quadratic), T(fixture.problems.quadratic.x0)
    local state = {}
    optim.adadelta(feval, x, nil, state)
    assert.equal(1, state.step)
  end)

  it("returns x and {fx} where fx is feval's loss at the old x", function()
    local x = T { 3 }
    local _, fx = optim.sgd(function(p) return p[1] * p[1], T { 2 * p[1] } end, x, { learningRate = 0.25 }, {})
    assert.same({ 9 }, fx)
    assert.equal(1.5, x[1])
  end)
end)

-- StepLR ---------------------------------------------------------------------------------------

describe("optim.StepLR", function()
  for _, ref in ipairs(fixture.step_lr) do
    it(("matches torch's StepLR (lr %g, step_size %d, gamma %g)"):format(ref.base_lr, ref.step_size, ref.gamma), function()
      local sched = optim.StepLR(ref.base_lr, ref.step_size, ref.gamma)
      assert.equal(ref.lrs[1], sched:get_lr())
      for epoch = 2, #ref.lrs do
        assert.equal(ref.lrs[epoch], sched:step()) -- the same doubles, bit for bit
        assert.equal(ref.lrs[epoch], sched:get_lr())
        assert.equal(ref.lrs[epoch], sched.config.learningRate)
      end
      assert.equal(#ref.lrs - 1, sched.last_epoch)
    end)
  end

  it("owns a copy of the config and leaves the user's alone", function()
    local config = { learningRate = 1.0, rho = 0.95 }
    local sched = optim.StepLR(config, 1, 0.7)
    sched:step()
    assert.same({ learningRate = 1.0, rho = 0.95 }, config)
    assert.same({ learningRate = 0.7, rho = 0.95 }, sched.config)
    -- the optimizer reads the scheduled rate through the copy
    local x, state = T { 1 }, {}
    optim.sgd(function(p) return 0, T { 1 } end, x, { learningRate = sched:get_lr() }, state)
    local y = T { 1 }
    optim.sgd(function(p) return 0, T { 1 } end, y, sched.config, {})
    assert.equal(x[1], y[1])
    assert.is_true(math.abs(y[1] - 0.3) < 1e-7)
  end)

  it("saves and restores its position", function()
    local a = optim.StepLR(0.5, 2, 0.5)
    for _ = 1, 3 do a:step() end
    local b = optim.StepLR(0.5, 2, 0.5):load_state_dict(a:state_dict())
    assert.equal(a:step(), b:step())
    assert.equal(a:step(), b:step())
  end)

  it("defaults gamma to PyTorch's 0.1", function()
    local sched = optim.StepLR(1, 1)
    assert.equal(0.1, sched:step())
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() optim.StepLR({}, 1) end,
      "optim.StepLR: config.learningRate is missing: the schedule needs the base learning rate")
    assert.has_error(function() optim.StepLR(-1, 1) end, "optim.StepLR: the learning rate must be a number >= 0, got -1")
    assert.has_error(function() optim.StepLR(0.1, 0) end, "optim.StepLR: step_size must be a whole number >= 1, got 0")
    assert.has_error(function() optim.StepLR(0.1, 1.5) end, "optim.StepLR: step_size must be a whole number >= 1, got 1.5")
    assert.has_error(function() optim.StepLR(0.1, 1, -0.5) end, "optim.StepLR: gamma must be a number >= 0, got -0.5")
    assert.has_error(function() optim.StepLR("0.1", 1) end, "optim.StepLR: expected a config table or a learning rate, got string")
  end)
end)

-- Errors ---------------------------------------------------------------------------------------

describe("optim errors", function()
  local x = T { 1, 2, 3 }
  local function feval(p) return 1, T.zeros(p:numel()) end
  local function run(kind, config, f, params, state)
    return function() optim[kind](f or feval, params or x, config, state or {}) end
  end

  it("name bad hyper-parameters", function()
    assert.has_error(run("sgd", {}), "optim.sgd: config.learningRate is required (torch.optim.SGD has no default)")
    assert.has_error(run("sgd", { learningRate = -0.1 }), "optim.sgd: config.learningRate must be a number >= 0, got -0.1")
    assert.has_error(run("sgd", { learningRate = 0 / 0 }), "optim.sgd: config.learningRate must be a number >= 0, got nan")
    assert.has_error(run("sgd", { learningRate = "0.1" }), "optim.sgd: config.learningRate must be a number >= 0, got string")
    assert.has_error(run("sgd", { learningRate = 0.1, momentum = -0.5 }), "optim.sgd: config.momentum must be a number >= 0, got -0.5")
    assert.has_error(run("sgd", { learningRate = 0.1, weightDecay = -1 }), "optim.sgd: config.weightDecay must be a number >= 0, got -1")
    assert.has_error(run("sgd", { learningRate = 0.1, nesterov = 1 }), "optim.sgd: config.nesterov must be a boolean, got number")
    assert.has_error(run("sgd", { learningRate = 0.1, nesterov = true }),
      "optim.sgd: nesterov requires momentum > 0 and dampening 0, got momentum 0 and dampening 0")
    assert.has_error(run("sgd", { learningRate = 0.1, nesterov = true, momentum = 0.9, dampening = 0.1 }),
      "optim.sgd: nesterov requires momentum > 0 and dampening 0, got momentum 0.9 and dampening 0.1")
    assert.has_error(run("adam", { beta1 = 1 }), "optim.adam: config.beta1 must be a number in [0, 1), got 1")
    assert.has_error(run("adam", { beta2 = -0.1 }), "optim.adam: config.beta2 must be a number in [0, 1), got -0.1")
    assert.has_error(run("adamw", { beta2 = 1.5 }), "optim.adamw: config.beta2 must be a number in [0, 1), got 1.5")
    assert.has_error(run("adam", { epsilon = -1e-8 }), "optim.adam: config.epsilon must be a number >= 0, got -1e-08")
    assert.has_error(run("adamw", { learningRate = -1 }), "optim.adamw: config.learningRate must be a number >= 0, got -1")
    assert.has_error(run("adadelta", { rho = 1.1 }), "optim.adadelta: config.rho must be a number in [0, 1], got 1.1")
    assert.has_error(run("adadelta", { eps = -1 }), "optim.adadelta: config.eps must be a number >= 0, got -1")
    assert.has_error(run("adadelta", { weightDecay = -1 }), "optim.adadelta: config.weightDecay must be a number >= 0, got -1")
  end)

  it("point PyTorch spellings and wrong case at the right key", function()
    assert.has_error(run("sgd", { lr = 0.1 }), "optim.sgd: config key 'lr' is not known; did you mean learningRate?")
    assert.has_error(run("adam", { weight_decay = 0.1 }), "optim.adam: config key 'weight_decay' is not known; did you mean weightDecay?")
    assert.has_error(run("adam", { betas = { 0.9, 0.99 } }), "optim.adam: config key 'betas' is not known; did you mean beta1 and beta2?")
    assert.has_error(run("adam", { eps = 1e-8 }), "optim.adam: config key 'eps' is not known; did you mean epsilon?")
    assert.has_error(run("adadelta", { epsilon = 1e-6 }), "optim.adadelta: config key 'epsilon' is not known; did you mean eps?")
    assert.has_error(run("sgd", { learningrate = 0.1 }), "optim.sgd: config key 'learningrate' is not known; did you mean learningRate?")
  end)

  it("ignore keys that belong to no optimizer (one table may hold the run's settings)", function()
    assert.has_no.errors(run("adam", { epochs = 3, rho = 0.9 }))
  end)

  it("name a bad feval result", function()
    assert.has_error(run("sgd", { learningRate = 0.1 }, function() return nil, T.zeros(3) end),
      "optim.sgd: feval must return the loss as a number first, got nil")
    assert.has_error(run("adam", {}, function() return T { 1 }, T.zeros(3) end),
      "optim.adam: feval must return the loss as a number first, got userdata")
    assert.has_error(run("adamw", {}, function() return 1, { 0, 0, 0 } end),
      "optim.adamw: feval must return the gradient as a float32 tensor second, got table")
    assert.has_error(run("adadelta", {}, function() return 1, T.bytes(3) end),
      "optim.adadelta: feval must return the gradient as a float32 tensor second, got uint8 tensor")
    assert.has_error(run("sgd", { learningRate = 0.1 }, function() return 1, T.zeros(2, 2) end),
      "optim.sgd: feval returned a gradient of shape (2, 2) (4 elements) for x of shape (3) (3 elements)")
    assert.has_error(run("adam", {}, function() return 1, T.zeros(2) end),
      "optim.adam: feval returned a gradient of shape (2) (2 elements) for x of shape (3) (3 elements)")
  end)

  it("name bad arguments and a state from other parameters", function()
    assert.has_error(run("sgd", { learningRate = 0.1 }, 42), "optim.sgd: feval must be a function, got number")
    assert.has_error(run("adam", {}, nil, { 1, 2 }), "optim.adam: x must be a float32 tensor (the flat parameters), got table")
    assert.has_error(function() optim.adam(feval, x) end,
      "optim.adam: pass a config table (hyper-parameters, may be {}) and a state table (moments), "
      .. "or the moments are lost after this call")
    assert.has_error(function() optim.adam(feval, x, 0.1, {}) end, "optim.adam: config must be a table, got number")
    assert.has_error(function() optim.adam(feval, x, {}, "s") end, "optim.adam: state must be a table, got string")
    assert.has_error(run("adam", {}, nil, nil, { exp_avg = T.zeros(5) }),
      "optim.adam: state.exp_avg is a tensor of shape (5) but x has shape (3): is this the state of other parameters?")
    assert.has_error(run("sgd", { learningRate = 0.1, momentum = 0.9 }, nil, nil, { momentum_buffer = 1 }),
      "optim.sgd: state.momentum_buffer is number but x has shape (3): is this the state of other parameters?")
    assert.has_error(run("adadelta", {}, nil, nil, { step = -1 }), "optim.adadelta: state.step must be a whole number >= 0, got -1")
  end)

  it("leave x and state untouched when a step fails", function()
    local params, state = T { 1, 2, 3 }, {}
    assert.has_error(run("sgd", { learningRate = 0.1, momentum = 0.9 }, function() return 1, T.zeros(2) end, params, state))
    assert.same({ 1, 2, 3 }, params:totable())
    assert.is_nil(next(state))
  end)
end)
