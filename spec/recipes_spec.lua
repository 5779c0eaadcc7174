-- The recipes (config/fast.yml, config/best.yml; README, "Recipes"): the fast recipe trained for
-- real on a slice of MNIST, twice, learns and gives bitwise-identical weights; the best recipe's
-- config resolves to the model and augmentation it describes.
local mnist = require "mnist"
local helpers = require "spec.support.helpers"
local train = require "mnist.train"
local weights = require "mnist.weights"

-- A hash of the published classifier's tensors (its metadata holds times, which differ).
local function tensors_hash(path)
  local tensors, _, names = weights.load(path)
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. tensors[name]:tobytes() end
  return mnist.core.sha256(table.concat(parts))
end

describe("recipes", function()
  local home
  setup(function()
    helpers.mirror()
    home = helpers.tmpdir()
  end)
  teardown(function() helpers.rm(home) end)

  it("fast: two runs on 6,000 real images learn (validation well above chance) and agree bitwise", function()
    local hashes = {}
    for i = 1, 2 do
      local cfg = mnist.config.load("config/fast.yml", {
        artifact_dir = home .. "/" .. i, limit_train = 6000, limit_test = 500, log_interval = 1000,
      })
      assert.equal("fast", cfg.arch)
      local run = train.run(cfg, { quiet = true, run_id = "fast" .. i })
      local last = run.history[#run.history]
      assert.equal(cfg.epochs, #run.history)
      -- chance is 10%; 5,500 images in two epochs reach about 95%
      assert.is_true(last.validation_accuracy > 0.85, "validation accuracy " .. last.validation_accuracy)
      assert.equal(home .. "/" .. i .. "/weights/fast/mnist-classifier-" .. mnist.version .. ".safetensors",
        run.weights.classifier)
      hashes[i] = tensors_hash(run.weights.classifier)
    end
    assert.equal(hashes[1], hashes[2])
  end)

  it("best: the model, schedule and augmentation its config says", function()
    local cfg = mnist.config.load("config/best.yml", { artifact_dir = home })
    assert.same({ "best", "adam", "onecycle", 2, 10, 0.1 },
      { cfg.arch, cfg.optimizer, cfg.lr_schedule, cfg.augment_shift, cfg.augment_rotate, cfg.augment_scale })
    local net = mnist.classifier(cfg)
    assert.same({ 7, 10 }, net:forward(mnist.tensor(7, 1, 28, 28)):size())
  end)
end)
