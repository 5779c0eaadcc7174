-- mnist.torch: Torch7's `torch` table for this rock's tensors, without globals. A Torch7 script
-- starts with `local torch = require "mnist.torch"` instead of `require "torch"`.
--
--   local x = torch.Tensor(2, 3):uniform(-1, 1)      -- torch.FloatTensor, the default type
--   local y = torch.tanh(x)                          -- a new tensor; x:tanh() in place
--   local i = torch.LongTensor{1, 3}                 -- int64 indices
--   torch.manualSeed(1)
--
-- Types: torch.FloatTensor (float32, the default and only floating type), torch.ByteTensor
-- (uint8) and torch.LongTensor (int64). Double and CUDA tensors are refused with a clear error.
local T = require "mnist.tensor"
local core = require "mnist.core"
local random = require "mnist.random"

local M = {}

-- Constructors: torch.Tensor(sizes...), torch.Tensor{values}, torch.Tensor() (empty),
-- torch.Tensor(other) (a view of other's storage, as Torch7's).
local function constructor(dtype)
  return function(first, ...)
    if T.is_tensor(first) then
      local same = first:to(dtype) -- first itself when already of dtype: then a view of it
      return same == first and first:view(first:size()) or same
    end
    return T.of(dtype, first, ...)
  end
end
M.FloatTensor = constructor("float32")
M.ByteTensor = constructor("uint8")
M.LongTensor = constructor("int64")
M.Tensor = M.FloatTensor

function M.isTensor(x) return T.is_tensor(x) end

-- "torch.FloatTensor" for a tensor; Lua's type name otherwise (torch.typename's contract).
function M.typename(x)
  if T.is_tensor(x) then return x:type() end
  return nil
end

function M.type(x)
  if T.is_tensor(x) then return x:type() end
  return type(x)
end

function M.setdefaulttensortype(name)
  if T.dtype_of(name, "setdefaulttensortype") ~= "float32" then
    error("setdefaulttensortype: only torch.FloatTensor can be the default here", 2)
  end
end

function M.getdefaulttensortype() return "torch.FloatTensor" end

-- Random numbers come from the rock's one seeded generator (mnist.random.default).
function M.manualSeed(seed) random.manual_seed(seed) end
function M.seed()
  local s = math.floor(core.wall_time() * 1e6) % 2 ^ 53
  random.manual_seed(s)
  return s
end
function M.initialSeed() return random.seed end

function M.setnumthreads(n) core.blas_set_threads(n) end
function M.getnumthreads() return core.blas_info().threads end

-- torch.Timer(): time():real() in seconds since the start (or the last reset).
local Timer = {}
Timer.__index = Timer
function Timer:reset() self.start, self.stopped_at = core.wall_time(), nil return self end
function Timer:stop() self.stopped_at = core.wall_time() return self end
function Timer:resume()
  if self.stopped_at then self.start, self.stopped_at = self.start + core.wall_time() - self.stopped_at, nil end
  return self
end
function Timer:time()
  local now = self.stopped_at or core.wall_time()
  return { real = now - self.start }
end
function M.Timer() return setmetatable({}, Timer):reset() end

-- torch.f(x, ...) -> a new tensor; torch.f(res, x, ...) -> into res (Torch7's two call forms of
-- every element-wise function). `inputs` is how many tensors the function reads.
local function functional(name, inputs)
  M[name] = function(...)
    local args, tensors, like = { ... }, 0, nil
    for i = 1, select("#", ...) do
      if T.is_tensor(args[i]) then
        tensors = tensors + 1
        like = like or args[i]
      end
    end
    if not like then error(("torch.%s: expected a tensor argument"):format(name), 2) end
    if tensors > inputs then return like[name](...) end -- the first tensor is res
    local res = T.new_like(like, "float32")
    return res[name](res, ...)
  end
end

for _, op in ipairs(T.UNARY) do functional(op, 1) end
for _, op in ipairs { "mul", "div", "fmod", "remainder", "clamp", "pow" } do functional(op, 1) end
for _, op in ipairs { "add", "sub", "cmul", "cdiv", "cpow", "atan2", "cmax", "cmin" } do functional(op, 2) end
functional("lerp", 2)
for _, op in ipairs { "addcmul", "addcdiv" } do functional(op, 3) end

-- Comparisons: torch.gt(x, y) -> a new uint8 mask; torch.gt(res, x, y) into res.
for _, op in ipairs { "eq", "ne", "gt", "lt", "ge", "le" } do
  M[op] = function(a, b, c)
    if c ~= nil then return a[op](a, b, c) end
    return a[op](a, b)
  end
end

-- Shape functions that return views or copies of their first argument.
for _, name in ipairs { "view", "viewAs", "reshape", "narrow", "select", "transpose", "t", "expand",
  "expandAs", "squeeze", "unsqueeze", "unfold", "contiguous", "clone", "totable" } do
  M[name] = function(x, ...) return x[name](x, ...) end
end

function M.numel(x) return x:numel() end

-- Reductions: torch.sum(x, dim), torch.max(x, dim), torch.sort(x), ... ---------------------------

-- torch.f(x, ...) is x:f(...); torch.f(res, x, ...) is res:f(x, ...), and
-- torch.max(resval, resind, x, dim) is resval:max(resind, x, dim): the methods take every form.
for _, name in ipairs { "sum", "prod", "mean", "var", "std", "norm", "max", "min", "cumsum", "cumprod",
  "sort", "topk", "kthvalue", "median", "mode", "any", "all" } do
  M[name] = function(x, ...)
    if not T.is_tensor(x) then error(("torch.%s: expected a tensor, got %s"):format(name, type(x)), 2) end
    return x[name](x, ...)
  end
end

-- Indexing and joining: torch.cat(list, dim), torch.gather(x, dim, index), ... -------------------

-- torch.cat([res,] x1, x2 [, dim]), torch.cat([res,] {x1, x2, ...} [, dim]) (dim defaults to the
-- last); torch.index([res,] x, dim, indices), torch.gather([res,] x, dim, index),
-- torch.maskedSelect([res,] x, mask), torch.nonzero([res,] x), torch.repeatTensor([res,] x,
-- sizes...): the tensor method, which tells a result tensor from the source by the arguments.
for _, name in ipairs { "cat", "index", "gather", "maskedSelect", "nonzero", "repeatTensor" } do
  local method = core.tensor_methods[name]
  M[name] = function(...) return method(...) end
end

-- torch.split([result,] x, size [, dim]) and torch.chunk([result,] x, n [, dim]): lists of views
-- (dim defaults to 1); a given result table is emptied and filled.
function M.split(first, ...)
  if type(first) == "table" and not T.is_tensor(first) then return T.split_views(first, ...) end
  return T.split_views({}, first, ...)
end

function M.chunk(first, ...)
  if type(first) == "table" and not T.is_tensor(first) then return T.chunk_views(first, ...) end
  return T.chunk_views({}, first, ...)
end

-- Random numbers and construction: torch.rand, torch.randn, torch.randperm, torch.range, ... ------

-- torch.f([res,] ...): into res when the first argument is a tensor followed by more arguments
-- (a lone LongTensor is a size list, as Torch7's LongStorage), else a new tensor of `dtype`.
-- Values come from the methods of the same name (mnist.tensor), random ones from the rock's
-- seeded generator (torch.manualSeed).
local function constructor(name, dtype)
  M[name] = function(first, ...)
    if T.is_tensor(first) and select("#", ...) > 0 then return first[name](first, ...) end
    local res = T.empty(dtype)
    return res[name](res, first, ...)
  end
end
-- torch.zeros/ones/rand/randn(sizes...), torch.range(a, b [, step]), torch.linspace(a, b [, n]),
-- torch.logspace(a, b [, n]), torch.eye(n [, m]): float32 (Torch7's default type).
for _, name in ipairs { "zeros", "ones", "rand", "randn", "range", "linspace", "logspace", "eye" } do
  constructor(name, "float32")
end
-- torch.randperm(n): 1..n in random order as a LongTensor (Torch7's is a DoubleTensor).
constructor("randperm", "int64")

-- Torch7's number forms (tensors have the methods: x:uniform(...)): torch.uniform([a, b]),
-- torch.normal([mean, std]), torch.random([a,] [b]) (1..b, a..b; with no bound 1..2^32),
-- torch.bernoulli([p]) (0 or 1), torch.exponential([lambda]), all from the same generator.
function M.uniform(a, b)
  return random.default:uniform(a or 0, b or 1)
end
function M.normal(mean, std)
  return random.default:normal(mean or 0, std or 1)
end
function M.random(a, b)
  if a == nil then return random.default:random(2 ^ 32) end
  if b == nil then return random.default:random(a) end
  if type(a) ~= "number" or type(b) ~= "number" or b < a then
    error(("random: expected whole numbers a <= b, got %s and %s"):format(tostring(a), tostring(b)), 2)
  end
  return a - 1 + random.default:random(b - a + 1)
end
function M.bernoulli(p)
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then
    error("bernoulli: p must be a number in [0, 1], got " .. tostring(p), 2)
  end
  return random.default:uniform() < p and 1 or 0
end
function M.exponential(lambda)
  lambda = lambda or 1
  if type(lambda) ~= "number" or not (lambda > 0) then
    error("exponential: lambda must be a positive number, got " .. tostring(lambda), 2)
  end
  return -math.log(1 - random.default:uniform()) / lambda
end

-- Linear algebra: torch.mm, torch.mv, torch.addmm, torch.dot, torch.bmm, ... ---------------------

-- torch.f([res,] ...): into res when the call has one tensor more than f reads (Torch7's), else a
-- new float32 tensor. `inputs`: the tensors f reads (mm: 2; addmm: M, mat1, mat2).
local function product(name, inputs)
  M[name] = function(...)
    local args, tensors = { ... }, 0
    for i = 1, select("#", ...) do
      if T.is_tensor(args[i]) then tensors = tensors + 1 end
    end
    if tensors > inputs and T.is_tensor(args[1]) then return args[1][name](...) end
    local res = T.empty("float32")
    return res[name](res, ...)
  end
end
for _, name in ipairs { "mm", "mv", "ger", "bmm" } do product(name, 2) end
for _, name in ipairs { "addmm", "addmv", "addr", "baddbmm", "addbmm" } do product(name, 3) end

-- torch.dot(x, y): a number.
function M.dot(x, y)
  if not T.is_tensor(x) then error("dot: expected two tensors, got " .. type(x), 2) end
  return x:dot(y)
end

return M
