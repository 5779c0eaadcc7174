-- Strided views with Torch7's semantics: they share storage, write through, and agree with each
-- other (narrow/select with t[{...}], t():t() with t); types; mnist.torch's names.
local T = require "mnist.tensor"

-- 3x4 with the values 1..12, row-major
local function grid()
  local t = T.zeros(3, 4)
  for i = 1, 3 do
    for j = 1, 4 do t:set(i, j, (i - 1) * 4 + j) end
  end
  return t
end

describe("views", function()
  it("share storage and write through: narrow, select, transpose, t[{...}]", function()
    local t = grid()
    t:narrow(2, 2, 2):fill(0) -- columns 2..3
    assert.same({ { 1, 0, 0, 4 }, { 5, 0, 0, 8 }, { 9, 0, 0, 12 } }, t:totable())
    t:select(1, 3):fill(-1) -- row 3
    assert.same({ -1, -1, -1, -1 }, t[3]:totable())
    t:t()[1]:fill(7) -- column 1 through the transpose
    assert.same({ 7, 7, 7 }, t:select(2, 1):totable())
    t[{ 2, { 2, 3 } }] = 5
    assert.same({ 7, 5, 5, 8 }, t[2]:totable())
    t[{ {}, 4 }] = T { 10, 20, 30 }
    assert.same({ 10, 20, 30 }, t:select(2, 4):totable())
  end)

  it("report Torch7's strides, storage offsets and contiguity", function()
    local t = grid()
    assert.same({ 4, 1 }, t:stride())
    assert.same({ 1, 4 }, t:t():stride())
    assert.equal(1, t:storageOffset())
    assert.equal(7, t:narrow(1, 2, 2):narrow(2, 3, 2):storageOffset()) -- element (2, 3)
    assert.is_true(t:isContiguous())
    assert.is_false(t:t():isContiguous())
    assert.is_true(t:narrow(1, 2, 2):isContiguous()) -- whole rows
    assert.is_false(t:narrow(2, 2, 2):isContiguous())
    assert.is_true(t:t():contiguous():isContiguous())
    local c = t:contiguous()
    c[1][1] = 99
    assert.equal(99, t:get(1, 1)) -- contiguous() of a contiguous tensor is itself
  end)

  it("t():t() is the identity and transpose swaps any two dims", function()
    local t = grid()
    local tt = t:t():t()
    assert.same(t:totable(), tt:totable())
    assert.same(t:stride(), tt:stride())
    local x = T.zeros(2, 3, 4)
    for i = 1, 24 do x:view(-1)[i] = i end
    local y = x:transpose(1, 3) -- (4, 3, 2)
    assert.same({ 4, 3, 2 }, y:size())
    for i = 1, 2 do
      for j = 1, 3 do
        for k = 1, 4 do assert.equal(x:get(i, j, k), y:get(k, j, i)) end
      end
    end
    assert.has_error(function() x:t() end, "t: expects a 1-D or 2-D tensor, got shape (2, 3, 4) (use transpose(d1, d2))")
  end)

  it("narrow and select agree with t[{...}], negative indices counting from the end", function()
    local t = grid()
    assert.same(t:narrow(1, 2, 2):totable(), t[{ { 2, 3 } }]:totable())
    assert.same(t:narrow(2, 2, 3):totable(), t[{ {}, { 2, 4 } }]:totable())
    assert.same(t:select(2, 3):totable(), t[{ {}, 3 }]:totable())
    assert.same(t:select(1, 3):narrow(1, 2, 2):totable(), t[{ -1, { 2, 3 } }]:totable())
    assert.same(t[{ { -2, -1 }, -1 }]:totable(), { 8, 12 })
    assert.equal(7, t[{ 2, 3 }])
    assert.same({ { 6 } }, t[{ { 2 }, { 2 } }]:totable()) -- {a} keeps the dim
  end)

  it("view needs a compatible layout, and says to call contiguous() when it has none", function()
    local t = grid()
    assert.same({ 2, 6 }, t:view(2, 6):size())
    assert.same({ 6, 2 }, t:view(-1, 2):size())
    assert.same({ 5, 6, 7, 8, 9, 10, 11, 12 }, t:narrow(1, 2, 2):view(-1):totable()) -- whole rows
    local col = t:t():view(4, 3, 1) -- splitting off a size-1 dim is fine on any strides
    assert.same({ 4, 3, 1 }, col:size())
    assert.has_error(function() t:t():view(12) end,
      "view: cannot view a strided (4, 3) as (12) without a copy (call :contiguous() first)")
    assert.has_error(function() t:view(5, -1) end, "view: cannot view (3, 4) (12 elements) as (5, -1)")
    assert.same(t:t():contiguous():view(12):totable(), { 1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12 })
  end)

  it("expand repeats size-1 dims with stride 0, without a copy", function()
    local row = T { { 1, 2, 3 } }
    local e = row:expand(4, 3)
    assert.same({ 0, 1 }, e:stride())
    assert.same({ 1, 2, 3 }, e[4]:totable())
    row[1][2] = 20
    assert.equal(20, e:get(3, 2))
    assert.same({ 2, 4, 3 }, row:expand(2, 4, 3):size()) -- a new leading dim
    assert.same({ 4, 3 }, row:expandAs(T(4, 3)):size())
    assert.has_error(function() row:expand(4, 2) end,
      "expand: cannot expand (1, 3) to (4, 2) (only size-1 dims repeat, and new dims go first)")
  end)

  it("unfold gives every window along a dim as a new last dim", function()
    local x = T { 1, 2, 3, 4, 5, 6, 7 }
    local u = x:unfold(1, 3, 2)
    assert.same({ { 1, 2, 3 }, { 3, 4, 5 }, { 5, 6, 7 } }, u:totable())
    u[2][1] = 30 -- a view: writes reach x
    assert.equal(30, x[3])
    assert.same({ 3, 2, 2 }, grid():unfold(2, 2, 2):size())
  end)

  it("squeeze and unsqueeze add and drop size-1 dims", function()
    local x = T.zeros(1, 3, 1, 2)
    assert.same({ 3, 2 }, x:squeeze():size())
    assert.same({ 3, 1, 2 }, x:squeeze(1):size())
    assert.same({ 1, 3, 1, 2 }, x:squeeze(2):size()) -- size 3: unchanged
    assert.same({ 1 }, T.zeros(1, 1):squeeze():size()) -- one element keeps one dim (Torch7)
    assert.same({ 3, 1, 2 }, T.zeros(3, 2):unsqueeze(2):size())
    assert.same({ 3, 2, 1 }, T.zeros(3, 2):unsqueeze(3):size())
    assert.same({ 3, 2, 1 }, T.zeros(3, 2):unsqueeze(-1):size())
  end)

  it("resize keeps the storage when it is large enough, as Torch7's", function()
    local t = T { 1, 2, 3, 4, 5, 6 }
    local view = t:view(6)
    t:resize(2, 2)
    assert.same({ { 1, 2 }, { 3, 4 } }, t:totable())
    t[1][1] = 9
    assert.equal(9, view[1])
    local e = T {}
    e:resize(3):fill(1)
    assert.same({ 1, 1, 1 }, e:totable())
    assert.same({ 2, 3 }, T(1):resizeAs(T(2, 3)):size())
  end)

  it("keep storage alive after the base is gone", function()
    local v
    do v = grid():t():narrow(1, 2, 2) end
    collectgarbage()
    collectgarbage()
    assert.same({ { 2, 6, 10 }, { 3, 7, 11 } }, v:totable())
  end)

  it("copy between views of different layouts, in row-major order", function()
    local a = T.zeros(4, 3)
    a:copy(grid():t())
    assert.same(grid():t():totable(), a:totable())
    local b = grid()
    b:narrow(2, 1, 2):copy(b:narrow(2, 3, 2)) -- disjoint views of one storage
    assert.same({ 3, 4, 3, 4 }, b[1]:totable())
  end)

  it("take masks and int64 index tensors as keys, as Torch7", function()
    local t = grid()
    assert.same({ 9, 10, 11, 12 }, t[t:gt(8)]:totable())
    local rows = t[T.of("int64", { 3, 1 })]
    assert.same({ { 9, 10, 11, 12 }, { 1, 2, 3, 4 } }, rows:totable())
    t[t:gt(10)] = 0
    assert.same({ 9, 10, 0, 0 }, t[3]:totable())
    t[T.of("int64", { 2 })] = -1
    assert.same({ -1, -1, -1, -1 }, t[2]:totable())
    t[T.of("int64", { 1 })] = T { { 4, 3, 2, 1 } }
    assert.same({ 4, 3, 2, 1 }, t[1]:totable())
  end)

  it("name the function, the dim and the shape in errors", function()
    local t = grid()
    assert.has_error(function() t:select(3, 1) end,
      "select: dim 3 out of range for a 2-D tensor (1..2, or negative from the end)")
    assert.has_error(function() t:select(1, 4) end, "select: index 4 out of range for dimension 1 of size 3")
    assert.has_error(function() t:transpose(1, 0) end)
    assert.has_error(function() return t[{ 1, 2, 3 }] end, "[]: 3 indices for a tensor of shape (3, 4)")
    assert.has_error(function() return t[{ { 3, 2 } }] end, "[]: index 1: range {3, 2} is empty")
    assert.has_error(function() t[{ {}, 1 }] = T(4) end, "[]=: cannot assign a (4) tensor to a (3) slice")
  end)
end)

describe("types", function()
  it("converts between float, byte and long as Torch7's casts do", function()
    local f = T { 1.7, -2.2, 300 }
    assert.same({ 1, -2, 300 }, f:long():totable())
    assert.equal("torch.LongTensor", f:long():type())
    assert.equal("torch.FloatTensor", f:type())
    assert.equal("torch.ByteTensor", f:type("torch.ByteTensor"):type())
    assert.equal(f, f:float()) -- already float: the same tensor
    assert.same({ 1.5, 2 }, T.of("int64", { 3, 4 }):float():div(2):totable())
    assert.has_error(function() f:type("torch.DoubleTensor") end,
      "type: unsupported tensor type 'torch.DoubleTensor' (this rock has torch.FloatTensor, "
      .. "torch.ByteTensor and torch.LongTensor; no double or CUDA tensors)")
    assert.has_error(function() f:type("torch.CudaTensor") end)
  end)

  it("holds int64 values exactly up to 2^53 and refuses fractions", function()
    local l = T.of("int64", 2)
    l[1] = 2 ^ 53
    assert.equal(2 ^ 53, l[1])
    assert.has_error(function() l[2] = 1.5 end, "[]=: value 1.5 does not fit a int64 tensor")
  end)
end)

describe("mnist.torch", function()
  local torch = require "mnist.torch"

  it("has Torch7's constructors and type names, and sets no globals", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["mnist.torch"] = nil
    local fresh = require "mnist.torch"
    for k in pairs(_G) do assert.is_true(before[k], "global " .. tostring(k)) end
    assert.equal("torch.FloatTensor", fresh.Tensor(2, 3):type())
    assert.same({ 2, 3 }, torch.Tensor(2, 3):size())
    assert.same({ 1, 2 }, torch.Tensor { 1, 2 }:totable())
    assert.equal(0, torch.Tensor():dim())
    assert.equal("torch.LongTensor", torch.LongTensor { 1, 2 }:type())
    assert.equal("torch.ByteTensor", torch.typename(torch.ByteTensor(3)))
    assert.is_nil(torch.typename({}))
    assert.is_true(torch.isTensor(torch.Tensor(1)))
    assert.is_false(torch.isTensor(3))
    local t = torch.Tensor(3)
    local shared = torch.Tensor(t) -- Torch7: a new tensor on the same storage
    shared[1] = 5
    assert.equal(5, t[1])
  end)

  it("has the torch.f forms: a new tensor, or into a given one", function()
    local x = torch.Tensor { 0, 1 }
    local y = torch.exp(x)
    assert.near(math.exp(1), y[2], 1e-6)
    assert.equal(0, x[1])
    local res = torch.Tensor()
    torch.exp(res, x)
    assert.near(math.exp(1), res[2], 1e-6)
    assert.same({ 2, 4 }, torch.add(torch.Tensor { 1, 2 }, torch.Tensor { 1, 2 }):totable())
    assert.same({ 4, 9 }, torch.pow(torch.Tensor { 2, 3 }, 2):totable())
    assert.same({ 4, 8 }, torch.pow(2, torch.Tensor { 2, 3 }):totable())
    assert.same({ 0, 1 }, torch.gt(torch.Tensor { 1, 3 }, 2):totable())
  end)

  it("refuses a default type other than float, and keeps the thread count", function()
    assert.has_no_error(function() torch.setdefaulttensortype("torch.FloatTensor") end)
    assert.has_error(function() torch.setdefaulttensortype("torch.DoubleTensor") end)
    local n = torch.getnumthreads()
    torch.setnumthreads(1)
    assert.equal(1, torch.getnumthreads())
    torch.setnumthreads(n)
    torch.manualSeed(123)
    assert.equal(123, torch.initialSeed())
    local timer = torch.Timer()
    assert.is_true(timer:time().real >= 0)
  end)
end)
