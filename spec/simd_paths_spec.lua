-- The direct convolutions (csrc/nn/conv_direct*.{c,h}) and the 2x2 max pooling (csrc/nn/pool.c)
-- on every instruction set this machine can run, chosen with the GEMM micro-kernel
-- (MNIST_GEMM_KERNEL): outputs and all gradients against plain double loops, the kernels named
-- by conv2d_path / blas_info checked so the vector code is really what runs, and results that do
-- not depend on the thread count.
local mnist = require "mnist"
local core = mnist.core
local H = require "spec.support.helpers"

-- Runs in a child per kernel (the choice is made once per process). Prints one line per case:
-- "conv <path> <worst error>" or "pool <path> <mismatches>", then "threads <same?>".
local CHILD = [[
local ffi = require "ffi"
local mnist = require "mnist"
local T, nn, core = mnist.tensor, mnist.nn, mnist.core
mnist.random.manual_seed(11)
local function uniform(...)
  local t = T.zeros(...)
  mnist.random.default:fill_uniform(t, -1, 1)
  return t
end
local keep = {}
local function floats(t) -- a flat 0-based view of t's values
  local s = t:contiguous():tobytes()
  keep[#keep + 1] = s
  return ffi.cast("const float *", s)
end
local function worst(got, want, n) -- largest error relative to the value's size
  local e = 0
  for i = 0, n - 1 do e = math.max(e, math.abs(got[i] - want[i]) / (1 + math.abs(want[i]))) end
  return e
end

-- N, C, H, W, O, K: the first layers (few input channels: rows), LeNet's second (few output
-- channels: channels), rows just as wide as a vector or with a last overlapping vector, and a
-- layer too small for either.
local CONVS = { { 3, 1, 28, 28, 8, 5 }, { 3, 1, 28, 28, 32, 3 }, { 3, 1, 12, 13, 5, 3 }, { 2, 3, 10, 10, 9, 3 },
  { 2, 2, 9, 30, 3, 5 }, { 4, 6, 12, 12, 16, 5 }, { 3, 5, 14, 11, 7, 3 }, { 2, 6, 13, 13, 16, 5 },
  { 2, 6, 7, 7, 16, 5 } }
for _, s in ipairs(CONVS) do
  local n, c, h, w, o, k = s[1], s[2], s[3], s[4], s[5], s[6]
  local oh, ow = h - k + 1, w - k + 1
  local conv = nn.SpatialConvolution(c, o, k, k)
  local x, dy = uniform(n, c, h, w), uniform(n, o, oh, ow)
  conv:zeroGradParameters()
  local y = conv:forward(x)
  local dx = conv:backward(x, dy)
  local X, DY, W, B = floats(x), floats(dy), floats(conv.weight), floats(conv.bias)
  local ry, rdx, rdw, rdb = {}, {}, {}, {}
  for i = 0, n * c * h * w - 1 do rdx[i] = 0 end
  for i = 0, o * c * k * k - 1 do rdw[i] = 0 end
  for i = 0, o - 1 do rdb[i] = 0 end
  for b = 0, n - 1 do
    for f = 0, o - 1 do
      for i = 0, oh - 1 do
        for j = 0, ow - 1 do
          local sum, g = B[f], DY[((b * o + f) * oh + i) * ow + j]
          rdb[f] = rdb[f] + g
          for ch = 0, c - 1 do
            for ki = 0, k - 1 do
              for kj = 0, k - 1 do
                local xi, wi = ((b * c + ch) * h + i + ki) * w + j + kj, ((f * c + ch) * k + ki) * k + kj
                sum = sum + X[xi] * W[wi]
                rdx[xi] = rdx[xi] + g * W[wi]
                rdw[wi] = rdw[wi] + g * X[xi]
              end
            end
          end
          ry[((b * o + f) * oh + i) * ow + j] = sum
        end
      end
    end
  end
  local e = math.max(worst(floats(y), ry, n * o * oh * ow), worst(floats(dx), rdx, n * c * h * w),
    worst(floats(conv.gradWeight), rdw, o * c * k * k), worst(floats(conv.gradBias), rdb, o))
  print(("conv %s %s"):format(core.conv2d_path(x, conv.weight, 1, 1, 0, 0):gsub(" ", "_"), e))
end

-- 2x2 max pooling, stride 2: maxima, their positions (through the input gradient) against a
-- plain loop (the first maximum in scan order; NaN wins), rows of 1 to 17 windows, odd heights
-- and widths (a row and a column no window covers).
local POOLS = { { 2, 3, 24, 24 }, { 2, 2, 26, 26 }, { 3, 2, 16, 16 }, { 2, 2, 8, 8 }, { 2, 2, 34, 35 },
  { 1, 2, 18, 20 }, { 3, 2, 2, 2 }, { 2, 1, 6, 7 }, { 2, 2, 11, 13 }, { 1, 3, 15, 14 }, { 2, 1, 5, 10 } }
for _, s in ipairs(POOLS) do
  local n, c, h, w = s[1], s[2], s[3], s[4]
  local x = uniform(n, c, h, w)
  local function set(i, v) -- flat 0-based index i
    local b, ch = math.floor(i / (c * h * w)), math.floor(i / (h * w)) % c
    x:set(b + 1, ch + 1, math.floor(i / w) % h + 1, i % w + 1, v)
  end
  local r = 0
  for i = 0, n * c * h * w - 1 - w - 1, 7 do -- ties along rows and columns, and NaNs
    r = r + 1
    set(i, 0.5)
    set(i + 1, 0.5)
    set(i + w, r % 5 == 0 and 0 / 0 or 0.5)
  end
  local pool = nn.SpatialMaxPooling(2, 2, 2, 2)
  local y = pool:forward(x)
  local dy = uniform(n, c, h / 2 - h / 2 % 1, w / 2 - w / 2 % 1)
  pool:backward(x, dy)
  pool.gradInput:fill(7) -- stale values everywhere in the reused buffer
  local dx = pool:backward(x, dy)
  local X, Y, DY, DX = floats(x), floats(y), floats(dy), floats(dx)
  local oh, ow = math.floor(h / 2), math.floor(w / 2)
  local bad, want_dx = 0, {}
  for i = 0, n * c * h * w - 1 do want_dx[i] = 0 end
  for p = 0, n * c - 1 do
    for i = 0, oh - 1 do
      for j = 0, ow - 1 do
        local best, at = nil, nil
        for di = 0, 1 do
          for dj = 0, 1 do
            local q = (p * h + 2 * i + di) * w + 2 * j + dj
            local v = X[q]
            if best == nil or v > best or v ~= v then best, at = v, q end
          end
        end
        local got = Y[(p * oh + i) * ow + j]
        if not (got == best or (got ~= got and best ~= best)) then bad = bad + 1 end
        want_dx[at] = want_dx[at] + DY[(p * oh + i) * ow + j]
      end
    end
  end
  for i = 0, n * c * h * w - 1 do if DX[i] ~= want_dx[i] then bad = bad + 1 end end
  print(("pool %s %d"):format(core.blas_info().pool_2x2, bad))
end

-- Positions a 2x2 window cannot have (3x3 windows, stride 2, padding 1, overlapping): the vector
-- backward must leave them to the scatter, which adds up the overlaps; an index outside the
-- plane is an error.
do
  local x = uniform(2, 3, 8, 12)
  local pool = nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1)
  local y = pool:forward(x)
  local dy = uniform(unpack(y:size()))
  local DX, DY, IDX = floats(pool:backward(x, dy)), floats(dy), floats(pool.indices)
  local want, bad = {}, 0
  for i = 0, 2 * 3 * 8 * 12 - 1 do want[i] = 0 end
  for o = 0, 2 * 3 * 4 * 6 - 1 do
    local plane = math.floor(o / 24)
    local at = plane * 96 + IDX[o]
    want[at] = want[at] + DY[o]
  end
  for i = 0, 2 * 3 * 8 * 12 - 1 do if math.abs(DX[i] - want[i]) > 1e-6 then bad = bad + 1 end end
  print(("pool3x3 %s %d"):format(core.blas_info().pool_2x2, bad))
  local idx = T.zeros(1, 1, 2, 2)
  idx:fill(1)
  idx[{ 1, 1, 2, 2 }] = 16 -- past the 4x4 plane
  local ok = pcall(core.maxpool2d_backward, T.zeros(1, 1, 4, 4), T.ones(1, 1, 2, 2), idx)
  print("pool bad index " .. (ok and "accepted" or "refused"))
end

-- The same layers with 1, 2 and 3 threads: outputs and input gradients bitwise equal.
local same = true
local first
for threads = 1, 3 do
  core.blas_set_threads(threads)
  mnist.random.manual_seed(5)
  local parts = {}
  for _, s in ipairs { { 9, 1, 28, 28, 8, 5 }, { 9, 6, 12, 12, 16, 5 } } do
    local conv = nn.SpatialConvolution(s[2], s[5], s[6], s[6])
    local x = uniform(s[1], s[2], s[3], s[4])
    local y = conv:forward(x)
    local dy = uniform(unpack(y:size()))
    parts[#parts + 1] = y:tobytes() .. conv:backward(x, dy):tobytes()
  end
  local pool = nn.SpatialMaxPooling(2, 2, 2, 2)
  local x = uniform(9, 8, 24, 24)
  parts[#parts + 1] = pool:forward(x):tobytes() .. pool:backward(x, uniform(9, 8, 12, 12)):tobytes()
  local all = table.concat(parts)
  first = first or all
  same = same and all == first
end
print("threads " .. tostring(same))
print("gemm " .. core.blas_info().gemm .. " " .. core.blas_info().conv_direct)
]]

local function run_child(kernel)
  return H.luajit(CHILD, "env MNIST_GEMM_KERNEL=" .. kernel)
end

-- The direct kinds each conv case must run with kernel `k` (see conv_direct_kind): rows need
-- C <= 4 and a row of at least one vector, channels O <= 16 and OW >= 8.
local EXPECTED = {
  avx2 = { "direct_rows", "direct_rows", "direct_rows", "direct_rows", "direct_rows", "direct_channels",
    "direct_channels", "direct_channels", "im2col" },
  avx512 = { "direct_rows", "direct_rows", "direct_channels", "direct_channels", "direct_rows",
    "direct_channels", "direct_channels", "direct_channels", "im2col" },
  generic = { "im2col", "im2col", "im2col", "im2col", "im2col", "im2col", "im2col", "im2col", "im2col" },
}

describe("the vector paths of convolution and pooling", function()
  local best = core.blas_info().gemm
  for _, kernel in ipairs { "generic", "avx2", "avx512", "neon" } do
    it(("match plain loops with MNIST_GEMM_KERNEL=%s (or the best the CPU has)"):format(kernel), function()
      local out = run_child(kernel)
      local gemm, direct = out:match("gemm (%S+) (%S+)")
      assert.is_not_nil(gemm, out)
      if kernel == "generic" or kernel == best then assert.equal(kernel, gemm, out) end
      -- the direct convolutions and vector pooling are x86's: NEON has the gemm kernel only
      local simd = (gemm == "avx2" or gemm == "avx512") and gemm or nil
      assert.equal(simd or "none", direct)
      local convs = 0
      for path, err in out:gmatch("conv (%S+) (%S+)") do
        convs = convs + 1
        assert.equal(EXPECTED[simd or "generic"][convs], path, ("conv case %d:\n%s"):format(convs, out))
        assert.is_true(tonumber(err) < 2e-5, out)
      end
      assert.equal(#EXPECTED[simd or "generic"], convs, out)
      local pools = 0
      for path, bad in out:gmatch("pool (%S+) (%d+)") do
        pools = pools + 1
        assert.equal(simd or "generic", path, out)
        assert.equal("0", bad, out)
      end
      assert.equal(11, pools, out)
      assert.truthy(out:find("pool3x3 %S+ 0"), out)
      assert.truthy(out:find("pool bad index refused", 1, true), out)
      assert.truthy(out:find("threads true", 1, true), out)
    end)
  end
end)
