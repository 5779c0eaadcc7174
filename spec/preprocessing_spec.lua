-- Preprocessing (mnist.preprocessing, csrc/data/image.c): every accepted input, the MNIST recipe on
-- real MNIST digits turned into inverted, off-centre, rescaled picture files, and clear errors.
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local T = require "mnist.tensor"
local dataset = require "mnist.dataset"
local pp = require "mnist.preprocessing"
local mnist = require "mnist"

local MEAN, STD = 0.1307, 0.3081

local mad = H.mean_abs_diff -- mean absolute difference

-- Centre of mass (row, col) of a (28, 28) tensor.
local function com(t)
  local m, y, x = 0, 0, 0
  for r = 1, 28 do
    for c = 1, 28 do
      local v = t:get(r, c)
      m, y, x = m + v, y + v * r, x + v * c
    end
  end
  return y / m, x / m
end

-- A (H, W) uint8 picture of digit d (28x28 uint8) enlarged by `scale` with bilinear interpolation,
-- its top-left corner at (top, left), drawn as ink `ink` on paper `paper` (dark on light when
-- ink < paper).
local function picture(d, scale, top, left, h, w, ink, paper)
  local bytes = {}
  for r = 0, h - 1 do
    for c = 0, w - 1 do
      local y, x = (r - top) / scale, (c - left) / scale
      local v = 0
      if y >= 0 and x >= 0 and y <= 27 and x <= 27 then
        local y0, x0 = math.floor(y), math.floor(x)
        local y1, x1 = math.min(y0 + 1, 27), math.min(x0 + 1, 27)
        local fy, fx = y - y0, x - x0
        v = (1 - fy) * ((1 - fx) * d:get(y0 + 1, x0 + 1) + fx * d:get(y0 + 1, x1 + 1))
          + fy * ((1 - fx) * d:get(y1 + 1, x0 + 1) + fx * d:get(y1 + 1, x1 + 1))
      end
      bytes[#bytes + 1] = string.char(math.floor(paper + (ink - paper) * v / 255 + 0.5))
    end
  end
  return T.frombytes(table.concat(bytes), { h, w })
end

describe("preprocessing", function()
  local digits, labels, dir
  setup(function()
    local m = H.mirror()
    digits = dataset.read_idx(m .. "/t10k-images-idx3-ubyte.gz")
    labels = dataset.read_idx(m .. "/t10k-labels-idx1-ubyte.gz")
    dir = H.tmpdir()
  end)
  teardown(function() H.rm(dir) end)

  it("normalises MNIST-format tensors of every accepted shape and type", function()
    local d = digits[1]
    local want = d:float(1 / 255):add(-MEAN):scale(1 / STD)
    local as_u8 = mnist.preprocess_images(d)
    assert.same({ 1, 1, 28, 28 }, as_u8:size())
    assert.is_true(mad(as_u8, want) < 1e-6)
    assert.is_true(mad(mnist.preprocess_images(d:float(1 / 255)), want) < 1e-6)
    local batch = digits:narrow(1, 1, 3)
    local from3 = mnist.preprocess_images(batch)
    local from4 = mnist.preprocess_images(batch:view(3, 1, 28, 28))
    assert.same({ 3, 1, 28, 28 }, from3:size())
    assert.same(from3:totable(), from4:totable())
    assert.is_true(mad(from3[3], digits[3]:float(1 / 255):add(-MEAN):scale(1 / STD)) < 1e-6)
    -- a config's normalisation is honoured
    local plain = mnist.preprocess_images(d, { normalize_mean = 0, normalize_std = 1 })
    assert.is_true(mad(plain, d:float(1 / 255)) < 1e-6)
  end)

  it("accepts raw digit bytes, nested tables and tables of mixed inputs", function()
    local two = digits:narrow(1, 1, 2)
    local from_bytes = mnist.preprocess_images(two:tobytes())
    assert.same({ 2, 1, 28, 28 }, from_bytes:size())
    assert.is_true(mad(mnist.preprocess_images(two), from_bytes) < 1e-6)
    local nested = digits[1]:float(1 / 255):totable()
    assert.is_true(mad(mnist.preprocess_images(digits[1]), mnist.preprocess_images(nested)) < 1e-6)
    local path = pp.save_image(digits[2], dir .. "/two.png")
    local mixed = mnist.preprocess_images { digits[1], path, H.read(path) }
    assert.same({ 3, 1, 28, 28 }, mixed:size())
    assert.same(mixed[2]:totable(), mixed[3]:totable())
  end)

  it("leaves MNIST digits (almost) unchanged when the recipe runs on them", function()
    local exact, total = 0, 0
    for i = 1, 200 do
      local d = digits[i]
      local out = pp.mnist_recipe(d)
      local m = mad(out, d:float(1 / 255))
      total = total + m
      if m < 1e-6 then exact = exact + 1 end
    end
    assert.is_true(exact >= 120, ("only %d of 200 digits came through unchanged"):format(exact))
    assert.is_true(total / 200 < 0.003, "mean absolute change " .. total / 200)
  end)

  it("brings inverted, off-centre, rescaled digits in PNG, JPEG, BMP and PGM back to the MNIST form", function()
    local formats = { "png", "jpg", "bmp", "pgm" }
    for i = 1, 16 do
      local d = digits[i]
      local reference = pp.mnist_recipe(d)
      local ry, rx = com(reference)
      -- dark ink on grey-white paper, 1.7x to 3.4x larger, anywhere on a 120x150 page
      local page = picture(d, 1.7 + 0.12 * i, 3 + 2 * i, 60 - 3 * i, 120, 150, 25, 235)
      local format = formats[(i - 1) % 4 + 1]
      local path = pp.save_image(page, ("%s/digit%d.%s"):format(dir, i, format))
      local x = mnist.preprocess_images(path)
      assert.same({ 1, 1, 28, 28 }, x:size())
      local back = x[1][1]:clone():scale(STD):add(MEAN) -- intensities again
      local y0, x0 = com(back)
      local m = mad(back, reference)
      assert.is_true(m < 0.06, ("%s digit %d (label %d): mean abs difference %.3f"):format(format, i, labels[i], m))
      assert.is_true(math.abs(y0 - ry) <= 1 and math.abs(x0 - rx) <= 1,
        ("%s digit %d: centre of mass (%.2f, %.2f), expected (%.2f, %.2f)"):format(format, i, y0, x0, ry, rx))
    end
  end)

  it("handles drawings on a transparent canvas, dark or light ink", function()
    local d = digits[5]
    local reference = pp.mnist_recipe(d)
    for _, ink in ipairs { 0, 255 } do
      -- RGBA: the colour is the ink everywhere, the alpha is the digit
      local rgba = {}
      local flat = d:view(784)
      for p = 1, 784 do rgba[#rgba + 1] = string.char(ink, ink, ink, flat[p]) end
      local img = T.frombytes(table.concat(rgba), { 28, 28, 4 })
      local bytes = core.image_encode(img, "png")
      local x = mnist.preprocess_images(bytes, { mean = 0, std = 1 })
      assert.is_true(mad(x[1][1], reference) < 0.01, "ink " .. ink)
    end
  end)

  it("keeps the aspect ratio when fitting the 20x20 box", function()
    -- a tall thin bar, 60 x 6 on a white page: 20 x 2 after scaling, centred
    local bytes = {}
    for r = 1, 100 do
      for c = 1, 80 do bytes[#bytes + 1] = (r > 20 and r <= 80 and c > 30 and c <= 36) and "\0" or "\255" end
    end
    local x = pp.mnist_recipe(core.image_decode(core.image_encode(T.frombytes(table.concat(bytes), { 100, 80 }), "png")))
    local rows, cols = {}, {}
    for r = 1, 28 do
      for c = 1, 28 do
        if x:get(r, c) > 0.5 then rows[r], cols[c] = true, true end
      end
    end
    local function span(set)
      local lo, hi = 99, 0
      for k in pairs(set) do lo, hi = math.min(lo, k), math.max(hi, k) end
      return hi - lo + 1, lo, hi
    end
    local height, top = span(rows)
    local width, left = span(cols)
    assert.same({ 20, 2 }, { height, width })
    -- the box's centre of mass (9.5, 0.5) goes to 0-based (14, 14), rounding half away from zero:
    -- offset (5, 14) 0-based, so rows 6..25 and columns 15..16 1-based
    assert.same({ 6, 15 }, { top, left })
  end)

  it("refuses unreadable, empty, zero-size and blank images with clear errors", function()
    assert.has_error(function() mnist.preprocess_images(dir .. "/none.png") end,
      "preprocess_images: cannot read image " .. dir .. "/none.png: No such file or directory")
    H.write(dir .. "/empty.png", "")
    assert.has_error(function() mnist.preprocess_images(dir .. "/empty.png") end,
      "preprocess_images: image " .. dir .. "/empty.png is empty (0 bytes)")
    H.write(dir .. "/text.png", "hello, not a picture")
    assert.has_error(function() mnist.preprocess_images(dir .. "/text.png") end,
      "preprocess_images: " .. dir .. "/text.png: not a readable image (unknown image type; PNG, JPEG, BMP, PGM, GIF or TGA)")
    H.write(dir .. "/zero.pgm", "P5\n0 0\n255\n")
    local ok, err = pcall(mnist.preprocess_images, dir .. "/zero.pgm")
    assert.is_false(ok)
    assert.matches("^preprocess_images: " .. dir:gsub("%p", "%%%0") .. "/zero%.pgm: ", err)
    local white = pp.save_image(T.frombytes(("\250"):rep(40 * 30), { 40, 30 }), dir .. "/white.png")
    assert.has_error(function() mnist.preprocess_images(white) end,
      "preprocess_images: " .. white .. ": blank image: no ink stands out from the light background (contrast 0.000, needs 0.10)")
    assert.has_error(function() mnist.preprocess_images(dir) end, "preprocess_images: cannot read image " .. dir .. " (is it a directory?)")
    -- a PNG signature and nothing after it (libpng decodes PNG since issue 19; stb said "unknown image type")
    assert.has_error(function() mnist.preprocess_images("\137PNG\r\n\26\n broken") end,
      "preprocess_images: input: truncated PNG: the file ends early")
  end)

  it("refuses wrong tensors and values with messages that say what to pass", function()
    assert.has_error(function() mnist.preprocess_images(digits[1]:float()) end,
      "preprocess_images: input: float images must hold intensities in [0, 1], got values from 0 to 255 "
      .. "(pass uint8 for 0..255; do not pass already normalised images)")
    assert.has_error(function() mnist.preprocess_images(T.zeros(2, 3, 28, 28)) end,
      "preprocess_images: input: expected an image (H, W), images (N, H, W) or (N, 1, H, W), got (2, 3, 28, 28)")
    assert.has_error(function() mnist.preprocess_images(42) end,
      "preprocess_images: input: expected a tensor, an image path, image bytes or a table of them, got number")
    assert.has_error(function() mnist.preprocess_images({}) end, "preprocess_images: input: empty table")
    assert.has_error(function() mnist.preprocess_images({ digits[1], 7 }) end,
      "preprocess_images: input[2]: expected a tensor, an image path, image bytes or a table of them, got number")
    assert.has_error(function() mnist.preprocess_images(("x"):rep(5000)) end,
      "preprocess_images: input: 5000 bytes are neither an image (PNG, JPEG, BMP, PGM, GIF) nor raw 28x28 digits (a multiple of 784 bytes)")
  end)

  it("writes images that read back the same", function()
    local d = digits[7]
    for _, ext in ipairs { "png", "bmp", "pgm" } do
      local path = pp.save_image(d, dir .. "/back." .. ext)
      assert.same(d:totable(), pp.read_image(path):totable())
    end
    local jpg = pp.read_image(pp.save_image(d, dir .. "/back.jpg"))
    assert.is_true(mad(jpg:float(), d:float()) < 4)
    assert.has_error(function() pp.save_image(d, dir .. "/x.tiff") end,
      "save_image: " .. dir .. "/x.tiff: unknown image format (use .png, .jpg, .bmp or .pgm)")
  end)

  it("validates and converts labels", function()
    assert.same({ 5 }, mnist.preprocess_labels(5):totable())
    assert.same({ 0, 9, 3 }, mnist.preprocess_labels { 0, 9, 3 }:totable())
    local y = mnist.preprocess_labels(labels:narrow(1, 1, 4))
    assert.equal("float32", y:dtype())
    assert.same({ 7, 2, 1, 0 }, y:totable()) -- the first MNIST test labels
    assert.same({ 1, 2 }, mnist.preprocess_labels(T { { 1 }, { 2 } }):totable())
    assert.has_error(function() mnist.preprocess_labels { 1, 10 } end,
      "preprocess_labels: label 2 is 10, expected a whole number 0..9 (labels are 0-based)")
    assert.has_error(function() mnist.preprocess_labels { 1.5 } end,
      "preprocess_labels: label 1 is 1.5, expected a whole number 0..9 (labels are 0-based)")
    assert.has_error(function() mnist.preprocess_labels(-1) end,
      "preprocess_labels: label 1 is -1, expected a whole number 0..9 (labels are 0-based)")
    assert.has_error(function() mnist.preprocess_labels { 1, "2" } end,
      "preprocess_labels: label 2 is a string, expected a number")
    assert.has_error(function() mnist.preprocess_labels(T.zeros(2, 2)) end,
      "preprocess_labels: expected labels of shape (N) or (N, 1), got (2, 2)")
    assert.has_error(function() mnist.preprocess_labels("7") end,
      "preprocess_labels: expected a number, a table of numbers or a tensor, got string")
    assert.has_error(function() mnist.preprocess_labels {} end, "preprocess_labels: empty table of labels")
  end)
end)
