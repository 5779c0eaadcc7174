-- mnist.checkpoint: everything a training run needs to continue bitwise as if never stopped, in
-- one safetensors file written atomically (a crash leaves the previous checkpoint intact):
--   tensors  model.<name> (parameters and batch-norm statistics), optim.<key> (moment buffers)
--   metadata "checkpoint": JSON {epoch, step, optim (scalars such as step), scheduler, rng (hex),
--            loader, progress (running sums of the epoch), history (finished epochs), config}
local cjson = require "cjson"
local fs = require "mnist.fs"
local weights = require "mnist.weights"

local M = {}

M.FORMAT = "mnist-checkpoint-1"

local function to_hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function from_hex(h)
  return (h:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

-- Writes the checkpoint. `run` holds: net, optim_state, scheduler, rng, loader_state, epoch, step,
-- progress, history, config.
function M.save(path, run)
  local named = {}
  for _, pair in ipairs(run.net:namedTensors()) do named[#named + 1] = { "model." .. pair[1], pair[2] } end
  local optim_scalars, keys = {}, {}
  for k in pairs(run.optim_state) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = run.optim_state[k]
    if type(v) == "number" or type(v) == "boolean" then
      optim_scalars[k] = v
    elseif type(v) ~= "function" then
      named[#named + 1] = { "optim." .. k, v }
    end
  end
  local meta = {
    format = M.FORMAT,
    epoch = run.epoch,
    step = run.step,
    optim = optim_scalars,
    scheduler = run.scheduler:state_dict(),
    rng = to_hex(run.rng:state()),
    loader = run.loader_state,
    progress = run.progress,
    history = run.history,
    config = run.config,
    model_file = run.model_file, -- {path, sha256} of a model file (mnist.model.load_file)
  }
  -- no .sha256 sidecar: the data hash in the header verifies the file on its own
  -- sorted keys and every digit of each number (cjson keeps 14): equal state, equal bytes
  return weights.save(path, named, { checkpoint = fs.json_compact(meta) }, { sidecar = false })
end

local function whole(v, min)
  return type(v) == "number" and v == math.floor(v) and v >= min and v < 2 ^ 53
end

-- Why the metadata `meta` cannot resume a run, or nil when every field it needs is well formed.
-- (A checkpoint is our own file, but a damaged or hand-edited one must fail here, before
-- anything is restored, not deep inside the training loop.)
local function malformed(meta, tensors, run)
  if not whole(meta.epoch, 1) then return "epoch is not a whole number >= 1" end
  if not whole(meta.step, 0) then return "step is not a whole number >= 0" end
  if type(meta.rng) ~= "string" or not meta.rng:match("^%x+$") or #meta.rng ~= 64
    or not meta.rng:find("[1-9a-fA-F]") then
    return "rng is not the 64 hex digits of a generator state"
  end
  if type(meta.optim) ~= "table" then return "optim is not a table" end
  for k, v in pairs(meta.optim) do
    if type(k) ~= "string" or (type(v) ~= "number" and type(v) ~= "boolean") then
      return ("optim.%s is not a number or boolean"):format(tostring(k))
    end
  end
  local sched = meta.scheduler
  if type(sched) ~= "table" or type(sched.last_epoch) ~= "number" or type(sched.learningRate) ~= "number" then
    return "scheduler is not a saved learning-rate schedule"
  end
  if meta.progress ~= nil then
    if type(meta.progress) ~= "table" then return "progress is not a table" end
    for _, k in ipairs { "loss", "correct", "seen", "seconds" } do
      if type(meta.progress[k]) ~= "number" then return ("progress.%s is not a number"):format(k) end
    end
  end
  if meta.history ~= nil then
    if type(meta.history) ~= "table" then return "history is not a list" end
    for i, h in pairs(meta.history) do
      if type(i) ~= "number" or type(h) ~= "table" then return "history is not a list of epochs" end
    end
  end
  local n = run.net:numParameters()
  for name, t in pairs(tensors) do
    if name:match("^optim%.") and t:numel() ~= n then
      return ("%s holds %d values, the model has %d parameters"):format(name, t:numel(), n)
    end
  end
  return nil
end

-- Reads a checkpoint into `run` (same fields as save): the model's tensors and the optimizer's
-- buffers are restored in place; returns the metadata table. Everything is checked before
-- anything is restored: on an error, `run` is untouched.
function M.load(path, run)
  local tensors, metadata = weights.load(path)
  local ok, meta = pcall(cjson.decode, metadata.checkpoint or "")
  if not ok or type(meta) ~= "table" or meta.format ~= M.FORMAT then
    error(("checkpoint: %s: not a checkpoint of this version (format %s)"):format(path,
      type(meta) == "table" and tostring(meta.format) or "missing"), 0)
  end
  local why = malformed(meta, tensors, run)
  if why then error(("checkpoint: %s: damaged metadata: %s"):format(path, why), 0) end
  -- the same code must build the network that goes on training: a changed model file is refused
  local saved = type(meta.model_file) == "table" and meta.model_file.sha256 or nil
  local now = run.model_file and run.model_file.sha256 or nil
  if saved ~= now then
    error(("checkpoint: %s: the model file %s has changed since this checkpoint (SHA-256 %s, now %s): "
      .. "restore it, or start a new run"):format(path, tostring(run.model_file and run.model_file.path
      or meta.model_file and meta.model_file.path), tostring(saved or "none"), tostring(now or "none")), 0)
  end
  local model = {}
  for _, pair in ipairs(run.net:namedTensors()) do model[#model + 1] = { "model." .. pair[1], pair[2] } end
  weights.assign(model, tensors, path, { partial = true })
  for name, t in pairs(tensors) do
    local key = name:match("^optim%.(.+)$")
    if key then run.optim_state[key] = t end
  end
  for k, v in pairs(meta.optim) do run.optim_state[k] = v end
  run.scheduler:load_state_dict(meta.scheduler)
  run.rng:set_state(from_hex(meta.rng))
  return meta
end

return M
