-- examples/torch7_train_on_mnist.lua (Torch7's MNIST demo, ported) runs each of its models for
-- one epoch on a slice of real MNIST (through MNIST_MIRROR, as `make test` sets it), and its
-- confusion matrices count every image once.
local helpers = require "spec.support.helpers"

local SCRIPT = "examples/torch7_train_on_mnist.lua"

-- The printed confusion matrices, in order: each { counts = sum of the matrix's entries,
-- correct = its diagonal, reported = {correct, total} of its "global correct" line }.
local function matrices(out)
  local found = {}
  for block in out:gmatch("ConfusionMatrix:\n(.-global correct:[^\n]*)") do
    local counts, correct, row = 0, 0, 0
    for line in block:gmatch("[^\n]+") do
      local cells = line:match("^%s*%[+([%d%s]+)%]")
      if cells then
        row = row + 1
        local col = 0
        for n in cells:gmatch("%d+") do
          col = col + 1
          counts = counts + tonumber(n)
          if col == row then correct = correct + tonumber(n) end
        end
      end
    end
    local c, t = block:match("global correct: [%d.]+%% %((%d+) / (%d+)%)")
    found[#found + 1] = { counts = counts, correct = correct, rows = row, reported = { tonumber(c), tonumber(t) } }
  end
  return found
end

describe("the Torch7 MNIST demo, ported", function()
  local home
  setup(function()
    helpers.mirror()
    home = helpers.tmpdir()
  end)
  teardown(function() helpers.rm(home) end)

  -- Runs the demo in home for one epoch on 105 training and 50 test images (105 is not a
  -- multiple of the batch size of 10: the last batch holds 5).
  local function demo(args)
    local pwd = io.popen("pwd"):read("*l")
    local build = os.getenv("MNIST_BUILD_DIR") or "build"
    local out, code = helpers.run(("cd %s && MNIST_HOME=%s LUA_PATH=%s LUA_CPATH=%s luajit %s/%s --epochs 1 "
      .. "--trainSize 105 --testSize 50 -t 1 %s 2>&1"):format(helpers.quote(home), helpers.quote(home),
      helpers.quote(pwd .. "/lua/?.lua;" .. pwd .. "/lua/?/init.lua;;"), helpers.quote(pwd .. "/" .. build .. "/?.so;;"),
      pwd, SCRIPT, args))
    return out, code == 0
  end

  local test_matrices = {} -- the test matrix of each run below, by its save directory

  for _, run in ipairs {
    { model = "convnet", optimization = "SGD" },
    { model = "mlp", optimization = "SGD" },
    { model = "linear", optimization = "SGD" },
    { model = "linear", optimization = "LBFGS" },
  } do
    it(("trains the %s with %s for an epoch, counting every image once"):format(run.model, run.optimization), function()
      local save = ("logs-%s-%s"):format(run.model, run.optimization)
      local out, ok = demo(("-m %s -o %s -s %s"):format(run.model, run.optimization, save))
      assert.is_true(ok, out)
      local m = matrices(out)
      assert.equal(2, #m, out) -- the training epoch's, then the test's
      for i, total in ipairs { 105, 50 } do
        assert.equal(10, m[i].rows)
        assert.equal(total, m[i].counts)
        assert.same({ m[i].correct, total }, m[i].reported)
      end
      assert.is_true(m[2].correct > 5, "better than chance: " .. m[2].correct .. " of 50") -- chance: 5
      -- one line of accuracy per epoch in each log, equal to the printed one
      local train_log = helpers.read(("%s/%s/train.log"):format(home, save))
      local value = tonumber(train_log:match("\n%s*(%S+)%s*\n?$"))
      assert.near(100 * m[1].correct / 105, value, 1e-3)
      local test_log = helpers.read(("%s/%s/test.log"):format(home, save))
      assert.near(100 * m[2].correct / 50, tonumber(test_log:match("\n%s*(%S+)%s*\n?$")), 1e-3)
      test_matrices[save] = m[2]
      -- the network's weights, reloadable with -n
      assert.is_true(helpers.exists(("%s/%s/mnist.net.safetensors"):format(home, save)))
    end)
  end

  it("reloads a saved network with -n, and refuses an unknown model", function()
    local out, ok = demo("-m linear -n logs-linear-SGD/mnist.net.safetensors -s reloaded -r 0")
    assert.is_true(ok, out)
    assert.truthy(out:find("reloading previously trained network", 1, true))
    -- at learning rate 0 the reloaded weights score on the test images what they scored when saved
    assert.same(test_matrices["logs-linear-SGD"], matrices(out)[2])
    out, ok = demo("-m resnet")
    assert.is_false(ok)
    assert.truthy(out:find("unknown model type: resnet", 1, true), out)
  end)
end)
