-- Transfer learning: the digit features, reused for clothes.
--
-- The pretrained MNIST feature extractor is frozen; only a new head is trained, on a small labelled
-- subset of Fashion-MNIST. The same network trained from scratch on the same subset is the
-- baseline. Both are tested on the 10,000 Fashion-MNIST test images.
--
--   eval "$(make -s env)"
--   luajit examples/transfer_fashion.lua [n_train=1000] [epochs=15]
--
-- Needs the pretrained weights (mnist.lua train config/pipeline.yml, or shipped with the rock) and
-- Fashion-MNIST (downloaded, or Debian's dataset-fashion-mnist).
local mnist = require "mnist"
local nn, optim = mnist.nn, mnist.optim

local n_train = tonumber(arg and arg[1]) or 1000
local epochs = tonumber(arg and arg[2]) or 15

local cfg = mnist.config.resolve {
  dataset = "fashion", limit_train = n_train, n_validation = 0, batch_size = 50, seed = 1,
}
local train_set = mnist.load_dataset("train", cfg)
local test_set = mnist.load_dataset("test", cfg)

-- Trains the parameters of `trainable` (a module inside `net`) on `loader`, with Adadelta.
local function fit(net, trainable, loader)
  local params, grads = trainable:getParameters()
  local criterion = nn.ClassNLLCriterion()
  local state, scheduler = {}, optim.StepLR({ learningRate = 1.0 }, 1, 0.9)
  for epoch = 1, epochs do
    net:training()
    for images, labels in loader:epoch(epoch) do
      optim.adadelta(function()
        grads:fill(0)
        local output = net:forward(images)
        local loss = criterion:forward(output, labels)
        net:backward(images, criterion:backward(output, labels))
        return loss, grads
      end, params, scheduler.config, state)
    end
    scheduler:step()
  end
end

local function accuracy(net)
  return require("mnist.train").evaluate(net, test_set).accuracy
end

mnist.manual_seed(cfg.seed)

-- 1. Frozen MNIST features + a new head. The features stay in evaluation mode (their batch norm
--    keeps MNIST's statistics) and are not among the trained parameters.
local features = mnist.features({ pretrained = true }):evaluate()
local head = mnist.model.architectures.default.head()
local transfer = nn.Sequential():add(features, "features"):add(head, "head")
function transfer:training() head:training() return self end -- the features stay frozen
fit(transfer, head, train_set)
local transfer_accuracy = accuracy(transfer)

-- 2. The same network from scratch, every parameter trained on the same images.
local scratch = mnist.classifier { arch = "default", seed = cfg.seed }
fit(scratch, scratch, train_set)
local scratch_accuracy = accuracy(scratch)

print(("Fashion-MNIST, %d labelled training images, %d epochs, tested on %d images:"):format(
  train_set:size(), epochs, test_set:size()))
print(("  frozen MNIST features + new head:  %.2f%%"):format(100 * transfer_accuracy))
print(("  same network from scratch:         %.2f%%"):format(100 * scratch_accuracy))
