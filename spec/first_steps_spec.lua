-- What a new user meets first: `make bench` without MNIST_BENCH_DATA, a smoke run with
-- --limit-train, every official mirror down, and the help texts. Each case failed before its fix.
local H = dofile("spec/support/helpers.lua")
local config = require "mnist.config"

-- Runs a shell command with the in-tree modules; returns stdout+stderr and the exit code.
local function in_tree(cmd)
  local pwd = io.popen("pwd"):read("*l")
  return H.run(("LUA_PATH=%s LUA_CPATH=%s %s"):format(
    H.quote(pwd .. "/lua/?.lua;" .. pwd .. "/lua/?/init.lua;;"),
    H.quote(pwd .. "/" .. (os.getenv("MNIST_BUILD_DIR") or "build") .. "/?.so;;"), cmd))
end

describe("first steps", function()
  local home
  before_each(function() home = H.tmpdir() end)
  after_each(function() H.rm(home) end)

  it("make bench without MNIST_BENCH_DATA uses (and fetches) the artifact directory's data", function()
    -- BENCH_PYTHON names no program: the benchmark stops at its next check, after the data step
    local out, code = in_tree(("env -u MNIST_BENCH_DATA MNIST_HOME=%s MNIST_MIRROR=%s BENCH_PYTHON=/nonexistent/python3 "
      .. "timeout 300 luajit bench/run.lua"):format(H.quote(home), H.quote(H.mirror())))
    assert.equal(1, code, out)
    assert.is_nil(out:find("set MNIST_BENCH_DATA", 1, true), out)
    assert.truthy(out:find("bench: data from the artifact directory: " .. home .. "/data/mnist", 1, true), out)
    assert.truthy(out:find("/nonexistent/python3 not found (BENCH_PYTHON)", 1, true), out)
    for _, name in ipairs { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
      "t10k-labels-idx1-ubyte" } do
      assert.is_true(H.exists(home .. "/data/mnist/" .. name .. ".gz"), name)
    end
  end)

  it("--limit-train alone scales the validation split; an explicit one too large names the flag", function()
    local out, code = in_tree(("MNIST_HOME=%s luajit bin/mnist.lua info --set limit_train=3000"):format(H.quote(home)))
    assert.equal(0, code, out)
    assert.equal(250, config.resolve({ limit_train = 3000 }).n_validation)
    assert.equal(5000, config.resolve({ limit_train = 60000 }).n_validation)
    assert.equal(5000, config.resolve({}).n_validation)
    assert.equal(0, config.resolve({ limit_train = 10 }).n_validation)
    assert.equal(100, config.resolve({ limit_train = 3000, n_validation = 100 }).n_validation)
    -- a file that sets n_validation is obeyed (and checked)
    local file = H.write(home .. "/c.yml", "n_validation: 4000\n")
    assert.equal(4000, config.load(file, { limit_train = 5000 }).n_validation)
    out, code = in_tree(("MNIST_HOME=%s luajit bin/mnist.lua train --limit-train 3000 --n-validation 5000"):format(
      H.quote(home)))
    assert.equal(1, code)
    assert.equal("mnist.lua train: config: 'n_validation' (5000) must be smaller than 'limit_train' (3000): "
      .. "leave it out to hold out 250 images, or set it, e.g. --n-validation 250\n", out)
  end)

  it("with every official mirror down, prints one line per source tried (each retry with --verbose)", function()
    local function run(verbose)
      local code = ([[
        local download = require "mnist.download"
        -- the official mirrors, down: nothing listens on these loopback ports (connection refused,
        -- a transient failure that is retried)
        download.DATASETS.mnist.mirrors = { "http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/", "http://127.0.0.1:9/c/" }
        download.DATASETS.mnist.npm = nil
        local ok, err = pcall(download.fetch, { artifact_dir = %q, download_retries = 3, verbose = %s },
          { backoff = 0.01, env_mirror = false, only = { "train_labels", "test_labels" } })
        io.stderr:write(tostring(ok), "\n")
      ]]):format(home, tostring(verbose))
      return H.luajit(code, "2>&1")
    end
    local out = run(false)
    local lines = {}
    for line in out:gmatch("[^\n]+") do
      if line:match("^mnist download: ") then lines[#lines + 1] = line end
    end
    assert.equal(3, #lines, out)
    for i, host in ipairs { "a", "b", "c" } do
      assert.matches("^mnist download: train%-labels%-idx1%-ubyte from official http://127%.0%.0%.1:9/" .. host
        .. "/ failed: .*%(after 3 attempts%)$", lines[i])
    end
    assert.is_nil(out:find("retrying", 1, true))
    assert.matches("\nfalse\n$", out)
    -- --verbose: the two retries of each host, for the first file
    local verbose = run(true)
    local retries = 0
    for _ in verbose:gmatch("retrying in") do retries = retries + 1 end
    assert.equal(6, retries, verbose)
    -- on the command line, a bare flag
    local cli = require "mnist.cli"
    local function parsed(argv)
      local args = cli.parser():parse(argv)
      args.positional = args.positional or {}
      return cli.config_from_args(args)
    end
    assert.is_true(parsed({ "download", "--verbose" }).verbose)
    assert.is_false(parsed({ "download" }).verbose)
    assert.is_true(parsed({ "train", "--verbose", "--epochs", "1" }).verbose)
  end)

  it("help texts speak of what the user has, not of DESIGN.md", function()
    local out, code = in_tree(("MNIST_HOME=%s luajit bin/mnist.lua train --help"):format(H.quote(home)))
    assert.equal(0, code)
    assert.is_nil(out:find("DESIGN", 1, true), out)
    assert.truthy(out:find("lua/mnist/model.lua", 1, true))
    for _, field in ipairs(config.fields) do
      assert.is_nil(field[3]:find("DESIGN", 1, true), field[1])
    end
  end)
end)
