-- mnist.dataset: IDX parsing, record files, the train/validation split and the batch loader.
--
--   local dataset = require "mnist.dataset"
--   dataset.save_records(cfg)                       -- `mnist.lua save-datasets`
--   local loader = dataset.load_dataset("train", cfg)
--   for epoch = 1, cfg.epochs do
--     for images, labels, step in loader:epoch(epoch) do ... end
--   end
--
-- Record files (csrc/data/record.h documents the binary layout) live in config.data_dir(cfg):
-- train.rec and test.rec (the parsed, verified IDX files) and manifest.json naming the source
-- files and every hash. The split is not baked into them: validation is a seeded choice of
-- cfg.n_validation training rows (core.split_indices), so changing the seed needs no rewrite.
--
-- Labels are 0-based classes (0..9) everywhere. Images come out as float32 (B, 1, 28, 28),
-- (pixel / 255 - normalize_mean) / normalize_std.
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"
local download = require "mnist.download"

local M = {}

M.NUM_CLASSES = 10
M.RECORD_VERSION = 1 -- RECORD_VERSION in csrc/data/record.h
M.MANIFEST_FORMAT = "mnist-records"
M.SPLITS = { train = true, validation = true, test = true }

local function fail(fmt, ...)
  error("dataset: " .. fmt:format(...), 0)
end

-- IDX ----------------------------------------------------------------------------------------

-- The IDX file at path (gzip or raw) as a uint8 tensor with the file's dimensions.
function M.read_idx(path)
  local t, err = core.idx_read(path)
  if not t then fail("cannot read IDX file %s", err) end
  return t
end

-- Images (N, H, W) and labels (N), checked to belong together (same N, labels 0..9).
function M.read_idx_pair(images_path, labels_path)
  local images, labels = M.read_idx(images_path), M.read_idx(labels_path)
  local ok, err = pcall(core.idx_check_pair, images, labels, M.NUM_CLASSES)
  if not ok then
    fail("%s and %s do not match: %s", images_path, labels_path, (tostring(err):gsub("^idx_check_pair: ", "")))
  end
  return images, labels
end

-- Record files --------------------------------------------------------------------------------

-- Where the record files of cfg.dataset live.
function M.record_paths(cfg)
  local dir = config.data_dir(cfg)
  return { dir = dir, train = dir .. "/train.rec", test = dir .. "/test.rec", manifest = dir .. "/manifest.json" }
end

local function read_manifest(path)
  local f = io.open(path, "rb")
  if not f then return nil, path .. ": no such file" end
  local text = f:read("*a")
  f:close()
  local ok, manifest = pcall(require("cjson").decode, text)
  if not ok or type(manifest) ~= "table" or manifest.format ~= M.MANIFEST_FORMAT
    or type(manifest.records) ~= "table" then
    return nil, path .. ": not a record manifest"
  end
  if manifest.version ~= M.RECORD_VERSION then
    return nil, ("%s: record version %s, this build reads %d"):format(path, tostring(manifest.version), M.RECORD_VERSION)
  end
  return manifest
end

-- Mapped record files, shared by every loader of this process (keyed by path and payload hash).
local open_cache = setmetatable({}, { __mode = "v" })

-- Forgets this process's mapped record files, so the next open_records reads (and verifies) the
-- files again. Loaders keep the mappings they already use.
function M.close_records()
  for k in pairs(open_cache) do open_cache[k] = nil end
end

local save_records_locked

local function log_of(opts)
  local log = opts and opts.log
  if log == false then return function() end end
  return log or function(m) io.stderr:write("mnist dataset: ", m, "\n") end
end

-- Parses the four IDX files of cfg.dataset (downloading them when needed, see mnist.download)
-- and writes train.rec, test.rec and manifest.json to config.data_dir(cfg), each atomically.
-- opts go to download.fetch (log, backoff). Returns the manifest table.
function M.save_records(cfg, opts)
  cfg = config.resolve(cfg)
  return download.with_data_lock(config.data_dir(cfg), log_of(opts), save_records_locked, cfg, opts)
end

function save_records_locked(cfg, opts)
  M.close_records()
  local paths, details = download.fetch(cfg, opts)
  local where = M.record_paths(cfg)
  local version = require "mnist.version"
  local manifest = {
    format = M.MANIFEST_FORMAT,
    version = M.RECORD_VERSION,
    dataset = cfg.dataset,
    created_by = "mnist " .. version,
    layout = "csrc/data/record.h: 64-byte header (magic MNISTREC, version, header size, count, height, "
      .. "width, payload SHA-256), uint8 images (N, H, W), uint8 labels (N)",
    records = {},
  }
  for _, split in ipairs { "train", "test" } do
    local images, labels = M.read_idx_pair(paths[split .. "_images"], paths[split .. "_labels"])
    local payload, err = core.record_write(where[split], images, labels)
    if not payload then fail("cannot write record file %s", err) end
    local sources = {}
    for _, part in ipairs { "images", "labels" } do
      local d = details[split .. "_" .. part]
      sources[part] = { file = d.file, sha256 = d.sha256, content_sha256 = d.content_sha256 }
    end
    local size = images:size()
    manifest.records[split] = {
      file = where[split]:match("[^/]+$"),
      count = size[1],
      shape = { size[2], size[3] },
      payload_sha256 = payload,
      sources = sources,
    }
  end
  local ok, err = core.write_atomic(where.manifest, fs.json(manifest) .. "\n")
  if not ok then fail("cannot write %s", err) end
  return manifest
end

-- Opens the record files of cfg.dataset: returns records {train = {images, labels}, test = ...}
-- (uint8 tensors over the mapped files) and the manifest, or nil and why they are unusable.
-- opts.verify = false skips re-hashing the payloads (the headers are always checked).
function M.open_records(cfg, opts)
  cfg = config.resolve(cfg)
  opts = opts or {}
  local where = M.record_paths(cfg)
  local manifest, err = read_manifest(where.manifest)
  if not manifest then return nil, err end
  if manifest.dataset ~= cfg.dataset then
    return nil, ("%s: records of '%s', not '%s'"):format(where.manifest, tostring(manifest.dataset), cfg.dataset)
  end
  local records = {}
  for _, split in ipairs { "train", "test" } do
    local entry = manifest.records[split]
    if type(entry) ~= "table" then return nil, ("%s: no '%s' entry"):format(where.manifest, split) end
    local key = where[split] .. "\0" .. tostring(entry.payload_sha256)
    local cached = open_cache[key]
    if not cached then
      local images, labels, sha = core.record_open(where[split], opts.verify ~= false)
      if not images then return nil, labels end
      if sha ~= entry.payload_sha256 then
        return nil, ("%s: payload SHA-256 %s, the manifest says %s"):format(where[split], sha,
          tostring(entry.payload_sha256))
      end
      cached = { images = images, labels = labels }
      open_cache[key] = cached
    end
    records[split] = cached
  end
  return records, manifest
end

-- open_records, and when they are missing or unusable, save_records first (fetching the IDX files
-- if needed). Returns records and manifest. Of processes starting together on one artifact dir,
-- the first prepares the records under the data lock and the others, once it is done, open them.
function M.ensure_records(cfg, opts)
  cfg = config.resolve(cfg)
  local log = log_of(opts)
  download.remove_stale_parts(config.data_dir(cfg), log)
  local records, why = M.open_records(cfg, opts)
  if records then return records, why end
  return download.with_data_lock(config.data_dir(cfg), log, function()
    records, why = M.open_records(cfg, opts) -- another process may have just written them
    if records then return records, why end
    log(("preparing the record files (%s)"):format(why))
    save_records_locked(cfg, opts)
    local manifest
    records, manifest = M.open_records(cfg, opts)
    if not records then fail("record files unusable right after writing them: %s", manifest) end
    return records, manifest
  end)
end

-- Splits ----------------------------------------------------------------------------------------

-- Rows (1-based) of the training records in the train and validation splits: the first
-- min(limit_train, N) rows (all when limit_train is 0), n_validation of them held out by a seeded
-- choice. A pure function of (N, limit_train, n_validation, seed).
function M.split_rows(cfg, n_records)
  n_records = n_records or config.TRAIN_SIZE
  local total = cfg.limit_train > 0 and math.min(cfg.limit_train, n_records) or n_records
  if cfg.n_validation >= total then
    fail("n_validation (%d) must be smaller than the %d training images", cfg.n_validation, total)
  end
  return core.split_indices(total, cfg.n_validation, cfg.seed)
end

-- The Loader ------------------------------------------------------------------------------------

local Loader = {}
Loader.__index = Loader
M.Loader = Loader

-- A loader over uint8 images (N, H, W) and labels (N): rows is a table of 1-based rows (nil: all).
-- opts: batch_size (64), shuffle (false), drop_last (false), augment_shift (0), augment_rotate (0),
-- augment_scale (0), mean (0), std (1),
-- seed (1), prefetch (2; 0 prepares batches in the caller's thread), split (a name for messages).
function M.loader(images, labels, rows, opts)
  opts = opts or {}
  local handle = core.loader(images, labels, rows, {
    batch_size = opts.batch_size, shuffle = opts.shuffle, drop_last = opts.drop_last,
    augment_shift = opts.augment_shift, augment_rotate = opts.augment_rotate,
    augment_scale = opts.augment_scale, mean = opts.mean, std = opts.std, seed = opts.seed,
    prefetch = opts.prefetch,
  })
  local info = handle:info()
  local self = setmetatable({
    handle = handle,
    split = opts.split,
    batch_size = info.batch_size,
    seed = opts.seed or 1,
    shuffle = opts.shuffle and true or false,
    buffers = {},
    current = { epoch = 0, step = 0 },
    info = info,
  }, Loader)
  for i = 1, info.slots do
    local x, y = handle:slot(i)
    self.buffers[i] = { x, y }
  end
  return self
end

-- Images in the split.
function Loader:size() return self.info.size end

-- Batches per epoch.
function Loader:steps() return self.info.steps end

-- An iterator over epoch `epoch` (a number >= 0; training counts from 1), from batch `first`
-- (1-based, default 1): `for images, labels, step in loader:epoch(e) do`. The order is a pure
-- function of (seed, epoch). images (B, 1, H, W) and labels (B) live in the loader's reused
-- buffers: they are valid until the next batch is requested; :clone() what must outlive that.
function Loader:epoch(epoch, first)
  local handle, buffers, current = self.handle, self.buffers, self.current
  handle:start(epoch, first or 1)
  current.epoch, current.step = epoch, (first or 1) - 1
  local B = self.batch_size
  return function()
    local slot, count, step = handle:next()
    if not slot then return nil end
    current.step = step
    local b = buffers[slot]
    if count < B then return b[1]:narrow(1, 1, count), b[2]:narrow(1, 1, count), step end
    return b[1], b[2], step
  end
end

-- The next epoch after the last one started (1 for a fresh loader).
function Loader:iter()
  return self:epoch(self.current.epoch + 1)
end

-- Where iteration stands: {epoch, step, seed} with step = batches delivered in that epoch.
-- Saved with a checkpoint, loader:resume(state) continues with the very next batch.
function Loader:state()
  return { epoch = self.current.epoch, step = self.current.step, seed = self.seed }
end

function Loader:resume(state)
  if type(state) ~= "table" or type(state.epoch) ~= "number" or type(state.step) ~= "number" then
    error("loader:resume: expected a state {epoch = e, step = s} from loader:state()", 2)
  end
  if state.seed and state.seed ~= self.seed then
    error(("loader:resume: the state was saved with seed %s, this loader has seed %s"):format(
      tostring(state.seed), tostring(self.seed)), 2)
  end
  if state.step >= self:steps() then return self:epoch(state.epoch + 1) end
  return self:epoch(state.epoch, state.step + 1)
end

-- The 1-based rows of the source in the order epoch `epoch` visits them.
function Loader:order(epoch)
  return self.handle:order(epoch)
end

-- Stops the background thread and frees the buffers now (the garbage collector does it too).
function Loader:close()
  self.handle:close()
end

function Loader:__tostring()
  return ("mnist.Loader(%s: %d images, %d batches of %d, %s, prefetch %d)"):format(
    self.split or "custom", self:size(), self:steps(), self.batch_size,
    self.shuffle and "shuffled" or "in order", self.info.prefetch)
end

-- load_dataset ---------------------------------------------------------------------------------

local SPLIT_ALIASES = { val = "validation", valid = "validation", training = "train" }

-- The loader of one split: "train" (shuffled per epoch, drop_last, augmentation per
-- cfg.augment_shift, augment_rotate, augment_scale, cfg.batch_size), "validation" or "test" (in order, every image, no
-- augmentation, cfg.test_batch_size). cfg: a config (or overrides; nil = defaults). opts override
-- the loader options (batch_size, shuffle, drop_last, augment_*, prefetch) and go on to
-- ensure_records (log, verify, backoff). The record files are prepared on first use.
function M.load_dataset(split, cfg, opts)
  split = SPLIT_ALIASES[split] or split
  if not M.SPLITS[split] then
    error(("load_dataset: split must be 'train', 'validation' or 'test', got %s"):format(tostring(split)), 2)
  end
  cfg = config.resolve(cfg)
  opts = opts or {}
  local records = M.ensure_records(cfg, opts)
  local source = split == "test" and records.test or records.train
  local rows
  if split == "test" then
    local n = source.images:size(1)
    if cfg.limit_test > 0 and cfg.limit_test < n then
      rows = {}
      for i = 1, cfg.limit_test do rows[i] = i end
    end
  else
    local train, validation = M.split_rows(cfg, source.images:size(1))
    rows = split == "train" and train or validation
    if #rows == 0 then
      error("load_dataset: the validation split is empty (n_validation = 0)", 2)
    end
  end
  local training = split == "train"
  local function pick(key, default)
    if opts[key] ~= nil then return opts[key] end
    return default
  end
  return M.loader(source.images, source.labels, rows, {
    split = split,
    batch_size = pick("batch_size", training and cfg.batch_size or cfg.test_batch_size),
    shuffle = pick("shuffle", training),
    drop_last = pick("drop_last", training),
    augment_shift = pick("augment_shift", training and cfg.augment_shift or 0),
    augment_rotate = pick("augment_rotate", training and cfg.augment_rotate or 0),
    augment_scale = pick("augment_scale", training and cfg.augment_scale or 0),
    prefetch = pick("prefetch", cfg.prefetch),
    mean = cfg.normalize_mean,
    std = cfg.normalize_std,
    seed = cfg.seed,
  })
end

return M
