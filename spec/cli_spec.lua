-- The `mnist.lua` command line, run as a real process.
local cjson = require "cjson"
local helpers = require "spec.support.helpers"
local mnist = require "mnist"

-- Runs bin/mnist.lua with args in a shell, MNIST_HOME set; returns stdout, stderr, exit code.
local function cli(home, args)
  local out, err = os.tmpname(), os.tmpname()
  local code = os.execute(("MNIST_HOME=%s luajit bin/mnist.lua %s >%s 2>%s"):format(home, args, out, err))
  local stdout, stderr = helpers.read(out), helpers.read(err)
  os.remove(out)
  os.remove(err)
  return stdout, stderr, code / 256 -- LuaJIT's os.execute returns the wait status
end

describe("mnist.lua", function()
  local home
  setup(function() home = helpers.tmpdir() end)
  teardown(function() helpers.rm(home) end)

  it("prints help for the program and for each command, exit 0", function()
    local out, _, code = cli(home, "--help")
    assert.equal(0, code)
    for _, command in ipairs { "info", "download", "save-datasets", "train", "evaluate", "predict", "deploy", "report",
      "runs", "diff", "repl" } do
      assert.truthy(out:find("\n   " .. command, 1, true), command)
      local help, _, c = cli(home, command .. " --help")
      assert.equal(0, c)
      assert.truthy(help:find("Usage: mnist.lua " .. command, 1, true))
    end
    local train_help = cli(home, "train --help")
    assert.truthy(train_help:find("--batch-size <value>", 1, true))
    assert.truthy(train_help:find("(default: 64)", 1, true))
    assert.truthy(train_help:find("--resume", 1, true))
  end)

  it("prints the version", function()
    local out, _, code = cli(home, "--version")
    assert.equal(0, code)
    assert.equal(mnist.version .. "\n", out)
  end)

  it("exits 1 with one clear line on bad usage", function()
    local _, err, code = cli(home, "frobnicate")
    assert.equal(1, code)
    assert.truthy(err:find("unknown command 'frobnicate'", 1, true))
    _, err, code = cli(home, "info --batch-size many")
    assert.equal(1, code)
    assert.equal("mnist.lua info: usage: --batch-size expects a number, got 'many'\n", err)
    _, err, code = cli(home, "info --set batch_sise=3")
    assert.equal(1, code)
    assert.equal("mnist.lua info: usage: --set: unknown key 'batch_sise' (did you mean 'batch_size'?)\n", err)
    _, err, code = cli(home, "info notes.txt")
    assert.equal(1, code)
    assert.truthy(err:find("'notes.txt' is not a config file", 1, true))
    _, err, code = cli(home, "predict")
    assert.equal(1, code)
    assert.truthy(err:find("predict needs at least one image file", 1, true))
  end)

  it("takes the config file as first argument, with flags overriding it", function()
    local path = home .. "/c.yml"
    helpers.write(path, "dataset: fashion\nepochs: 9\n")
    local out, _, code = cli(home, "info " .. path .. " --dataset mnist")
    assert.equal(0, code)
    assert.truthy(out:find("data (mnist)", 1, true), out)
    out = cli(home, "info " .. path)
    assert.truthy(out:find("data (fashion)", 1, true), out)
    helpers.write(path, "epochz: 9\n")
    local _, err, c = cli(home, "info " .. path)
    assert.equal(1, c)
    assert.equal(("mnist.lua info: config: %s: unknown key 'epochz' (did you mean 'epochs'?)\n"):format(path), err)
  end)

  it("shows the traceback only with --debug", function()
    local _, err = cli(home, "info --set epochs=x")
    assert.falsy(err:find("stack traceback", 1, true))
    _, err = cli(home, "info --set epochs=x --debug")
    assert.truthy(err:find("stack traceback", 1, true))
  end)

  describe("predict", function()
    local png, weights_file
    setup(function()
      -- a freshly initialised classifier, published as the pretrained weights of MNIST_HOME
      local cfg = mnist.config.resolve { artifact_dir = home }
      local paths = require("mnist.artifacts").publish(mnist.classifier(cfg), cfg, { test_accuracy = 0, epochs = 0 })
      weights_file = paths.classifier
      png = home .. "/digit.png"
      local img = mnist.tensor(40, 30)
      for r = 8, 32 do img:set(r, 15, 1) end -- a "1"
      mnist.preprocessing.save_image(img, png)
    end)

    it("prints one line per image", function()
      local out, err, code = cli(home, ("predict %s %s"):format(png, png))
      assert.equal(0, code, err)
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.equal(2, #lines)
      assert.truthy(lines[1]:match("^" .. png:gsub("%p", "%%%0") .. ": %d %(p=%d%.%d%d%d%)$"), lines[1])
    end)

    it("prints a JSON array of {file, label, probabilities} with --json", function()
      local out, _, code = cli(home, ("predict --json --weights %s %s"):format(weights_file, png))
      assert.equal(0, code)
      local result = cjson.decode(out)
      assert.equal(1, #result)
      assert.equal(png, result[1].file)
      assert.is_true(result[1].label >= 0 and result[1].label <= 9)
      assert.equal(10, #result[1].probabilities)
      local sum = 0
      for _, p in ipairs(result[1].probabilities) do sum = sum + p end
      assert.near(1, sum, 1e-5)
    end)

    it("exits 1 naming an unreadable image", function()
      local _, err, code = cli(home, "predict " .. home .. "/missing.png")
      assert.equal(1, code)
      assert.truthy(err:find("missing.png", 1, true))
    end)

    it("refuses weights that fail their checksum", function()
      local copy = home .. "/tampered.safetensors"
      local bytes = helpers.read(weights_file)
      helpers.write(copy, bytes:sub(1, -2) .. string.char((bytes:byte(-1) + 1) % 256))
      helpers.write(copy .. ".sha256", helpers.read(weights_file .. ".sha256"))
      local _, err, code = cli(home, ("predict --weights %s %s"):format(copy, png))
      assert.equal(1, code)
      assert.truthy(err:find("SHA-256 mismatch", 1, true), err)
    end)
  end)
end)
