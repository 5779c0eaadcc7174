-- optim.ConfusionMatrix (Torch7's API, 0-based labels) against hand-computed matrices.
local T = require "mnist.tensor"
local optim = require "mnist.optim"

local function near(a, b) return math.abs(a - b) < 1e-7 end -- valids are float32, as Torch7's

describe("optim.ConfusionMatrix", function()
  -- scores pick 0, 1, 1, 2, 0; targets are 0, 1, 2, 2, 1
  local SCORES = { { 9, 0, 0 }, { 0, 9, 0 }, { 0, 9, 0 }, { 0, 0, 9 }, { 9, 0, 0 } }
  local TARGETS = { 0, 1, 2, 2, 1 }
  local MATRIX = { { 1, 0, 0 }, { 1, 1, 0 }, { 0, 1, 1 } } -- rows: target, columns: prediction

  it("counts a batch of scores (the model's log-probabilities) against label tensors", function()
    local cm = optim.ConfusionMatrix({ "zero", "one", "two" })
    cm:batchAdd(T(SCORES):add(-20), T(TARGETS)) -- log-probabilities are negative: the arg max counts
    assert.same(MATRIX, cm.mat:totable())
    cm:updateValids()
    assert.is_true(near(cm.totalValid, 3 / 5))
    assert.same({ 1, 0.5, 0.5 }, cm.valids:totable())
    assert.is_true(near(cm.averageValid, 2 / 3))
    -- intersection over union: class 0: 1 / (1 + 2 - 1), class 1: 1 / (2 + 2 - 1), class 2: 1 / (2 + 1 - 1)
    assert.is_true(near(cm.unionvalids[1], 0.5) and near(cm.unionvalids[2], 1 / 3) and near(cm.unionvalids[3], 0.5))
    assert.is_true(near(cm.averageUnionValid, (0.5 + 1 / 3 + 0.5) / 3))
  end)

  it("takes labels, Lua lists, one-hot targets and single samples alike", function()
    local by_labels = optim.ConfusionMatrix(3)
    by_labels:batchAdd(T { 0, 1, 1, 2, 0 }, TARGETS)
    assert.same(MATRIX, by_labels.mat:totable())
    local one_hot = {}
    for i, t in ipairs(TARGETS) do
      one_hot[i] = { 0, 0, 0 }
      one_hot[i][t + 1] = 1
    end
    local by_rows = optim.ConfusionMatrix(3)
    by_rows:batchAdd(T(SCORES), T(one_hot))
    assert.same(MATRIX, by_rows.mat:totable())
    local single = optim.ConfusionMatrix(3)
    for i = 1, #TARGETS do
      if i % 2 == 0 then single:add(T(SCORES[i]), TARGETS[i]) else single:add(({ 0, 1, 1, 2, 0 })[i], TARGETS[i]) end
    end
    assert.same(MATRIX, single.mat:totable())
  end)

  it("prints Torch7's layout, zeroes, and marks unseen classes NaN without counting them", function()
    local cm = optim.ConfusionMatrix({ "a", "b", "c" })
    cm:batchAdd(T { 0, 1, 1 }, { 0, 1, 0 })
    local text = tostring(cm)
    assert.truthy(text:find("ConfusionMatrix:\n[[       1       1       0]   50.000% \t[class: a]\n", 1, true), text)
    assert.truthy(text:find("\n [       0       1       0]   100.000% \t[class: b]\n", 1, true), text)
    assert.truthy(text:find("\n [       0       0       0]]  nan% \t[class: c]\n", 1, true), text)
    assert.truthy(text:find(" + average row correct: 75.000%", 1, true), text)
    assert.truthy(text:find(" + global correct: 66.667% (2 / 3)", 1, true), text)
    assert.is_true(cm.valids[3] ~= cm.valids[3]) -- class c never seen: NaN, as Torch7
    cm:zero()
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } }, cm.mat:totable())
    assert.equal(0, cm.totalValid)
  end)

  it("rejects labels outside 0..n-1 and mismatched shapes, naming them", function()
    local cm = optim.ConfusionMatrix(2)
    assert.has_error(function() cm:add(0, 2) end,
      "optim.ConfusionMatrix: target 2 is not a class label 0..1 (labels are 0-based)")
    assert.has_error(function() cm:batchAdd(T { 0, 1 }, { 1, 0.5 }) end,
      "optim.ConfusionMatrix: target 0.5 is not a class label 0..1 (labels are 0-based)")
    assert.has_error(function() cm:batchAdd(T(3, 3), { 0, 1, 0 }) end,
      "optim.ConfusionMatrix: batchAdd: predictions has 3 columns for 2 classes")
    assert.has_error(function() cm:batchAdd(T { 0, 1 }, { 0 }) end,
      "optim.ConfusionMatrix: batchAdd: 2 predictions for 1 targets")
    assert.same({ { 0, 0 }, { 0, 0 } }, cm.mat:totable()) -- a rejected batch counts nothing
    assert.has_error(function() optim.ConfusionMatrix(0) end,
      "optim.ConfusionMatrix: expected the number of classes (>= 1) or a list of class names, got 0")
  end)
end)
