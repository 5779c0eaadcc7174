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
--
-- Your own model: a Lua file that returns { features = function() ... end, head = function() ...
-- end [, name = "resnet"] }, as an entry of M.architectures below, set as `model_file` in the
-- config (README, "Your own model"; examples/models/). Its arch name is `name`, else the file's
-- base name; the runs, checkpoints and weight files record the file's SHA-256.
local core = require "mnist.core"
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

-- The recipes' models, fast and best (config/fast.yml, config/best.yml): lua/mnist/recipes.lua.
for _, name in ipairs { "fast", "best" } do M.architectures[name] = require("mnist.recipes")[name] end

M.IMAGE_SIZE = 28 -- the head's input size fixes the classifier's image size

-- Options of the constructors; every other key of a settings table is a config setting.
local OPTION_KEYS = { pretrained = true, weights = true }

-- (cfg, opts) from any of: (resolved config, opts), ({arch = "lenet", pretrained = true}), ().
local function arguments(cfg, opts)
  local config = require "mnist.config"
  local options = {}
  for k, v in pairs(opts or {}) do options[k] = v end
  if cfg == nil or not config.is_complete(cfg) then -- overrides (artifact_dir among them), and options
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

-- Model files ---------------------------------------------------------------------------------

local function file_error(path, fmt, ...)
  error(("model: %s: " .. fmt):format(path, ...), 0)
end

-- "model: <path>:<line>: <message>" for an error raised while running code of the model file:
-- the line is the innermost frame of the file on the stack (the error may come from a module the
-- file called, e.g. nn.Linear with a wrong size). `during`: what was running ("features()").
local function locate(path, during)
  local source = "@" .. path
  return function(err)
    local msg = tostring(err):match("^[^\n]*") -- one line (require's list of paths tried is long)
    local line
    for level = 2, 100 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if info.source == source and info.currentline > 0 then
        line = info.currentline
        break
      end
    end
    -- an error() in the file itself starts with its (possibly shortened) position: drop it
    msg = msg:gsub("^[^\n]-:" .. (line or "%d+") .. ": ", "", 1)
    return ("model: %s:%s: %s%s"):format(path, line or "?", during and ("in " .. during .. ": ") or "", msg)
  end
end

local NAME_PATTERN = "^[%w][%w_.%-]*$" -- an arch name goes into file metadata and messages

-- Loads the model file at `path`: its code runs in an environment of its own (the globals it sets
-- stay there; `require` and the standard library are visible). Returns the architecture:
-- { name, features, head, file = { path, sha256 } }. The SHA-256 is of the bytes that ran.
function M.load_file(path)
  if type(path) ~= "string" or path == "" then file_error(tostring(path), "not a file name") end
  local f, why = io.open(path, "rb")
  if not f then file_error(path, "cannot read the model file: %s", (tostring(why):gsub("^.-: ", ""))) end
  local text = f:read("*a")
  f:close()
  local env = setmetatable({}, { __index = _G })
  local chunk, err = load(text, "@" .. path, "t", env)
  if not chunk then
    -- LuaJIT shortens long chunk names ("...tail/of/path.lua:3:"): rebuild the message on path
    local line, rest = tostring(err):match(":(%d+): (.*)$")
    error(("model: %s:%s: %s"):format(path, line or "?", rest or tostring(err)), 0)
  end
  local ok, spec = xpcall(chunk, locate(path))
  if not ok then error(spec, 0) end
  if type(spec) ~= "table" or type(spec.features) ~= "function" or type(spec.head) ~= "function" then
    file_error(path, "must return a table { features = function, head = function [, name = string] }, got %s",
      type(spec) == "table" and ("a table with features %s and head %s"):format(type(spec.features), type(spec.head))
        or type(spec))
  end
  local name = spec.name
  if name == nil then name = path:match("([^/]+)$"):gsub("%.lua$", "") end
  if type(name) ~= "string" or not name:match(NAME_PATTERN) then
    file_error(path, "the arch name %s must be letters, digits, '_', '.' or '-' (set `name` in the file)",
      type(name) == "string" and ("'" .. name .. "'") or type(name))
  end
  if M.architectures[name] then
    file_error(path, "the arch name '%s' is a built-in architecture's: set another `name` in the file", name)
  end
  local sha256 = core.sha256(text)
  local arch = { name = name, file = { path = path, sha256 = sha256 } }
  for _, part in ipairs { "features", "head" } do
    local build = spec[part]
    arch[part] = function()
      local built_ok, module = xpcall(build, locate(path, part .. "()"))
      if not built_ok then error(module, 0) end
      if type(module) ~= "table" or type(module.forward) ~= "function" then
        file_error(path, "%s() must return an nn module, got %s", part, type(module))
      end
      return module
    end
  end
  return arch
end

-- The architecture cfg names: its model_file when set, else the built-in cfg.arch. Each has
-- name, features, head, and file (a model file's path and SHA-256; nil for a built-in one).
function M.architecture(cfg)
  if cfg.model_file ~= nil and cfg.model_file ~= "" then return M.load_file(cfg.model_file) end
  local arch = M.architectures[cfg.arch]
  if not arch then error(("model: unknown arch '%s'"):format(tostring(cfg.arch)), 0) end
  return { name = cfg.arch, features = arch.features, head = arch.head }
end

-- The arch name of cfg's model, as the weight files and their manifest record it.
function M.arch_name(cfg)
  return M.architecture(cfg).name
end

local architecture = M.architecture

-- The feature extractor alone (any image size); its weight names match the classifier's.
function M.features(cfg, opts)
  cfg, opts = arguments(cfg, opts)
  local arch = architecture(cfg)
  local net = nn.Sequential():add(arch.features(), "features")
  net.arch, net.part, net.model_file = arch.name, "features", arch.file
  if opts.pretrained or opts.weights then require("mnist.pretrained").load(net, cfg, opts, "fresh") end
  return net
end

-- The whole network: images (N, 1, 28, 28) in, log-probabilities (N, 10) out.
function M.classifier(cfg, opts)
  cfg, opts = arguments(cfg, opts)
  local arch = architecture(cfg)
  local net = nn.Sequential():add(arch.features(), "features"):add(arch.head(), "head")
  net.arch, net.part, net.config, net.model_file = arch.name, "classifier", cfg, arch.file
  net.input_size = M.IMAGE_SIZE
  local predictor = require "mnist.predict"
  net.updateOutput = predictor.checked_forward(net.updateOutput)
  net.predict = predictor.predict
  if opts.pretrained or opts.weights then require("mnist.pretrained").load(net, cfg, opts, "fresh") end
  return net
end

return M
