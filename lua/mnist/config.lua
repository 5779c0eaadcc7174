-- mnist.config: every setting of the pipeline, with its default, in one table.
--
-- A run's config is: these defaults, then an override file (YAML or JSON, only the values that
-- differ), then command-line flags. Unknown keys and wrong types are errors that name the key,
-- where it came from, and the nearest valid key.
--
--   local config = require "mnist.config"
--   local cfg = config.load("config/pipeline.yml", { epochs = 2 })  -- file, then overrides
--   local cfg = config.resolve{ batch_size = 128 }                   -- overrides only
--   config.steps_per_epoch(cfg), config.validation_steps(cfg)        -- derived values
local M = {}

local function home()
  return os.getenv("HOME") or "."
end

-- Each entry: name, default, description. The order is the order of `mnist.lua train --help`.
M.fields = {
  { "dataset", "mnist", "data set: mnist or fashion (Fashion-MNIST, same format)" },
  { "arch", "default", "model: default (2 conv, pool, batch norm, 2 linear), lenet (LeNet-5), or the recipes' fast and best; see lua/mnist/model.lua" },
  { "model_file", "", "a Lua file returning your model's features and head constructors (README, \"Your own model\"); replaces arch" },
  { "batch_size", 64, "training batch size" },
  { "test_batch_size", 1000, "batch size for validation, test and inference" },
  { "epochs", 3, "passes over the training split" },
  { "optimizer", "adadelta", "sgd, nag, adam, adamw, adadelta, adagrad or rmsprop (mnist.optim)" },
  { "learning_rate", 1.0, "initial learning rate" },
  { "momentum", 0.0, "momentum of sgd, nag (> 0) and rmsprop" },
  { "nesterov", false, "sgd: Nesterov momentum" },
  { "weight_decay", 0.0, "L2 penalty (decoupled for adamw)" },
  { "lr_schedule", "step", "learning-rate schedule: step, multistep, cosine, onecycle, warmup or constant" },
  { "lr_gamma", 0.7, "step, multistep: factor applied to the learning rate at each decay" },
  { "lr_step", 1, "step: epochs between learning-rate decays (StepLR)" },
  { "lr_milestones", {}, "multistep: epochs after which the rate is multiplied by lr_gamma, e.g. 2,4" },
  { "lr_min", 0.0, "cosine: the rate reached after the last epoch (CosineAnnealingLR's eta_min)" },
  { "lr_pct_start", 0.3, "onecycle: share of all batches spent rising to learning_rate (the peak)" },
  { "lr_warmup_steps", 100, "warmup: batches over which the rate rises linearly to learning_rate" },
  { "lr_warmup_factor", 0.1, "warmup: the first batch's rate as a fraction of learning_rate" },
  { "seed", 1, "seed of the one random generator (init, shuffling, dropout, augmentation)" },
  { "threads", 0, "worker threads for BLAS and kernels; 0 = all cores (under mpirun: per rank)" },
  { "mpi_timeout", 300, "under mpirun: seconds a rank waits in a collective for its peers before it ends the job" },
  { "n_validation", 5000, "training images held out for validation (seeded split; 1/12 of limit_train when that is set)" },
  { "limit_train", 0, "use only the first N training images (0 = all; for smoke runs)" },
  { "limit_test", 0, "use only the first N test images (0 = all)" },
  { "normalize_mean", 0.1307, "mean subtracted from pixel values in [0, 1]" },
  { "normalize_std", 0.3081, "std that pixel values are divided by" },
  { "augment_shift", 0, "random shifts of up to N pixels during training (0 = off)" },
  { "augment_rotate", 0, "random rotations of up to N degrees each way during training (0 = off)" },
  { "augment_scale", 0, "random scaling by a factor in [1 - s, 1 + s] during training, s < 1 (0 = off)" },
  { "prefetch", 2, "batches prepared ahead by the background loader" },
  { "log_interval", 100, "steps between log lines when not on a terminal" },
  { "artifact_dir", "", "where data, runs and weights live (empty: $MNIST_HOME or ~/.mnist)" },
  { "mirrors", {}, "extra dataset mirrors tried first (URLs or local directories)" },
  { "download_timeout", 60, "seconds before one download attempt is abandoned" },
  { "download_retries", 3, "attempts per source before moving on" },
  { "verbose", false, "print details: every download retry, not only one line per source" },
  { "weights_url", "", "remote for pretrained weights (http(s):// or s3://bucket/prefix)" },
  { "s3_endpoint", "", "S3-compatible endpoint for deploy (e.g. http://127.0.0.1:8080)" },
  { "s3_bucket", "", "bucket for deploy" },
  { "s3_prefix", "mnist", "key prefix for deploy" },
  { "s3_region", "us-east-1", "region used in the request signature" },
}

M.defaults = {}
M.descriptions = {}
for _, f in ipairs(M.fields) do
  M.defaults[f[1]] = f[2]
  M.descriptions[f[1]] = f[3]
end

-- Allowed values for string settings.
M.choices = {
  dataset = { "mnist", "fashion" },
  arch = { "default", "lenet", "fast", "best" },
  optimizer = { "sgd", "nag", "adam", "adamw", "adadelta", "adagrad", "rmsprop" },
  lr_schedule = { "step", "multistep", "cosine", "onecycle", "warmup", "constant" },
}

-- List settings whose items are whole numbers >= 1, in increasing order (from a flag they
-- arrive as strings: "2,4").
local NUMBER_LISTS = { lr_milestones = true }

-- Numeric settings that must be whole numbers, with their smallest value.
local WHOLE = {
  batch_size = 1, test_batch_size = 1, epochs = 0, lr_step = 1, seed = 0, threads = 0,
  n_validation = 0, limit_train = 0, limit_test = 0, augment_shift = 0, prefetch = 1,
  log_interval = 1, download_retries = 1, lr_warmup_steps = 1, mpi_timeout = 1,
}

-- Edit distance, to suggest the nearest valid key for a typo.
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- A key or value as an error message shows it: at most 40 characters (a hostile file may hold huge ones).
function M.shorten(name)
  name = tostring(name)
  return #name > 40 and name:sub(1, 40) .. "…" or name
end

-- The setting (or one of `extra`, a list of other valid names) nearest to `name`. Only the first
-- 40 characters count: the edit distance costs their product with each key's length.
function M.nearest_key(name, extra)
  name = name:sub(1, 40)
  local best, best_d = nil, math.huge
  local function consider(key)
    local d = distance(name, key)
    if d < best_d then best, best_d = key, d end
  end
  for _, f in ipairs(M.fields) do consider(f[1]) end
  for _, key in ipairs(extra or {}) do consider(key) end
  return best
end

local function fail(source, msg)
  error(("config: %s%s"):format(source and (source .. ": ") or "", msg), 0)
end

local function describe_type(v)
  if type(v) == "table" then return #v > 0 and "list" or "table" end
  return type(v)
end

-- Checks one value against its default's type and the key's constraints; returns the value.
local function check_value(key, value, source)
  local default = M.defaults[key]
  if default == nil then
    fail(source, ("unknown key '%s' (did you mean '%s'?)"):format(M.shorten(key), M.nearest_key(key)))
  end
  local want = type(default)
  if want == "table" then
    if type(value) == "string" then value = { value } end -- one mirror given as a string
    if type(value) ~= "table" then
      fail(source, ("'%s' must be a list, got %s"):format(key, describe_type(value)))
    end
    if NUMBER_LISTS[key] then
      local numbers = {}
      for i, v in ipairs(value) do
        local n = tonumber(v)
        if not n or n ~= math.floor(n) or n < 1 or (i > 1 and n <= numbers[i - 1]) then
          fail(source, ("'%s' must be increasing whole numbers >= 1, got %s at position %d"):format(
            key, M.shorten(v), i))
        end
        numbers[i] = n
      end
      return numbers
    end
    for i, v in ipairs(value) do
      if type(v) ~= "string" then
        fail(source, ("'%s' item %d must be a string, got %s"):format(key, i, describe_type(v)))
      end
    end
    return value
  end
  if type(value) ~= want then
    fail(source, ("'%s' must be a %s, got %s (%s)"):format(key, want, describe_type(value), M.shorten(value)))
  end
  if want == "number" then
    if value ~= value or value == math.huge or value == -math.huge then
      fail(source, ("'%s' must be a finite number, got %s"):format(key, tostring(value)))
    end
    local min = WHOLE[key]
    if min and (value ~= math.floor(value) or value < min) then
      fail(source, ("'%s' must be a whole number >= %d, got %s"):format(key, min, tostring(value)))
    end
    if not min and value < 0 then
      fail(source, ("'%s' must be >= 0, got %s"):format(key, tostring(value)))
    end
  end
  local choices = M.choices[key]
  if choices then
    for _, c in ipairs(choices) do
      if value == c then return value end
    end
    fail(source, ("'%s' must be one of %s, got '%s'"):format(key, table.concat(choices, ", "), M.shorten(value)))
  end
  return value
end

-- A fresh copy of the defaults.
-- Whether cfg holds every setting (a config resolve() returned), as opposed to overrides.
function M.is_complete(cfg)
  for k in pairs(M.defaults) do
    if cfg[k] == nil then return false end
  end
  return true
end

function M.default_config()
  local cfg = {}
  for k, v in pairs(M.defaults) do
    if type(v) == "table" then
      local copy = {}
      for i, x in ipairs(v) do copy[i] = x end
      v = copy
    end
    cfg[k] = v
  end
  return cfg
end

-- cfg with `overrides` applied on top (each checked); `source` names where they came from.
function M.merge(cfg, overrides, source)
  if overrides == nil then return cfg end
  if type(overrides) ~= "table" then
    fail(source, ("expected a table of settings, got %s"):format(type(overrides)))
  end
  local keys = {}
  for k in pairs(overrides) do
    if type(k) ~= "string" then fail(source, ("keys must be names, got %s"):format(tostring(k))) end
    keys[#keys + 1] = k
  end
  table.sort(keys) -- errors in a stable order
  for _, k in ipairs(keys) do cfg[k] = check_value(k, overrides[k], source) end
  return cfg
end

-- The validation split a smoke run gets when it sets limit_train and not n_validation: the
-- full data set's share (5,000 of 60,000 images), so `--limit-train 3000` holds out 250.
function M.scaled_validation(limit_train)
  return math.floor(limit_train * M.defaults.n_validation / M.TRAIN_SIZE)
end

-- The learning-rate schedule's and the optimizer's settings that depend on one another.
local function check_schedule(cfg, source)
  local schedule = cfg.lr_schedule
  if schedule == "multistep" and #cfg.lr_milestones == 0 then
    fail(source, "'lr_milestones' must list at least one epoch for lr_schedule 'multistep'")
  end
  if not (cfg.lr_pct_start > 0 and cfg.lr_pct_start < 1) then
    fail(source, ("'lr_pct_start' must be between 0 and 1 (exclusive), got %s"):format(tostring(cfg.lr_pct_start)))
  end
  if not (cfg.lr_warmup_factor > 0 and cfg.lr_warmup_factor <= 1) then
    fail(source, ("'lr_warmup_factor' must be in (0, 1], got %s"):format(tostring(cfg.lr_warmup_factor)))
  end
  if schedule == "onecycle" and cfg.epochs > 0 then
    local batches = cfg.epochs * M.steps_per_epoch(cfg)
    if cfg.lr_pct_start * batches <= 1 then
      fail(source, ("'lr_pct_start' %s of %d batches (epochs x batches per epoch) leaves no batch to rise over"):format(
        tostring(cfg.lr_pct_start), batches))
    end
  end
  if cfg.augment_rotate > 180 then
    fail(source, ("'augment_rotate' must be at most 180 degrees, got %s"):format(tostring(cfg.augment_rotate)))
  end
  if cfg.augment_scale >= 1 then
    fail(source, ("'augment_scale' must be below 1 (factors in [1 - s, 1 + s]), got %s"):format(tostring(cfg.augment_scale)))
  end
  if cfg.optimizer == "nag" and cfg.momentum <= 0 then
    fail(source, "'momentum' must be > 0 for optimizer 'nag' (Nesterov momentum)")
  end
end

-- Cross-field checks and the artifact directory, once all layers are applied. `given`: the keys
-- set by a file or flags (an n_validation nobody set scales with limit_train).
local function finish(cfg, source, given)
  if cfg.artifact_dir == "" then
    cfg.artifact_dir = os.getenv("MNIST_HOME") or (home() .. "/.mnist")
  end
  cfg.artifact_dir = cfg.artifact_dir:gsub("^~/", home() .. "/")
  if cfg.limit_train > 0 and not (given and given.n_validation) then
    cfg.n_validation = math.min(cfg.n_validation, M.scaled_validation(math.min(cfg.limit_train, M.TRAIN_SIZE)))
  end
  if cfg.limit_train > 0 and cfg.n_validation >= cfg.limit_train then
    fail(source, ("'n_validation' (%d) must be smaller than 'limit_train' (%d): leave it out to hold "
      .. "out %d images, or set it, e.g. --n-validation %d"):format(cfg.n_validation, cfg.limit_train,
      M.scaled_validation(cfg.limit_train), M.scaled_validation(cfg.limit_train)))
  end
  check_schedule(cfg, source)
  return cfg
end

local function keys_of(...)
  local keys = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if type(t) == "table" then for k in pairs(t) do keys[k] = true end end
  end
  return keys
end

-- Defaults + overrides (a table, e.g. from flags). Accepts nil, or an already-resolved config.
function M.resolve(overrides, source)
  return finish(M.merge(M.default_config(), overrides, source or "overrides"), source, keys_of(overrides))
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then fail(nil, ("cannot read %s: %s"):format(path, err)) end
  local text = f:read("*a")
  f:close()
  return text
end

-- Replaces YAML/JSON nulls (lyaml.null, cjson.null) with nil, so they read as "not set". Each
-- table is visited once: YAML aliases share tables, and nine levels of nine aliases would
-- otherwise be 9^9 visits (a 500-byte file that hangs the program).
local function strip_nulls(t, null, seen)
  seen = seen or {}
  if seen[t] then return t end
  seen[t] = true
  for k, v in pairs(t) do
    if v == null then t[k] = nil elseif type(v) == "table" then strip_nulls(v, null, seen) end
  end
  return t
end

-- Parses an override file (.json, or YAML for anything else) into a table of settings.
function M.parse_file(path)
  local text = read_file(path)
  local ok, data
  if path:match("%.json$") then
    local cjson = require "cjson"
    ok, data = pcall(cjson.decode, text)
    if ok and type(data) == "table" then strip_nulls(data, cjson.null) end
  else
    local lyaml = require "lyaml"
    ok, data = pcall(lyaml.load, text)
    if ok and type(data) == "table" then strip_nulls(data, lyaml.null) end
  end
  if not ok then fail(path, "not valid " .. (path:match("%.json$") and "JSON" or "YAML") .. ": " .. tostring(data)) end
  if data == nil then return {} end -- an empty file changes nothing
  if type(data) ~= "table" or #data > 0 then
    fail(path, "expected a mapping of setting names to values at the top level")
  end
  return data
end

-- Defaults, then the file at `path` (may be nil), then `overrides` (e.g. CLI flags).
function M.load(path, overrides, overrides_source)
  local cfg = M.default_config()
  local from_file = path and M.parse_file(path)
  if path then M.merge(cfg, from_file, path) end
  M.merge(cfg, overrides, overrides_source or "command line")
  return finish(cfg, path, keys_of(from_file, overrides))
end

-- Only the settings that differ from the defaults (what an override file would need to say).
function M.diff(cfg)
  local out = {}
  for k, default in pairs(M.defaults) do
    local v = cfg[k]
    if type(default) == "table" then
      if #v ~= #default or table.concat(v, "\0") ~= table.concat(default, "\0") then out[k] = v end
    elseif v ~= default and not (k == "artifact_dir") then
      out[k] = v
    end
  end
  return out
end

-- The settings that decide the weights a run produces. The others say where files go, how
-- often to log, where to download from or deploy to, and how many epochs to run (a run may be
-- resumed with more epochs).
M.NOT_IDENTITY = { epochs = true, artifact_dir = true, mpi_timeout = true, log_interval = true, prefetch = true, verbose = true,
  mirrors = true, download_timeout = true, download_retries = true, weights_url = true,
  s3_endpoint = true, s3_bucket = true, s3_prefix = true, s3_region = true }

-- The identity settings of cfg (a new table), e.g. to record in a weight file.
function M.identity(cfg)
  local out = {}
  for _, f in ipairs(M.fields) do
    if not M.NOT_IDENTITY[f[1]] then out[f[1]] = cfg[f[1]] end
  end
  return out
end

-- Derived values ----------------------------------------------------------------------------

M.TRAIN_SIZE, M.TEST_SIZE = 60000, 10000

-- Images in the training split once the validation images are held out.
function M.train_size(cfg)
  local n = cfg.limit_train > 0 and math.min(cfg.limit_train, M.TRAIN_SIZE) or M.TRAIN_SIZE
  return n - cfg.n_validation
end

-- Full batches per epoch (the loader drops the last partial batch when training).
function M.steps_per_epoch(cfg)
  return math.floor(M.train_size(cfg) / cfg.batch_size)
end

-- Batches to cover the validation split (the last one may be partial).
function M.validation_steps(cfg)
  return math.ceil(cfg.n_validation / cfg.test_batch_size)
end

-- Batches to cover the test split.
function M.test_steps(cfg)
  local n = cfg.limit_test > 0 and math.min(cfg.limit_test, M.TEST_SIZE) or M.TEST_SIZE
  return math.ceil(n / cfg.test_batch_size)
end

-- What a run's listing and report call its model: the model file when there is one, else the arch
-- (works on a run's saved config.json too).
function M.model_label(cfg)
  if type(cfg.model_file) == "string" and cfg.model_file ~= "" then return cfg.model_file end
  return tostring(cfg.arch)
end

-- Where each kind of artifact lives under the artifact directory.
function M.data_dir(cfg) return cfg.artifact_dir .. "/data/" .. cfg.dataset end
function M.runs_dir(cfg) return cfg.artifact_dir .. "/runs" end
-- Each arch's published weights have a folder of their own, so training one model never replaces
-- another's: weights/ for the default model (where they always were), weights/<arch>/ for the
-- others (lenet, the recipes' fast and best, a model file's name).
function M.weights_dir(cfg)
  local base = cfg.artifact_dir .. "/weights"
  local arch = M.arch_name(cfg)
  return arch == "default" and base or base .. "/" .. arch
end

-- The arch name cfg's model publishes under: a model file's own name, else cfg.arch.
function M.arch_name(cfg)
  if type(cfg.model_file) == "string" and cfg.model_file ~= "" then
    return require("mnist.model").arch_name(cfg)
  end
  return cfg.arch or M.defaults.arch
end

return M
