-- Record files of the real data sets and mnist.load_dataset end to end, in a temp artifact dir fed
-- by the local mirror ($MNIST_MIRROR).
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local dataset = require "mnist.dataset"
local mnist = require "mnist"

-- The set of 1-based rows a loader visits in an epoch, and their count.
local function row_set(loader, epoch)
  local set, n = {}, 0
  for _, r in ipairs(loader:order(epoch or 1)) do
    assert.is_nil(set[r], "row visited twice")
    set[r], n = true, n + 1
  end
  return set, n
end

describe("dataset", function()
  local home, cfg, mirror
  setup(function()
    mirror = H.mirror()
    home = H.tmpdir()
    cfg = { artifact_dir = home }
  end)
  teardown(function() H.rm(home) end)

  it("save_records writes train.rec, test.rec and a manifest naming the sources and their hashes", function()
    local manifest = dataset.save_records(cfg, { log = false })
    local dir = home .. "/data/mnist"
    local on_disk = require("cjson").decode(H.read(dir .. "/manifest.json"))
    assert.same(on_disk, manifest)
    assert.equal("mnist-records", manifest.format)
    assert.equal(1, manifest.version)
    assert.equal("mnist", manifest.dataset)
    local train, test = manifest.records.train, manifest.records.test
    assert.same({ 60000, { 28, 28 }, "train.rec" }, { train.count, train.shape, train.file })
    assert.same({ 10000, { 28, 28 }, "test.rec" }, { test.count, test.shape, test.file })
    assert.same({
      file = "train-images-idx3-ubyte.gz",
      sha256 = core.sha256_file(mirror .. "/train-images-idx3-ubyte.gz"),
      content_sha256 = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    }, train.sources.images)
    assert.equal("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", test.sources.labels.content_sha256)
    -- the test record holds exactly the IDX payloads, and its header hash is the manifest's
    local raw_images = H.gunzip_file(mirror .. "/t10k-images-idx3-ubyte.gz"):sub(17)
    local raw_labels = H.gunzip_file(mirror .. "/t10k-labels-idx1-ubyte.gz"):sub(9)
    assert.equal(core.sha256(raw_images .. raw_labels), test.payload_sha256)
    local images, labels, sha = core.record_open(dir .. "/test.rec")
    assert.equal(test.payload_sha256, sha)
    assert.equal(core.sha256(raw_images), core.sha256(images:tobytes()))
    assert.equal(core.sha256(raw_labels), core.sha256(labels:tobytes()))
  end)

  it("loads the three splits: seeded, disjoint, covering the training set", function()
    local train = mnist.load_dataset("train", cfg, { log = false })
    local validation = mnist.load_dataset("validation", cfg)
    local test = mnist.load_dataset("test", cfg)
    assert.same({ 55000, 859, 64 }, { train:size(), train:steps(), train.batch_size })
    assert.same({ 5000, 5, 1000 }, { validation:size(), validation:steps(), validation.batch_size })
    assert.same({ 10000, 10 }, { test:size(), test:steps() })
    local t, nt = row_set(train)
    local v, nv = row_set(validation)
    assert.equal(60000, nt + nv)
    for r in pairs(v) do assert.is_nil(t[r], "row " .. r .. " is in both splits") end
    -- validation and test come in order, the same every epoch; train is shuffled
    assert.same(validation:order(1), validation:order(2))
    assert.are_not.same(train:order(1), train:order(2))
    -- the split is a function of the seed
    local v_same = row_set(mnist.load_dataset("validation", { artifact_dir = home }))
    local v_other = row_set(mnist.load_dataset("validation", { artifact_dir = home, seed = 2 }))
    assert.same(v, v_same)
    assert.are_not.same(v, v_other)
  end)

  it("yields normalised batches of the real digits with 0-based labels", function()
    local test = mnist.load_dataset("test", cfg, { batch_size = 10, prefetch = 1 })
    local x, y = test:epoch(1)()
    assert.same({ 10, 1, 28, 28 }, x:size())
    assert.same({ 7, 2, 1, 0, 4, 1, 4, 9, 5, 9 }, y:totable()) -- the first MNIST test labels
    local raw = H.gunzip_file(mirror .. "/t10k-images-idx3-ubyte.gz")
    local byte = raw:byte(17 + 7 * 28 + 9) -- image 1, row 8, column 10
    assert.near((byte / 255 - 0.1307) / 0.3081, x[1][1]:get(8, 10), 1e-5)
    -- the mean of a whole epoch of normalised training pixels is near 0
    local train = mnist.load_dataset("train", { artifact_dir = home, batch_size = 1000 }, { prefetch = 2 })
    local sum, count = 0, 0
    for images in train:epoch(1) do
      sum, count = sum + images:sum(), count + images:numel()
    end
    assert.near(0, sum / count, 0.01)
  end)

  it("honours limit_train, limit_test and augmentation settings", function()
    local small = { artifact_dir = home, limit_train = 1000, n_validation = 100, limit_test = 300, augment_shift = 2 }
    local train = mnist.load_dataset("train", small)
    local validation = mnist.load_dataset("val", small)
    local test = mnist.load_dataset("test", small)
    assert.same({ 900, 100, 300 }, { train:size(), validation:size(), test:size() })
    local t = row_set(train)
    for r in pairs(t) do assert.is_true(r <= 1000) end
    assert.same({ 1, 2, 3 }, { unpack(test:order(1), 1, 3) })
    -- augmentation applies to training only
    local plain = mnist.load_dataset("train", { artifact_dir = home, limit_train = 1000, n_validation = 100 })
    local a, b = train:epoch(1)(), plain:epoch(1)()
    assert.are_not.same(a:totable(), b:totable())
    local va = validation:epoch(1)()
    local vb = mnist.load_dataset("val", { artifact_dir = home, limit_train = 1000, n_validation = 100 }):epoch(1)()
    assert.same(va:totable(), vb:totable())
  end)

  it("rebuilds damaged or mismatched record files from the verified sources", function()
    local dir = home .. "/data/mnist"
    local bytes = H.read(dir .. "/test.rec")
    -- replaced (new inode), as a bad disk or a stray copy would
    H.write(dir .. "/test.rec.new", bytes:sub(1, 100) .. string.char((bytes:byte(101) + 1) % 256) .. bytes:sub(102))
    assert(os.rename(dir .. "/test.rec.new", dir .. "/test.rec"))
    dataset.close_records()
    local records, why = dataset.open_records(cfg)
    assert.is_nil(records)
    assert.matches("test%.rec: payload SHA%-256 is %x+, the header says %x+ %(the file is corrupt%)", why)
    local lines = {}
    local loader = mnist.load_dataset("test", cfg, { log = function(m) lines[#lines + 1] = m end })
    assert.equal(10000, loader:size())
    assert.matches("preparing the record files %(.*the file is corrupt%)", table.concat(lines, "\n"))
    assert.truthy(dataset.open_records(cfg))
    -- a manifest for another data set is not used
    H.write(dir .. "/manifest.json", (H.read(dir .. "/manifest.json"):gsub('"dataset": "mnist"', '"dataset": "fashion"')))
    dataset.close_records()
    local none, reason = dataset.open_records(cfg)
    assert.is_nil(none)
    assert.matches("records of 'fashion', not 'mnist'", reason)
    dataset.save_records(cfg, { log = false }) -- whole again for the specs after this one
  end)

  it("loads Fashion-MNIST from Debian's package when no mirror has it", function()
    local fashion = { artifact_dir = home, dataset = "fashion", download_timeout = 2 }
    local test = mnist.load_dataset("test", fashion, { env_mirror = false, log = false, batch_size = 10 })
    local _, y = test:epoch(1)()
    assert.same({ 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 }, y:totable()) -- ankle boot, pullover, trouser, ...
    assert.equal(5000, mnist.load_dataset("validation", fashion):size())
  end)

  it("rejects unknown splits and impossible settings", function()
    assert.has_error(function() mnist.load_dataset("dev", cfg) end,
      "load_dataset: split must be 'train', 'validation' or 'test', got dev")
    assert.has_error(function() mnist.load_dataset("validation", { artifact_dir = home, n_validation = 0 }) end,
      "load_dataset: the validation split is empty (n_validation = 0)")
    assert.has_error(function() mnist.load_dataset("train", { artifact_dir = home, batch_siz = 3 }) end,
      "config: overrides: unknown key 'batch_siz' (did you mean 'batch_size'?)")
  end)
end)
