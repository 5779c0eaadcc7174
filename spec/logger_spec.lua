-- optim.Logger: the log file's rows and, with gnuplot (in the Makefile's DEBS), a PNG plot.
local optim = require "mnist.optim"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("*l")
  p:close()
  return dir
end

describe("optim.Logger", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("writes the names, then one row per add, in Torch7's format", function()
    local logger = optim.Logger(dir .. "/sub/accuracy.log") -- creates the directory
    logger:setNames { "train", "test" }
    logger:add { 0.5, 0.25 }
    logger:add { 0.75, "n/a" }
    logger:close()
    assert.equal("train\ttest\n 5.0000e-01\t 2.5000e-01\n 7.5000e-01\tn/a\n", read(dir .. "/sub/accuracy.log"))
  end)

  it("takes named values without setNames (columns in sorted order)", function()
    local logger = optim.Logger(dir .. "/named.log")
    logger:add { ["test error"] = 2, ["training error"] = 1 }
    logger:add { ["training error"] = 3, ["test error"] = 4 }
    logger:close()
    assert.equal("test error\ttraining error\n 2.0000e+00\t 1.0000e+00\n 4.0000e+00\t 3.0000e+00\n",
      read(dir .. "/named.log"))
  end)

  it("plots the numeric columns into <file>.png with gnuplot", function()
    local logger = optim.Logger(dir .. "/curve.log")
    logger:setNames { "loss", "accuracy" }
    logger:style { "-", "+-" }
    for i = 1, 5 do logger:add { 1 / i, 1 - 1 / (i + 1) } end
    local png, why = logger:plot()
    if os.execute("command -v gnuplot >/dev/null 2>&1") ~= 0 then
      assert.is_nil(png)
      assert.equal("gnuplot is not installed", why)
      return
    end
    assert.equal(dir .. "/curve.log.png", png, why)
    local bytes = read(png)
    assert.is_true(#bytes > 1000, "a real picture")
    assert.equal("\137PNG\r\n\26\n", bytes:sub(1, 8))
    assert.truthy(read(dir .. "/curve.log.plot.gp"):find("with linespoints pt 1 title 'accuracy'", 1, true))
  end)

  it("names bad input", function()
    local logger = optim.Logger(dir .. "/bad.log")
    logger:setNames { "a", "b" }
    assert.has_error(function() logger:add { 1 } end, "optim.Logger: add: 1 values for 2 names (a, b)")
    assert.has_error(function() logger:add { 1, {} } end,
      "optim.Logger: add: 'b' is a table; only numbers and strings can be logged")
    assert.has_error(function() logger:setNames { "c" } end, "optim.Logger: setNames: call it before the first add")
    assert.has_error(function() logger:plot("nope") end, "optim.Logger: plot: no column named 'nope'")
    assert.has_error(function() optim.Logger(dir .. "/bad.log/inside") end)
  end)
end)
