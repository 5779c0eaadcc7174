-- Bad input raises an error that names the module (as it prints) and the shapes involved.
local mnist = require "mnist"
local nn, T, core = mnist.nn, mnist.tensor, mnist.core

describe("nn errors", function()
  local conv = nn.SpatialConvolution(1, 32, 3, 3)

  describe("SpatialConvolution", function()
    it("names a wrong channel count", function()
      assert.has_error(function() conv:forward(T(2, 3, 28, 28)) end,
        "SpatialConvolution(1->32, 3x3): expected 1 input channel, got 3 (input (2, 3, 28, 28))")
    end)
    it("names an input smaller than the kernel", function()
      assert.has_error(function() conv:forward(T(2, 1, 2, 2)) end,
        "SpatialConvolution(1->32, 3x3): input 2x2 (padded 2x2) is smaller than the 3x3 kernel (height x width)")
      assert.has_error(function() nn.SpatialConvolution(1, 2, 3, 3, 1, 1, 1, 0):forward(T(2, 1, 1, 1)) end,
        "SpatialConvolution(1->2, 3x3, 1,1, 1,0): input 1x1 (padded 1x3) is smaller than the 3x3 kernel (height x width)")
    end)
    it("names a wrong rank, element type or argument", function()
      assert.has_error(function() conv:forward(T(1, 28, 28)) end,
        "SpatialConvolution(1->32, 3x3): expected a 4-D batch (N, C, H, W), got (1, 28, 28)")
      assert.has_error(function() conv:forward(T.bytes(1, 1, 28, 28)) end,
        "SpatialConvolution(1->32, 3x3): expected a float32 input, got uint8 (1, 1, 28, 28)")
      assert.has_error(function() conv:forward({}) end,
        "SpatialConvolution(1->32, 3x3): expected a tensor input, got table")
    end)
    it("names a gradOutput of the wrong shape", function()
      conv:forward(T(1, 1, 5, 5))
      assert.has_error(function() conv:backward(T(1, 1, 5, 5), T(1, 32, 2, 2)) end,
        "SpatialConvolution(1->32, 3x3): expected a float32 gradOutput of shape (1, 32, 3, 3), got float32 (1, 32, 2, 2)")
    end)
    it("checks its constructor arguments", function()
      assert.has_error(function() nn.SpatialConvolution(0, 32, 3) end,
        "SpatialConvolution: nInputPlane must be a whole number >= 1, got 0")
      assert.has_error(function() nn.SpatialConvolution(1, 32, 3, 3, 0) end,
        "SpatialConvolution: dW must be a whole number >= 1, got 0")
      assert.has_error(function() nn.SpatialConvolution(1, 32, 3, 3, 1, 1, -1) end,
        "SpatialConvolution: padW must be a whole number >= 0, got -1")
      assert.has_error(function() nn.SpatialConvolution(1, 32, 2.5) end,
        "SpatialConvolution: kW must be a whole number >= 1, got 2.5")
    end)
  end)

  describe("the other layers", function()
    it("SpatialMaxPooling", function()
      assert.has_error(function() nn.SpatialMaxPooling(2, 2):forward(T(1, 1, 1, 5)) end,
        "SpatialMaxPooling(2x2, 2,2): input 1x5 (padded 1x5) is smaller than the 2x2 window (height x width)")
      assert.has_error(function() nn.SpatialMaxPooling(2, 2):forward(T(4, 5)) end,
        "SpatialMaxPooling(2x2, 2,2): expected a 4-D batch (N, C, H, W), got (4, 5)")
      assert.has_error(function() nn.SpatialMaxPooling(2, 2, 2, 2, 2, 0) end,
        "SpatialMaxPooling: padding 2,0 must be at most half the 2x2 kernel")
    end)

    it("Linear", function()
      assert.has_error(function() nn.Linear(9216, 128):forward(T(2, 100)) end,
        "Linear(9216->128): expected 9216 input features, got 100 (input (2, 100))")
      assert.has_error(function() nn.Linear(9216, 128):forward(T(2, 64, 12, 12)) end,
        "Linear(9216->128): expected a 2-D batch (N, features), got (2, 64, 12, 12)")
      assert.has_error(function() nn.Linear(0, 2) end, "Linear: inputSize must be a whole number >= 1, got 0")
    end)

    it("batch normalization", function()
      assert.has_error(function() nn.SpatialBatchNormalization(64):forward(T(2, 32, 12, 12)) end,
        "SpatialBatchNormalization(64): expected 64 channels, got 32 (input (2, 32, 12, 12))")
      assert.has_error(function() nn.BatchNormalization(128):forward(T(1, 128)) end,
        "BatchNormalization(128): expected more than 1 value per channel when training, got input (1, 128)")
      assert.has_error(function() nn.BatchNormalization(128):forward(T(2, 128, 1, 1)) end,
        "BatchNormalization(128): expected a 2-D batch (N, C), got (2, 128, 1, 1)")
      assert.has_error(function() nn.BatchNormalization(4, -1) end,
        "BatchNormalization: eps must be a number > 0, got -1")
    end)

    it("View, Flatten, LogSoftMax, Dropout, ReLU", function()
      assert.has_error(function() nn.View(5, -1):forward(T(2, 3, 4)) end,
        "View(5, -1): cannot view samples of 12 elements (input (2, 3, 4)) as (5, -1)")
      assert.has_error(function() nn.Flatten():forward(T(6)) end, "Flatten: expected a batch (N, ...), got (6)")
      assert.has_error(function() nn.View(-1, -1) end, "View: expected 1 to 3 sizes, at most one of them -1")
      assert.has_error(function() nn.LogSoftMax():forward(T.bytes(2, 3)) end,
        "LogSoftMax: expected a float32 input, got uint8 (2, 3)")
      assert.has_error(function() nn.Dropout(1.5) end, "Dropout: p must be a probability in [0, 1], got 1.5")
      assert.has_error(function() nn.ReLU():backward(T(2, 3), T(2, 3)) end, "ReLU: backward called before forward")
    end)

    it("Sequential:add takes modules only", function()
      assert.has_error(function() nn.Sequential():add(3) end, "Sequential: add expects an nn module, got number")
      assert.has_error(function() nn.Sequential():add(nn.ClassNLLCriterion()) end,
        "Sequential: add expects an nn module, got a criterion")
    end)

    it("errors inside a Sequential name the module that failed", function()
      local model = nn.Sequential():add(nn.SpatialConvolution(1, 4, 3, 3)):add(nn.Flatten()):add(nn.Linear(100, 10))
      assert.has_error(function() model:forward(T(2, 1, 8, 8)) end,
        "Linear(100->10): expected 100 input features, got 144 (input (2, 144))")
    end)
  end)

  describe("labels", function()
    local x = T(2, 10)
    for _, crit in ipairs { nn.ClassNLLCriterion(), nn.CrossEntropyCriterion() } do
      local name = crit.__typename:sub(4)
      it(name .. " names a label out of range, in a table or a tensor", function()
        assert.has_error(function() crit:forward(x, { 1, 10 }) end, name .. ": label 10 at position 2 is out of range 0..9")
        assert.has_error(function() crit:forward(x, { -1, 1 }) end, name .. ": label -1 at position 1 is out of range 0..9")
        assert.has_error(function() crit:forward(x, { 1, 2.5 }) end, name .. ": label 2.5 at position 2 is out of range 0..9")
        assert.has_error(function() crit:forward(x, T { 3, 12 }) end, name .. ": label 12 at position 2 is out of range 0..9")
        assert.has_error(function() crit:backward(x, T { 10, 1 }) end, name .. ": label 10 at position 1 is out of range 0..9")
      end)
      it(name .. " names a wrong label count or type", function()
        assert.has_error(function() crit:forward(x, { 1 }) end, name .. ": expected 2 labels for input (2, 10), got 1")
        assert.has_error(function() crit:forward(x, T { 3, 1, 2 }) end,
          name .. ": expected labels of shape (2) for input (2, 10), got (3)")
        assert.has_error(function() crit:forward(x, "12") end,
          name .. ": expected labels as a table or a tensor of shape (2), got string")
        assert.has_error(function() crit:forward(T(2, 10, 1), { 1, 2 }) end,
          name .. ": expected a 2-D batch (N, classes), got (2, 10, 1)")
      end)
    end
  end)

  describe("the C kernels called directly", function()
    it("name the function and every shape", function()
      assert.has_error(function()
        core.conv2d_forward(T(1, 2, 3, 3), T(10), T(1, 1, 5, 5), T(2, 1, 3, 3), nil, 1, 1, 0, 0)
      end, "conv2d_forward: bad shape: out (1, 2, 3, 3), workspace (10), input (1, 1, 5, 5), weight (2, 1, 3, 3)")
      assert.has_error(function() core.linear_forward(T(2, 3), T(2, 4), T(3, 5)) end,
        "linear_forward: bad shape: out (2, 3), input (2, 4), weight (3, 5)")
      assert.has_error(function() core.maxpool2d_forward(T(1, 1, 2, 2), T(1, 1, 2, 2), T(1, 1, 4, 4), 2, 2, 0, 2, 0, 0) end,
        "maxpool2d_forward: stride height must be a whole number from 1 to 1048576, got 0")
      assert.has_error(function() core.nll_forward(T(2, 3), T { 0, 3 }) end,
        "nll_forward: index out of range: input (2, 3), labels (2)")
    end)

    it("refuse outputs that overlap their inputs", function()
      local rows = T(3, 2)
      assert.has_error(function() core.linear_forward(rows:narrow(1, 1, 2), rows:narrow(1, 2, 2), T(2, 2)) end,
        "linear_forward: bad argument: out (2, 2), input (2, 2), weight (2, 2)")
      local arena = T(200) -- the input lives inside the workspace
      local input = arena:narrow(1, 1, 36):view(1, 1, 6, 6)
      assert.has_error(function()
        core.conv2d_forward(T(1, 1, 4, 4), arena, input, T(1, 1, 3, 3), nil, 1, 1, 0, 0)
      end, "conv2d_forward: bad argument: out (1, 1, 4, 4), workspace (200), input (1, 1, 6, 6), weight (1, 1, 3, 3)")
    end)
  end)
end)
