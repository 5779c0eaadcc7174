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
