-- mnist.preprocessing: anything that shows digits -> the float batch a model takes.
--
--   local x = mnist.preprocess_images("my_digit.png")           -- (1, 1, 28, 28)
--   local x = mnist.preprocess_images{ "a.png", "b.jpg" }        -- (2, 1, 28, 28)
--   local x = mnist.preprocess_images(images_u8)                 -- (N, 28, 28) uint8 -> (N, 1, 28, 28)
--   local y = mnist.preprocess_labels{ 5, 0, 4 }                 -- float (3) of classes 0..9
--
-- preprocess_images accepts: a tensor of (28, 28), (N, 28, 28) or (N, 1, 28, 28) (uint8 0..255,
-- or float32 intensities in [0, 1]) taken as MNIST-format digits; a tensor (H, W) of another size,
-- image file paths (PNG, JPEG, BMP, binary PGM, GIF, TGA), encoded image bytes, or raw bytes of
-- 28x28 digits. Pictures go through the photo clean-up (csrc/data/photo.h: flatten the light,
-- binarise, drop ruled lines, keep the digit's blobs, bring thin strokes to MNIST's width), then the
-- MNIST recipe (csrc/data/image.h: grayscale, invert a light background, crop to the ink, fit 20x20
-- keeping the aspect, centre of mass to the middle of 28x28); or a Lua table of any of these. The output is normalised like the training data:
-- (intensity - mean) / std with the config's normalize_mean and normalize_std.
local core = require "mnist.core"
local config = require "mnist.config"
local T = require "mnist.tensor"

local M = {}

local SIDE = 28
local PIXELS = SIDE * SIDE

local function fail(fn, fmt, ...)
  error(("%s: %s"):format(fn, fmt:format(...)), 0)
end

-- Encoded images start with these bytes (stb_image decodes them).
local SIGNATURES = { "\137PNG", "\255\216\255", "BM", "P5", "P6", "GIF8" }

local function looks_encoded(s)
  for _, sig in ipairs(SIGNATURES) do
    if s:sub(1, #sig) == sig then return true end
  end
  return false
end

-- The bytes of an image file; a clear error when it cannot be read or is empty.
local function read_file(path, fn)
  local f, err = io.open(path, "rb")
  if not f then fail(fn, "cannot read image %s", err) end
  local data = f:read("*a")
  f:close()
  if not data then fail(fn, "cannot read image %s (is it a directory?)", path) end
  if #data == 0 then fail(fn, "image %s is empty (0 bytes)", path) end
  return data
end

-- The image file at path as a uint8 (H, W) grayscale tensor, at full size; with work_side, a
-- large picture is reduced while it is decoded (JPEG by DCT scaling) to the smallest size whose
-- longer side is still >= work_side (preprocess_images uses core.IMAGE_WORK_SIDE).
function M.read_image(path, work_side)
  local data = read_file(path, "read_image")
  local gray, why = core.image_decode(data, work_side)
  if not gray then fail("read_image", "%s: %s", path, why) end
  return gray
end

-- The MNIST recipe on one grayscale picture: (H, W) uint8, or float32 in [0, 1]. Returns float32
-- (28, 28) in [0, 1], bright ink on black. `what` names the picture in errors.
function M.mnist_recipe(gray, what)
  local out, why = core.image_mnist(gray:contiguous()) -- the C recipe reads rows in memory order
  if not out then fail("preprocess_images", "%s: %s", what or "image", why) end
  return out
end

-- The photo clean-up on one grayscale picture ((H, W) uint8, or float32 in [0, 1]): the digit's
-- ink alone, float32 (h, w) in [0, 1], bright on black, cropped around the digit. A picture with no
-- digit-like ink is an error naming `what`.
function M.clean_photo(gray, what)
  local out, why = core.image_photo(gray:contiguous())
  if not out then fail("preprocess_images", "%s: %s", what or "image", why) end
  return out
end

-- A picture to the MNIST form: the clean-up (unless opts.photo == false), then the recipe.
local function picture_to_mnist(gray, opts, what)
  if opts.photo ~= false then gray = M.clean_photo(gray, what) end
  return M.mnist_recipe(gray, what)
end

-- Encoded pictures (a list of strings) -> float32 (n, 28, 28) in [0, 1], each decoded at about
-- core.IMAGE_WORK_SIDE, cleaned up (unless opts.photo == false) and put through the recipe, on the
-- core's threads. names[i] names picture i in errors. With opts.keep_going, a picture that fails
-- leaves its image zero and the second result lists the reasons (false for the good ones);
-- otherwise the first failure is an error.
function M.pictures_to_mnist(pictures, opts, names)
  opts = opts or {}
  local images, reasons = core.pictures_to_mnist(pictures, opts.photo ~= false)
  if not opts.keep_going then
    for i, why in ipairs(reasons) do
      if why then fail("preprocess_images", "%s: %s", names and names[i] or ("picture " .. i), why) end
    end
  end
  return images, reasons
end

-- Checks a float tensor holds intensities in [0, 1] (not 0..255, not already normalised).
local function check_unit_range(t, fn, what)
  local hi = t:max()
  local lo = -(t:clone():scale(-1):max())
  if lo < -1e-6 or hi > 1 + 1e-6 then
    fail(fn, "%s: float images must hold intensities in [0, 1], got values from %g to %g "
      .. "(pass uint8 for 0..255; do not pass already normalised images)", what, lo, hi)
  end
end

local function shape_str(t)
  return "(" .. table.concat(t:size(), ", ") .. ")"
end

-- Appends the 28x28 intensity images (float32 [0, 1], each a (28, 28) tensor) found in `x` to list.
local collect

local function collect_tensor(t, list, opts, fn, what)
  local size, dims = t:size(), t:dim()
  local n, h, w
  if dims == 2 then
    n, h, w = 1, size[1], size[2]
  elseif dims == 3 then
    n, h, w = size[1], size[2], size[3]
  elseif dims == 4 and size[2] == 1 then
    n, h, w = size[1], size[3], size[4]
  else
    fail(fn, "%s: expected an image (H, W), images (N, H, W) or (N, 1, H, W), got %s", what, shape_str(t))
  end
  local float = t:dtype() == "float32"
  if float then check_unit_range(t, fn, what) end
  local images = t:view(n, h, w)
  for i = 1, n do
    local img = images[i]
    local name = n > 1 and ("%s image %d"):format(what, i) or what
    if h == SIDE and w == SIDE and not opts.recipe then
      list[#list + 1] = float and img or img:float(1 / 255)
    else
      list[#list + 1] = picture_to_mnist(img, opts, name)
    end
  end
end

local function collect_string(s, list, opts, fn, what)
  if #s == 0 then fail(fn, "%s: empty string (neither an image file path nor image bytes)", what) end
  local is_path = #s < 4096 and not s:find("\0", 1, true) and not looks_encoded(s)
  if is_path then
    local f = io.open(s, "rb")
    if f then
      f:close()
      list[#list + 1] = M.pictures_to_mnist({ read_file(s, fn) }, opts, { s })[1]
      return
    end
  end
  if looks_encoded(s) then
    list[#list + 1] = M.pictures_to_mnist({ s }, opts, { what })[1]
    return
  end
  if #s % PIXELS == 0 then -- raw 28x28 digits, one byte per pixel
    collect_tensor(T.frombytes(s, { #s / PIXELS, SIDE, SIDE }), list, opts, fn, what)
    return
  end
  if is_path then
    local _, err = io.open(s, "rb")
    fail(fn, "cannot read image %s", err)
  end
  fail(fn, "%s: %d bytes are neither an image (PNG, JPEG, BMP, PGM, GIF) nor raw 28x28 digits "
    .. "(a multiple of 784 bytes)", what, #s)
end

collect = function(x, list, opts, fn, what)
  if T.is_tensor(x) then return collect_tensor(x, list, opts, fn, what) end
  if type(x) == "string" then return collect_string(x, list, opts, fn, what) end
  if type(x) == "table" then
    if #x == 0 then fail(fn, "%s: empty table", what) end
    if type(x[1]) == "number" or (type(x[1]) == "table" and type(x[1][1]) == "number") then
      -- nested numbers: one image (H, W) or a batch, as intensities
      local ok, t = pcall(T.new, x)
      if not ok then fail(fn, "%s: %s", what, tostring(t)) end
      return collect_tensor(t, list, opts, fn, what)
    end
    for i, item in ipairs(x) do collect(item, list, opts, fn, ("%s[%d]"):format(what, i)) end
    return
  end
  fail(fn, "%s: expected a tensor, an image path, image bytes or a table of them, got %s", what, type(x))
end

-- x: see the header. opts (or a config): normalize_mean / mean, normalize_std / std (the config
-- defaults), recipe = true to put 28x28 tensors through the clean-up and the MNIST recipe too
-- (e.g. a 28x28 canvas drawing), photo = false to skip the photo clean-up (the recipe alone, for
-- clean scans). Returns float32 (N, 1, 28, 28).
function M.preprocess_images(x, opts)
  local fn = "preprocess_images"
  opts = opts or {}
  local mean = opts.mean or opts.normalize_mean or config.defaults.normalize_mean
  local std = opts.std or opts.normalize_std or config.defaults.normalize_std
  if type(mean) ~= "number" or type(std) ~= "number" or not (std > 0) then
    fail(fn, "need a number mean and a std > 0, got %s and %s", tostring(mean), tostring(std))
  end
  if T.is_tensor(x) and not opts.recipe then
    -- MNIST-format digits in one tensor: normalise in one pass
    local size = x:size()
    if size[#size] == SIDE and size[#size - 1] == SIDE and (#size == 2 or #size == 3 or (#size == 4 and size[2] == 1)) then
      local n = x:numel() / PIXELS
      if x:dtype() == "uint8" then return x:float(1 / (255 * std), -mean / std):view(n, 1, SIDE, SIDE) end
      check_unit_range(x, fn, "input")
      return x:clone():add(-mean):scale(1 / std):view(n, 1, SIDE, SIDE)
    end
  end
  local list = {}
  collect(x, list, opts, fn, "input")
  local out = T.zeros(#list, 1, SIDE, SIDE)
  for i, img in ipairs(list) do out[i]:copy(img) end
  return out:add(-mean):scale(1 / std)
end

-- Labels as a float32 tensor (N) of classes 0..9, from a number, a table of numbers, or a tensor
-- of shape (N) or (N, 1) (float32 or uint8). Anything else, or a label that is not a whole number
-- 0..9, is an error naming the item.
function M.preprocess_labels(y, num_classes)
  local fn = "preprocess_labels"
  num_classes = num_classes or 10
  local values
  if type(y) == "number" then
    values = { y }
  elseif type(y) == "table" and not T.is_tensor(y) then
    if #y == 0 then fail(fn, "empty table of labels") end
    values = y
  elseif T.is_tensor(y) then
    local size = y:size()
    if not (#size == 1 or (#size == 2 and size[2] == 1)) then
      fail(fn, "expected labels of shape (N) or (N, 1), got %s", shape_str(y))
    end
    values = y:view(y:numel()):totable()
  else
    fail(fn, "expected a number, a table of numbers or a tensor, got %s", type(y))
  end
  for i = 1, #values do
    local v = values[i]
    if type(v) ~= "number" then
      fail(fn, "label %d is a %s, expected a number", i, type(v))
    end
    if v ~= math.floor(v) or v < 0 or v >= num_classes then
      fail(fn, "label %d is %s, expected a whole number 0..%d (labels are 0-based)", i, tostring(v), num_classes - 1)
    end
  end
  return T.new(values)
end

-- Writes an image to path, the format from its extension (.png, .jpg, .bmp, .pgm). t: uint8
-- (H, W), or float32 (H, W) / (1, H, W) / (1, 1, H, W) intensities in [0, 1].
function M.save_image(t, path)
  local fn = "save_image"
  if not T.is_tensor(t) then fail(fn, "expected a tensor, got %s", type(t)) end
  local size = t:size()
  local h, w = size[#size - 1], size[#size]
  if not h or t:numel() ~= h * w then fail(fn, "expected one image (H, W), got %s", shape_str(t)) end
  local bytes = t
  if t:dtype() == "float32" then
    check_unit_range(t, fn, "image")
    local flat, out = t:view(h * w), {}
    for i = 1, h * w do out[i] = string.char(math.floor(flat[i] * 255 + 0.5)) end
    bytes = T.frombytes(table.concat(out), { h, w })
  else
    bytes = t:view(h, w)
  end
  local ext = path:match("%.(%w+)$")
  ext = ext and ext:lower()
  local data
  if ext == "png" or ext == "bmp" then
    data = core.image_encode(bytes, ext)
  elseif ext == "jpg" or ext == "jpeg" then
    data = core.image_encode(bytes, "jpg", 95)
  elseif ext == "pgm" then
    data = ("P5\n%d %d\n255\n"):format(w, h) .. bytes:tobytes()
  else
    fail(fn, "%s: unknown image format (use .png, .jpg, .bmp or .pgm)", path)
  end
  local ok, err = core.write_atomic(path, data)
  if not ok then fail(fn, "cannot write %s", err) end
  return path
end

return M
