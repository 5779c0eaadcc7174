-- nn.SelectTable(index): entry `index` of the input table (a tensor or a table, passed through
-- as it is); a negative index counts from the end (-1: the last). The input gradient is a table
-- shaped like the input: gradOutput at `index`, zeros everywhere else.
local T = require "mnist.tensor"
local Module = require "mnist.nn.Module"

local SelectTable, parent = Module:extend("SelectTable")

function SelectTable:__init(index)
  parent.__init(self)
  if type(index) ~= "number" or index == 0 or index ~= math.floor(index) then
    self:argumentError("index must be a whole number other than 0, got %s", tostring(index))
  end
  self.index = index
  self.gradInput = {}
end

function SelectTable:describe()
  return ("SelectTable(%d)"):format(self.index)
end

-- The 1-based position selected in input, or a clear error.
function SelectTable:position(input)
  if type(input) ~= "table" or T.is_tensor(input) then
    self:fail("expected a table input, got %s", T.is_tensor(input) and "a tensor" or type(input))
  end
  local i = self.index < 0 and #input + self.index + 1 or self.index
  if i < 1 or i > #input then self:fail("index %d is out of range for %d inputs", self.index, #input) end
  return i
end

function SelectTable:updateOutput(input)
  self.output = input[self:position(input)]
  return self.output
end

-- holder[key] = zeros shaped like x (a tensor or a nested table of them), reusing buffers.
local function zeros_like(holder, key, x)
  if T.is_tensor(x) then
    local z = holder[key]
    if not (T.is_tensor(z) and Module.sameSize(z, x)) then
      z = T.zeros(x:size())
      holder[key] = z
    end
    z:fill(0)
    return
  end
  if type(holder[key]) ~= "table" or T.is_tensor(holder[key]) then holder[key] = {} end
  for k, v in ipairs(x) do zeros_like(holder[key], k, v) end
  for k = #x + 1, #holder[key] do holder[key][k] = nil end
end

function SelectTable:updateGradInput(input, gradOutput)
  local at = self:position(input)
  local gradInput = type(self.gradInput) == "table" and not T.is_tensor(self.gradInput) and
    self.gradInput or {}
  self._zeros = self._zeros or {}
  for i = 1, #input do
    if i == at then
      gradInput[i] = gradOutput
    else
      zeros_like(self._zeros, i, input[i])
      gradInput[i] = self._zeros[i]
    end
  end
  for i = #input + 1, #gradInput do gradInput[i] = nil end
  self.gradInput = gradInput
  return gradInput
end

function SelectTable:clearState()
  parent.clearState(self)
  self.gradInput, self._zeros = {}, nil
  return self
end

return SelectTable
