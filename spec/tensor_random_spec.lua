-- Random fills and constructors (Torch7's uniform, normal, bernoulli, random, exponential, rand,
-- randn, randperm, range, linspace, logspace, eye). Fixed values come from
-- spec/fixtures/tensor_random.json, which spec/fixtures/make_tensor_random_fixtures.py computes
-- from the generator's documented algorithm in Python, independently of the C code.
local torch = require "mnist.torch"
local random = require "mnist.random"

local H = require "spec.support.helpers"

local fixture = H.read_json("spec/fixtures/tensor_random.json")

local function flat(t)
  local out, c = {}, t:contiguous():view(t:numel())
  for i = 1, t:numel() do out[i] = c[i] end
  return out
end

-- mean and (biased) variance of a float tensor, in double
local function moments(t)
  local n, s, ss = t:numel(), 0, 0
  local v = flat(t)
  for i = 1, n do s = s + v[i] end
  local mean = s / n
  for i = 1, n do ss = ss + (v[i] - mean) ^ 2 end
  return mean, ss / n
end

local function check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.truthy(tostring(err):find(pattern, 1, true), ("error %q does not contain %q"):format(tostring(err), pattern))
end

describe("tensor random fills: fixed values for fixed seeds", function()
  for _, c in ipairs(fixture.cases) do
    it(c.name .. " (seed " .. c.seed .. ")", function()
      local base = torch[({ float32 = "FloatTensor", uint8 = "ByteTensor", int64 = "LongTensor" })[c.dtype]](unpack(c.shape))
      local target = base
      if c.view == "t" then target = base:t()
      elseif c.view then target = base[{ {}, c.view }] end
      assert.is_false(c.view ~= nil and target:isContiguous() and target:dim() > 1)
      torch.manualSeed(c.seed)
      local args = c.args
      if c.probs then args = { torch.Tensor(c.probs) } end
      local ret = target[c.fill](target, unpack(args))
      assert.equal(target, ret)
      local got = flat(base)
      assert.equal(#c.expected, #got)
      for i, want in ipairs(c.expected) do
        if c.fill == "normal" or c.fill == "exponential" then
          assert.near(want, got[i], 1e-6 * math.max(1, math.abs(want)), c.name .. " element " .. i)
        else
          assert.equal(want, got[i], c.name .. " element " .. i)
        end
      end
      -- the fill drew exactly one value per element: the generator is where a fresh one is after
      -- as many draws (uniform and the integer fills draw one 64-bit number per element)
      if c.fill == "uniform" or c.fill == "random" and c.args[#c.args] < 2 ^ 20 then
        local fresh = random.generator(c.seed)
        for _ = 1, target:numel() do fresh:uniform() end
        assert.equal(fresh:uniform(), random.default:uniform())
      end
    end)
  end

  it("randperm gives the fixture's permutation and agrees with rng:permutation", function()
    for _, c in ipairs(fixture.randperm) do
      torch.manualSeed(c.seed)
      local p = torch.randperm(c.n)
      assert.equal("torch.LongTensor", p:type())
      assert.same({ c.n }, p:size())
      assert.same(c.expected, p:totable())
      assert.same(c.expected, random.generator(c.seed):permutation(c.n))
    end
  end)

  it("rng:fill_uniform, used by the nn init, draws the same values as x:uniform", function()
    local a, b = torch.Tensor(4, 5), torch.Tensor(4, 5)
    random.generator(77):fill_uniform(a, -0.5, 0.5)
    torch.manualSeed(77)
    b:uniform(-0.5, 0.5)
    assert.same(a:totable(), b:totable())
    -- and it now takes views too
    local c = torch.zeros(5, 4)
    random.generator(77):fill_uniform(c:t(), -0.5, 0.5)
    assert.same(a:totable(), c:t():totable())
  end)
end)

describe("tensor random fills: repeatability and views", function()
  it("the same seed gives the same tensors; another seed others", function()
    torch.manualSeed(123)
    local a = torch.rand(3, 4)
    local n1 = torch.randn(10)
    torch.manualSeed(123)
    local b = torch.rand(3, 4)
    local n2 = torch.randn(10)
    assert.same(a:totable(), b:totable())
    assert.same(n1:totable(), n2:totable())
    torch.manualSeed(124)
    assert.not_same(a:totable(), torch.rand(3, 4):totable())
  end)

  it("fills a transposed view in the view's row-major order, touching nothing else", function()
    local x = torch.zeros(3, 4)
    torch.manualSeed(5)
    x:t():uniform()
    torch.manualSeed(5)
    local y = torch.rand(4, 3)
    assert.same(y:totable(), x:t():totable())
    local z = torch.zeros(3, 4)
    z[{ {}, 2 }]:normal(10, 1)
    for r = 1, 3 do
      for c = 1, 4 do
        if c == 2 then assert.is_true(z[r][c] > 5) else assert.equal(0, z[r][c]) end
      end
    end
  end)

  it("torch.rand(res, sizes) fills res; x:rand/zeros/ones resize x", function()
    local res = torch.Tensor()
    assert.equal(res, torch.rand(res, 2, 5))
    assert.same({ 2, 5 }, res:size())
    assert.equal(res, torch.randn(res, { 3 }))
    assert.same({ 3 }, res:size())
    assert.equal(res, torch.zeros(res, 2, 2))
    assert.same({ { 0, 0 }, { 0, 0 } }, res:totable())
    assert.same({ { 1, 1, 1 } }, torch.ones(1, 3):totable())
    local l = torch.LongTensor()
    assert.equal(l, torch.ones(l, 2))
    assert.same({ 1, 1 }, l:totable())
    assert.equal("torch.LongTensor", l:type())
    assert.same({ 4, 2 }, torch.zeros(torch.LongTensor { 4, 2 }):size()) -- a lone LongTensor is a size
  end)
end)

describe("tensor random fills: statistics of large samples", function()
  local N = 200000

  it("uniform(a, b): inside [a, b), mean (a+b)/2, variance (b-a)^2/12", function()
    torch.manualSeed(1)
    local x = torch.Tensor(N):uniform(-2, 3)
    local mean, var = moments(x)
    assert.near(0.5, mean, 0.02)
    assert.near(25 / 12, var, 0.03)
    local lo, hi = math.huge, -math.huge
    for _, v in ipairs(flat(x)) do lo, hi = math.min(lo, v), math.max(hi, v) end
    assert.is_true(lo >= -2 and hi < 3)
    mean, var = moments(torch.rand(N))
    assert.near(0.5, mean, 0.005)
    assert.near(1 / 12, var, 0.002)
  end)

  it("normal(mean, std) and randn", function()
    torch.manualSeed(2)
    local mean, var = moments(torch.Tensor(N):normal(1, 2))
    assert.near(1, mean, 0.02)
    assert.near(4, var, 0.06)
    mean, var = moments(torch.randn(N))
    assert.near(0, mean, 0.01)
    assert.near(1, var, 0.015)
  end)

  it("exponential(lambda): mean 1/lambda, variance 1/lambda^2, never negative", function()
    torch.manualSeed(3)
    local x = torch.Tensor(N):exponential(2)
    local mean, var = moments(x)
    assert.near(0.5, mean, 0.01)
    assert.near(0.25, var, 0.01)
    for _, v in ipairs(flat(x)) do assert(v >= 0) end
  end)

  it("bernoulli(p) on every dtype: 0 or 1 at rate p; with a tensor of probabilities", function()
    torch.manualSeed(4)
    for _, ctor in ipairs { "FloatTensor", "ByteTensor", "LongTensor" } do
      local x = torch[ctor](N):bernoulli(0.3)
      local ones = 0
      for _, v in ipairs(flat(x)) do
        assert(v == 0 or v == 1)
        ones = ones + v
      end
      assert.near(0.3, ones / N, 0.005) -- 5 standard deviations
    end
    local p = torch.Tensor(N)
    for i = 1, N do p[i] = i % 2 == 0 and 0.9 or 0.1 end
    local x = torch.ByteTensor(N):bernoulli(p)
    local even, odd = 0, 0
    for i, v in ipairs(flat(x)) do
      if i % 2 == 0 then even = even + v else odd = odd + v end
    end
    assert.near(0.9, even / (N / 2), 0.01)
    assert.near(0.1, odd / (N / 2), 0.01)
    local half = torch.Tensor(N):bernoulli()
    assert.near(0.5, half:sum() / N, 0.006)
  end)

  it("random(a, b) covers a..b uniformly (chi-square); random(b) 1..b; random() the dtype's range", function()
    torch.manualSeed(6)
    local x = torch.LongTensor(60000):random(-1, 4)
    local counts = {}
    for _, v in ipairs(flat(x)) do
      assert(v >= -1 and v <= 4 and v == math.floor(v))
      counts[v] = (counts[v] or 0) + 1
    end
    local chi2 = 0
    for v = -1, 4 do chi2 = chi2 + ((counts[v] or 0) - 10000) ^ 2 / 10000 end
    assert.is_true(chi2 < 20.5, "chi-square " .. chi2) -- p < 0.001 at 5 degrees of freedom
    local f = torch.Tensor(1000):random(3)
    for _, v in ipairs(flat(f)) do assert(v == 1 or v == 2 or v == 3) end
    local b = torch.ByteTensor(20000):random()
    local seen, lo, hi = 0, 255, 0
    local hit = {}
    for _, v in ipairs(flat(b)) do
      if not hit[v] then hit[v], seen = true, seen + 1 end
      lo, hi = math.min(lo, v), math.max(hi, v)
    end
    assert.equal(256, seen)
    assert.same({ 0, 255 }, { lo, hi })
    local big = torch.Tensor(1000):random()
    assert.is_true(big:max() > 2 ^ 20 and big:max() <= 2 ^ 24)
  end)

  it("randperm(n) is a permutation of 1..n; two seeds give two orders", function()
    torch.manualSeed(8)
    local p = torch.randperm(1000)
    local seen = {}
    for _, v in ipairs(p:totable()) do
      assert.is_nil(seen[v])
      seen[v] = true
    end
    for i = 1, 1000 do assert.is_true(seen[i]) end
    torch.manualSeed(9)
    assert.not_same(p:totable(), torch.randperm(1000):totable())
    local f = torch.Tensor():randperm(5) -- res form keeps res's dtype
    assert.equal("torch.FloatTensor", f:type())
    local values = f:totable()
    table.sort(values)
    assert.same({ 1, 2, 3, 4, 5 }, values)
  end)
end)

describe("tensor constructors", function()
  it("range(a, b [, step]) includes b, Torch7's examples", function()
    assert.same({ 2, 3, 4, 5 }, torch.range(2, 5):totable())
    local r = torch.range(2, 5, 1.2)
    assert.same({ 3 }, r:size())
    for i, v in ipairs { 2, 3.2, 4.4 } do assert.near(v, r[i], 1e-6) end
    assert.same({ 5, 3, 1 }, torch.range(5, 1, -2):totable())
    assert.same({ 7 }, torch.range(7, 7):totable())
    assert.same({ 0, 0.25, 0.5, 0.75, 1 }, torch.range(0, 1, 0.25):totable())
    local l = torch.LongTensor()
    assert.equal(l, torch.range(l, 1, 4))
    assert.same({ 1, 2, 3, 4 }, l:totable())
    assert.equal("torch.FloatTensor", torch.range(1, 3):type())
  end)

  it("linspace and logspace include both ends; 100 points by default", function()
    local x = torch.linspace(-1, 1, 5)
    assert.same({ -1, -0.5, 0, 0.5, 1 }, x:totable())
    local d = torch.linspace(0, 1)
    assert.same({ 100 }, d:size())
    assert.near(1 / 99, d[2], 1e-7)
    assert.equal(1, d[100])
    assert.same({ 3 }, torch.linspace(3, 3, 1):totable())
    local g = torch.logspace(0, 3, 4)
    for i, v in ipairs { 1, 10, 100, 1000 } do assert.near(v, g[i], 1e-4) end
    assert.same({ 100 }, torch.logspace(-1, 1):size())
    local res = torch.Tensor(2, 2)
    assert.equal(res, torch.linspace(res, 0, 3, 4))
    assert.same({ 0, 1, 2, 3 }, res:totable())
  end)

  it("eye(n [, m]) and its res form", function()
    assert.same({ { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, torch.eye(3):totable())
    assert.same({ { 1, 0, 0 }, { 0, 1, 0 } }, torch.eye(2, 3):totable())
    assert.same({ { 1, 0 }, { 0, 1 }, { 0, 0 } }, torch.eye(3, 2):totable())
    local l = torch.LongTensor(7)
    assert.equal(l, torch.eye(l, 2))
    assert.same({ { 1, 0 }, { 0, 1 } }, l:totable())
    assert.same({ { 1 } }, torch.eye(1):totable())
  end)

  it("number forms: torch.uniform, normal, random, bernoulli, exponential", function()
    torch.manualSeed(10)
    for _ = 1, 200 do
      local u = torch.uniform(2, 4)
      assert(u >= 2 and u < 4)
      local r = torch.random(3, 5)
      assert(r == 3 or r == 4 or r == 5)
      local k = torch.random(2)
      assert(k == 1 or k == 2)
      local b = torch.bernoulli(0.5)
      assert(b == 0 or b == 1)
      assert(torch.exponential(3) >= 0)
      local big = torch.random()
      assert(big >= 1 and big <= 2 ^ 32 and big == math.floor(big))
    end
    assert.equal("number", type(torch.normal(0, 1)))
  end)
end)

describe("tensor random fills and constructors: bad calls", function()
  it("names the function and the problem", function()
    check_error("uniform: expected a float32 tensor, got int64", function() torch.LongTensor(3):uniform() end)
    check_error("normal: expected a float32 tensor, got uint8", function() torch.ByteTensor(3):normal() end)
    check_error("normal: std must be >= 0, got -1", function() torch.Tensor(3):normal(0, -1) end)
    check_error("uniform: lower bound 2 is above the upper bound 1", function() torch.Tensor(3):uniform(2, 1) end)
    check_error("exponential: lambda must be a positive number, got 0", function() torch.Tensor(3):exponential(0) end)
    check_error("bernoulli: p must be in [0, 1], got 1.5", function() torch.Tensor(3):bernoulli(1.5) end)
    check_error("bernoulli: probabilities (2) have 2 elements, the tensor (3) has 3",
      function() torch.Tensor(3):bernoulli(torch.Tensor(2)) end)
    check_error("bernoulli: probabilities must be a float32 tensor, got int64",
      function() torch.Tensor(3):bernoulli(torch.LongTensor(3)) end)
    check_error("bernoulli: bad argument: every probability must be in [0, 1]",
      function() torch.Tensor(2):bernoulli(torch.Tensor { 0.5, 2 }) end)
    check_error("random: bounds 1..300 do not fit a uint8 tensor", function() torch.ByteTensor(3):random(300) end)
    check_error("random: bounds -1..3 do not fit a uint8 tensor", function() torch.ByteTensor(3):random(-1, 3) end)
    check_error("random: lower bound 5 is above the upper bound 2", function() torch.LongTensor(3):random(5, 2) end)
    check_error("random: upper bound must be a whole number", function() torch.LongTensor(3):random(2.5) end)
    check_error("randperm: n must be a whole number >= 1, got 0", function() torch.randperm(0) end)
    check_error("randperm: 300 does not fit a uint8 tensor", function() torch.ByteTensor():randperm(300) end)
    check_error("range: step must not be 0", function() torch.range(1, 2, 0) end)
    check_error("range: a step of 1 never goes from 5 to 1", function() torch.range(5, 1) end)
    check_error("linspace: one point needs a == b", function() torch.linspace(0, 1, 1) end)
    check_error("linspace: n must be a whole number >= 1, got 0", function() torch.linspace(0, 1, 0) end)
    check_error("eye: n must be a whole number >= 1, got 0", function() torch.eye(0) end)
    check_error("range: values from 250 by 10 over 2 elements do not fit a uint8 tensor",
      function() torch.ByteTensor():range(250, 260, 10) end)
  end)

  it("a refused fill draws nothing", function()
    torch.manualSeed(31)
    pcall(function() torch.Tensor(3):bernoulli(torch.Tensor { 0.5, 2, 0.5 }) end)
    pcall(function() torch.ByteTensor(3):random(300) end)
    local after = random.default:uniform()
    assert.equal(random.generator(31):uniform(), after)
  end)
end)
