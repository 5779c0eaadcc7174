-- mnist.model: the networks. Start reading here.
--
--   image (N, 1, H, W)
--     └─ features    conv 3x3 1→32, ReLU, conv 3x3 32→64, ReLU, max-pool 2x2, batch norm
--                    fully convolutional: any H, W >= 6 gives (N, 64, (H-4)/2, (W-4)/2)
--     └─ head        flatten 64·12·12 = 9216, linear → 128, ReLU, batch norm, linear → 10, log-softmax
--                    needs the 12x12 maps of a 28x28 image
--   log-probabilities (N, 10) of the digits 0..9
--
--   local mnist = require "mnist"
--   local net = mnist.classifier()                     -- features + head, fresh weights
--   local net = mnist.classifier{pretrained = true}    -- the published weights of this version
--   local label, probs = net:predict("digit.png")      -- a PNG/JPEG/PGM, a tensor or a table
--   local features = mnist.features{pretrained = true} -- the extractor alone, for transfer learning
--
-- Weight names follow PyTorch's state_dict for nn.Sequential(OrderedDict(features=..., head=...)):
-- features.0.weight, features.5.running_mean, head.1.weight, ... (README, "Weight files").
local nn = require "mnist.nn"

local M = {}

-- The ReLUs work in place (nn.ReLU(true)): each follows a convolution or a linear layer, whose
-- backward needs its input, not its output, and the layer after it (convolution, pooling, batch
-- norm, linear) keeps what its own backward needs. Same values, two buffers and two passes over
-- memory fewer per ReLU.
M.architectures = {
  default = {
    features = function()
      return nn.Sequential()
        :add(nn.SpatialConvolution(1, 32, 3, 3))   -- (N, 32, 26, 26) on 28x28
        :add(nn.ReLU(true))
        :add(nn.SpatialConvolution(32, 64, 3, 3))  -- (N, 64, 24, 24)
        :add(nn.ReLU(true))
        :add(nn.SpatialMaxPooling(2, 2, 2, 2))     -- (N, 64, 12, 12)
        :add(nn.SpatialBatchNormalization(64))
    end,
    head = function()
      return nn.Sequential()
        :add(nn.Flatten())                         -- (N, 9216)
        :add(nn.Linear(64 * 12 * 12, 128))
        :add(nn.ReLU(true))
        :add(nn.BatchNormalization(128))
        :add(nn.Linear(128, 10))
        :add(nn.LogSoftMax())                      -- (N, 10)
    end,
  },

  -- LeNet-5 without padding: quick runs and benchmarks.
  lenet = {
    features = function()
      return nn.Sequential()
        :add(nn.SpatialConvolution(1, 6, 5, 5))    -- (N, 6, 24, 24)
        :add(nn.ReLU(true))
        :add(nn.SpatialMaxPooling(2, 2, 2, 2))     -- (N, 6, 12, 12)
        :add(nn.SpatialConvolution(6, 16, 5, 5))   -- (N, 16, 8, 8)
        :add(nn.ReLU(true))
        :add(nn.SpatialMaxPooling(2, 2, 2, 2))     -- (N, 16, 4, 4)
    end,
    head = function()
      return nn.Sequential()
        :add(nn.Flatten())                         -- (N, 256)
        :add(nn.Linear(16 * 4 * 4, 120))
        :add(nn.ReLU(true))
        :add(nn.Linear(120, 84))
        :add(nn.ReLU(true))
        :add(nn.Linear(84, 10))
        :add(nn.LogSoftMax())                      -- (N, 10)
    end,
  },
}

M.IMAGE_SIZE = 28 -- the head's input size fixes the classifier's image size

-- Options of the constructors; every other key of a settings table is a config setting.
local OPTION_KEYS = { pretrained = true, weights = true }

-- (cfg, opts) from any of: (resolved config, opts), ({arch = "lenet", pretrained = true}), ().
local function arguments(cfg, opts)
  local config = require "mnist.config"
  local options = {}
  for k, v in pairs(opts or {}) do options[k] = v end
  if cfg == nil or cfg.artifact_dir == nil then -- overrides, possibly mixed with options
    local overrides = {}
    for k, v in pairs(cfg or {}) do
      if OPTION_KEYS[k] then
        options[k] = v
      elseif config.defaults[k] == nil then
        error(("model: unknown setting '%s' (did you mean '%s'?)"):format(tostring(k),
          config.nearest_key(tostring(k), { "pretrained", "weights" })), 0)
      else
        overrides[k] = v
      end
    end
    cfg = config.resolve(overrides, "model settings")
  end
  return cfg, options
end

local function architecture(cfg)
  local arch = M.architectures[cfg.arch]
  if not arch then error(("model: unknown arch '%s'"):format(tostring(cfg.arch)), 3) end
  return arch
end

-- The feature extractor alone (any image size); its weight names match the classifier's.
function M.features(cfg, opts)
  cfg, opts = arguments(cfg, opts)
  local net = nn.Sequential():add(architecture(cfg).features(), "features")
  net.arch, net.part = cfg.arch, "features"
  if opts.pretrained or opts.weights then require("mnist.pretrained").load(net, cfg, opts) end
  return net
end

-- The whole network: images (N, 1, 28, 28) in, log-probabilities (N, 10) out.
function M.classifier(cfg, opts)
  cfg, opts = arguments(cfg, opts)
  local arch = architecture(cfg)
  local net = nn.Sequential():add(arch.features(), "features"):add(arch.head(), "head")
  net.arch, net.part, net.config = cfg.arch, "classifier", cfg
  net.input_size = M.IMAGE_SIZE
  local predictor = require "mnist.predict"
  net.updateOutput = predictor.checked_forward(net.updateOutput)
  net.predict = predictor.predict
  if opts.pretrained or opts.weights then require("mnist.pretrained").load(net, cfg, opts) end
  return net
end

return M
