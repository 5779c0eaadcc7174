-- End to end: the default model, trained with plain SGD over the flat getParameters() vectors on
-- a few hundred real MNIST images, drives its loss well down. Reads the local mirror named by
-- MNIST_MIRROR (the Makefile sets it) and is pending without it.
local mnist = require "mnist"
local H = dofile("spec/nn_helpers.lua")
local nn, T = mnist.nn, mnist.tensor

local IMAGES, BATCH, STEPS, LR = 320, 32, 200, 0.05
local MEAN, STD = 0.1307, 0.3081

-- The first n records of a gzipped IDX file: header bytes skipped, record bytes returned.
local function read_idx(path, header, record, n)
  local pipe = assert(io.popen(("gzip -dc '%s' 2>/dev/null"):format(path), "r"))
  local head = pipe:read(header)
  local body = pipe:read(record * n)
  pipe:close()
  assert(head and #head == header and body and #body == record * n, "short read from " .. path)
  return body
end

describe("training the default model", function()
  local mirror = os.getenv("MNIST_MIRROR")
  if not mirror or mirror == "" then
    pending("MNIST_MIRROR is not set: no MNIST files to train on (make test sets it)")
    return
  end

  it(("halves the loss in %d SGD steps on %d MNIST images"):format(STEPS, IMAGES), function()
    mnist.manual_seed(1)
    local pixels = read_idx(mirror .. "/train-images-idx3-ubyte.gz", 16, 784, IMAGES)
    local label_bytes = read_idx(mirror .. "/train-labels-idx1-ubyte.gz", 8, 1, IMAGES)
    local images = T.frombytes(pixels, { IMAGES, 1, 28, 28 }, 1 / (255 * STD), -MEAN / STD)
    local labels = { label_bytes:byte(1, -1) }
    assert.same({ 5, 0, 4, 1, 9, 2, 1, 3, 1, 4 }, { unpack(labels, 1, 10) })

    local model = H.default_model()
    local crit = nn.ClassNLLCriterion()
    local params, grads = model:getParameters()
    local losses = {}
    local batch_labels = T.zeros(BATCH)
    for step = 1, STEPS do
      local first = ((step - 1) * BATCH) % IMAGES + 1
      local x = images:narrow(1, first, BATCH)
      for i = 1, BATCH do batch_labels[i] = labels[first + i - 1] end
      losses[step] = crit:forward(model:forward(x), batch_labels)
      model:zeroGradParameters()
      model:backward(x, crit:backward(model.output, batch_labels))
      params:axpy(-LR, grads)
    end

    local function mean(from, to)
      local s = 0
      for i = from, to do s = s + losses[i] end
      return s / (to - from + 1)
    end
    local start, finish = losses[1], mean(STEPS - 7, STEPS) -- before any update; the last 8 batches
    assert.is_true(start > 1.5, ("the first loss is %.3f: not an untrained model?"):format(start))
    assert.is_true(finish < start / 2, ("the loss went from %.3f to %.3f only"):format(start, finish))

    -- and the trained model, in evaluation mode (running statistics), knows these images
    model:evaluate()
    local correct = 0
    local predicted = model:forward(images):argmax()
    for i = 1, IMAGES do
      if predicted[i] - 1 == labels[i] then correct = correct + 1 end
    end
    assert.is_true(correct / IMAGES > 0.8, ("accuracy %.3f on the training images"):format(correct / IMAGES))
  end)
end)
