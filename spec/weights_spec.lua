local core = require "mnist.core"
local helpers = require "spec.support.helpers"
local tmpdir, read, write = helpers.tmpdir, helpers.read, helpers.write
local T = require "mnist.tensor"
local weights = require "mnist.weights"

local FIXTURE = "spec/fixtures/weights_small.safetensors" -- written by make_weights_fixture.py

local function u64le(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
  return table.concat(b)
end

-- A safetensors file from a header table and raw data, for crafting bad files.
local function craft(path, header_json, data)
  write(path, u64le(#header_json) .. header_json .. data)
end

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("weights: safetensors reading", function()
  it("reads a file written by an independent encoder", function()
    local tensors, meta, names = weights.load(FIXTURE)
    assert.same({ "0.bias", "0.weight", "3.running_var" }, names)
    assert.same({ { 1, -2, 3.5 }, { 0.25, tensors["0.weight"]:get(2, 2), -7 } }, tensors["0.weight"]:totable())
    assert.near(1e-3, tensors["0.weight"]:get(2, 2), 1e-9)
    assert.same({ 0.5, -0.5 }, tensors["0.bias"]:totable())
    assert.same({ 1, 1, 2, 2 }, tensors["3.running_var"]:size())
    assert.same({ version = "0.0.1", arch = "default" }, meta)
  end)

  it("reads straight into the tensors given (into) that match in name, shape and dtype", function()
    local bias, wrong, strided = T.zeros(2), T.zeros(3, 2), T.zeros(2, 3):t()
    local tensors = weights.load(FIXTURE, { into = { ["0.bias"] = bias, ["0.weight"] = wrong } })
    assert.equal(bias, tensors["0.bias"]) -- the very tensor, filled
    assert.same({ 0.5, -0.5 }, bias:totable())
    assert.are_not.equal(wrong, tensors["0.weight"]) -- another shape: a tensor of its own
    assert.same({ 0, 0, 0, 0, 0, 0 }, wrong:view(6):totable())
    tensors = weights.load(FIXTURE, { into = { ["0.weight"] = strided } }) -- a view with strides: not read into
    assert.are_not.equal(strided, tensors["0.weight"])
    assert.same({ 1, -2, 3.5 }, tensors["0.weight"][1]:totable())
  end)
end)

describe("weights: saving", function()
  it("round-trips tensors and metadata, aligned, with a sha256sum-style sidecar", function()
    local d = tmpdir()
    local path = d .. "/w.safetensors"
    local w, b = T { { 1, 2 }, { 3, 4 } }, T { 0.5 }
    local hex = weights.save(path, { { "fc.weight", w }, { "fc.bias", b } },
      { version = "0.1.0", config = { epochs = 2 } })
    assert.equal(core.sha256(read(path)), hex)
    assert.equal(hex .. "  w.safetensors\n", read(path .. ".sha256"))
    assert.equal(hex, weights.read_checksum(path))
    local bytes = read(path)
    local header_len = 0
    for i = 8, 1, -1 do header_len = header_len * 256 + bytes:byte(i) end
    assert.equal(0, (8 + header_len) % 8)
    local tensors, meta, names = weights.load(path)
    assert.same({ "fc.weight", "fc.bias" }, names)
    assert.same(w:totable(), tensors["fc.weight"]:totable())
    assert.same({ 0.5 }, tensors["fc.bias"]:totable())
    assert.equal("0.1.0", meta.version)
    assert.equal('{"epochs":2}', meta.config)
    -- sha256sum agrees with the sidecar
    assert.is_true(os.execute(("cd %s && sha256sum -c --status w.safetensors.sha256"):format(d)) == 0)
    os.execute("rm -rf " .. d)
  end)

  it("refuses bad names and dtypes before writing anything", function()
    local d = tmpdir()
    local path = d .. "/w.safetensors"
    assert.has_error(function() weights.save(path, { { "a", T(1) }, { "a", T(1) } }) end,
      "weights: " .. path .. ": duplicate tensor name 'a'")
    assert.has_error(function() weights.save(path, { { "a", T.bytes(1) } }) end,
      "weights: " .. path .. ": 'a' must be a float32 tensor")
    assert.is_nil(io.open(path))
    os.execute("rm -rf " .. d)
  end)

  -- A Lua table has no key order and cjson writes keys in hash order, which changes with the
  -- strings a process has created: the header is written with sorted keys at every level.
  it("writes the header with sorted keys, so equal tensors and metadata give equal bytes", function()
    local d = tmpdir()
    local path = d .. "/w.safetensors"
    weights.save(path, { { "z.weight", T { 1, 2 } }, { "b.bias", T { 3 } }, { "a.scale", T { { 4 } } } },
      { zeta = "z", alpha = "a", config = { y = 1, x = { b = 2, a = 0.7 } }, mid = 5 }, { sidecar = false })
    local bytes = read(path)
    local data = bytes:sub(-16) -- 4 float32 values
    local expected = '{"__metadata__":{"alpha":"a","config":"{\\"x\\":{\\"a\\":0.7,\\"b\\":2},\\"y\\":1}",'
      .. '"data_sha256":"' .. core.sha256(data) .. '","mid":"5","zeta":"z"},'
      .. '"a.scale":{"data_offsets":[12,16],"dtype":"F32","shape":[1,1]},'
      .. '"b.bias":{"data_offsets":[8,12],"dtype":"F32","shape":[1]},'
      .. '"z.weight":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}'
    local header = bytes:sub(9, #bytes - 16)
    assert.equal(expected, (header:gsub(" +$", "")))
    -- and another process, with another history of strings, writes the very same bytes
    local out = helpers.luajit(([[
      local T = require "mnist.tensor"
      for i = 1, 1000 do local _ = {["k" .. i] = i} end
      require("mnist.weights").save(%q, { { "z.weight", T { 1, 2 } }, { "b.bias", T { 3 } }, { "a.scale", T { { 4 } } } },
        { mid = 5, config = { x = { a = 0.7, b = 2 }, y = 1 }, alpha = "a", zeta = "z" }, { sidecar = false })
    ]]):format(d .. "/again.safetensors"))
    assert.equal(bytes, read(d .. "/again.safetensors"), out)
    os.execute("rm -rf " .. d)
  end)
end)

describe("weights: hostile files", function()
  local d, path
  before_each(function()
    d = tmpdir()
    path = d .. "/bad.safetensors"
  end)
  after_each(function() os.execute("rm -rf " .. d) end)

  local data8 = ("\0"):rep(8)

  it("refuses a missing or too short file", function()
    assert.truthy(err_of(weights.load, d .. "/none"):find("cannot open", 1, true))
    write(path, "abc")
    assert.equal("weights: " .. path .. ": file is 3 bytes, too short for a safetensors header",
      err_of(weights.load, path))
  end)

  it("refuses a huge or overrunning header length", function()
    write(path, u64le(2 ^ 40) .. "{}")
    assert.truthy(err_of(weights.load, path):find("exceeds the 16777216-byte limit", 1, true))
    write(path, u64le(100) .. "{}")
    assert.truthy(err_of(weights.load, path):find("runs past the end of the file", 1, true))
  end)

  it("refuses invalid JSON and wrong dtypes", function()
    craft(path, "{not json", "")
    assert.truthy(err_of(weights.load, path):find("header is not a JSON object", 1, true))
    craft(path, '{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', data8)
    assert.truthy(err_of(weights.load, path):find("'a': dtype F64 is not supported", 1, true))
  end)

  it("refuses bad shapes, offsets out of range, overlaps, holes and trailing bytes", function()
    craft(path, '{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}', "")
    assert.truthy(err_of(weights.load, path):find("shape[1] is not a positive whole number", 1, true))
    craft(path, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}', data8)
    assert.truthy(err_of(weights.load, path):find("out of range (data is 8 bytes)", 1, true))
    craft(path, '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8)
    assert.truthy(err_of(weights.load, path):find("hold 8 bytes, shape needs 12", 1, true))
    craft(path, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' ..
      '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8)
    assert.truthy(err_of(weights.load, path):find("overlaps another tensor", 1, true))
    craft(path, '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8)
    assert.truthy(err_of(weights.load, path):find("bytes 0..4 belong to no tensor", 1, true))
    craft(path, '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data8)
    assert.truthy(err_of(weights.load, path):find("file has 8 data bytes, the header describes 4", 1, true))
  end)

  it("detects a truncated file", function()
    local full = read(FIXTURE)
    write(path, full:sub(1, #full - 3))
    assert.truthy(err_of(weights.load, path):find("out of range (data is", 1, true))
  end)

  it("verifies the SHA-256 and names both hashes on a flipped byte", function()
    local full = read(FIXTURE)
    local good = core.sha256(full)
    write(path, full)
    assert.equal(good, weights.verify(path, good))
    write(path, full:sub(1, -2) .. string.char((full:byte(-1) + 1) % 256))
    local err = err_of(weights.verify, path, good)
    assert.truthy(err:find("SHA-256 mismatch: expected " .. good .. ", got " .. core.sha256(read(path)), 1, true))
  end)
end)

describe("weights: loading into a model's tensors", function()
  it("copies matching tensors, and copies nothing when any is missing or misshapen", function()
    local w, b = T(2, 3), T(2)
    weights.load_into({ { "0.weight", w }, { "0.bias", b } }, FIXTURE, { partial = true })
    assert.same({ 0.5, -0.5 }, b:totable())
    assert.equal(3.5, w:get(1, 3))

    local w2, b2 = T(3, 2), T(2)
    local err = err_of(weights.load_into, { { "0.bias", b2 }, { "0.weight", w2 } }, FIXTURE, { partial = true })
    assert.equal("weights: " .. FIXTURE .. ": '0.weight' has shape (2, 3), the model needs (3, 2)", err)
    assert.same({ 0, 0 }, b2:totable()) -- nothing half-loaded
    err = err_of(weights.load_into, { { "x", T(1) } }, FIXTURE, { partial = true })
    assert.truthy(err:find("missing tensor 'x'", 1, true))
    err = err_of(weights.load_into, { { "0.bias", T(2) } }, FIXTURE)
    assert.truthy(err:find("unexpected tensor", 1, true))
  end)

  it("selects a sub-network by prefix", function()
    local b = T(2)
    weights.load_into({ { "bias", b } }, FIXTURE, { prefix = "0.", partial = true })
    assert.same({ 0.5, -0.5 }, b:totable())
  end)
end)
