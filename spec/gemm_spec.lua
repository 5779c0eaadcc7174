-- Our sgemm (csrc/gemm.c) and the kernels' threads (csrc/parallel.c): every micro-kernel against
-- a plain Lua product, edge tiles and transposes included, and results that depend on the thread
-- count only (bitwise the same from run to run).
local mnist = require "mnist"
local T, core, nn = mnist.tensor, mnist.core, mnist.nn

local function uniform(...)
  local t = T.zeros(...)
  mnist.random.default:fill_uniform(t, -1, 1)
  return t
end

-- Each kernel runs in its own process (the choice is made once per process). The child prints
-- the largest error of T.matmul against a Lua triple loop over shapes that leave partial tiles
-- in both directions and split K into blocks.
local CHILD = [[
local mnist = require "mnist"
local T = mnist.tensor
mnist.random.manual_seed(3)
local function uniform(r, c)
  local t = T.zeros(r, c)
  mnist.random.default:fill_uniform(t, -1, 1)
  return t
end
local worst = 0
for _, s in ipairs { { 1, 1, 1 }, { 9, 33, 7 }, { 17, 50, 300 }, { 70, 5, 401 }, { 3, 40, 900 }, { 1, 40, 300 }, { 2, 17, 33 } } do
  local m, n, k = s[1], s[2], s[3]
  for ta = 0, 1 do
    for tb = 0, 1 do
      local a = ta == 1 and uniform(k, m) or uniform(m, k)
      local b = tb == 1 and uniform(n, k) or uniform(k, n)
      local c = uniform(m, n)
      local c0 = c:clone()
      mnist.core.matmul(c, a, b, ta == 1, tb == 1, 0.5, 2)
      for i = 1, m do
        for j = 1, n do
          local sum = 0
          for p = 1, k do
            local av = ta == 1 and a:get(p, i) or a:get(i, p)
            local bv = tb == 1 and b:get(j, p) or b:get(p, j)
            sum = sum + av * bv
          end
          local want = 0.5 * sum + 2 * c0:get(i, j)
          worst = math.max(worst, math.abs(c:get(i, j) - want) / math.sqrt(k))
        end
      end
    end
  end
end
io.write(mnist.core.blas_info().gemm, " ", worst)
]]

local function run_child(kernel)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(CHILD)
  f:close()
  local p = io.popen(("MNIST_GEMM_KERNEL=%s luajit %s 2>&1"):format(kernel, path))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out
end

describe("gemm", function()
  local best = core.blas_info().gemm
  for _, kernel in ipairs { "generic", "avx2", "avx512" } do
    it(("matches a plain product with the %s micro-kernel (or the best the CPU has)"):format(kernel),
      function()
        local out = run_child(kernel)
        local name, err = out:match("^(%S+) (%S+)$")
        assert.is_not_nil(name, out)
        if kernel == "generic" then assert.equal("generic", name) end
        if kernel == best then assert.equal(best, name) end
        assert.is_true(tonumber(err) < 1e-5, out)
      end)
  end

  it("splits over threads without changing a single bit", function()
    local threads = core.blas_info().threads
    local a, b = uniform(37, 300), uniform(300, 333)
    local outs = {}
    for n = 1, 3 do
      core.blas_set_threads(n)
      outs[n] = T.matmul(a, b):tobytes()
    end
    core.blas_set_threads(threads)
    assert.equal(outs[1], outs[2])
    assert.equal(outs[1], outs[3])
  end)
end)

describe("threads in the convolution", function()
  local function pass(threads, x, g)
    local saved = core.blas_info().threads
    core.blas_set_threads(threads)
    mnist.random.manual_seed(5)
    local conv = nn.SpatialConvolution(6, 10, 3, 3)
    local y = conv:forward(x):tobytes()
    conv:zeroGradParameters()
    local gi = conv:backward(x, g):tobytes()
    local gw = conv.gradWeight:clone()
    core.blas_set_threads(saved)
    return y, gi, gw
  end

  it("gives bitwise the same results for a given thread count, and the same outputs for any", function()
    mnist.random.manual_seed(9)
    local x, g = uniform(13, 6, 12, 12), uniform(13, 10, 10, 10)
    local y1, gi1, gw1 = pass(1, x, g)
    local y2, gi2, gw2 = pass(2, x, g)
    local y2b, gi2b, gw2b = pass(2, x, g)
    assert.equal(y2, y2b)
    assert.equal(gi2, gi2b)
    assert.equal(gw2:tobytes(), gw2b:tobytes())
    -- each output and input gradient element is one image's sum: the split does not touch it
    assert.equal(y1, y2)
    assert.equal(gi1, gi2)
    -- the weight gradient adds the threads' partial sums: equal up to rounding
    local v1, v2, worst = gw1:view(gw1:numel()):totable(), gw2:view(gw2:numel()):totable(), 0
    for i = 1, #v1 do worst = math.max(worst, math.abs(v1[i] - v2[i])) end
    assert.is_true(worst < 1e-4, tostring(worst))
  end)
end)
