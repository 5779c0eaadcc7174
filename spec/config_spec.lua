local config = require "mnist.config"

local function tmpfile(name, text)
  local p = io.popen("mktemp -d")
  local dir = p:read("*l")
  p:close()
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("config defaults", function()
  it("documents every field and has the DESIGN's values", function()
    local cfg = config.resolve()
    assert.equal(64, cfg.batch_size)
    assert.equal(0.1307, cfg.normalize_mean)
    assert.equal(0.3081, cfg.normalize_std)
    assert.equal("mnist", cfg.dataset)
    for _, f in ipairs(config.fields) do
      assert.is_string(f[3])
      assert.is_true(#f[3] > 10, f[1] .. " needs a description")
    end
  end)

  it("derives steps from sizes", function()
    local cfg = config.resolve { batch_size = 100, n_validation = 5000, test_batch_size = 1000 }
    assert.equal(550, config.steps_per_epoch(cfg))
    assert.equal(5, config.validation_steps(cfg))
    assert.equal(10, config.test_steps(cfg))
    cfg = config.resolve { limit_train = 1000, n_validation = 100, batch_size = 64, limit_test = 64 }
    assert.equal(14, config.steps_per_epoch(cfg)) -- floor(900 / 64)
    assert.equal(1, config.test_steps(cfg))
  end)

  it("resolves the artifact dir from MNIST_HOME or ~/.mnist", function()
    local cfg = config.resolve()
    local expected = os.getenv("MNIST_HOME") or (os.getenv("HOME") .. "/.mnist")
    assert.equal(expected, cfg.artifact_dir)
    assert.equal(os.getenv("HOME") .. "/x", config.resolve { artifact_dir = "~/x" }.artifact_dir)
    assert.equal(os.getenv("HOME") .. "/.mnist/data/fashion", config.data_dir(config.resolve {
      dataset = "fashion", artifact_dir = "~/.mnist" }))
  end)

  it("returns a fresh table each time", function()
    local a = config.resolve()
    table.insert(a.mirrors, "x")
    assert.same({}, config.resolve().mirrors)
  end)
end)

describe("config overrides", function()
  it("reads YAML with only the values that differ", function()
    local path = tmpfile("c.yml", "epochs: 2\nbatch_size: 128\nmirrors: [http://127.0.0.1:1/]\n")
    local cfg = config.load(path)
    assert.equal(2, cfg.epochs)
    assert.equal(128, cfg.batch_size)
    assert.same({ "http://127.0.0.1:1/" }, cfg.mirrors)
    assert.equal("adadelta", cfg.optimizer)
  end)

  it("reads JSON, and flags win over the file", function()
    local path = tmpfile("c.json", '{"epochs": 2, "seed": 7}')
    local cfg = config.load(path, { epochs = 5 })
    assert.equal(5, cfg.epochs)
    assert.equal(7, cfg.seed)
  end)

  it("treats an empty file and null values as no change", function()
    assert.equal(3, config.load(tmpfile("e.yml", "")).epochs)
    assert.equal(3, config.load(tmpfile("n.yml", "epochs: ~\n")).epochs)
    assert.equal(3, config.load(tmpfile("n.json", '{"epochs": null}')).epochs)
  end)

  it("names the key, the file and the nearest valid key for an unknown key", function()
    local path = tmpfile("bad.yml", "batch_sise: 3\n")
    assert.has_error(function() config.load(path) end,
      "config: " .. path .. ": unknown key 'batch_sise' (did you mean 'batch_size'?)")
  end)

  it("names the key and the file for a wrong type or value", function()
    local path = tmpfile("t.yml", "epochs: two\n")
    assert.has_error(function() config.load(path) end,
      "config: " .. path .. ": 'epochs' must be a number, got string (two)")
    assert.has_error(function() config.resolve { batch_size = 0 } end,
      "config: overrides: 'batch_size' must be a whole number >= 1, got 0")
    assert.has_error(function() config.resolve { learning_rate = -1 } end,
      "config: overrides: 'learning_rate' must be >= 0, got -1")
    assert.has_error(function() config.resolve { dataset = "cifar" } end,
      "config: overrides: 'dataset' must be one of mnist, fashion, got 'cifar'")
    assert.has_error(function() config.resolve { mirrors = { 1 } } end,
      "config: overrides: 'mirrors' item 1 must be a string, got number")
    assert.has_error(function() config.load(path, { epochs = 1 }) end) -- the file is still checked
  end)

  it("rejects files that are not a mapping or not parseable", function()
    local list = tmpfile("l.yml", "- 1\n- 2\n")
    assert.has_error(function() config.load(list) end,
      "config: " .. list .. ": expected a mapping of setting names to values at the top level")
    local broken = tmpfile("b.json", "{epochs: 2")
    assert.has_error(function() config.load(broken) end)
    local ok, err = pcall(config.load, broken)
    assert.truthy(err:find(broken .. ": not valid JSON", 1, true))
    local missing = "/nonexistent/c.yml"
    ok, err = pcall(config.load, missing)
    assert.equal("config: cannot read /nonexistent/c.yml: /nonexistent/c.yml: No such file or directory", err)
  end)

  it("checks settings against each other", function()
    assert.has_error(function() config.resolve { limit_train = 100, n_validation = 100 } end,
      "config: 'n_validation' (100) must be smaller than 'limit_train' (100): leave it out to hold out 8 images, "
        .. "or set it, e.g. --n-validation 8")
  end)

  it("checks the learning-rate schedule's settings, naming the key", function()
    assert.has_error(function() config.resolve { lr_schedule = "exponential" } end,
      "config: overrides: 'lr_schedule' must be one of step, multistep, cosine, onecycle, warmup, constant, got 'exponential'")
    assert.has_error(function() config.resolve { lr_schedule = "multistep" } end,
      "config: 'lr_milestones' must list at least one epoch for lr_schedule 'multistep'")
    assert.has_error(function() config.resolve { lr_milestones = { 3, 2 } } end,
      "config: overrides: 'lr_milestones' must be increasing whole numbers >= 1, got 2 at position 2")
    assert.has_error(function() config.resolve { lr_milestones = { "two" } } end,
      "config: overrides: 'lr_milestones' must be increasing whole numbers >= 1, got two at position 1")
    assert.has_error(function() config.resolve { lr_pct_start = 1 } end,
      "config: 'lr_pct_start' must be between 0 and 1 (exclusive), got 1")
    assert.has_error(function() config.resolve { lr_warmup_factor = 0 } end,
      "config: 'lr_warmup_factor' must be in (0, 1], got 0")
    assert.has_error(function() config.resolve { lr_warmup_steps = 0 } end,
      "config: overrides: 'lr_warmup_steps' must be a whole number >= 1, got 0")
    assert.has_error(function()
      config.resolve { lr_schedule = "onecycle", limit_train = 200, n_validation = 100, batch_size = 64, epochs = 1 }
    end, "config: 'lr_pct_start' 0.3 of 1 batches (epochs x batches per epoch) leaves no batch to rise over")
    assert.has_error(function() config.resolve { optimizer = "nag" } end,
      "config: 'momentum' must be > 0 for optimizer 'nag' (Nesterov momentum)")
    -- a YAML list, and a flag's "2,4"
    local path = tmpfile("m.yml", "lr_schedule: multistep\nlr_milestones: [2, 4]\n")
    assert.same({ 2, 4 }, config.load(path).lr_milestones)
    assert.same({ 2, 4 }, config.resolve({ lr_schedule = "multistep", lr_milestones = { "2", "4" } }).lr_milestones)
    assert.equal("adagrad", config.resolve({ optimizer = "adagrad" }).optimizer)
  end)

  it("diff lists only what differs from the defaults", function()
    local cfg = config.resolve { epochs = 9, mirrors = { "a" } }
    assert.same({ epochs = 9, mirrors = { "a" } }, config.diff(cfg))
  end)
end)
