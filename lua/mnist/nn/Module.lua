-- mnist.nn.Module: the base class of every layer, with Torch7's contract.
--
--   y  = m:forward(x)               -- = m:updateOutput(x); returns m.output
--   gx = m:backward(x, gy)          -- = m:updateGradInput(x, gy) + m:accGradParameters(x, gy)
--   m:zeroGradParameters()          -- accGradParameters ACCUMULATES: zero the gradients per step
--   params, grads = m:parameters()  -- lists of tensors (empty lists for a module without any)
--   flat, gflat = m:getParameters() -- every parameter / gradient moved into one flat tensor
--   m:training() / m:evaluate()     -- dropout and batch norm behave differently in each
--   m:clone([names...])             -- a deep copy; with names ("weight", "bias", "gradWeight",
--                                   --   "gradBias"), those tensors shared with m (Torch7's clone)
--   m:share(other, names...)        -- those tensors of m now share other's storage (recursively)
--   m:reset([stdv])                 -- new random weights: uniform(-stdv*sqrt(3), stdv*sqrt(3))
--   m:apply(fn), m:findModules(typename), m:float(), m:type("torch.FloatTensor")
--   m:state()                       -- {name, tensor} pairs in PyTorch's state_dict order
--   m:namedTensors(prefix)          -- the same with a name prefix ("features.0.weight", ...)
--   m:children(), m:listModules()   -- the child modules; every module, depth first
--   m:numParameters(), m:clearState()
--
-- Inputs are batches: (N, C, H, W) images or (N, D) rows. `m.output` and `m.gradInput` are
-- buffers that the module reuses from call to call (nothing is allocated once shapes are stable),
-- so copy them if you need them after the next call.
--
-- Writing your own module: extend a class, call the parent's __init, implement updateOutput and
-- updateGradInput (and, with parameters, accGradParameters, which adds into the gradients):
--
--   local nn, T = require "mnist.nn", require "mnist.tensor"
--   local Scale, parent = nn.Module:extend("Scale")   -- the class nn.Scale
--
--   function Scale:__init(n)                          -- Scale(n): y = x * weight, per feature
--     parent.__init(self)
--     self.weight, self.gradWeight = T.ones(n), T.zeros(n)
--   end
--   function Scale:describe() return ("Scale(%d)"):format(self.weight:numel()) end
--   function Scale:updateOutput(x)                    -- x: (N, n)
--     x = self:checkInput(x, 2, "(N, D)")        -- x, or a contiguous copy of a view
--     self.output = self:buffer("output", x:size())   -- reused while the shape stays the same
--     ...                                             -- fill self.output from x and self.weight
--     return self.output
--   end
--   function Scale:updateGradInput(x, gradOutput) ... return self.gradInput end
--   function Scale:accGradParameters(x, gradOutput) ... end  -- gradWeight += ...
--
--   local model = nn.Sequential():add(nn.Linear(4, 3)):add(Scale(3))
--
-- Parameters are the fields weight/bias with gradients gradWeight/gradBias (override parameters()
-- for others); batch-norm statistics (running_mean, running_var) are buffers, not parameters.
-- Errors name the module: self:fail("expected ...") raises "Scale(3): expected ...".
local T = require "mnist.tensor"
local core = require "mnist.core"

local Module = {}
Module.__index = Module
Module.__typename = "nn.Module"

-- Metamethods are looked up on the metatable itself, not through __index, so every class
-- carries its own copy of this one.
local function tostring_metamethod(m) return m:__tostring__() end
Module.__tostring = tostring_metamethod

local function construct(cls, ...)
  local obj = setmetatable({}, cls)
  obj:__init(...)
  return obj
end

-- cls, parent = Base:extend("Name"): a new class nn.Name inheriting Base's methods. Calling the
-- class, cls(...), makes an instance and runs cls:__init(...).
function Module:extend(name)
  local cls = { __typename = "nn." .. name, __tostring = tostring_metamethod }
  cls.__index = cls
  return setmetatable(cls, { __index = self, __call = construct }), self
end

setmetatable(Module, { __call = construct })

function Module:__init()
  self.train = true
end

-- true when x is an nn module (an instance of Module or of any subclass).
function Module.isModule(x)
  if type(x) ~= "table" then return false end
  local mt = getmetatable(x)
  while mt do
    if mt == Module then return true end
    local parent = getmetatable(mt)
    mt = parent and parent.__index
    if type(mt) ~= "table" then return false end
  end
  return false
end

-- Torch7's contract -------------------------------------------------------------------------------

function Module:forward(input)
  return self:updateOutput(input)
end

function Module:backward(input, gradOutput)
  if self.skipGradInput then
    self.gradInput = nil
  else
    self:updateGradInput(input, gradOutput)
  end
  self:accGradParameters(input, gradOutput)
  return self.gradInput
end

-- m:setInputGradient(false): backward skips the gradient w.r.t. the input (it returns nil and
-- m.gradInput is nil; parameter gradients are unchanged), as PyTorch skips it for an input that
-- needs no grad: a network's first layer only sees data. Containers pass the setting to their
-- first module. updateGradInput, called by itself, still computes it. true restores the default.
function Module:setInputGradient(wanted)
  self.skipGradInput = not wanted or nil
  return self
end

function Module:updateOutput(_)
  self:fail("updateOutput is not implemented")
end

function Module:updateGradInput(_, _)
  self:fail("updateGradInput is not implemented")
end

-- Adds this batch's parameter gradients into the gradient tensors (nothing for most modules).
function Module:accGradParameters(_, _) end

function Module:zeroGradParameters()
  local _, grads = self:parameters()
  for _, g in ipairs(grads) do g:fill(0) end
end

-- params, grads: the parameter tensors and their gradients, in the same order.
function Module:parameters()
  local params, grads = {}, {}
  if self.weight then params[#params + 1], grads[#grads + 1] = self.weight, self.gradWeight end
  if self.bias then params[#params + 1], grads[#grads + 1] = self.bias, self.gradBias end
  return params, grads
end

-- The number of trainable values.
function Module:numParameters()
  local n = 0
  for _, p in ipairs((self:parameters())) do n = n + p:numel() end
  return n
end

-- The tensors of a list that are distinct regions (the first of each), and for every tensor the
-- first one holding the same region: a parameter shared between modules (share, clone with
-- names) appears once in the flat arena and stays shared. Tensors that overlap only in part
-- cannot be flattened apart: nil and the reason.
local function distinct_regions(tensors, what)
  local unique, owner = {}, {}
  for i, t in ipairs(tensors) do
    local first, off, n = nil, core.storage_offset(t), t:numel()
    for _, u in ipairs(unique) do
      if t:shares(u) then
        local uoff, un = core.storage_offset(u), u:numel()
        if uoff == off and un == n then first = u break end
        if off < uoff + un and uoff < off + n then
          return nil, ("getParameters: %s %d overlaps another one in part; share whole tensors only")
            :format(what, i)
        end
      end
    end
    if not first then unique[#unique + 1], first = t, t end
    owner[i] = first
  end
  return unique, owner
end

-- Moves `tensors` into one flat arena (keeping their values) and returns the arena; returns
-- `arena` itself when the distinct tensors already sit there back to back in the same order.
-- nil and the reason when they cannot be flattened.
local function flatten(tensors, arena, what)
  local unique, owner = distinct_regions(tensors, what)
  if not unique then return nil, owner end
  local total = 0
  for _, t in ipairs(unique) do total = total + t:numel() end
  if arena and arena:numel() == total then
    local offset, intact = core.storage_offset(arena), true
    for _, t in ipairs(unique) do
      if not t:shares(arena) or core.storage_offset(t) ~= offset then intact = false break end
      offset = offset + t:numel()
    end
    if intact then return arena end
  end
  if total == 0 then return nil end
  arena = T.zeros(total)
  local at, offset = {}, 0
  for _, t in ipairs(unique) do
    local n = t:numel()
    core.concat_copy(arena, t:view(n), 1, offset, true)
    at[t] = offset
    offset = offset + n
  end
  for i, t in ipairs(tensors) do t:set_storage(arena, at[owner[i]]) end
  return arena
end

-- flat, gradFlat: 1-D tensors holding every parameter and every gradient. The module's own
-- tensors are re-pointed into them (values kept), so `flat:axpy(-lr, gradFlat)` updates the
-- model: the optimizer is one loop. Calling it again returns the same arenas while the layout
-- holds (and rebuilds them, values kept, after parameters were replaced). nil, nil for a module
-- without parameters.
function Module:getParameters()
  local params, grads = self:parameters()
  local flat, why = flatten(params, self._flatParameters, "parameter")
  if why then self:fail("%s", why) end
  local gradFlat, gradWhy = flatten(grads, self._flatGradParameters, "gradient")
  if gradWhy then self:fail("%s", gradWhy) end
  if (flat and flat:numel() or 0) ~= (gradFlat and gradFlat:numel() or 0) then
    self:fail("getParameters: %d distinct parameter values but %d gradient values; modules that "
      .. "share parameters must share their gradients too (clone('weight', 'bias', 'gradWeight', "
      .. "'gradBias'))", flat and flat:numel() or 0, gradFlat and gradFlat:numel() or 0)
  end
  self._flatParameters, self._flatGradParameters = flat, gradFlat
  return flat, gradFlat
end

function Module:training()
  self.train = true
  return self
end

function Module:evaluate()
  self.train = false
  return self
end

-- Drops the buffers (outputs, gradients w.r.t. inputs, workspaces) to save memory, e.g. before
-- saving or cloning; they come back on the next forward.
function Module:clearState()
  for _, key in ipairs { "output", "gradInput", "workspace", "_labels" } do self[key] = nil end
  return self
end

-- seen: originals -> copies; seen[REGIONS]: the tensors cloned so far, so that a tensor sharing
-- another's region (a shared parameter) is copied as a view of that one's copy.
local REGIONS = {}

local function copy_tensor(x, seen)
  local regions = seen[REGIONS]
  for _, o in ipairs(regions) do
    if x:shares(o) and core.storage_offset(x) == core.storage_offset(o) and x:numel() == o:numel() then
      local view = T.zeros(x:size())
      view:set_storage(seen[o], 0)
      return view
    end
  end
  regions[#regions + 1] = x
  return x:clone()
end

local function deepcopy(x, seen)
  if seen[x] ~= nil then return seen[x] end
  if T.is_tensor(x) then
    seen[x] = copy_tensor(x, seen)
    return seen[x]
  end
  if type(x) ~= "table" then return x end -- numbers, strings, generators are shared
  local copy = {}
  seen[x] = copy
  for k, v in pairs(x) do copy[deepcopy(k, seen)] = deepcopy(v, seen) end
  return setmetatable(copy, getmetatable(x))
end

-- A deep copy: same class, same values, no tensor shared with this module (tensors shared inside
-- it stay shared inside the copy). With names, m:clone("weight", "bias", ...) then shares those
-- tensors with this module, as Torch7's (e.g. the twin branches of a siamese network).
function Module:clone(...)
  local copy = deepcopy(self, { [REGIONS] = {} })
  if select("#", ...) > 0 then copy:share(self, ...) end
  return copy
end

-- m:share(other, "weight", "bias", ...): m's tensors of those names now live in other's storage
-- (same values, updates seen by both); containers share child by child. Returns m.
function Module:share(other, ...)
  if not Module.isModule(other) then self:fail("share expects a module, got %s", type(other)) end
  for i = 1, select("#", ...) do
    local name = select(i, ...)
    if type(name) ~= "string" then
      self:fail("share: tensor names must be strings, got %s", type(name))
    end
    local mine, theirs = self[name], other[name]
    if T.is_tensor(mine) and T.is_tensor(theirs) then
      if mine:numel() ~= theirs:numel() then
        self:fail("share: %s %s and %s differ in size", name, T.shape_str(mine), T.shape_str(theirs))
      end
      mine:set_storage(theirs, 0)
    end
  end
  local mineChildren, theirChildren = self:children(), other:children()
  if #mineChildren ~= #theirChildren then
    self:fail("share: %d children here, %d in %s", #mineChildren, #theirChildren, tostring(other))
  end
  for k, child in ipairs(mineChildren) do child:share(theirChildren[k], ...) end
  return self
end

-- New random parameters (Torch7's reset); containers reset their children. Leaves without
-- parameters have nothing to do.
function Module:reset(stdv)
  for _, child in ipairs(self:children()) do child:reset(stdv) end
  return self
end

-- Calls fn(m) on this module and then on every module inside it, depth first.
function Module:apply(fn)
  fn(self)
  for _, child in ipairs(self:children()) do child:apply(fn) end
  return self
end

-- The modules of class typename ("nn.Linear" or "Linear"), depth first, and the container
-- directly holding each one (nil for this module itself), as Torch7's findModules.
function Module:findModules(typename, container)
  if type(typename) ~= "string" then
    self:fail("findModules expects a type name such as \"nn.Linear\", got %s", type(typename))
  end
  if not typename:find("^nn%.") then typename = "nn." .. typename end
  local found, holders = {}, {}
  if self.__typename == typename then found[1], holders[1] = self, container end
  for _, child in ipairs(self:children()) do
    local f, h = child:findModules(typename, self)
    for k = 1, #f do found[#found + 1], holders[#holders + 1] = f[k], h[k] end
  end
  return found, holders
end

-- Tensor types: every module is float32 (torch.FloatTensor); m:float() and
-- m:type("torch.FloatTensor") return m, m:type() the type's name; anything else is refused.
function Module:type(name)
  if name == nil then return "torch.FloatTensor" end
  if name == "torch.FloatTensor" or name == "float" or name == "float32" then return self end
  self:fail("type %s is not supported: mnist.nn modules are float32 only (torch.FloatTensor)",
    tostring(name))
end

function Module:float()
  return self
end

function Module:double()
  return self:type("torch.DoubleTensor")
end

function Module:cuda()
  return self:type("torch.CudaTensor")
end

-- Structure and names --------------------------------------------------------------------------

-- The child modules (none for a leaf).
function Module:children()
  return self.modules or {}
end

-- Every module, depth first, this one included.
function Module:listModules()
  local list = { self }
  for _, child in ipairs(self:children()) do
    for _, m in ipairs(child:listModules()) do list[#list + 1] = m end
  end
  return list
end

-- The tensors a PyTorch state_dict holds for this module, in its order: parameters, then buffers.
Module.stateKeys = { "weight", "bias", "running_mean", "running_var" }

-- { {name, tensor}, ... } with names prefix .. key ("0.weight", "3.running_mean", ...) in
-- PyTorch's state_dict order. Each pair also has .name and .tensor.
function Module:namedTensors(prefix)
  prefix = prefix or ""
  local list = {}
  for _, key in ipairs(self.stateKeys) do
    local t = self[key]
    if t then list[#list + 1] = { prefix .. key, t, name = prefix .. key, tensor = t } end
  end
  return list
end

-- The whole model's named tensors, as PyTorch's state_dict() (names without a prefix).
function Module:state()
  return self:namedTensors("")
end

-- The compact label that errors start with, e.g. "SpatialConvolution(1->32, 3x3)".
function Module:describe()
  return (self.__typename:gsub("^nn%.", ""))
end

-- What print(m) shows, Torch's way: "nn.SpatialConvolution(1 -> 32, 3x3)".
function Module:__tostring__()
  return "nn." .. self:describe():gsub("%->", " -> ")
end

-- Checks and buffers ----------------------------------------------------------------------------

-- Raises "<describe()>: message" (message formatted with the extra arguments).
function Module:fail(fmt, ...)
  error(self:describe() .. ": " .. fmt:format(...), 0)
end

-- For constructors (before describe() can work): raises "<class name>: message".
function Module:argumentError(fmt, ...)
  error(self.__typename:gsub("^nn%.", "") .. ": " .. fmt:format(...), 0)
end

-- A constructor argument that must be a whole number >= min; `default` replaces nil.
function Module:wholeArgument(value, what, min, default)
  if value == nil then value = default end
  if type(value) ~= "number" or value < min or value ~= math.floor(value) then
    self:argumentError("%s must be a whole number >= %d, got %s", what, min, tostring(value))
  end
  return value
end

local function shape_str(t)
  return T.shape_str(t)
end
Module.shapeString = shape_str

-- Checks that x is a float32 tensor with `ndim` dims (any number when nil); `layout` names them,
-- e.g. "(N, C, H, W)". Returns x, or a contiguous copy of a strided view (the C kernels read
-- contiguous memory): `input = self:checkInput(input, ...)`.
function Module:checkInput(x, ndim, layout)
  if not T.is_tensor(x) then self:fail("expected a tensor input, got %s", type(x)) end
  if x:dtype() ~= "float32" then
    self:fail("expected a float32 input, got %s %s", x:dtype(), shape_str(x))
  end
  if ndim and x:dim() ~= ndim then
    self:fail("expected a %d-D batch %s, got %s", ndim, layout, shape_str(x))
  end
  return x:contiguous()
end

-- true when tensors a and b have the same shape (compared without building strings or tables).
local function same_dims(a, b)
  if a:dim() ~= b:dim() then return false end
  for i = 1, a:dim() do
    if a:size(i) ~= b:size(i) then return false end
  end
  return true
end

-- Checks that gradOutput has the shape of the last output; returns it contiguous (as checkInput).
function Module:checkGradOutput(gradOutput)
  if not T.is_tensor(gradOutput) then
    self:fail("expected a gradOutput tensor, got %s", type(gradOutput))
  end
  if not T.is_tensor(self.output) then self:fail("backward called before forward") end
  if not same_dims(gradOutput, self.output) or gradOutput:dtype() ~= "float32" then
    self:fail("expected a float32 gradOutput of shape %s, got %s %s", shape_str(self.output),
      gradOutput:dtype(), shape_str(gradOutput))
  end
  return gradOutput:contiguous()
end

local function same_shape(t, shape)
  if t:dim() ~= #shape then return false end
  for i = 1, #shape do
    if t:size(i) ~= shape[i] then return false end
  end
  return true
end

-- self[name], reused when it already has `shape` (a table), else a new zero tensor stored there.
function Module:buffer(name, shape)
  local t = self[name]
  if not (T.is_tensor(t) and same_shape(t, shape)) then
    t = T.zeros(shape)
    self[name] = t
  end
  return t
end

-- self[list][i] (list: a table field), reused when it already has `shape`, else a new zero
-- tensor stored there: the per-child or per-input buffers of containers and table modules.
function Module:bufferAt(list, i, shape)
  local holder = self[list]
  if type(holder) ~= "table" then
    holder = {}
    self[list] = holder
  end
  local t = holder[i]
  if not (T.is_tensor(t) and same_shape(t, shape)) then
    t = T.zeros(shape)
    holder[i] = t
  end
  return t
end

-- true when tensors a and b have the same shape.
Module.sameSize = same_dims

-- Checks that x is a Lua table of at least `count` float32 tensors (any count when nil).
function Module:checkTensorTable(x, count, what)
  what = what or "input"
  if type(x) ~= "table" or T.is_tensor(x) then
    self:fail("expected a table of tensors as %s, got %s", what, T.is_tensor(x) and "a tensor" or type(x))
  end
  if #x < (count or 1) then
    self:fail("expected %d tensors in the %s table, got %d", count or 1, what, #x)
  end
  for i, t in ipairs(x) do
    if not T.is_tensor(t) or t:dtype() ~= "float32" then
      self:fail("%s[%d] must be a float32 tensor, got %s", what, i,
        T.is_tensor(t) and t:dtype() or type(t))
    end
  end
end

-- self[name] as scratch of at least n floats (any shape), reallocated only when too small.
function Module:workspaceBuffer(name, n)
  local t = self[name]
  if not (T.is_tensor(t) and t:numel() >= n) then
    t = T.zeros(n)
    self[name] = t
  end
  return t
end

-- Torch7's initialisation for conv and linear layers, which PyTorch's default also gives
-- (kaiming_uniform with a = sqrt(5)): weight and bias uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)),
-- drawn from mnist.random.default. With `stdv`, as Torch7's reset(stdv): uniform in
-- (-stdv*sqrt(3), stdv*sqrt(3)), whose standard deviation is stdv.
function Module:resetUniform(fanIn, stdv)
  local rng = require("mnist.random").default
  if stdv ~= nil and (type(stdv) ~= "number" or not (stdv >= 0)) then
    self:fail("reset: stdv must be a number >= 0, got %s", tostring(stdv))
  end
  local bound = stdv and stdv * math.sqrt(3) or 1 / math.sqrt(fanIn)
  rng:fill_uniform(self.weight, -bound, bound)
  if self.bias then rng:fill_uniform(self.bias, -bound, bound) end
  return self
end

return Module
