-- Reductions, scans and sorts (csrc/tensor/tensor_reduce.c) in Torch7's forms, against NumPy
-- (spec/fixtures/make_tensor_reduce_fixtures.py -> tensor_reduce.json) and hand-computed cases.
local cjson = require "cjson"
local T = require "mnist.tensor"
local torch = require "mnist.torch"
local core = require "mnist.core"

local unpack = unpack or table.unpack
local NAN = 0 / 0

local read_json = require("spec.support.helpers").read_json

local function number(v)
  if v == "nan" then return NAN end
  if v == "inf" then return math.huge end
  if v == "-inf" then return -math.huge end
  return v
end

-- The fixture's input i: its contiguous base, then the view (so strides are the view's).
local function build(input)
  local values = {}
  for k, v in ipairs(input.values) do values[k] = number(v) end
  local x = T(values):view(input.base)
  local view = input.view
  if view and view.transpose then x = x:transpose(view.transpose[1], view.transpose[2]) end
  if view and view.narrow then x = x:narrow(unpack(view.narrow)) end
  if view and view.expand then x = x:expand(unpack(view.expand)) end
  return x
end

local function flat(t)
  if t:numel() == 0 then return {} end
  return t:contiguous():view(-1):totable()
end

local function close(got, want)
  if want ~= want then return got ~= got end
  if math.abs(want) == math.huge then return got == want end
  return math.abs(got - want) <= 2e-6 * math.max(1, math.abs(want))
end

local function assert_values(got, want, what)
  assert.equal(#want, #got, what .. ": element count")
  for k = 1, #want do
    local w = number(want[k])
    assert(close(got[k], w), ("%s: element %d is %.9g, expected %.9g"):format(what, k, got[k], w))
  end
end

-- The shape a case's result must have.
local function result_shape(x, op, args)
  local shape = x:size()
  local dim = op == "topk" and args[2] or op == "kthvalue" and args[2] or op == "norm" and args[2] or args[1]
  if op == "cumsum" or op == "cumprod" or op == "sort" then return shape end
  dim = dim < 0 and #shape + 1 + dim or dim
  shape[dim] = op == "topk" and args[1] or 1
  return shape
end

describe("tensor reductions against NumPy", function()
  local fixture = read_json("spec/fixtures/tensor_reduce.json")
  local inputs = {}
  for i, input in ipairs(fixture.inputs) do inputs[i - 1] = build(input) end

  it("builds the inputs the fixture describes (contiguous, transposed, narrowed, expanded)", function()
    local kinds = {}
    for i, input in ipairs(fixture.inputs) do
      local x = inputs[i - 1]
      assert.same(input.shape, x:size())
      kinds[input.view and next(input.view) or "contiguous"] = true
      if input.view then assert.is_false(x:isContiguous() and not input.view.narrow) end
    end
    assert.same({ contiguous = true, transpose = true, narrow = true, expand = true }, kinds)
  end)

  local by_op = {}
  for _, c in ipairs(fixture.cases) do
    by_op[c.op] = by_op[c.op] or {}
    table.insert(by_op[c.op], c)
  end
  local ops = {}
  for op in pairs(by_op) do ops[#ops + 1] = op end
  table.sort(ops)

  for _, op in ipairs(ops) do
    it(op .. " over every dim and over all elements of 1-D..4-D inputs", function()
      local checked = 0
      for _, c in ipairs(by_op[op]) do
        local x = inputs[c.input]
        local args = {}
        for k, a in ipairs(c.args) do args[k] = number(a) end
        local what = ("%s%s of input %d %s"):format(op, cjson.encode(c.args), c.input, T.shape_str(x))
        local values, indices = x[op](x, unpack(args))
        local over_all = (op ~= "norm" and (#args == 0 or type(args[1]) == "boolean"))
          or (op == "norm" and #args < 2)
        if over_all then
          assert.is_number(values, what)
          assert_values({ values }, c.values, what)
          if c.indices then assert.same(c.indices, { indices }, what) end
        else
          assert.same(result_shape(x, op, args), values:size(), what)
          assert.equal("float32", values:dtype())
          assert_values(flat(values), c.values, what)
          if c.indices then
            assert.equal("int64", indices:dtype(), what)
            assert.same(c.indices, flat(indices), what)
          end
        end
        checked = checked + 1
      end
      assert.is_true(checked > 0)
    end)
  end
end)

describe("tensor reductions, by hand", function()
  local t = T { { 1, 5, 2 }, { 7, 7, -1 } }

  it("x:sum() is a number; x:sum(dim) keeps the dim at size 1; negative dims count from the end", function()
    assert.equal(21, t:sum())
    assert.equal(3.5, t:mean())
    assert.same({ { 8, 12, 1 } }, t:sum(1):totable())
    assert.same({ { 8 }, { 13 } }, t:sum(2):totable())
    assert.same({ { 8 }, { 13 } }, t:sum(-1):totable())
    assert.same({ { 8, 12, 1 } }, t:sum(-2):totable())
    assert.same({ { 7, 35, -2 } }, t:prod(1):totable())
  end)

  it("max and min: values and 1-based int64 indices, the first on ties", function()
    local v, i = t:max(2)
    assert.same({ { 5 }, { 7 } }, v:totable())
    assert.same({ { 2 }, { 1 } }, i:totable())
    assert.equal("int64", i:dtype())
    v, i = t:min(1)
    assert.same({ { 1, 5, -1 } }, v:totable())
    assert.same({ { 1, 1, 2 } }, i:totable())
    local m, at = t:max() -- a number, and the 1-based row-major index
    assert.equal(7, m)
    assert.equal(4, at)
    m, at = t:min()
    assert.equal(-1, m)
    assert.equal(6, at)
  end)

  it("max and min return the first NaN", function()
    local n = T { 1, NAN, 3, NAN }
    local m, at = n:max()
    assert.is_true(m ~= m)
    assert.equal(2, at)
    m, at = n:min()
    assert.is_true(m ~= m)
    assert.equal(2, at)
    local v, i = T { { 1, 2 }, { NAN, 0 } }:max(2)
    assert.equal(2, v[1][1])
    assert.is_true(v[2][1] ~= v[2][1])
    assert.same({ { 2 }, { 1 } }, i:totable())
  end)

  it("var and std: n - 1 by default, n with Torch7's flag", function()
    local x = T { { 1, 2, 3, 4 }, { 2, 2, 2, 2 } }
    -- row 1: mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert.near(5 / 3, x:var(2)[1][1], 1e-6)
    assert.near(5 / 4, x:var(2, true)[1][1], 1e-6)
    assert.near(math.sqrt(5 / 3), x:std(2)[1][1], 1e-6)
    assert.near(math.sqrt(5 / 4), x:std(2, true)[1][1], 1e-6)
    assert.equal(0, x:var(2)[2][1])
    -- over all: mean 2.25, squared deviations 5 + 4 * 0.0625 + (0.0625 * 4 .. of the first row)
    local all = { 1, 2, 3, 4, 2, 2, 2, 2 }
    local ss = 0
    for _, v in ipairs(all) do ss = ss + (v - 2.25) ^ 2 end
    assert.near(ss / 7, x:var(), 1e-9)
    assert.near(ss / 8, x:var(true), 1e-9)
    assert.near(math.sqrt(ss / 8), x:std(true), 1e-9)
    -- one element: n - 1 = 0 gives NaN (as Torch7 and NumPy), the biased estimate 0
    local one = T { 3 }
    assert.is_true(one:var() ~= one:var())
    assert.equal(0, one:var(true))
  end)

  it("norm: p = 2 by default, p = 1, 0 (non-zeros), math.huge (max |x|), any p; over a dim", function()
    local x = T { { 3, -4, 0 }, { 1, 1, -1 } }
    assert.near(math.sqrt(28), x:norm(), 1e-6)
    assert.equal(10, x:norm(1))
    assert.equal(5, x:norm(0))
    assert.equal(4, x:norm(math.huge))
    assert.near((27 + 64 + 3) ^ (1 / 3), x:norm(3), 1e-5)
    assert.equal(5, x:norm(2, 2)[1][1])
    assert.near(math.sqrt(3), x:norm(2, 2)[2][1], 1e-6)
    assert.same({ { 4, 5, 1 } }, x:norm(1, 1):totable())
  end)

  it("cumsum and cumprod along a dim (dim 1 by default, as Torch7's)", function()
    assert.same({ { 1, 6, 8 }, { 7, 14, 13 } }, t:cumsum(2):totable())
    assert.same({ { 1, 5, 2 }, { 8, 12, 1 } }, t:cumsum():totable())
    assert.same({ { 1, 5, 10 }, { 7, 49, -49 } }, t:cumprod(2):totable())
  end)

  it("sort: stable, ascending by default, NaN after every number (before them descending)", function()
    local x = T { 3, 1, NAN, 1, 2 }
    local v, i = x:sort()
    assert.same({ 1, 1, 2, 3 }, { v[1], v[2], v[3], v[4] })
    assert.is_true(v[5] ~= v[5])
    assert.same({ 2, 4, 5, 1, 3 }, i:totable())
    v, i = x:sort(true) -- descending, Torch7's sort(x, true) with the default dim
    assert.is_true(v[1] ~= v[1])
    assert.same({ 3, 1, 5, 2, 4 }, i:totable())
    v, i = x:sort(1, true)
    assert.same({ 3, 1, 5, 2, 4 }, i:totable())
    v, i = t:sort() -- the last dim by default
    assert.same({ { 1, 2, 5 }, { -1, 7, 7 } }, v:totable())
    assert.same({ { 1, 3, 2 }, { 3, 1, 2 } }, i:totable())
  end)

  it("topk: Torch7's order topk(k, dim, dir, sort), the k smallest unless dir is true", function()
    local x = T { 4, 1, 3, 1, 5 }
    local v, i = x:topk(2)
    assert.same({ 1, 1 }, v:totable())
    assert.same({ 2, 4 }, i:totable())
    v, i = x:topk(2, 1, true)
    assert.same({ 5, 4 }, v:totable())
    assert.same({ 5, 1 }, i:totable())
    v, i = x:topk(3, true) -- dir in dim's place, as sort(x, true)
    assert.same({ 5, 4, 3 }, v:totable())
    v, i = x:topk(0)
    assert.same({ 0 }, v:size())
  end)

  it("kthvalue and median (Torch7's lower median) along the last dim by default", function()
    local x = T { { 4, 1, 3, 2 }, { 9, 9, 8, 7 } }
    local v, i = x:median()
    assert.same({ { 2 }, { 8 } }, v:totable()) -- even n: the 2nd smallest of 4
    assert.same({ { 4 }, { 3 } }, i:totable())
    v, i = x:kthvalue(3)
    assert.same({ { 3 }, { 9 } }, v:totable())
    assert.same({ { 3 }, { 1 } }, i:totable()) -- ties: the first in the stable order
    v, i = x:kthvalue(1, 1)
    assert.same({ { 4, 1, 3, 2 } }, v:totable())
    assert.same({ { 1, 1, 1, 1 } }, i:totable())
    v = T { 5, 1, 3 }:median()
    assert.equal(3, v[1])
  end)

  it("mode: the most frequent value (the smallest on ties) and its first index", function()
    local x = T { { 3, 1, 3, 1, 2 }, { 5, 4, 4, 5, 5 } }
    local v, i = x:mode()
    assert.same({ { 1 }, { 5 } }, v:totable())
    assert.same({ { 2 }, { 1 } }, i:totable())
    v, i = torch.mode(x, 1)
    assert.same({ { 3, 1, 3, 1, 2 } }, v:totable())
  end)

  it("any and all of uint8 masks return booleans", function()
    assert.is_true(t:gt(6):any())
    assert.is_false(t:gt(6):all())
    assert.is_true(t:gt(-2):all())
    assert.is_false(t:gt(7):any())
    assert.is_false(T.bytes(0):any())
    assert.is_true(T.bytes(0):all())
    assert.is_true(t:t():gt(6):any()) -- a strided mask
  end)

  it("x:sum() of uint8 and int64 tensors counts exactly (a mask's sum)", function()
    assert.equal(4, t:gt(1):sum())
    assert.equal(3, torch.LongTensor { 1, 2 }:sum())
    assert.equal(1.5, torch.LongTensor { 1, 2 }:mean())
  end)

  it("argmax: the project's helper over the last dim, 1-based, first on ties", function()
    assert.same({ 2, 1 }, t:argmax())
    assert.equal(3, T { 0, 1, 9, 9 }:argmax())
    assert.same({ 2, 1 }, T { { { 0, 3 }, { 4, 4 } } }:argmax())
    assert.equal(2, T { 1, NAN, 3 }:argmax())
    assert.same({ 2, 2, 1 }, t:t():argmax()) -- a strided input
  end)
end)

describe("tensor reduction edge cases", function()
  it("empty tensors and size-0 dims", function()
    local e = T()
    assert.equal(0, e:sum())
    assert.equal(1, e:prod())
    assert.is_true(e:mean() ~= e:mean())
    local z = T(0, 3)
    assert.same({ { 0, 0, 0 } }, z:sum(1):totable())
    assert.same({ { 1, 1, 1 } }, z:prod(1):totable())
    local m = z:mean(1)
    assert.is_true(m[1][1] ~= m[1][1])
    assert.same({ 0, 1 }, z:sum(2):size())
    assert.same({ 0, 3 }, z:cumsum(1):size())
    local v, i = z:sort(1)
    assert.same({ 0, 3 }, v:size())
    assert.same({ 0, 3 }, i:size())
    v, i = z:max(2)
    assert.same({ 0, 1 }, v:size())
    assert.has_error(function() z:max(1) end, "max: dim 1 of (0, 3) has size 0: no maximum")
    assert.has_error(function() z:median(1) end, "median: dim 1 of (0, 3) has size 0: no median")
    assert.has_error(function() e:max() end, "max: the tensor () has no elements")
    assert.has_error(function() T.zeros(0):min() end, "min: the tensor (0) has no elements")
  end)

  it("single elements", function()
    local one = T { { 2.5 } }
    assert.equal(2.5, one:sum())
    assert.same({ { 2.5 } }, one:sum(1):totable())
    local v, i = one:max(2)
    assert.same({ { 2.5 } }, v:totable())
    assert.same({ { 1 } }, i:totable())
    v, i = one:sort(1)
    assert.same({ { 1 } }, i:totable())
    assert.same({ { 2.5 } }, one:median(1):totable())
  end)
end)

describe("tensor reduction result forms", function()
  local x = T { { 1, 2, 3 }, { 4, 5, 6 } }

  it("torch.f(x, dim) and x:f(dim) agree", function()
    assert.same(x:sum(2):totable(), torch.sum(x, 2):totable())
    assert.equal(21, torch.sum(x))
    local v, i = torch.max(x, 1)
    assert.same({ { 4, 5, 6 } }, v:totable())
    assert.same({ { 2, 2, 2 } }, i:totable())
    v, i = torch.sort(x, 2, true)
    assert.same({ { 3, 2, 1 }, { 6, 5, 4 } }, v:totable())
    assert.same({ { 3 }, { 6 } }, torch.kthvalue(x, 3):totable())
    assert.same({ { 2.5, 3.5, 4.5 } }, torch.mean(x, 1):totable())
  end)

  it("torch.sum(res, x, dim) resizes res; a res of the right shape is written through its strides", function()
    local res = T(7)
    assert.equal(res, torch.sum(res, x, 2))
    assert.same({ { 6 }, { 15 } }, res:totable())
    local big = T(3, 4):fill(-1)
    local col = big:narrow(2, 2, 1):narrow(1, 1, 2) -- (2, 1) with a row stride of 4
    res = x:sum(2)
    col:sum(x, 2) -- the method form of the same call
    assert.same({ { -1, 6, -1, -1 }, { -1, 15, -1, -1 }, { -1, -1, -1, -1 } }, big:totable())
    assert.same(res:totable(), col:totable())
  end)

  it("torch.max(resval, resind, x, dim) fills the given tensors", function()
    local v, i = T(), torch.LongTensor()
    local rv, ri = torch.max(v, i, x, 2)
    assert.equal(v, rv)
    assert.equal(i, ri)
    assert.same({ { 3 }, { 6 } }, v:totable())
    assert.same({ { 3 }, { 3 } }, i:totable())
    torch.min(v, i, x, 1)
    assert.same({ { 1, 2, 3 } }, v:totable())
    torch.sort(v, i, x, 2, true)
    assert.same({ { 3, 2, 1 }, { 6, 5, 4 } }, v:totable())
    torch.topk(v, i, x, 1, 2, true)
    assert.same({ { 3 }, { 6 } }, v:totable())
    torch.cumsum(v, x, 2)
    assert.same({ { 1, 3, 6 }, { 4, 9, 15 } }, v:totable())
  end)

  it("a result that is the input itself reads a copy", function()
    local y = x:clone()
    torch.cumsum(y, y, 2)
    assert.same({ { 1, 3, 6 }, { 4, 9, 15 } }, y:totable())
    y = x:clone()
    torch.sum(y, y, 1)
    assert.same({ { 5, 7, 9 } }, y:totable())
  end)
end)

describe("tensor reduction errors name the function, the argument and the shapes", function()
  local x = T { { 1, 2, 3 }, { 4, 5, 6 } }

  it("refuses bad dims, types and counts", function()
    assert.has_error(function() x:sum(3) end, "sum: dim 3 out of range for a 2-D tensor (1..2, or negative from the end)")
    assert.has_error(function() x:max(0) end, "max: dim 0 out of range for a 2-D tensor (1..2, or negative from the end)")
    assert.has_error(function() x:sort(-3) end, "sort: dim -3 out of range for a 2-D tensor (1..2, or negative from the end)")
    assert.has_error(function() x:long():sum(1) end, "sum: expected a float32 tensor, got int64 (convert it with :float())")
    assert.has_error(function() x:long():max() end, "max: expected a float32 tensor, got int64 (convert it with :float())")
    assert.has_error(function() x:long():std() end, "std: expected a float32 tensor, got int64 (convert it with :float())")
    assert.has_error(function() x:topk(4, 2) end, "topk: k = 4 is out of range for dim 2 of (2, 3) (0..3)")
    assert.has_error(function() x:kthvalue(0) end, "kthvalue: k = 0 is out of range for dim 2 of (2, 3) (1..3)")
    assert.has_error(function() x:any() end, "any: expected a uint8 mask (as x:gt(0) gives), got float32")
    assert.has_error(function() x:sum("2") end, "sum: dim must be a number, got string")
    assert.has_error(function() x:max(x) end, "max: expected (dim) or (resind, x, dim), got a tensor and nil (element-wise: cmax)")
    assert.has_error(function() torch.sum(nil) end, "torch.sum: expected a tensor, got nil")
    assert.has_error(function() torch.max(T(), T(), x, 1) end, "max: the indices must be int64, got float32")
  end)
end)

describe("tensor reductions of large tensors (the parallel and by-row paths)", function()
  -- a reference in Lua doubles, independent of the C code
  local rows, cols = 300, 701
  local x = T(rows, cols)
  local ref_cols, ref_rows = {}, {}
  do
    local flat = x:view(-1)
    local v = 0.37
    for k = 1, rows * cols do
      v = (v * 3.7 + 0.123) % 1
      flat[k] = v - 0.5
    end
    local data = x:totable()
    for j = 1, cols do ref_cols[j] = 0 end
    for r = 1, rows do
      local s = 0
      for j = 1, cols do
        s = s + data[r][j]
        ref_cols[j] = ref_cols[j] + data[r][j]
      end
      ref_rows[r] = s
    end
  end

  it("sum(1) and sum(2) of a matrix and of its transpose match a double reference", function()
    local s1, s2 = flat(x:sum(1)), flat(x:sum(2))
    for j = 1, cols do assert(math.abs(s1[j] - ref_cols[j]) < 1e-5, j) end
    for r = 1, rows do assert(math.abs(s2[r] - ref_rows[r]) < 1e-4, r) end
    local t1, t2 = flat(x:t():sum(2)), flat(x:t():sum(1))
    assert.same(s1, t1) -- the same sums in the same order: bitwise equal
    for r = 1, rows do assert(math.abs(t2[r] - ref_rows[r]) < 1e-4, r) end
  end)

  it("results are bitwise the same at every call and the same with 1 thread for per-dim sums", function()
    local threads = core.blas_info().threads
    local a, b, all = flat(x:sum(1)), flat(x:sum(2)), x:sum()
    for _ = 1, 3 do
      assert.same(a, flat(x:sum(1)))
      assert.same(b, flat(x:sum(2)))
      assert.equal(all, x:sum())
    end
    core.blas_set_threads(1)
    local ok, err = pcall(function()
      assert.same(a, flat(x:sum(1)))
      assert.same(b, flat(x:sum(2)))
      assert.near(all, x:sum(), 1e-9)
      local v1, i1 = x:max(1)
      core.blas_set_threads(threads)
      local v2, i2 = x:max(1)
      assert.same(flat(v1), flat(v2))
      assert.same(flat(i1), flat(i2))
    end)
    core.blas_set_threads(threads)
    assert(ok, err)
  end)

  it("max over all elements of a large tensor finds the first maximum across the parallel parts", function()
    local big = T(200000):fill(1)
    big[150001] = 7
    big[190000] = 7
    local v, i = big:max()
    assert.equal(7, v)
    assert.equal(150001, i)
    big[199999] = NAN
    v, i = big:max()
    assert.is_true(v ~= v)
    assert.equal(199999, i)
  end)

  it("sums in double precision", function()
    local big = T.ones(1000000):mul(0.1)
    assert.is_true(math.abs(big:sum() - 100000) < 1e-2)
    assert.is_true(math.abs(big:view(1000, 1000):sum(1):sum() - 100000) < 1e-2)
  end)
end)
