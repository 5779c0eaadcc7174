-- mnist.train: `mnist.lua train` and `mnist.lua evaluate`.
--
-- A run is a reproducible command: the weights follow from the code's version and the resolved
-- config. It writes, under <artifact_dir>/runs/<run-id>/: config.json (the resolved config),
-- metrics.jsonl (one line per epoch), checkpoint.safetensors (after every epoch, atomically, and
-- on Ctrl-C), run.json (status and provenance, mnist.runs), evaluation.json and report.html
-- (mnist.report, after every epoch), curve.png (when gnuplot is installed); and at the end the
-- versioned weights and manifest.json in <artifact_dir>/weights/ (mnist.artifacts).
local cjson = require "cjson"
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"
local nn = require "mnist.nn"
local optim = require "mnist.optim"
local random = require "mnist.random"
local report = require "mnist.report"
local runs = require "mnist.runs"

local M = {}

local function fail(fmt, ...)
  error("train: " .. fmt:format(...), 0)
end

local function log(opts, fmt, ...)
  if not opts.quiet then io.stdout:write(fmt:format(...), "\n") io.stdout:flush() end
end

-- Threads for BLAS (and the kernels): cfg.threads, or every core (shared by the ranks of an MPI
-- job on this machine).
function M.set_threads(cfg)
  local threads = cfg.threads > 0 and cfg.threads
    or math.max(1, math.floor(core.cpu_count() / require("mnist.distributed").local_ranks()))
  core.blas_set_threads(threads)
  return threads
end

-- The optimizer's hyper-parameters (Torch7 names) from the run's config.
function M.optim_config(cfg)
  local c = { learningRate = cfg.learning_rate, weightDecay = cfg.weight_decay }
  if cfg.optimizer == "sgd" then
    c.momentum, c.nesterov = cfg.momentum, cfg.nesterov
  elseif cfg.optimizer == "nag" or cfg.optimizer == "rmsprop" then
    c.momentum = cfg.momentum
  end
  return c
end

-- The run's learning-rate schedule (mnist.optim.schedules) over `steps` batches per epoch; it
-- owns the optimizer's config. Per-step schedules (onecycle, warmup) advance after every batch,
-- the others after every epoch. cosine and onecycle span cfg.epochs: more --epochs on --resume
-- stretch what is left of them.
function M.lr_schedule(cfg, steps)
  local c, kind = M.optim_config(cfg), cfg.lr_schedule
  if kind == "step" then return optim.StepLR(c, cfg.lr_step, cfg.lr_gamma) end
  if kind == "multistep" then return optim.MultiStepLR(c, cfg.lr_milestones, cfg.lr_gamma) end
  if kind == "cosine" then return optim.CosineAnnealingLR(c, math.max(cfg.epochs, 1), cfg.lr_min) end
  if kind == "onecycle" then
    return optim.OneCycleLR(c, math.max(cfg.epochs * steps, 2), { pct_start = cfg.lr_pct_start })
  end
  if kind == "warmup" then return optim.LinearLR(c, cfg.lr_warmup_steps, cfg.lr_warmup_factor) end
  if kind == "constant" then return optim.StepLR(c, 1, 1) end
  fail("unknown lr_schedule '%s'", tostring(kind))
end

-- Most images per forward pass in evaluate: every module keeps its output buffer, and a whole
-- 1000-image test batch through the default model keeps 600 MB of them (it was the process's peak
-- RSS); 50 at a time keep 30 MB and run as fast.
M.EVAL_CHUNK = 64

-- Drops the network's buffers and collects them now: the collector does not see the C memory
-- of a tensor, and the training batch's buffers and the evaluation chunk's would otherwise both
-- stay resident around every evaluation.
local function release_buffers(net)
  net:clearState()
  collectgarbage()
end

-- Chunks of one size for a batch of b (50 for 1000): a chunk of another size would reallocate
-- every module's buffers twice per batch, garbage the collector is slow to see. A divisor of b
-- between EVAL_CHUNK/2 and EVAL_CHUNK, else nearly equal chunks.
local function chunk_size(b)
  for d = math.min(M.EVAL_CHUNK, b), math.ceil(M.EVAL_CHUNK / 2), -1 do
    if b % d == 0 then return d end
  end
  return math.ceil(b / math.ceil(b / M.EVAL_CHUNK))
end

local DIGITS = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" } -- class k is digit k (0-based)

-- Loss (mean NLL), accuracy, confusion matrix and mistakes (report.add_mistakes, worst first) of
-- `net` over every batch of `loader`.
function M.evaluate(net, loader)
  local criterion = nn.ClassNLLCriterion()
  local cm = optim.ConfusionMatrix(DIGITS)
  local loss_sum, n, mistakes = 0, 0, {}
  net:evaluate()
  release_buffers(net)
  for images, labels in loader:epoch(0) do
    local b = images:size(1)
    local size = chunk_size(b)
    for first = 1, b, size do
      local len = math.min(size, b - first + 1)
      local x, y = images:narrow(1, first, len), labels:narrow(1, first, len)
      local output = net:forward(x)
      loss_sum = loss_sum + criterion:forward(output, y) * len
      cm:batchAdd(output, y)
      report.add_mistakes(mistakes, output, y, n + first - 1)
    end
    n = n + b
  end
  release_buffers(net)
  cm:updateValids()
  return { loss = n > 0 and loss_sum / n or 0, accuracy = cm.totalValid, confusion = cm, n = n,
    mistakes = report.sort_mistakes(mistakes) }
end

-- Run directories ---------------------------------------------------------------------------------

local exists, read_json = fs.exists, fs.read_json

local function config_differences(a, b)
  local diffs = {}
  for _, f in ipairs(config.fields) do
    local k = f[1]
    if not config.NOT_IDENTITY[k] and cjson.encode(a[k]) ~= cjson.encode(b[k]) then
      diffs[#diffs + 1] = ("%s (%s vs %s)"):format(k, cjson.encode(a[k]), cjson.encode(b[k]))
    end
  end
  return diffs
end

-- A run directory has one writer: the process holding its lock file (fs.lock, released by the
-- kernel when that process dies). Returns the lock, or fails naming the live holder.
local RUN_LOCK = ".lock"
local check_writable
local function lock_run(dir, id, what)
  local lock, why, kind = fs.lock(dir .. "/" .. RUN_LOCK, "w")
  if lock then return lock end
  if kind == "busy" then
    fail("%s: run %s is being trained by %s; wait for it to end or stop it", what, id, why)
  end
  check_writable(dir, "run directory") -- names a read-only directory plainly
  fail("run %s: %s", id, why)
end

-- A new run id: the start time, then random hex (two runs started in one second differ).
local function new_run_id()
  local urandom = io.open("/dev/urandom", "rb")
  local bytes = urandom and urandom:read(3) or tostring({}) .. os.clock()
  if urandom then urandom:close() end
  return os.date("%Y%m%d-%H%M%S-") .. core.sha256(bytes .. fs.pid()):sub(1, 6)
end

-- The run directory to use: a new one, or with opts.resume the named or newest run whose config
-- matches. Returns path, run id, the checkpoint path when resuming, and the run's lock.
local function run_directory(cfg, opts)
  local runs = config.runs_dir(cfg)
  local made, why = fs.mkdir_p(runs)
  if not made then fail("cannot create the runs directory: %s", why) end
  if opts.resume then
    local candidates = {}
    if opts.run_id then
      candidates = { opts.run_id }
    else
      for i, name in ipairs(fs.list(runs) or {}) do candidates[i] = name end
      table.sort(candidates, function(a, b) return a > b end) -- newest first
    end
    for _, id in ipairs(candidates) do
      local dir = runs .. "/" .. id
      local saved = read_json(dir .. "/config.json")
      local has_checkpoint = exists(dir .. "/checkpoint.safetensors")
      if saved and (has_checkpoint or opts.run_id) then
        local diffs = config_differences(saved, cfg)
        -- a named run that died before its first checkpoint starts over in its own directory
        if #diffs == 0 then
          local lock = lock_run(dir, id, "--resume")
          return dir, id, has_checkpoint and dir .. "/checkpoint.safetensors" or nil, lock
        end
        if opts.run_id then
          fail("--resume: run %s was made with other settings: %s", id, table.concat(diffs, ", "))
        end
      elseif opts.run_id then
        fail("--resume: %s has no checkpoint to resume from", dir)
      end
    end
    fail("--resume: no run with a checkpoint and the same settings under %s", runs)
  end
  -- mkdir(2) fails on an existing directory: of processes starting together, one creates each id
  for _ = 1, 100 do
    local id = opts.run_id or new_run_id()
    local dir = runs .. "/" .. id
    local created, err, errno = fs.mkdir(dir)
    if created or (opts.run_id and errno == 17) then -- EEXIST
      local lock = lock_run(dir, id, "train")
      -- a named run that died before writing its config starts over in its own directory
      if not created and exists(dir .. "/config.json") then
        lock:release()
        fail("run %s exists already (use --resume, or another --run-id)", id)
      end
      return dir, id, nil, lock
    end
    if errno ~= 17 then fail("cannot create the run directory: %s", err) end
  end
  fail("cannot find an unused run id under %s", runs)
end

-- Removes what interrupted writes left in a run directory (core.write_atomic's
-- "<name>.tmp.XXXXXX" and mnist.weights' "<name>.staged"): its caller holds the run's lock.
local function remove_stale_temps(dir)
  for _, name in ipairs(fs.list(dir) or {}) do
    if name:match("%.tmp%.%w%w%w%w%w%w$") or name:match("%.staged$") then os.remove(dir .. "/" .. name) end
  end
end

-- Fails unless files can be created in dir (creating dir when missing): checked before any work,
-- so a read-only disk is reported at once, not after an hour of training.
function check_writable(dir, what)
  local made, why = fs.mkdir_p(dir)
  if not made then fail("cannot create the %s: %s", what, why) end
  local probe = dir .. "/.mnist-write-test"
  local ok, err = core.write_atomic(probe, "")
  if not ok then fail("the %s %s is not writable: %s", what, dir, (tostring(err):gsub("^.-: ", ""))) end
  os.remove(probe)
end

-- metrics.jsonl: one line per finished epoch, rewritten whole (atomically) from the history, so it
-- never holds a torn line and always agrees with the checkpoint after a crash and --resume.
local function write_metrics(dir, history)
  local lines = {}
  for i, record in ipairs(history) do lines[i] = cjson.encode(record) .. "\n" end
  local ok, err = core.write_atomic(dir .. "/metrics.jsonl", table.concat(lines))
  if not ok then fail("cannot write %s", tostring(err)) end
end

-- Progress ---------------------------------------------------------------------------------------

local function is_tty()
  local ok, term = pcall(require, "term")
  return ok and term.isatty(io.stdout)
end

local clock = core.wall_time

local function format_eta(seconds)
  seconds = math.max(0, math.floor(seconds + 0.5))
  return ("%d:%02d"):format(math.floor(seconds / 60), seconds % 60)
end

local Progress = {}
Progress.__index = Progress

local function new_progress(opts, cfg, steps)
  return setmetatable({ tty = not opts.quiet and is_tty(), quiet = opts.quiet, cfg = cfg,
    steps = steps, last_draw = 0 }, Progress)
end

function Progress:update(epoch, step, loss, images_per_s, eta)
  if self.quiet then return end
  local line = ("epoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %s"):format(epoch,
    self.cfg.epochs, step, self.steps, loss, images_per_s, format_eta(eta))
  if self.tty then
    local now = clock()
    if now - self.last_draw >= 0.1 or step == self.steps then
      local width = math.floor(24 * step / self.steps)
      io.stdout:write("\r\27[K[", ("="):rep(width), (" "):rep(24 - width), "] ", line)
      io.stdout:flush()
      self.last_draw = now
    end
  elseif step % self.cfg.log_interval == 0 or step == self.steps then
    io.stdout:write(line, "\n")
    io.stdout:flush()
  end
end

function Progress:finish()
  if self.tty then io.stdout:write("\r\27[K") end
end

-- Training ---------------------------------------------------------------------------------------

local function check_finite(loss, epoch, step, lr, checkpoint_path, where)
  if loss ~= loss or loss == math.huge or loss == -math.huge then
    fail("loss is %s%s at epoch %d, step %d (learning rate %g): training stopped; %s", tostring(loss),
      where or "", epoch, step, lr, checkpoint_path and ("the last good checkpoint is " .. checkpoint_path)
        or "no checkpoint was written yet")
  end
end

local train_in

-- Trains per cfg. opts: resume (bool), run_id, quiet (no output), stop_after (epoch, step): stop
-- as if interrupted there (tests). Returns a summary table (run dir, metrics, weight paths).
-- A run that fails is marked so in its run.json (mnist.runs), with the error, and its page says so.
function M.run(cfg, opts)
  opts = opts or {}
  -- a model file with an error fails here, before a run directory is made (train_in seeds the
  -- generator before it builds the network it trains)
  require("mnist.model").classifier(cfg)
  -- under mpirun, rank 0 makes (or finds) the run directory and every rank learns it
  local world = require("mnist.distributed").world(cfg.mpi_timeout)
  local dir, run_id, resume_from, lock = world:from_writer(function()
    check_writable(config.weights_dir(cfg), "weights directory")
    return run_directory(cfg, opts)
  end)
  local ok, summary = pcall(train_in, cfg, opts, dir, run_id, resume_from, world)
  if not ok and lock and runs.mark(dir, { status = "failed", message = tostring(summary) }) then
    report.write(dir, { warn = true }) -- marked while the run's lock is still held
  end
  if lock then lock:release() end
  if not ok then error(summary, 0) end
  return summary
end

-- The run itself, in its locked directory.
function train_in(cfg, opts, dir, run_id, resume_from, world)
  local dataset = require "mnist.dataset"
  local model = require "mnist.model"
  local checkpoint = require "mnist.checkpoint"
  local artifacts = require "mnist.artifacts"
  local writer = world:writer() -- rank 0 under mpirun: the others print and write nothing
  if not writer then opts = setmetatable({ quiet = true }, { __index = opts }) end

  if writer then check_writable(dir, "run directory") end
  if writer and opts.resume then remove_stale_temps(dir) end
  local threads = M.set_threads(cfg)
  random.manual_seed(cfg.seed)
  local net = model.classifier(cfg)
  net:setInputGradient(false) -- the images need no gradient: the first convolution skips it
  world:prepare(net, cfg.batch_size)
  local params, grads = net:getParameters()
  local criterion = nn.ClassNLLCriterion()

  local train_loader = dataset.load_dataset("train", cfg)
  local validation_loader = cfg.n_validation > 0 and dataset.load_dataset("validation", cfg) or nil
  local test_loader = dataset.load_dataset("test", cfg)
  local steps = train_loader:steps()
  if steps == 0 then
    fail("the training split has %d images, fewer than one batch of %d", train_loader:size(), cfg.batch_size)
  end

  local optim_state = {}
  local scheduler = M.lr_schedule(cfg, steps)
  local update = optim[cfg.optimizer]
  local history, first_epoch, first_step, progress_sums = {}, 1, 1, nil
  local checkpoint_path = dir .. "/checkpoint.safetensors"
  local run = { net = net, optim_state = optim_state, scheduler = scheduler, rng = random.default,
    history = history, config = cfg, model_file = net.model_file }

  if resume_from then
    local path, remove_copy = world:shared_file(resume_from) -- under mpirun: rank 0's bytes
    local ok_load, meta = pcall(checkpoint.load, path, run)
    remove_copy()
    if not ok_load then error(meta, 0) end
    history = meta.history or {}
    run.history = history
    first_epoch, first_step = meta.epoch, meta.step + 1
    progress_sums = meta.progress
    if first_step > steps then first_epoch, first_step, progress_sums = first_epoch + 1, 1, nil end
    log(opts, "resuming run %s at epoch %d, step %d", run_id, first_epoch, first_step)
  elseif writer then
    local ok, err = core.write_atomic(dir .. "/config.json", fs.json(cfg) .. "\n")
    if not ok then fail("cannot write the run's config: %s", err) end
  end
  local data_hashes = writer and runs.data_hashes(cfg)
  if writer then runs.mark(dir, { status = "running", version = require "mnist.version", git_commit = artifacts.git_commit(),
    data = data_hashes, steps_per_epoch = steps, world_size = world.size, kernels = core.blas_info().gemm }) end
  log(opts, "run %s: %s, %s, %d epochs of %d steps (batch %d), %d threads%s, artifacts in %s", run_id,
    net.arch, cfg.optimizer, cfg.epochs, steps, cfg.batch_size, threads,
    world.mpi and (" per rank, %d ranks"):format(world.size) or "", cfg.artifact_dir)

  local images, labels
  local feval = M.feval(net, criterion, grads, function() return images, labels end)
  local shard -- under mpirun: this step's collective results (distributed_feval)
  if world.mpi then feval, shard = M.distributed_feval(world, net, grads, function() return images, labels end) end

  local function save_checkpoint(epoch, step, sums)
    if not writer then return end
    run.epoch, run.step, run.progress = epoch, step, sums
    run.loader_state = { epoch = epoch, step = step }
    local ok, err = pcall(checkpoint.save, checkpoint_path, run)
    if not ok then fail("cannot write the checkpoint: %s", tostring(err)) end
  end

  core.trap_interrupt(true)
  local progress = new_progress(opts, cfg, steps)
  local ok, err = pcall(function()
    for epoch = first_epoch, cfg.epochs do
      net:training()
      local sums = progress_sums or { loss = 0, correct = 0, seen = 0, seconds = 0 }
      progress_sums = nil
      local start = clock() - sums.seconds
      for batch_images, batch_labels, step in train_loader:epoch(epoch, first_step) do
        images, labels = batch_images, batch_labels
        local lr = scheduler.config.learningRate
        local _, fx = update(feval, params, scheduler.config, optim_state)
        local loss = fx[1]
        check_finite(loss, epoch, step, lr, exists(checkpoint_path) and checkpoint_path, shard and shard.where)
        if scheduler.per_step then scheduler:step() end
        local b = images:size(1)
        sums.loss, sums.seen = sums.loss + loss * b, sums.seen + b
        -- the mean loss since the last logged step, for the report's per-step curve
        sums.window_loss, sums.window_seen = (sums.window_loss or 0) + loss * b, (sums.window_seen or 0) + b
        if step % cfg.log_interval == 0 or step == steps then
          sums.step_losses = sums.step_losses or {}
          sums.step_losses[#sums.step_losses + 1] = { step, sums.window_loss / sums.window_seen }
          sums.window_loss, sums.window_seen = 0, 0
        end
        if shard then
          sums.correct = sums.correct + shard.correct
          sums.allreduce_seconds = (sums.allreduce_seconds or 0) + shard.seconds
          sums.wait_seconds = (sums.wait_seconds or 0) + shard.waited
        else
          local predicted = net.output:argmax()
          for i = 1, b do
            if predicted[i] - 1 == labels[i] then sums.correct = sums.correct + 1 end
          end
        end
        local elapsed = clock() - start
        sums.seconds = elapsed
        progress:update(epoch, step, sums.loss / sums.seen, sums.seen / math.max(elapsed, 1e-9),
          elapsed / step * (steps - step))
        local stop = opts.stop_after and opts.stop_after[1] == epoch and opts.stop_after[2] == step
        if (shard and shard.interrupted or not shard and core.interrupted()) or stop then
          progress:finish()
          save_checkpoint(epoch, step, sums)
          error({ interrupted = true, epoch = epoch, step = step }, 0)
        end
      end
      first_step = 1
      progress:finish()
      local record = {
        epoch = epoch, train_loss = sums.loss / sums.seen, train_accuracy = sums.correct / sums.seen,
        learning_rate = scheduler.config.learningRate, seconds = sums.seconds,
        images_per_s = sums.seen / math.max(sums.seconds, 1e-9), step_losses = sums.step_losses,
      }
      if sums.allreduce_seconds then -- under mpirun: the all-reduce's time per step and share of the step
        record.world_size, record.allreduce_ms_per_step = world.size, 1000 * sums.allreduce_seconds / steps
        record.allreduce_share = sums.allreduce_seconds / math.max(sums.seconds, 1e-9)
        record.rank_wait_ms_per_step = 1000 * sums.wait_seconds / steps -- for the slowest rank
      end
      history[#history + 1] = record
      if not scheduler.per_step then scheduler:step() end
      if writer then -- rank 0 evaluates and writes while the others wait at the barrier below
        if validation_loader then
          local v = M.evaluate(net, validation_loader)
          record.validation_loss, record.validation_accuracy = v.loss, v.accuracy
        end
        local t = M.evaluate(net, test_loader)
        record.test_loss, record.test_accuracy = t.loss, t.accuracy
        save_checkpoint(epoch + 1, 0, nil)
        write_metrics(dir, history)
        report.after_epoch(dir, cfg, t)
      end
      world:barrier()
      if record.allreduce_ms_per_step then
        log(opts, "epoch %d/%d: gradient all-reduce %.2f ms per step, %.1f%% of the step; %.2f ms per step waiting for the slowest of %d ranks",
          epoch, cfg.epochs, record.allreduce_ms_per_step, 100 * record.allreduce_share,
          record.rank_wait_ms_per_step, world.size)
      end
      if writer then log(opts, "epoch %d/%d: train loss %.4f acc %.2f%% | validation %s | test loss %.4f acc %.2f%% | %.0f img/s, %.1f s",
        epoch, cfg.epochs, record.train_loss, 100 * record.train_accuracy,
        record.validation_accuracy and ("%.2f%%"):format(100 * record.validation_accuracy) or "-",
        record.test_loss, 100 * record.test_accuracy, record.images_per_s, record.seconds) end
    end
  end)
  core.trap_interrupt(false)
  progress:finish()
  if not ok then
    if type(err) == "table" and err.interrupted and not writer then
      return { interrupted = true, dir = dir, run_id = run_id, checkpoint = checkpoint_path, exit_code = 130 }
    elseif type(err) == "table" and err.interrupted then
      runs.mark(dir, { status = "interrupted", message = ("at epoch %d, step %d"):format(err.epoch, err.step) })
      report.write(dir, { warn = true })
      log(opts, "interrupted at epoch %d, step %d: checkpoint written to %s\nresume with: mnist.lua train --resume --run-id %s",
        err.epoch, err.step, checkpoint_path, run_id)
      return { interrupted = true, dir = dir, run_id = run_id, checkpoint = checkpoint_path, exit_code = 130 }
    end
    error(err, 0)
  end

  local summary = { dir = dir, run_id = run_id, history = history, checkpoint = checkpoint_path }
  if not writer then return summary end
  if #history > 0 then
    local final = M.evaluate(net, test_loader)
    summary.test_accuracy, summary.confusion = final.accuracy, final.confusion
    log(opts, "%s", tostring(final.confusion))
    summary.weights = artifacts.publish(net, cfg, {
      test_accuracy = final.accuracy, test_loss = final.loss, epochs = #history, run_id = run_id,
      data = data_hashes, world_size = world.size,
    })
    log(opts, "weights: %s", summary.weights.classifier)
    log(opts, "         %s", summary.weights.features)
    local png, why = report.curve_png(dir)
    log(opts, png and ("training curve: %s"):format(png) or ("training curve skipped: %s"):format(why))
  end
  runs.mark(dir, { status = "finished", message = "", test_accuracy = summary.test_accuracy,
    weights = summary.weights and runs.published_hashes(summary.weights.manifest) })
  local page = report.write(dir, { warn = true })
  if page then log(opts, "report: %s", page) end
  return summary
end

-- The optimizers' feval for one process: the loss of net on the batch batch() returns (images,
-- labels) and the gradient in grads (zeroed first).
function M.feval(net, criterion, grads, batch)
  return function()
    local images, labels = batch()
    grads:fill(0)
    local output = net:forward(images)
    local loss = criterion:forward(output, labels)
    net:backward(images, criterion:backward(output, labels))
    return loss, grads
  end
end

-- Under mpirun (mnist.distributed): the step's feval on this rank's rows of the global batch, and
-- the table it fills each step (correct, interrupted, seconds of the all-reduce, where: the ranks
-- whose loss was not finite). batch() returns the global batch (images, labels).
function M.distributed_feval(world, net, grads, batch)
  local criterion = nn.ClassNLLCriterion()
  criterion.sizeAverage = false -- the sum over the rank's rows, scaled by 1/B: the global mean's terms
  local result, stats = {}, {}
  local function feval()
    local images, labels = batch()
    local b = images:size(1)
    local first, count = world:shard(b)
    local x, y = images:narrow(1, first, count), labels:narrow(1, first, count)
    grads:fill(0)
    local output = net:forward(x)
    local loss_sum = criterion:forward(output, y)
    net:backward(x, criterion:backward(output, y):mul(1 / b))
    local predicted, correct = output:argmax(), 0
    for i = 1, count do
      if predicted[i] - 1 == y[i] then correct = correct + 1 end
    end
    -- one list summed with the gradient: the loss, the correct count, who was interrupted (Ctrl-C,
    -- SIGTERM) and whose loss is not finite (a NaN on one rank stops every rank at this step)
    stats[1], stats[2], stats[3] = loss_sum, correct, core.interrupted() and 1 or 0
    local finite = loss_sum == loss_sum and loss_sum ~= math.huge and loss_sum ~= -math.huge
    for r = 0, world.size - 1 do stats[4 + r] = (r == world.rank and not finite) and 1 or 0 end
    if not finite then stats[1] = 0 end -- the others' sums stay readable; the flag says who failed
    local sums, seconds, waited = world:allreduce_step(grads, stats)
    result.correct, result.interrupted, result.seconds, result.waited = sums[2], sums[3] > 0, seconds, waited
    local bad = {}
    for r = 0, world.size - 1 do
      if sums[4 + r] > 0 then bad[#bad + 1] = tostring(r) end
    end
    result.where = #bad > 0 and (" on rank %s"):format(table.concat(bad, ", ")) or nil
    return #bad > 0 and 0 / 0 or sums[1] / b, grads
  end
  return feval, result
end

-- `mnist.lua train`: runs and maps an interruption to exit code 130.
function M.run_cli(cfg, opts)
  local summary = M.run(cfg, opts)
  return summary.exit_code
end

-- `mnist.lua evaluate`: accuracy, loss and confusion matrix of the classifier on the test split;
-- opts.errors: a PNG file for the grid of the misclassified test digits (mnist.report.errors_png).
function M.run_evaluate(cfg, opts)
  local model = require "mnist.model"
  local dataset = require "mnist.dataset"
  M.set_threads(cfg)
  local net = model.classifier(cfg, { pretrained = opts.weights == nil, weights = opts.weights })
  local result = M.evaluate(net, dataset.load_dataset("test", cfg))
  print(("test: %d images, loss %.4f, accuracy %.2f%%"):format(result.n, result.loss, 100 * result.accuracy))
  print(tostring(result.confusion))
  if opts.errors then
    local images = dataset.ensure_records(cfg).test.images
    require("mnist.report").errors_png(opts.errors, result.mistakes, images)
    print(("misclassified: %d images, worst first: %s"):format(#result.mistakes, opts.errors))
  end
  return nil, result
end

return M
