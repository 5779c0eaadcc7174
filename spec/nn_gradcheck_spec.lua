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
