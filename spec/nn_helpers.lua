-- Shared by the nn specs: fixtures as tensors, closeness with a clear report, and the
-- finite-difference gradient checker.   local H = dofile("spec/nn_helpers.lua")
local mnist = require "mnist"
local T = mnist.tensor

local H = {}

-- A Lua array of t's values in row-major order.
function H.values(t)
  return t:view(t:numel()):totable()
end

-- A tensor from a fixture {shape = {...}, data = {...}}.
function H.tensor(fixture)
  local t = T.zeros(fixture.shape)
  local flat = t:view(t:numel())
  for i, v in ipairs(fixture.data) do flat[i] = v end
  return t
end

function H.fill_uniform(t, lo, hi)
  mnist.random.default:fill_uniform(t, lo, hi)
  return t
end

local function same_shape(a, b)
  return T.shape_str(a) == (type(b) == "table" and "(" .. table.concat(b, ", ") .. ")" or T.shape_str(b))
end

-- Asserts |actual - expected| <= rtol * (|expected| + max|expected|) elementwise: relative to each
-- value and to the tensor's own scale (so values near 0 in a large tensor are not held to a
-- tolerance below float32 rounding). expected: a tensor or a fixture.
function H.assert_close(actual, expected, rtol, what)
  rtol = rtol or 1e-4
  local want = T.is_tensor(expected) and H.values(expected) or expected.data
  local shape = T.is_tensor(expected) and expected:size() or expected.shape
  assert(same_shape(actual, shape), ("%s: shape %s, expected (%s)"):format(what or "tensor",
    T.shape_str(actual), table.concat(shape, ", ")))
  local got = H.values(actual)
  local scale = 0
  for _, v in ipairs(want) do scale = math.max(scale, math.abs(v)) end
  for i, v in ipairs(want) do
    local err = math.abs(got[i] - v)
    if not (err <= rtol * (math.abs(v) + scale)) then
      error(("%s: element %d is %.9g, expected %.9g (error %.3g, tolerance %.3g)"):format(
        what or "tensor", i, got[i], v, err, rtol * (math.abs(v) + scale)), 2)
    end
  end
end

-- sum(a .* b) in double precision.
function H.dot(a, b)
  local x, y, s = H.values(a), H.values(b), 0
  for i = 1, #x do s = s + x[i] * y[i] end
  return s
end

local function max_abs(values)
  local m = 0
  for _, v in ipairs(values) do m = math.max(m, math.abs(v)) end
  return m
end

-- The largest |numeric - analytic| over the largest |analytic| (but at least `floor`, so that a
-- gradient that is exactly 0, like a conv bias before batch norm, is judged against the scale of
-- the module's other gradients rather than against float32 noise): the checker's figure of merit.
local function relative_error(numeric, analytic, floor)
  local worst, at = 0, 1
  for i = 1, #analytic do
    local err = math.abs(numeric[i] - analytic[i])
    if err > worst then worst, at = err, i end
  end
  return worst / math.max(max_abs(analytic), floor or 0, 1e-6), at
end

-- Central differences of f() w.r.t. every element of x (f reads x), as a Lua array.
local function numeric_gradient(f, x, eps)
  local flat, grad = x:view(x:numel()), {}
  for i = 1, x:numel() do
    local v = flat[i]
    flat[i] = v + eps
    local hi, up = flat[i], f()
    flat[i] = v - eps
    local lo, down = flat[i], f()
    flat[i] = v
    grad[i] = (up - down) / (hi - lo) -- the step float32 actually took, not the nominal 2*eps
  end
  return grad
end

-- The tensors of x (a tensor or a nested table of them), in order.
local function leaves(x, list)
  list = list or {}
  if T.is_tensor(x) then
    list[#list + 1] = x
  else
    for _, v in ipairs(x) do leaves(v, list) end
  end
  return list
end
H.leaves = leaves

-- The values of every tensor of x, one Lua array.
local function all_values(x)
  local out = {}
  for _, t in ipairs(leaves(x)) do
    for _, v in ipairs(H.values(t)) do out[#out + 1] = v end
  end
  return out
end

-- x's structure with every tensor replaced by f(tensor).
local function map(x, f)
  if T.is_tensor(x) then return f(x) end
  local out = {}
  for i, v in ipairs(x) do out[i] = map(v, f) end
  return out
end

-- Checks a module's gradients against central differences of L(x, params) = sum(forward(x) .* g)
-- for a fixed random g: the gradient w.r.t. the input and every parameter. Input, output and
-- their gradients may be tensors or (nested) tables of tensors (containers, table modules).
-- Returns a table of relative errors {input = e, [param index] = e} and raises when one exceeds
-- opts.tol.
--   opts.eps (1e-2), opts.tol (1e-3), opts.before_forward (e.g. reseed the dropout generator)
function H.check_gradients(module, input, opts)
  opts = opts or {}
  local eps, tol = opts.eps or 1e-2, opts.tol or 1e-3
  local prepare = opts.before_forward or function() end
  prepare()
  local out = module:forward(input)
  local g = map(out, function(t) return H.fill_uniform(T.zeros(t:size()), -1, 1) end)
  local g_leaves = leaves(g)
  local function loss()
    prepare()
    local s = 0
    for k, t in ipairs(leaves(module:forward(input))) do s = s + H.dot(t, g_leaves[k]) end
    return s
  end
  prepare()
  module:forward(input)
  module:zeroGradParameters()
  local gradInput = module:backward(input, g)
  local params, grads = module:parameters()
  local analytic = { input = all_values(gradInput) }
  local largest = max_abs(analytic.input)
  for k = 1, #grads do
    analytic[k] = H.values(grads[k])
    largest = math.max(largest, max_abs(analytic[k]))
  end
  local errors, report = {}, {}
  local function check(name, numeric, exact)
    local err, at = relative_error(numeric, exact, 0.1 * largest)
    errors[name] = err
    if not (err <= tol) then
      report[#report + 1] = ("%s: relative error %.3g > %.3g (worst element %d: numeric %.6g, analytic %.6g)")
        :format(name, err, tol, at, numeric[at], exact[at])
    end
  end
  local numeric_input = {}
  for _, x in ipairs(leaves(input)) do
    for _, v in ipairs(numeric_gradient(loss, x, eps)) do numeric_input[#numeric_input + 1] = v end
  end
  check("input", numeric_input, analytic.input)
  for k = 1, #params do
    check("parameter " .. k, numeric_gradient(loss, params[k], eps), analytic[k])
  end
  if #report > 0 then error(tostring(module) .. ": " .. table.concat(report, "; "), 2) end
  return errors
end

-- The same for a criterion: L = crit:forward(x, target), gradient crit:backward(x, target).
function H.check_criterion(crit, input, target, opts)
  opts = opts or {}
  local eps, tol = opts.eps or 1e-2, opts.tol or 1e-3
  crit:forward(input, target)
  local analytic = H.values(crit:backward(input, target))
  local numeric = numeric_gradient(function() return crit:forward(input, target) end, input, eps)
  local err, at = relative_error(numeric, analytic)
  if not (err <= tol) then
    error(("%s: relative error %.3g > %.3g (element %d: numeric %.6g, analytic %.6g)"):format(
      tostring(crit), err, tol, at, numeric[at], analytic[at]), 2)
  end
  return err
end

-- A tensor of distinct values spread over [lo, hi] in random order, at least `gap` apart: max
-- pooling has no ties and a perturbation of less than gap/2 never changes a window's winner.
function H.distinct(shape, lo, hi)
  local t = T.zeros(shape)
  local n = t:numel()
  local perm = mnist.random.default:permutation(n)
  local flat = t:view(n)
  for i = 1, n do flat[i] = lo + (hi - lo) * (perm[i] - 1) / math.max(n - 1, 1) end
  return t
end

-- Uniform values in [-hi, -lo] or [lo, hi]: away from ReLU's kink at 0.
function H.away_from_zero(shape, lo, hi)
  local t = H.fill_uniform(T.zeros(shape), -1, 1)
  local flat = t:view(t:numel())
  for i = 1, t:numel() do
    local v = flat[i]
    flat[i] = (v < 0 and -1 or 1) * (lo + (hi - lo) * math.abs(v))
  end
  return t
end

-- The default model of DESIGN.md section 4 (the model issue owns the real constructor).
function H.default_model()
  local nn = mnist.nn
  return nn.Sequential()
    :add(nn.SpatialConvolution(1, 32, 3, 3)):add(nn.ReLU())
    :add(nn.SpatialConvolution(32, 64, 3, 3)):add(nn.ReLU())
    :add(nn.SpatialMaxPooling(2, 2)):add(nn.SpatialBatchNormalization(64))
    :add(nn.Flatten()):add(nn.Linear(9216, 128)):add(nn.ReLU())
    :add(nn.BatchNormalization(128)):add(nn.Linear(128, 10)):add(nn.LogSoftMax())
end

function H.read_json(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return require("cjson").decode(s)
end

return H
