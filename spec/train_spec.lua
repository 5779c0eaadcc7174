-- Short real training runs on a few thousand MNIST images (through MNIST_MIRROR, as `make test`
-- sets it): accuracy, bitwise reproducibility, resume, NaN handling, artifacts, inference.
local mnist = require "mnist"
local helpers = require "spec.support.helpers"
local read = helpers.read
local train = require "mnist.train"
local weights = require "mnist.weights"
local preprocessing = require "mnist.preprocessing"

local T = mnist.tensor

-- A hash of every tensor in a run's checkpoint (model and optimizer state; the metadata holds
-- timings, which differ between runs).
local function checkpoint_hash(run)
  local tensors, _, names = weights.load(run.dir .. "/checkpoint.safetensors")
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. tensors[name]:tobytes() end
  return mnist.core.sha256(table.concat(parts))
end

describe("training", function()
  local home
  local function settings(extra)
    local cfg = {
      artifact_dir = home, limit_train = 2500, n_validation = 500, limit_test = 1000, epochs = 2,
      threads = 2, log_interval = 1000,
    }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    return mnist.config.resolve(cfg)
  end

  setup(function()
    helpers.mirror()
    home = helpers.tmpdir()
  end)
  teardown(function() os.execute("rm -rf " .. home) end)

  local first, first_manifest -- the first run and its weights' manifest, reused below

  it("learns: a short run on 2,000 real images clears 90% test accuracy", function()
    first = train.run(settings(), { quiet = true, run_id = "first" })
    assert.equal(2, #first.history)
    assert.is_true(first.history[2].train_loss < first.history[1].train_loss)
    assert.is_true(first.test_accuracy > 0.90, "test accuracy " .. first.test_accuracy)
    -- one metrics line per epoch, and the resolved config
    local lines = {}
    for line in read(first.dir .. "/metrics.jsonl"):gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(2, #lines)
    assert.truthy(lines[2]:find('"test_accuracy"', 1, true))
    assert.equal(2500, require("cjson").decode(read(first.dir .. "/config.json")).limit_train)
  end)

  it("publishes versioned weights with a manifest that verifies", function()
    local paths = first.weights
    assert.equal(home .. "/weights/mnist-classifier-" .. mnist.version .. ".safetensors", paths.classifier)
    local manifest = require("cjson").decode(read(paths.manifest))
    first_manifest = manifest
    assert.equal(mnist.version, manifest.version)
    for _, part in ipairs { "classifier", "features" } do
      local name = paths[part]:match("[^/]+$")
      assert.equal(weights.verify(paths[part]), manifest.files[name].sha256)
      assert.equal(manifest.files[name].sha256, weights.read_checksum(paths[part]))
    end
    local _, meta = weights.load(paths.classifier)
    assert.equal(mnist.version, meta.version)
    assert.equal("classifier", meta.part)
    assert.equal("default", meta.arch)
    assert.near(first.test_accuracy, tonumber(meta.test_accuracy), 1e-9)
    assert.equal(2500, require("cjson").decode(meta.config).limit_train)
  end)

  it("is reproducible: the same config, seed and threads give bitwise-identical weights", function()
    local second = train.run(settings(), { quiet = true, run_id = "second" })
    assert.equal(checkpoint_hash(first), checkpoint_hash(second))
    -- the published files hold the same tensors (their metadata names the run and the commit)
    local manifest = require("cjson").decode(read(second.weights.manifest))
    for name, entry in pairs(first_manifest.files) do
      assert.equal(entry.tensors_sha256, manifest.files[name].tensors_sha256)
    end
    local third = train.run(settings { seed = 2 }, { quiet = true, run_id = "third" })
    assert.not_equal(checkpoint_hash(first), checkpoint_hash(third))
  end)

  it("resumes bitwise as if uninterrupted, from a mid-epoch checkpoint", function()
    local cut = train.run(settings(), { quiet = true, run_id = "cut", stop_after = { 1, 17 } })
    assert.is_true(cut.interrupted)
    assert.equal(130, cut.exit_code)
    local resumed = train.run(settings(), { quiet = true, run_id = "cut", resume = true })
    assert.equal(checkpoint_hash(first), checkpoint_hash(resumed))
    assert.same(first.history[2].test_accuracy, resumed.history[2].test_accuracy)
  end)

  it("resumes a finished run with more epochs, and refuses other settings", function()
    local more = train.run(settings { epochs = 3 }, { quiet = true, run_id = "first", resume = true })
    assert.equal(3, #more.history)
    assert.has_error(function()
      train.run(settings { batch_size = 32 }, { quiet = true, run_id = "first", resume = true })
    end, "train: --resume: run first was made with other settings: batch_size (64 vs 32)")
  end)

  it("trains with Adagrad (lr 0.045, the 2021 reference) under a per-batch one-cycle schedule, resuming bitwise", function()
    local own_home = helpers.tmpdir() -- its lenet weights must not replace the default model's
    local cfg = settings { arch = "lenet", optimizer = "adagrad", learning_rate = 0.045,
      lr_schedule = "onecycle", epochs = 2, artifact_dir = own_home }
    local steps = mnist.config.steps_per_epoch(cfg) -- 31 batches of 64 from 2,000 images
    local whole = train.run(cfg, { quiet = true, run_id = "onecycle" })
    -- the schedule has moved once per batch: after epoch 1, the rate of batch steps + 1
    local sched = mnist.optim.OneCycleLR(0.045, 2 * steps)
    for _ = 1, steps do sched:step() end
    assert.near(sched:get_lr(), whole.history[1].learning_rate, 1e-15)
    assert.is_true(whole.history[2].test_accuracy > 0.6, "accuracy " .. whole.history[2].test_accuracy) -- chance: 0.1
    local cut = train.run(cfg, { quiet = true, run_id = "onecycle-cut", stop_after = { 1, 9 } })
    assert.is_true(cut.interrupted)
    local resumed = train.run(cfg, { quiet = true, run_id = "onecycle-cut", resume = true })
    assert.equal(checkpoint_hash(whole), checkpoint_hash(resumed))
    os.execute("rm -rf " .. own_home)
  end)

  it("stops on a NaN loss with a clear error and keeps the last good checkpoint", function()
    local cfg = settings { optimizer = "sgd", learning_rate = 1e38, epochs = 2 }
    local ok, err = pcall(train.run, cfg, { quiet = true, run_id = "nan" })
    assert.is_false(ok)
    assert.truthy(err:find("^train: loss is %-?nan at epoch 1, step %d+ %(learning rate 1e%+38%): training stopped"), err)
    assert.truthy(err:find("no checkpoint was written yet", 1, true))
  end)

  it("classifies real digits saved as PNG, inverted and off-centre, after training", function()
    local net = mnist.classifier(settings(), { weights = first.weights.classifier })
    local records = mnist.dataset.open_records(settings())
    local correct, dir = 0, helpers.tmpdir()
    for i = 1, 20 do
      local digit = records.test.images[i] -- uint8 (28, 28), white ink on black
      -- a light page with dark ink, the digit off-centre on a 60x40 canvas
      local page = T.zeros(60, 40):fill(1)
      for r = 1, 28 do
        for c = 1, 28 do page:set(r + 25, c + 2, 1 - digit:get(r, c) / 255) end
      end
      local path = ("%s/%d.png"):format(dir, i)
      preprocessing.save_image(page, path)
      if net:predict(path) == records.test.labels[i] then correct = correct + 1 end
    end
    os.execute("rm -rf " .. dir)
    assert.is_true(correct >= 17, correct .. " of 20 correct")
  end)
end)
