-- Every layer's gradients (w.r.t. its input and its parameters) against central finite
-- differences of L = sum(forward(x) .* g) for a random g, on small odd shapes.
-- Float32 steps of eps = 1e-2 (1e-3 or 3e-3 where the layer is curved or has near-ties) leave
-- relative errors of 1e-6..3e-4 here; the tolerance 1e-3 (2e-3 when curved) still fails a
-- gradient that is 1% off, and a single wrong entry (the checker's own specs, at the end).
local mnist = require "mnist"
local H = dofile("spec/nn_helpers.lua")
local nn, T = mnist.nn, mnist.tensor

local function uniform(...)
  return H.fill_uniform(T.zeros(...), -1, 1)
end

describe("finite differences", function()
  before_each(function() mnist.manual_seed(7) end)

  describe("SpatialConvolution", function()
    local cases = {
      { "3x3", { 3, 4, 3, 3 }, { 2, 3, 7, 6 } },
      { "stride 2, pad 1", { 3, 5, 3, 3, 2, 2, 1, 1 }, { 2, 3, 9, 8 } },
      { "rectangular kernel, mixed strides and pads", { 2, 3, 2, 3, 1, 2, 0, 1 }, { 3, 2, 8, 7 } },
      { "stride larger than the kernel", { 2, 2, 2, 2, 3, 3, 1, 1 }, { 1, 2, 7, 8 } },
      { "1x1", { 4, 2, 1, 1 }, { 2, 4, 3, 5 } },
      { "kernel as large as the padded input", { 2, 3, 5, 5, 1, 1, 1, 1 }, { 2, 2, 3, 3 } },
      { "one input channel", { 1, 3, 3, 3 }, { 2, 1, 6, 5 } },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        H.check_gradients(nn.SpatialConvolution(unpack(case[2])), uniform(case[3]))
      end)
    end
    it("without bias", function()
      H.check_gradients(nn.SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1):noBias(), uniform(2, 2, 4, 5))
    end)
  end)

  describe("SpatialMaxPooling", function()
    -- distinct values, 2/n apart: a 1e-3 step never changes a window's winner
    local cases = {
      { "2x2", { 2, 2 }, { 2, 3, 6, 6 } },
      { "3x3 stride 2 on odd sizes", { 3, 3, 2, 2 }, { 2, 2, 7, 9 } },
      { "3x3 stride 2 pad 1", { 3, 3, 2, 2, 1, 1 }, { 1, 2, 7, 6 } },
      { "overlapping rectangular windows", { 2, 3, 1, 2 }, { 1, 2, 7, 5 } },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        H.check_gradients(nn.SpatialMaxPooling(unpack(case[2])), H.distinct(case[3], -1, 1), { eps = 1e-3 })
      end)
    end
  end)

  describe("batch normalization", function()
    it("SpatialBatchNormalization in training", function()
      local m = nn.SpatialBatchNormalization(3)
      H.fill_uniform(m.weight, 0.5, 1.5)
      H.fill_uniform(m.bias, -0.5, 0.5)
      H.check_gradients(m, uniform(3, 3, 4, 5), { eps = 1e-3, tol = 2e-3 })
    end)
    it("SpatialBatchNormalization in evaluation (running statistics)", function()
      local m = nn.SpatialBatchNormalization(3)
      H.fill_uniform(m.weight, 0.5, 1.5)
      H.fill_uniform(m.running_mean, -0.5, 0.5)
      H.fill_uniform(m.running_var, 0.5, 2)
      m:evaluate()
      H.check_gradients(m, uniform(2, 3, 3, 5))
    end)
    it("BatchNormalization in training", function()
      local m = nn.BatchNormalization(5)
      H.fill_uniform(m.weight, 0.5, 1.5)
      H.check_gradients(m, uniform(7, 5), { eps = 1e-3, tol = 2e-3 })
    end)
    it("BatchNormalization in evaluation", function()
      local m = nn.BatchNormalization(4):evaluate()
      H.fill_uniform(m.running_var, 0.5, 2)
      H.check_gradients(m, uniform(3, 4))
    end)
    it("without affine parameters", function()
      H.check_gradients(nn.BatchNormalization(3, nil, nil, false), uniform(5, 3), { eps = 1e-3, tol = 2e-3 })
    end)
  end)

  describe("the other layers", function()
    it("Linear", function()
      H.check_gradients(nn.Linear(7, 5), uniform(4, 7))
    end)
    it("Linear without bias, one row", function()
      H.check_gradients(nn.Linear(3, 2, false), uniform(1, 3))
    end)
    it("ReLU (inputs away from the kink at 0)", function()
      H.check_gradients(nn.ReLU(), H.away_from_zero({ 3, 4, 5 }, 0.05, 1))
    end)
    it("Dropout (the same mask for every evaluation)", function()
      local m = nn.Dropout(0.3)
      H.check_gradients(m, uniform(4, 6), { before_forward = function() mnist.manual_seed(99) end })
    end)
    it("LogSoftMax", function()
      H.check_gradients(nn.LogSoftMax(), H.fill_uniform(T.zeros(4, 10), -3, 3), { eps = 1e-3, tol = 2e-3 })
    end)
    it("View and Flatten", function()
      H.check_gradients(nn.View(3, -1), uniform(2, 3, 2, 2))
      H.check_gradients(nn.Flatten(), uniform(2, 3, 2, 2))
    end)
  end)

  describe("criteria", function()
    it("ClassNLLCriterion", function()
      H.check_criterion(nn.ClassNLLCriterion(), uniform(5, 10), { 3, 0, 9, 9, 1 })
    end)
    it("CrossEntropyCriterion", function()
      H.check_criterion(nn.CrossEntropyCriterion(), H.fill_uniform(T.zeros(5, 10), -3, 3),
        T { 3, 0, 9, 9, 1 }, { eps = 1e-3, tol = 2e-3 })
    end)
  end)

  -- Composites check Sequential's chaining. Pooling and ReLU behind a convolution would put
  -- near-ties and kinks within reach of the step (a 1e-3 step moves many conv outputs), so the
  -- first model is smooth and the second feeds them distinct values directly.
  it("a smooth model: conv, batch norm, view, linear, batch norm, linear, log-softmax", function()
    local model = nn.Sequential()
      :add(nn.SpatialConvolution(1, 3, 3, 3, 2, 2, 1, 1)):add(nn.SpatialBatchNormalization(3))
      :add(nn.View(-1)):add(nn.Linear(3 * 3 * 4, 4)):add(nn.BatchNormalization(4))
      :add(nn.Linear(4, 3)):add(nn.LogSoftMax())
    H.check_gradients(model, uniform(4, 1, 6, 7), { eps = 3e-3, tol = 2e-3 })
  end)

  it("a model with the kinks: pool, ReLU, dropout, flatten, linear, log-softmax", function()
    local model = nn.Sequential()
      :add(nn.SpatialMaxPooling(2, 2)):add(nn.ReLU()):add(nn.Dropout(0.25)):add(nn.Flatten())
      :add(nn.Linear(2 * 3 * 3, 5)):add(nn.LogSoftMax())
    H.check_gradients(model, H.distinct({ 4, 2, 6, 6 }, -1, 1),
      { eps = 1e-3, tol = 2e-3, before_forward = function() mnist.manual_seed(5) end })
  end)

  -- The modules of issue 13 (experiments): activations, shapes, pooling, containers, criteria.
  describe("activations", function()
    -- values at least 0.02 away from a kink at each of `kinks`
    local function away_from(kinks, shape, lo, hi)
      local t = H.fill_uniform(T.zeros(shape), lo, hi)
      local flat = t:view(t:numel())
      for i = 1, t:numel() do
        for _, k in ipairs(kinks) do
          if math.abs(flat[i] - k) < 0.02 then flat[i] = k + 0.05 end
        end
      end
      return t
    end
    it("Tanh", function() H.check_gradients(nn.Tanh(), uniform(2, 3, 4, 5):scale(2), { eps = 1e-3 }) end)
    it("Sigmoid", function() H.check_gradients(nn.Sigmoid(), uniform(3, 7):scale(4), { eps = 1e-3 }) end)
    it("LogSigmoid", function() H.check_gradients(nn.LogSigmoid(), uniform(3, 7):scale(6), { eps = 1e-3 }) end)
    it("LeakyReLU", function()
      H.check_gradients(nn.LeakyReLU(0.2), H.away_from_zero({ 2, 3, 5 }, 0.05, 1))
    end)
    it("ELU", function()
      H.check_gradients(nn.ELU(0.7), H.away_from_zero({ 2, 3, 5 }, 0.05, 2), { eps = 1e-3 })
    end)
    it("HardTanh", function()
      H.check_gradients(nn.HardTanh(-0.5, 0.8), away_from({ -0.5, 0.8 }, { 4, 9 }, -1.5, 1.5), { eps = 1e-3 })
    end)
    it("Identity", function() H.check_gradients(nn.Identity(), uniform(3, 4)) end)
    for _, shape in ipairs { { 7 }, { 3, 7 }, { 4, 3, 5 }, { 2, 5, 3, 2 } } do
      local label = table.concat(shape, "x")
      it("SoftMax " .. label, function()
        H.check_gradients(nn.SoftMax(), uniform(shape):scale(3), { eps = 1e-3, tol = 2e-3 })
      end)
      it("LogSoftMax " .. label, function()
        H.check_gradients(nn.LogSoftMax(), uniform(shape):scale(3), { eps = 1e-3, tol = 2e-3 })
      end)
    end
  end)

  describe("shapes, padding, pooling and dropout", function()
    it("Reshape, batch and not", function()
      H.check_gradients(nn.Reshape(12), uniform(2, 3, 2, 2))
      H.check_gradients(nn.Reshape(4, 6), uniform(2, 3, 4))
    end)
    it("SpatialZeroPadding, padding and cropping", function()
      H.check_gradients(nn.SpatialZeroPadding(1, 2, 0, 3), uniform(2, 2, 4, 3))
      H.check_gradients(nn.SpatialZeroPadding(-1, 2, 1, -2), uniform(2, 2, 5, 4))
    end)
    it("SpatialConvolutionMM through Winograd with padding", function()
      H.check_gradients(nn.SpatialConvolutionMM(8, 8, 3, 3, 1, 1, 1, 1), uniform(4, 8, 4, 5),
        { eps = 3e-3, tol = 2e-3 })
    end)
    it("SpatialConvolution through Winograd with different paddings per direction", function()
      H.check_gradients(nn.SpatialConvolution(8, 8, 3, 3, 1, 1, 2, 0), uniform(4, 8, 4, 5),
        { eps = 3e-3, tol = 2e-3 })
    end)
    it("SpatialMaxPooling in ceil mode with padding, on sizes that do not divide", function()
      H.check_gradients(nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1):ceil(), H.distinct({ 2, 2, 6, 7 }, -1, 1),
        { eps = 1e-3 })
      H.check_gradients(nn.SpatialMaxPooling(2, 2):ceil(), H.distinct({ 1, 2, 5, 7 }, -1, 1), { eps = 1e-3 })
    end)
    local avg_cases = {
      { "3x3 stride 1", { 3, 3 }, {}, { 2, 2, 5, 6 } },
      { "3x3 stride 2 pad 1", { 3, 3, 2, 2, 1, 1 }, {}, { 2, 2, 6, 7 } },
      { "ceil, pad, counting the padding", { 3, 3, 2, 2, 1, 1 }, { "ceil" }, { 1, 2, 6, 8 } },
      { "ceil, pad, without the padding", { 3, 3, 2, 2, 1, 1 }, { "ceil", "setCountExcludePad" }, { 1, 2, 6, 8 } },
      { "global", { 6, 5 }, {}, { 3, 4, 5, 6 } },
    }
    for _, case in ipairs(avg_cases) do
      it("SpatialAveragePooling " .. case[1], function()
        local m = nn.SpatialAveragePooling(unpack(case[2]))
        for _, method in ipairs(case[3]) do m[method](m) end
        H.check_gradients(m, uniform(case[4]))
      end)
    end
    it("SpatialDropout in training (the same mask each time) and evaluation", function()
      H.check_gradients(nn.SpatialDropout(0.4), uniform(3, 4, 2, 3),
        { before_forward = function() mnist.manual_seed(11) end })
      H.check_gradients(nn.SpatialDropout(0.4):evaluate(), uniform(3, 4, 2, 3))
    end)
  end)

  describe("containers and table modules", function()
    -- conv, tanh, conv plus the identity, then tanh: smooth, so a step never crosses a kink
    local function residual_block(c)
      return nn.Sequential()
        :add(nn.ConcatTable()
          :add(nn.Sequential():add(nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1)):add(nn.Tanh())
            :add(nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1)))
          :add(nn.Identity()))
        :add(nn.CAddTable()):add(nn.Tanh())
    end
    it("a residual block (ConcatTable, Identity, CAddTable)", function()
      H.check_gradients(residual_block(3), uniform(2, 3, 5, 4), { eps = 3e-3, tol = 2e-3 })
    end)
    it("an inception-style block (Concat along the channels)", function()
      local m = nn.Concat(2)
        :add(nn.SpatialConvolution(3, 2, 1, 1))
        :add(nn.Sequential():add(nn.SpatialConvolution(3, 2, 3, 3, 1, 1, 1, 1)):add(nn.Tanh()))
        :add(nn.SpatialAveragePooling(3, 3, 1, 1, 1, 1))
      H.check_gradients(m, uniform(2, 3, 4, 5), { eps = 3e-3, tol = 2e-3 })
    end)
    it("ParallelTable into JoinTable", function()
      local m = nn.Sequential()
        :add(nn.ParallelTable():add(nn.Linear(3, 4)):add(nn.Linear(5, 2)))
        :add(nn.JoinTable(2))
      H.check_gradients(m, { uniform(3, 3), uniform(3, 5) })
    end)
    it("JoinTable with nInputDims on a batch", function()
      H.check_gradients(nn.JoinTable(1, 3), { uniform(2, 2, 3, 3), uniform(2, 1, 3, 3) })
    end)
    it("CAddTable and CMulTable of three inputs", function()
      H.check_gradients(nn.CAddTable(), { uniform(2, 5), uniform(2, 5), uniform(2, 5) })
      H.check_gradients(nn.CMulTable(), { uniform(2, 5), uniform(2, 5), uniform(2, 5) })
    end)
    it("SelectTable, from the front and from the back", function()
      H.check_gradients(nn.SelectTable(2), { uniform(2, 3), uniform(4), uniform(1, 2) })
      H.check_gradients(nn.SelectTable(-1), { uniform(2, 3), { uniform(4), uniform(2) } })
    end)
    it("ConcatTable on a table input sums table gradients", function()
      local m = nn.Sequential()
        :add(nn.ConcatTable():add(nn.SelectTable(2)):add(nn.Identity()):add(nn.CMulTable()))
        :add(nn.ParallelTable():add(nn.Tanh()):add(nn.CAddTable()):add(nn.Identity()))
        :add(nn.CAddTable())
      H.check_gradients(m, { uniform(2, 3), uniform(2, 3) }, { eps = 3e-3, tol = 2e-3 })
    end)
    it("a module shared by two branches (clone with names) gets both gradients", function()
      local a = nn.Linear(4, 3)
      local b = a:clone("weight", "bias", "gradWeight", "gradBias")
      local m = nn.Sequential():add(nn.ConcatTable():add(a):add(nn.Sequential():add(nn.Tanh()):add(b)))
        :add(nn.CAddTable())
      H.check_gradients(m, uniform(3, 4), { eps = 3e-3, tol = 2e-3 })
    end)
  end)

  describe("criteria of issue 13", function()
    it("MSECriterion, mean and sum", function()
      H.check_criterion(nn.MSECriterion(), uniform(3, 5), uniform(3, 5))
      H.check_criterion(nn.MSECriterion(false), uniform(3, 5), uniform(3, 5))
    end)
    it("SmoothL1Criterion (differences away from +-1)", function()
      local x, t = uniform(4, 6):scale(3), T.zeros(4, 6)
      local flat = x:view(x:numel())
      for i = 1, x:numel() do
        if math.abs(math.abs(flat[i]) - 1) < 0.05 then flat[i] = flat[i] * 1.2 end
      end
      H.check_criterion(nn.SmoothL1Criterion(), x, t, { eps = 1e-3 })
    end)
    it("BCECriterion with weights", function()
      H.check_criterion(nn.BCECriterion(H.fill_uniform(T.zeros(3), 0.5, 2)),
        H.fill_uniform(T.zeros(4, 3), 0.1, 0.9), H.fill_uniform(T.zeros(4, 3), 0, 1), { eps = 1e-3, tol = 2e-3 })
    end)
    it("DistKLDivCriterion", function()
      local target = nn.SoftMax():forward(uniform(3, 6)):clone()
      H.check_criterion(nn.DistKLDivCriterion(), uniform(3, 6), target)
    end)
    it("MultiMarginCriterion, p = 1 and p = 2 with weights", function()
      local x = H.distinct({ 5, 6 }, -1, 1) -- margins away from 0: a step never crosses a hinge
      H.check_criterion(nn.MultiMarginCriterion(1, nil, 0.51), x, { 2, 0, 4, 4, 1 }, { eps = 1e-3 })
      H.check_criterion(nn.MultiMarginCriterion(2, H.fill_uniform(T.zeros(6), 0.5, 2), 0.51), x,
        { 2, 0, 4, 4, 1 }, { eps = 1e-3 })
    end)
    it("CrossEntropyCriterion summed (sizeAverage = false)", function()
      local crit = nn.CrossEntropyCriterion()
      crit.sizeAverage = false
      H.check_criterion(crit, H.fill_uniform(T.zeros(5, 10), -3, 3), { 3, 0, 9, 9, 1 }, { eps = 1e-3, tol = 2e-3 })
      local mean = nn.CrossEntropyCriterion():forward(T.zeros(4, 3), { 0, 1, 2, 0 })
      assert.is_true(math.abs(crit:forward(T.zeros(4, 3), { 0, 1, 2, 0 }) - 4 * mean) < 1e-5)
    end)
    it("ClassNLLCriterion with class weights, mean and sum", function()
      local w = H.fill_uniform(T.zeros(10), 0.5, 2)
      H.check_criterion(nn.ClassNLLCriterion(w), uniform(5, 10), { 3, 0, 9, 9, 1 })
      H.check_criterion(nn.ClassNLLCriterion(w, false), uniform(5, 10), { 3, 0, 9, 9, 1 })
    end)
  end)

  describe("the checker itself", function()
    -- A Linear whose gradients are 1% too large, and one with a single wrong weight gradient.
    local function wrong_linear(scale_input, bump_weight)
      local m = nn.Linear(6, 4)
      local backward = m.backward
      function m:backward(x, g)
        local gi = backward(self, x, g)
        gi:scale(scale_input)
        if bump_weight then self.gradWeight:set(2, 3, self.gradWeight:get(2, 3) + 0.05) end
        return gi
      end
      return m
    end

    it("fails a gradient w.r.t. the input that is 1% off", function()
      local ok, err = pcall(H.check_gradients, wrong_linear(1.01, false), uniform(3, 6))
      assert.is_false(ok)
      assert.truthy(tostring(err):find("input: relative error", 1, true), err)
    end)

    it("fails a single wrong weight gradient", function()
      local ok, err = pcall(H.check_gradients, wrong_linear(1, true), uniform(3, 6))
      assert.is_false(ok)
      assert.truthy(tostring(err):find("parameter 1: relative error", 1, true), err)
    end)

    it("passes the same Linear when it is right, with room to spare", function()
      local errors = H.check_gradients(wrong_linear(1, false), uniform(3, 6))
      assert.is_true(errors.input < 1e-4 and errors["parameter 1"] < 1e-4)
    end)
  end)
end)
