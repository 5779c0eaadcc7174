-- The Torch7 module contract: flat parameters, accumulating gradients, reused buffers, modes,
-- clones, names, printing, initialisation, and the behaviours the gradient checks cannot see.
local mnist = require "mnist"
local H = dofile("spec/nn_helpers.lua")
local S = require "spec.support.helpers"
local nn, T, core = mnist.nn, mnist.tensor, mnist.core

local function uniform(...)
  return H.fill_uniform(T.zeros(...), -1, 1)
end

local function max_abs_diff(a, b)
  local x, y, worst = H.values(a), H.values(b), 0
  for i = 1, #x do worst = math.max(worst, math.abs(x[i] - y[i])) end
  return worst
end

local function small_model()
  return nn.Sequential()
    :add(nn.SpatialConvolution(1, 4, 3, 3)):add(nn.ReLU()):add(nn.SpatialMaxPooling(2, 2))
    :add(nn.SpatialBatchNormalization(4)):add(nn.Flatten()):add(nn.Linear(4 * 3 * 3, 5))
    :add(nn.LogSoftMax())
end

describe("nn modules", function()
  before_each(function() mnist.manual_seed(3) end)

  it("is reachable as mnist.nn", function()
    assert.equal(require("mnist.nn"), mnist.nn)
  end)

  it("loads each class on first use, the class require gives, and every class file is listed", function()
    -- a fresh process: this one has loaded classes already
    local out, rc = S.luajit([[
      local mnist = require "mnist" -- lazy too: its fields are the modules' own values
      assert(package.loaded["mnist.optim"] == nil and package.loaded["mnist.nn"] == nil, "mnist loaded eagerly")
      assert(mnist.classifier == require("mnist.model").classifier and mnist.optim == require "mnist.optim")
      local nn = mnist.nn
      assert(nn == require "mnist.nn" and rawget(nn, "Linear") == nil and package.loaded["mnist.nn.Linear"] == nil, "loaded eagerly")
      assert(nn.Linear == require "mnist.nn.Linear" and rawget(nn, "Linear") == nn.Linear)
      assert(nn.Linear(2, 3).__typename == "nn.Linear" and nn.NoSuchModule == nil)
      require("mnist.lazy").load_all(nn)
      local names = {}
      for name, cls in pairs(nn) do
        assert(cls == require("mnist.nn." .. name), name)
        names[#names + 1] = name
      end
      table.sort(names)
      print(table.concat(names, " "))
    ]])
    local files = {}
    local p = assert(io.popen("ls lua/mnist/nn/*.lua"))
    for path in p:lines() do
      local name = path:match("([^/]+)%.lua$")
      if name ~= "init" then files[#files + 1] = name end
    end
    p:close()
    table.sort(files)
    assert.equal(0, rc, out)
    assert.equal(table.concat(files, " "), (out:gsub("%s+$", "")))
  end)

  describe("getParameters", function()
    it("moves every parameter and gradient into one flat tensor, values kept", function()
      local model = small_model()
      local params, grads = model:parameters()
      local before, total = {}, 0
      for i, p in ipairs(params) do
        before[i] = p:clone()
        total = total + p:numel()
      end
      local flat, gflat = model:getParameters()
      assert.equal(total, flat:numel())
      assert.equal(total, gflat:numel())
      assert.equal(1, flat:dim())
      for i, p in ipairs(params) do
        assert.is_true(p:shares(flat) and grads[i]:shares(gflat))
        assert.equal(0, max_abs_diff(p, before[i]))
      end
      -- the flat vector IS the model: one update through it moves the module's tensors
      flat:fill(0.5)
      assert.equal(0.5, model.modules[6].weight:get(2, 3))
      local x = uniform(2, 1, 8, 8)
      model:zeroGradParameters()
      model:backward(x, model:forward(x):clone():fill(1))
      local norm = 0
      for _, v in ipairs(H.values(gflat)) do norm = norm + math.abs(v) end
      assert.is_true(norm > 0)
      assert.equal(gflat:sum(), (function()
        local s = 0
        for _, g in ipairs(grads) do s = s + g:sum() end
        return s
      end)())
    end)

    it("can be called twice: the same arenas, nothing moves", function()
      local model = small_model()
      local flat, gflat = model:getParameters()
      flat:add(1)
      local copy = flat:clone()
      local flat2, gflat2 = model:getParameters()
      assert.equal(flat, flat2)
      assert.equal(gflat, gflat2)
      assert.equal(0, max_abs_diff(flat2, copy))
      local params = model:parameters()
      assert.is_true(params[1]:shares(flat2))
    end)

    it("rebuilds the arena, values kept, when a parameter was replaced", function()
      local model = small_model()
      local flat = model:getParameters()
      model.modules[6].weight = T.ones(5, 36)
      local flat2 = model:getParameters()
      assert.is_false(flat2 == flat)
      assert.is_true(model.modules[6].weight:shares(flat2))
      assert.equal(1, model.modules[6].weight:get(5, 36))
      assert.equal(model.modules[1].weight:get(1, 1, 1, 1), flat2[1])
    end)

    it("returns nil for a module without parameters", function()
      assert.is_nil(nn.ReLU():getParameters())
      local p, g = nn.ReLU():parameters()
      assert.same({}, p)
      assert.same({}, g)
    end)
  end)

  describe("gradients", function()
    it("accumulate across backward calls until zeroGradParameters", function()
      local model = small_model()
      local x = uniform(3, 1, 8, 8)
      local g = model:forward(x):clone():fill(0.1)
      model:zeroGradParameters()
      model:backward(x, g)
      local once = model.modules[1].gradWeight:clone()
      model:forward(x)
      model:backward(x, g)
      assert.is_true(max_abs_diff(model.modules[1].gradWeight, once:clone():scale(2)) < 1e-5)
      model:zeroGradParameters()
      local _, grads = model:parameters()
      for _, gr in ipairs(grads) do assert.equal(0, gr:sum()) end
    end)

    it("backward = updateGradInput + accGradParameters", function()
      local a, x = nn.SpatialConvolution(2, 3, 3, 3, 2, 1, 1, 0), uniform(2, 2, 5, 6)
      local b = a:clone()
      local g = uniform(a:forward(x):size())
      b:forward(x)
      a:zeroGradParameters()
      b:zeroGradParameters()
      local gi = a:backward(x, g):clone()
      local gi2 = b:updateGradInput(x, g)
      b:accGradParameters(x, g)
      assert.equal(0, max_abs_diff(gi, gi2))
      assert.equal(0, max_abs_diff(a.gradWeight, b.gradWeight))
      assert.equal(0, max_abs_diff(a.gradBias, b.gradBias))
    end)
  end)

  it("reuses its output, gradInput and workspace buffers while shapes stay the same", function()
    local model = small_model()
    local x = uniform(4, 1, 8, 8)
    local function buffers()
      local list = {}
      for _, m in ipairs(model.modules) do
        list[#list + 1] = m.output
        list[#list + 1] = m.gradInput
        list[#list + 1] = m.workspace or false
      end
      return list
    end
    model:forward(x)
    model:backward(x, model.output:clone():fill(1))
    local first = buffers()
    for _ = 1, 3 do
      model:forward(x)
      model:backward(x, model.output:clone():fill(1))
    end
    local later = buffers()
    for i = 1, #first do
      -- View/Flatten hand out fresh views of the same storage; everything else is the same tensor
      assert.is_true(first[i] == later[i] or first[i]:shares(later[i]), "buffer " .. i .. " was reallocated")
    end
  end)

  it("is bitwise deterministic: the same seed and input give the same outputs and gradients", function()
    local function run()
      mnist.manual_seed(17)
      local model = nn.Sequential()
        :add(nn.SpatialConvolution(3, 16, 3, 3, 1, 1, 1, 1)):add(nn.ReLU()):add(nn.Dropout(0.2))
        :add(nn.SpatialConvolution(16, 32, 3, 3)):add(nn.SpatialMaxPooling(2, 2))
        :add(nn.SpatialBatchNormalization(32)):add(nn.Flatten()):add(nn.Linear(32 * 7 * 7, 10))
      local x = uniform(40, 3, 16, 16)
      local _, grads = model:getParameters()
      model:backward(x, model:forward(x):clone():fill(0.01))
      return model.output:clone(), grads:clone(), model.gradInput:clone()
    end
    local y1, g1, gi1 = run()
    local y2, g2, gi2 = run()
    assert.equal(y1:tobytes(), y2:tobytes())
    assert.equal(g1:tobytes(), g2:tobytes())
    assert.equal(gi1:tobytes(), gi2:tobytes())
  end)

  it("skips the input gradient of the first layer on request, with the same parameter gradients", function()
    local function run(skip)
      mnist.manual_seed(4)
      local model = nn.Sequential()
        :add(nn.SpatialConvolution(1, 4, 3, 3)):add(nn.ReLU()):add(nn.Flatten())
        :add(nn.Linear(4 * 6 * 6, 3))
      if skip then model:setInputGradient(false) end
      local x = uniform(5, 1, 8, 8)
      local _, grads = model:getParameters()
      local gi = model:backward(x, model:forward(x):clone():fill(0.1))
      return grads:clone(), gi, model
    end
    local g_full, gi_full = run(false)
    local g_skip, gi_skip, model = run(true)
    assert.is_not_nil(gi_full)
    assert.is_nil(gi_skip)
    assert.is_nil(model:get(1).gradInput)
    assert.equal(g_full:tobytes(), g_skip:tobytes())
    model:setInputGradient(true)
    local x = uniform(5, 1, 8, 8)
    assert.same({ 5, 1, 8, 8 }, model:backward(x, model:forward(x):clone():fill(0.1)):size())
  end)

  describe("in-place ReLU", function()
    it("gives the out-of-place values, writing its output over the input and its gradient over gradOutput", function()
      local x = uniform(3, 4, 5, 6)
      local gy = uniform(3, 4, 5, 6)
      local ref = nn.ReLU()
      local y_ref = ref:forward(x):clone()
      local gx_ref = ref:backward(x, gy):clone()
      assert.is_false(ref.output:shares(x))
      assert.is_false(ref.gradInput:shares(gy))
      local expected = {}
      for i, v in ipairs(H.values(x)) do expected[i] = v > 0 and v or 0 end
      assert.same(expected, H.values(y_ref))

      local relu, x2, gy2 = nn.ReLU(true), x:clone(), gy:clone()
      local y = relu:forward(x2)
      assert.is_true(y:shares(x2))
      assert.equal(y_ref:tobytes(), y:tobytes())
      assert.equal(y_ref:tobytes(), x2:tobytes()) -- the input itself now holds max(x, 0)
      local gx = relu:backward(x2, gy2)
      assert.is_true(gx:shares(gy2))
      assert.equal(gx_ref:tobytes(), gx:tobytes())
      assert.equal(gx_ref:tobytes(), gy2:tobytes())
      assert.equal("nn.ReLU(in place)", tostring(relu))
      assert.has_error(function() nn.ReLU(1) end, "ReLU: inplace must be a boolean, got number")
    end)

    it("behind a convolution and a linear layer, trains as the out-of-place one, bitwise", function()
      local function run(inplace)
        mnist.manual_seed(9)
        local model = nn.Sequential()
          :add(nn.SpatialConvolution(2, 4, 3, 3)):add(nn.ReLU(inplace)):add(nn.SpatialMaxPooling(2, 2))
          :add(nn.Flatten()):add(nn.Linear(4 * 3 * 3, 6)):add(nn.ReLU(inplace))
          :add(nn.BatchNormalization(6)):add(nn.Linear(6, 3))
        local _, grads = model:getParameters()
        local x = uniform(5, 2, 8, 8)
        local y = model:forward(x):clone()
        local gx = model:backward(x, y:clone():fill(0.1)):clone()
        return y, grads:clone(), gx
      end
      local y1, g1, gx1 = run(false)
      local y2, g2, gx2 = run(true)
      assert.equal(y1:tobytes(), y2:tobytes())
      assert.equal(g1:tobytes(), g2:tobytes())
      assert.equal(gx1:tobytes(), gx2:tobytes())
    end)
  end)

  -- Sizes for every path: wide rows, odd sizes, and the narrow even planes whose output rows
  -- the AVX-512 kernel packs several to a vector, across plane and batch boundaries.
  it("pools 2x2 windows as a plain Lua max: first maximum wins ties, a NaN wins, any size; routes gradients back exactly", function()
    local sizes = { { 1, 3, 24, 24 }, { 1, 2, 5, 34 }, { 1, 1, 40, 7 }, { 1, 2, 2, 2 }, { 3, 5, 6, 8 },
      { 2, 3, 4, 2 }, { 2, 3, 2, 32 }, { 3, 2, 6, 12 }, { 4, 5, 8, 8 }, { 2, 3, 10, 24 }, { 2, 2, 4, 36 } }
    for _, size in ipairs(sizes) do
      local n, planes, h, w = size[1], size[2], size[3], size[4]
      local x = T.zeros(n, planes, h, w)
      local flat = x:view(x:numel())
      for i = 1, x:numel() do flat[i] = math.floor(mnist.random.default:uniform() * 4) end -- ties
      for i = 5, x:numel(), 37 do flat[i] = 0 / 0 end
      local pool = nn.SpatialMaxPooling(2, 2)
      local y = pool:forward(x)
      local gy = H.fill_uniform(y:clone(), -1, 1)
      gy:view(gy:numel())[1] = -0.0 -- the gradient of an untouched input is +0, as the sum 0 + -0
      local gx = pool:backward(x, gy)
      local expected = T.zeros(n, planes, h, w)
      local oh, ow = math.floor(h / 2), math.floor(w / 2)
      for s = 1, n do
        for p = 1, planes do
          for i = 1, oh do
            for j = 1, ow do
              local best, at, ar, ac
              for r = 0, 1 do
                for c = 0, 1 do
                  local pos = (2 * i - 2 + r) * w + (2 * j - 2 + c)
                  local v = x:get(s, p, 2 * i - 1 + r, 2 * j - 1 + c)
                  if best == nil or v > best or v ~= v then best, at, ar, ac = v, pos, 2 * i - 1 + r, 2 * j - 1 + c end
                end
              end
              local got, where = y:get(s, p, i, j), ("(%d,%d,%d,%d) of %s"):format(s, p, i, j, table.concat(size, "x"))
              assert.is_true(got == best or (got ~= got and best ~= best), where)
              assert.equal(at, pool.indices:get(s, p, i, j), where)
              expected:set(s, p, ar, ac, expected:get(s, p, ar, ac) + gy:get(s, p, i, j))
            end
          end
        end
      end
      assert.equal(expected:tobytes(), gx:tobytes(), table.concat(size, "x"))
    end
  end)

  it("routes pooling gradients through indices that are not 2x2 blocks (overlapping windows) as a scatter", function()
    local x = H.fill_uniform(T.zeros(2, 3, 8, 6), -1, 1)
    local pool = nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1) -- output 4x3: half the input, yet overlapping
    local y = pool:forward(x)
    local gy = H.fill_uniform(y:clone(), -1, 1)
    local gx = pool:backward(x, gy)
    local expected, idx, g = {}, H.values(pool.indices), H.values(gy)
    for i = 1, 2 * 3 * 8 * 6 do expected[i] = 0 end
    for k = 1, #idx do
      local plane = math.floor((k - 1) / 12)
      local at = plane * 48 + idx[k] + 1
      expected[at] = expected[at] + g[k]
    end
    local got = H.values(gx)
    for i = 1, #got do assert.is_true(math.abs(got[i] - expected[i]) < 1e-6, "value " .. i) end
    local bad = pool.indices:clone():fill(48) -- past the plane
    assert.has_error(function() core.maxpool2d_backward(gx, gy, bad) end)
  end)

  describe("convolution", function()
    local function batch_matches_images(nIn, nOut, n, size, pad)
      local conv = nn.SpatialConvolution(nIn, nOut, 3, 3, 1, 1, pad, pad)
      local x = uniform(n, nIn, size, size)
      local out = size + 2 * pad - 2
      local g = uniform(n, nOut, out, out)
      local y = conv:forward(x):clone()
      conv:zeroGradParameters()
      local gi = conv:backward(x, g):clone()
      local gw, gb = conv.gradWeight:clone(), conv.gradBias:clone()
      local single = conv:clone()
      single:zeroGradParameters()
      -- a single image takes im2col, a batch Winograd F(4x4, 3x3): about 3e-6 of the values'
      -- scale apart (spec/gemm_spec.lua)
      local function close(a, b, what)
        local scale = 1
        for _, v in ipairs(H.values(b)) do scale = math.max(scale, math.abs(v)) end
        assert.is_true(max_abs_diff(a, b) < 1e-5 * scale, what .. ": " .. max_abs_diff(a, b) .. " at scale " .. scale)
      end
      for i = 1, n do
        local xi, gi1 = x:narrow(1, i, 1), g:narrow(1, i, 1)
        close(single:forward(xi), y:narrow(1, i, 1), "output of image " .. i)
        close(single:backward(xi, gi1), gi:narrow(1, i, 1), "gradInput of image " .. i)
      end
      local scale = 0
      for _, v in ipairs(H.values(gw)) do scale = math.max(scale, math.abs(v)) end
      assert.is_true(max_abs_diff(single.gradWeight, gw) < 1e-5 * scale)
      assert.is_true(max_abs_diff(single.gradBias, gb) < 1e-4)
    end

    it("gives the same results for a batch as image by image", function()
      -- 32 -> 64 channels on 26x26, 23 images: split over the threads, one image per sgemm
      batch_matches_images(32, 64, 23, 26, 0)
    end)

    it("gives the same results for small images, several to an sgemm, as image by image", function()
      -- 8x8 outputs (64 positions): 8 images per sgemm (CONV2D_MIN_COLUMNS 512), 19 images
      -- leave a partial chunk; padding takes the general im2col
      batch_matches_images(3, 5, 19, 8, 1)
      batch_matches_images(3, 5, 19, 10, 0)
    end)

    it("sizes its workspace per thread, not per batch", function()
      local threads = mnist.core.blas_info().threads
      mnist.core.blas_set_threads(1)
      local conv = nn.SpatialConvolution(32, 64, 3, 3)
      conv:forward(uniform(1, 32, 26, 26))
      assert.equal(32 * 9 * 24 * 24, conv.workspace:numel()) -- one image's columns
      local four = nn.SpatialConvolution(32, 64, 3, 3) -- 4 images and more: Winograd's scratch too
      four:forward(uniform(4, 32, 26, 26))
      local per_thread = four.workspace:numel()
      assert.is_true(per_thread >= 32 * 9 * 24 * 24)
      local big = nn.SpatialConvolution(32, 64, 3, 3)
      big:forward(uniform(23, 32, 26, 26))
      assert.equal(per_thread, big.workspace:numel())
      -- two threads: a second scratch, and the second thread's weight and bias gradient partials
      mnist.core.blas_set_threads(2)
      local two = nn.SpatialConvolution(32, 64, 3, 3)
      two:forward(uniform(23, 32, 26, 26))
      -- Winograd's transformed filters, shared by the threads: 36 planes of (64, 32) for the forward
      -- or (32, 64) for the input gradient, whichever is larger, packed for our sgemm, whose
      -- micro-kernel (AVX-512, AVX2 or generic) rounds the rows up to its block
      local packed = mnist.core.gemm_packed_a_floats
      local filters = 36 * math.max(packed(64, 32), packed(32, 64))
      assert.is_true(filters >= 36 * 64 * 32)
      assert.equal(filters + 2 * (per_thread - filters) + 64 * 32 * 9 + 64, two.workspace:numel())
      -- a single image needs no second thread's scratch: its products use both threads
      local single = nn.SpatialConvolution(32, 64, 3, 3)
      single:forward(uniform(1, 32, 26, 26))
      assert.equal(conv.workspace:numel(), single.workspace:numel())
      mnist.core.blas_set_threads(threads)
    end)

    it("stores weights as PyTorch: (out, in, kH, kW)", function()
      local conv = nn.SpatialConvolution(3, 8, 5, 2)
      assert.same({ 8, 3, 2, 5 }, conv.weight:size())
      assert.same({ 8 }, conv.bias:size())
      assert.same({ 2, 8, 9, 6 }, conv:forward(uniform(2, 3, 10, 10)):size())
    end)
  end)

  describe("initialisation", function()
    it("is PyTorch's default: uniform within 1/sqrt(fan_in), from mnist.random.default", function()
      local conv = nn.SpatialConvolution(4, 200, 3, 3)
      local bound = 1 / math.sqrt(4 * 9)
      local values = H.values(conv.weight)
      local lo, hi, sum = math.huge, -math.huge, 0
      for _, v in ipairs(values) do lo, hi, sum = math.min(lo, v), math.max(hi, v), sum + v end
      assert.is_true(lo >= -bound and hi <= bound)
      assert.is_true(lo < -0.98 * bound and hi > 0.98 * bound)
      assert.is_true(math.abs(sum / #values) < 0.01)
      local lin = nn.Linear(100, 300)
      local b = H.values(lin.bias)
      for _, v in ipairs(b) do assert.is_true(math.abs(v) <= 0.1) end
    end)

    it("is reproducible from the seed", function()
      mnist.manual_seed(42)
      local a = small_model()
      mnist.manual_seed(42)
      local b = small_model()
      assert.equal(0, max_abs_diff(a:getParameters(), b:getParameters()))
    end)

    it("starts batch norm at weight 1, bias 0, running mean 0, running variance 1", function()
      local bn = nn.SpatialBatchNormalization(3)
      assert.same({ 1, 1, 1 }, H.values(bn.weight))
      assert.same({ 0, 0, 0 }, H.values(bn.bias))
      assert.same({ 0, 0, 0 }, H.values(bn.running_mean))
      assert.same({ 1, 1, 1 }, H.values(bn.running_var))
    end)
  end)

  describe("training and evaluation", function()
    it("batch norm: batch statistics and running updates in training, running statistics in evaluation", function()
      local bn = nn.BatchNormalization(1)
      local x = T { { 1 }, { 3 } } -- mean 2, biased variance 1, unbiased variance 2
      local y = bn:forward(x)
      assert.is_true(math.abs(y[1][1] + 1) < 1e-4 and math.abs(y[2][1] - 1) < 1e-4)
      assert.is_true(math.abs(bn.running_mean[1] - 0.2) < 1e-6)        -- 0.9 * 0 + 0.1 * 2
      assert.is_true(math.abs(bn.running_var[1] - (0.9 + 0.1 * 2)) < 1e-6) -- unbiased, as PyTorch
      bn:evaluate()
      local z = bn:forward(T { { 1.2 } })                               -- one row is fine here
      assert.is_true(math.abs(z[1][1] - (1.2 - 0.2) / math.sqrt(1.1 + 1e-5)) < 1e-5)
      assert.is_true(math.abs(bn.running_mean[1] - 0.2) < 1e-6)        -- untouched
    end)

    it("dropout: zeroes about p of the values and scales the rest by 1/(1-p); identity in evaluation", function()
      local d = nn.Dropout(0.25)
      local x = T.ones(100, 100)
      local values = H.values(d:forward(x))
      local zeros = 0
      for _, v in ipairs(values) do
        if v == 0 then zeros = zeros + 1 else assert.is_true(math.abs(v - 1 / 0.75) < 1e-6) end
      end
      assert.is_true(math.abs(zeros / #values - 0.25) < 0.02)
      mnist.manual_seed(11)
      local a = d:forward(x):clone()
      mnist.manual_seed(11)
      assert.equal(0, max_abs_diff(a, d:forward(x)))
      d:evaluate()
      assert.equal(0, max_abs_diff(d:forward(x), x))
      assert.equal(0, max_abs_diff(d:backward(x, x), x))
      assert.equal(0, nn.Dropout(1):forward(x):sum())
      assert.equal(10000, nn.Dropout(0):forward(x):sum())
    end)

    it("Sequential passes the mode to its children", function()
      local model = nn.Sequential():add(nn.Dropout()):add(nn.Sequential():add(nn.BatchNormalization(2)))
      model:evaluate()
      assert.is_false(model.modules[1].train)
      assert.is_false(model.modules[2].modules[1].train)
      model:training()
      assert.is_true(model.modules[2].modules[1].train)
    end)
  end)

  describe("clone", function()
    it("is a deep copy with the same behaviour", function()
      local model = small_model()
      model:getParameters()
      local x = uniform(2, 1, 8, 8)
      local copy = model:clone()
      assert.equal(0, max_abs_diff(model:forward(x), copy:forward(x)))
      copy.modules[1].weight:fill(0)
      assert.is_true(H.values(model.modules[1].weight)[1] ~= 0)
      assert.is_false(copy.modules[1].weight:shares(model:getParameters()))
      local flat = copy:getParameters()
      assert.is_true(copy.modules[6].bias:shares(flat))
      assert.equal(getmetatable(model.modules[4]), getmetatable(copy.modules[4]))
    end)
  end)

  describe("names and printing", function()
    it("names tensors as PyTorch's state_dict, buffers after parameters, 0-based indices", function()
      local names = {}
      for _, pair in ipairs(H.default_model():state()) do
        names[#names + 1] = pair[1] .. " " .. T.shape_str(pair[2])
        assert.equal(pair[1], pair.name)
        assert.equal(pair[2], pair.tensor)
      end
      assert.same({
        "0.weight (32, 1, 3, 3)", "0.bias (32)", "2.weight (64, 32, 3, 3)", "2.bias (64)",
        "5.weight (64)", "5.bias (64)", "5.running_mean (64)", "5.running_var (64)",
        "7.weight (128, 9216)", "7.bias (128)", "9.weight (128)", "9.bias (128)",
        "9.running_mean (128)", "9.running_var (128)", "10.weight (10, 128)", "10.bias (10)",
      }, names)
    end)

    it("prefixes nested containers", function()
      local model = nn.Sequential():add(nn.ReLU()):add(nn.Sequential():add(nn.Linear(2, 3)))
      local names = {}
      for _, pair in ipairs(model:namedTensors("features.")) do names[#names + 1] = pair.name end
      assert.same({ "features.1.0.weight", "features.1.0.bias" }, names)
      assert.equal(3, #model:listModules() - 1) -- the two children and the nested Linear
    end)

    it("prints the architecture as Torch does, with parameter counts", function()
      assert.equal([[
nn.Sequential {  -- 1,200,266 parameters
  [input -> (1) -> (2) -> (3) -> (4) -> (5) -> (6) -> (7) -> (8) -> (9) -> (10) -> (11) -> (12) -> output]
  (1): nn.SpatialConvolution(1 -> 32, 3x3)  -- 320 parameters
  (2): nn.ReLU
  (3): nn.SpatialConvolution(32 -> 64, 3x3)  -- 18,496 parameters
  (4): nn.ReLU
  (5): nn.SpatialMaxPooling(2x2, 2,2)
  (6): nn.SpatialBatchNormalization(64)  -- 128 parameters
  (7): nn.Flatten
  (8): nn.Linear(9216 -> 128)  -- 1,179,776 parameters
  (9): nn.ReLU
  (10): nn.BatchNormalization(128)  -- 256 parameters
  (11): nn.Linear(128 -> 10)  -- 1,290 parameters
  (12): nn.LogSoftMax
}]], tostring(H.default_model()))
      assert.equal("nn.SpatialConvolution(1 -> 8, 5x5, 2,2, 1,1) without bias",
        tostring(nn.SpatialConvolution(1, 8, 5, 5, 2, 2, 1, 1):noBias()))
      assert.equal("nn.Dropout(0.5)", tostring(nn.Dropout()))
      assert.equal("nn.View(3, -1)", tostring(nn.View(3, -1)))
    end)
  end)

  describe("losses", function()
    it("CrossEntropyCriterion = LogSoftMax + ClassNLLCriterion, in value and gradient", function()
      local x = H.fill_uniform(T.zeros(6, 10), -4, 4)
      local labels = { 0, 9, 3, 3, 7, 1 }
      local ce = nn.CrossEntropyCriterion()
      local lsm, nll = nn.LogSoftMax(), nn.ClassNLLCriterion()
      local a = ce:forward(x, labels)
      local b = nll:forward(lsm:forward(x), labels)
      assert.is_true(math.abs(a - b) < 1e-6)
      local g = lsm:backward(x, nll:backward(lsm.output, labels))
      assert.is_true(max_abs_diff(ce:backward(x, labels), g) < 1e-6)
    end)

    it("takes labels as a table, a float tensor or a uint8 tensor", function()
      local x = H.fill_uniform(T.zeros(3, 10), -1, 1)
      local nll = nn.ClassNLLCriterion()
      local a = nll:forward(x, { 4, 0, 9 })
      local b = nll:forward(x, T { 4, 0, 9 })
      local bytes = T.bytes(3)
      bytes[1], bytes[2], bytes[3] = 4, 0, 9
      local c = nll:forward(x, bytes)
      assert.equal(a, b)
      assert.equal(a, c)
      assert.is_true(math.abs(a + (x[1][5] + x[2][1] + x[3][10]) / 3) < 1e-6)
    end)
  end)

  it("lets users write their own module (the recipe in Module.lua)", function()
    local Scale, parent = nn.Module:extend("Scale")
    function Scale:__init(n)
      parent.__init(self)
      self.weight, self.gradWeight = T.ones(n), T.zeros(n)
    end
    function Scale:describe() return ("Scale(%d)"):format(self.weight:numel()) end
    function Scale:updateOutput(x)
      self:checkInput(x, 2, "(N, D)")
      self.output = self:buffer("output", x:size())
      for i = 1, x:size(1) do self.output[i]:copy(x[i]):cmul(self.weight) end
      return self.output
    end
    function Scale:updateGradInput(x, gradOutput)
      self.gradInput = self:buffer("gradInput", x:size())
      for i = 1, x:size(1) do self.gradInput[i]:copy(gradOutput[i]):cmul(self.weight) end
      return self.gradInput
    end
    function Scale:accGradParameters(x, gradOutput)
      for i = 1, x:size(1) do self.gradWeight:add(x[i]:clone():cmul(gradOutput[i])) end
    end

    local model = nn.Sequential():add(nn.Linear(4, 3)):add(Scale(3)):add(nn.LogSoftMax())
    assert.equal("nn.Scale", model.modules[2].__typename)
    assert.truthy(tostring(model):find("(2): nn.Scale(3)  -- 3 parameters", 1, true))
    local flat = model:getParameters()
    assert.equal(4 * 3 + 3 + 3, flat:numel())
    H.check_gradients(model, uniform(5, 4))
    assert.has_error(function() Scale(3):forward(T(2, 2, 2)) end,
      "Scale(3): expected a 2-D batch (N, D), got (2, 2, 2)")
  end)
end)
