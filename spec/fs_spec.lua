-- mnist.fs: listings, exclusive mkdir, temp dirs, and the fcntl locks that processes sharing an
-- artifact directory take (checked against other real processes).
local core = require "mnist.core"
local fs = require "mnist.fs"
local H = require "spec.support.helpers"

-- Starts a luajit process that takes the lock at path in mode and holds it until killed; returns
-- its pid once it holds the lock.
local function holder(dir, path, mode)
  local ready = dir .. "/ready." .. mode
  local code = ([[
    local fs = require "mnist.fs"
    local lock = assert(fs.lock(%q, %q, { wait = true }))
    io.open(%q, "w"):close()
    require("mnist.core").sleep(60)
  ]]):format(path, mode, ready)
  local cpath = os.getenv("MNIST_BUILD_DIR") or "build"
  assert(H.sh(("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' luajit -e %s >/dev/null 2>&1 & echo $! > %s/pid")
    :format(cpath, H.quote(code), dir)))
  local pid = tonumber(H.read(dir .. "/pid"))
  for _ = 1, 400 do
    if H.exists(ready) then return pid end
    core.sleep(0.025)
  end
  error("the lock holder did not start")
end

local function stop(pid)
  H.sh(("kill -9 %d 2>/dev/null; while kill -0 %d 2>/dev/null; do sleep 0.01; done"):format(pid, pid))
end

describe("fs", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rm(dir) end)

  it("lists a directory sorted, without . and .., and says why it cannot", function()
    for _, name in ipairs { "b", ".hidden", "a" } do H.write(dir .. "/" .. name, "") end
    assert.same({ ".hidden", "a", "b" }, fs.list(dir))
    local none, why = fs.list(dir .. "/missing")
    assert.is_nil(none)
    assert.truthy(why:find(dir .. "/missing: No such file or directory", 1, true), why)
    assert.is_true(fs.is_dir(dir))
    assert.is_false(fs.is_dir(dir .. "/a"))
  end)

  it("mkdir creates a directory once: the second caller is told it exists (EEXIST)", function()
    assert.is_true(fs.mkdir(dir .. "/run"))
    local ok, why, errno = fs.mkdir(dir .. "/run")
    assert.is_nil(ok)
    assert.equal(17, errno)
    assert.equal(dir .. "/run: File exists", why)
  end)

  it("makes and removes a temp directory tree without following links", function()
    local tmp = assert(fs.temp_dir())
    assert(H.sh(("mkdir -p %s/a/b && touch %s/a/b/c %s/keep && ln -s %s %s/a/link"):format(tmp, tmp, dir, dir, tmp)))
    assert.is_true(fs.remove_tree(tmp))
    assert.is_false(fs.is_dir(tmp))
    assert.is_true(H.exists(dir .. "/keep"))
  end)

  it("an exclusive lock held by another process: busy, naming it; free once it is killed", function()
    local path = dir .. "/.lock"
    local pid = holder(dir, path, "w")
    finally(function() stop(pid) end)
    local lock, who, kind = fs.lock(path, "w")
    assert.is_nil(lock)
    assert.equal("busy", kind)
    assert.truthy(who:find(("^process %d %%(.*luajit"):format(pid)), who)
    assert.is_nil(fs.lock(path, "r"))
    stop(pid)
    lock = assert(fs.lock(path, "w"))
    lock:release()
  end)

  it("shared locks coexist and keep out an exclusive one", function()
    local path = dir .. "/.lock"
    local pid = holder(dir, path, "r")
    finally(function() stop(pid) end)
    local shared = assert(fs.lock(path, "r"))
    assert(fs.lock(dir .. "/other.lock", "w")):release() -- another file is unaffected
    shared:release()
    local _, _, kind = fs.lock(path, "w")
    assert.equal("busy", kind)
  end)

  it("counts nested locks of one process: the inner release keeps the lock held", function()
    local path = dir .. "/.lock"
    local outer = assert(fs.lock(path, "w"))
    local inner = assert(fs.lock(path, "w"))
    inner:release()
    local out = H.luajit(("print(select(3, require('mnist.fs').lock(%q, 'w')))"):format(path))
    assert.equal("busy\n", out)
    outer:release()
    out = H.luajit(("print(require('mnist.fs').lock(%q, 'w') ~= nil)"):format(path))
    assert.equal("true\n", out)
  end)

  it("with_lock releases the lock when its function raises", function()
    local path = dir .. "/.lock"
    assert.has_error(function() fs.with_lock(path, "w", nil, error, "boom", 0) end, "boom")
    local out = H.luajit(("print(require('mnist.fs').lock(%q, 'w') ~= nil)"):format(path))
    assert.equal("true\n", out)
  end)
end)
