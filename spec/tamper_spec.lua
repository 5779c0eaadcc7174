-- Tampered weights (one flipped byte anywhere), truncated files and downloads, wrong hashes: refused
-- with a clear error every time, never cached, never loaded (the model's tensors stay as they were).
local bit = require "bit"
local core = require "mnist.core"
local H = require "spec.support.helpers"
local mnist = require "mnist"
local artifacts = require "mnist.artifacts"
local pretrained = require "mnist.pretrained"
local weights = require "mnist.weights"
local V = require "mnist.version"

-- A hash of all of net's tensors, to prove a refused file changed nothing.
local function state_hash(net)
  local parts = {}
  for i, pair in ipairs(net:namedTensors()) do parts[i] = pair[1] .. pair[2]:tobytes() end
  return core.sha256(table.concat(parts))
end

local function flip(bytes, at)
  return bytes:sub(1, at - 1) .. string.char(bit.bxor(bytes:byte(at), bit.lshift(1, (at * 7) % 8))) .. bytes:sub(at + 1)
end

local function data_start(bytes)
  local n = 0
  for i = 8, 1, -1 do n = n * 256 + bytes:byte(i) end
  return 8 + n
end

describe("tampered and truncated weights", function()
  local home, cfg, path, good, net, fresh
  setup(function()
    home = H.tmpdir()
    cfg = mnist.config.resolve { artifact_dir = home, arch = "lenet" }
    -- published weights of a (seeded, untrained) LeNet: file, sidecar and manifest
    mnist.manual_seed(3)
    path = artifacts.publish(mnist.classifier(cfg), cfg, { test_accuracy = 0.5, epochs = 1 }).classifier
    good = H.read(path)
    mnist.manual_seed(4)
    net = mnist.classifier(cfg) -- other values: a load that happened would show
    fresh = state_hash(net)
  end)
  teardown(function() H.rm(home) end)

  local function refused(opts, pattern)
    local ok, err = pcall(pretrained.load, net, cfg, opts)
    assert.is_false(ok, "a damaged file was loaded")
    assert.truthy(tostring(err):find(pattern), err)
    assert.equal(fresh, state_hash(net), "a refused file changed the model")
    return err
  end

  it("refuses one flipped byte anywhere in a published file (its manifest), 200 times out of 200", function()
    math.randomseed(11)
    for _ = 1, 200 do
      local at = math.random(#good)
      H.write(path, flip(good, at))
      refused({}, "^weights: " .. path:gsub("%p", "%%%0") .. ": SHA%-256 mismatch: expected %x+, got %x+ %(tampered or truncated file%)$")
    end
    -- the same file, restored, loads: the refusals were the flipped bytes'
    H.write(path, good)
    local loaded = mnist.classifier(cfg)
    pretrained.load(loaded, cfg, {})
    assert.not_equal(fresh, state_hash(loaded))
  end)

  it("refuses a flipped byte in a file given with --weights, checked by its .sha256, 200 times out of 200", function()
    local copy = home .. "/copy.safetensors"
    H.write(copy .. ".sha256", H.read(path .. ".sha256"):gsub("mnist%-classifier[^\n]*", "copy.safetensors"))
    math.randomseed(12)
    for _ = 1, 200 do
      H.write(copy, flip(good, math.random(#good)))
      refused({ weights = copy }, "SHA%-256 mismatch")
    end
  end)

  it("refuses a flipped byte in the data of a file without any checksum beside it (the header's data hash)", function()
    local bare = home .. "/bare.safetensors"
    local start = data_start(good)
    math.randomseed(13)
    for _ = 1, 200 do
      H.write(bare, flip(good, math.random(start + 1, #good)))
      refused({ weights = bare }, "the data's SHA%-256 is %x+, the header records %x+: the file is corrupt or was tampered with$")
    end
  end)

  it("refuses a file truncated anywhere, with or without a checksum beside it", function()
    local bare = home .. "/cut.safetensors"
    math.randomseed(14)
    for _ = 1, 100 do
      local keep = math.random(0, #good - 1)
      H.write(path, good:sub(1, keep))
      refused({}, "SHA%-256 mismatch")
      H.write(bare, good:sub(1, keep))
      refused({ weights = bare }, "^weights: " .. bare:gsub("%p", "%%%0") .. ": ")
    end
    H.write(path, good)
  end)

  it("refuses weights whose manifest names another hash, and never loads the file", function()
    local manifest = H.read(home .. "/weights/lenet/manifest.json")
    local hex = core.sha256(good)
    H.write(home .. "/weights/lenet/manifest.json", (manifest:gsub(hex, ("0"):rep(64))))
    refused({}, "expected 0000000000000000000000000000000000000000000000000000000000000000, got " .. hex)
    H.write(home .. "/weights/lenet/manifest.json", manifest)
  end)
end)

describe("tampered and truncated downloads of pretrained weights", function()
  local home, served, url, stop, cfg, files
  setup(function()
    home = H.tmpdir()
    local publisher = mnist.config.resolve { artifact_dir = home .. "/publisher", arch = "lenet" }
    mnist.manual_seed(5)
    artifacts.publish(mnist.classifier(publisher), publisher, { test_accuracy = 0.5, epochs = 1 })
    served = home .. "/served"
    assert(H.sh(("mkdir -p %s/%s/lenet && cp %s/weights/lenet/* %s/%s/lenet/"):format(served, V, home .. "/publisher", served, V)))
    files = {}
    for _, part in ipairs { "classifier", "features" } do
      files[part] = served .. "/" .. V .. "/lenet/" .. artifacts.file_name(part)
    end
    url, stop = H.http_mirror(served)
  end)
  teardown(function()
    if stop then stop() end
    H.rm(home)
  end)

  -- `mnist.lua predict` with weights_url: the weights dir of `artifact_dir` starts empty.
  local function predict(artifact_dir)
    local png = home .. "/digit.png"
    if not H.exists(png) then
      local img = mnist.tensor(28, 28)
      for r = 6, 22 do img:set(r, 14, 1) end
      mnist.preprocessing.save_image(img, png)
    end
    return H.run(("MNIST_HOME=%s luajit bin/mnist.lua predict --arch lenet --weights-url %s --download-retries 1 %s")
      :format(H.quote(artifact_dir), H.quote(url), H.quote(png)))
  end

  local function cached(artifact_dir)
    local p = io.popen("ls -1A " .. H.quote(artifact_dir .. "/weights") .. " 2>/dev/null")
    local names = p:read("*a")
    p:close()
    return names
  end

  it("fetches, verifies and uses good weights", function()
    local out, code = predict(home .. "/good")
    assert.equal(0, code, out)
    assert.truthy(out:find("digit.png: %d %(p="), out)
  end)

  it("refuses a downloaded file with one flipped byte, every time, and caches nothing", function()
    local original = H.read(files.classifier)
    H.write(files.classifier, flip(original, math.floor(#original / 2)))
    for attempt = 1, 2 do
      local out, code = predict(home .. "/flipped")
      assert.equal(2, code, out)
      assert.truthy(out:find("SHA%-256 mismatch: manifest says %x+ %(%d+ bytes%), got %x+ %(%d+ bytes%): tampered or truncated, not kept"), out)
      assert.falsy(cached(home .. "/flipped"):find("classifier", 1, true), "attempt " .. attempt .. " cached it")
      assert.falsy(cached(home .. "/flipped"):find("manifest", 1, true))
    end
    H.write(files.classifier, original)
  end)

  it("refuses a truncated download, every time, and caches nothing", function()
    local original = H.read(files.classifier)
    H.write(files.classifier, original:sub(1, #original - 100))
    for _ = 1, 2 do
      local out, code = predict(home .. "/truncated")
      assert.equal(2, code, out)
      assert.truthy(out:find("tampered or truncated, not kept", 1, true), out)
      assert.falsy(cached(home .. "/truncated"):find("classifier", 1, true))
    end
    H.write(files.classifier, original)
  end)

  it("refuses a download whose hash is not the manifest's, even when the file is whole", function()
    local manifest_path = served .. "/" .. V .. "/lenet/manifest.json"
    local manifest = H.read(manifest_path)
    local hex = core.sha256(H.read(files.classifier))
    H.write(manifest_path, (manifest:gsub(hex, ("1"):rep(64))))
    local out, code = predict(home .. "/wrong-hash")
    H.write(manifest_path, manifest)
    assert.equal(2, code, out)
    assert.truthy(out:find("manifest says " .. ("1"):rep(64), 1, true), out)
    assert.falsy(cached(home .. "/wrong-hash"):find("classifier", 1, true))
  end)
end)
