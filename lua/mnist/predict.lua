-- mnist.predict: inference for newcomers, and `mnist.lua predict`.
--
--   local net = mnist.classifier{pretrained = true}
--   local label, probs = net:predict("digit.png")        -- 7, a (10) tensor of probabilities
--   local labels, probs = net:predict{"a.png", "b.png"}  -- {7, 2}, a (2, 10) tensor
-- Anything mnist.preprocess_images accepts works: file paths, encoded bytes, tensors, tables.
local cjson = require "cjson"
local T = require "mnist.tensor"

local M = {}

local function shape(t)
  return T.shape_str(t)
end

-- Wraps a classifier's updateOutput so that an input of the wrong size fails with a message that
-- says what the classifier needs (instead of a size mismatch deep in the head).
function M.checked_forward(forward)
  return function(self, input)
    local size = self.input_size
    if not T.is_tensor(input) or input:dim() ~= 4 or input:size(2) ~= 1 or input:size(3) ~= size
        or input:size(4) ~= size then
      error(("classifier: needs images of shape (N, 1, %d, %d), got %s; mnist.features takes any " ..
        "size, and mnist.preprocess_images turns any picture into %dx%d"):format(size, size,
        T.is_tensor(input) and shape(input) or type(input), size, size), 2)
    end
    return forward(self, input)
  end
end

-- One picture (a path, bytes, or a single (H, W) image) rather than a batch?
local function is_single(x)
  return type(x) == "string" or (T.is_tensor(x) and x:dim() == 2)
end

-- net:predict(x): labels (0..9) and probabilities. For one image: a number and a (10) tensor;
-- for a batch: a table of numbers and an (N, 10) tensor. Switches the net to evaluation mode.
function M.predict(net, x)
  local preprocessing = require "mnist.preprocessing"
  local images = preprocessing.preprocess_images(x, net.config)
  net:evaluate()
  local probs = net:forward(images):clone():exp()
  local labels = probs:argmax()
  if type(labels) == "number" then labels = { labels } end
  for i = 1, #labels do labels[i] = labels[i] - 1 end
  if is_single(x) and #labels == 1 then return labels[1], probs[1] end
  return labels, probs
end

-- `mnist.lua predict IMAGE... [--weights FILE] [--json]`: one line per image, or a JSON array.
function M.run(cfg, files, opts)
  local model = require "mnist.model"
  local net = model.classifier(cfg, { pretrained = opts.weights == nil, weights = opts.weights })
  local labels, probs = M.predict(net, files)
  if opts.json then
    local out = {}
    for i, file in ipairs(files) do
      out[i] = { file = file, label = labels[i], probabilities = probs[i]:totable() }
    end
    print(cjson.encode(out))
  else
    for i, file in ipairs(files) do
      print(("%s: %d (p=%.3f)"):format(file, labels[i], probs:get(i, labels[i] + 1)))
    end
  end
end

return M
