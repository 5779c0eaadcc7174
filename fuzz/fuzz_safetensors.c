/* fuzz_safetensors: lua/mnist/weights.lua's reader (weights.load, then weights.assign into a small
 * model's tensors, as pretrained.load does) and lua/mnist/checkpoint.lua's (checkpoint.load into a
 * small run, as `--resume` does). A clean rejection is an error raised by the module itself: it
 * starts with the module's name. An internal Lua error (indexing nil, a bad argument to a builtin,
 * a C function's complaint) starts with a source position or another name, and is a finding. */
#include "lua_harness.h"

static const char *chunk =
    "local weights = require 'mnist.weights'\n"
    "local checkpoint = require 'mnist.checkpoint'\n"
    "local nn = require 'mnist.nn'\n"
    "local optim = require 'mnist.optim'\n"
    "local random = require 'mnist.random'\n"
    "local net = nn.Sequential():add(nn.Linear(3, 2)):add(nn.BatchNormalization(2))\n"
    "local function clean(err, prefixes)\n"
    "  if type(err) ~= 'string' then return false end\n"
    "  for _, p in ipairs(prefixes) do if err:sub(1, #p) == p then return true end end\n"
    "  return false\n"
    "end\n"
    "return function(path, data)\n"
    "  local ok, tensors = pcall(weights.load, path)\n"
    "  if not ok then\n"
    "    if not clean(tensors, { 'weights: ' }) then error('weights.load: ' .. tostring(tensors), 0) end\n"
    "  else\n"
    "    for _, t in pairs(tensors) do t:sum() end\n"
    "    local ok2, err = pcall(weights.assign, net:namedTensors(), tensors, path, { prefix = 'model.' })\n"
    "    if not ok2 and not clean(err, { 'weights: ' }) then error('weights.assign: ' .. tostring(err), 0) end\n"
    "  end\n"
    "  local run = { net = net, optim_state = {}, rng = random.generator(1),\n"
    "    scheduler = optim.StepLR({ learningRate = 1 }, 1, 0.7) }\n"
    "  local ok3, err = pcall(checkpoint.load, path, run)\n"
    "  if not ok3 and not clean(err, { 'weights: ', 'checkpoint: ' }) then\n"
    "    error('checkpoint.load: ' .. tostring(err), 0)\n"
    "  end\n"
    "end\n";

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) L = lua_harness_open("fuzz_safetensors", chunk);
    lua_harness_run(L, ".safetensors", data, size);
    return 0;
}
