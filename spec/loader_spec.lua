-- The batch loader (csrc/data/loader.c, mnist.dataset.loader): coverage, determinism whatever the
-- prefetch depth, augmentation, resume, and the background thread's life cycle.
local core = require "mnist.core"
local T = require "mnist.tensor"
local dataset = require "mnist.dataset"

-- n synthetic 28x28 images: image i (0-based) carries i in its first two bytes, then a pattern
-- that differs per image and is never 0 (so a shift that brings in background shows).
local function source(n)
  local images, labels = {}, {}
  for i = 0, n - 1 do
    local px = { string.char(i % 256, math.floor(i / 256)) }
    for p = 2, 783 do px[#px + 1] = string.char((p * 7 + i) % 251 + 1) end
    images[#images + 1] = table.concat(px)
    labels[#labels + 1] = string.char(i % 10)
  end
  return T.frombytes(table.concat(images), { n, 28, 28 }), T.frombytes(table.concat(labels), { n })
end

local N = 103
local images, labels = source(N)

-- The 0-based source row of each image in a batch built with mean 0, std 1.
local function rows_of(x)
  local out = {}
  local flat = x:view(x:size(1), 784)
  for i = 1, x:size(1) do
    out[i] = math.floor(flat:get(i, 1) * 255 + 0.5) + 256 * math.floor(flat:get(i, 2) * 255 + 0.5)
  end
  return out
end

local function plain(opts)
  local o = { batch_size = 10, mean = 0, std = 1, seed = 7, prefetch = 2 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return dataset.loader(images, labels, opts and opts.rows, o)
end

-- SHA-256 of every batch of an epoch (images and labels).
local function digests(loader, epoch, first)
  local out = {}
  for x, y in loader:epoch(epoch, first) do
    out[#out + 1] = core.sha256(x:tobytes() .. y:tobytes())
  end
  return out
end

describe("loader", function()
  it("visits every row exactly once per epoch, in the order loader:order gives", function()
    local loader = plain { shuffle = true }
    assert.equal(N, loader:size())
    assert.equal(11, loader:steps())
    for epoch = 1, 2 do
      local seen, visited, sizes = {}, {}, {}
      for x, y, step in loader:epoch(epoch) do
        sizes[#sizes + 1] = x:size(1)
        assert.equal(#sizes, step)
        assert.same({ x:size(1), 1, 28, 28 }, x:size())
        for i, r in ipairs(rows_of(x)) do
          assert.is_nil(seen[r], "row seen twice")
          seen[r] = true
          visited[#visited + 1] = r + 1
          assert.equal(r % 10, y[i]) -- the label travels with its image
        end
      end
      assert.same({ 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3 }, sizes)
      assert.same(loader:order(epoch), visited)
    end
  end)

  it("shuffles as a pure function of (seed, epoch)", function()
    local a, b = plain { shuffle = true }, plain { shuffle = true }
    b:order(5) -- drawing other orders first changes nothing
    assert.same(a:order(3), b:order(3))
    assert.are_not.same(a:order(1), a:order(2))
    assert.are_not.same(a:order(1), plain({ shuffle = true, seed = 8 }):order(1))
    local in_order = plain { shuffle = false }:order(9)
    for i = 1, N do assert.equal(i, in_order[i]) end
  end)

  it("drops the last partial batch when asked, and serves only the given rows", function()
    local loader = plain { shuffle = true, drop_last = true }
    assert.equal(10, loader:steps())
    local count = 0
    for x in loader:epoch(1) do
      assert.equal(10, x:size(1))
      count = count + 1
    end
    assert.equal(10, count)
    local subset = plain { rows = { 3, 50, 103, 7 }, batch_size = 3 }
    local got = {}
    for x in subset:epoch(1) do
      for _, r in ipairs(rows_of(x)) do got[#got + 1] = r + 1 end
    end
    assert.same({ 3, 50, 103, 7 }, got)
  end)

  it("normalises (pixel / 255 - mean) / std and gives float labels 0..9", function()
    local loader = dataset.loader(images, labels, nil, { batch_size = 4, mean = 0.1307, std = 0.3081, prefetch = 1 })
    local x, y = loader:epoch(1)()
    assert.equal("float32", x:dtype())
    assert.equal("float32", y:dtype())
    assert.same({ 0, 1, 2, 3 }, y:totable())
    for i = 1, 4 do
      for _, p in ipairs { 1, 2, 3, 400, 784 } do
        local byte = images[i]:view(784)[p]
        assert.near((byte / 255 - 0.1307) / 0.3081, x[i]:view(784)[p], 1e-5)
      end
    end
  end)

  it("gives identical batches whatever the prefetch depth, with and without augmentation", function()
    for _, shift in ipairs { 0, 2 } do
      local reference
      for _, prefetch in ipairs { 0, 1, 2, 7 } do
        local loader = plain { shuffle = true, prefetch = prefetch, augment_shift = shift }
        local run = { digests(loader, 1), digests(loader, 2) }
        if reference then assert.same(reference, run) else reference = run end
      end
      assert.are_not.same(reference[1], reference[2])
    end
  end)

  it("augments by shifting each image up to augment_shift pixels, background coming in", function()
    local base = plain { shuffle = true, batch_size = 103, prefetch = 0 }
    local aug = plain { shuffle = true, batch_size = 103, prefetch = 0, augment_shift = 2 }
    local x0 = base:epoch(4)():clone()
    local x1 = aug:epoch(4)()
    local shifts = {}
    for i = 1, N do
      local src, dst = x0[i][1], x1[i][1]
      local found
      for dy = -2, 2 do
        for dx = -2, 2 do
          local ok = true
          for r = 1, 28 do
            for c = 1, 28 do
              local sr, sc = r - dy, c - dx
              local want = (sr >= 1 and sr <= 28 and sc >= 1 and sc <= 28) and src:get(sr, sc) or 0
              if dst:get(r, c) ~= want then ok = false break end
            end
            if not ok then break end
          end
          if ok then found = dy .. "," .. dx end
        end
      end
      assert.truthy(found, "image " .. i .. " is not a shift of its source by at most 2 pixels")
      shifts[found] = (shifts[found] or 0) + 1
    end
    local kinds = 0
    for _ in pairs(shifts) do kinds = kinds + 1 end
    assert.is_true(kinds >= 15, "103 images should use most of the 25 shifts, saw " .. kinds)
  end)

  it("resumes bitwise from (epoch, step) and from loader:state()", function()
    local full = digests(plain { shuffle = true, augment_shift = 1 }, 3)
    local later = digests(plain { shuffle = true, augment_shift = 1 }, 3, 5)
    assert.same({ unpack(full, 5) }, later)
    -- a state taken after 4 batches continues with the 5th
    local first = plain { shuffle = true, augment_shift = 1 }
    local it = first:epoch(3)
    for _ = 1, 4 do it() end
    local state = first:state()
    assert.same({ epoch = 3, step = 4, seed = 7 }, state)
    local second = plain { shuffle = true, augment_shift = 1 }
    local x, y = second:resume(state)()
    assert.equal(full[5], core.sha256(x:tobytes() .. y:tobytes()))
    -- the end of an epoch resumes at the start of the next
    local done = { epoch = 3, step = 11, seed = 7 }
    x, y = second:resume(done)()
    assert.equal(digests(plain { shuffle = true, augment_shift = 1 }, 4)[1], core.sha256(x:tobytes() .. y:tobytes()))
    assert.has_error(function() second:resume { epoch = 1, step = 0, seed = 99 } end,
      "loader:resume: the state was saved with seed 99, this loader has seed 7")
  end)

  it("reuses its buffers: a batch is valid until the next one is requested", function()
    local loader = plain { prefetch = 1 } -- 2 slots
    local it = loader:epoch(1)
    local first = it()
    local kept = first:clone()
    it()
    local third = it()
    assert.is_true(third:shares(first)) -- same slot, overwritten
    assert.are_not.same(kept:totable(), third:totable())
    assert.same(kept:totable(), kept:clone():totable()) -- the clone stays
  end)

  it("starts a new epoch midway through another, and ends each epoch cleanly", function()
    local loader = plain { shuffle = true, prefetch = 3 }
    local reference = digests(plain { shuffle = true, prefetch = 0 }, 2)
    local it = loader:epoch(1)
    it()
    it() -- the thread is busy filling ahead
    assert.same(reference, digests(loader, 2))
    local finished = loader:epoch(5)
    for _ = 1, 11 do assert.truthy(finished()) end
    assert.is_nil(finished())
    assert.is_nil(finished())
    assert.equal(1, loader:iter()() and loader:state().step) -- iter() takes the next epoch
    assert.equal(6, loader:state().epoch)
  end)

  it("stops and joins its thread when closed or collected", function()
    for _ = 1, 20 do
      local loader = plain { shuffle = true, prefetch = 4, augment_shift = 1 }
      local it = loader:epoch(1)
      it()
    end
    collectgarbage()
    collectgarbage()
    local loader = plain { prefetch = 2 }
    local x = loader:epoch(1)()
    loader:close()
    loader:close() -- twice is fine
    assert.equal(10, x:size(1)) -- a batch taken before close stays readable
    assert.has_error(function() loader:epoch(1) end, "loader:start: the loader is closed")
  end)

  it("rejects bad arguments with clear errors", function()
    assert.has_error(function() dataset.loader(images, labels, nil, { batch_size = 104, drop_last = true }) end,
      "loader: a batch of 104 is larger than the 103 images and drop_last leaves no batch")
    assert.has_error(function() dataset.loader(images, labels, nil, { prefetch = 17 }) end,
      "loader: prefetch must be a whole number from 0 to 16, got 17")
    assert.has_error(function() dataset.loader(images, labels, { 1, 104 }, {}) end,
      "loader: rows[2] must be a row number from 1 to 103, got 104")
    assert.has_error(function() dataset.loader(images, labels, nil, { std = 0 }) end,
      "loader: need a finite mean and a std > 0, got mean 0, std 0")
    assert.has_error(function() dataset.loader(images, labels, nil, { augment_shift = 28 }) end,
      "loader: augment_shift must be a whole number from 0 to 27, got 28")
    assert.has_error(function() dataset.loader(images:float(), labels, nil, {}) end,
      "loader: expected uint8 images (N, H, W) and uint8 labels (N), got float32 (103, 28, 28) and uint8 (103)")
    assert.has_error(function() plain():epoch(1, 13) end,
      "loader:start: first step must be a whole number from 1 to 12, got 13")
  end)
end)
