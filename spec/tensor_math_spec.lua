-- Element-wise math and comparisons against PyTorch (spec/fixtures/make_tensor_fixtures.py writes
-- tensor_math.json), in Torch7's three forms (x:f() in place, res:f(x), torch.f(x)), on
-- contiguous, transposed, narrowed, selected and expanded operands.
local T = require "mnist.tensor"
local torch = require "mnist.torch"
local H = require "spec.support.helpers"

-- The strided view the fixture describes: a base tensor and Torch7 layout steps. Returns the view
-- and its base.
local function build(spec)
  local base = T.zeros(spec.shape)
  base:view(-1):copy(T(spec.values))
  return H.view_steps(base, spec.layout), base
end

local function close(got, want)
  if want ~= want then return got ~= got end
  if want == math.huge or want == -math.huge then return got == want end
  return math.abs(got - want) <= 1e-5 * math.max(1, math.abs(want)) + 1e-6
end

local function check(case, form, got)
  local flat = got:contiguous():view(-1):totable()
  assert.equal(#case.want, #flat, ("%s %s (%s): element count"):format(case.op, case.layout, form))
  for i, want in ipairs(case.want) do
    if not close(flat[i], want) then
      error(("%s on a %s operand (%s form): element %d is %.9g, PyTorch says %.9g"):format(
        case.op, case.layout, form, i, flat[i], want), 2)
    end
  end
end

-- Lua arguments of a case after the first tensor.
local function args_of(case)
  local y = case.y and build(case.y)
  local z = case.z and build(case.z)
  if case.kind == "unary" then return {} end
  if case.kind == "scalar" then return case.args end
  if case.kind == "binary" then
    if case.op == "add" or case.op == "sub" then
      if #case.args > 0 then return { case.args[1], y } end
      return { y }
    end
    if case.op == "lerp" then return { y, case.args[1] } end
    return { y }
  end
  if case.kind == "ternary" then return { case.value, y, z } end
  if case.kind == "compare" then return { y } end
  return { case.value } -- compare_value
end

local cases = H.read_json("spec/fixtures/tensor_math.json").cases

describe("element-wise math against PyTorch", function()
  it("covers every op and layout of the fixture", function()
    local layouts, ops = {}, {}
    for _, case in ipairs(cases) do
      layouts[case.layout] = true
      ops[case.op] = true
    end
    for _, name in ipairs { "contiguous", "transposed", "narrowed", "selected", "expanded" } do
      assert.is_true(layouts[name], name)
    end
    for _, op in ipairs(T.UNARY) do assert.is_true(ops[op], op) end
  end)

  it("res:f(x, ...) writes the result into res", function()
    for _, case in ipairs(cases) do
      local x = build(case.x)
      local res = T.zeros(1) -- resized to x's shape
      if case.kind:find("^compare") then res = T.bytes(1) end
      res[case.op](res, x, unpack(args_of(case)))
      assert.same(x:size(), res:size())
      check(case, "res", res)
    end
  end)

  it("torch.f(x, ...) returns a new tensor and leaves x alone", function()
    for _, case in ipairs(cases) do
      local x = build(case.x)
      local before = x:clone()
      check(case, "torch", torch[case.op](x, unpack(args_of(case))))
      assert.same(before:totable(), x:totable())
    end
  end)

  it("x:f(...) works in place on a strided view, writing through to its base only there", function()
    for _, case in ipairs(cases) do
      -- an expanded view repeats elements (in-place writes would race); comparisons return masks
      if case.layout ~= "expanded" and not case.kind:find("^compare") then
        local x, base = build(case.x)
        local untouched = base:clone()
        local marker = x:clone():fill(0 / 0) -- mark the view's elements in the copy
        local marked = untouched:clone()
        H.view_steps(marked, case.x.layout):copy(marker)
        assert.equal(x, x[case.op](x, unpack(args_of(case))))
        check(case, "in place", x)
        -- elements outside the view keep their values
        local b, m, u = base:view(-1):totable(), marked:view(-1):totable(), untouched:view(-1):totable()
        for i = 1, #b do
          if m[i] == m[i] then assert.equal(u[i], b[i]) end
        end
      end
    end
  end)
end)

describe("element-wise math: aliasing, types and bad calls", function()
  it("reads an operand that overlaps the output through a copy (x:add(x:t()))", function()
    local x = T { { 1, 2 }, { 3, 4 } }
    x:add(x:t())
    assert.same({ { 2, 5 }, { 5, 8 } }, x:totable())
    local y = T { 1, 2, 3, 4 }
    y:narrow(1, 2, 3):add(y:narrow(1, 1, 3)) -- shifted alias: uses the old values
    assert.same({ 1, 3, 5, 7 }, y:totable())
  end)

  it("refuses non-float operands and size mismatches with the shapes", function()
    assert.has_error(function() T.of("int64", 3):tanh() end,
      "tanh: argument #1: expected a float32 tensor, got int64 (convert it with :float())")
    assert.has_error(function() T(2, 3):cmul(T(3, 3)) end,
      "cmul: argument #2 has 9 elements (shape (3, 3)), expected 6 (no broadcasting: use expand)")
    assert.has_error(function() T(2):clamp(1) end, "clamp: expected two numbers, the lower and the upper bound")
    assert.has_error(function() T(2):mul(T(2)) end, "mul: expected a number (for tensors, use cmul), got userdata")
  end)

  it("rounds halves away from zero, as Torch7's round (PyTorch rounds them to even)", function()
    assert.same({ -3, -2, -1, 1, 2, 3 }, T { -2.5, -1.5, -0.5, 0.5, 1.5, 2.5 }:round():totable())
  end)

  it("compares tensors of any type and returns uint8 masks", function()
    local l = T.of("int64", { 1, 5, 3 })
    assert.same({ 0, 1, 0 }, l:eq(5):totable())
    assert.equal("uint8", l:gt(T.of("int64", { 0, 5, 4 })):dtype())
    assert.same({ 1, 0, 0 }, l:gt(T.of("int64", { 0, 5, 4 })):totable())
    assert.same({ 1, 1, 0 }, T { 0.5, 1, 2 }:le(T.of("uint8", { 1, 1, 1 })):totable())
  end)

  it("adds same-numel tensors of other shapes in row-major order, as Torch7", function()
    assert.same({ { 2, 4 }, { 6, 8 } }, T { { 1, 2 }, { 3, 4 } }:add(T { 1, 2, 3, 4 }):totable())
  end)

  it("big contiguous and strided runs split over threads give the serial result", function()
    local n = 1000003
    local x = T.zeros(n)
    for i = 1, n, 9973 do x[i] = i end
    local y = x:clone():mul(3):add(1)
    for i = 1, n, 9973 do assert.equal(3 * i + 1, y[i]) end
    assert.equal(1, y[2])
    local m = T.zeros(1000, 1001)
    m:narrow(2, 2, 1000):t():fill(2) -- a strided fill of 10^6 elements
    assert.equal(2000000, m:sum())
    assert.equal(0, m:select(2, 1):clone():abs():sum())
  end)
end)
