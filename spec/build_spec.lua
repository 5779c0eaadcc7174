-- The C core builds to the same code whoever compiles it: `make` (-O3 -fno-math-errno) and
-- `luarocks make`, what `luarocks install` runs (luarocks' builtin backend, -O2 and math errno),
-- through csrc/sys/optimize.h. And the specs test the in-tree build, never a stray copy.
local mnist = require "mnist"
local H = require "spec.support.helpers"
local core = mnist.core

local function lines(cmd)
  local out, p = {}, assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- A few Adam steps of a small convolutional net: prints the build's info and the parameters'
-- SHA-256 (any difference in the compiled arithmetic changes it).
local CHILD = [[
local mnist = require "mnist"
local T, nn, optim, core = mnist.tensor, mnist.nn, mnist.optim, mnist.core
mnist.random.manual_seed(7)
local model = nn.Sequential()
  :add(nn.SpatialConvolution(1, 8, 5, 5)):add(nn.ReLU()):add(nn.SpatialMaxPooling(2, 2, 2, 2))
  :add(nn.View(8 * 12 * 12)):add(nn.Linear(8 * 12 * 12, 10)):add(nn.LogSoftMax())
local criterion = nn.ClassNLLCriterion()
local x = T.zeros(16, 1, 28, 28)
mnist.random.default:fill_uniform(x, 0, 1)
local labels = T.zeros(16)
for i = 1, 16 do labels:set(i, (i * 7) % 10) end
local params, grads = model:getParameters()
local state = {}
for _ = 1, 5 do
  optim.adam(function()
    grads:zero()
    local loss = criterion:forward(model:forward(x), labels)
    model:backward(x, criterion:backward(model.output, labels))
    return loss, grads
  end, params, { learningRate = 0.01 }, state)
end
local b = core.build_info()
io.write(tostring(b.optimize_pragma), " ", tostring(b.math_errno), " ", b.compiler, " ", core.sha256(params))
]]

local function run_child(cpath)
  local pwd = lines("pwd")[1]
  local script = os.tmpname()
  H.write(script, CHILD)
  local out = H.run(("LUA_PATH=%s LUA_CPATH=%s luajit %s 2>&1"):format(
    H.quote(pwd .. "/lua/?.lua;" .. pwd .. "/lua/?/init.lua;;"), H.quote(cpath .. "/?.so;;"), script))
  os.remove(script)
  return out
end

describe("the build", function()
  it("includes sys/optimize.h first in every C file", function()
    local files = lines("ls csrc/*/*.c")
    assert.truthy(#files > 20, "no C sources found under csrc/*/")
    for _, c in ipairs(files) do
      local first = ("\n" .. H.read(c)):match("\n%s*#%s*include%s*([<\"][^>\"]+[>\"])")
      assert.equal('"sys/optimize.h"', first, c .. " does not include sys/optimize.h first")
    end
  end)

  it("of make has -O3 and no math errno", function()
    if os.getenv("MNIST_BUILD_DIR") then return pending("the sanitizer build keeps its own flags") end
    local b = core.build_info()
    assert.is_true(b.optimized)
    assert.is_true(b.optimize_pragma)
    assert.is_false(b.math_errno)
    assert.is_true(b.no_math_errno_macro)
  end)

  it("is the one the specs load, not a stray mnist/core.so at the top of the checkout", function()
    local dir = os.getenv("MNIST_BUILD_DIR") or "build"
    local found = package.searchpath("mnist.core", package.cpath)
    assert.truthy(found and ("/" .. found):sub(-#dir - 15) == "/" .. dir .. "/mnist/core.so", found)
    local child = H.luajit('io.write(package.searchpath("mnist.core", package.cpath))')
    assert.equal("/" .. dir .. "/mnist/core.so", child:sub(-#dir - 15), child)
  end)

  it("of luarocks make (luarocks' own flags) computes bit for bit what make's does", function()
    if os.getenv("MNIST_BUILD_DIR") then return pending("the sanitizer build keeps its own flags") end
    local tree = H.tmpdir()
    local so = H.run("tools/luarocks_build.sh " .. H.quote(tree) .. " 2>&1")
    assert.truthy(so and so:find("core%.so%s*$"), "luarocks make failed: " .. tostring(so))
    local ours = run_child(lines("pwd")[1] .. "/build")
    local rock = run_child(tree .. "/lib/lua/5.1")
    H.rm(tree)
    assert.truthy(ours:match("^true false %S+ %x+$"), ours)
    assert.equal(ours, rock)
  end)
end)
