-- A model of the user's own (a Lua file returning features and head, set as model_file) through
-- the whole pipeline from the command line: short real training runs (through MNIST_MIRROR, as
-- `make test` sets it), bitwise resume, the file's SHA-256 in the weights, evaluate/predict, and
-- errors that name the file and the line.
local cjson = require "cjson"
local helpers = require "spec.support.helpers"
local mnist = require "mnist"
local weights = require "mnist.weights"

-- Runs bin/mnist.lua with args, MNIST_HOME=home; returns stdout, stderr, exit code.
local function cli(home, args)
  local out, err = os.tmpname(), os.tmpname()
  local code = os.execute(("MNIST_HOME=%s luajit bin/mnist.lua %s >%s 2>%s"):format(
    helpers.quote(home), args, out, err))
  local stdout, stderr = helpers.read(out), helpers.read(err)
  os.remove(out)
  os.remove(err)
  return stdout, stderr, code / 256
end

-- SHA-256 of a file by sha256sum: a reference independent of the rock's own hashing.
local function sha256sum(path)
  return helpers.run("sha256sum " .. helpers.quote(path)):match("^(%x+)")
end

-- A small convnet (one conv, pool, linear): a few seconds per epoch on 700 images.
local TINY = [[
local nn = require "mnist.nn"
return {
  features = function()
    return nn.Sequential()
      :add(nn.SpatialConvolution(1, 4, 3, 3))   -- (N, 4, 26, 26)
      :add(nn.ReLU(true))
      :add(nn.SpatialMaxPooling(2, 2))          -- (N, 4, 13, 13)
      :add(nn.SpatialBatchNormalization(4))
  end,
  head = function()
    return nn.Sequential()
      :add(nn.Flatten())
      :add(nn.Linear(4 * 13 * 13, 10))
      :add(nn.LogSoftMax())
  end,
}
]]

describe("a model file", function()
  local home, model, flags
  setup(function()
    helpers.mirror()
    home = helpers.tmpdir()
    model = helpers.write(home .. "/tiny.lua", TINY)
    flags = ("--set model_file=%s --set limit_train=700 --set limit_test=200 --threads 1 --log-interval 1000")
      :format(helpers.quote(model))
  end)
  teardown(function() helpers.rm(home) end)

  local manifest -- of the uninterrupted 2-epoch run

  it("trains from the command line, publishing weights that record the file's name and SHA-256", function()
    local out, err, code = cli(home, "train --epochs 2 --run-id whole " .. flags)
    assert.equal(0, code, err)
    assert.truthy(out:find("run whole: tiny, adadelta", 1, true), out)
    manifest = cjson.decode(helpers.read(home .. "/weights/tiny/manifest.json"))
    assert.equal("tiny", manifest.arch) -- the file's base name: it sets no `name`
    assert.same({ path = model, sha256 = sha256sum(model) }, manifest.model_file)
    for _, part in ipairs { "classifier", "features" } do
      local _, meta = weights.load(("%s/weights/tiny/mnist-%s-%s.safetensors"):format(home, part, mnist.version))
      assert.equal("tiny", meta.arch)
      assert.equal(model, meta.model_file)
      assert.equal(sha256sum(model), meta.model_file_sha256)
    end
    assert.is_true(manifest.test_accuracy > 0.6, "test accuracy " .. manifest.test_accuracy) -- chance: 0.1
  end)

  it("resumes bitwise: 1 epoch, then --resume to 2, gives the uninterrupted run's tensors", function()
    local _, err, code = cli(home, "train --epochs 1 --run-id cut " .. flags)
    assert.equal(0, code, err)
    local out
    out, err, code = cli(home, "train --epochs 2 --resume --run-id cut " .. flags)
    assert.equal(0, code, err)
    assert.truthy(out:find("resuming run cut at epoch 2, step 1", 1, true), out)
    local resumed = cjson.decode(helpers.read(home .. "/weights/tiny/manifest.json"))
    assert.equal(2, resumed.epochs)
    for name, entry in pairs(manifest.files) do
      assert.equal(entry.tensors_sha256, resumed.files[name].tensors_sha256, name)
    end
    assert.equal(manifest.test_accuracy, resumed.test_accuracy)
  end)

  it("refuses to resume once the file has changed, naming it and both hashes", function()
    local before = sha256sum(model)
    helpers.write(model, TINY .. "-- edited\n")
    local after = sha256sum(model)
    local _, err, code = cli(home, "train --epochs 3 --resume --run-id cut " .. flags)
    helpers.write(model, TINY)
    assert.equal(1, code)
    assert.truthy(err:find(("the model file %s has changed since this checkpoint (SHA-256 %s, now %s)")
      :format(model, before, after), 1, true), err)
    assert.truthy(err:find("restore it, or start a new run", 1, true), err)
  end)

  it("evaluates and predicts with its weights, found by arch name or given with --weights", function()
    local classifier = ("%s/weights/tiny/mnist-classifier-%s.safetensors"):format(home, mnist.version)
    local out, err, code = cli(home, "evaluate " .. flags)
    assert.equal(0, code, err)
    assert.truthy(out:find(("test: 200 images, loss %%d+%%.%%d+, accuracy %.2f%%%%"):format(100 * manifest.test_accuracy)), out)
    local again = cli(home, "evaluate --weights " .. classifier .. " " .. flags)
    assert.equal(out, again)
    -- a model file edited since (a comment): loaded, with a warning naming both hashes
    local before = sha256sum(model)
    helpers.write(model, TINY .. "-- edited\n")
    local edited, warning = cli(home, "evaluate --weights " .. classifier .. " " .. flags)
    assert.equal(out, edited)
    assert.truthy(warning:find(("made with %s of SHA-256 %s; %s is now %s (loaded: the tensors fit)"):format(
      model, before, model, sha256sum(model)), 1, true), warning)
    helpers.write(model, TINY)
    -- the pretrained lookup goes by arch name: the same code under another name finds none
    local other = helpers.write(home .. "/other.lua", TINY)
    _, err, code = cli(home, "evaluate --limit-test 200 --set model_file=" .. other)
    assert.equal(1, code)
    assert.truthy(err:find("no pretrained classifier weights for version " .. mnist.version .. ", arch other;", 1, true), err)
    assert.truthy(err:find(home .. "/weights/other/mnist-classifier-" .. mnist.version .. ".safetensors: missing", 1, true), err)
    -- nor does the built-in model take them
    _, err, code = cli(home, "evaluate --limit-test 200 --weights " .. classifier)
    assert.equal(1, code)
    assert.truthy(err:find(("made for arch 'tiny', this model is 'default' (set model_file = \"%s\")"):format(model), 1, true), err)
    -- predict: a drawn "1"
    local png = home .. "/one.png"
    local img = mnist.tensor(28, 28)
    for r = 5, 23 do img:set(r, 14, 1) end
    mnist.preprocessing.save_image(img, png)
    out, err, code = cli(home, ("predict --weights %s %s %s"):format(classifier, flags, png))
    assert.equal(0, code, err)
    assert.truthy(out:match(": %d %(p=%d%.%d+%)\n$"), out)
  end)

  it("takes the arch name from its `name` field, and is a config file key", function()
    local named = helpers.write(home .. "/named.lua", TINY:gsub("return {", 'return {\n  name = "my-net",', 1))
    local config = helpers.write(home .. "/run.yml", ("model_file: %s\nepochs: 0\n"):format(named))
    local out, err, code = cli(home, "train " .. config .. " --run-id named")
    assert.equal(0, code, err)
    assert.truthy(out:find("run named: my-net,", 1, true), out)
    assert.equal(named, cjson.decode(helpers.read(home .. "/runs/named/config.json")).model_file)
    local list = cli(home, "runs")
    assert.truthy(list:find("named +" .. named:gsub("%p", "%%%0")), list)
  end)

  describe("with an error", function()
    local function train_error(name, text)
      local path = helpers.write(home .. "/" .. name, text)
      local _, err, code = cli(home, ("train --set model_file=%s --run-id failed"):format(path))
      assert.equal(1, code)
      assert.falsy(helpers.exists(home .. "/runs/failed"), "no run directory for a model that cannot be built")
      return err, path
    end

    it("names the file and the line of a syntax error", function()
      local err, path = train_error("syntax.lua", 'local nn = require "mnist.nn"\nreturn {\n  features = function() local x = = 1 end,\n}\n')
      assert.equal(("mnist.lua train: model: %s:3: unexpected symbol near '='\n"):format(path), err)
    end)

    it("names the file and the line of a runtime error in features() or head(), also inside nn", function()
      local body = 'local nn = require "mnist.nn"\nreturn {\n  features = function()\n    return nn.Sequential()\n'
        .. '      :add(nn.SpatialConvolution(1, 0, 3, 3))\n  end,\n  head = function() error("no head yet") end,\n}\n'
      local err, path = train_error("runtime.lua", body)
      assert.equal(("mnist.lua train: model: %s:5: in features(): SpatialConvolution: nOutputPlane must be a whole "
        .. "number >= 1, got 0\n"):format(path), err)
      err, path = train_error("runtime2.lua", (body:gsub("%(1, 0, 3, 3%)", "(1, 4, 3, 3)")))
      assert.equal(("mnist.lua train: model: %s:7: in head(): no head yet\n"):format(path), err)
    end)

    it("names the file and the line of an error while loading it, in one line", function()
      local err, path = train_error("require.lua", '\nlocal nn = require "mnist.no_such_module"\nreturn {}\n')
      assert.equal(("mnist.lua train: model: %s:2: module 'mnist.no_such_module' not found:\n"):format(path), err)
    end)

    it("says what the file must return, and when it is missing", function()
      local err, path = train_error("shape.lua", "return { features = 1 }\n")
      assert.equal(("mnist.lua train: model: %s: must return a table { features = function, head = function "
        .. "[, name = string] }, got a table with features number and head nil\n"):format(path), err)
      err, path = train_error("builtin.lua", TINY:gsub("return {", 'return { name = "lenet",', 1))
      assert.truthy(err:find(path .. ": the arch name 'lenet' is a built-in architecture's", 1, true), err)
      local _, missing, code = cli(home, "train --set model_file=" .. home .. "/nowhere.lua")
      assert.equal(1, code)
      assert.equal(("mnist.lua train: model: %s/nowhere.lua: cannot read the model file: No such file or directory\n")
        :format(home), missing)
    end)

    it("keeps its globals to itself", function()
      local path = helpers.write(home .. "/globals.lua", "leaked_global = 1\n" .. TINY)
      local arch = mnist.model.load_file(path)
      assert.is_nil(rawget(_G, "leaked_global"))
      assert.equal("globals", arch.name)
    end)
  end)
end)
