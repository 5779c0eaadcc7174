local core = require "mnist.core"
local helpers = require "spec.support.helpers"
local tmpdir, read = helpers.tmpdir, helpers.read
local T = require "mnist.tensor"

describe("sha256", function()
  it("matches the FIPS 180-2 test vectors", function()
    assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", core.sha256(""))
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", core.sha256("abc"))
    assert.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      core.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("hashes a tensor or a list of strings and tensors as their bytes in order, in place", function()
    local t = T.frombytes("bc", { 2 })
    assert.equal(core.sha256("abc"), core.sha256 { "a", t })
    assert.equal(core.sha256("bc"), core.sha256(t))
    local floats = T { 1, -2, 3.5 }
    assert.equal(core.sha256("x" .. floats:tobytes() .. "yz"), core.sha256 { "x", floats, "y", "z" })
    assert.equal(core.sha256(""), core.sha256 {})
    assert.has_error(function() core.sha256 { "a", 1 } end, "sha256: chunk 2 must be a string or a tensor, got number")
  end)

  it("hashes files by streaming, and reports unreadable ones", function()
    local d = tmpdir()
    local f = assert(io.open(d .. "/a", "wb"))
    f:write(("x"):rep(200000))
    f:close()
    assert.equal(core.sha256(("x"):rep(200000)), core.sha256_file(d .. "/a"))
    local h, err = core.sha256_file(d .. "/missing")
    assert.is_nil(h)
    assert.equal(d .. "/missing: No such file or directory", err)
    os.execute("rm -rf " .. d)
  end)
end)

describe("write_atomic", function()
  it("writes strings and tensor bytes in order", function()
    local d = tmpdir()
    local t = T.frombytes("\1\2\3", { 3 })
    assert.is_true(core.write_atomic(d .. "/f", { "head", t, "tail" }))
    assert.equal("head\1\2\3tail", read(d .. "/f"))
    assert.is_true(core.write_atomic(d .. "/g", "plain"))
    assert.equal("plain", read(d .. "/g"))
    local floats = T { 1, -2 }
    core.write_atomic(d .. "/h", floats)
    assert.equal("\0\0\128\63\0\0\0\192", read(d .. "/h")) -- little-endian float32 1 and -2
    os.execute("rm -rf " .. d)
  end)

  it("leaves the previous file intact and no temp file when it cannot write", function()
    local d = tmpdir()
    core.write_atomic(d .. "/f", "old")
    os.execute("chmod 500 " .. d)
    local is_root = io.popen("id -u"):read("*l") == "0"
    if not is_root then
      local ok, err = core.write_atomic(d .. "/f", "new")
      assert.is_nil(ok)
      assert.truthy(err:find("Permission denied", 1, true))
    end
    os.execute("chmod 700 " .. d)
    -- a missing directory fails cleanly for root too
    local ok, err = core.write_atomic(d .. "/nodir/f", "new")
    assert.is_nil(ok)
    assert.equal(d .. "/nodir/f: No such file or directory", err)
    assert.equal("old", read(d .. "/f"))
    local p = io.popen("ls -a " .. d)
    local names = p:read("*a")
    p:close()
    assert.equal(".\n..\nf\n", names)
    os.execute("rm -rf " .. d)
  end)

  it("keeps the old file under a file-size limit that stops the write", function()
    local d = tmpdir()
    core.write_atomic(d .. "/f", "old")
    -- a child process with RLIMIT_FSIZE of 1 KiB tries to write 1 MiB over the same file
    local script = d .. "/child.lua"
    local f = assert(io.open(script, "w"))
    f:write(("package.path=%q package.cpath=%q local c=require'mnist.core' " ..
      "local ok, err = c.write_atomic(%q, ('y'):rep(2^20)) io.write(tostring(ok), ' ', tostring(err))")
        :format(package.path, package.cpath, d .. "/f"))
    f:close()
    local p = io.popen(("sh -c 'trap \"\" XFSZ; ulimit -f 1; exec luajit %s' 2>&1"):format(script))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.truthy(out:find("File too large", 1, true), out)
    assert.equal("old", read(d .. "/f"))
    local ls = io.popen("ls " .. d):read("*a")
    assert.equal("f\n", ls)
    os.execute("rm -rf " .. d)
  end)

  it("rejects chunks that are neither strings nor tensors", function()
    assert.has_error(function() core.write_atomic("/tmp/x", { 1 }) end,
      "write_atomic: chunk 1 must be a string or a tensor, got number")
  end)
end)
