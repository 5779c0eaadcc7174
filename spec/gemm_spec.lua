-- Our sgemm (csrc/tensor/gemm.c) and the kernels' threads (csrc/sys/parallel.c): every micro-kernel against
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
for _, s in ipairs { { 1, 1, 1 }, { 9, 33, 7 }, { 17, 50, 300 }, { 70, 5, 401 }, { 3, 40, 900 }, { 1, 40, 300 }, { 2, 17, 33 }, { 16, 45, 20 }, { 8, 12, 400 } } do
  local m, n, k = s[1], s[2], s[3]
  -- alpha, beta: scaled (through a tile buffer), and 1, 0 / 1, 1 (tiles written in place)
  for ab = 1, 3 do
  local alpha, beta = ({ 0.5, 1, 1 })[ab], ({ 2, 0, 1 })[ab]
  for ta = 0, 1 do
    for tb = 0, 1 do
      local a = ta == 1 and uniform(k, m) or uniform(m, k)
      local b = tb == 1 and uniform(n, k) or uniform(k, n)
      local c = uniform(m, n)
      local c0 = c:clone()
      mnist.core.matmul(c, a, b, ta == 1, tb == 1, alpha, beta)
      for i = 1, m do
        for j = 1, n do
          local sum = 0
          for p = 1, k do
            local av = ta == 1 and a:get(p, i) or a:get(i, p)
            local bv = tb == 1 and b:get(j, p) or b:get(p, j)
            sum = sum + av * bv
          end
          local want = alpha * sum + beta * c0:get(i, j)
          worst = math.max(worst, math.abs(c:get(i, j) - want) / math.sqrt(k))
        end
      end
    end
  end
  end
end
io.write(mnist.core.blas_info().gemm, " ", worst)
]]

-- The output of a luajit child running `script`, with MNIST_GEMM_KERNEL=kernel unless kernel is
-- false (the best the CPU has).
local function run_child(script, kernel)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local env = kernel and ("MNIST_GEMM_KERNEL=" .. kernel .. " ") or ""
  local p = io.popen(env .. "luajit " .. path .. " 2>&1")
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out
end

describe("gemm", function()
  local best = core.blas_info().gemm
  for _, kernel in ipairs { "generic", "avx2", "avx512", "neon" } do
    it(("matches a plain product with the %s micro-kernel (or the best the CPU has)"):format(kernel),
      function()
        local out = run_child(CHILD, kernel)
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

describe("the kernels' threads", function()
  -- The workers run the core's code until the process ends, so the core must stay mapped when Lua
  -- closes its C modules at exit (a worker in unmapped code crashed about one exit in 20). A
  -- child drops every reference to the core with dlclose after the workers started: the core
  -- stays loaded.
  local CHILD = [[
local core = require "mnist.core"
local T = require "mnist.tensor"
core.blas_set_threads(2)
T.matmul(T.zeros(64, 512), T.zeros(512, 512)) -- two threads: the workers start
local ffi = require "ffi"
ffi.cdef "void *dlopen(const char *, int); int dlclose(void *);"
local path = package.searchpath("mnist.core", package.cpath)
for _ = 1, 20 do
  local h = ffi.C.dlopen(path, 4 + 2) -- RTLD_NOLOAD | RTLD_NOW: a reference, if still loaded
  if h == nil then break end
  ffi.C.dlclose(h)
  ffi.C.dlclose(h) -- one more than taken
end
local maps = assert(io.open("/proc/self/maps")):read("*a")
io.write(maps:find(path, 1, true) and "mapped" or "unmapped")
io.flush()
os.exit(0)
]]

  it("keep the core loaded after Lua lets it go", function()
    assert.equal("mapped", run_child(CHILD, false))
  end)
end)

-- Winograd convolutions' outputs and input gradients (batch >= 4, so the Winograd path is taken)
-- against plain double-precision loops, out[n][o][y][x] = bias[o] + sum over c, a, b of
-- w[o][c][a][b] * in[n][c][y+a-p][x+b-p] and the input gradient, its adjoint; with one and two
-- threads, which must agree bitwise. The cases cover odd and even output sizes, paddings 0 to 2,
-- blocks of tiles that span images (12x11: 150 tiles), tile rows of more than one vector (37
-- wide: 19 tiles) and a single tile. A child process per micro-kernel choice (the generic one
-- takes the plain C transforms) prints its worst error.
local FORWARD = [[
local mnist = require "mnist"
local T, nn = mnist.tensor, mnist.nn
local worst, same = 0, true
-- { images, input channels, output channels, height, width, padding }
for _, case in ipairs { { 5, 8, 9, 7, 9, 0 }, { 5, 8, 9, 6, 6, 1 }, { 5, 8, 9, 5, 8, 2 },
                        { 5, 8, 9, 12, 11, 1 }, { 4, 8, 9, 9, 37, 1 }, { 6, 8, 8, 3, 3, 0 } } do
  local n, c, o, h, w, pad = unpack(case)
  local oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
  mnist.random.manual_seed(11)
  local conv = nn.SpatialConvolution(c, o, 3, 3, 1, 1, pad, pad)
  local x, gout = T.zeros(n, c, h, w), T.zeros(n, o, oh, ow)
  mnist.random.default:fill_uniform(x, -1, 1)
  mnist.random.default:fill_uniform(gout, -1, 1)
  local runs = {}
  for threads = 1, 2 do
    mnist.core.blas_set_threads(threads)
    local y = conv:forward(x)
    local gx = conv:updateGradInput(x, gout)
    runs[threads] = { y:view(y:numel()):totable(), gx:view(gx:numel()):totable(), y:tobytes() .. gx:tobytes() }
  end
  same = same and runs[1][3] == runs[2][3]
  local yv, gxv = runs[1][1], runs[1][2]
  local xv, gv = x:view(x:numel()):totable(), gout:view(gout:numel()):totable()
  local wv, bv = conv.weight:view(conv.weight:numel()):totable(), conv.bias:totable()
  local gx_ref = {}
  for i = 1, n * c * h * w do gx_ref[i] = 0 end
  for i = 0, n - 1 do
    for oo = 0, o - 1 do
      for yy = 0, oh - 1 do
        for xx = 0, ow - 1 do
          local sum, g = bv[oo + 1], gv[((i * o + oo) * oh + yy) * ow + xx + 1]
          for cc = 0, c - 1 do
            for a = 0, 2 do
              local iy = yy + a - pad
              if iy >= 0 and iy < h then
                for b = 0, 2 do
                  local ix = xx + b - pad
                  if ix >= 0 and ix < w then
                    local wt, at = wv[((oo * c + cc) * 3 + a) * 3 + b + 1], ((i * c + cc) * h + iy) * w + ix + 1
                    sum = sum + wt * xv[at]
                    gx_ref[at] = gx_ref[at] + wt * g
                  end
                end
              end
            end
          end
          local got = yv[((i * o + oo) * oh + yy) * ow + xx + 1]
          worst = math.max(worst, math.abs(got - sum) / (1 + math.abs(sum)))
        end
      end
    end
  end
  for i = 1, #gx_ref do worst = math.max(worst, math.abs(gxv[i] - gx_ref[i]) / (1 + math.abs(gx_ref[i]))) end
end
io.write(mnist.core.blas_info().gemm, " ", worst, " ", tostring(same))
]]

-- One spec per micro-kernel choice (the plain C one, and the best the CPU has) running `child`,
-- which prints the kernel's name, its worst error against plain double loops, and whether its
-- results repeated bitwise.
local function per_kernel(child, title, bound)
  for _, kernel in ipairs { "generic", false } do
    it(title:format(kernel or "best"), function()
      local out = run_child(child, kernel)
      local name, err, same = out:match("^(%S+) (%S+) (%S+)$")
      assert.is_not_nil(name, out)
      if kernel then assert.equal(kernel, name) end
      assert.is_true(tonumber(err) < bound, out)
      assert.equal("true", same, out)
    end)
  end
end

-- F(4x4, 3x3)'s transforms have factors up to 8 and 1/24, so its rounding is about ten times
-- im2col's (worst here: 2.5e-6 on AVX2, 3.2e-6 generic, against 2.4e-7 for im2col; 2.5e-6 and
-- 1.2e-5 for the weight gradient below, against 2.3e-6): the bounds leave 3x room, and a wrong
-- transform or tile is off by the values themselves (about 1).
describe("Winograd F(4x4, 3x3) convolution", function()
  per_kernel(FORWARD, "matches plain double loops (outputs and input gradients) and does not depend on the thread count with the %s micro-kernel", 1e-5)
end)

describe("direct convolution (few input or output channels)", function()
  -- Plain Lua loops, no padding, stride 1: the output, and the weight and bias gradients.
  local function reference(x, w, b, gout)
    local n, c, h, wd = x:size(1), x:size(2), x:size(3), x:size(4)
    local o, k = w:size(1), w:size(3)
    local oh, ow = h - k + 1, wd - k + 1
    local y, gw, gb = T.zeros(n, o, oh, ow), T.zeros(o, c, k, k), T.zeros(o)
    local xv, wv, gv = x:totable(), w:totable(), gout:totable()
    local yv, gwv, gbv = y:totable(), gw:totable(), gb:totable()
    for i = 1, n do
      for oo = 1, o do
        for yy = 1, oh do
          for xx = 1, ow do
            local sum, g = b:get(oo), gv[i][oo][yy][xx]
            gbv[oo] = gbv[oo] + g
            for cc = 1, c do
              for a = 1, k do
                local row = xv[i][cc][yy + a - 1]
                for bb = 1, k do
                  sum = sum + wv[oo][cc][a][bb] * row[xx + bb - 1]
                  gwv[oo][cc][a][bb] = gwv[oo][cc][a][bb] + g * row[xx + bb - 1]
                end
              end
            end
            yv[i][oo][yy][xx] = sum
          end
        end
      end
    end
    return T(yv), T(gwv), T(gbv)
  end

  local function worst(a, b)
    local va, vb, m = a:view(a:numel()):totable(), b:view(b:numel()):totable(), 0
    for i = 1, #va do m = math.max(m, math.abs(va[i] - vb[i]) / (1 + math.abs(vb[i]))) end
    return m
  end

  -- { images, in channels, out channels, kernel, height, width }. Vectors along rows (1 to 4
  -- input channels): output widths 16 (one vector), 17 and 26 (a last vector overlapping 15 and
  -- 6 lanes), 24 (LeNet), 33 (three vectors, an odd count), 40; 1, 6, 9 (8 + 1) and 32 output
  -- channels. Vectors across output channels (up to 16; more input channels, narrow images):
  -- LeNet's second layer (8 outputs a row, one block), widths 9 and 18 (overlapping blocks),
  -- 3 to 16 channels, 500 taps (20 channels, 5x5).
  local cases = {
    { 3, 1, 6, 5, 12, 20 }, { 2, 1, 9, 3, 5, 19 }, { 5, 1, 32, 3, 28, 28 }, { 4, 2, 1, 5, 7, 28 },
    { 3, 3, 7, 3, 6, 35 }, { 2, 4, 9, 5, 9, 44 }, { 3, 1, 6, 5, 28, 28 },
    { 3, 6, 16, 5, 12, 12 }, { 2, 5, 9, 3, 13, 11 }, { 3, 8, 16, 3, 10, 20 }, { 2, 20, 3, 5, 12, 13 },
  }
  for _, case in ipairs(cases) do
    local n, c, o, k, h, wd = unpack(case)
    it(("matches plain loops: %d images %dx%dx%d, %d filters %dx%d"):format(n, c, h, wd, o, k, k), function()
      mnist.random.manual_seed(13)
      local conv = nn.SpatialConvolution(c, o, k, k)
      local x = uniform(n, c, h, wd)
      local gout = uniform(n, o, h - k + 1, wd - k + 1)
      local y = conv:forward(x)
      conv:zeroGradParameters()
      conv:backward(x, gout)
      local y_ref, gw_ref, gb_ref = reference(x, conv.weight, conv.bias, gout)
      assert.is_true(worst(y, y_ref) < 1e-5, "output " .. worst(y, y_ref))
      assert.is_true(worst(conv.gradWeight, gw_ref) < 1e-4, "weight gradient " .. worst(conv.gradWeight, gw_ref))
      assert.is_true(worst(conv.gradBias, gb_ref) < 1e-4, "bias gradient " .. worst(conv.gradBias, gb_ref))
    end)
  end
end)

-- The weight gradient of Winograd convolutions (batch >= 4, so the Winograd path is taken; two
-- threads, so two blocks of images add their partial sums) against plain double-precision loops,
-- dW[o][c][a][b] = sum over images and outputs of dY[o][y][x] * X[c][y+a-pad][x+b-pad], on odd and
-- even output sizes, and bitwise the same from one run to the next. A child process per
-- micro-kernel choice (the generic one takes the plain C transforms) prints its worst error.
local WEIGHT_GRAD = [[
local mnist = require "mnist"
local T, nn = mnist.tensor, mnist.nn
mnist.core.blas_set_threads(2)
local function uniform(...)
  local t = T.zeros(...)
  mnist.random.default:fill_uniform(t, -1, 1)
  return t
end
local worst, same = 0, true
-- { height, width, padding, input channels }: 32 input channels make V a whole AVX-512 strip of
-- the product, which reads it in place
for _, case in ipairs { { 7, 9, 1, 8 }, { 8, 7, 0, 8 }, { 5, 6, 2, 8 }, { 6, 5, 1, 32 } } do
  local h, w, pad = case[1], case[2], case[3]
  local n, c, o, oh, ow = 5, case[4], 9, h + 2 * pad - 2, w + 2 * pad - 2
  mnist.random.manual_seed(17)
  local conv = nn.SpatialConvolution(c, o, 3, 3, 1, 1, pad, pad)
  conv:setInputGradient(false)
  local x, gout = uniform(n, c, h, w), uniform(n, o, oh, ow)
  conv:forward(x)
  local runs = {}
  for r = 1, 2 do
    conv:zeroGradParameters()
    conv:backward(x, gout)
    runs[r] = conv.gradWeight:tobytes()
  end
  same = same and runs[1] == runs[2]
  local xv, gv, dw = x:view(x:numel()):totable(), gout:view(gout:numel()):totable(), conv.gradWeight
  for oo = 0, o - 1 do
    for cc = 0, c - 1 do
      for a = 0, 2 do
        for b = 0, 2 do
          local sum = 0
          for i = 0, n - 1 do
            for y = 0, oh - 1 do
              local iy = y + a - pad
              if iy >= 0 and iy < h then
                for xx = 0, ow - 1 do
                  local ix = xx + b - pad
                  if ix >= 0 and ix < w then
                    sum = sum + gv[((i * o + oo) * oh + y) * ow + xx + 1] * xv[((i * c + cc) * h + iy) * w + ix + 1]
                  end
                end
              end
            end
          end
          worst = math.max(worst, math.abs(dw:get(oo + 1, cc + 1, a + 1, b + 1) - sum) / (1 + math.abs(sum)))
        end
      end
    end
  end
end
io.write(mnist.core.blas_info().gemm, " ", worst, " ", tostring(same))
]]

describe("Winograd F(4x4, 3x3) weight gradient", function()
  per_kernel(WEIGHT_GRAD, "matches plain double loops and repeats bitwise with the %s micro-kernel", 4e-5)
end)

-- Seeded random shapes (1 to 30 rows, 1 to 45 columns, paddings 0 to 2, 8 to 20 channels each
-- way, 4 to 9 images, 1 or 2 threads): a batch takes Winograd, a single image im2col; outputs,
-- input gradients and weight gradients must agree to Winograd's rounding (worst seen 6.5e-6 of the
-- largest value). The child prints its worst, relative to each tensor's largest value.
local RANDOM_SHAPES = [[
local mnist = require "mnist"
local T, nn = mnist.tensor, mnist.nn
math.randomseed(7)
local function values(t) return t:contiguous():view(t:numel()):totable() end
local function relative(a, b) -- max |a - b| over max(1, max |b|)
  local va, vb, d, m = values(a), values(b), 0, 1
  for i = 1, #va do d, m = math.max(d, math.abs(va[i] - vb[i])), math.max(m, math.abs(vb[i])) end
  return d / m
end
local worst = 0
for case = 1, 24 do
  local n, c, o, pad = math.random(4, 9), math.random(8, 20), math.random(8, 20), math.random(0, 2)
  local h, w = math.random(math.max(1, 3 - 2 * pad), 30), math.random(math.max(1, 3 - 2 * pad), 45)
  mnist.core.blas_set_threads(math.random(1, 2))
  mnist.random.manual_seed(case)
  local conv = nn.SpatialConvolution(c, o, 3, 3, 1, 1, pad, pad)
  local x = T.zeros(n, c, h, w)
  mnist.random.default:fill_uniform(x, -1, 1)
  local y = conv:forward(x):clone()
  local g = T.zeros(n, o, y:size(3), y:size(4))
  mnist.random.default:fill_uniform(g, -1, 1)
  conv:zeroGradParameters()
  local gx = conv:backward(x, g):clone()
  local single = conv:clone()
  single:zeroGradParameters()
  for i = 1, n do
    local xi, gi = x:narrow(1, i, 1), g:narrow(1, i, 1)
    worst = math.max(worst, relative(y:narrow(1, i, 1), single:forward(xi)))
    worst = math.max(worst, relative(gx:narrow(1, i, 1), single:backward(xi, gi)))
  end
  worst = math.max(worst, relative(conv.gradWeight, single.gradWeight))
end
io.write(mnist.core.blas_info().gemm, " ", worst, " true")
]]

describe("Winograd F(4x4, 3x3) on random shapes", function()
  per_kernel(RANDOM_SHAPES, "agrees with im2col image by image (outputs, input and weight gradients) with the %s micro-kernel", 2e-5)
end)

describe("every kernel path gives the same network results", function()
  -- A child process per micro-kernel choice runs the default model and LeNet (Winograd and
  -- im2col convolutions, 2x2 pooling, linear layers) forward and backward on the same input and
  -- writes outputs and gradients to a file; this process compares them with its own.
  local NET = [[
local mnist = require "mnist"
local T = mnist.tensor
local out = {}
for _, arch in ipairs { "default", "lenet" } do
  mnist.random.manual_seed(21)
  local net = mnist.classifier { arch = arch }
  local x = T.zeros(3, 1, 28, 28)
  mnist.random.default:fill_uniform(x, -1, 1)
  local _, grads = net:getParameters()
  grads:fill(0)
  local y = net:forward(x)
  local gx = net:backward(x, y:clone():fill(0.05))
  out[#out + 1] = y:tobytes() .. grads:tobytes() .. gx:tobytes()
end
local f = assert(io.open(arg[1], "wb"))
f:write(table.concat(out))
f:close()
]]

  local function run_net(kernel)
    local script, result = os.tmpname(), os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(NET)
    f:close()
    local env = kernel and ("MNIST_GEMM_KERNEL=" .. kernel .. " ") or ""
    local ok = os.execute(env .. "luajit " .. script .. " " .. result)
    f = io.open(result, "rb")
    local bytes = f and f:read("*a")
    if f then f:close() end
    os.remove(script)
    os.remove(result)
    return (ok == 0 or ok == true) and bytes or nil
  end

  local function floats(bytes)
    local ffi = require "ffi"
    local n = #bytes / 4
    local p = ffi.cast("const float *", bytes)
    return p, n
  end

  it("on the generic and AVX2 paths as on the best one", function()
    local best = run_net(nil)
    assert.is_not_nil(best)
    local pb, n = floats(best)
    for _, kernel in ipairs { "generic", "avx2" } do
      local other = run_net(kernel)
      assert.is_not_nil(other, kernel)
      assert.equal(#best, #other)
      local po = floats(other)
      local worst = 0
      for i = 0, n - 1 do
        local a, b = pb[i], po[i]
        worst = math.max(worst, math.abs(a - b) / (1 + math.abs(a)))
      end
      assert.is_true(worst < 1e-4, kernel .. ": " .. worst)
    end
  end)
end)
