-- The modules of issue 13 where Torch7 has its own semantics, checked against hand-computed
-- values (PyTorch agreement and finite differences are in nn_pytorch_spec and nn_gradcheck_spec):
-- SoftMax's dim, ceil-mode windows, count_include_pad, SpatialDropout's scaling, Reshape's batch
-- mode, the criteria's definitions; then containers (names, printing, sharing) and the module tools
-- (clone, share, reset, apply, findModules, type), buffer reuse and the error messages.
local mnist = require "mnist"
local H = dofile("spec/nn_helpers.lua")
local nn, T = mnist.nn, mnist.tensor

local function near(got, want, tol, what)
  assert(math.abs(got - want) <= (tol or 1e-6) * math.max(1, math.abs(want)),
    ("%s: %.9g, expected %.9g"):format(what or "value", got, want))
end

local function same_values(t, want, tol, what)
  local got = H.values(t)
  assert.equal(#want, #got, (what or "tensor") .. ": element count")
  for i, v in ipairs(want) do near(got[i], v, tol, ("%s element %d"):format(what or "tensor", i)) end
end

local function uniform(...)
  return H.fill_uniform(T.zeros(...), -1, 1)
end

describe("Torch7 semantics, by hand", function()
  before_each(function() mnist.manual_seed(3) end)

  it("SoftMax picks the dim by rank: 1-D its only dim, (N, D) the rows, (C, H, W) and (N, C, H, W) the channels", function()
    local l3 = math.log(3)
    same_values(nn.SoftMax():forward(T { 0, l3 }), { 0.25, 0.75 }, 1e-6, "1-D")
    same_values(nn.SoftMax():forward(T { { 0, l3 }, { l3, 0 } }), { 0.25, 0.75, 0.75, 0.25 }, 1e-6, "2-D")
    local img = T.zeros(2, 1, 2) -- (C, H, W): over C at each of the 2 pixels
    img:set(2, 1, 1, l3)
    same_values(nn.SoftMax():forward(img), { 0.25, 0.5, 0.75, 0.5 }, 1e-6, "3-D")
    local batch = T.zeros(1, 2, 1, 2)
    batch:set(1, 2, 1, 2, l3)
    same_values(nn.SoftMax():forward(batch), { 0.5, 0.25, 0.5, 0.75 }, 1e-6, "4-D")
    same_values(nn.LogSoftMax():forward(batch), { math.log(0.5), math.log(0.25), math.log(0.5), math.log(0.75) },
      1e-6, "4-D log")
  end)

  it("ceil mode rounds the windows up and drops a last one that would start in the padding", function()
    local x = T.zeros(1, 1, 3, 3)
    for i = 1, 9 do x:view(9)[i] = i end
    local m = nn.SpatialMaxPooling(2, 2):ceil()
    same_values(m:forward(x), { 5, 6, 8, 9 }, 0, "max 2x2 ceil on 3x3")
    assert.equal("nn.SpatialMaxPooling(2x2, 2,2, ceil)", tostring(m))
    assert.same({ 1, 1, 1, 1 }, nn.SpatialMaxPooling(2, 2):forward(x):size())
    -- H = 5, k = 2, s = 2, pad 1: ceil(5/2) + 1 = 4 windows, but the 4th would start at 6 >= 5 + 1
    assert.same({ 1, 1, 3, 3 }, nn.SpatialMaxPooling(2, 2, 2, 2, 1, 1):ceil():forward(T.zeros(1, 1, 5, 5)):size())
    -- stride 3 > kernel 1 on 5 rows: ceil(4/3) + 1 = 3 windows, the 3rd starting at row 6, past
    -- the image: dropped even without padding (Torch7 would keep an empty window there)
    assert.same({ 1, 1, 2, 2 }, nn.SpatialMaxPooling(1, 1, 3, 3):ceil():forward(T.zeros(1, 1, 5, 5)):size())
    -- a ceil-mode average past the image (no padding) divides by the part inside: (3+6)/2, ...
    same_values(nn.SpatialAveragePooling(2, 2, 2, 2):ceil():forward(x), { 3, 4.5, 7.5, 9 }, 1e-6, "avg ceil")
  end)

  it("average pooling counts the padding (Torch7's default) or not, and a window past the padding divides by its part inside it", function()
    local ones = T.ones(1, 1, 4, 4)
    local m = nn.SpatialAveragePooling(3, 3, 2, 2, 1, 1):ceil()
    -- 3 windows a side; corner (1,1): 4 ones of 9; (1,3): rows -1..1, cols 3..4 (4 is padding,
    -- 5 past it): 2 ones of 3*2; (3,3): 1 one of 2*2
    same_values(m:forward(ones), { 4 / 9, 6 / 9, 2 / 6, 6 / 9, 1, 3 / 6, 2 / 6, 3 / 6, 1 / 4 }, 1e-6, "count_include_pad")
    m:setCountExcludePad()
    same_values(m:forward(ones), { 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 1e-6, "count_exclude_pad")
    assert.equal("nn.SpatialAveragePooling(3x3, 2,2, 1,1, ceil), pad excluded", tostring(m))
    -- Torch7's stride default is 1 (PyTorch's is the kernel size)
    assert.same({ 1, 1, 2, 2 }, nn.SpatialAveragePooling(3, 3):forward(ones):size())
  end)

  it("global average pooling is SpatialAveragePooling over the whole plane", function()
    local x = uniform(2, 3, 5, 4)
    local y = nn.SpatialAveragePooling(4, 5):forward(x)
    assert.same({ 2, 3, 1, 1 }, y:size())
    near(y:get(2, 3, 1, 1), x[2][3]:sum() / 20, 1e-5, "mean of the plane")
  end)

  it("SpatialDropout keeps or zeroes whole planes in training and scales by 1 - p in evaluation (Torch7)", function()
    local x = H.fill_uniform(T.zeros(4, 5, 3, 2), 0.5, 1)
    local m = nn.SpatialDropout(0.4)
    local y = m:forward(x)
    local kept, dropped = 0, 0
    for n = 1, 4 do
      for c = 1, 5 do
        local s, ref = y[n][c]:sum(), x[n][c]:sum()
        if s == 0 then dropped = dropped + 1 else near(s, ref, 1e-6, "kept plane"); kept = kept + 1 end
        assert.equal(s == 0 and 0 or 1, m.mask:get(n, c))
      end
    end
    assert.is_true(kept > 0 and dropped > 0)
    m:evaluate()
    near(m:forward(x):sum(), 0.6 * x:sum(), 1e-5, "evaluation output")
    near(m:backward(x, T.ones(4, 5, 3, 2)):sum(), 0.6 * 120, 1e-5, "evaluation gradient")
  end)

  it("Reshape takes the first dim as the batch unless the sizes hold every element (or batchMode says)", function()
    assert.same({ 2, 3 }, nn.Reshape(2, 3):forward(uniform(3, 2)):size())
    assert.same({ 4, 2, 3 }, nn.Reshape(2, 3):forward(uniform(4, 6)):size())
    assert.same({ 1, 2, 3 }, nn.Reshape(2, 3, true):forward(uniform(1, 6)):size())
    assert.same({ 5, 576 }, nn.Reshape(64 * 3 * 3):forward(uniform(5, 64, 3, 3)):size())
    local x = uniform(4, 6)
    assert.is_true(nn.Reshape(2, 3):forward(x):shares(x))
  end)

  it("the criteria's definitions", function()
    -- MultiMargin: sum over j ~= y of max(0, margin - x[y] + x[j]), / classes, / N
    near(nn.MultiMarginCriterion():forward(T { { 0.1, 0.2, 0.4 } }, { 0 }), (1.1 + 1.3) / 3, 1e-6, "p = 1")
    near(nn.MultiMarginCriterion(2, T { 2, 1, 1 }, 0.5):forward(T { { 0.1, 0.2, 0.4 } }, { 0 }),
      2 * (0.6 ^ 2 + 0.8 ^ 2) / 3, 1e-6, "p = 2, the label's weight, margin 0.5")
    near(nn.BCECriterion():forward(T { 0.5, 0.25 }, T { 1, 0 }), -(math.log(0.5) + math.log(0.75)) / 2, 1e-6, "BCE")
    near(nn.MSECriterion(false):forward(T { 1, 2 }, T { 0, 0 }), 5, 1e-6, "MSE sum")
    near(nn.SmoothL1Criterion():forward(T { 0.5, 3 }, T { 0, 0 }), (0.125 + 2.5) / 2, 1e-6, "SmoothL1")
    near(nn.DistKLDivCriterion():forward(T { -1, -2 }, T { 0.5, 0 }), 0.5 * (math.log(0.5) + 1) / 2, 1e-6, "KL")
    local w = T { 1, 2, 3, 4, 5 }
    local logp = T.zeros(4, 5):fill(-1)
    near(nn.ClassNLLCriterion(w):forward(logp, { 0, 1, 2, 3 }), 1, 1e-6, "weighted mean")
    near(nn.ClassNLLCriterion(w, false):forward(logp, { 0, 1, 2, 3 }), 10, 1e-6, "weighted sum")
    local crit = nn.ClassNLLCriterion(w)
    crit:forward(logp, { 0, 1, 2, 3 })
    same_values(crit:backward(logp, { 0, 1, 2, 3 }):view(20), {
      -0.1, 0, 0, 0, 0, 0, -0.2, 0, 0, 0, 0, 0, -0.3, 0, 0, 0, 0, 0, -0.4, 0 }, 1e-6, "weighted gradient")
  end)
end)

describe("containers", function()
  it("name their tensors by position, as PyTorch's, and print as Torch7's", function()
    local m = nn.Sequential()
      :add(nn.ConcatTable():add(nn.Linear(2, 3)):add(nn.Identity()))
      :add(nn.ParallelTable():add(nn.Linear(3, 2)):add(nn.Linear(2, 2)))
      :add(nn.CAddTable())
    local names = {}
    for _, pair in ipairs(m:state()) do names[#names + 1] = pair.name end
    assert.same({ "0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias" }, names)
    assert.equal([[
nn.ConcatTable {  -- 9 parameters
  input
    |`-> (1): nn.Linear(2 -> 3)  -- 9 parameters
    |`-> (2): nn.Identity
     ... -> output
}]], tostring(m:get(1)))
  end)

  it("reuse their buffers once shapes are stable (nothing allocated per step)", function()
    local m = nn.Sequential()
      :add(nn.ConcatTable():add(nn.SpatialConvolution(2, 2, 3, 3, 1, 1, 1, 1)):add(nn.Identity()))
      :add(nn.CAddTable()):add(nn.Tanh()):add(nn.SpatialZeroPadding(1))
      :add(nn.Concat(2):add(nn.SpatialAveragePooling(2, 2):ceil()):add(nn.SpatialMaxPooling(2, 2, 1, 1)))
      :add(nn.SpatialDropout(0.2)):add(nn.Reshape(4 * 5 * 4)):add(nn.ELU()):add(nn.Linear(80, 3)):add(nn.SoftMax())
    local x = uniform(2, 2, 4, 3)
    local function step()
      local y = m:forward(x)
      m:backward(x, y)
      local seen = {}
      for _, mod in ipairs(m:listModules()) do
        seen[#seen + 1] = mod.output
        seen[#seen + 1] = mod.gradInput
      end
      return seen
    end
    local first, second = step(), step()
    for i = 1, #first do assert.equal(first[i], second[i]) end
  end)

  it("skip the input gradient in every branch when told (setInputGradient(false))", function()
    local m = nn.Concat(2):add(nn.Linear(3, 2)):add(nn.Linear(3, 4))
    local ref = m:clone()
    m:setInputGradient(false)
    local x, g = uniform(5, 3), uniform(5, 6)
    m:forward(x)
    ref:forward(x)
    assert.is_nil(m:backward(x, g))
    assert.same({ 5, 3 }, ref:backward(x, g):size())
    H.assert_close(m:get(2).gradWeight, ref:get(2).gradWeight, 1e-6, "gradWeight")
  end)

  it("Concat and JoinTable join along their dim", function()
    local a, b = T { { 1, 2 }, { 3, 4 } }, T { { 5 }, { 6 } }
    same_values(nn.JoinTable(2):forward({ a, b }), { 1, 2, 5, 3, 4, 6 }, 0, "JoinTable(2)")
    same_values(nn.JoinTable(1):forward({ a, T { { 7, 8 } } }), { 1, 2, 3, 4, 7, 8 }, 0, "JoinTable(1)")
    local join = nn.JoinTable(2)
    join:forward({ a, b })
    local g = join:backward({ a, b }, T { { 10, 20, 30 }, { 40, 50, 60 } })
    same_values(g[1], { 10, 20, 40, 50 }, 0, "block 1")
    same_values(g[2], { 30, 60 }, 0, "block 2")
    local c = nn.Concat(2):add(nn.Identity()):add(nn.HardTanh(-2, 2))
    same_values(c:forward(T { { 1, -3 } }), { 1, -3, 1, -2 }, 0, "Concat(2)")
    same_values(c:backward(T { { 1, -3 } }, T { { 1, 1, 1, 1 } }), { 2, 1 }, 0, "summed gradients")
  end)
end)

describe("the model of Torch7's MNIST demo (train-on-mnist.lua's convnet)", function()
  it("builds from Torch7's names and trains: the loss falls on a fixed batch", function()
    mnist.manual_seed(1)
    local model = nn.Sequential()
      :add(nn.SpatialConvolutionMM(1, 32, 5, 5)):add(nn.Tanh()):add(nn.SpatialMaxPooling(3, 3, 3, 3, 1, 1))
      :add(nn.SpatialConvolutionMM(32, 64, 5, 5)):add(nn.Tanh()):add(nn.SpatialMaxPooling(2, 2, 2, 2))
      :add(nn.Reshape(64 * 3 * 3)):add(nn.Linear(64 * 3 * 3, 200)):add(nn.Tanh()):add(nn.Linear(200, 10))
      :add(nn.LogSoftMax())
    local x = H.fill_uniform(T.zeros(8, 1, 32, 32), 0, 1) -- the demo pads MNIST to 32x32
    local labels = { 0, 1, 2, 3, 4, 5, 6, 7 }
    local crit = nn.ClassNLLCriterion()
    local flat, gflat = model:getParameters()
    local first
    for _ = 1, 20 do
      local loss = crit:forward(model:forward(x), labels)
      first = first or loss
      model:zeroGradParameters()
      model:backward(x, crit:backward(model.output, labels))
      flat:axpy(-0.3, gflat)
    end
    assert.same({ 8, 10 }, model.output:size())
    assert.is_true(crit.output < 0.5 * first, ("loss %g after 20 steps, %g at first"):format(crit.output, first))
  end)
end)

describe("module tools", function()
  before_each(function() mnist.manual_seed(5) end)

  it("clone copies; clone with names shares those tensors", function()
    local a = nn.Linear(3, 2)
    local copy = a:clone()
    copy.weight:fill(7)
    assert.is_false(a.weight:get(1, 1) == 7)
    local twin = a:clone("weight", "bias")
    a.weight:fill(3)
    assert.equal(3, twin.weight:get(2, 3))
    assert.is_true(twin.weight:shares(a.weight))
    assert.is_false(twin.gradWeight:shares(a.gradWeight))
  end)

  it("getParameters after clone and share keeps one copy of each shared tensor", function()
    local a = nn.Linear(3, 2)
    local b = a:clone("weight", "bias", "gradWeight", "gradBias")
    local c = nn.Linear(3, 2)
    local d = nn.Linear(3, 2):share(c, "weight", "bias", "gradWeight", "gradBias")
    local model = nn.Sequential():add(nn.ConcatTable():add(a):add(b):add(c):add(d)):add(nn.CAddTable())
    local flat, gflat = model:getParameters()
    assert.equal(2 * 8, flat:numel())
    assert.equal(2 * 8, gflat:numel())
    flat:fill(0.5)
    for _, m in ipairs { a, b, c, d } do
      assert.equal(0.5, m.weight:get(1, 1))
      assert.is_true(m.weight:shares(flat) and m.gradWeight:shares(gflat))
    end
    b.weight:set(1, 1, 2)
    assert.equal(2, a.weight:get(1, 1))
    assert.equal(flat, model:getParameters()) -- the same arena on a second call
    -- a clone of the whole model keeps its internal sharing
    local copy = model:clone()
    local cflat = copy:getParameters()
    assert.equal(16, cflat:numel())
    assert.is_false(cflat:shares(flat))
  end)

  it("getParameters refuses weights shared without their gradients", function()
    local a = nn.Linear(3, 2)
    local model = nn.ConcatTable():add(a):add(a:clone("weight", "bias"))
    assert.has_error(function() model:getParameters() end,
      "ConcatTable: getParameters: 8 distinct parameter values but 16 gradient values; modules that share parameters must share their gradients too (clone('weight', 'bias', 'gradWeight', 'gradBias'))")
  end)

  it("getParameters refuses parameters that overlap in part", function()
    local a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    local model = nn.ConcatTable():add(a):add(b)
    local flat = model:getParameters()
    b.weight:set_storage(flat, 1) -- (2, 2) from element 1: overlaps a's weight and bias
    assert.has_error(function() model:getParameters() end,
      "ConcatTable: getParameters: parameter 3 overlaps another one in part; share whole tensors only")
  end)

  it("reset(stdv) draws uniform(-stdv*sqrt(3), stdv*sqrt(3)) as Torch7, recursively", function()
    local m = nn.Sequential():add(nn.Linear(100, 50)):add(nn.SpatialConvolution(2, 3, 3, 3))
    m:reset(0.1)
    local bound = 0.1 * math.sqrt(3)
    local sum, sq, n = 0, 0, 0
    for _, v in ipairs(H.values(m:get(1).weight)) do
      assert.is_true(math.abs(v) <= bound)
      sum, sq, n = sum + v, sq + v * v, n + 1
    end
    near(math.sqrt(sq / n - (sum / n) ^ 2), 0.1, 0.03, "standard deviation")
    m:reset(0.5)
    assert.is_true(m:get(2).weight:max() > 1 / math.sqrt(18)) -- beyond the default bound
    m:get(1):reset()
    assert.is_true(m:get(1).weight:max() <= 0.1)
  end)

  it("apply, listModules and findModules walk every module depth first", function()
    local inner = nn.Sequential():add(nn.Linear(2, 2)):add(nn.Tanh())
    local m = nn.Sequential():add(nn.Linear(2, 2)):add(nn.ConcatTable():add(inner):add(nn.Identity()))
    local types = {}
    m:apply(function(x) types[#types + 1] = x.__typename end)
    assert.same({ "nn.Sequential", "nn.Linear", "nn.ConcatTable", "nn.Sequential", "nn.Linear", "nn.Tanh",
      "nn.Identity" }, types)
    assert.equal(7, #m:listModules())
    local found, holders = m:findModules("nn.Linear")
    assert.equal(2, #found)
    assert.equal(m, holders[1])
    assert.equal(inner, holders[2])
    assert.equal(1, #m:findModules("Tanh"))
    local evaluated = 0
    m:apply(function(x) x:evaluate(); evaluated = evaluated + 1 end)
    assert.is_false(inner:get(2).train)
  end)

  it("float() and type() accept float32 only", function()
    local m = nn.Linear(2, 2)
    assert.equal(m, m:float())
    assert.equal(m, m:type("torch.FloatTensor"))
    assert.equal("torch.FloatTensor", m:type())
    assert.has_error(function() m:type("torch.DoubleTensor") end,
      "Linear(2->2): type torch.DoubleTensor is not supported: mnist.nn modules are float32 only (torch.FloatTensor)")
    assert.has_error(function() m:cuda() end,
      "Linear(2->2): type torch.CudaTensor is not supported: mnist.nn modules are float32 only (torch.FloatTensor)")
  end)
end)

describe("errors name the module and the problem", function()
  it("for constructors", function()
    assert.has_error(function() nn.HardTanh(1, -1) end, "HardTanh: expected min_value < max_value, got 1 and -1")
    assert.has_error(function() nn.LeakyReLU(-0.1, true) end, "LeakyReLU: in place needs negval >= 0, got -0.1")
    assert.has_error(function() nn.ELU(-1) end, "ELU: alpha must be a number >= 0, got -1")
    assert.has_error(function() nn.Reshape(2, 0) end, "Reshape: size 2 must be a whole number >= 1, got 0")
    assert.has_error(function() nn.SpatialAveragePooling(2, 2, 1, 1, 2, 0) end,
      "SpatialAveragePooling: padding 2,0 must be at most half the 2x2 kernel")
    assert.has_error(function() nn.MultiMarginCriterion(3) end, "MultiMarginCriterion: p must be 1 or 2, got 3")
    assert.has_error(function() nn.ClassNLLCriterion({ 1, 2 }) end,
      "ClassNLLCriterion: weights must be a float32 vector (one weight per class), got table")
    assert.has_error(function() nn.SelectTable(0) end, "SelectTable: index must be a whole number other than 0, got 0")
  end)

  it("for inputs", function()
    assert.has_error(function() nn.Reshape(5):forward(T(2, 3)) end, "Reshape(5): cannot reshape (2, 3) into a batch of (5)")
    assert.has_error(function() nn.SpatialZeroPadding(-2):forward(T(1, 1, 3, 3)) end,
      "SpatialZeroPadding(l=-2, r=-2, t=-2, b=-2): cropping input (1, 1, 3, 3) leaves nothing (-1x-1)")
    assert.has_error(function() nn.JoinTable(2):forward({ T(2, 3), T(3, 3) }) end,
      "JoinTable(2): input[2] (3, 3) does not match input[1] (2, 3) outside dim 2")
    assert.has_error(function() nn.JoinTable(3):forward({ T(2, 3) }) end, "JoinTable(3): cannot join 2-D tensors along dim 3")
    assert.has_error(function() nn.CAddTable():forward({ T(2, 3), T(3, 2) }) end,
      "CAddTable: input[2] (3, 2) differs in shape from input[1] (2, 3)")
    assert.has_error(function() nn.CAddTable():forward(T(2, 3)) end, "CAddTable: expected a table of tensors as input, got a tensor")
    assert.has_error(function() nn.SelectTable(3):forward({ T(2) }) end, "SelectTable(3): index 3 is out of range for 1 inputs")
    assert.has_error(function() nn.ParallelTable():add(nn.Identity()):add(nn.Identity()):forward({ T(2) }) end,
      "ParallelTable: expected a table of at least 2 inputs (one per child), got 1")
    assert.has_error(function() nn.Concat(2):add(nn.Identity()):add(nn.Reshape(3, 2)):forward(T(2, 6)) end,
      "Concat(2): child 2's output (2, 3, 2) does not match (2, 6) outside dim 2")
    assert.has_error(function() nn.MSECriterion():forward(T(2, 3), T(3, 2)) end,
      "MSECriterion: expected a float32 target of the input's shape (2, 3), got float32 (3, 2)")
    assert.has_error(function() nn.ClassNLLCriterion(T(3)):forward(T(2, 4), { 0, 1 }) end,
      "ClassNLLCriterion: has 3 class weights for 4 classes")
    assert.has_error(function() nn.SoftMax():forward(T.bytes(2, 3)) end, "SoftMax: expected a float32 input, got uint8 (2, 3)")
  end)
end)
