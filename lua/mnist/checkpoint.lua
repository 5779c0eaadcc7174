-- mnist.checkpoint: everything a training run needs to continue bitwise as if never stopped, in
-- one safetensors file written atomically (a crash leaves the previous checkpoint intact):
--   tensors  model.<name> (parameters and batch-norm statistics), optim.<key> (moment buffers)
--   metadata "checkpoint": JSON {epoch, step, optim (scalars such as step), scheduler, rng (hex),
--            loader, progress (running sums of the epoch), history (finished epochs), config}
local cjson = require "cjson"
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
  }
  return weights.save(path, named, { checkpoint = cjson.encode(meta) })
end

-- Reads a checkpoint into `run` (same fields as save): the model's tensors and the optimizer's
-- buffers are restored in place; returns the metadata table.
function M.load(path, run)
  local tensors, metadata = weights.load(path)
  local ok, meta = pcall(cjson.decode, metadata.checkpoint or "")
  if not ok or type(meta) ~= "table" or meta.format ~= M.FORMAT then
    error(("checkpoint: %s: not a checkpoint of this version (format %s)"):format(path,
      type(meta) == "table" and tostring(meta.format) or "missing"), 0)
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
