-- mnist.tensor: float32 (and uint8) tensors from the C core, with the Lua conveniences on top.
--
--   mnist.tensor(2, 3)              zeros of shape (2, 3)
--   mnist.tensor{{1, 2}, {3, 4}}    from nested tables
--   mnist.tensor.frombytes(s, {28, 28}, 1/255)   bytes -> float32 (uint8 when no scale)
--
-- Indices are 1-based (t[1], t:get(i, j)); `view`, `select`, `narrow` and t[i] share storage,
-- `reshape` and `clone` copy. Methods in C: size dim numel type get set select narrow fill copy
-- clone view add mul scale axpy sum mean max argmax totable float set_storage shares.
local core = require "mnist.core"

local M = {}
local methods, metatable = core.tensor_methods, core.tensor_metatable

function M.is_tensor(x)
  return getmetatable(x) == metatable
end

local function shape_args(first, ...)
  if type(first) == "table" then return first end
  return { first, ... }
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

-- M.fromraw(s, shape): float32 from raw little-endian float32 bytes (the inverse of t:tobytes()).
M.fromraw = core.tensor_from_raw

function M.new(first, ...)
  if M.is_tensor(first) then return first:clone() end
  if type(first) == "table" then return core.tensor_from_table(first) end
  if type(first) == "number" then return M.zeros(first, ...) end
  error("mnist.tensor: expected a shape (numbers), a nested table or a tensor, got " .. type(first), 2)
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

-- Methods written in Lua -------------------------------------------------------------------------

function methods.matmul(a, b, trans_a, trans_b)
  return M.matmul(a, b, trans_a, trans_b)
end

-- A copy with another shape of the same element count (Torch's reshape copies; view shares).
function methods.reshape(t, ...)
  return t:clone():view(...)
end

function methods.shape(t)
  return M.shape_str(t)
end

-- Operators return new tensors; the methods (add, mul, scale) work in place.
local function binary(a, b, name, in_place)
  if M.is_tensor(a) then return in_place(a:clone(), b) end
  if name == "sub" then return in_place(b:clone():scale(-1), a) end
  return in_place(b:clone(), a) -- number op tensor, commutative
end
metatable.__add = function(a, b) return binary(a, b, "add", methods.add) end
metatable.__mul = function(a, b) return binary(a, b, "mul", methods.mul) end
metatable.__sub = function(a, b)
  if M.is_tensor(a) and M.is_tensor(b) then return a:clone():axpy(-1, b) end
  if M.is_tensor(a) then return a:clone():add(-b) end
  return binary(a, b, "sub", methods.add)
end
metatable.__div = function(a, b)
  if type(b) ~= "number" then error("tensor division: only by a number", 2) end
  return a:clone():scale(1 / b)
end
metatable.__unm = function(a) return a:clone():scale(-1) end

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

metatable.__tostring = function(t)
  local header = ("mnist.tensor %s %s"):format(M.shape_str(t), t:type())
  local size = t:size()
  local is_image = size[#size] == 28 and size[#size - 1] == 28 and t:numel() == 784
  local flat = t:view(t:numel())
  -- format and width from the values that will be printed (all of them for small tensors)
  local sample = {}
  local step = math.max(1, math.floor(t:numel() / 4096))
  for i = 1, t:numel(), step do sample[#sample + 1] = flat[i] end
  local fmt = number_format(sample)
  local width = 1
  for _, v in ipairs(sample) do width = math.max(width, #fmt:format(v)) end
  if is_image then return header .. "\n" .. block_art(t:view(28, 28):totable()) end
  if t:dim() == 1 then
    return header .. "\n" .. table.concat(matrix_lines(t:view(1, t:numel()), fmt, width), "\n")
  end
  local rows, cols = size[#size - 1], size[#size]
  local lead = t:view(t:numel() / (rows * cols), rows, cols)
  local out = { header }
  local lead_shape = {}
  for i = 1, #size - 2 do lead_shape[i] = size[i] end
  for _, k in ipairs(shown(lead:size(1))) do
    if not k then
      out[#out + 1] = "..."
    else
      if #lead_shape > 0 then
        -- the leading indices of slice k, as Torch prints them: (i,j,.,.)
        local idx, rest = {}, k - 1
        for d = #lead_shape, 1, -1 do
          idx[d] = rest % lead_shape[d] + 1
          rest = math.floor(rest / lead_shape[d])
        end
        out[#out + 1] = ("(%s,.,.) ="):format(table.concat(idx, ","))
      end
      for _, line in ipairs(matrix_lines(lead[k], fmt, width)) do out[#out + 1] = line end
    end
  end
  return table.concat(out, "\n")
end

return setmetatable(M, {
  __call = function(_, ...) return M.new(...) end,
})
