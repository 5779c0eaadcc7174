-- The vectorised tanh, sigmoid, log-sigmoid and ELU (csrc/nn/activation_simd.h) on every
-- instruction set this machine can run (MNIST_GEMM_KERNEL=generic / avx2 / avx512, one child
-- process each): forward and the exp-based gradients against libm in double precision over a
-- dense range with the extremes (large |x|, subnormals, +-0, +-inf, NaN), each x86 path
-- against the portable path (GNU C vectors of 4 floats, lane by lane as a scalar loop), in place against out of place, 1 thread against 3.
--
-- Stated accuracy: within MAX_ULP ulp of the double-precision result rounded to float (ulps of
-- the result; below FLT_MIN a subnormal ulp, 2^-149), NaN exactly where libm gives NaN, +-inf
-- exactly where it does; each vector path within MAX_ULP_PATHS ulp of the portable path.
local H = require "spec.support.helpers"
local core = require "mnist.core"

local MAX_ULP = 4
local MAX_ULP_PATHS = 4

-- Prints "path <name>", then per function "fn <name> <worst ulp> <at x> <mismatched specials>"
-- and "same <what> <true|false>"; writes the outputs' float bytes to $ACT_OUT.
local CHILD = [[
local ffi = require "ffi"
local mnist = require "mnist"
local T, core = mnist.tensor, mnist.core
local inf, nan = math.huge, 0 / 0

-- the inputs: a dense grid, powers of two from the smallest subnormal to the largest float
-- (both signs, a few mantissas), the edges of every clamp, and the specials
local xs = {}
for i = -200000, 200000 do xs[#xs + 1] = i * 5e-4 end            -- [-100, 100]
for i = -100000, 100000 do xs[#xs + 1] = i * 1e-5 end            -- [-1, 1]
for e = -149, 127 do
  for _, m in ipairs { 1, 1.1, 1.5, 1.96875 } do
    local v = m * 2 ^ e
    if v < 3.4e38 then xs[#xs + 1] = v; xs[#xs + 1] = -v end
  end
end
for _, v in ipairs { 0, 86.99, 87, 87.01, 87.3, 87.34, 87.5, 88, 88.37, 88.72, 88.73, 89, 90, 100, 103,
  103.97, 104, 110, 7.9, 7.9053, 7.91, 9, 16, 17, 3.4028234e38, inf } do
  xs[#xs + 1] = v; xs[#xs + 1] = -v
end
xs[#xs + 1] = nan
xs[#xs + 1] = 1e-45
local n = #xs
assert(n % 64 ~= 0, "a tail too")

local function tensor_of(values)
  local buf = ffi.new("float[?]", #values)
  for i = 1, #values do buf[i - 1] = values[i] end
  return T.fromraw(ffi.string(buf, 4 * #values), { #values })
end
local function floats(t)
  local s = t:tobytes()
  local keep = ffi.new("float[?]", t:numel())
  ffi.copy(keep, s, #s)
  return keep
end
local x = tensor_of(xs)
local X = floats(x)
local grads = {}
for i = 1, n do grads[i] = ((i * 7919) % 2001 - 1000) / 1000 end
local dy = tensor_of(grads)
local G = floats(dy)

-- double-precision references
local function expm1(v) return math.abs(v) < 1e-5 and v + v * v / 2 + v * v * v / 6 or math.exp(v) - 1 end
local function log1p(v) return math.abs(v) < 1e-5 and v - v * v / 2 + v * v * v / 3 or math.log(1 + v) end
local function sigmoid(v)
  if v ~= v then return v end
  if v >= 0 then return 1 / (1 + math.exp(-v)) end
  local e = math.exp(v)
  return e / (1 + e)
end
local function logsigmoid(v)
  if v ~= v then return v end
  return math.min(v, 0) - log1p(math.exp(-math.abs(v)))
end
local function elu(alpha) return function(v) if v ~= v then return v end return v > 0 and v or alpha * expm1(v) end end

-- the error of got (float) against want (double) in ulps of want rounded to float
local f1 = ffi.new("float[1]")
local function ulp_error(got, want)
  if want ~= want then return got ~= got and 0 or nil end
  if want == inf or want == -inf then return got == want and 0 or nil end
  if got ~= got or got == inf or got == -inf then return nil end
  f1[0] = want
  local _, e = math.frexp(math.abs(f1[0])) -- the float is m 2^e, m in [0.5, 1)
  local ulp = math.max(2 ^ (e - 24), 2 ^ -149)
  return math.abs(got - want) / ulp
end

local outs = {}
local function check(name, got, ref)
  local worst, at, bad = 0, 0, 0
  for i = 0, n - 1 do
    local e = ulp_error(got[i], ref(i))
    if e == nil then bad = bad + 1
    elseif e > worst then worst, at = e, X[i] end
  end
  print(("fn %s %.3f %.9g %d"):format(name, worst, at, bad))
end

print("path " .. core.blas_info().activations)
local forward = {
  { "tanh", "tanh", math.tanh }, { "sigmoid", "sigmoid", sigmoid }, { "logsigmoid", "logsigmoid", logsigmoid },
  { "elu1", "elu", elu(1), 1 }, { "elu0.3", "elu", elu(0.30000001192092896), 0.30000001192092896 },
}
local same_inplace, same_threads = true, true
for _, f in ipairs(forward) do
  local y = T.zeros(n)
  core.activation_forward(y, x, f[2], f[4])
  local Y = floats(y)
  check(f[1], Y, function(i) return f[3](X[i]) end)
  outs[#outs + 1] = y:tobytes()
  local z = x:clone()
  core.activation_forward(z, z, f[2], f[4])
  same_inplace = same_inplace and z:tobytes() == y:tobytes()
  core.blas_set_threads(3)
  local w = T.zeros(n)
  core.activation_forward(w, x, f[2], f[4])
  core.blas_set_threads(1)
  same_threads = same_threads and w:tobytes() == y:tobytes()
  if f[2] == "logsigmoid" then -- the gradient dy sigmoid(-x), from the input
    local dx = T.zeros(n)
    core.activation_backward(dx, dy, x, y, "logsigmoid")
    check("logsigmoid_grad", floats(dx), function(i) return G[i] * sigmoid(-X[i]) end)
    outs[#outs + 1] = dx:tobytes()
    local g = dy:clone()
    core.activation_backward(g, g, x, y, "logsigmoid")
    same_inplace = same_inplace and g:tobytes() == dx:tobytes()
  elseif f[2] == "elu" then -- dy where y > 0, else dy (y + alpha), from the output
    local dx, a = T.zeros(n), f[4]
    core.activation_backward(dx, dy, x, y, "elu", a)
    check("grad_" .. f[1], floats(dx), function(i) return Y[i] > 0 and G[i] or G[i] * (Y[i] + a) end)
    -- (not compared across paths: where y is near -alpha, y + alpha magnifies y's last bit)
    local yy = y:clone() -- after an in-place forward: input and output the same tensor
    core.activation_backward(yy, dy, yy, yy, "elu", a)
    same_inplace = same_inplace and yy:tobytes() == dx:tobytes()
  end
end
print("same inplace " .. tostring(same_inplace))
print("same threads " .. tostring(same_threads))
local f = assert(io.open(os.getenv("ACT_OUT"), "wb"))
f:write(table.concat(outs))
f:close()
]]

local ffi = require "ffi"

-- The largest difference in ulps between two float arrays of the same bytes length (NaN = NaN).
local function ulp_diff(a, b)
  assert(#a == #b)
  local n = #a / 4
  local ia, ib = ffi.new("int32_t[?]", n), ffi.new("int32_t[?]", n)
  ffi.copy(ia, a, #a)
  ffi.copy(ib, b, #b)
  local fa, fb = ffi.cast("float *", ia), ffi.cast("float *", ib)
  local worst, at = 0, nil
  for i = 0, n - 1 do
    if not (fa[i] ~= fa[i] and fb[i] ~= fb[i]) then
      -- ordered integers: the distance in representable floats
      local x, y = ia[i], ib[i]
      if x < 0 then x = -2147483648 - x end
      if y < 0 then y = -2147483648 - y end
      if math.abs(x - y) > worst then worst, at = math.abs(x - y), i end
    end
  end
  return worst, at
end

describe("the vectorised activations", function()
  local best = core.blas_info().gemm
  local dir = H.tmpdir()
  local outputs = {}
  teardown(function() H.rm(dir) end)
  for _, kernel in ipairs { "generic", "avx2", "avx512" } do
    it(("match libm within %d ulp with MNIST_GEMM_KERNEL=%s (or the best the CPU has)"):format(MAX_ULP, kernel), function()
      local file = dir .. "/" .. kernel
      local out = H.luajit(CHILD, ("env MNIST_GEMM_KERNEL=%s ACT_OUT=%s"):format(kernel, H.quote(file)))
      local path = out:match("path (%S+)")
      assert.is_not_nil(path, out)
      if kernel == "generic" or kernel == best then assert.equal(kernel, path, out) end
      local fns = 0
      for name, worst, at, bad in out:gmatch("fn (%S+) (%S+) (%S+) (%d+)") do
        fns = fns + 1
        assert.equal("0", bad, ("%s: NaN or inf where libm differs (%s)\n%s"):format(name, path, out))
        assert.is_true(tonumber(worst) <= MAX_ULP, ("%s: %s ulp at x = %s (%s)\n%s"):format(name, worst, at, path, out))
      end
      assert.equal(8, fns, out)
      assert.truthy(out:find("same inplace true", 1, true), out)
      assert.truthy(out:find("same threads true", 1, true), out)
      outputs[path] = H.read(file)
    end)
  end
  it(("give each vector path within %d ulp of the portable path"):format(MAX_ULP_PATHS), function()
    assert.is_not_nil(outputs.generic)
    local compared = 0
    for path, bytes in pairs(outputs) do
      if path ~= "generic" then
        compared = compared + 1
        local d, at = ulp_diff(bytes, outputs.generic)
        assert.is_true(d <= MAX_ULP_PATHS, ("%s: %d ulp from the portable path (output %d of %d)"):format(
          path, d, at, #bytes / 4))
      end
    end
    if best ~= "generic" then assert.is_true(compared >= 1) end
  end)
end)
