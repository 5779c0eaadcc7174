-- IDX parsing (csrc/data/idx.c): real MNIST files and crafted bad ones.
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local dataset = require "mnist.dataset"

describe("IDX reader", function()
  local dir
  setup(function() dir = H.tmpdir() end)
  teardown(function() H.rm(dir) end)

  local function read_err(name, data)
    local path = H.write(dir .. "/" .. name, data)
    local t, err = core.idx_read(path)
    assert.is_nil(t)
    return err
  end

  it("reads the MNIST label and image files (gzip) with their dimensions", function()
    local m = H.mirror()
    local labels = dataset.read_idx(m .. "/train-labels-idx1-ubyte.gz")
    assert.same({ 60000 }, labels:size())
    assert.equal("uint8", labels:dtype())
    local first = {}
    for i = 1, 10 do first[i] = labels[i] end
    assert.same({ 5, 0, 4, 1, 9, 2, 1, 3, 1, 4 }, first) -- DESIGN.md "Data facts"
    local images = dataset.read_idx(m .. "/t10k-images-idx3-ubyte.gz")
    assert.same({ 10000, 28, 28 }, images:size())
    -- the bytes are the file's bytes after the 16-byte header
    local raw = H.gunzip_file(m .. "/t10k-images-idx3-ubyte.gz")
    assert.equal(core.sha256(raw:sub(17)), core.sha256(images:tobytes()))
  end)

  it("reads raw and gzip files alike", function()
    local data = H.idx({ 2, 3, 2 }, "\1\2\3\4\5\6\7\8\9\10\11\12")
    local raw = assert(core.idx_read(H.write(dir .. "/raw", data)))
    local gz = assert(core.idx_read(H.write(dir .. "/raw.gz", H.gzip(data))))
    assert.same({ 2, 3, 2 }, raw:size())
    assert.same(raw:totable(), gz:totable())
    assert.equal(12, raw:get(2, 3, 2))
  end)

  it("refuses a wrong magic, a type other than unsigned byte, a rank above 8", function()
    assert.matches("bad magic 0x00000903", read_err("magic", "\0\0\9\3" .. H.be32(1) .. H.be32(1) .. H.be32(1) .. "x"))
    -- gzip's own magic with a broken stream: the gzip error is the reason
    assert.matches("0 bytes, too short for an IDX header %(header crc mismatch%)",
      read_err("magic2", "\31\139\8\3" .. ("\0"):rep(20)))
    assert.matches("bad magic 0x00000d01", read_err("float", "\0\0\13\1" .. H.be32(1) .. "abcd"))
    assert.matches("bad magic", read_err("rank0", "\0\0\8\0"))
    assert.matches("rank 9 is more than the 8", read_err("rank9", H.idx({ 1, 1, 1, 1, 1, 1, 1, 1, 1 }, "x")))
    assert.matches("empty file", read_err("empty", ""))
    assert.matches("too short for an IDX header", read_err("short", "\0\0"))
  end)

  it("refuses truncated files and trailing data, raw or gzip", function()
    local full = H.idx({ 4, 5 }, ("\7"):rep(20))
    assert.matches("implies 32 bytes but the file has 27 %(truncated%)", read_err("cut", full:sub(1, 27)))
    assert.matches("trailing data", read_err("long", full .. "extra"))
    assert.matches("truncated header", read_err("cuthead", full:sub(1, 9)))
    local gz = H.gzip(full)
    -- a gzip stream cut short: its trailer is gone, so the length check or the read fails
    assert.matches("gzip", read_err("cut.gz", gz:sub(1, #gz - 6)))
    -- a complete gzip stream of a short file: the trailer's length disagrees with the header
    assert.matches("implies 32 bytes but the gzip stream", read_err("short.gz", H.gzip(full:sub(1, 27))))
  end)

  it("refuses absurd dimensions before allocating", function()
    -- 2^31 images: past INT32_MAX, refused from the header alone
    assert.matches("dimension 1 is 2147483648", read_err("huge", "\0\0\8\3" .. H.be32(2 ^ 31) .. H.be32(28) .. H.be32(28)))
    assert.matches("dimension 2 is 0", read_err("zero", H.idx({ 3, 0 }, "")))
    -- each dimension valid, the product too large for a tensor
    assert.matches("hold more than 2147483647 elements", read_err("product", H.idx({ 65536, 65536 }, "")))
    -- plausible product, but the (tiny) file cannot hold it
    assert.matches("implies 47040016 bytes but the file has", read_err("lie", H.idx({ 60000, 28, 28 }, "abc")))
    assert.matches("implies 47040016 bytes but the gzip stream", read_err("lie.gz", H.gzip(H.idx({ 60000, 28, 28 }, "abc"))))
  end)

  it("reports a missing file with the system's reason", function()
    local t, err = core.idx_read(dir .. "/missing")
    assert.is_nil(t)
    assert.equal(dir .. "/missing: No such file or directory", err)
    assert.has_error(function() dataset.read_idx(dir .. "/missing") end,
      "dataset: cannot read IDX file " .. dir .. "/missing: No such file or directory")
  end)

  it("checks that images and labels belong together", function()
    local images = H.write(dir .. "/img", H.idx({ 3, 2, 2 }, ("\0"):rep(12)))
    local three = H.write(dir .. "/lab3", H.idx({ 3 }, "\1\2\3"))
    local two = H.write(dir .. "/lab2", H.idx({ 2 }, "\1\2"))
    local bad = H.write(dir .. "/labbad", H.idx({ 3 }, "\1\12\3"))
    local x, y = dataset.read_idx_pair(images, three)
    assert.same({ 3, 2, 2 }, x:size())
    assert.same({ 1, 2, 3 }, y:totable())
    assert.has_error(function() dataset.read_idx_pair(images, two) end,
      ("dataset: %s and %s do not match: 3 images but 2 labels"):format(images, two))
    assert.has_error(function() dataset.read_idx_pair(images, bad) end,
      ("dataset: %s and %s do not match: label 12 of item 2 (1-based) is not a class 0..9"):format(images, bad))
    assert.has_error(function() dataset.read_idx_pair(three, three) end,
      ("dataset: %s and %s do not match: expected images of rank 3 and labels of rank 1, got ranks 1 and 1"):format(three, three))
  end)
end)
