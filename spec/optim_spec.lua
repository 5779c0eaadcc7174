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

-- Optimizers that differ from torch.optim by design, or have no counterpart ----------------------

local function near(actual, expected, tol, what)
  if math.abs(actual - expected) > tol * math.max(1, math.abs(expected)) then
    error(("%s: %.9g, expected %.9g"):format(what or "value", actual, expected), 2)
  end
end

-- f(x) = (x - 3)^2 in one dimension, its gradient a new tensor each call.
local function parabola(p)
  local v = p[1]
  return (v - 3) ^ 2, T { 2 * (v - 3) }
end

-- The 2-D Rosenbrock function, as the fixture script's.
local function rosenbrock(p)
  local a, b = p[1], p[2]
  return (1 - a) ^ 2 + 100 * (b - a * a) ^ 2, T { -2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a) }
end

describe("optim.nag (Torch7's Nesterov momentum)", function()
  for _, case_name in ipairs(fixture.nag_cases) do
    it("evaluates the gradient where torch.optim.SGD(nesterov) does: " .. case_name, function()
      local case
      for _, c in ipairs(fixture.cases) do if c.name == case_name then case = c end end
      for pname, make in pairs(PROBLEMS) do
        local problem, expected = fixture.problems[pname], case[pname]
        local feval, x, state = make(problem), T(problem.x0), {}
        local config = { learningRate = case.config.learningRate, momentum = case.config.momentum,
          weightDecay = case.config.weightDecay }
        for step = 1, fixture.steps do
          local _, fx = optim.nag(feval, x, config, state)
          near(fx[1], expected.losses[step], 1e-5, ("%s step %d loss"):format(pname, step))
          -- PyTorch's parameters are the look-ahead point: ours plus momentum * velocity
          local ahead = x:clone()
          core.vec_axpby(ahead, config.momentum, state.dfdx, 1)
          assert_close_vector(ahead:totable(), expected.params[step], ("%s step %d"):format(pname, step))
        end
      end
    end)
  end

  it("takes hand-computed steps with Torch7's learning-rate decay", function()
    -- f = x^2 / 2 (gradient x), lr 0.1, momentum 0.5, decay 1: clr = 0.1, then 0.05
    local x, state = T { 2 }, {}
    local config = { learningRate = 0.1, momentum = 0.5, learningRateDecay = 1 }
    local seen = {}
    local function feval(p) seen[#seen + 1] = p[1]; return p[1] ^ 2 / 2, T { p[1] } end
    optim.nag(feval, x, config, state)  -- g(2) = 2: v = -0.2, x = 1.8
    near(x[1], 1.8, 1e-7)
    near(state.dfdx[1], -0.2, 1e-7)
    optim.nag(feval, x, config, state)  -- look-ahead 1.8 - 0.1 = 1.7: v = -0.1 - 0.085, x = 1.615
    assert.same({ 2, 1.7 }, { seen[1], tonumber(("%.6f"):format(seen[2])) })
    near(x[1], 1.615, 1e-6)
    near(state.dfdx[1], -0.185, 1e-6)
    assert.equal(2, state.step)
  end)

  it("requires momentum > 0", function()
    assert.has_error(function() optim.nag(parabola, T { 0 }, { momentum = 0 }, {}) end,
      "optim.nag: config.momentum must be a number > 0, got 0")
  end)
end)

describe("Torch7's hyper-parameters", function()
  it("sgd: learningRateDecay anneals lr / (1 + (step - 1) decay)", function()
    local x, state = T { 1 }, {}
    local config = { learningRate = 0.1, learningRateDecay = 0.5 }
    local function constant(p) return 0, T { 1 } end
    local expected = 1
    for step = 1, 4 do
      optim.sgd(constant, x, config, state)
      expected = expected - 0.1 / (1 + (step - 1) * 0.5)
      near(x[1], expected, 1e-6, "step " .. step)
    end
  end)

  it("sgd: dampening scales the gradient added to the momentum buffer (not on the first step)", function()
    local x, state = T { 0 }, {}
    local config = { learningRate = 1, momentum = 0.5, dampening = 0.9 }
    local function constant(p) return 0, T { 1 } end
    optim.sgd(constant, x, config, state) -- buf = 1
    optim.sgd(constant, x, config, state) -- buf = 0.5 + 0.1 = 0.6
    near(state.momentum_buffer[1], 0.6, 1e-7)
    near(x[1], -1.6, 1e-6)
  end)

  it("adagrad: the first step moves by about lr, the epsilon outside the root", function()
    local x, state = T { 1, -1 }, {}
    optim.adagrad(function() return 0, T { 4, -0.5 } end, x, { learningRate = 0.045 }, state)
    near(x[1], 1 - 0.045 * 4 / (4 + 1e-10), 1e-7)
    near(x[2], -1 + 0.045 * 0.5 / (0.5 + 1e-10), 1e-7)
    assert.same({ 16, 0.25 }, state.sum:totable())
    -- epsilon outside: with a zero gradient and eps 1, sqrt(0) + 1 = 1 and nothing moves
    local y = T { 1 }
    optim.adagrad(function() return 0, T { 0 } end, y, { epsilon = 1 }, {})
    assert.equal(1, y[1])
  end)

  it("rmsprop: Torch7's defaults and initialMean, epsilon outside the root", function()
    local x, state = T { 0 }, {}
    optim.rmsprop(function() return 0, T { 2 } end, x, { initialMean = 3, epsilon = 0.5 }, state)
    local square_avg = 0.99 * 3 + 0.01 * 4
    near(state.square_avg[1], square_avg, 1e-6)
    near(x[1], -0.01 * 2 / (math.sqrt(square_avg) + 0.5), 1e-6)
  end)

  it("asgd: the average is the iterate until t0, then a running mean; returns it third", function()
    local x, state = T { 4 }, {}
    local config = { eta0 = 0.1, lambda = 0, alpha = 0, t0 = 2 } -- alpha 0: eta stays 0.1
    local function constant(p) return 0, T { 1 } end
    local _, _, ax = optim.asgd(constant, x, config, state) -- x 3.9, ax = x
    assert.equal(x[1], ax[1])
    optim.asgd(constant, x, config, state)                   -- x 3.8, mu 1 -> ax = x
    near(ax[1], 3.8, 1e-6)
    optim.asgd(constant, x, config, state)                   -- x 3.7, mu = 1 / (2 - 2) -> 1
    near(ax[1], 3.7, 1e-6)
    optim.asgd(constant, x, config, state)                   -- t 3 -> mu 1: x 3.6, ax 3.6
    near(state.mu_t, 1 / 2, 1e-12)                            -- after t = 4: 1 / (4 - 2)
    optim.asgd(constant, x, config, state)                   -- x 3.5, ax = 3.6 + (3.5 - 3.6) / 2
    near(ax[1], 3.55, 1e-6)
    near(x[1], 3.5, 1e-6)
  end)
end)

describe("optim.lbfgs, optim.lswolfe, optim.polyinterp", function()
  it("matches torch.optim.LBFGS without a line search on Rosenbrock", function()
    local ref = fixture.lbfgs
    local x, state = T(ref.x0), {}
    local config = { maxIter = ref.max_iter, learningRate = ref.learningRate }
    for call = 1, #ref.losses do
      local _, f_hist, evals = optim.lbfgs(rosenbrock, x, config, state)
      assert.equal(ref.n_iter[call], state.nIter)
      assert.equal(ref.func_evals[call], state.funcEval)
      assert.equal(ref.max_iter, evals) -- one evaluation per iteration, none after the last
      -- rounding differences grow along Rosenbrock's valley: the first 16 iterations are compared
      if call <= 4 then
        near(f_hist[1], ref.losses[call], 1e-4, "loss of call " .. call)
        near(x[1], ref.params[call][1], 1e-4, "x[1] after call " .. call)
        near(x[2], ref.params[call][2], 1e-4, "x[2] after call " .. call)
      end
    end
  end)

  it("with lswolfe, counts iterations and evaluations as torch.optim.LBFGS(strong_wolfe) on Rosenbrock", function()
    -- the two line searches differ by design (see optim.lswolfe) but not on this path
    local ref = fixture.lbfgs_strong_wolfe
    local x, state = T(ref.x0), {}
    local config = { maxIter = ref.max_iter, lineSearch = optim.lswolfe }
    for call = 1, #ref.losses do
      optim.lbfgs(rosenbrock, x, config, state)
      assert.equal(ref.n_iter[call], state.nIter)
      assert.equal(ref.func_evals[call], state.funcEval)
      if call <= 4 then
        near(x[1], ref.params[call][1], 1e-4, "x[1] after call " .. call)
        near(x[2], ref.params[call][2], 1e-4, "x[2] after call " .. call)
      end
    end
    -- and it goes on to the minimum (1, 1)
    optim.lbfgs(rosenbrock, x, { maxIter = 100, lineSearch = optim.lswolfe }, state)
    near(x[1], 1, 1e-3, "x[1]")
    near(x[2], 1, 1e-3, "x[2]")
  end)

  it("lswolfe: a hand-computed search on (x - 3)^2", function()
    -- from 0 along d = 6 with t = 1: x = 6 overshoots (f 9 > 9 - 1e-4 * 36), the bracket [0, 1]
    -- and its cubic (exact for a parabola) gives t = 0.5, x = 3, where the slope is 0: done
    local x = T { 0 }
    local f, g, x_out, t, evals = optim.lswolfe(parabola, x, 1, T { 6 }, 9, T { -6 }, -36)
    assert.equal(x, x_out)
    assert.same({ 0, 0.5, 2, 3 }, { f, t, evals, x[1] })
    assert.equal(0, g[1])
    -- a step that already satisfies the conditions is taken as it is (one evaluation)
    local y = T { 0 }
    local f2, _, _, t2, evals2 = optim.lswolfe(parabola, y, 0.45, T { 6 }, 9, T { -6 }, -36)
    assert.same({ 0.45, 1 }, { t2, evals2 })
    near(f2, (2.7 - 3) ^ 2, 1e-6)
  end)

  it("lswolfe: extrapolates (bounded to 10 t) when the first step is too short", function()
    -- from 0 along d = 1 with t = 0.01 on (x - 3)^2: f falls and the slope stays steep, so the
    -- cubic through t_prev = 0 and t is minimised over [t + 0.01 t, 10 t] = [0.0101, 0.1]: 0.1
    local evaluated = {}
    local function f(p) evaluated[#evaluated + 1] = p[1]; return parabola(p) end
    local x = T { 0 }
    optim.lswolfe(f, x, 0.01, T { 1 }, 9, T { -6 }, -6)
    near(evaluated[1], 0.01, 1e-7)
    near(evaluated[2], 0.1, 1e-6)
  end)

  it("polyinterp: the cubic's minimum, clamped; with bounds the lowest point", function()
    -- f(x) = (x - 1)^2 from points 0 and 3: the minimiser 1
    near(optim.polyinterp({ { 0, 1, -2 }, { 3, 4, 4 } }), 1, 1e-12)
    near(optim.polyinterp({ { 3, 4, 4 }, { 0, 1, -2 } }), 1, 1e-12)
    -- f(x) = x^3 - 3x (local minimum at 1) through -2 and 2; no bounds: clamped to [-2, 2] -> 1
    near(optim.polyinterp({ { -2, -2, 9 }, { 2, 2, 9 } }), 1, 1e-12)
    -- with bounds [-3, 3]: the lowest value of the cubic there is at -3 (f = -18)
    near(optim.polyinterp({ { -2, -2, 9 }, { 2, 2, 9 } }, -3, 3), -3, 1e-12)
    -- with bounds [0, 3]: the local minimum 1 (f = -2) beats 0 (0) and 3 (18)
    near(optim.polyinterp({ { -2, -2, 9 }, { 2, 2, 9 } }, 0, 3), 1, 1e-12)
    assert.has_error(function() optim.polyinterp({ { 0, 1, 2 } }) end,
      "optim.polyinterp: points must be two {x, f, g} triplets (the cubic case of Torch7's polyinterp)")
  end)

  it("stops at once at an optimum (sum |g| <= tolFun) and names bad settings", function()
    local x, state = T { 3 }, {}
    local _, f_hist, evals = optim.lbfgs(parabola, x, {}, state)
    assert.same({ { 0 }, 1, 3 }, { f_hist, evals, x[1] })
    assert.has_error(function() optim.lbfgs(parabola, x, { maxIter = 0 }, {}) end,
      "optim.lbfgs: config.maxIter must be a whole number >= 1, got 0")
    assert.has_error(function() optim.lbfgs(parabola, x, { lineSearch = "wolfe" }, {}) end,
      "optim.lbfgs: config.lineSearch must be a function, got string")
    assert.has_error(function() optim.lbfgs(parabola, x, { line_search_fn = "strong_wolfe" }, {}) end,
      "optim.lbfgs: config key 'line_search_fn' is not known; did you mean lineSearch (a function, e.g. optim.lswolfe)?")
  end)
end)

describe("optim.cg", function()
  it("takes a hand-computed line search on (x - 3)^2", function()
    -- from 0: s = 6, d1 = -36, first step z1 = 1 / (1 + 36); the slope stays steep, so it
    -- extrapolates by ext = 3 (z = 3/37, 9/37), then the cubic fit, exact on a parabola, lands on
    -- z = 1/2, x = 3
    local points = {}
    local function f(p) points[#points + 1] = p[1]; return parabola(p) end
    local x = T { 0 }
    local _, fx, evals = optim.cg(f, x, { maxEval = 5 }, {})
    local expected = { 0, 6 / 37, 18 / 37, 54 / 37, 3 }
    assert.equal(5, evals)
    for i, v in ipairs(expected) do near(points[i], v, 1e-6, "evaluation " .. i) end
    assert.equal(2, #fx)
    assert.equal(9, fx[1])
    near(fx[2], 0, 1e-10)
  end)

  it("solves a 5-D quadratic", function()
    local problem = fixture.problems.quadratic
    local feval, x, state = quadratic(problem), T(problem.x0), {}
    local _, fx, evals = optim.cg(feval, x, { maxIter = 20, maxEval = 100 }, state)
    -- the minimiser solves A x = b: check the gradient A x - b
    local _, g = feval(x)
    for i = 1, 5 do assert.is_true(math.abs(g[i]) < 1e-4, ("gradient %d is %g"):format(i, g[i])) end
    for i = 2, #fx do assert.is_true(fx[i] < fx[i - 1], "f decreases at every line search") end
    assert.is_true(evals <= 101)
  end)

  it("minimises Rosenbrock and respects maxEval", function()
    local x, state = T { -1.2, 1 }, {}
    local calls = 0
    local function counted(p) calls = calls + 1; return rosenbrock(p) end
    local _, _, evals = optim.cg(counted, x, { maxEval = 30 }, state)
    assert.equal(calls, evals)
    assert.is_true(evals <= 31, "evaluations " .. evals)
    for _ = 1, 20 do optim.cg(rosenbrock, x, { maxEval = 100 }, state) end
    near(x[1], 1, 1e-3, "x[1]")
    near(x[2], 1, 1e-3, "x[2]")
  end)
end)

-- Schedules -------------------------------------------------------------------------------------

describe("learning-rate schedules match torch.optim.lr_scheduler", function()
  for _, ref in ipairs(fixture.schedules) do
    local args = {}
    for i, a in ipairs(ref.args) do args[i] = a end
    local label = ("%s(%s)"):format(ref.kind, cjson.encode(ref.args))
    it(label .. " " .. cjson.encode(ref.opts), function()
      local sched
      if ref.kind == "MultiStepLR" then
        sched = optim.MultiStepLR(ref.lr, args[1], ref.opts.gamma)
      elseif ref.kind == "CosineAnnealingLR" then
        sched = optim.CosineAnnealingLR(ref.lr, args[1], ref.opts.eta_min)
      elseif ref.kind == "OneCycleLR" then
        sched = optim.OneCycleLR({ learningRate = ref.lr }, args[1], ref.opts)
      else
        sched = optim.LinearLR(ref.lr, args[1], args[2], args[3])
      end
      near(sched:get_lr(), ref.lrs[1], 1e-12, "rate before any step")
      for k = 2, #ref.lrs do near(sched:step(), ref.lrs[k], 1e-12, "rate after step " .. (k - 1)) end
      assert.equal(ref.kind == "OneCycleLR" or ref.kind == "LinearLR", sched.per_step == true)
    end)
  end

  it("hand-computed: cosine halfway, one-cycle's peak, warm-up's end", function()
    local cosine = optim.CosineAnnealingLR(1, 4, 0.2)
    cosine:step()
    near(cosine:step(), 0.6, 1e-15) -- halfway: (1 + 0.2) / 2
    local cycle = optim.OneCycleLR(0.5, 10) -- peak at step 0.3 * 10 - 1 = 2
    near(cycle:get_lr(), 0.02, 1e-15)
    cycle:step()
    near(cycle:step(), 0.5, 1e-15)
    for _ = 3, 9 do cycle:step() end
    near(cycle:get_lr(), 0.02 / 1e4, 1e-15) -- the last step: initial / final_div_factor
    assert.has_error(function() cycle:step() cycle:step() end, "optim.OneCycleLR: stepped 11 times, but total_steps is 10")
    local warm = optim.LinearLR(0.3, 3, 0.1)
    assert.same({ 0.03 }, { warm:get_lr() })
    warm:step() warm:step() warm:step()
    near(warm:get_lr(), 0.3, 1e-15)
    near(warm:step(), 0.3, 1e-15)
  end)

  it("save and restore their position", function()
    local a = optim.OneCycleLR(0.1, 20)
    for _ = 1, 7 do a:step() end
    local b = optim.OneCycleLR(0.1, 20):load_state_dict(a:state_dict())
    assert.equal(a:step(), b:step())
  end)

  it("reject bad arguments, naming them", function()
    assert.has_error(function() optim.MultiStepLR(0.1, { 3, 2 }) end,
      "optim.MultiStepLR: milestones must be increasing whole numbers >= 1, got 2 at position 2")
    assert.has_error(function() optim.CosineAnnealingLR(0.1, 0) end,
      "optim.CosineAnnealingLR: T_max must be a whole number >= 1, got 0")
    assert.has_error(function() optim.OneCycleLR(0.1, 3) end,
      "optim.OneCycleLR: pct_start 0.3 of 3 steps leaves a phase without steps")
    assert.has_error(function() optim.OneCycleLR(0.1, 10, { anneal_strategy = "exp" }) end,
      "optim.OneCycleLR: anneal_strategy must be 'cos' or 'linear', got exp")
    assert.has_error(function() optim.LinearLR(0.1, 5, 0) end,
      "optim.LinearLR: start_factor must be in (0, 1], got 0")
  end)
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
    assert.has_error(function() core.adagrad_update(x, T.zeros(5), g, 0.1, 1e-10, 0) end,
      "adagrad_update: sum has shape (5) (5 elements), params (4) (4 elements)")
    assert.has_error(function() core.rmsprop_update(x, T.zeros(4), nil, nil, g, 0.1, 0.99, 1e-8, 0, 0.9) end,
      "rmsprop_update: momentum 0.9 needs a momentum_buf")
    assert.has_error(function() core.rmsprop_update(x, T.zeros(4), x, nil, g, 0.1, 0.99, 1e-8, 0, 0) end,
      "rmsprop_update: params and grad_avg share memory")
    assert.has_error(function() core.nag_update(x, T.zeros(4), T.zeros(3), 0.1, 0.9, 0, true) end,
      "nag_update: grads has shape (3) (3 elements), params (4) (4 elements)")
    assert.has_error(function() core.asgd_update(x, g, g, 0.1, 0, 1) end,
      "asgd_update: ax and grads share memory")
    assert.has_error(function() core.vec_dot(x, T.zeros(3)) end,
      "vec_dot: size mismatch: (4) (4 elements) vs (3) (3 elements)")

  end)
end)

-- The config/state contract -------------------------------------------------------------------

local CONFIGS = {
  { "sgd", { learningRate = 0.1, momentum = 0.9, nesterov = true, weightDecay = 1e-3 },
    { "momentum_buffer" } },
  { "adam", { learningRate = 0.01, weightDecay = 0.1 }, { "exp_avg", "exp_avg_sq" } },
  { "adamw", {}, { "exp_avg", "exp_avg_sq" } },
  { "adadelta", { rho = 0.95 }, { "square_avg", "acc_delta" } },
  { "adagrad", { learningRate = 0.05, learningRateDecay = 0.01 }, { "sum" } },
  { "rmsprop", { centered = true, momentum = 0.5 }, { "square_avg", "grad_avg", "momentum_buffer" } },
  { "nag", { learningRate = 0.01 }, { "dfdx" } },
  { "asgd", { eta0 = 0.05, t0 = 2 }, { "ax" } },
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
