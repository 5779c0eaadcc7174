local mnist = require "mnist"
local T = mnist.tensor

local function shape(t) return t:size() end

describe("tensor construction", function()
  it("makes zeros from a shape", function()
    local t = T(2, 3)
    assert.same({ 2, 3 }, shape(t))
    assert.equal(2, t:dim())
    assert.equal(6, t:numel())
    assert.equal("float32", t:dtype())
    assert.equal(0, t:sum())
  end)

  it("accepts a shape table in zeros/ones", function()
    assert.same({ 4, 1, 2 }, shape(T.zeros { 4, 1, 2 }))
    assert.equal(6, T.ones(2, 3):sum())
  end)

  it("builds from nested tables in row-major order", function()
    local t = T { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.same({ 2, 3 }, shape(t))
    assert.equal(2, t:get(1, 2))
    assert.equal(4, t:get(2, 1))
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
  end)

  it("builds 4-D tensors from nested tables", function()
    local t = T { { { { 1, 2 }, { 3, 4 } } }, { { { 5, 6 }, { 7, 8 } } } }
    assert.same({ 2, 1, 2, 2 }, shape(t))
    assert.equal(7, t:get(2, 1, 2, 1))
  end)

  it("stores float32 (rounding doubles)", function()
    local t = T { 0.1 }
    assert.not_equal(0.1, t[1])
    assert.is_true(math.abs(t[1] - 0.1) < 1e-8)
  end)

  it("rejects ragged, empty, too deep and non-numeric tables", function()
    assert.has_error(function() T { { 1, 2 }, { 3 } } end,
      "tensor: ragged table: a row at depth 2 has 1 elements, expected 2")
    assert.has_error(function() T { {} } end, "tensor: empty table at depth 2")
    assert.has_error(function() T { { { { { { { { { 1 } } } } } } } } } end, "tensor: nested table is deeper than 8")
    assert.has_error(function() T { 1, "x" } end, "tensor: element 2 at depth 1 is a string, expected a number")
    assert.has_error(function() T { { 1 }, 2 } end)
  end)

  it("makes empty tensors (no dims, or a dim of size 0), as Torch7's torch.Tensor()", function()
    local e = T {}
    assert.equal(0, e:dim())
    assert.equal(0, e:numel())
    assert.same({}, e:totable())
    local z = T(0, 3)
    assert.same({ 0, 3 }, z:size())
    assert.equal(0, z:numel())
    assert.equal(0, z:sum())
  end)

  it("rejects negative, fractional, huge and too many dims", function()
    assert.has_error(function() T(-1) end, "tensor: size 1 must be a whole number from 0 to 2147483647, got -1")
    assert.has_error(function() T(2.5) end)
    assert.has_error(function() T(2 ^ 40) end)
    assert.has_error(function() T(65536, 65536) end, "tensor: shape has more than 2147483647 elements")
    assert.has_error(function() T(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "tensor: a shape has at most 8 dimensions, got 9")
    assert.has_error(function() T("a") end)
  end)

  it("makes uint8 and float tensors from byte strings", function()
    local b = T.frombytes("\0\1\255\128", { 2, 2 })
    assert.equal("uint8", b:dtype())
    assert.equal(255, b:get(2, 1))
    local f = T.frombytes("\0\255", { 2 }, 1 / 255)
    assert.equal("float32", f:dtype())
    assert.equal(0, f[1])
    assert.equal(1, f[2])
    local g = T.frombytes("\10", { 1 }, 0.5, -1)
    assert.equal(4, g[1])
    assert.has_error(function() T.frombytes("abc", { 2, 2 }) end,
      "tensor.frombytes: 3 bytes do not fill a tensor of 4 elements")
    assert.has_error(function() T.frombytes("ab", { 2 }, "x") end, "tensor.frombytes: scale must be a number, got string")
  end)

  it("converts uint8 to float with scale and shift", function()
    local b = T.frombytes("\2\4", { 2 })
    local f = b:float(0.5, 1)
    assert.same({ 2, 3 }, f:totable())
    assert.same({ 2, 4 }, b:float():totable())
  end)
end)

describe("tensor elements", function()
  it("gets and sets with 1-based indices and negative ones from the end", function()
    local t = T(2, 3)
    t:set(2, 3, 7.5)
    assert.equal(7.5, t:get(2, 3))
    assert.equal(7.5, t:get(-1, -1))
    t:set(1, 1, -2)
    assert.equal(5.5, t:sum())
  end)

  it("indexes with t[i]: a number for 1-D, a shared row otherwise", function()
    local t = T { { 1, 2 }, { 3, 4 } }
    local row = t[2]
    assert.same({ 3, 4 }, row:totable())
    row[1] = 30
    assert.equal(30, t:get(2, 1)) -- the row shares storage
    t[1] = 9
    assert.same({ { 9, 9 }, { 30, 4 } }, t:totable())
    t[1] = T { 5, 6 }
    assert.same({ 5, 6 }, t[1]:totable())
    assert.equal(2, #t)
  end)

  it("reports bad indices with the dimension and size", function()
    local t = T(2, 3)
    assert.has_error(function() t:get(3, 1) end, "get: index 3 out of range for dimension 1 of size 2")
    assert.has_error(function() t:get(1, 0) end, "get: index 0 out of range for dimension 2 of size 3")
    assert.has_error(function() t:get(1) end, "get: tensor of shape (2, 3) needs 2 indices, got 1")
    assert.has_error(function() t:get(1.5, 1) end, "get: index 1 must be a whole number, got 1.5")
    assert.has_error(function() t:set(1, 1) end)
    assert.has_error(function() t:set(1, 1, "x") end, "set: value must be a number, got string")
    assert.has_error(function() return t[5] end, "[]: index 5 out of range for dimension 1 of size 2")
    assert.has_error(function() t.x = 1 end, "[]=: tensors take numbers, index tables or masks as keys, got string")
    assert.has_error(function() t[1] = T(5) end)
  end)

  it("keeps uint8 values in range", function()
    local b = T.bytes(3)
    b[1] = 200
    assert.equal(200, b[1])
    assert.has_error(function() b[2] = 256 end, "[]=: value 256 does not fit a uint8 tensor")
    assert.has_error(function() b[2] = 1.5 end)
    assert.has_error(function() b:fill(-1) end)
    b:fill(7)
    assert.same({ 7, 7, 7 }, b:totable())
  end)

  it("fails cleanly on a non-tensor self", function()
    assert.has_error(function() T(2).size({}) end, "size: argument #1: expected a tensor, got table")
    assert.has_error(function() T(2):add("x") end, "add: expected a number, a tensor, or a number and a tensor, got string and nil")
  end)
end)

describe("tensor views and copies", function()
  it("view shares storage and checks the element count", function()
    local t = T { 1, 2, 3, 4, 5, 6 }
    local v = t:view(2, 3)
    assert.same({ 2, 3 }, shape(v))
    assert.is_true(v:shares(t))
    v:set(2, 1, 40)
    assert.equal(40, t[4])
    assert.same({ 3, 2 }, shape(t:view { 3, 2 }))
    assert.has_error(function() t:view(4, 2) end, "view: cannot view (6) (6 elements) as (4, 2)")
  end)

  it("reshape copies", function()
    local t = T { 1, 2, 3, 4 }
    local r = t:reshape(2, 2)
    assert.is_false(r:shares(t))
    r:set(1, 1, 10)
    assert.equal(1, t[1])
  end)

  it("clone copies values and not storage", function()
    local t = T { { 1, 2 }, { 3, 4 } }
    local c = t:clone()
    assert.same(t:totable(), c:totable())
    c:fill(0)
    assert.equal(10, t:sum())
  end)

  it("copy needs equal element counts and converts types as Torch7's (float to byte truncates)", function()
    local a = T(2, 2)
    a:copy(T { 1, 2, 3, 4 })
    assert.same({ { 1, 2 }, { 3, 4 } }, a:totable())
    assert.has_error(function() a:copy(T(3)) end, "copy: size mismatch: (2, 2) (4 elements) vs (3) (3 elements)")
    assert.same({ 2, 255, 0 }, T.bytes(3):copy(T { 2.9, 255, 0.5 }):totable())
    assert.same({ -2, 7 }, T.of("int64", 2):copy(T { -2.7, 7.2 }):totable())
    a:copy(T.frombytes("\1\2\3\4", { 4 }))
    assert.equal(10, a:sum())
  end)

  it("narrow(dim, index, size) and select(dim, index) give shared sub-tensors, as Torch7's", function()
    local t = T { { 1, 2 }, { 3, 4 }, { 5, 6 } }
    local n = t:narrow(1, 2, 2)
    assert.same({ { 3, 4 }, { 5, 6 } }, n:totable())
    n:fill(0)
    assert.equal(3, t:sum())
    assert.same({ 1, 2 }, t:select(1, 1):totable())
    assert.same({ 1, 0, 0 }, t:select(2, 1):totable())
    assert.same({ { 2 }, { 0 }, { 0 } }, t:narrow(2, 2, 1):totable())
    assert.has_error(function() t:narrow(1, 3, 2) end,
      "narrow: index 3 and size 2 do not fit dim 1 of size 3 (shape (3, 2))")
    assert.has_error(function() t:narrow(3, 1, 1) end,
      "narrow: dim 3 out of range for a 2-D tensor (1..2, or negative from the end)")
  end)

  it("set_storage moves a tensor into an arena, keeping its shape", function()
    local arena = T { 0, 0, 0, 0, 0, 0 }
    local w = T { { 1, 2 }, { 3, 4 } }
    w:set_storage(arena, 2)
    assert.same({ 2, 2 }, shape(w))
    w:fill(1)
    assert.same({ 0, 0, 1, 1, 1, 1 }, arena:totable())
    assert.has_error(function() w:set_storage(arena, 3) end,
      "set_storage: (2, 2) at offset 3 does not fit in (6) (a contiguous float32)")
  end)

  it("keeps storage alive while a view exists", function()
    local v
    do
      local t = T { 1, 2, 3 }
      v = t:view(3, 1)
    end
    collectgarbage()
    collectgarbage()
    assert.same({ { 1 }, { 2 }, { 3 } }, v:totable())
  end)
end)

describe("tensor arithmetic", function()
  it("adds, multiplies and scales in place and returns self", function()
    local t = T { 1, 2, 3 }
    assert.equal(t, t:add(T { 1, 1, 1 }))
    assert.same({ 2, 3, 4 }, t:totable())
    t:cmul(T { 2, 0, -1 })
    assert.same({ 4, 0, -4 }, t:totable())
    t:add(1):mul(2):scale(0.5)
    assert.same({ 5, 1, -3 }, t:totable())
  end)

  it("exp works in place", function()
    local t = T { 0, 1, -1 }
    assert.equal(t, t:exp())
    assert.near(1, t[1], 1e-7)
    assert.near(math.exp(1), t[2], 1e-6)
    assert.near(math.exp(-1), t[3], 1e-7)
    assert.has_error(function() T.bytes(1):exp() end,
      "exp: argument #1: expected a float32 tensor, got uint8 (convert it with :float())")
  end)

  it("axpy computes y += alpha * x", function()
    local y = T { 1, 1 }
    y:axpy(-2, T { 3, 4 })
    assert.same({ -5, -7 }, y:totable())
  end)

  it("checks sizes and dtypes", function()
    assert.has_error(function() T(2):add(T(3)) end,
      "add: argument #2 has 3 elements (shape (3)), expected 2 (no broadcasting: use expand)")
    assert.has_error(function() T(2):axpy(1, T(2, 2)) end)
    assert.has_error(function() T.bytes(2):add(1) end,
      "add: argument #1: expected a float32 tensor, got uint8 (convert it with :float())")
    assert.has_error(function() T(2):scale("a") end, "mul: expected a number (for tensors, use cmul), got string")
  end)

  it("has operators that return new tensors", function()
    local a, b = T { 1, 2 }, T { 3, 5 }
    assert.same({ 4, 7 }, (a + b):totable())
    assert.same({ -2, -3 }, (a - b):totable())
    assert.same({ 3, 10 }, a:clone():cmul(b):totable())
    assert.equal(13, a * b) -- Torch7: a dot product for two vectors
    assert.same({ 2, 4 }, (a * 2):totable())
    assert.same({ 2, 4 }, (2 * a):totable())
    assert.same({ 0, -1 }, (1 - a):totable())
    assert.same({ 0.5, 1 }, (a / 2):totable())
    assert.same({ -1, -2 }, (-a):totable())
    assert.same({ 1, 2 }, a:totable())
  end)
end)

describe("tensor reductions", function()
  -- the family's own spec is spec/tensor_reduce_spec.lua; these are the basics other code uses
  local t = T { { 1, 5, 2 }, { 7, 7, -1 } }

  it("sum and mean over everything", function()
    assert.equal(21, t:sum())
    assert.equal(3.5, t:mean())
  end)

  it("sum and mean over a dim keep it at size 1 (Torch7)", function()
    assert.same({ { 8 }, { 13 } }, t:sum(-1):totable())
    assert.same({ { 8 }, { 13 } }, t:sum(2):totable())
    assert.same({ { 8, 12, 1 } }, t:sum(1):totable())
    local m = t:mean(-1)
    assert.near(8 / 3, m[1][1], 1e-6)
    assert.near(13 / 3, m[2][1], 1e-6)
  end)

  it("max returns value and 1-based flat index; ties go to the first", function()
    local v, i = t:max()
    assert.equal(7, v)
    assert.equal(4, i)
  end)

  it("max and argmax per row, first on ties", function()
    local values, idx = t:max(-1)
    assert.same({ { 5 }, { 7 } }, values:totable())
    assert.same({ { 2 }, { 1 } }, idx:totable())
    assert.same({ 2, 1 }, t:argmax())
    assert.equal(3, T { 0, 1, 9, 9 }:argmax())
    assert.same({ 2, 1 }, T { { { 0, 3 }, { 4, 4 } } }:argmax()) -- rows of a 3-D tensor
  end)

  it("treats NaN as the maximum, as torch.max does", function()
    local n = T { 1, 0 / 0, 3 }
    assert.equal(2, n:argmax())
  end)

  it("sums in double precision", function()
    local big = T.ones(1000000)
    big:scale(0.1)
    assert.is_true(math.abs(big:sum() - 100000) < 1e-2)
  end)
end)

describe("matmul", function()
  it("multiplies against a hand-computed product", function()
    local a = T { { 1, 2, 3 }, { 4, 5, 6 } }
    local b = T { { 7, 8 }, { 9, 10 }, { 11, 12 } }
    assert.same({ { 58, 64 }, { 139, 154 } }, a:matmul(b):totable())
  end)

  it("honours the transpose flags", function()
    local a = T { { 1, 4 }, { 2, 5 }, { 3, 6 } } -- a^T = {{1,2,3},{4,5,6}}
    local b = T { { 7, 9, 11 }, { 8, 10, 12 } }  -- b^T = {{7,8},{9,10},{11,12}}
    assert.same({ { 58, 64 }, { 139, 154 } }, T.matmul(a, b, true, true):totable())
    assert.same({ { 58, 64 }, { 139, 154 } }, T.matmul(T { { 1, 2, 3 }, { 4, 5, 6 } }, b, false, true):totable())
    assert.same({ { 17, 22, 27 }, { 22, 29, 36 }, { 27, 36, 45 } }, T.matmul(a, a, false, true):totable())
  end)

  it("accumulates with alpha and beta into an output", function()
    local c = T { { 1, 1 }, { 1, 1 } }
    mnist.core.matmul(c, T { { 1, 0 }, { 0, 1 } }, T { { 2, 3 }, { 4, 5 } }, false, false, 2, 1)
    assert.same({ { 5, 7 }, { 9, 11 } }, c:totable())
  end)

  it("reports mismatched shapes", function()
    assert.has_error(function() T(2, 3):matmul(T(2, 3)) end,
      "matmul: inner sizes differ: a (2, 3) b (2, 3) (3 vs 2)")
    assert.has_error(function() T(3):matmul(T(3, 1)) end, "matmul: expected 2-D tensors, got (3) and (3, 1)")
    assert.has_error(function() mnist.core.matmul(T(3, 3), T(2, 3), T(3, 2)) end,
      "matmul: output has shape (3, 3), expected (2, 2)")
    local x = T(2, 2)
    assert.has_error(function() mnist.core.matmul(x, x, T(2, 2)) end)
  end)
end)

describe("tensor printing", function()
  it("prints values, then a footer with the type and size, as Torch7", function()
    assert.equal(" 1 2\n 3 4\n[torch.FloatTensor of size 2x2]", tostring(T { { 1, 2 }, { 3, 4 } }))
    assert.equal(" 0.5000 2.0000\n[torch.FloatTensor of size 2]", tostring(T { 0.5, 2 }))
    assert.equal(" 1 3\n 2 4\n[torch.FloatTensor of size 2x2]", tostring(T { { 1, 2 }, { 3, 4 } }:t()))
    assert.equal("   7 255\n[torch.ByteTensor of size 2]", tostring(T.of("uint8", { 7, 255 })))
    assert.equal("(1,.,.) =\n 1 2\n\n(2,.,.) =\n 3 4\n\n[torch.LongTensor of size 2x1x2]",
      tostring(T.of("int64", { { { 1, 2 } }, { { 3, 4 } } })))
    assert.equal("[torch.FloatTensor with no dimension]", tostring(T {}))
    assert.equal("[torch.FloatTensor of size 0x3]", tostring(T(0, 3)))
  end)

  it("elides the middle of long dimensions", function()
    local s = tostring(T(100))
    assert.truthy(s:find("0 0 0 ... 0 0 0", 1, true))
  end)

  it("draws a 28x28 image as block art", function()
    local img = T(1, 28, 28)
    for i = 5, 20 do img:set(1, i, 14, 1) end
    local lines = {}
    for line in tostring(img):gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(29, #lines)
    assert.equal("[torch.FloatTensor of size 1x28x28]", lines[29])
    assert.truthy(lines[10]:find("██", 1, true))
    assert.falsy(lines[2]:find("██", 1, true))
  end)
end)

describe("blas", function()
  it("reports its core and thread count", function()
    local info = mnist.core.blas_info()
    assert.is_string(info.core)
    assert.is_true(info.threads >= 1)
  end)
end)
