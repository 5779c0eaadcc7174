-- mnist.tensor: strided float32, uint8 and int64 tensors from the C core, with Torch7's methods.
--
--   mnist.tensor(2, 3)              zeros of shape (2, 3)
--   mnist.tensor{{1, 2}, {3, 4}}    from nested tables
--   mnist.tensor.frombytes(s, {28, 28}, 1/255)   bytes -> float32 (uint8 when no scale)
--
-- Torch7's semantics (README "Tensors"): dims and indices are 1-based; narrow(dim, index, size),
-- select(dim, index), transpose, t(), expand, unfold, view and t[{...}] share storage; reshape,
-- clone and contiguous() (of a strided view) copy. Element-wise math has Torch7's three forms:
-- x:tanh() in place, res:tanh(x) into res, torch.tanh(x) (mnist.torch) a new tensor. Operands
-- have the same number of elements; nothing broadcasts silently (use expand).
local core = require "mnist.core"

local M = {}
local methods, metatable = core.tensor_methods, core.tensor_metatable

function M.is_tensor(x)
  return getmetatable(x) == metatable
end

-- Torch7's type names and the core's dtypes.
M.TYPENAMES = { float32 = "torch.FloatTensor", uint8 = "torch.ByteTensor", int64 = "torch.LongTensor" }
local DTYPES = {
  ["torch.FloatTensor"] = "float32", float = "float32", float32 = "float32",
  ["torch.ByteTensor"] = "uint8", byte = "uint8", uint8 = "uint8",
  ["torch.LongTensor"] = "int64", long = "int64", int64 = "int64",
}

-- The core's dtype for a type name ("torch.LongTensor", "long", "int64"); a clear error for the
-- types this rock does not have (double, CUDA, ...).
function M.dtype_of(name, fn)
  local dtype = DTYPES[name]
  if not dtype then
    error(("%s: unsupported tensor type '%s' (this rock has torch.FloatTensor, torch.ByteTensor "
      .. "and torch.LongTensor; no double or CUDA tensors)"):format(fn or "type", tostring(name)), 3)
  end
  return dtype
end

local function shape_args(first, ...)
  if first == nil then return {} end
  if type(first) == "table" then return first end
  if M.is_tensor(first) then return first:totable() end -- a LongTensor of sizes
  return { first, ... }
end

-- M.empty(dtype, sizes...) / M.zeros / M.ones / M.bytes: new contiguous tensors.
function M.empty(dtype, ...)
  return core.tensor(dtype or "float32", shape_args(...))
end

function M.zeros(...)
  return core.tensor("float32", shape_args(...))
end

function M.ones(...)
  return M.zeros(...):fill(1)
end

-- A zero-filled uint8 tensor (raw image bytes).
function M.bytes(...)
  return core.tensor("uint8", shape_args(...))
end

-- M.frombytes(s, shape [, scale [, shift]]): uint8 tensor, or float32 = byte * scale + shift.
M.frombytes = core.tensor_from_bytes

-- M.fromraw(s, shape [, dtype [, offset]]): from raw little-endian bytes (the inverse of
-- t:tobytes()); with offset (0-based), the bytes the shape needs from there on.
M.fromraw = core.tensor_from_raw

-- M.of(dtype, ...): as Torch7's constructors: a nested table gives the values, numbers (or a
-- LongTensor) the sizes of a zero-filled tensor, nothing an empty tensor.
function M.of(dtype, first, ...)
  if type(first) == "table" then return core.tensor_from_table(first, dtype) end
  return M.empty(dtype, first, ...)
end

function M.new(first, ...)
  if M.is_tensor(first) then return first:clone() end
  if type(first) == "table" then return core.tensor_from_table(first) end
  if type(first) == "number" then return M.zeros(first, ...) end
  if first == nil then return M.zeros() end
  error("mnist.tensor: expected a shape (numbers), a nested table or a tensor, got " .. type(first), 2)
end

-- A new contiguous tensor with x's shape (and dtype, unless given).
function M.new_like(x, dtype)
  return core.tensor(dtype or x:dtype(), x:size())
end

-- c = op(a) @ op(b) (a new tensor, or written into `out`); op transposes when trans_* is true.
function M.matmul(a, b, trans_a, trans_b, out)
  if not M.is_tensor(a) or not M.is_tensor(b) then
    error("matmul: expected two tensors, got " .. type(a) .. " and " .. type(b), 2)
  end
  if a:dim() ~= 2 or b:dim() ~= 2 then
    error(("matmul: expected 2-D tensors, got %s and %s"):format(M.shape_str(a), M.shape_str(b)), 2)
  end
  out = out or M.zeros(a:size(trans_a and 2 or 1), b:size(trans_b and 1 or 2))
  return core.matmul(out, a, b, trans_a, trans_b, 1, 0)
end

function M.shape_str(t)
  return "(" .. table.concat(t:size(), ", ") .. ")"
end

-- Shape, type and copies -------------------------------------------------------------------------

methods.nDimension = methods.dim
methods.nElement = methods.numel

function methods.shape(t)
  return M.shape_str(t)
end

-- t:type() -> "torch.FloatTensor"; t:type(name) -> t converted (t itself when already of that type).
function methods.type(t, name)
  if name == nil then return M.TYPENAMES[t:dtype()] end
  return t:to(M.dtype_of(name, "type"))
end

function methods.typeAs(t, other)
  return t:to(other:dtype())
end

-- t:float() -> float32 (t itself when already float32); t:float(scale [, shift]) -> a new float32
-- tensor of value * scale + shift (the project's one-pass byte normalisation).
function methods.float(t, scale, shift)
  if scale == nil and shift == nil then return t:to("float32") end
  return t:scaled_float(scale or 1, shift)
end

function methods.byte(t) return t:to("uint8") end
function methods.long(t) return t:to("int64") end

function methods.isTensor(_, x) return M.is_tensor(x) end

function methods.isSameSizeAs(t, other)
  if t:dim() ~= other:dim() then return false end
  for d = 1, t:dim() do
    if t:size(d) ~= other:size(d) then return false end
  end
  return true
end

function methods.expandAs(t, other) return t:expand(other) end
function methods.viewAs(t, other) return t:view(other:size()) end
function methods.resizeAs(t, other) return t:resize(other:size()) end

function methods.zero(t) return t:fill(0) end

-- A copy with another shape of the same element count (Torch7's reshape copies; view shares).
function methods.reshape(t, ...)
  return t:clone():view(...)
end

function methods.matmul(a, b, trans_a, trans_b)
  return M.matmul(a, b, trans_a, trans_b)
end

-- Element-wise math: Torch7's forms --------------------------------------------------------------

-- res takes x's shape (kept as it is when it already has it, so a view can be written into).
local function into(res, x)
  if not res:isSameSizeAs(x) then res:resize(x:size()) end
  return res
end

-- x:f() in place, res:f(x) into res.
local UNARY = {
  "abs", "sign", "sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid", "floor", "ceil", "round",
  "trunc", "frac", "neg", "square", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
  "expm1", "cinv",
}
M.UNARY = UNARY
for _, op in ipairs(UNARY) do
  methods[op] = function(res, x)
    if x == nil then return core.tensor_map(res, res, op) end
    return core.tensor_map(into(res, x), x, op)
  end
end

-- Splits Torch7's (res, [x,] ...) method arguments: returns the source tensor and the rest.
local function source(res, first, ...)
  if M.is_tensor(first) and select("#", ...) > 0 then return into(res, first), first, ... end
  return res, res, first, ...
end

-- x:add(value) | x:add(y) | x:add(value, y); res:add(x, value) | res:add(x, y) | res:add(x, value, y)
local function add(sign)
  return function(res, ...)
    local out, x, a, b = source(res, ...)
    if type(a) == "number" and b == nil then return core.tensor_map(out, x, "add", sign * a) end
    if M.is_tensor(a) then return core.tensor_zip(out, x, a, "add", sign) end
    if type(a) == "number" and M.is_tensor(b) then return core.tensor_zip(out, x, b, "add", sign * a) end
    error(("%s: expected a number, a tensor, or a number and a tensor, got %s and %s"):format(
      sign > 0 and "add" or "sub", type(a), type(b)), 2)
  end
end
methods.add = add(1)
methods.sub = add(-1)

-- x:mul(value), x:div(value), x:fmod(v), x:remainder(v); res:mul(x, value), ...
for _, op in ipairs { "mul", "div", "fmod", "remainder" } do
  methods[op] = function(res, ...)
    local out, x, value = source(res, ...)
    if type(value) ~= "number" then
      error(("%s: expected a number (for tensors, use c%s), got %s"):format(op, op, type(value)), 2)
    end
    return core.tensor_map(out, x, op, value)
  end
end

-- x:cmul(y), x:cdiv(y), x:cpow(y), x:atan2(y); res:cmul(x, y), ...
for _, op in ipairs { "cmul", "cdiv", "cpow", "atan2" } do
  methods[op] = function(res, a, b)
    if b == nil then return core.tensor_zip(res, res, a, op) end
    return core.tensor_zip(into(res, a), a, b, op)
  end
end

-- x:cmax(y | value), res:cmax(x, y | value); likewise cmin.
for _, pair in ipairs { { "cmax", 1 }, { "cmin", -1 } } do
  local op, side = pair[1], pair[2]
  methods[op] = function(res, a, b)
    local out, x, y = res, res, a
    if b ~= nil then out, x, y = into(res, a), a, b end
    if type(y) == "number" then
      local hi = math.huge
      return core.tensor_map(out, x, "clamp", side > 0 and y or -hi, side > 0 and hi or y)
    end
    return core.tensor_zip(out, x, y, op)
  end
end

-- x:pow(value); res:pow(x, value); res:pow(value, x) (value ^ x, Torch7's torch.pow(number, x)).
function methods.pow(res, a, b)
  if b == nil then return core.tensor_map(res, res, "pow", a) end
  if type(a) == "number" then return core.tensor_map(into(res, b), b, "rpow", a) end
  return core.tensor_map(into(res, a), a, "pow", b)
end

-- x:clamp(lo, hi); res:clamp(x, lo, hi).
function methods.clamp(res, ...)
  local out, x, lo, hi = source(res, ...)
  if type(lo) ~= "number" or type(hi) ~= "number" then
    error("clamp: expected two numbers, the lower and the upper bound", 2)
  end
  return core.tensor_map(out, x, "clamp", lo, hi)
end

-- x:addcmul([value,] t1, t2): x += value * t1 * t2; res:addcmul(x, [value,] t1, t2). Likewise addcdiv.
for _, op in ipairs { "addcmul", "addcdiv" } do
  methods[op] = function(res, ...)
    local args, tensors = { ... }, 0
    for i = 1, select("#", ...) do
      if M.is_tensor(args[i]) then tensors = tensors + 1 end
    end
    local out, x = res, res
    if tensors == 3 then out, x = into(res, args[1]), table.remove(args, 1) end
    local value = 1
    if type(args[1]) == "number" then value = table.remove(args, 1) end
    if not M.is_tensor(args[1]) or not M.is_tensor(args[2]) then
      error(op .. ": expected [value,] tensor1, tensor2", 2)
    end
    return core.tensor_zip3(out, x, args[1], args[2], op, value)
  end
end

-- x:lerp(y, weight): x + weight * (y - x) in place; res:lerp(a, b, weight).
function methods.lerp(res, a, b, w)
  if w == nil then return core.tensor_zip(res, res, a, "lerp", b) end
  return core.tensor_zip(into(res, a), a, b, "lerp", w)
end

-- x:gt(y | value) -> a new uint8 mask; res:gt(x, y | value) into res (a uint8 tensor).
for _, op in ipairs { "eq", "ne", "gt", "lt", "ge", "le" } do
  methods[op] = function(res, a, b)
    if b == nil then return core.tensor_compare(M.new_like(res, "uint8"), res, a, op) end
    return core.tensor_compare(into(res, a), a, b, op)
  end
end

-- The project's helpers from before the Torch7 names (kept: used across the pipeline).
function methods.scale(t, s) return t:mul(s) end         -- t *= s
function methods.axpy(t, alpha, x) return t:add(alpha, x) end -- t += alpha * x

-- Operators return new tensors. As in Torch7, tensor * tensor is a matrix product (dot for two
-- vectors, mv for a matrix and a vector, mm for two matrices); use cmul for the element-wise one.
local function operand_error(op, a, b)
  error(("tensor %s: expected tensors or numbers, got %s and %s"):format(op, type(a), type(b)), 3)
end

metatable.__add = function(a, b)
  if M.is_tensor(a) then return a:clone():add(b) end
  if M.is_tensor(b) then return b:clone():add(a) end
  operand_error("+", a, b)
end
metatable.__sub = function(a, b)
  if M.is_tensor(a) then return a:clone():sub(b) end
  if M.is_tensor(b) then return b:clone():neg():add(a) end
  operand_error("-", a, b)
end
metatable.__mul = function(a, b)
  if type(a) == "number" then return b:clone():mul(a) end
  if type(b) == "number" then return a:clone():mul(b) end
  if not (M.is_tensor(a) and M.is_tensor(b)) then operand_error("*", a, b) end
  if a:dim() == 1 and b:dim() == 1 then
    return a:dot(b)
  elseif a:dim() == 2 and b:dim() == 1 then
    return M.empty("float32"):mv(a, b)
  elseif a:dim() == 2 and b:dim() == 2 then
    return M.empty("float32"):mm(a, b)
  end
  error(("tensor *: a matrix product takes 1-D or 2-D tensors, got %s and %s"):format(
    M.shape_str(a), M.shape_str(b)), 2)
end
metatable.__div = function(a, b)
  if type(b) ~= "number" then error("tensor /: only by a number (use cdiv for tensors)", 2) end
  return a:clone():div(b)
end
metatable.__unm = function(a) return a:clone():neg() end

-- Reductions (csrc/lua/lua_tensor_reduce.c adds the C methods) ---------------------------------

-- Torch7's forms: x:sum() a number over all elements; x:sum(dim) a new tensor with dim kept at
-- size 1; res:sum(x, dim) into res (resized unless it has the result's shape). Dims are 1-based,
-- negative from the end; indices (max, min, sort, topk, kthvalue, median) are 1-based int64.

-- x:sum([dim]), x:prod([dim]), x:mean([dim]); res:sum(x, dim), ...
for _, op in ipairs { "sum", "prod", "mean" } do
  methods[op] = function(res, a, b)
    if M.is_tensor(a) then return core.tensor_reduce(res, a, op, b) end
    return core.tensor_reduce(nil, res, op, a)
  end
end

-- x:var([dim] [, biased]), x:std(...): divided by n - 1, or by n when the flag is true (Torch7's);
-- x:var(true) over all elements; res:var(x, dim [, biased]).
for _, op in ipairs { "var", "std" } do
  methods[op] = function(res, a, b, c)
    if M.is_tensor(a) then return core.tensor_reduce(res, a, op, b, c) end
    if type(a) == "boolean" then return core.tensor_reduce(nil, res, op, nil, a) end
    return core.tensor_reduce(nil, res, op, a, b)
  end
end

-- x:norm([p [, dim]]): the p-norm (default 2; p = 0 counts non-zeros, math.huge is max |x|);
-- res:norm(x, p, dim).
function methods.norm(res, a, b, c)
  if M.is_tensor(a) then return core.tensor_reduce(res, a, "norm", c, b) end
  return core.tensor_reduce(nil, res, "norm", b, a)
end

-- x:max() -> value, 1-based row-major index; x:max(dim) -> values, indices (first on ties, the
-- first NaN if any); resval:max(resind, x, dim). Likewise min.
for _, op in ipairs { "max", "min" } do
  methods[op] = function(res, a, b, c)
    if M.is_tensor(a) then
      if not M.is_tensor(b) then
        error(("%s: expected (dim) or (resind, x, dim), got a tensor and %s (element-wise: c%s)")
          :format(op, type(b), op), 2)
      end
      return core.tensor_extreme(res, a, b, op, c)
    end
    return core.tensor_extreme(nil, nil, res, op, a)
  end
end

-- x:cumsum([dim]), x:cumprod([dim]) (dim defaults to 1, as Torch7's); res:cumsum(x [, dim]).
for _, op in ipairs { "cumsum", "cumprod" } do
  methods[op] = function(res, a, b)
    if M.is_tensor(a) then return core.tensor_cumulate(res, a, op, b or 1) end
    return core.tensor_cumulate(nil, res, op, a or 1)
  end
end

-- Splits (resval, [resind, x,] ...) into the two results (nil: new ones), the input and the rest.
local function results(resval, a, b, ...)
  if M.is_tensor(a) and M.is_tensor(b) then return resval, a, b, ... end
  return nil, nil, resval, a, b, ...
end

-- x:sort([dim] [, descending]) -> sorted values, their 1-based indices (stable: equal elements
-- keep their order; NaN sorts after every number); dim defaults to the last.
function methods.sort(...)
  local rv, ri, x, dim, descending = results(...)
  if type(dim) == "boolean" then dim, descending = nil, dim end
  return core.tensor_sort(rv, ri, x, dim or -1, descending)
end

-- x:topk(k [, dim] [, dir] [, sort]): Torch7's order and defaults: the k smallest along dim (the
-- last by default), the k largest when dir is true. The result is always sorted (smallest first,
-- or largest first when dir is true), which Torch7's sort = false allows.
function methods.topk(...)
  local rv, ri, x, k, dim, dir = results(...)
  if type(dim) == "boolean" then dim, dir = nil, dim end
  return core.tensor_topk(rv, ri, x, k, dim or -1, dir)
end

-- x:kthvalue(k [, dim]) -> the k-th smallest values and their indices along dim (the last by
-- default); x:median([dim]) the lower median (the (n + 1) / 2-th smallest, as Torch7's).
function methods.kthvalue(...)
  local rv, ri, x, k, dim = results(...)
  return core.tensor_kthvalue(rv, ri, x, k, dim or -1, "kthvalue")
end

function methods.median(...)
  local rv, ri, x, dim = results(...)
  return core.tensor_kthvalue(rv, ri, x, nil, dim or -1, "median")
end

-- x:mode([dim]) -> the most frequent values along dim (the last by default; the smallest on ties)
-- and the index of their first occurrence.
function methods.mode(...)
  local rv, ri, x, dim = results(...)
  return core.tensor_mode(rv, ri, x, dim or -1)
end

-- mask:any(), mask:all() -> booleans (uint8 masks, as x:gt(0) gives).
function methods.any(t) return core.tensor_any_all(t, "any") end
function methods.all(t) return core.tensor_any_all(t, "all") end

-- The project's helper: the 1-based position of the maximum along the last dim (first on ties):
-- a number for a 1-D tensor, else a table with one index per row (leading dims flattened).
function methods.argmax(t)
  if t:dim() == 0 or t:numel() == 0 then error("argmax: an empty tensor has no maximum", 2) end
  local _, idx = t:max(-1)
  if t:dim() == 1 then return idx[1] end
  return idx:view(-1):totable()
end

-- Indexing and joining (csrc/lua/lua_tensor_index.c) -----------------------------------------------

-- The C methods (Torch7's forms: x:f(...) returns a new tensor, res:f(x, ...) writes into res):
-- cat, repeatTensor, index, gather, maskedSelect, nonzero; in place on x: indexCopy, indexAdd,
-- indexFill, scatter, maskedFill, maskedCopy. Indices are 1-based int64 (torch.LongTensor), masks
-- uint8 (torch.ByteTensor) 0s and 1s; t[mask] and t[mask] = v call maskedSelect/maskedFill/maskedCopy.

-- M.split_views(result, x, size [, dim], fn): Torch7's torch.split: views of `size` along dim
-- (default 1; the last one may be shorter), stored in the table result (emptied first).
function M.split_views(result, x, size, dim, fn)
  fn = fn or "split"
  if not M.is_tensor(x) then error(("%s: expected a tensor, got %s"):format(fn, type(x)), 3) end
  if type(size) ~= "number" or size < 1 or size ~= math.floor(size) then
    error(("%s: size must be a whole number >= 1, got %s"):format(fn, tostring(size)), 3)
  end
  dim = dim or 1
  local nd = x:dim()
  if type(dim) ~= "number" or dim ~= math.floor(dim) or dim == 0 or dim > nd or dim < -nd then
    error(("%s: dim %s out of range for a %d-D tensor"):format(fn, tostring(dim), nd), 3)
  end
  if dim < 0 then dim = nd + 1 + dim end
  for k in pairs(result) do result[k] = nil end
  local n, start = x:size(dim), 1
  while start <= n do
    local len = math.min(size, n - start + 1)
    result[#result + 1] = x:narrow(dim, start, len)
    start = start + len
  end
  return result
end

-- M.chunk_views(result, x, n [, dim]): Torch7's torch.chunk: at most n views of ceil(size / n).
function M.chunk_views(result, x, n, dim)
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) then
    error(("chunk: the number of chunks must be a whole number >= 1, got %s"):format(tostring(n)), 3)
  end
  if not M.is_tensor(x) then error(("chunk: expected a tensor, got %s"):format(type(x)), 3) end
  local nd = x:dim()
  local d = dim or 1
  if type(d) == "number" and d < 0 then d = nd + 1 + d end
  local size = (type(d) == "number" and d >= 1 and d <= nd) and math.ceil(x:size(d) / n) or 1
  return M.split_views(result, x, math.max(size, 1), dim, "chunk")
end

-- x:split(size [, dim]), x:chunk(n [, dim]) -> a list of views of x.
function methods.split(x, size, dim) return M.split_views({}, x, size, dim) end
function methods.chunk(x, n, dim) return M.chunk_views({}, x, n, dim) end

-- Random numbers and construction (csrc/lua/lua_random.c) -----------------------------------------

-- Random fills draw from the rock's one seeded generator (mnist.random.default, reseeded by
-- torch.manualSeed / mnist.manual_seed), element after element in x's row-major order, so a seed
-- gives the same values whatever x's strides: x:t():uniform() and x[{{}, 2}]:normal() fill views.
--   x:uniform([a, b])        float32, uniform in [a, b), default [0, 1)
--   x:normal([mean, std])    float32, default 0, 1
--   x:exponential([lambda])  float32, rate lambda (default 1)
--   x:bernoulli([p])         any dtype: 1 with probability p (default 0.5; a float tensor of
--                            probabilities, one per element, also does)
--   x:random([a,] [b])       any dtype: whole numbers in a..b, 1..b, or with no bound 0 .. the
--                            largest whole number the dtype holds exactly (uint8 255, float32 2^24,
--                            int64 2^53)
-- Each returns x.
local random = require "mnist.random"

for _, kind in ipairs { "uniform", "normal", "exponential", "bernoulli", "random" } do
  local fill = core["tensor_" .. kind]
  methods[kind] = function(t, ...) return fill(random.default, t, ...) end
end

-- Torch7's constructors as methods: x:zeros(sizes...) resizes x and fills it (torch.zeros(...) in
-- mnist.torch makes a new tensor through them). x keeps its dtype.
function methods.zeros(t, ...) return t:resize(shape_args(...)):fill(0) end
function methods.ones(t, ...) return t:resize(shape_args(...)):fill(1) end
function methods.rand(t, ...) return t:resize(shape_args(...)):uniform() end
function methods.randn(t, ...) return t:resize(shape_args(...)):normal() end

-- A whole number >= lo for argument `what` of fn.
local function whole(fn, what, v, lo)
  if type(v) ~= "number" or v ~= math.floor(v) or v < lo then
    error(("%s: %s must be a whole number >= %d, got %s"):format(fn, what, lo, tostring(v)), 3)
  end
  return v
end

-- x:randperm(n): x = 1..n in random order, resized to (n) (int64 from torch.randperm; Torch7's
-- gives a DoubleTensor).
function methods.randperm(t, n)
  whole("randperm", "n", n, 1)
  return core.tensor_permutation(random.default, t:resize(n))
end

-- x:range(a, b [, step]): a, a + step, ... up to b included, floor((b - a) / step) + 1 values
-- (Torch7's range, which unlike Lua's numeric for includes b when it is reached).
function methods.range(t, a, b, step)
  step = step or 1
  if type(a) ~= "number" or type(b) ~= "number" or type(step) ~= "number" then
    error("range: expected numbers: range(a, b [, step])", 2)
  end
  if step == 0 then error("range: step must not be 0", 2) end
  if (b - a) / step < 0 then
    error(("range: a step of %g never goes from %g to %g"):format(step, a, b), 2)
  end
  local n = math.floor((b - a) / step) + 1
  return core.tensor_fill_linear(t:resize(n), a, step, false, "range")
end

-- x:linspace(a, b [, n]) / x:logspace(a, b [, n]): n (default 100) points from a to b (10^a to
-- 10^b), both ends included. As Torch7, one point only when a == b.
for _, pair in ipairs { { "linspace", false }, { "logspace", true } } do
  local name, log10 = pair[1], pair[2]
  methods[name] = function(t, a, b, n)
    n = n or 100
    if type(a) ~= "number" or type(b) ~= "number" then
      error(("%s: expected numbers: %s(a, b [, n])"):format(name, name), 2)
    end
    whole(name, "n", n, 1)
    if n == 1 and a ~= b then
      error(("%s: one point needs a == b, got %g and %g (ask for n >= 2)"):format(name, a, b), 2)
    end
    return core.tensor_fill_linear(t:resize(n), a, n > 1 and (b - a) / (n - 1) or 0, log10, name)
  end
end

-- x:eye(n [, m]): the (n, m) identity (m defaults to n).
function methods.eye(t, n, m)
  whole("eye", "n", n, 1)
  whole("eye", "m", m or n, 1)
  return core.tensor_eye(t:resize(n, m or n))
end

-- Linear algebra (csrc/lua/lua_tensor_linalg.c) ----------------------------------------------------

-- Torch7's matrix products through the core's sgemm (csrc/tensor/tensor_linalg.c): transposed
-- and narrowed operands are read in place; res is resized to the result's shape unless it has it.
--   res:mm(mat1, mat2)  res:mv(mat, vec)  res:ger(vec1, vec2)  res:bmm(batch1, batch2)   res = a @ b
--   x:dot(y)                                  a number (same element count, any shapes)
--   res:addmm([v1,] [M,] [v2,] mat1, mat2)    res = v1 * M + v2 * mat1 @ mat2 (M defaults to res)
--   res:addmv(..., mat, vec), res:addr(..., vec1, vec2), res:baddbmm(..., batch1, batch2),
--   res:addbmm(..., batch1, batch2) (the batch's products summed) likewise.
-- As in Torch7, one number is v2 (x:addmm(0.5, a, b): x += 0.5 * a @ b); two are v1 and v2.
local function product_operands(fn, a, b, usage)
  if not (M.is_tensor(a) and M.is_tensor(b)) then
    error(("%s: expected %s, got %s and %s"):format(fn, usage, type(a), type(b)), 3)
  end
  return a, b
end

for _, p in ipairs { { "mm", "mat1, mat2" }, { "mv", "mat, vec" }, { "ger", "vec1, vec2" },
  { "bmm", "batch1, batch2" } } do
  local kind, usage = p[1], p[2]
  methods[kind] = function(res, a, b)
    product_operands(kind, a, b, "res:" .. kind .. "(" .. usage .. ")")
    return core.tensor_product(kind, res, 0, nil, 1, a, b)
  end
end

-- The optional arguments before the two operands: "" | v2 | M | M, v2 | v1, M | v1, M, v2 | v1, v2.
local ADD_FORMS = {
  [""] = function(res) return 1, res, 1 end,
  ["n"] = function(res, v2) return 1, res, v2 end,
  ["T"] = function(_, m) return 1, m, 1 end,
  ["Tn"] = function(_, m, v2) return 1, m, v2 end,
  ["nT"] = function(_, v1, m) return v1, m, 1 end,
  ["nTn"] = function(_, v1, m, v2) return v1, m, v2 end,
  ["nn"] = function(res, v1, v2) return v1, res, v2 end,
}

for _, p in ipairs { { "addmm", "mat1, mat2" }, { "addmv", "mat, vec2" }, { "addr", "vec1, vec2" },
  { "baddbmm", "batch1, batch2" }, { "addbmm", "batch1, batch2" } } do
  local kind, usage = p[1], p[2]
  methods[kind] = function(res, ...)
    local n, args = select("#", ...), { ... }
    local form = {}
    for i = 1, n - 2 do
      form[i] = M.is_tensor(args[i]) and "T" or type(args[i]) == "number" and "n" or "?"
    end
    local parse = ADD_FORMS[table.concat(form)]
    if not parse or n < 2 then
      error(("%s: expected res:%s([v1,] [M,] [v2,] %s)"):format(kind, kind, usage), 2)
    end
    product_operands(kind, args[n - 1], args[n], "res:" .. kind .. "([v1,] [M,] [v2,] " .. usage .. ")")
    local v1, m, v2 = parse(res, unpack(args, 1, n - 2))
    return core.tensor_product(kind, res, v1, m, v2, args[n - 1], args[n])
  end
end

-- Printing ---------------------------------------------------------------------------------------

local EDGE = 3 -- rows/columns shown at each end of a long dimension

local function shown(n)
  if n <= 2 * EDGE + 1 then
    local all = {}
    for i = 1, n do all[i] = i end
    return all
  end
  local idx = {}
  for i = 1, EDGE do idx[#idx + 1] = i end
  idx[#idx + 1] = false -- the ellipsis
  for i = n - EDGE + 1, n do idx[#idx + 1] = i end
  return idx
end

local function number_format(values)
  local integral, largest = true, 0
  for _, v in ipairs(values) do
    if v ~= math.floor(v) then integral = false end
    if v == v and math.abs(v) ~= math.huge then largest = math.max(largest, math.abs(v)) end
  end
  if integral and largest < 1e9 then return "%.0f" end
  if largest >= 1e5 or (largest < 1e-3 and largest > 0) then return "%.4e" end
  return "%.4f"
end

-- A 28x28 image as block art, dark to light by intensity (scaled to the tensor's own range).
local SHADES = { "  ", "░░", "▒▒", "▓▓", "██" }
local function block_art(img)
  local lo, hi = math.huge, -math.huge
  for _, row in ipairs(img) do
    for _, v in ipairs(row) do lo, hi = math.min(lo, v), math.max(hi, v) end
  end
  local span = hi > lo and hi - lo or 1
  local lines = {}
  for r, row in ipairs(img) do
    local cells = {}
    for c, v in ipairs(row) do
      local level = math.floor((v - lo) / span * (#SHADES - 1) + 0.5)
      cells[c] = SHADES[math.max(0, math.min(#SHADES - 1, level)) + 1]
    end
    lines[r] = "|" .. table.concat(cells) .. "|"
  end
  return table.concat(lines, "\n")
end

local function matrix_lines(t2, fmt, width)
  local rows, cols = t2:size(1), t2:size(2)
  local lines = {}
  for _, r in ipairs(shown(rows)) do
    if not r then
      lines[#lines + 1] = " ..."
    else
      local cells = {}
      for _, c in ipairs(shown(cols)) do
        cells[#cells + 1] = c and ("%" .. width .. "s"):format(fmt:format(t2:get(r, c))) or "..."
      end
      lines[#lines + 1] = " " .. table.concat(cells, " ")
    end
  end
  return lines
end

-- Torch7's way: the values (slices of more than 2 dims headed "(i,j,.,.) ="), then a footer
-- naming the type and size, "[torch.FloatTensor of size 2x3]".
metatable.__tostring = function(t)
  local size = t:size()
  local footer = ("[%s of size %s]"):format(M.TYPENAMES[t:dtype()], table.concat(size, "x"))
  if t:dim() == 0 then return ("[%s with no dimension]"):format(M.TYPENAMES[t:dtype()]) end
  if t:numel() == 0 then return footer end
  t = t:contiguous()
  local is_image = size[#size] == 28 and size[#size - 1] == 28 and t:numel() == 784
  if is_image then return block_art(t:view(28, 28):float():totable()) .. "\n" .. footer end
  local flat = t:view(t:numel())
  -- format and width from the values that will be printed (all of them for small tensors)
  local sample = {}
  local step = math.max(1, math.floor(t:numel() / 4096))
  for i = 1, t:numel(), step do sample[#sample + 1] = flat[i] end
  local fmt = number_format(sample)
  local width = 1
  for _, v in ipairs(sample) do width = math.max(width, #fmt:format(v)) end
  if t:dim() == 1 then
    return table.concat(matrix_lines(t:view(1, t:numel()), fmt, width), "\n") .. "\n" .. footer
  end
  local rows, cols = size[#size - 1], size[#size]
  local lead = t:view(-1, rows, cols)
  local out = {}
  local lead_shape = {}
  for i = 1, #size - 2 do lead_shape[i] = size[i] end
  for _, k in ipairs(shown(lead:size(1))) do
    if not k then
      out[#out + 1] = "..."
    else
      if #lead_shape > 0 then
        local idx, rest = {}, k - 1
        for d = #lead_shape, 1, -1 do
          idx[d] = rest % lead_shape[d] + 1
          rest = math.floor(rest / lead_shape[d])
        end
        out[#out + 1] = ("(%s,.,.) ="):format(table.concat(idx, ","))
      end
      for _, line in ipairs(matrix_lines(lead[k], fmt, width)) do out[#out + 1] = line end
      if #lead_shape > 0 then out[#out + 1] = "" end
    end
  end
  out[#out + 1] = footer
  return table.concat(out, "\n")
end

return setmetatable(M, {
  __call = function(_, ...) return M.new(...) end,
})
