-- mnist.random: the default random generator, shared by weight initialisation, dropout and
-- shuffling so that one seed reproduces a run. `mnist.manual_seed(s)` reseeds it.
--   local rng = require("mnist.random").default
--   rng:uniform(), rng:random(10), rng:permutation(60000), rng:fill_uniform(t, -b, b)
--   rng:fill_normal / fill_exponential / fill_bernoulli / fill_random / fill_permutation(t, ...):
--   tensors of any strides (the Torch7 methods x:uniform(), x:normal(), ... use this generator)
--   local s = rng:state(); ...; rng:set_state(s)   -- checkpoint and resume
local core = require "mnist.core"

local M = {}

M.DEFAULT_SEED = 1
M.default = core.rng(M.DEFAULT_SEED)
M.seed = M.DEFAULT_SEED -- the default generator's last seed (Torch7's torch.initialSeed())

-- A new, independent generator (e.g. for a data loader that must not disturb model init).
function M.generator(seed)
  return core.rng(seed)
end

function M.manual_seed(seed)
  M.default:seed(seed)
  M.seed = seed
  return M.default
end

return M
