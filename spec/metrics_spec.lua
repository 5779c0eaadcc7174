local T = require "mnist.tensor"
local metrics = require "mnist.metrics"

describe("ConfusionMatrix", function()
  it("counts predictions against labels (hand-computed case)", function()
    local cm = metrics.ConfusionMatrix(3)
    -- scores pick 0, 1, 1, 2, 0; labels are 0, 1, 2, 2, 1
    local scores = T { { 9, 0, 0 }, { 0, 9, 0 }, { 0, 9, 0 }, { 0, 0, 9 }, { 9, 0, 0 } }
    cm:add_batch(scores, T { 0, 1, 2, 2, 1 })
    assert.equal(5, cm.total)
    assert.equal(3, cm:correct())
    assert.near(0.6, cm:accuracy(), 1e-12)
    assert.same({ 1, 0, 0 }, cm.counts[1])
    assert.same({ 1, 1, 0 }, cm.counts[2])
    assert.same({ 0, 1, 1 }, cm.counts[3])
    assert.equal(1, cm:class_accuracy(0))
    assert.equal(0.5, cm:class_accuracy(1))
    local text = tostring(cm)
    assert.truthy(text:find("[ 1  1  0]   50.00%  1", 1, true), text)
    assert.truthy(text:find("global accuracy: 60.00%  (3 / 5)", 1, true))
  end)

  it("accepts label tables and rejects labels out of range", function()
    local cm = metrics.ConfusionMatrix(2)
    cm:add_batch(T { { 0, 1 } }, { 1 })
    assert.equal(1, cm:accuracy())
    assert.has_error(function() cm:add(0, 2) end, "ConfusionMatrix: label 2 outside 0..1")
  end)
end)

describe("mistakes", function()
  it("lists the misclassified samples with the prediction's probability, most confident first", function()
    local log = math.log
    -- rows: predicted 1 (p .7, label 0), correct, predicted 2 (p .9, label 1), predicted 0 (p .7, label 2)
    local log_probs = T {
      { log(0.2), log(0.7), log(0.1) },
      { log(0.8), log(0.1), log(0.1) },
      { log(0.05), log(0.05), log(0.9) },
      { log(0.7), log(0.2), log(0.1) },
    }
    local list = metrics.add_mistakes({}, log_probs, { 0, 0, 1, 2 }, 10)
    assert.equal(3, #list)
    metrics.sort_mistakes(list)
    local want = { { 13, 1, 2, 0.9 }, { 11, 0, 1, 0.7 }, { 14, 2, 0, 0.7 } } -- ties: by position
    for i, w in ipairs(want) do
      assert.same({ w[1], w[2], w[3] }, { list[i].index, list[i].label, list[i].prediction })
      assert.near(w[4], list[i].probability, 1e-6)
    end
  end)
end)
