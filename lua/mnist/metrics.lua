-- mnist.metrics: a confusion matrix in the style of Torch's optim.ConfusionMatrix.
--
--   local cm = metrics.ConfusionMatrix(10)
--   cm:add_batch(log_probs, labels)   -- (N, 10) scores and (N) 0-based labels (tensor or table)
--   cm:accuracy()                     -- fraction correct
--   print(cm)                         -- the matrix, per-class accuracy, global accuracy
--   metrics.add_mistakes(list, log_probs, labels, offset)  -- the misclassified samples
local M = {}

local ConfusionMatrix = {}
ConfusionMatrix.__index = ConfusionMatrix

function M.ConfusionMatrix(n_classes, class_names)
  local self = setmetatable({ n = n_classes, names = class_names }, ConfusionMatrix)
  self:reset()
  return self
end

function ConfusionMatrix:reset()
  self.counts = {} -- counts[target][prediction], 1-based rows and columns for labels 0..n-1
  for t = 1, self.n do
    self.counts[t] = {}
    for p = 1, self.n do self.counts[t][p] = 0 end
  end
  self.total = 0
  return self
end

-- One prediction and its true label, both 0-based.
function ConfusionMatrix:add(prediction, target)
  if target < 0 or target >= self.n or target ~= math.floor(target) then
    error(("ConfusionMatrix: label %s outside 0..%d"):format(tostring(target), self.n - 1), 2)
  end
  local row = self.counts[target + 1]
  row[prediction + 1] = row[prediction + 1] + 1
  self.total = self.total + 1
end

-- A batch of scores (N, n) (the arg max is the prediction) and labels (N): a tensor or a table.
function ConfusionMatrix:add_batch(scores, labels)
  local predictions = scores:argmax()
  if type(predictions) == "number" then predictions = { predictions } end
  for i, p in ipairs(predictions) do
    self:add(p - 1, labels[i]) -- t[i] reads a 1-D tensor as it reads a table
  end
end

function ConfusionMatrix:correct()
  local c = 0
  for k = 1, self.n do c = c + self.counts[k][k] end
  return c
end

function ConfusionMatrix:accuracy()
  return self.total > 0 and self:correct() / self.total or 0
end

-- Fraction of class k (0-based) that was predicted as k.
function ConfusionMatrix:class_accuracy(k)
  local row, n = self.counts[k + 1], 0
  for p = 1, self.n do n = n + row[p] end
  return n > 0 and row[k + 1] / n or 0
end

-- The misclassified samples of a batch, appended to `out`: log-probabilities (N, n), labels (N)
-- (tensor or table), `offset` the number of samples of the split before this batch. Each entry:
-- {index = 1-based position in the split, label, prediction, probability = of the prediction}.
function M.add_mistakes(out, log_probs, labels, offset)
  local predictions = log_probs:argmax()
  if type(predictions) == "number" then predictions = { predictions } end
  for i, p in ipairs(predictions) do
    if p - 1 ~= labels[i] then
      out[#out + 1] = { index = offset + i, label = labels[i], prediction = p - 1,
        probability = math.exp(log_probs:get(i, p)) }
    end
  end
  return out
end

-- Worst first: the most confident wrong predictions, then by position.
function M.sort_mistakes(list)
  table.sort(list, function(a, b)
    if a.probability ~= b.probability then return a.probability > b.probability end
    return a.index < b.index
  end)
  return list
end

function ConfusionMatrix:__tostring()
  local width = #tostring(self.total) + 1
  local lines = { ("ConfusionMatrix (rows: true label, columns: prediction; %d samples)"):format(self.total) }
  for t = 1, self.n do
    local cells = {}
    for p = 1, self.n do cells[p] = ("%" .. width .. "d"):format(self.counts[t][p]) end
    local name = self.names and self.names[t] or tostring(t - 1)
    lines[#lines + 1] = ("[%s]  %6.2f%%  %s"):format(table.concat(cells, " "),
      100 * self:class_accuracy(t - 1), name)
  end
  lines[#lines + 1] = (" + global accuracy: %.2f%%  (%d / %d)"):format(100 * self:accuracy(),
    self:correct(), self.total)
  return table.concat(lines, "\n")
end

return M
