local mnist = require "mnist"
local random = mnist.random

describe("random generator", function()
  it("matches xoshiro256** seeded by splitmix64 (values from an independent Python implementation)", function()
    local rng = random.generator(42)
    assert.near(0.08386297105988216, rng:uniform(), 1e-15)
    assert.near(0.3789802506626686, rng:uniform(), 1e-15)
    assert.near(0.6800434110281394, rng:uniform(), 1e-15)
    -- float draws use the top 24 bits of the same stream
    local t = mnist.tensor(3)
    random.generator(42):fill_uniform(t, 0, 1)
    assert.same({ 0.08386296033859253, 0.37898021936416626, 0.6800433993339539 }, t:totable())
  end)

  it("repeats for the same seed and differs for another", function()
    local a, b, c = random.generator(7), random.generator(7), random.generator(8)
    local same, differ = true, false
    for _ = 1, 100 do
      local x, y, z = a:uniform(), b:uniform(), c:uniform()
      same = same and x == y
      differ = differ or x ~= z
    end
    assert.is_true(same)
    assert.is_true(differ)
  end)

  it("manual_seed resets the default generator", function()
    mnist.manual_seed(123)
    local first = random.default:uniform()
    mnist.manual_seed(123)
    assert.equal(first, random.default:uniform())
  end)

  it("saves and restores its state", function()
    local rng = random.generator(5)
    rng:uniform()
    local state = rng:state()
    assert.equal(32, #state)
    local expected = { rng:uniform(), rng:random(10), rng:normal() }
    rng:set_state(state)
    assert.same(expected, { rng:uniform(), rng:random(10), rng:normal() })
    assert.has_error(function() rng:set_state("short") end, "rng:set_state: state must be 32 bytes, got 5")
    assert.has_error(function() rng:set_state(("\0"):rep(32)) end, "rng:set_state: an all-zero state is invalid")
  end)

  it("draws integers uniformly in 1..n (chi-square, 6 bins)", function()
    local rng, counts, n = random.generator(1), { 0, 0, 0, 0, 0, 0 }, 60000
    for _ = 1, n do
      local k = rng:random(6)
      counts[k] = counts[k] + 1
    end
    local chi2 = 0
    for k = 1, 6 do chi2 = chi2 + (counts[k] - n / 6) ^ 2 / (n / 6) end
    assert.is_true(chi2 < 20.5, "chi-square " .. chi2) -- p < 0.001 at 5 degrees of freedom
  end)

  it("makes permutations that hold every index once", function()
    local perm = random.generator(3):permutation(1000)
    local seen = {}
    for _, i in ipairs(perm) do
      assert.is_nil(seen[i])
      seen[i] = true
    end
    assert.equal(1000, #perm)
    for i = 1, 1000 do assert.is_true(seen[i]) end
    assert.not_same(random.generator(3):permutation(10), random.generator(4):permutation(10))
  end)

  it("fills tensors with the requested moments", function()
    local t = mnist.tensor(100000)
    local rng = random.generator(9)
    rng:fill_uniform(t, -2, 2)
    local lo, hi = math.huge, -math.huge
    for i = 1, 1000 do lo, hi = math.min(lo, t[i]), math.max(hi, t[i]) end
    assert.is_true(lo >= -2 and hi < 2)
    assert.near(0, t:mean(), 0.02)
    rng:fill_normal(t, 3, 2)
    assert.near(3, t:mean(), 0.03)
    local var = (t - t:mean()):cmul(t - t:mean()):mean()
    assert.near(4, var, 0.1)
  end)

  it("rejects bad seeds and bounds", function()
    assert.has_error(function() random.generator(-1) end, "rng: seed must be a whole number from 0 to 2^53, got -1")
    assert.has_error(function() random.generator(1.5) end)
    assert.has_error(function() random.generator(1):random(0) end, "rng:random: n must be a whole number >= 1, got 0")
    assert.has_error(function() random.generator(1):permutation(-3) end)
    assert.has_error(function() random.generator(1):fill_uniform(mnist.tensor.bytes(2), 0, 1) end)
  end)
end)
