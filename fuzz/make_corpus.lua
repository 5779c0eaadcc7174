-- fuzz/make_corpus.lua: writes the small seed corpora of the fuzz targets (fuzz/corpus/<target>/).
-- Run from the checkout after `make`: eval "$(make -s env)"; MNIST_MIRROR=dir luajit fuzz/make_corpus.lua
-- MNIST_MIRROR: a directory with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (two real
-- digits and their labels seed the image-shaped inputs).
local core = require "mnist.core"
local T = require "mnist.tensor"
local cjson = require "cjson"
local weights = require "mnist.weights"
local checkpoint = require "mnist.checkpoint"
local nn = require "mnist.nn"
local optim = require "mnist.optim"
local random = require "mnist.random"

local mirror = assert(os.getenv("MNIST_MIRROR"), "set MNIST_MIRROR")
local root = "fuzz/corpus"

local function write(target, name, data)
  os.execute(("mkdir -p %s/%s"):format(root, target))
  local f = assert(io.open(("%s/%s/%s"):format(root, target, name), "wb"))
  f:write(data)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function gzip(data)
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(data)
  f:close()
  local p = assert(io.popen("gzip -n -9 -c " .. tmp))
  local gz = p:read("*a")
  p:close()
  os.remove(tmp)
  return gz
end

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

local function idx(dims, data)
  local parts = { "\0\0\8" .. string.char(#dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = be32(d) end
  parts[#parts + 1] = data
  return table.concat(parts)
end

-- two real test digits (a 7 and a 2) and their labels
local images = assert(core.idx_read(mirror .. "/t10k-images-idx3-ubyte.gz"))
local labels = assert(core.idx_read(mirror .. "/t10k-labels-idx1-ubyte.gz"))
local two = images:narrow(1, 2):clone()
local digits, digit_labels = two:tobytes(), labels:narrow(1, 2):clone():tobytes()
local one = two[1]:clone()

-- IDX: raw and gzip, images and labels, plus a rank-4 file
local images_idx, labels_idx = idx({ 2, 28, 28 }, digits), idx({ 2 }, digit_labels)
write("idx", "images.idx", images_idx)
write("idx", "labels.idx", labels_idx)
write("idx", "images.idx.gz", gzip(images_idx))
write("idx", "labels.idx.gz", gzip(labels_idx))
write("idx", "rank4.idx", idx({ 1, 2, 3, 4 }, ("x"):rep(24)))
write("idx_gzip", "images", "\0" .. images_idx)
write("idx_gzip", "labels", "\0" .. labels_idx)
write("idx_gzip", "labels-truncated", "\5" .. labels_idx)

-- records: two digits, and a 1-image 3x3 record
local tmp = os.tmpname()
assert(core.record_write(tmp, two, labels:narrow(1, 2):clone()))
write("record", "two-digits.rec", read(tmp))
assert(core.record_write(tmp, T.frombytes(("\1"):rep(9), { 1, 3, 3 }), T.frombytes("\7", { 1 })))
write("record", "tiny.rec", read(tmp))

-- images: one digit as PNG, BMP, JPEG, PGM; an inverted (dark on light) PGM; RGBA PNG with a
-- transparent background; a 1x1 GIF and an uncompressed 2x2 TGA
write("image", "digit.png", core.image_encode(one, "png"))
write("image", "digit.bmp", core.image_encode(one, "bmp"))
write("image", "digit.jpg", core.image_encode(one, "jpg", 90))
write("image", "digit.pgm", "P5\n28 28\n255\n" .. one:tobytes())
write("image", "inverted.pgm", "P5\n28 28\n255\n" .. one:tobytes():gsub(".", function(c)
  return string.char(255 - c:byte()) end))
local rgba = {}
for byte in one:tobytes():gmatch(".") do rgba[#rgba + 1] = "\0\0\0" .. byte end
write("image", "transparent.png", core.image_encode(T.frombytes(table.concat(rgba), { 28, 28, 4 }), "png"))
write("image", "pixel.gif", "GIF89a\1\0\1\0\128\0\0\255\255\255\0\0\0!\249\4\1\0\0\0\0,\0\0\0\0\1\0\1\0\0\2\2D\1\0;")
write("image", "square.tga", "\0\0\3\0\0\0\0\0\0\0\0\0\2\0\2\0\8\0" .. "\0\255\255\0")

-- safetensors: the small fixture, weights and a checkpoint of the harness's model
-- (nn.Sequential(Linear(3, 2), BatchNormalization(2)), named model.*)
write("safetensors", "fixture.safetensors", read("spec/fixtures/weights_small.safetensors"))
random.manual_seed(1)
local net = nn.Sequential():add(nn.Linear(3, 2)):add(nn.BatchNormalization(2))
local named = {}
for _, pair in ipairs(net:namedTensors()) do named[#named + 1] = { "model." .. pair[1], pair[2] } end
weights.save(tmp, named, { arch = "tiny", version = "0.1.0" })
write("safetensors", "weights.safetensors", read(tmp))
local state = {}
optim.adam(function() return 0, net:getParameters():clone():fill(0.5) end, net:getParameters(),
  { learningRate = 0.1 }, state)
checkpoint.save(tmp, { net = net, optim_state = state, scheduler = optim.StepLR({ learningRate = 0.1 }, 1),
  rng = random.generator(3), loader_state = { epoch = 1, step = 2 }, epoch = 1, step = 2,
  progress = { loss = 1, correct = 1, seen = 2, seconds = 0.5 }, history = {}, config = { seed = 1 } })
write("safetensors", "checkpoint.safetensors", read(tmp))
os.remove(tmp)
os.remove(tmp .. ".sha256")

-- config: byte 0 picks JSON (0), YAML (1) or --set lines (2)
write("config", "pipeline.json", "\0" .. cjson.encode { epochs = 4, threads = 2, mirrors = { "http://x/" },
  nesterov = true, learning_rate = 0.5 })
write("config", "pipeline.yml", "\1" .. read("config/pipeline.yml"))
write("config", "typed.yml", "\1" .. "dataset: fashion\narch: lenet\nbatch_size: 32\nmirrors:\n  - /tmp/a\n" ..
  "weights_url: s3://bucket/prefix\nnormalize_std: 0.5\nlimit_train: 600\nn_validation: 100\n")
write("config", "set-lines", "\2" .. "epochs=2\nbatch-size=32\nmirrors=a,b\nnesterov=yes\nlearning_rate=1e-3\n")
print("seed corpora written to " .. root)
