-- The rock's metadata agrees with the code: one version, every module listed in the rockspec.
local mnist = require "mnist"
local helpers = require "spec.support.helpers"
local read = helpers.read

local function list(cmd)
  local out = {}
  local p = assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

describe("the rock", function()
  local rockspecs = list("ls mnist-*.rockspec")

  it("has exactly one rockspec, named after mnist.version", function()
    assert.same({ ("mnist-%s-1.rockspec"):format(mnist.version) }, rockspecs)
    assert.truthy(read(rockspecs[1]):find(('version = "%s-1"'):format(mnist.version), 1, true))
  end)

  it("lists every C source and Lua module", function()
    local spec = read(rockspecs[1])
    -- the optional MPI module's sources are named in the note on mnist.mpi, never in mnist.core's
    local optional = spec:match("\n%-%-%s*optional module mnist%.mpi:([^\n]*)") or ""
    local core_sources = spec:match('%["mnist%.core"%]%s*=%s*(%b{})') or ""
    for _, c in ipairs(list("ls csrc/*/*.c")) do
      if c:find("^csrc/mpi/") or c == "csrc/lua/lua_mpi.c" then
        assert.truthy(optional:find('"' .. c .. '"', 1, true), c .. " is missing from the rockspec's note on mnist.mpi")
        assert.falsy(core_sources:find('"' .. c .. '"', 1, true), c .. " must not be built into mnist.core")
      else
        assert.truthy(core_sources:find('"' .. c .. '"', 1, true), c .. " is missing from the rockspec")
      end
    end
    for _, path in ipairs(list("find lua -name '*.lua' | sort")) do
      local name = path:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      assert.truthy(spec:find(('["%s"] = "%s"'):format(name, path), 1, true), path .. " is missing from the rockspec")
    end
  end)

  it("keeps lua.h out of the pure C core (only csrc/lua/ binds)", function()
    local files = list("ls csrc/*/*.c csrc/*/*.h")
    assert.truthy(#files > 20, "no C sources found under csrc/*/")
    for _, c in ipairs(files) do
      if not c:find("^csrc/lua/") then
        assert.falsy(read(c):find("#include%s*[<\"]lua"), c .. " includes a Lua header")
      end
    end
  end)
end)

describe("the shipped weights", function()
  -- the default model's in shipped/, each recipe's in shipped/<arch>/ with its own manifest
  for _, sub in ipairs { "", "fast/", "best/" } do
    it(("are this version's, listed for installation, and verify (shipped/%s)"):format(sub), function()
      local cjson = require "cjson"
      local spec = read(("mnist-%s-1.rockspec"):format(mnist.version))
      local dir = "lua/mnist/shipped/" .. sub
      local manifest = cjson.decode(read(dir .. "manifest.json"))
      assert.equal(mnist.version, manifest.version)
      assert.equal(sub == "" and "default" or sub:sub(1, -2), manifest.arch)
      for _, f in ipairs(list("find " .. dir .. " -maxdepth 1 -type f -printf '%f\\n'")) do
        assert.truthy(spec:find('"' .. dir .. f .. '"', 1, true), dir .. f .. " is not installed by the rockspec")
      end
      for name, entry in pairs(manifest.files) do
        assert.truthy(name:find(mnist.version, 1, true))
        assert.equal(entry.sha256, mnist.core.sha256_file(dir .. name))
      end
    end)
  end
end)
