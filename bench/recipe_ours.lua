-- Our side of the time-to-accuracy benchmark (bench/recipe.lua drives it): trains a recipe
-- (config/fast.yml) as `mnist.lua train` does, and every `--every` steps stops the clock to measure
-- the test accuracy. Prints one JSON object: points ({training seconds, test accuracy}), images/s.
-- Writes the training split's rows (0-based, one per line) to --rows-out, so PyTorch trains on
-- the same 55,000 images.
--
--   luajit bench/recipe_ours.lua --config config/fast.yml --data DIR --home TMP --every 43 [--threads 2] [--rows-out FILE]
local cjson = require "cjson"
local mnist = require "mnist"
local core = require "mnist.core"
local config = require "mnist.config"
local dataset = require "mnist.dataset"
local optim = require "mnist.optim"
local random = require "mnist.random"
local train = require "mnist.train"
local nn = mnist.nn

local args = { every = 43 }
for i = 1, #arg, 2 do
  local key = arg[i]:match("^%-%-(.+)$")
  if not key or arg[i + 1] == nil then error("recipe_ours.lua: bad argument " .. arg[i], 0) end
  args[key:gsub("%-", "_")] = tonumber(arg[i + 1]) or arg[i + 1]
end

local cfg = config.load(args.config, { artifact_dir = args.home, mirrors = { args.data }, log_interval = 1000,
  threads = args.threads or 2 })
train.set_threads(cfg)
random.manual_seed(cfg.seed)
local net = mnist.classifier(cfg)
net:setInputGradient(false)
local params, grads = net:getParameters()
local criterion = nn.ClassNLLCriterion()
local train_loader = dataset.load_dataset("train", cfg, { log = false })
local test_loader = dataset.load_dataset("test", cfg, { log = false })
if args.rows_out then
  local f = assert(io.open(args.rows_out, "w"))
  for _, r in ipairs((dataset.split_rows(cfg, config.TRAIN_SIZE))) do f:write(r - 1, "\n") end
  f:close()
end
local steps = train_loader:steps()
local scheduler = train.lr_schedule(cfg, steps)
local update, state = optim[cfg.optimizer], {}

local images, labels
local feval = train.feval(net, criterion, grads, function() return images, labels end) -- as mnist.lua train

local points, seconds, seen = {}, 0, 0
for epoch = 1, cfg.epochs do
  net:training()
  local start = core.wall_time()
  for x, y, step in train_loader:epoch(epoch) do
    images, labels = x, y
    update(feval, params, scheduler.config, state)
    if scheduler.per_step then scheduler:step() end
    seen = seen + x:size(1)
    if step % args.every == 0 or step == steps then
      seconds = seconds + core.wall_time() - start -- the clock stops while we measure
      points[#points + 1] = { seconds, train.evaluate(net, test_loader).accuracy }
      net:training()
      start = core.wall_time()
    end
  end
  if not scheduler.per_step then scheduler:step() end
end
print(cjson.encode { points = points, images_per_s = seen / seconds, seconds = seconds, steps = steps,
  epochs = cfg.epochs, batch = cfg.batch_size })
