-- mnist.predict: inference for newcomers, and `mnist.lua predict`.
--
--   local net = mnist.classifier{pretrained = true}
--   local label, probs = net:predict("digit.png")        -- 7, a (10) tensor of probabilities
--   local labels, probs = net:predict{"a.png", "b.png"}  -- {7, 2}, a (2, 10) tensor
-- Anything mnist.preprocess_images accepts works: file paths, encoded bytes, tensors, tables.
local cjson = require "cjson"
local T = require "mnist.tensor"

local M = {}

local function shape(t)
  return T.shape_str(t)
end

-- Wraps a classifier's updateOutput so that an input of the wrong size fails with a message that
-- says what the classifier needs (instead of a size mismatch deep in the head).
function M.checked_forward(forward)
  return function(self, input)
    local size = self.input_size
    if not T.is_tensor(input) or input:dim() ~= 4 or input:size(2) ~= 1 or input:size(3) ~= size
        or input:size(4) ~= size then
      error(("classifier: needs images of shape (N, 1, %d, %d), got %s; mnist.features takes any " ..
        "size, and mnist.preprocess_images turns any picture into %dx%d"):format(size, size,
        T.is_tensor(input) and shape(input) or type(input), size, size), 2)
    end
    return forward(self, input)
  end
end

-- One picture (a path, bytes, or a single (H, W) image) rather than a batch?
local function is_single(x)
  return type(x) == "string" or (T.is_tensor(x) and x:dim() == 2)
end

-- net:predict(x): labels (0..9) and probabilities. For one image: a number and a (10) tensor;
-- for a batch: a table of numbers and an (N, 10) tensor. Switches the net to evaluation mode.
function M.predict(net, x)
  local preprocessing = require "mnist.preprocessing"
  local images = preprocessing.preprocess_images(x, net.config)
  net:evaluate()
  local probs = net:forward(images):clone():exp()
  local labels = probs:argmax()
  if type(labels) == "number" then labels = { labels } end
  for i = 1, #labels do labels[i] = labels[i] - 1 end
  if is_single(x) and #labels == 1 then return labels[1], probs[1] end
  return labels, probs
end

-- Picture files by extension, for `predict DIR/`.
local PICTURE = { png = true, jpg = true, jpeg = true, bmp = true, pgm = true, ppm = true, gif = true, tga = true }

-- The files to classify: each argument, or the pictures in it when it is a directory (sorted).
local function expand(args)
  local fs = require "mnist.fs"
  local files = {}
  for _, arg in ipairs(args) do
    if fs.is_dir(arg) then
      local out, rc = fs.capture("ls -1A " .. fs.quote(arg))
      if rc ~= 0 then error(("preprocess_images: cannot list %s: %s"):format(arg, out:gsub("\n$", "")), 0) end
      local found = {}
      for name in out:gmatch("[^\n]+") do
        local ext = name:match("%.(%w+)$")
        if ext and PICTURE[ext:lower()] then found[#found + 1] = arg:gsub("/+$", "") .. "/" .. name end
      end
      table.sort(found)
      if #found == 0 then error(("preprocess_images: %s holds no pictures (PNG, JPEG, BMP, PGM, GIF, TGA)"):format(arg), 0) end
      for _, f in ipairs(found) do files[#files + 1] = f end
    else
      files[#files + 1] = arg
    end
  end
  return files
end

-- A progress bar on stderr (a terminal only): the results go to stdout, one line per file.
local function progress(total)
  if total < 2 then return function() end end
  local ok, term = pcall(require, "term")
  if not (ok and term.isatty(io.stderr)) then return function() end end
  return function(done)
    local width = math.floor(24 * done / total)
    io.stderr:write("\r\27[K[", ("="):rep(width), (" "):rep(24 - width), ("] %d/%d"):format(done, total))
    if done == total then io.stderr:write("\r\27[K") end
    io.stderr:flush()
  end
end

-- The 28x28 input as block art, without the tensor's footer line ("[torch.FloatTensor of ...]").
function M.block_art(img)
  return (tostring(img):gsub("\n[^\n]*$", ""))
end

-- Pictures decoded per call on the core's threads (a chunk also bounds the memory in use).
local CHUNK = 16

-- `mnist.lua predict IMAGE|DIR... [--weights FILE] [--json] [--show] [--save-input FILE.png]
-- [--no-photo]`: one line per picture (a JSON array with one record per line with --json), in
-- chunks decoded on the core's threads, with a progress bar on a terminal. A picture that cannot
-- be read is reported (on stderr, or as {file, error}) and the others go on; the exit code is then 1.
function M.run(cfg, args, opts)
  local model = require "mnist.model"
  local preprocessing = require "mnist.preprocessing"
  local files = expand(args)
  if opts.save_input and #files ~= 1 then
    error(("usage: --save-input writes one picture's input, and %d pictures were given"):format(#files), 0)
  end
  local net = model.classifier(cfg, { pretrained = opts.weights == nil, weights = opts.weights })
  net:evaluate()
  local mean, std = net.config.normalize_mean, net.config.normalize_std
  local show = progress(#files)
  local failed = 0
  if opts.json then io.stdout:write("[") end
  for first = 1, #files, CHUNK do
    local chunk, bytes, names = {}, {}, {}
    for i = first, math.min(first + CHUNK - 1, #files) do
      local f, err = io.open(files[i], "rb")
      local data = f and f:read("*a")
      if f then f:close() end
      -- the messages preprocess_images gives for the same files
      if not f then err = "cannot read image " .. err
      elseif not data then err = ("cannot read image %s (is it a directory?)"):format(files[i])
      elseif #data == 0 then err = ("image %s is empty (0 bytes)"):format(files[i]) end
      chunk[#chunk + 1] = { file = files[i], error = err }
      if not err then
        bytes[#bytes + 1], names[#names + 1] = data, files[i]
        chunk[#chunk].slot = #bytes
      end
    end
    local images, reasons, probs
    if #bytes > 0 then
      images, reasons = preprocessing.pictures_to_mnist(bytes, { photo = opts.photo, keep_going = true })
      probs = net:forward(images:clone():add(-mean):scale(1 / std):view(#bytes, 1, 28, 28)):clone():exp()
    end
    for i, item in ipairs(chunk) do
      if item.slot and reasons[item.slot] then item.error = item.file .. ": " .. reasons[item.slot] end
      if opts.json and first + i > 2 then io.stdout:write(",") end
      if item.error then
        failed = failed + 1
        io.stderr:write(("mnist.lua predict: preprocess_images: %s\n"):format(item.error))
        if opts.json then io.stdout:write("\n", cjson.encode({ file = item.file, error = item.error })) end
      else
        local p = probs[item.slot]
        local label = p:argmax() - 1
        if opts.json then
          io.stdout:write("\n", cjson.encode({ file = item.file, label = label, probabilities = p:totable() }))
        else
          io.stdout:write(("%s: %d (p=%.3f)\n"):format(item.file, label, p:get(label + 1)))
        end
        local input = images[item.slot]
        if opts.show then -- beside the JSON, not inside it
          (opts.json and io.stderr or io.stdout):write(("the 28x28 input the model saw for %s:\n%s\n"):format(item.file, M.block_art(input)))
        end
        if opts.save_input then preprocessing.save_image(input, opts.save_input) end
      end
    end
    show(math.min(first + CHUNK - 1, #files))
  end
  if opts.json then io.stdout:write("\n]\n") end
  io.stdout:flush()
  return failed > 0 and 1 or 0
end

return M
