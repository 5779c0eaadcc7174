-- pretrained = true: where the weights come from, that they are checked, and that they work.
local mnist = require "mnist"
local helpers = require "spec.support.helpers"

describe("pretrained weights", function()
  local home
  before_each(function() home = helpers.tmpdir() end)
  after_each(function() helpers.rm(home) end)

  local function settings() return mnist.config.resolve { artifact_dir = home } end

  it("come from the rock when the artifact dir has none, and classify real test digits", function()
    local path = require("mnist.pretrained").resolve(settings(), "classifier")
    assert.truthy(path:find("/mnist/shipped/mnist%-classifier%-" .. mnist.version:gsub("%.", "%%.") .. "%.safetensors$"), path)
    local net = mnist.classifier(settings(), { pretrained = true })
    local records = mnist.dataset.ensure_records(mnist.config.resolve {
      artifact_dir = home, mirrors = { helpers.mirror() } }, { log = false })
    local images = records.test.images:narrow(1, 1, 500)
    local labels, probs = net:predict(images)
    assert.same({ 500, 10 }, probs:size())
    local correct = 0
    for i = 1, 500 do
      if labels[i] == records.test.labels[i] then correct = correct + 1 end
    end
    assert.is_true(correct >= 490, correct .. " of 500")
  end)

  it("load the same from the short form with artifact_dir among its settings", function()
    -- { artifact_dir = ..., pretrained = true } is overrides and options, not a resolved config:
    -- once taken for one, the net ran without the normalisation settings (31 of 500 right)
    local records = mnist.dataset.ensure_records(mnist.config.resolve {
      artifact_dir = home, mirrors = { helpers.mirror() } }, { log = false })
    local images = records.test.images:narrow(1, 1, 200)
    local short = mnist.classifier { artifact_dir = home, pretrained = true }
    local resolved = mnist.classifier(settings(), { pretrained = true })
    assert.equal(0.1307, short.config.normalize_mean)
    local labels_short, probs_short = short:predict(images)
    local labels_resolved, probs_resolved = resolved:predict(images)
    assert.same(labels_resolved, labels_short)
    assert.equal(0, probs_short:clone():add(-1, probs_resolved):abs():max())
  end)

  it("of the recipes come from the rock by arch name, each from its own folder, and classify real test digits", function()
    local records = mnist.dataset.ensure_records(mnist.config.resolve {
      artifact_dir = home, mirrors = { helpers.mirror() } }, { log = false })
    local images = records.test.images:narrow(1, 1, 500)
    for _, arch in ipairs { "fast", "best" } do
      local cfg = mnist.config.resolve { artifact_dir = home, arch = arch }
      local path = require("mnist.pretrained").resolve(cfg, "classifier")
      assert.truthy(path:find("/mnist/shipped/" .. arch .. "/mnist%-classifier%-" .. mnist.version:gsub("%.", "%%.") .. "%.safetensors$"), path)
      local net = mnist.classifier(cfg, { pretrained = true })
      assert.equal(arch, net.arch)
      local labels = net:predict(images)
      local correct = 0
      for i = 1, 500 do
        if labels[i] == records.test.labels[i] then correct = correct + 1 end
      end
      assert.is_true(correct >= 490, arch .. ": " .. correct .. " of 500")
    end
  end)

  it("load into the feature extractor under the same names", function()
    local features = mnist.features(settings(), { pretrained = true })
    local classifier = mnist.classifier(settings(), { pretrained = true })
    assert.equal(features:namedTensors()[1][2]:tobytes(), classifier:namedTensors()[1][2]:tobytes())
    assert.same({ 1, 64, 14, 14 }, features:forward(mnist.tensor(1, 1, 32, 32)):size())
  end)

  it("prefer the artifact dir, and refuse a tampered file there instead of falling through", function()
    local dir = home .. "/weights"
    helpers.sh(("mkdir -p %s && cp lua/mnist/shipped/*.* %s/"):format(dir, dir)) -- the default model's
    local name = ("mnist-classifier-%s.safetensors"):format(mnist.version)
    assert.equal(dir .. "/" .. name, require("mnist.pretrained").resolve(settings(), "classifier"))
    local bytes = helpers.read(dir .. "/" .. name)
    local at = 200
    helpers.write(dir .. "/" .. name, bytes:sub(1, at - 1) .. string.char((bytes:byte(at) + 1) % 256) .. bytes:sub(at + 1))
    local ok, err = pcall(mnist.classifier, settings(), { pretrained = true })
    assert.is_false(ok)
    assert.truthy(err:find("SHA-256 mismatch", 1, true), err)
  end)

  it("of another arch are still found in weights/, where they were published before each arch had a folder", function()
    local lenet = mnist.config.resolve { artifact_dir = home, arch = "lenet" }
    local net = mnist.classifier(lenet)
    require("mnist.artifacts").publish(net, lenet, { test_accuracy = 0.5, epochs = 1, run_id = "old" })
    local old_dir, new_dir = home .. "/weights", home .. "/weights/lenet"
    for _, name in ipairs { "manifest.json", "mnist-classifier-" .. mnist.version .. ".safetensors" } do
      assert(os.rename(new_dir .. "/" .. name, old_dir .. "/" .. name))
    end
    assert.equal(old_dir .. "/mnist-classifier-" .. mnist.version .. ".safetensors",
      require("mnist.pretrained").resolve(lenet, "classifier"))
    local loaded = mnist.classifier(lenet, { pretrained = true })
    assert.equal(0, loaded:getParameters():clone():add(-1, net:getParameters()):abs():max())
    -- the default model does not take them for its own
    local ok, err = pcall(require("mnist.pretrained").resolve, settings(), "classifier")
    assert.is_true(ok, err)
    assert.truthy(err:find("/mnist/shipped/", 1, true), err)
  end)

  it("skip weights made for another architecture, and refuse such a file given by name", function()
    local lenet = mnist.config.resolve { artifact_dir = home, arch = "lenet" }
    local ok, err = pcall(mnist.classifier, lenet, { pretrained = true })
    assert.is_false(ok)
    assert.truthy(err:find("no pretrained classifier weights for version " .. mnist.version .. ", arch lenet", 1, true), err)
    -- each arch has its own folder: lenet's are looked for in weights/lenet/ and shipped/lenet/
    assert.truthy(err:find(home .. "/weights/lenet/mnist-classifier-" .. mnist.version .. ".safetensors: missing", 1, true), err)
    assert.truthy(err:find("shipped/lenet/mnist-classifier-" .. mnist.version .. ".safetensors: missing", 1, true), err)
    local file = ("lua/mnist/shipped/mnist-classifier-%s.safetensors"):format(mnist.version)
    ok, err = pcall(mnist.classifier, lenet, { weights = file })
    assert.is_false(ok)
    assert.truthy(err:find("made for arch 'default', this model is 'lenet'", 1, true), err)
  end)
end)
