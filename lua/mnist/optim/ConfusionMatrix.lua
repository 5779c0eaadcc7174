-- optim.ConfusionMatrix: Torch7's optim.ConfusionMatrix, with this project's 0-based labels.
--
--   local cm = optim.ConfusionMatrix({ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" })
--   cm:batchAdd(log_probs, labels)  -- (N, 10) model output (arg max per row) and (N) labels
--   cm:add(7, 7)                    -- one prediction and its target
--   cm:updateValids()
--   print(cm.totalValid, cm.averageValid, cm.valids[8]) -- global, mean per class, class 7
--   print(cm)                        -- Torch7's print-out
--   cm:zero()
--
-- Labels: class k is the 0-based index k = 0 .. n-1, named classes[k + 1]. This is the project's
-- one deliberate difference from Torch7 (DESIGN.md): MNIST's digits are their own labels, so
-- ConfusionMatrix(10) or ConfusionMatrix({'0', ..., '9'}) counts digit d in row and column d + 1
-- of `mat` (a Lua table row is 1-based). A Torch7 script passing 1-based class indices
-- (1..n) must subtract 1. Out-of-range or fractional labels are an error (Torch7 ignored
-- targets <= 0 silently).
--
-- Fields (Torch7's): mat (n, n) float32 tensor of counts, rows = target, columns = prediction;
-- valids (n) per-class accuracy (recall; NaN for a class never seen), unionvalids (n)
-- (intersection over union), totalValid (global accuracy), averageValid (mean of the
-- valids that are not NaN), averageUnionValid, nclasses, classes. updateValids() refreshes the
-- derived fields; printing calls it.
local T = require "mnist.tensor"

local ConfusionMatrix = {}
ConfusionMatrix.__index = ConfusionMatrix

local function fail(fmt, ...)
  error("optim.ConfusionMatrix: " .. fmt:format(...), 0)
end

local function whole(v) return type(v) == "number" and v == math.floor(v) end

-- ConfusionMatrix(nclasses [, classes]) or ConfusionMatrix(classes) (a list of names).
local function new(nclasses, classes)
  if type(nclasses) == "table" then nclasses, classes = #nclasses, nclasses end
  if not whole(nclasses) or nclasses < 1 then
    fail("expected the number of classes (>= 1) or a list of class names, got %s", tostring(nclasses))
  end
  if classes ~= nil and type(classes) ~= "table" then
    fail("classes must be a list of names, got %s", type(classes))
  end
  local self = setmetatable({ nclasses = nclasses, classes = classes or {} }, ConfusionMatrix)
  self.mat = T.zeros(nclasses, nclasses)
  self.valids = T.zeros(nclasses)
  self.unionvalids = T.zeros(nclasses)
  self.totalValid, self.averageValid, self.averageUnionValid = 0, 0, 0
  return self
end

function ConfusionMatrix:zero()
  self.mat:fill(0)
  self.valids:fill(0)
  self.unionvalids:fill(0)
  self.totalValid, self.averageValid, self.averageUnionValid = 0, 0, 0
  return self
end

local function check_label(self, label, what)
  if not whole(label) or label < 0 or label >= self.nclasses then
    fail("%s %s is not a class label 0..%d (labels are 0-based)", what, tostring(label),
      self.nclasses - 1)
  end
end

-- The 0-based index of the largest value of a list (the first on ties).
local function argmax(list)
  local best, at = -math.huge, 0
  for i, v in ipairs(list) do
    if v > best then best, at = v, i - 1 end
  end
  return at
end

local function count(self, prediction, target)
  check_label(self, target, "target")
  check_label(self, prediction, "prediction")
  self.mat:set(target + 1, prediction + 1, self.mat:get(target + 1, prediction + 1) + 1)
end

-- add(prediction, target): prediction a label or a (n) tensor of scores (its arg max is the
-- prediction); target a label or a (n) one-hot / score tensor (its arg max).
function ConfusionMatrix:add(prediction, target)
  if T.is_tensor(prediction) then
    if prediction:numel() ~= self.nclasses then
      fail("add: prediction has %d scores for %d classes", prediction:numel(), self.nclasses)
    end
    prediction = argmax(prediction:view(self.nclasses):totable())
  end
  if T.is_tensor(target) then
    if target:numel() ~= self.nclasses then
      fail("add: target has %d values for %d classes", target:numel(), self.nclasses)
    end
    target = argmax(target:view(self.nclasses):totable())
  end
  count(self, prediction, target)
  return self
end

-- Labels from a (N) tensor or list of labels, or the arg max of each row of a (N, n) tensor
-- (the model's log-probabilities, or one-hot targets). A (N, 1) tensor holds labels.
local function labels_of(self, v, what)
  if type(v) == "table" then return v end
  if not T.is_tensor(v) then fail("batchAdd: %s must be a tensor or a list of labels, got %s", what, type(v)) end
  local dims = v:dim()
  if dims == 1 or (dims == 2 and v:size(2) == 1) then return v:view(v:numel()):totable() end
  if dims ~= 2 then fail("batchAdd: %s must be (N) labels or (N, %d) scores, got %s", what, self.nclasses, T.shape_str(v)) end
  if v:size(2) ~= self.nclasses then
    fail("batchAdd: %s has %d columns for %d classes", what, v:size(2), self.nclasses)
  end
  local rows, out = v:totable(), {}
  for i, row in ipairs(rows) do out[i] = argmax(row) end
  return out
end

-- batchAdd(predictions, targets): predictions (N, n) scores or log-probabilities (the arg max of
-- each row) or (N) labels; targets (N) labels (a tensor or a Lua list) or (N, n) one-hot rows.
function ConfusionMatrix:batchAdd(predictions, targets)
  local preds, targs = labels_of(self, predictions, "predictions"), labels_of(self, targets, "targets")
  if #preds ~= #targs then
    fail("batchAdd: %d predictions for %d targets", #preds, #targs)
  end
  for i = 1, #preds do check_label(self, targs[i], "target") check_label(self, preds[i], "prediction") end
  local mat = self.mat:totable()
  for i = 1, #preds do
    local row = mat[targs[i] + 1]
    row[preds[i] + 1] = row[preds[i] + 1] + 1
  end
  self.mat:copy(T(mat))
  return self
end

-- Refreshes valids, unionvalids, totalValid, averageValid and averageUnionValid from mat.
function ConfusionMatrix:updateValids()
  local n, mat = self.nclasses, self.mat:totable()
  local row_sums, col_sums, diagonal, total = {}, {}, 0, 0
  for t = 1, n do row_sums[t], col_sums[t] = 0, 0 end
  for t = 1, n do
    for p = 1, n do
      row_sums[t] = row_sums[t] + mat[t][p]
      col_sums[p] = col_sums[p] + mat[t][p]
    end
    diagonal = diagonal + mat[t][t]
    total = total + row_sums[t]
  end
  local valid_sum, nvalid, union_sum, nunion = 0, 0, 0, 0
  for t = 1, n do
    local valid = mat[t][t] / row_sums[t] -- NaN for a class never seen, as Torch7
    local union = mat[t][t] / (row_sums[t] + col_sums[t] - mat[t][t])
    self.valids[t], self.unionvalids[t] = valid, union
    if valid == valid then
      valid_sum, nvalid = valid_sum + valid, nvalid + 1
      if union == union then union_sum, nunion = union_sum + union, nunion + 1 end
    end
  end
  self.totalValid = total > 0 and diagonal / total or 0
  self.averageValid = nvalid > 0 and valid_sum / nvalid or 0
  self.averageUnionValid = nunion > 0 and union_sum / nunion or 0
  return self
end

-- The number of samples counted and of those predicted right.
function ConfusionMatrix:counts()
  local mat, total, correct = self.mat:totable(), 0, 0
  for t = 1, self.nclasses do
    for p = 1, self.nclasses do total = total + mat[t][p] end
    correct = correct + mat[t][t]
  end
  return total, correct
end

-- Torch7's layout: one bracketed row per target class with its accuracy and name, then the
-- averages.
function ConfusionMatrix:__tostring()
  self:updateValids()
  local n, mat = self.nclasses, self.mat:totable()
  local lines = { "ConfusionMatrix:" }
  for t = 1, n do
    local cells = {}
    for p = 1, n do cells[p] = ("%8d"):format(mat[t][p]) end
    local name = self.classes[t]
    lines[#lines + 1] = ("%s%s%s%2.3f%%%s"):format(t == 1 and "[[" or " [", table.concat(cells),
      t == n and "]]  " or "]   ", self.valids[t] * 100, name and (" \t[class: %s]"):format(name) or "")
  end
  local total, correct = self:counts()
  lines[#lines + 1] = (" + average row correct: %.3f%%"):format(self.averageValid * 100)
  lines[#lines + 1] = (" + average rowUcol correct (VOC measure): %.3f%%"):format(self.averageUnionValid * 100)
  lines[#lines + 1] = (" + global correct: %.3f%% (%d / %d)"):format(self.totalValid * 100, correct, total)
  return table.concat(lines, "\n")
end

return new
