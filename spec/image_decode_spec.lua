-- Decoding pictures (csrc/data/image.c: libjpeg-turbo, libpng, stb_image for the rest): large
-- frames reduced on the way in, sizes checked from the header before any allocation, bombs, and
-- truncated or corrupt files of each format refused with a clear reason.
local bit = require "bit"
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local T = require "mnist.tensor"
local dataset = require "mnist.dataset"
local mnist = require "mnist"

-- CRC-32 (PNG's chunk checksum), so crafted chunks pass libpng's CRC check.
local CRC = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do c = bit.band(c, 1) == 1 and bit.bxor(0xEDB88320, bit.rshift(c, 1)) or bit.rshift(c, 1) end
  CRC[n] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = bit.bxor(CRC[bit.band(bit.bxor(c, s:byte(i)), 0xFF)], bit.rshift(c, 8)) end
  return bit.bxor(c, 0xFFFFFFFF)
end
local function chunk(kind, body)
  local crc = crc32(kind .. body)
  return H.be32(#body) .. kind .. body .. H.be32(crc < 0 and crc + 2 ^ 32 or crc)
end

-- data as a zlib stream (what a PNG's IDAT holds): gzip's deflate data between a zlib header and
-- the Adler-32 of data.
local function zlib(data)
  local gz = H.gzip(data)
  local a, b = 1, 0
  for i = 1, #data do
    a = (a + data:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return "\120\156" .. gz:sub(11, -9) .. H.be32(b * 65536 + a)
end

-- A PNG of w x h 8-bit gray whose IDAT holds `idat` (zlib data).
local function png(w, h, idat)
  return "\137PNG\r\n\26\n" .. chunk("IHDR", H.be32(w) .. H.be32(h) .. "\8\0\0\0\0") .. chunk("IDAT", idat)
    .. chunk("IEND", "")
end

-- A JPEG header declaring w x h (baseline, one component): SOI, SOF0, SOS and no data.
local function jpeg_header(w, h)
  return "\255\216" .. "\255\192\0\11\8" .. string.char(math.floor(h / 256), h % 256, math.floor(w / 256), w % 256)
    .. "\1\1\17\0" .. "\255\218\0\8\1\1\0\0\63\0" .. "\255\217"
end

describe("decoding pictures", function()
  local digit, dir
  setup(function()
    digit = dataset.read_idx(H.mirror() .. "/t10k-images-idx3-ubyte.gz")[1] -- a 7
    dir = H.tmpdir()
  end)
  teardown(function() H.rm(dir) end)

  -- A side x side page (light gray) with the digit enlarged 50x in its middle, as uint8.
  local function big_page(side)
    local rows, blank = {}, ("\235"):rep(side)
    local top = math.floor((side - 1400) / 2)
    for r = 0, side - 1 do
      local y = math.floor((r - top) / 50)
      if y >= 0 and y < 28 then
        local cells = {}
        for x = 0, 27 do cells[x + 1] = string.char(235 - math.floor(digit:get(y + 1, x + 1) * 0.8)):rep(50) end
        rows[r + 1] = ("\235"):rep(top) .. table.concat(cells) .. ("\235"):rep(side - top - 1400)
      else
        rows[r + 1] = blank
      end
    end
    return T.frombytes(table.concat(rows), { side, side })
  end

  it("reads 7000x7000 PNG and JPEG frames reduced on the way in, and classifies them", function()
    local page = big_page(7000)
    local net = mnist.classifier { pretrained = true }
    for _, format in ipairs { "png", "jpg" } do
      local bytes = core.image_encode(page, format, 80)
      local gray = core.image_decode(bytes, core.IMAGE_WORK_SIDE)
      -- JPEG: DCT scaling by 1/8 (875); PNG: blocks of 9 (778); never below the working side
      local side = gray:size(1)
      assert.is_true(side >= core.IMAGE_WORK_SIDE and side < 2 * core.IMAGE_WORK_SIDE, format .. ": " .. side)
      assert.equal(format == "jpg" and 875 or 778, side)
      assert.equal(7, net:predict(bytes), format)
    end
  end)

  it("checks the size in the header against the budget before decoding", function()
    -- a few bytes that declare 65000 x 65000 pixels
    local _, why = core.image_decode(jpeg_header(65000, 65000))
    assert.equal("a 65000 x 65000 JPEG is too large (more than 2^26 pixels)", why)
    _, why = core.image_decode(png(100000, 100000, ""))
    assert.equal("a 100000 x 100000 PNG is too large (more than 2^26 pixels)", why)
    _, why = core.image_decode(png(0, 5, ""))
    assert.truthy(why:find("PNG"), why)
    -- a TGA header that declares 2613 x 14386 pixels in 1383 bytes (found by fuzz_image: stb made
    -- 37 M pixels of zeros out of it)
    _, why = core.image_decode(H.read("fuzz/regressions/image/tga-huge-in-few-bytes.tga"))
    assert.equal("a 2613 x 14386 image cannot be held in 1383 bytes (truncated or corrupt)", why)
  end)

  it("decodes a PNG decompression bomb within the budget: 49 M pixels from 50 KB, reduced as they come", function()
    -- 7000 x 7000 of zeros (each row: filter byte 0 and 7000 zeros) compresses to about 50 KB
    local raw = ("\0"):rep(7001 * 7000)
    local bomb = png(7000, 7000, zlib(raw))
    raw = nil
    collectgarbage()
    assert.is_true(#bomb < 100000, #bomb .. " bytes")
    local gray, why = core.image_decode(bomb, core.IMAGE_WORK_SIDE)
    assert.same({ 778, 778 }, gray:size(), why)
    local ok, err = pcall(mnist.preprocess_images, bomb)
    assert.is_false(ok)
    assert.equal("preprocess_images: input: blank image: no ink stands out from the dark background (contrast 0.000, needs 0.10)", err)
  end)

  it("refuses truncated and corrupt PNG, JPEG, BMP and PGM files with a reason", function()
    local page = T.frombytes(("\200"):rep(60 * 40), { 60, 40 })
    for _, format in ipairs { "png", "jpg", "bmp", "pgm" } do
      local bytes = format == "pgm" and ("P5\n40 60\n255\n" .. page:tobytes()) or core.image_encode(page, format)
      assert.truthy(core.image_decode(bytes), format)
      local truncated = bytes:sub(1, math.floor(#bytes / 2))
      local gray, why = core.image_decode(truncated)
      if gray then
        assert.same({ 60, 40 }, gray:size()) -- stb (BMP, PGM) fills what is missing
      else
        assert.truthy(#why > 0 and (why:find("truncated") or why:find("corrupt") or why:find("cannot decode")), format .. ": " .. why)
      end
      -- bytes flipped after the header
      for at = 20, #bytes, math.max(1, math.floor(#bytes / 7)) do
        local bad = bytes:sub(1, at - 1) .. string.char(255 - bytes:byte(at)) .. bytes:sub(at + 1)
        local g, w = core.image_decode(bad)
        assert.truthy(g or (type(w) == "string" and #w > 0), format .. " at " .. at)
      end
    end
    local _, why = core.image_decode(core.image_encode(page, "png"):sub(1, 60))
    assert.truthy(why:find("^truncated or corrupt PNG: a chunk of %d+ bytes at offset 33 runs past the end"), why)
    local busy = T.frombytes(("\0\80\160\240\30\200\90"):rep(400):sub(1, 2400), { 60, 40 })
    local jpg = core.image_encode(busy, "jpg", 90)
    _, why = core.image_decode(jpg:sub(1, math.floor(#jpg * 0.6)))
    assert.truthy(why:find("^truncated JPEG: the data ends at row %d+ of 60"), why)
  end)
end)
