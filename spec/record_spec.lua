-- Record files (csrc/data/record.c): the documented layout, round trip, and refusal of damaged files.
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local T = require "mnist.tensor"

-- little-endian integers, to build headers independently of the C writer
local function le(n, bytes)
  local out = {}
  for i = 1, bytes do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

describe("record files", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.rm(dir) end)

  -- 3 images of 2x4 with distinct bytes, labels 7 8 9
  local pixels = ""
  for i = 0, 23 do pixels = pixels .. string.char(i * 10) end
  local images = T.frombytes(pixels, { 3, 2, 4 })
  local labels = T.frombytes("\7\8\9", { 3 })

  it("writes the documented layout: header, images, labels", function()
    local path = dir .. "/a.rec"
    local sha = assert(core.record_write(path, images, labels))
    local payload = pixels .. "\7\8\9"
    assert.equal(core.sha256(payload), sha)
    local expected = "MNISTREC" .. le(1, 4) .. le(64, 4) .. le(3, 8) .. le(2, 4) .. le(4, 4)
    local bytes = H.read(path)
    assert.equal(64 + 24 + 3, #bytes)
    assert.equal(expected, bytes:sub(1, 32))
    assert.equal(sha, (bytes:sub(33, 64):gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
    assert.equal(payload, bytes:sub(65))
  end)

  it("round-trips through a memory map, verified", function()
    local path = dir .. "/b.rec"
    local sha = core.record_write(path, images, labels)
    local x, y, got = core.record_open(path)
    assert.equal(sha, got)
    assert.same({ 3, 2, 4 }, x:size())
    assert.same({ 3 }, y:size())
    assert.equal("uint8", x:dtype())
    assert.same(images:totable(), x:totable())
    assert.same({ 7, 8, 9 }, y:totable())
    -- views of one mapping: they outlive each other and the file name
    os.remove(path)
    x = nil
    collectgarbage()
    assert.same({ 7, 8, 9 }, y:totable())
  end)

  it("refuses bad magic, version, counts and sizes", function()
    local good = H.read((function()
      local p = dir .. "/c.rec"
      core.record_write(p, images, labels)
      return p
    end)())
    local function open_err(name, bytes)
      local p = H.write(dir .. "/" .. name, bytes)
      local x, err = core.record_open(p)
      assert.is_nil(x)
      return err
    end
    assert.matches('not a record file %(magic is not "MNISTREC"%)', open_err("m", "XNISTREC" .. good:sub(9)))
    assert.matches("record format version 2 %(header 64 bytes%); this build reads version 1",
      open_err("v", good:sub(1, 8) .. le(2, 4) .. good:sub(13)))
    assert.matches("absurd counts in the header: 0 images", open_err("z", good:sub(1, 16) .. le(0, 8) .. good:sub(25)))
    assert.matches("absurd counts in the header: 4294967296 images",
      open_err("big", good:sub(1, 16) .. le(2 ^ 32, 8) .. good:sub(25)))
    assert.matches("describes 3 images of 2 x 4 %(91 bytes%) but the file has 90 bytes", open_err("t", good:sub(1, -2)))
    assert.matches("but the file has 92 bytes", open_err("l", good .. "x"))
    assert.matches("shorter than the 64%-byte header", open_err("h", good:sub(1, 40)))
    local x, err = core.record_open(dir .. "/none.rec")
    assert.is_nil(x)
    assert.equal(dir .. "/none.rec: No such file or directory", err)
  end)

  it("detects a corrupted payload by its SHA-256 (unless told not to check)", function()
    local p = dir .. "/d.rec"
    core.record_write(p, images, labels)
    local bytes = H.read(p)
    H.write(p, bytes:sub(1, 70) .. "\255" .. bytes:sub(72))
    local x, err = core.record_open(p)
    assert.is_nil(x)
    assert.matches("payload SHA%-256 is %x+, the header says %x+ %(the file is corrupt%)", err)
    local unchecked = core.record_open(p, false)
    assert.equal(255, unchecked:get(1, 2, 3))
  end)

  it("refuses to write mismatched or non-uint8 tensors", function()
    assert.has_error(function() core.record_write(dir .. "/e.rec", images, T.frombytes("\1\2", { 2 })) end,
      "record_write: 3 images but 2 labels")
    assert.has_error(function() core.record_write(dir .. "/e.rec", images:float(), labels) end,
      "record_write: images and labels must be uint8 tensors")
    assert.is_false(H.exists(dir .. "/e.rec"))
  end)
end)
