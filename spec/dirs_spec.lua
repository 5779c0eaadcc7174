-- Artifact and run directories that cannot be written or do not exist: `mnist.lua` says so in one
-- line before any work (no epoch runs, no data is downloaded), and reading commands still work on
-- a read-only artifact directory. Read-only means a read-only bind mount as root (root ignores
-- permission bits) and chmod a-w otherwise.
local H = require "spec.support.helpers"
local V = require "mnist.version"

local TRAIN = "train --arch lenet --limit-train 600 --n-validation 100 --limit-test 200 --epochs 1 "
  .. "--batch-size 50 --test-batch-size 200 --threads 1 --log-interval 1000"

local function cli(home, args)
  return H.run(("MNIST_HOME=%s luajit bin/mnist.lua %s"):format(H.quote(home), args))
end

local is_root = io.popen("id -u"):read("*l") == "0"

-- Makes dir read-only for this process; returns a function that undoes it, or nil and why not.
local function make_readonly(dir)
  if is_root then
    local q = H.quote(dir)
    if not H.sh(("mount --bind %s %s 2>/dev/null && mount -o remount,ro,bind %s 2>/dev/null"):format(q, q, q)) then
      H.sh("umount " .. q .. " 2>/dev/null")
      return nil, "cannot make a read-only bind mount here"
    end
    return function() H.sh("umount " .. q) end
  end
  assert(H.sh("chmod -R a-w " .. H.quote(dir)))
  return function() H.sh("chmod -R u+w " .. H.quote(dir)) end
end

describe("unwritable and missing directories", function()
  local home
  setup(function()
    home = H.tmpdir()
    -- an artifact dir with data, a finished run and published weights
    local out, code = H.run(("MNIST_MIRROR=%s MNIST_HOME=%s luajit bin/mnist.lua save-datasets"):format(
      H.quote(H.mirror()), H.quote(home .. "/a")))
    assert(code == 0, out)
    out, code = cli(home .. "/a", TRAIN .. " --run-id done")
    assert(code == 0, out)
  end)
  teardown(function() H.rm(home) end)

  it("a read-only artifact dir: train stops at once, evaluate still works", function()
    local undo, why = make_readonly(home .. "/a")
    if not undo then return pending(why) end
    finally(undo)
    local out, code = cli(home .. "/a", TRAIN .. " --run-id new")
    assert.equal(2, code, out)
    local weights_dir = home .. "/a/weights/lenet" -- each arch publishes into a folder of its own
    assert.equal(("mnist.lua train: train: the weights directory %s is not writable: Read-only file system\n")
      :format(weights_dir), out)
    out, code = cli(home .. "/a", "evaluate --arch lenet --limit-test 200 --threads 1")
    assert.equal(0, code, out)
    assert.truthy(out:find("test: 200 images", 1, true), out)
  end)

  it("an unwritable runs directory: a new run stops at once", function()
    assert(H.sh("mkdir -p " .. H.quote(home .. "/a/runs")))
    local undo, why = make_readonly(home .. "/a/runs")
    if not undo then return pending(why) end
    finally(undo)
    local out, code = cli(home .. "/a", TRAIN .. " --run-id new")
    assert.equal(2, code, out)
    assert.equal(("mnist.lua train: train: cannot create the run directory: %s/a/runs/new: %s\n")
      :format(home, is_root and "Read-only file system" or "Permission denied"), out)
  end)

  it("an unwritable run directory: --resume stops before training, not at the first checkpoint", function()
    local dir = home .. "/a/runs/done"
    local before = H.read(dir .. "/checkpoint.safetensors")
    local undo, why = make_readonly(dir)
    if not undo then return pending(why) end
    finally(undo)
    local out, code = cli(home .. "/a", TRAIN:gsub("--epochs 1", "--epochs 2") .. " --run-id done --resume")
    assert.equal(2, code, out)
    assert.equal(("mnist.lua train: train: the run directory %s is not writable: %s\n")
      :format(dir, is_root and "Read-only file system" or "Permission denied"), out)
    assert.equal(before, H.read(dir .. "/checkpoint.safetensors"))
  end)

  it("an artifact dir that cannot be created: a clear error before any work", function()
    H.write(home .. "/plain-file", "x")
    local out, code = cli(home .. "/plain-file/mnist", TRAIN)
    assert.equal(2, code, out)
    assert.equal(("mnist.lua train: train: cannot create the weights directory: %s/plain-file/mnist/weights/lenet: Not a directory\n")
      :format(home), out)
  end)

  it("a missing artifact dir: predict names every place it looked for weights", function()
    local png = home .. "/one.png"
    local img = require("mnist").tensor(28, 28)
    for r = 6, 22 do img:set(r, 14, 1) end
    require("mnist").preprocessing.save_image(img, png)
    local missing = home .. "/nowhere"
    local out, code = cli(missing, "predict --arch lenet " .. H.quote(png)) -- no lenet weights ship
    assert.equal(1, code, out)
    assert.truthy(out:find(("mnist.lua predict: weights: no pretrained classifier weights for version %s, arch lenet; looked in: %s/weights/lenet/mnist%%-classifier%%-%s%%.safetensors: missing")
      :format(V:gsub("%p", "%%%0"), missing:gsub("%p", "%%%0"), V:gsub("%p", "%%%0"))), out)
    assert.truthy(out:find("remote: weights_url is not set", 1, true), out)
    assert.is_false(H.exists(missing), "predict created the artifact dir")
  end)
end)
