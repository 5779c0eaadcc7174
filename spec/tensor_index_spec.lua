-- Indexing and joining (cat, split, chunk, index, indexCopy/Add/Fill, gather, scatter, masked*,
-- nonzero, repeatTensor) against PyTorch's results (spec/fixtures/make_tensor_index_fixtures.py
-- wrote spec/fixtures/tensor_index.json), on 1-D..4-D inputs of all three dtypes in contiguous,
-- transposed, narrowed and expanded layouts; Torch7's own rules (where PyTorch differs) by hand.
local T = require "mnist.tensor"
local torch = require "mnist.torch"

local H = require "spec.support.helpers"
local function read_fixture() return H.read_json("spec/fixtures/tensor_index.json") end

local function long(list) return T.of("int64", list) end
local function long_or_empty(list)
  if #list == 0 then return T.empty("int64", 0) end
  return long(list)
end

local SENTINEL = 77 -- fills the elements around a narrowed view: they must never change

-- A tensor with the given logical values (row-major) from a flat list.
local function from_flat(dtype, shape, values)
  if #values == 0 then return T.empty(dtype, shape) end
  return T.of(dtype, values):view(shape)
end

-- The tensor a fixture describes, in its layout; also the parent of a narrowed view.
local function build(spec)
  local dtype, shape, nd = spec.dtype, spec.shape, #spec.shape
  if spec.layout == "expanded" then
    return from_flat(dtype, spec.base_shape, spec.values):expand(shape)
  end
  local logical = from_flat(dtype, shape, spec.values)
  if spec.layout == "transposed" then
    local swapped = { unpack(shape) }
    swapped[1], swapped[nd] = shape[nd], shape[1]
    local c = T.empty(dtype, swapped)
    if c:numel() > 0 then c:copy(logical:transpose(1, nd)) end
    local view = c:transpose(1, nd)
    assert(nd < 2 or shape[1] == 1 or shape[nd] == 1 or c:numel() == 0 or not view:isContiguous())
    return view
  elseif spec.layout == "narrowed" then
    local wide = { unpack(shape) }
    wide[nd] = wide[nd] + 2
    local parent = T.empty(dtype, wide):fill(SENTINEL)
    local view = parent:narrow(nd, 2, shape[nd])
    if view:numel() > 0 then view:copy(logical) end
    return view, parent
  end
  return logical
end

local function flat(t)
  if t:numel() == 0 then return {} end
  return t:contiguous():view(t:numel()):totable()
end

-- Asserts t has the expected shape and values (exact: the fixtures are whole numbers).
local function check(t, expected, dtype, what)
  assert(T.is_tensor(t), what .. ": not a tensor")
  assert.same(expected.shape, t:size(), what .. ": shape")
  if dtype then assert.equal(dtype, t:dtype(), what .. ": dtype") end
  local got = flat(t)
  for i, v in ipairs(expected.values) do
    if got[i] ~= v then
      error(("%s: element %d is %s, PyTorch has %s"):format(what, i, tostring(got[i]), tostring(v)), 2)
    end
  end
end

-- The two sentinel columns around a narrowed view are untouched.
local function check_parent(parent, what)
  if not parent then return end
  local nd = parent:dim()
  for _, col in ipairs { 1, parent:size(nd) } do
    for _, v in ipairs(flat(parent:narrow(nd, col, 1))) do
      assert(v == SENTINEL, what .. ": an element outside the narrowed view changed")
    end
  end
end

local function name(case, i)
  local x = case.x or case.inputs[1]
  return ("%s #%d (%s %s%s, %s)"):format(case.op, i, x.dtype, "(" .. table.concat(x.shape, "x") .. ")",
    case.dim and (" dim " .. case.dim) or "", x.layout)
end

local RUN = {}

function RUN.index(case, what)
  local x = build(case.x)
  local idx = long_or_empty(case.index)
  check(x:index(case.dim, idx), case.expected, x:dtype(), what)
  local res = T.empty(x:dtype(), 1)
  assert.equal(res, res:index(x, case.dim, idx))
  check(res, case.expected, x:dtype(), what .. " into res")
  check(torch.index(x, case.dim, idx), case.expected, x:dtype(), what .. " torch.index")
end

local function in_place(method)
  return function(case, what)
    local x, parent = build(case.x)
    local arg = case.src and build(case.src) or case.value
    local idx = case.index[1] ~= nil and long_or_empty(case.index) or build(case.index)
    assert.equal(x, x[method](x, case.dim, idx, arg))
    check(x, case.expected, case.x.dtype, what)
    check_parent(parent, what)
  end
end
RUN.indexCopy = in_place("indexCopy")
RUN.indexAdd = in_place("indexAdd")
RUN.indexFill = in_place("indexFill")
RUN.scatter = in_place("scatter")
RUN.scatterValue = in_place("scatter")

function RUN.gather(case, what)
  local x, idx = build(case.x), build(case.index)
  check(x:gather(case.dim, idx), case.expected, x:dtype(), what)
  local res = T.empty(x:dtype(), 7)
  res:gather(x, case.dim, idx)
  check(res, case.expected, x:dtype(), what .. " into res")
  check(torch.gather(x, case.dim, idx), case.expected, x:dtype(), what .. " torch.gather")
end

function RUN.maskedSelect(case, what)
  local x, mask = build(case.x), build(case.mask)
  check(x:maskedSelect(mask), case.expected, x:dtype(), what)
  check(x[mask], case.expected, x:dtype(), what .. " t[mask]")
  local res = T.empty(x:dtype(), 2, 2)
  res:maskedSelect(x, mask)
  check(res, case.expected, x:dtype(), what .. " into res")
  check(torch.maskedSelect(x, mask), case.expected, x:dtype(), what .. " torch.maskedSelect")
end

function RUN.maskedFill(case, what)
  local x, parent = build(case.x)
  x:maskedFill(build(case.mask), case.value)
  check(x, case.expected, case.x.dtype, what)
  check_parent(parent, what)
  local y = build(case.x)
  y[build(case.mask)] = case.value
  check(y, case.expected, case.x.dtype, what .. " t[mask] = value")
end

function RUN.maskedCopy(case, what)
  local x, parent = build(case.x)
  x:maskedCopy(build(case.mask), build(case.src))
  check(x, case.expected, case.x.dtype, what)
  check_parent(parent, what)
  local y = build(case.x)
  y[build(case.mask)] = build(case.src)
  check(y, case.expected, case.x.dtype, what .. " t[mask] = tensor")
end

function RUN.nonzero(case, what)
  local x = build(case.x)
  check(x:nonzero(), case.expected, "int64", what)
  check(torch.nonzero(x), case.expected, "int64", what .. " torch.nonzero")
  local res = T.empty("int64", 1)
  res:nonzero(x)
  check(res, case.expected, "int64", what .. " into res")
end

function RUN.cat(case, what)
  local inputs = {}
  for i, spec in ipairs(case.inputs) do inputs[i] = build(spec) end
  local dtype = case.inputs[1].dtype
  check(torch.cat(inputs, case.dim), case.expected, dtype, what)
  if #inputs == 2 then
    check(torch.cat(inputs[1], inputs[2], case.dim), case.expected, dtype, what .. " (x1, x2)")
    check(inputs[1]:cat(inputs[2], case.dim), case.expected, dtype, what .. " x1:cat(x2)")
  end
  local res = T.empty(dtype, 3)
  assert.equal(res, res:cat(inputs, case.dim))
  check(res, case.expected, dtype, what .. " into res")
  if case.dim == #case.expected.shape then
    check(torch.cat(inputs), case.expected, dtype, what .. " default dim")
  end
end

function RUN.repeatTensor(case, what)
  local x = build(case.x)
  check(x:repeatTensor(unpack(case.sizes)), case.expected, x:dtype(), what)
  check(x:repeatTensor(case.sizes), case.expected, x:dtype(), what .. " sizes table")
  check(x:repeatTensor(long(case.sizes)), case.expected, x:dtype(), what .. " sizes LongTensor")
  local res = T.empty(x:dtype(), 1)
  res:repeatTensor(x, unpack(case.sizes))
  check(res, case.expected, x:dtype(), what .. " into res")
  check(torch.repeatTensor(x, unpack(case.sizes)), case.expected, x:dtype(), what .. " torch")
end

describe("indexing and joining against PyTorch", function()
  local fixture = read_fixture()
  local by_op = {}
  for i, case in ipairs(fixture.cases) do
    by_op[case.op] = by_op[case.op] or {}
    table.insert(by_op[case.op], { i = i, case = case })
  end
  local ops = {}
  for op in pairs(by_op) do ops[#ops + 1] = op end
  table.sort(ops)
  for _, op in ipairs(ops) do
    it(("%s matches PyTorch (%d cases)"):format(op, #by_op[op]), function()
      for _, entry in ipairs(by_op[op]) do RUN[op](entry.case, name(entry.case, entry.i)) end
    end)
  end

  it("covers every dim of 1-D..4-D inputs, all dtypes and every layout", function()
    local seen = {}
    for _, case in ipairs(fixture.cases) do
      local x = case.x or case.inputs[1]
      seen[case.op .. ":" .. #x.shape .. ":" .. (case.dim or 0)] = true
      seen[case.op .. ":" .. x.dtype] = true
      local specs = { case.x or false, case.src or false, case.mask or false, unpack(case.inputs or {}) }
      for _, spec in ipairs(specs) do
        if spec then seen[case.op .. ":" .. spec.layout] = true end
      end
    end
    for _, op in ipairs { "index", "indexCopy", "indexAdd", "indexFill", "gather", "scatter", "cat" } do
      for nd = 1, 4 do
        for dim = 1, nd do assert.is_true(seen[op .. ":" .. nd .. ":" .. dim], op .. " " .. nd .. "-D dim " .. dim) end
      end
    end
    for _, op in ipairs { "index", "gather", "maskedSelect", "maskedFill", "nonzero", "cat", "repeatTensor" } do
      for _, dtype in ipairs { "float32", "uint8", "int64" } do assert.is_true(seen[op .. ":" .. dtype], op .. " " .. dtype) end
    end
    for _, op in ipairs { "index", "gather", "maskedSelect", "cat", "repeatTensor", "indexCopy" } do
      for _, layout in ipairs { "contiguous", "transposed", "narrowed", "expanded" } do
        assert.is_true(seen[op .. ":" .. layout], op .. " " .. layout)
      end
    end
  end)
end)

describe("Torch7's rules", function()
  it("cat takes the last dim by default and skips empty tensors", function()
    assert.same({ 1, 2, 3, 4, 5 }, torch.cat(T { 1, 2 }, T { 3, 4, 5 }):totable())
    assert.same({ { 1, 2, 5 }, { 3, 4, 6 } }, torch.cat(T { { 1, 2 }, { 3, 4 } }, T { { 5 }, { 6 } }):totable())
    assert.same({ { 1, 2 }, { 3, 4 } }, torch.cat({ T(), T { { 1, 2 } }, T(), T { { 3, 4 } } }, 1):totable())
    assert.equal(0, torch.cat({ T(), T() }):dim())
  end)

  it("cat of vectors along dim 2 makes columns (missing dims count as size 1)", function()
    assert.same({ { 1, 3 }, { 2, 4 } }, torch.cat(T { 1, 2 }, T { 3, 4 }, 2):totable())
    assert.same({ { 1, 3, 5 }, { 2, 4, 6 } }, torch.cat({ T { 1, 2 }, T { { 3, 5 }, { 4, 6 } } }, 2):totable())
  end)

  it("cat with a negative dim counts from the end", function()
    assert.same({ 4, 2 }, torch.cat(T(2, 2), T(2, 2), -2):size())
  end)

  it("cat into a result that is one of its inputs", function()
    local a, b = T { { 1, 2 } }, T { { 3, 4 } }
    assert.equal(a, a:cat({ a, b }, 1))
    assert.same({ { 1, 2 }, { 3, 4 } }, a:totable())
    local c = T { 5, 6 }
    c:cat(c, T { 7 }) -- res, x1, x2: res is x1
    assert.same({ 5, 6, 7 }, c:totable())
  end)

  it("indexCopy and scatter: the last of repeated targets wins", function()
    local x = T.zeros(3)
    x:indexCopy(1, long { 2, 2, 3 }, T { 5, 6, 7 })
    assert.same({ 0, 6, 7 }, x:totable())
    local y = T.zeros(2, 3)
    y:scatter(2, long { { 1, 1 }, { 3, 3 } }, T { { 5, 6 }, { 7, 8 } })
    assert.same({ { 6, 0, 0 }, { 0, 0, 8 } }, y:totable())
    local z = T.zeros(3, 2)
    z:scatter(1, long { { 2, 1 }, { 2, 1 } }, T { { 1, 2 }, { 3, 4 } })
    assert.same({ { 0, 4 }, { 3, 0 }, { 0, 0 } }, z:totable())
  end)

  it("indexAdd adds every repeat (uint8 wraps as Torch7's bytes)", function()
    local x = T.zeros(2, 2)
    x:indexAdd(1, long { 2, 2, 2 }, T { { 1, 2 }, { 3, 4 }, { 5, 6 } })
    assert.same({ { 0, 0 }, { 9, 12 } }, x:totable())
    local b = T.of("uint8", { 250 })
    b:indexAdd(1, long { 1, 1 }, T.of("uint8", { 5, 10 }))
    assert.same({ 9 }, b:totable())
  end)

  it("writes into an expanded tensor's shared element (every view of it sees the last write)", function()
    local base = T.zeros(1)
    local x = base:expand(3)
    x:indexAdd(1, long { 1, 3 }, T { 1, 1 })
    assert.same({ 2 }, base:totable())
    x:indexFill(1, long { 2 }, 5)
    assert.same({ 5, 5, 5 }, x:totable())
  end)

  it("a mask of another shape with the same element count pairs elements in row-major order", function()
    local x = T { { 1, 2, 3 }, { 4, 5, 6 } }
    local mask = T.of("uint8", { 1, 0, 0, 1, 1, 0 })
    assert.same({ 1, 4, 5 }, x:maskedSelect(mask):totable())
    assert.same({ 1, 4, 5 }, x[mask:view(3, 2)]:totable())
    x[mask] = 0
    assert.same({ { 0, 2, 3 }, { 0, 0, 6 } }, x:totable())
    x:maskedCopy(mask:view(3, 2), T { 7, 8, 9, 10 })
    assert.same({ { 7, 2, 3 }, { 8, 9, 6 } }, x:totable())
  end)

  it("maskedSelect and nonzero of nothing are empty, and nonzero of a vector is n x 1", function()
    assert.same({ 0 }, T { 1, 2 }:maskedSelect(T.bytes(2)):size())
    assert.same({ 0, 2 }, T.zeros(2, 2):nonzero():size())
    assert.same({ { 2 }, { 3 } }, T { 0, 1, -1 }:nonzero():totable())
    assert.same({ { 1 } }, T { 0 / 0 }:nonzero():totable()) -- NaN is not zero
  end)

  it("gather and scatter with size-1 dims (one index per row, a single element)", function()
    local x = T { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    assert.same({ { 2 }, { 3 }, { 6 } }, x:gather(2, long { { 2 }, { 1 }, { 2 } }):totable())
    assert.same({ { 5, 2 } }, x:gather(1, long { { 3, 1 } }):totable())
    local one = T { { 0 } }
    one:scatter(2, long { { 1 } }, T { { 9 } })
    assert.same({ { 9 } }, one:totable())
    local y = T.zeros(2, 3)
    y:scatter(2, long { { 3 }, { 2 } }, 1)
    assert.same({ { 0, 0, 1 }, { 0, 1, 0 } }, y:totable())
    assert.same({ { 7 } }, T { { 7 } }:index(2, long { 1 }):totable())
  end)

  it("index takes an empty LongTensor (no positions)", function()
    assert.same({ 2, 0 }, T(2, 3):index(2, T.of("int64")):size())
  end)

  it("reads inputs that alias the output from a copy", function()
    local x = T { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    x:indexCopy(1, long { 3, 1, 2 }, x)
    assert.same({ { 3, 4 }, { 5, 6 }, { 1, 2 } }, x:totable())
    local y = T { { 1, 2 }, { 3, 4 } }
    y:index(y, 1, long { 2, 2, 1 })
    assert.same({ { 3, 4 }, { 3, 4 }, { 1, 2 } }, y:totable())
    local z = T { 1, 2, 3, 4 }
    z:narrow(1, 2, 3):maskedCopy(T.of("uint8", { 1, 1, 1 }), z:narrow(1, 1, 3))
    assert.same({ 1, 1, 2, 3 }, z:totable())
    local g = T { { 1, 2 }, { 3, 4 } }
    g:gather(g, 2, long { { 2, 1 }, { 2, 2 } })
    assert.same({ { 2, 1 }, { 4, 4 } }, g:totable())
    local r = T { 1, 2 }
    r:repeatTensor(r, 2)
    assert.same({ 1, 2, 1, 2 }, r:totable())
  end)

  it("writes into a strided result of the right shape in place (no resize)", function()
    local parent = T.zeros(3, 2)
    local res = parent:t() -- (2, 3), not contiguous
    local x = T { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } }
    assert.equal(res, res:index(x, 1, long { 3, 1 }))
    assert.same({ { 7, 1 }, { 8, 2 }, { 9, 3 } }, parent:totable())
    res:gather(x:narrow(1, 1, 2), 2, long { { 1, 1, 1 }, { 3, 3, 3 } })
    assert.same({ { 1, 6 }, { 1, 6 }, { 1, 6 } }, parent:totable())
  end)

  it("takes negative dims from the end", function()
    local x = T { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.same({ { 3 }, { 6 } }, x:index(-1, long { 3 }):totable())
    assert.same({ { 4, 5, 6 } }, x:gather(-2, long { { 2, 2, 2 } }):totable())
  end)

  it("repeatTensor adds leading dims", function()
    assert.same({ { { 1, 2, 1, 2 } }, { { 1, 2, 1, 2 } } }, T { 1, 2 }:repeatTensor(2, 1, 2):totable())
    assert.same({ 0, 2 }, T { 1, 2 }:repeatTensor(0, 1):size())
  end)
end)

describe("split and chunk", function()
  it("split returns views of size along dim, the last shorter", function()
    local x = T { { 1, 2, 3, 4, 5 }, { 6, 7, 8, 9, 10 } }
    local parts = x:split(2, 2)
    assert.equal(3, #parts)
    assert.same({ { 1, 2 }, { 6, 7 } }, parts[1]:totable())
    assert.same({ { 5 }, { 10 } }, parts[3]:totable())
    parts[2]:fill(0) -- a view
    assert.same({ 1, 2, 0, 0, 5 }, x[1]:totable())
    assert.equal(2, #x:split(1))
    assert.equal(2, #torch.split(x, 3, -1))
  end)

  it("torch.split and torch.chunk fill a given result table", function()
    local result = { "old", "entries", "go" }
    assert.equal(result, torch.split(result, T(5), 4))
    assert.equal(2, #result)
    assert.same({ 4 }, result[1]:size())
    assert.equal(result, torch.chunk(result, T(5), 5))
    assert.equal(5, #result)
  end)

  it("chunk makes at most n pieces of ceil(size / n)", function()
    local sizes = function(parts)
      local s = {}
      for i, p in ipairs(parts) do s[i] = p:size(1) end
      return s
    end
    assert.same({ 3, 2 }, sizes(T(5):chunk(2)))
    assert.same({ 2, 2, 1 }, sizes(T(5):chunk(3)))
    assert.same({ 2, 2 }, sizes(T(4):chunk(3)))
    assert.same({ 1, 1 }, sizes(T(2):chunk(5)))
    assert.same({}, sizes(T(0, 3):chunk(2)))
    assert.same({ 2, 1 }, sizes(torch.chunk(T(3, 2), 2, 1)))
  end)
end)

describe("narrow, select, t[{...}] and index agree", function()
  local function sequence(...)
    local t = T(...)
    local flat_view = t:view(t:numel())
    for i = 1, t:numel() do flat_view[i] = i end
    return t
  end

  local function same_values(a, b, what)
    assert.same(a:size(), b:size(), what .. ": shape")
    assert.same(flat(a), flat(b), what)
  end

  -- {i at dim d, {} elsewhere} and {{a, b} at dim d, {} elsewhere}
  local function key(nd, d, v)
    local k = {}
    for e = 1, nd do k[e] = e == d and v or {} end
    return k
  end

  for _, layout in ipairs { "contiguous", "transposed" } do
    it(("on a %s 3-D tensor, every dim"):format(layout), function()
      local x = sequence(3, 4, 5)
      if layout == "transposed" then x = sequence(5, 4, 3):transpose(1, 3) end
      for d = 1, 3 do
        local n = x:size(d)
        for i = 1, n do
          local selected = x:select(d, i)
          same_values(selected, x[key(3, d, i)], "select vs t[{...}]")
          local indexed = x:index(d, long { i })
          same_values(selected, indexed:squeeze(d), "select vs index")
          for len = 1, n - i + 1 do
            local range = {}
            for j = 1, len do range[j] = i + j - 1 end
            local narrowed = x:narrow(d, i, len)
            same_values(narrowed, x[key(3, d, { i, i + len - 1 })], "narrow vs t[{...}]")
            same_values(narrowed, x:index(d, long(range)), "narrow vs index")
          end
        end
      end
    end)
  end
end)

describe("bad calls", function()
  local x = T { { 1, 2, 3 }, { 4, 5, 6 } }

  it("name the index, its position and the size when an index is out of range", function()
    assert.has_error(function() x:index(1, long { 1, 3 }) end,
      "index: index 3 at position 2 is out of range for dim 1 of size 2 (indices run from 1 to 2)")
    assert.has_error(function() x:index(2, long { 0 }) end,
      "index: index 0 at position 1 is out of range for dim 2 of size 3 (indices run from 1 to 3)")
    assert.has_error(function() x:gather(2, long { { 1, 1 }, { 1, -1 } }) end,
      "gather: index -1 at position (2, 2) is out of range for dim 2 of size 3 (indices run from 1 to 3)")
    assert.has_error(function() x:clone():scatter(1, long { { 1, 1, 3 } }, 0) end,
      "scatter: index 3 at position (1, 3) is out of range for dim 1 of size 2 (indices run from 1 to 2)")
    assert.has_error(function() x:clone():indexFill(2, long { 4 }, 0) end,
      "indexFill: index 4 at position 1 is out of range for dim 2 of size 3 (indices run from 1 to 3)")
    assert.has_error(function() x:clone():indexAdd(1, long { 5 }, T { { 1, 1, 1 } }) end,
      "indexAdd: index 5 at position 1 is out of range for dim 1 of size 2 (indices run from 1 to 2)")
  end)

  it("change nothing when an index or a mask entry is bad", function()
    local y = x:clone()
    assert.has_error(function() y:indexCopy(1, long { 1, 9 }, T { { 7, 7, 7 }, { 8, 8, 8 } }) end)
    assert.has_error(function() y:scatter(2, long { { 1, 2, 3 }, { 1, 2, 4 } }, T(2, 3):fill(9)) end)
    assert.has_error(function() y:maskedFill(T.of("uint8", { { 1, 1, 1 }, { 1, 1, 2 } }), 0) end)
    assert.has_error(function() y:indexFill(2, long { 1, 2, 3, 0 }, 0) end)
    assert.same(x:totable(), y:totable())
  end)

  it("refuse indices that are not int64, and masks that are not uint8", function()
    assert.has_error(function() x:index(1, T { 1 }) end,
      "index: argument #3: indices must be a torch.LongTensor (int64), got float32 (convert with :long())")
    assert.has_error(function() x:gather(1, T.of("uint8", { { 1, 1, 1 } })) end,
      "gather: argument #3: indices must be a torch.LongTensor (int64), got uint8 (convert with :long())")
    assert.has_error(function() x:index(1, { 1 }) end,
      "index: argument #3: indices must be a torch.LongTensor, got table")
    assert.has_error(function() x:maskedSelect(T(2, 3)) end,
      "maskedSelect: argument #2: the mask must be a torch.ByteTensor (uint8), got float32 (comparisons such as x:gt(0) make one)")
    assert.has_error(function() x:clone():maskedFill(long { 1, 0, 0, 0, 0, 0 }, 1) end,
      "maskedFill: argument #2: the mask must be a torch.ByteTensor (uint8), got int64 (comparisons such as x:gt(0) make one)")
    assert.has_error(function() x:maskedSelect(T.of("uint8", { 0, 3, 0, 0, 0, 0 })) end,
      "maskedSelect: the mask holds 3 at position 2; a mask holds only 0 and 1")
    assert.has_error(function() x:index(1, long { { 1 } }) end,
      "index: argument #3: indices must be a 1-D torch.LongTensor, got shape (1, 1)")
  end)

  it("name the shapes when sizes do not match", function()
    assert.has_error(function() x:clone():indexCopy(1, long { 1 }, T(2, 3)) end,
      "indexCopy: the source has shape (2, 3); 1 indices along dim 1 of a (2, 3) tensor need (1, 3)")
    assert.has_error(function() x:gather(1, long { 1, 1, 1 }) end,
      "gather: index (3) has 1 dims but the tensor (2, 3) has 2")
    assert.has_error(function() x:gather(1, long { { 1, 1 } }) end,
      "gather: index (1, 2) and the tensor (2, 3) differ along dim 2 (2 vs 3); they may differ only along dim 1")
    assert.has_error(function() x:clone():scatter(1, long { { 1, 2, 1 }, { 2, 1, 2 } }, T(1, 3)) end,
      "scatter: the source (1, 3) must have index (2, 3)'s sizes, or more along dim 1")
    assert.has_error(function() torch.cat(x, T(3, 3), 2) end,
      "cat: tensor 2 has shape (3, 3) but tensor 1 has (2, 3): sizes must match except along dim 2")
    assert.has_error(function() torch.cat({ x, T.of("int64", { { 1, 2, 3 } }) }, 1) end,
      "cat: tensor 2 is int64 but tensor 1 is float32")
    assert.has_error(function() x:maskedSelect(T.bytes(5)) end,
      "maskedSelect: the mask (5) has 5 elements but the tensor (2, 3) has 6")
    assert.has_error(function() x:clone():maskedCopy(T.bytes(6):fill(1), T(5)) end,
      "maskedCopy: the source (5) has 5 elements but the mask has 6 ones")
    assert.has_error(function() x:clone():indexCopy(1, long { 1 }, T.of("int64", { { 1, 2, 3 } })) end,
      "indexCopy: the source is int64 but the tensor is float32 (convert with :type(x:type()))")
    assert.has_error(function() x:repeatTensor(2) end,
      "repeatTensor: 1 repeat counts for a tensor of shape (2, 3) (give at least one per dim)")
    assert.has_error(function() T():repeatTensor(2) end, "repeatTensor: cannot repeat an empty tensor")
  end)

  it("check dims, values and result types", function()
    assert.has_error(function() x:index(3, long { 1 }) end,
      "index: dim 3 out of range for a 2-D tensor (1..2, or negative from the end)")
    assert.has_error(function() torch.cat(x, x, 0) end,
      "cat: dim 0 out of range (1..8, or negative from the end of the 2-D inputs)")
    assert.has_error(function() T.bytes(3):indexFill(1, long { 1 }, 256) end,
      "indexFill: value 256 does not fit a uint8 tensor")
    assert.has_error(function() T.of("int64", { 1 }):maskedFill(T.bytes(1), 1.5) end,
      "maskedFill: value 1.5 does not fit a int64 tensor")
    assert.has_error(function() T.bytes(2):scatter(1, long { 1 }, -1) end,
      "scatter: value -1 does not fit a uint8 tensor")
    assert.has_error(function() T.empty("int64", 1):index(x, 1, long { 1 }) end,
      "index: the result tensor is int64 but the result is float32")
    assert.has_error(function() T(2):nonzero(T(2)) end,
      "nonzero: the result tensor is float32 but the result is int64")
    assert.has_error(function() torch.cat({}) end, "cat: the list of tensors is empty")
    assert.has_error(function() torch.cat({ x, 3 }) end, "cat: element 2 of the list is number, expected a tensor")
    assert.has_error(function() x:split(0) end, "split: size must be a whole number >= 1, got 0")
    assert.has_error(function() x:split(1, 3) end, "split: dim 3 out of range for a 2-D tensor")
    assert.has_error(function() x:chunk(0) end, "chunk: the number of chunks must be a whole number >= 1, got 0")
  end)
end)
