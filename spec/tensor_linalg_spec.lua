-- Matrix products (Torch7's mm, mv, ger, dot, addmm, addmv, addr, bmm, baddbmm, addbmm) on
-- contiguous and strided operands, against spec/fixtures/tensor_linalg.json (PyTorch, float64;
-- spec/fixtures/make_tensor_linalg_fixtures.py), plus hand-computed and naive-loop references.
local torch = require "mnist.torch"
local core = require "mnist.core"

local H = require "spec.support.helpers"

local fixture = H.read_json("spec/fixtures/tensor_linalg.json")

-- A fixture operand: its base tensor and its view.
local function build(spec)
  local base
  if #spec.values == 0 then base = torch.zeros(spec.shape)
  else base = torch.Tensor(spec.values):view(spec.shape) end
  return base, H.view_steps(base, spec.view)
end


local function flat(t)
  if t:numel() == 0 then return {} end
  local out, c = {}, t:contiguous():view(t:numel())
  for i = 1, t:numel() do out[i] = c[i] end
  return out
end

local function assert_values(expected, got, what)
  assert.same(expected.shape, got:size(), what .. ": shape")
  local v = flat(got)
  for i, want in ipairs(expected.values) do
    assert.near(want, v[i], 1e-5 * math.max(1, math.abs(want)), what .. ": element " .. i)
  end
end

local function check_error(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.truthy(tostring(err):find(pattern, 1, true), ("error %q does not contain %q"):format(tostring(err), pattern))
end

describe("tensor linear algebra against PyTorch (fixture)", function()
  for _, c in ipairs(fixture.cases) do
    it(c.name, function()
      local args, bases, snapshots = {}, {}, {}
      for i, a in ipairs(c.args) do
        if a.number then args[i] = a.number
        else
          bases[i], args[i] = build(a.tensor)
          snapshots[i] = flat(bases[i])
        end
      end
      local n = #c.args
      if c.op == "dot" then
        assert.near(c.expected, torch.dot(args[1], args[2]), 1e-5)
        assert.near(c.expected, args[1]:dot(args[2]), 1e-5)
        return
      end
      if c.res then
        local rbase, res = build(c.res)
        local same_shape = res:isSameSizeAs(torch.zeros(c.expected.shape))
        local ret = res[c.op](res, unpack(args, 1, n))
        assert.equal(res, ret)
        assert_values(c.expected, res, "res:" .. c.op)
        if same_shape then -- written in place: the base tensor holds the result
          assert_values(c.expected, H.view_steps(rbase, c.res.view), "res:" .. c.op .. " (its base)")
        end
      else
        assert_values(c.expected, torch[c.op](unpack(args, 1, n)), "torch." .. c.op)
        local res = torch.Tensor()
        assert.equal(res, torch[c.op](res, unpack(args, 1, n)))
        assert_values(c.expected, res, "torch." .. c.op .. "(res, ...)")
      end
      for i, base in pairs(bases) do -- the operands are read, never written
        assert.same(snapshots[i], flat(base), "operand " .. i .. " unchanged")
      end
    end)
  end
end)

-- Naive double-precision reference: c[i][j] = sum_k a[i][k] * b[k][j].
local function naive_mm(a, b)
  local at, bt = a:totable(), b:totable()
  local m, k, n = a:size(1), a:size(2), b:size(2)
  local c = {}
  for i = 1, m do
    local row = {}
    for j = 1, n do
      local s = 0
      for l = 1, k do s = s + at[i][l] * bt[l][j] end
      row[j] = s
    end
    c[i] = row
  end
  return c
end

local function assert_close(want, got, tol, what)
  local g = got:totable()
  for i = 1, #want do
    for j = 1, #want[i] do
      assert(math.abs(want[i][j] - g[i][j]) <= tol * math.max(1, math.abs(want[i][j])),
        ("%s: (%d, %d) %.9g vs %.9g"):format(what, i, j, want[i][j], g[i][j]))
    end
  end
end

describe("tensor linear algebra: larger products against naive loops", function()
  it("mm with kernel tails, transposed and narrowed operands", function()
    torch.manualSeed(1)
    local a = torch.randn(67, 45)
    local bt = torch.randn(40, 50) -- b = bt:t() narrowed to (45, 33)... built below
    local b = bt:t():narrow(1, 3, 45):narrow(2, 5, 33)
    assert.is_false(b:isContiguous())
    assert_close(naive_mm(a, b), torch.mm(a, b), 1e-5, "mm")
    assert_close(naive_mm(a:t():contiguous():t(), b), a:t():contiguous():t() * b, 1e-5, "a:t() operand")
  end)

  it("bmm over many small matrices (one per thread) and a few large ones (gemm's split)", function()
    torch.manualSeed(2)
    for _, dims in ipairs { { 9, 17, 23, 11 }, { 3, 130, 120, 140 } } do
      local B, m, k, n = unpack(dims)
      local a, b = torch.randn(B, m, k), torch.randn(B, n, k):transpose(2, 3)
      local c = torch.bmm(a, b)
      for i = 1, B do
        assert_close(naive_mm(a[i], b[i]), c[i], 1e-4, ("bmm matrix %d of (%d, %d, %d, %d)"):format(i, B, m, k, n))
      end
    end
  end)

  it("gives bitwise the same products on 1 and 2 threads", function()
    torch.manualSeed(3)
    local a, b = torch.randn(12, 40, 50), torch.randn(12, 50, 30)
    local x, y = torch.randn(200, 150), torch.randn(150, 170):t():contiguous():t()
    local threads = torch.getnumthreads()
    torch.setnumthreads(1)
    local c1, m1, d1 = torch.bmm(a, b), torch.mm(x, y), x:dot(x)
    torch.setnumthreads(2)
    local c2, m2, d2 = torch.bmm(a, b), torch.mm(x, y), x:dot(x)
    torch.setnumthreads(threads)
    assert.equal(c1:tobytes(), c2:tobytes())
    assert.equal(m1:tobytes(), m2:tobytes())
    assert.equal(d1, d2)
  end)
end)

describe("tensor linear algebra: Torch7's forms and hand-computed cases", function()
  local A = torch.Tensor { { 1, 2 }, { 3, 4 } }
  local B = torch.Tensor { { 5, 6 }, { 7, 8 } }

  it("Torch7's documented examples (addmv, addr)", function()
    local x = torch.Tensor(3):fill(0)
    local M = torch.Tensor(3, 2):fill(3)
    local y = torch.Tensor(2):fill(2)
    x:addmv(M, y)
    assert.same({ 12, 12, 12 }, x:totable())
    local u, v = torch.range(1, 3), torch.range(1, 2)
    local R = torch.Tensor(3, 2):zero()
    R:addr(u, v)
    assert.same({ { 1, 2 }, { 2, 4 }, { 3, 6 } }, R:totable())
    R:addr(2, 1, u, v)
    assert.same({ { 3, 6 }, { 6, 12 }, { 9, 18 } }, R:totable())
    local A32 = torch.range(1, 6):resize(3, 2)
    R:addr(2, A32, 1, u, v)
    assert.same({ { 3, 6 }, { 8, 12 }, { 13, 18 } }, R:totable())
  end)

  it("the * operator: dot, mv and mm", function()
    assert.same({ { 19, 22 }, { 43, 50 } }, (A * B):totable())
    assert.same({ 17, 39 }, (A * torch.Tensor { 5, 6 }):totable())
    assert.equal(11, torch.Tensor { 1, 2 } * torch.Tensor { 3, 4 })
    assert.same({ { 26, 30 }, { 38, 44 } }, (A:t() * B):totable())
    check_error("tensor *: a matrix product takes 1-D or 2-D tensors", function() return torch.zeros(2, 2, 2) * A end)
  end)

  it("beta 0 never reads M or res (NaNs do not spread)", function()
    local nan = torch.Tensor(2, 2):fill(0 / 0)
    assert.same({ { 19, 22 }, { 43, 50 } }, torch.addmm(0, nan, 1, A, B):totable())
    local res = torch.Tensor(2, 2):fill(0 / 0)
    assert.same({ { 19, 22 }, { 43, 50 } }, res:mm(A, B):totable())
    local v = torch.Tensor(2):fill(0 / 0)
    assert.same({ 17, 39 }, v:mv(A, torch.Tensor { 5, 6 }):totable())
  end)

  it("res may be an operand: x:mm(x, x), x:addmm(x, x), a:mm(a, b) resizing a", function()
    local x = A:clone()
    x:mm(x, x)
    assert.same({ { 7, 10 }, { 15, 22 } }, x:totable())
    x = A:clone()
    x:addmm(x, x) -- x + x @ x
    assert.same({ { 8, 12 }, { 18, 26 } }, x:totable())
    local a = torch.Tensor { { 1, 2, 3 } }
    a:mm(a, torch.Tensor { { 1 }, { 1 }, { 1 } })
    assert.same({ { 6 } }, a:totable())
    local t = A:clone()
    t:t():mm(A, B) -- into a transposed view of an operand-free res
    assert.same({ { 19, 43 }, { 22, 50 } }, t:totable())
    local col = torch.Tensor { { 1, 0 }, { 0, 1 } }
    col:addmm(col:t(), col) -- res overlaps both operands
    assert.same({ { 2, 0 }, { 0, 2 } }, col:totable())
  end)

  it("reads transposed, narrowed and batch-expanded operands in place (no copy)", function()
    torch.manualSeed(4)
    local a, b = torch.randn(6, 5), torch.randn(7, 6)
    local before = core.linalg_copies()
    torch.mm(a:t(), b:t())                                  -- (5, 6) @ (6, 7), both columns contiguous
    torch.mm(a:narrow(2, 2, 3):t(), b:t():narrow(2, 1, 3)) -- narrowed and transposed
    torch.Tensor(7, 5):t():mm(a:t(), b:t())                 -- into a transposed res
    torch.mv(a, b[{ {}, 2 }]:narrow(1, 1, 5))               -- a column of b as the vector
    torch.addr(torch.zeros(6, 6), a[{ {}, 1 }], b[1])        -- a column and a row
    torch.bmm(torch.randn(1, 4, 6):expand(3, 4, 6), torch.randn(3, 7, 6):transpose(2, 3))
    torch.Tensor(2, 7):fill(1):addmm(a:t():narrow(1, 2, 2), b:t()) -- in place
    assert.equal(before, core.linalg_copies())
    -- layouts sgemm cannot read (an expanded matrix, every other column) are copied once each
    torch.mm(torch.randn(1, 6):expand(4, 6), a:select(2, 1):view(6, 1))
    torch.mm(torch.randn(3, 12):view(3, 6, 2):select(3, 1), a)
    assert.equal(before + 2, core.linalg_copies())
  end)

  it("single elements and empty products", function()
    assert.same({ { 6 } }, torch.mm(torch.Tensor { { 2 } }, torch.Tensor { { 3 } }):totable())
    assert.same({ 2, 3 }, torch.mm(torch.zeros(2, 0), torch.zeros(0, 3)):size())
    assert.equal(0, torch.mm(torch.zeros(2, 0), torch.zeros(0, 3)):abs():sum())
    assert.same({ 0, 3 }, torch.mm(torch.zeros(0, 4), torch.zeros(4, 3)):size())
    assert.same({ 0, 2, 5 }, torch.bmm(torch.zeros(0, 2, 3), torch.zeros(0, 3, 5)):size())
    assert.equal(0, torch.dot(torch.Tensor(0), torch.Tensor(0)))
  end)
end)

describe("tensor linear algebra: bad calls", function()
  it("names the function, the arguments and the shapes", function()
    local a, b = torch.zeros(2, 3), torch.zeros(4, 5)
    check_error("mm: size mismatch: mat1 (2, 3) @ mat2 (4, 5) (3 columns vs 4 rows)", torch.mm, a, b)
    check_error("mm: mat1 (2, 3) is int64; matrix products take float32 tensors", torch.mm, a:long(), b)
    check_error("mm: mat2 must be 2-D, got (3)", torch.mm, a, torch.zeros(3))
    check_error("mv: vec must be 1-D, got (3, 1)", torch.mv, a, torch.zeros(3, 1))
    check_error("mv: size mismatch: mat (2, 3) @ vec (4) (3 columns vs 4 rows)", torch.mv, a, torch.zeros(4))
    check_error("addmm: M has shape (3, 3), expected (2, 5) for mat1 (2, 4) and mat2 (4, 5)",
      torch.addmm, torch.zeros(3, 3), torch.zeros(2, 4), b)
    check_error("addmm: M has shape (2, 2), expected (2, 5)", function()
      torch.zeros(2, 2):addmm(torch.zeros(2, 4), b)
    end)
    check_error("addmv: vec1 has shape (3), expected (2)", torch.addmv, torch.zeros(3), a, torch.zeros(3))
    check_error("addr: M has shape (2, 2), expected (2, 3)", torch.addr, torch.zeros(2, 2), torch.zeros(2), torch.zeros(3))
    check_error("bmm: batch sizes differ: batch1 (2, 3, 4), batch2 (3, 4, 5)", torch.bmm, torch.zeros(2, 3, 4), torch.zeros(3, 4, 5))
    check_error("bmm: batch1 must be 3-D, got (3, 4)", torch.bmm, torch.zeros(3, 4), torch.zeros(3, 4, 5))
    check_error("baddbmm: M has shape (2, 3, 4), expected (2, 3, 5)", torch.baddbmm, torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 4, 5))
    check_error("dot: size mismatch: tensor1 (2, 3) has 6 elements, tensor2 (5) has 5", torch.dot, a, torch.zeros(5))
    check_error("dot: tensor2 (6) is int64", torch.dot, a, torch.zeros(6):long())
    check_error("mm: res (2) is uint8", function() torch.ByteTensor(2):mm(a, torch.zeros(3, 2)) end)
    check_error("mm: expected res:mm(mat1, mat2), got table and nil", function() torch.Tensor():mm({}) end)
    check_error("addmm: expected res:addmm([v1,] [M,] [v2,] mat1, mat2)", function()
      torch.zeros(2, 5):addmm(1, 2, 3, torch.zeros(2, 4), b)
    end)
  end)
end)
