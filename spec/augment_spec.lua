-- The loader's augmentation (csrc/data/augment.c): whole-pixel shifts, rotations and scaling about
-- the centre with bilinear sampling, each against a case worked out by hand; and the loader's
-- augmented batches as a pure function of the seed.
local core = require "mnist.core"
local T = require "mnist.tensor"
local dataset = require "mnist.dataset"

-- A (5, 5) uint8 image, zero but for the given {row, col, byte} (1-based).
local function image(pixels)
  local bytes = {}
  for i = 1, 25 do bytes[i] = 0 end
  for _, p in ipairs(pixels) do bytes[(p[1] - 1) * 5 + p[2]] = p[3] end
  return T.frombytes(string.char(unpack(bytes)), { 5, 5 })
end

-- The (5, 5) table of pixel values of `want` ({row, col, value}, the rest 0).
local function expected(want)
  local out = {}
  for r = 1, 5 do
    out[r] = {}
    for c = 1, 5 do out[r][c] = 0 end
  end
  for _, p in ipairs(want) do out[p[1]][p[2]] = p[3] end
  return out
end

local function assert_image(want, got)
  for r = 1, 5 do
    for c = 1, 5 do
      assert.near(want[r][c], got:get(r, c), 1e-5, ("pixel (%d, %d)"):format(r, c))
    end
  end
end

describe("augment", function()
  it("shifts by whole pixels, background coming in", function()
    local img = image { { 1, 1, 255 }, { 2, 3, 51 }, { 5, 5, 102 } }
    -- down 2, left 1: (1,1) leaves the image, (2,3) -> (4,2), (5,5) leaves
    assert_image(expected { { 4, 2, 0.2 } }, core.augment(img, { shift_y = 2, shift_x = -1 }))
    assert_image(expected { { 1, 1, 1 }, { 2, 3, 0.2 }, { 5, 5, 0.4 } }, core.augment(img, {}))
  end)

  it("rotates anticlockwise about the centre", function()
    local img = image { { 2, 3, 255 } } -- one pixel above the centre (3, 3)
    assert_image(expected { { 3, 2, 1 } }, core.augment(img, { rotate = 90 }))   -- to its left
    assert_image(expected { { 4, 3, 1 } }, core.augment(img, { rotate = 180 }))  -- below
    assert_image(expected { { 3, 4, 1 } }, core.augment(img, { rotate = -90 }))  -- to its right
    -- 45 degrees: output (2, 4), offset (-1, +1) from the centre, reads the source at offset
    -- R(-45)(x = 1, y = -1) = (x = sqrt 2, y = 0): 0.414 of the way from (3, 4) to (3, 5).
    local right = image { { 3, 5, 255 } }
    local got = core.augment(right, { rotate = 45 })
    assert.near(math.sqrt(2) - 1, got:get(2, 4), 1e-5)
    assert.near(0, got:get(3, 5), 1e-5)
  end)

  it("scales about the centre with bilinear sampling", function()
    local img = image { { 2, 3, 255 } } -- offset (-1, 0) from the centre
    -- x2: the pixel lands at offset (-2, 0), i.e. (1, 3); between grid points it is interpolated
    assert_image(expected {
      { 1, 2, 0.5 }, { 1, 3, 1 }, { 1, 4, 0.5 },
      { 2, 2, 0.25 }, { 2, 3, 0.5 }, { 2, 4, 0.25 },
    }, core.augment(img, { scale = 2 }))
    -- a bar of two pixels left of the centre, offsets (0, -2) and (0, -1)
    local bar = image { { 3, 1, 255 }, { 3, 2, 255 } }
    -- x1.5: output offset -2 reads -4/3 (ink), -1 reads -2/3 (2/3 ink: 1/3 of the way from -1
    -- to 0), 0 reads 0 (background); the rows next to it read row offsets -+2/3, 1/3 of the bar's
    assert_image(expected {
      { 2, 1, 1 / 3 }, { 2, 2, 2 / 9 },
      { 3, 1, 1 }, { 3, 2, 2 / 3 },
      { 4, 1, 1 / 3 }, { 4, 2, 2 / 9 },
    }, core.augment(bar, { scale = 1.5 }))
    -- x0.5: output offset -1 reads -2 (ink), -2 reads -4 (outside): two pixels shrink to one
    assert_image(expected { { 3, 2, 1 } }, core.augment(bar, { scale = 0.5 }))
  end)

  it("combines: shift after rotation", function()
    local img = image { { 2, 3, 255 } }
    assert_image(expected { { 4, 3, 1 } }, core.augment(img, { rotate = 90, shift_y = 1, shift_x = 1 }))
  end)

  it("gives the same batches for the same seed, whatever the prefetch depth", function()
    local n = 40
    local bytes = {}
    for i = 1, n * 784 do bytes[i] = string.char((i * 37) % 256) end
    local images = T.frombytes(table.concat(bytes), { n, 28, 28 })
    local labels = T.frombytes(string.rep("\3", n), { n })
    local function batches(opts)
      local o = { batch_size = 8, mean = 0, std = 1, seed = 11, prefetch = 2, shuffle = true,
        augment_shift = 2, augment_rotate = 10, augment_scale = 0.1 }
      for k, v in pairs(opts) do o[k] = v end
      local out = {}
      for x in dataset.loader(images, labels, nil, o):epoch(2) do out[#out + 1] = core.sha256(x:tobytes()) end
      return out
    end
    local reference = batches {}
    assert.same(reference, batches { prefetch = 0 })
    assert.same(reference, batches { prefetch = 5 })
    assert.are_not.same(reference, batches { seed = 12 })
    assert.are_not.same(reference, batches { augment_rotate = 0 })
    assert.are_not.same(reference, batches { augment_scale = 0 })
  end)

  it("refuses out-of-range settings, naming them", function()
    local images = T.frombytes(string.rep("\0", 784), { 1, 28, 28 })
    local labels = T.frombytes("\0", { 1 })
    assert.has_error(function() core.loader(images, labels, nil, { augment_rotate = 200 }) end,
      "loader: augment_rotate (degrees) must be from 0 to 180, got 200")
    assert.has_error(function() core.loader(images, labels, nil, { augment_scale = 1 }) end,
      "loader: augment_scale must be from 0 to 0.99, got 1")
    assert.has_error(function() require("mnist.config").resolve { augment_scale = 1.5 } end,
      "config: 'augment_scale' must be below 1 (factors in [1 - s, 1 + s]), got 1.5")
  end)
end)
