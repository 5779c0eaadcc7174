-- Hostile files: every input the fuzzers (fuzz/) found, replayed through the same entry points
-- (under `make asan` with the sanitizers watching), plus the hand-made triggers of the known
-- stb_image 2.27 bugs that csrc/data/image.c refuses before stb reads a byte, and the damaged
-- checkpoints --resume refuses before restoring anything.
local core = require "mnist.core"
local H = require "spec.support.helpers"
local T = require "mnist.tensor"

local function files(dir)
  local list = {}
  local p = io.popen("ls -1 " .. H.quote(dir) .. " 2>/dev/null")
  for name in p:lines() do list[#list + 1] = dir .. "/" .. name end
  p:close()
  return list
end

-- Each target's replay: raises only when the input is mishandled (a crash is caught by ASan).
local REPLAY = {
  idx = function(path)
    local t, err = core.idx_read(path)
    assert(t or err:find(": ", 1, true), "an IDX rejection without a reason")
    core.sha256_gunzip(path)
  end,
  record = function(path)
    for _, verify in ipairs { false, true } do
      local images, labels = core.record_open(path, verify)
      if images then assert(images:size(1) == labels:size(1)) end
    end
  end,
  image = function(path)
    local bytes = H.read(path)
    local gray, why = core.image_decode(bytes)
    if gray then
      local out = core.image_mnist(gray)
      if out then assert(out:size(1) == 28 and out:max() <= 1) end
    else
      assert(type(why) == "string" and #why > 0, "an image rejection without a reason")
    end
    -- what predict does: reduced while decoded, the photo clean-up, the recipe
    local images, reasons = core.pictures_to_mnist({ bytes })
    assert(reasons[1] == false or (type(reasons[1]) == "string" and #reasons[1] > 0), "a rejection without a reason")
    assert(images:size(1) == 1 and images:max() <= 1)
  end,
}
for _, target in ipairs { "safetensors", "config" } do
  local check = dofile("fuzz/fuzz_" .. target .. ".lua")
  REPLAY[target] = function(path)
    local data = H.read(path)
    local copy = os.tmpname() .. check.suffix(data)
    H.write(copy, data)
    local ok, err = pcall(check.check, copy, data)
    os.remove(copy)
    assert(ok, err)
  end
end
REPLAY.idx_gzip = REPLAY.idx -- its regressions are stored as the damaged gzip files themselves

describe("fuzzer findings and seeds", function()
  for target, replay in pairs(REPLAY) do
    it(target .. ": every saved crash input and seed is handled", function()
      local inputs = files("fuzz/regressions/" .. target)
      local seeds = target == "idx_gzip" and {} or files("fuzz/corpus/" .. target)
      assert.is_true(#seeds > 0 or target == "idx_gzip")
      for _, list in ipairs { inputs, seeds } do
        for _, path in ipairs(list) do
          local ok, err = pcall(replay, path)
          assert(ok, path .. ": " .. tostring(err))
        end
      end
    end)
  end
end)

describe("stb_image 2.27 guards (csrc/data/image.c)", function()
  local function decode_error(bytes)
    local gray, why = core.image_decode(bytes)
    assert.is_nil(gray)
    return why
  end

  it("refuses the JPEG whose Huffman table overflowed stb's arrays (found by fuzz_image)", function()
    assert.equal("corrupt JPEG: a Huffman table declares 436 codes (at most 256)",
      decode_error(H.read("fuzz/regressions/image/jpeg-dht-overflow.jpg")))
  end)

  it("refuses it too behind 0xFF fill bytes before the SOI marker, which stb skips (found by fuzz_image)", function()
    assert.equal("corrupt JPEG: a Huffman table declares 314 codes (at most 256)",
      decode_error(H.read("fuzz/regressions/image/jpeg-fill-bytes-before-soi.jpg")))
    local valid = H.read("spec/fixtures/digit-restart.jpg")
    assert.truthy(core.image_decode("\255\255" .. valid), "fill bytes before a valid JPEG")
  end)

  -- A baseline JPEG header: SOI, then a DHT segment with the given 16 counts and no symbols.
  local function dht(counts)
    local n = 0
    for _, c in ipairs(counts) do n = n + c end
    local body = "\0" .. string.char(unpack(counts)) .. ("\1"):rep(n)
    return "\255\216\255\196" .. string.char(math.floor((#body + 2) / 256), (#body + 2) % 256) .. body
  end

  it("refuses any DHT table of more than 256 codes, and walks past valid ones", function()
    local counts = { 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 99, 99, 99, 99, 255 } -- stb issue #1289
    assert.equal("corrupt JPEG: a Huffman table declares 654 codes (at most 256)", decode_error(dht(counts) .. "\255\217"))
    assert.equal("corrupt JPEG: a Huffman table declares 654 codes (at most 256)",
      decode_error("\255\255\255" .. dht(counts):sub(2) .. "\255\217"))
    -- 256 codes are fine for the guard (stb then rejects this fragment for its own reasons)
    assert.falsy(decode_error(dht { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255 } .. "\255\217"):find("Huffman", 1, true))
  end)

  it("refuses a scan that uses a Huffman table no DHT defined (stb decodes with uninitialised memory)", function()
    local valid = H.read("spec/fixtures/digit-restart.jpg")
    -- drop every DHT segment: the scan's tables are then undefined
    local stripped, i = { valid:sub(1, 2) }, 3
    while i <= #valid do
      local marker = valid:byte(i + 1)
      local len = valid:byte(i + 2) * 256 + valid:byte(i + 3)
      if marker == 0xDA then
        stripped[#stripped + 1] = valid:sub(i)
        break
      end
      if marker ~= 0xC4 then stripped[#stripped + 1] = valid:sub(i, i + 1 + len) end
      i = i + 2 + len
    end
    assert.equal("corrupt JPEG: a scan uses a Huffman table that was never defined",
      decode_error(table.concat(stripped)))
  end)

  it("still decodes progressive, restart-marker and colour JPEGs (made by libjpeg's cjpeg)", function()
    local digit = H.read("fuzz/corpus/image/digit.pgm"):sub(-784)
    for _, name in ipairs { "digit-progressive", "digit-progressive-color", "digit-restart" } do
      local gray = core.image_decode(H.read("spec/fixtures/" .. name .. ".jpg"))
      assert.truthy(gray, name)
      assert.same({ 28, 28 }, gray:size())
      local got, sum = gray:tobytes(), 0
      for k = 1, 784 do sum = sum + math.abs(got:byte(k) - digit:byte(k)) end
      assert.is_true(sum / 784 < 6, name .. ": mean difference " .. sum / 784)
    end
  end)

  it("refuses PGM/PPM sizes of more than 9 digits and 16-bit samples", function()
    assert.equal("corrupt PGM/PPM header: a number of 10 digits", decode_error("P5\n3333333333 1\n255\n\0"))
    assert.equal("corrupt PGM/PPM header: a number of 12 digits", decode_error("P6 # comment\n1 100000000000\n255\n"))
    assert.equal("16-bit PGM/PPM (maxval 65535) is not supported; save it with 8 bits",
      decode_error("P5\n2 2\n65535\n" .. ("\0"):rep(8)))
    assert.truthy(core.image_decode("P5\n2 2\n255\n\0\1\2\3"))
  end)

  it("refuses a PNG chunk that runs past the end of the file", function()
    local png = core.image_encode(T.bytes(4, 4), "png")
    local chunk = png:sub(1, 33) .. "\64\0\0\0IDAT" .. png:sub(42)
    assert.truthy(decode_error(chunk):find("^truncated or corrupt PNG: a chunk of 1073741824 bytes at offset 33 runs past the end"))
  end)

  it("refuses the formats stb_image handles worst (PSD, PIC, Radiance HDR)", function()
    assert.equal("Photoshop (PSD) images are not supported (PNG, JPEG, BMP, PGM, GIF or TGA)",
      decode_error("8BPS\0\1" .. ("\0"):rep(40)))
    assert.equal("Radiance HDR images are not supported (PNG, JPEG, BMP, PGM, GIF or TGA)",
      decode_error("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 1\n\0\0\0\0"))
    assert.equal("Softimage PIC images are not supported (PNG, JPEG, BMP, PGM, GIF or TGA)",
      decode_error("\83\128\246\52" .. ("\0"):rep(100)))
  end)
end)

describe("damaged checkpoints", function()
  local checkpoint = require "mnist.checkpoint"
  local weights = require "mnist.weights"
  local cjson = require "cjson"
  local nn = require "mnist.nn"
  local optim = require "mnist.optim"
  local random = require "mnist.random"

  local function new_run()
    local net = nn.Sequential():add(nn.Linear(3, 2))
    return { net = net, optim_state = {}, scheduler = optim.StepLR({ learningRate = 1 }, 1, 0.7),
      rng = random.generator(1), history = {}, config = {} }
  end

  -- A checkpoint whose metadata field `field` is replaced by `value` (the tensors stay whole).
  local function damaged(path, field, value)
    local run = new_run()
    run.epoch, run.step, run.loader_state = 1, 0, {}
    checkpoint.save(path, run)
    local tensors, meta, names = weights.load(path)
    local inner = cjson.decode(meta.checkpoint)
    inner[field] = value
    meta.checkpoint = cjson.encode(inner)
    meta[weights.DATA_SHA256] = nil
    local named = {}
    for i, name in ipairs(names) do named[i] = { name, tensors[name] } end
    weights.save(path, named, meta, { sidecar = false })
  end

  it("refuses bad metadata before restoring anything, naming the field", function()
    local path = os.tmpname()
    for field, case in pairs {
      rng = { "abc", "rng is not the 64 hex digits of a generator state" },
      epoch = { -1, "epoch is not a whole number >= 1" },
      step = { "x", "step is not a whole number >= 0" },
      optim = { { step = {} }, "optim.step is not a number or boolean" },
      scheduler = { { last_epoch = 1 }, "scheduler is not a saved learning-rate schedule" },
      history = { 5, "history is not a list" },
    } do
      damaged(path, field, case[1])
      local run = new_run()
      local before = run.net:namedTensors()[1][2]:tobytes()
      local ok, err = pcall(checkpoint.load, path, run)
      assert.is_false(ok, field)
      assert.equal(("checkpoint: %s: damaged metadata: %s"):format(path, case[2]), err)
      assert.equal(before, run.net:namedTensors()[1][2]:tobytes(), "restored despite the error")
    end
    os.remove(path)
  end)

  it("refuses optimizer buffers of another model's size", function()
    local path = os.tmpname()
    local run = new_run()
    run.epoch, run.step, run.loader_state = 1, 0, {}
    run.optim_state = { exp_avg = T(5) }
    checkpoint.save(path, run)
    local ok, err = pcall(checkpoint.load, path, new_run())
    os.remove(path)
    assert.is_false(ok)
    assert.equal(("checkpoint: %s: damaged metadata: optim.exp_avg holds 5 values, the model has 8 parameters"):format(path), err)
  end)
end)

describe("hostile config files", function()
  local config = require "mnist.config"

  it("a YAML alias bomb (9 levels of 9 aliases, 500 bytes) is refused at once, not walked 9^9 times", function()
    local path = os.tmpname() .. ".yml"
    H.write(path, H.read("fuzz/regressions/config/yaml-alias-bomb"):sub(2))
    local t0 = core.wall_time()
    local ok, err = pcall(config.load, path)
    os.remove(path)
    assert.is_false(ok)
    assert.equal(("config: %s: unknown key 'a0' (did you mean 'arch'?)"):format(path), err)
    assert.is_true(core.wall_time() - t0 < 1, "took " .. core.wall_time() - t0 .. " s")
  end)

  it("a huge key or value is shortened in the message and costs no time", function()
    local path = os.tmpname() .. ".json"
    H.write(path, '{"' .. ("x"):rep(1000000) .. '": 1}')
    local t0 = core.wall_time()
    local ok, err = pcall(config.load, path)
    assert.is_false(ok)
    assert.equal(("config: %s: unknown key '%s…' (did you mean 's3_prefix'?)"):format(path, ("x"):rep(40)), err)
    assert.is_true(core.wall_time() - t0 < 1, "took " .. core.wall_time() - t0 .. " s")
    H.write(path, '{"arch": "' .. ("y"):rep(1000000) .. '"}')
    ok, err = pcall(config.load, path)
    os.remove(path)
    assert.equal(("config: %s: 'arch' must be one of default, lenet, fast, best, got '%s…'"):format(path, ("y"):rep(40)), err)
  end)
end)
