-- The safetensors fuzz target's check (fuzz/fuzz_safetensors.c runs it under libFuzzer;
-- spec/hostile_files_spec.lua replays the inputs it found): lua/mnist/weights.lua's reader
-- (weights.load, then weights.assign into a small model, as pretrained.load does) and
-- lua/mnist/checkpoint.lua's (checkpoint.load into a small run, as `--resume` does).
--
-- A clean rejection is an error the module raised itself: it starts with the module's name. An
-- internal Lua error (indexing nil, a bad argument to a builtin, a C function's complaint) starts
-- with a source position or another name: check raises it, and that is a finding.
local weights = require "mnist.weights"
local checkpoint = require "mnist.checkpoint"
local nn = require "mnist.nn"
local optim = require "mnist.optim"
local random = require "mnist.random"

local M = {}

local net = nn.Sequential():add(nn.Linear(3, 2)):add(nn.BatchNormalization(2))

local function clean(err, prefixes)
  if type(err) ~= "string" then return false end
  for _, p in ipairs(prefixes) do
    if err:sub(1, #p) == p then return true end
  end
  return false
end

-- The input file's name ends in this.
function M.suffix(_)
  return ".safetensors"
end

-- path: a file holding data. Raises only on a finding.
function M.check(path, _)
  local ok, tensors = pcall(weights.load, path)
  if not ok then
    if not clean(tensors, { "weights: " }) then error("weights.load: " .. tostring(tensors), 0) end
  else
    for _, t in pairs(tensors) do t:sum() end
    local assigned, err = pcall(weights.assign, net:namedTensors(), tensors, path, { prefix = "model." })
    if not assigned and not clean(err, { "weights: " }) then error("weights.assign: " .. tostring(err), 0) end
  end
  local run = { net = net, optim_state = {}, rng = random.generator(1),
    scheduler = optim.StepLR({ learningRate = 1 }, 1, 0.7) }
  local loaded, err = pcall(checkpoint.load, path, run)
  if not loaded and not clean(err, { "weights: ", "checkpoint: " }) then
    error("checkpoint.load: " .. tostring(err), 0)
  end
end

return M
