-- The C core builds to the same code whoever compiles it: `make` (-O3 -fno-math-errno) and
-- luarocks' builtin backend (-O2 and math errno: what `luarocks make`, `luarocks build` and so
-- `make rock` run), through csrc/sys/optimize.h. The rocks of `make rock` install into a clean
-- tree and run from there. And the specs test the in-tree build, never a stray copy.
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
end)

-- make rock (tools/rock.sh; under make test-arm64, the aarch64 rock): packed once here (one compile with luarocks' own flags, the slow
-- part), installed into a temporary tree the way the README says, then run from that tree.
describe("the rocks of make rock", function()
  local out, tree, rocks, skip
  local pwd = lines("pwd")[1]

  setup(function()
    -- (make test-arm64 runs these too: tools/arm64.sh's luarocks packs an aarch64 rock)
    if not core.build_info().optimize_pragma then skip = "the sanitizer build keeps its own flags" return end
    if not H.sh("command -v luarocks >/dev/null 2>&1") then skip = "luarocks is not installed (apt-get install luarocks)" return end
    out, tree = H.tmpdir(), H.tmpdir()
    rocks = H.run("tools/rock.sh " .. H.quote(out) .. " 2>&1") or ""
  end)

  teardown(function()
    if out then H.rm(out) H.rm(tree) end
  end)

  local function binary_rock()
    return rocks:match("(%S+/mnist%-[%d.]+%-%d+%.linux%-[%w_]+%.rock)%s*$")
  end

  it("are a source rock and a binary rock of this version, the weights in the binary one", function()
    if skip then return pending(skip) end
    local name = ("mnist-%s-1"):format(mnist.version)
    assert.truthy(rocks:find(out .. "/" .. name .. ".src.rock\n", 1, true), rocks)
    local rock = binary_rock()
    assert.truthy(rock, rocks)
    local files = table.concat(lines("unzip -Z1 " .. H.quote(rock)), "\n")
    for _, want in ipairs { "lib/mnist/core.so", "bin/mnist.lua", "lua/mnist/cli.lua", name .. ".rockspec",
                            ("lua/mnist/shipped/mnist-classifier-%s.safetensors"):format(mnist.version), "lua/mnist/shipped/manifest.json" } do
      assert.truthy(("\n" .. files .. "\n"):find("\n" .. want .. "\n", 1, true), want .. " is not in the rock:\n" .. files)
    end
    local src = table.concat(lines("unzip -Z1 " .. H.quote(out .. "/" .. name .. ".src.rock")), "\n")
    assert.truthy(src:find(("mnist-%s.tar.gz"):format(mnist.version), 1, true), src)
  end)

  it("install with luarocks without a compiler, and mnist.lua predict runs from the tree with the shipped weights", function()
    if skip then return pending(skip) end
    local rock = assert(binary_rock(), rocks)
    -- CC and LD that always fail: the binary rock must not compile anything
    local log = H.run(("luarocks --lua-version=5.1 install --tree %s %s CC=false LD=false 2>&1"):format(
      H.quote(tree), H.quote(rock)))
    assert.truthy(log and log:find("is now installed", 1, true), log)
    -- from another directory, with none of the checkout's paths: only the tree and Debian's modules
    local home = H.tmpdir()
    local run = ("cd / && env -u LUA_PATH -u LUA_CPATH -u MNIST_BUILD_DIR MNIST_HOME=%s %s/bin/mnist.lua "):format(
      H.quote(home), H.quote(tree))
    local info = H.run(run .. "info 2>&1")
    local photos = {}
    for _, f in ipairs(lines("ls spec/fixtures/photos/photo-0200[0-3]-*.jpg")) do photos[#photos + 1] = pwd .. "/" .. f end
    local predicted = H.run(run .. "predict " .. table.concat(photos, " ") .. " 2>&1")
    H.rm(home)
    assert.truthy(info and info:find("weights %(classifier%): " .. tree:gsub("%p", "%%%0") .. "/share/lua/5.1/mnist/shipped/[^\n]*%(verified%)"), info)
    assert.equal(4, #photos)
    for _, f in ipairs(photos) do
      local label = f:match("%-(%d)%.jpg$")
      assert.truthy(predicted and predicted:find(f .. ": " .. label .. " (p=", 1, true), predicted)
    end
  end)

  it("hold a core that computes bit for bit what make's does", function()
    if skip then return pending(skip) end
    assert.truthy(H.exists(tree .. "/lib/lua/5.1/mnist/core.so"), "the binary rock is not installed")
    local ours = run_child(pwd .. "/" .. (os.getenv("MNIST_BUILD_DIR") or "build"))
    local rock = run_child(tree .. "/lib/lua/5.1")
    assert.truthy(ours:match("^true false %S+ %x+$"), ours)
    assert.equal(ours, rock)
  end)
end)
