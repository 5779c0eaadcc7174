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
      return first:to(dtype) == first and first:view(first:size()) or first:to(dtype)
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
function M.initialSeed() return random.default_seed and random.default_seed() or nil end

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

-- torch.zeros(sizes...), torch.ones(sizes...): float32.
function M.zeros(...) return T.zeros(...) end
function M.ones(...) return T.ones(...) end

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

-- (goes here)

-- Random numbers and construction: torch.rand, torch.randn, torch.randperm, torch.range, ... ------

-- (goes here)

-- Linear algebra: torch.mm, torch.mv, torch.addmm, torch.dot, torch.bmm, ... ---------------------

-- (goes here)

return M
