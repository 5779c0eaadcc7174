local mnist = require "mnist"
local T = mnist.tensor

local function names(net)
  local out = {}
  for i, pair in ipairs(net:namedTensors()) do out[i] = pair[1] .. " " .. T.shape_str(pair[2]) end
  return out
end

describe("model: the default architecture (DESIGN section 4)", function()
  it("has PyTorch's state_dict names and shapes", function()
    assert.same({
      "features.0.weight (32, 1, 3, 3)", "features.0.bias (32)",
      "features.2.weight (64, 32, 3, 3)", "features.2.bias (64)",
      "features.5.weight (64)", "features.5.bias (64)", "features.5.running_mean (64)", "features.5.running_var (64)",
      "head.1.weight (128, 9216)", "head.1.bias (128)",
      "head.3.weight (128)", "head.3.bias (128)", "head.3.running_mean (128)", "head.3.running_var (128)",
      "head.4.weight (10, 128)", "head.4.bias (10)",
    }, names(mnist.classifier()))
    assert.equal(1200266, mnist.classifier():numParameters())
  end)

  it("maps 28x28 images to log-probabilities of 10 digits", function()
    local net = mnist.classifier()
    local out = net:forward(T.zeros(3, 1, 28, 28))
    assert.same({ 3, 10 }, out:size())
    local p = out:clone():exp():sum(-1) -- (3, 1): Torch7 keeps the summed dim
    assert.same({ 3, 1 }, p:size())
    for i = 1, 3 do assert.near(1, p[i][1], 1e-5) end
  end)

  it("refuses other image sizes with a message that says what to do", function()
    local ok, err = pcall(function() mnist.classifier():forward(T.zeros(1, 1, 32, 32)) end)
    assert.is_false(ok)
    assert.truthy(err:find("classifier: needs images of shape (N, 1, 28, 28), got (1, 1, 32, 32)", 1, true), err)
    assert.truthy(err:find("mnist.features takes any size", 1, true))
  end)

  it("has a fully convolutional feature extractor (28, 32 and 64 pixels)", function()
    local f = mnist.features()
    assert.same({ 2, 64, 12, 12 }, f:forward(T.zeros(2, 1, 28, 28)):size())
    assert.same({ 1, 64, 14, 14 }, f:forward(T.zeros(1, 1, 32, 32)):size())
    assert.same({ 1, 64, 30, 30 }, f:forward(T.zeros(1, 1, 64, 64)):size())
    assert.equal("features.0.weight", f:namedTensors()[1][1]) -- the classifier's names
  end)

  it("draws its initial weights from the seeded generator", function()
    mnist.manual_seed(7)
    local a = mnist.classifier():getParameters()
    mnist.manual_seed(7)
    local b = mnist.classifier():getParameters()
    mnist.manual_seed(8)
    local c = mnist.classifier():getParameters()
    assert.equal(a:tobytes(), b:tobytes())
    assert.not_equal(a:tobytes(), c:tobytes())
  end)

  it("builds LeNet with arch = lenet", function()
    local net = mnist.classifier { arch = "lenet" }
    assert.same({ 2, 10 }, net:forward(T.zeros(2, 1, 28, 28)):size())
    assert.equal(44426, net:numParameters())
  end)

  it("runs its ReLUs in place, with the out-of-place values and gradients, bitwise", function()
    for _, arch in ipairs { "default", "lenet" } do
      local function run(inplace)
        mnist.manual_seed(5)
        local net = mnist.classifier { arch = arch }
        local relus = 0
        for _, m in ipairs(net:listModules()) do
          if m.__typename == "nn.ReLU" then
            assert.is_true(m.inplace, arch)
            m.inplace = inplace or nil
            relus = relus + 1
          end
        end
        assert.equal(arch == "default" and 3 or 4, relus)
        local _, grads = net:getParameters()
        local x = T.zeros(4, 1, 28, 28)
        mnist.random.default:fill_uniform(x, 0, 1)
        local y = net:forward(x):clone()
        local gx = net:backward(x, y:clone():fill(-0.1)):clone()
        return y:tobytes(), grads:tobytes(), gx:tobytes()
      end
      local y1, g1, gx1 = run(false)
      local y2, g2, gx2 = run(true)
      assert.equal(y1, y2, arch)
      assert.equal(g1, g2, arch)
      assert.equal(gx1, gx2, arch)
    end
  end)

  it("takes a config, overrides or options, and rejects unknown settings", function()
    assert.equal("lenet", mnist.classifier(mnist.config.resolve { arch = "lenet" }).arch)
    assert.has_error(function() mnist.classifier { arch = "vgg" } end,
      "config: model settings: 'arch' must be one of default, lenet, fast, best, got 'vgg'")
    assert.has_error(function() mnist.classifier { pretraind = true } end,
      "model: unknown setting 'pretraind' (did you mean 'pretrained'?)")
  end)
end)
