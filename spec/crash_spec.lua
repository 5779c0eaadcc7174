-- Crash consistency of `mnist.lua train`, on real processes: SIGKILL at random moments (50 kills,
-- chained with --resume), and writes that fail for lack of space (RLIMIT_FSIZE, a full tmpfs).
-- Afterwards no file under its final name may be truncated or corrupt, the previous version of a
-- file that could not be written must be intact, and --resume must continue from the last complete
-- checkpoint to the very weights an uninterrupted run produces.
--
-- Every write of the processes pauses 10 ms after each chunk and after its rename
-- (MNIST_SLOW_WRITES, a test hook in csrc/sys/fileio.c), so that about half the kills land inside a
-- write rather than in the arithmetic. MNIST_CRASH_KILLS=n sets the number of kills (default 50),
-- MNIST_CRASH_SEED the random delays.
local cjson = require "cjson"
local core = require "mnist.core"
local H = require "spec.support.helpers"
local weights = require "mnist.weights"

-- A tiny run: LeNet on 500 training images, 10 epochs of 10 steps, a checkpoint after each; about
-- 3 s with the slowed writes.
local EPOCHS = 10
local TRAIN = "train --arch lenet --limit-train 600 --n-validation 100 --limit-test 500 --epochs " .. EPOCHS .. " "
  .. "--batch-size 50 --test-batch-size 500 --threads 1 --log-interval 1000"

-- Returns output (stdout and stderr) and exit code.
-- Each write pauses this many ms (fileio.c's test hook) so that random kills land inside writes:
-- 4x under ASan (make asan preloads it), whose training runs about 3x slower while a pause does
-- not (there 1 of 30 training kills hit a checkpoint write with 10 ms, against 10 of 30 without).
local UNDER_ASAN = (os.getenv("LD_PRELOAD") or ""):find("libasan", 1, true) ~= nil
local SLOW = ("MNIST_SLOW_WRITES=%d"):format(UNDER_ASAN and 40 or 10)

-- `mnist.lua args` with MNIST_HOME=home; prefix: more variables or a wrapper (prlimit ...).
local function cli(home, args, prefix)
  return H.run(("%s MNIST_HOME=%s %s luajit bin/mnist.lua %s"):format(SLOW, H.quote(home), prefix or "", args))
end

local function list(dir)
  local names = {}
  local p = io.popen("ls -1A " .. H.quote(dir) .. " 2>/dev/null")
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

-- A hash of every tensor of a checkpoint or weight file (its metadata holds timings).
local function tensors_hash(path)
  local tensors, _, names = weights.load(path)
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = name .. tensors[name]:tobytes() end
  return core.sha256(table.concat(parts))
end

-- As a user would: --resume once the run exists.
local function resume_flag(run_dir)
  return H.exists(run_dir .. "/config.json") and "--resume" or ""
end

local function is_temp(name)
  return name:match("%.tmp%.%w+$") or name:match("%.tmp$") or name:match("%.staged$")
end

-- Every file under its final name in dir is whole: weight files load (their data hash verifies),
-- JSON parses, metrics lines parse, sidecars and the manifest name their files' hashes. Returns
-- the errors found and the names of the temp files (writes the kill interrupted).
local function check_dir(dir)
  local temps, errors = {}, {}
  for _, name in ipairs(list(dir)) do
    local path = dir .. "/" .. name
    local function bad(why) errors[#errors + 1] = path .. ": " .. why end
    if is_temp(name) then
      temps[#temps + 1] = name
    elseif name:match("%.safetensors$") then
      local ok, err = pcall(weights.load, path)
      if not ok then bad(err) end
    elseif name:match("%.json$") then
      local ok, value = pcall(cjson.decode, H.read(path))
      if not ok or type(value) ~= "table" then
        bad("not a JSON object")
      elseif name == "manifest.json" then -- the published weights: it names each file's hash
        for file, info in pairs(value.files) do
          if core.sha256_file(dir .. "/" .. file) ~= info.sha256 then bad("names another " .. file) end
        end
      end
    elseif name == "metrics.jsonl" then
      for line in H.read(path):gmatch("[^\n]*\n?") do
        if line ~= "" and (line:sub(-1) ~= "\n" or not pcall(cjson.decode, line)) then bad("torn line") end
      end
    elseif name:match("%.sha256$") then
      local hex = weights.read_checksum(path:sub(1, -8))
      if not hex or #hex ~= 64 then
        bad("not a checksum line")
      elseif hex ~= core.sha256_file(path:sub(1, -8)) then
        bad("does not match its file")
      end
    end
  end
  return errors, temps
end

describe("kill -9 of mnist.lua train", function()
  local home, reference
  setup(function()
    home = H.tmpdir()
    local out, code = cli(home .. "/ref", "save-datasets", "MNIST_MIRROR=" .. H.quote(H.mirror()))
    assert(code == 0, out)
    -- the killed runs get their own artifact dir (weights are published there), sharing the data
    assert(H.sh(("mkdir -p %s/killed && ln -s %s/ref/data %s/killed/data"):format(home, home, home)))
    local t0 = core.wall_time()
    out, code = cli(home .. "/ref", TRAIN .. " --run-id ref")
    assert(code == 0, out)
    reference = { seconds = core.wall_time() - t0,
      checkpoint = tensors_hash(home .. "/ref/runs/ref/checkpoint.safetensors"),
      classifier = tensors_hash(home .. "/ref/weights/lenet/mnist-classifier-" .. require "mnist.version" .. ".safetensors") }
  end)
  teardown(function() H.rm(home) end)

  -- Starts `mnist.lua train` (resuming once the run exists), kills it with SIGKILL after `delay`
  -- seconds, then checks both directories. Returns the exit code (137 when killed, 0 when it
  -- finished first) and the temp files the kill left (the writes it interrupted).
  local function kill_once(artifacts, run_id, delay, label)
    local run_dir, weights_dir = artifacts .. "/runs/" .. run_id, artifacts .. "/weights/lenet"
    local resume = resume_flag(run_dir)
    local out = H.run(("{ %s MNIST_HOME=%s luajit bin/mnist.lua %s --run-id %s %s >/dev/null 2>&1 & "
      .. "pid=$!; sleep %.3f; kill -9 $pid; wait $pid; echo \"exit=$?\"; } 2>/dev/null"):format(
      SLOW, H.quote(artifacts), TRAIN, run_id, resume, delay))
    local code = tonumber(out:match("exit=(%d+)"))
    assert.is_true(code == 0 or code == 137, ("%s: exit %s"):format(label, tostring(code)))
    local errors, temps = {}, {}
    for _, dir in ipairs { run_dir, weights_dir } do
      local e, t = check_dir(dir)
      for _, x in ipairs(e) do errors[#errors + 1] = x end
      for _, name in ipairs(t) do
        temps[#temps + 1] = name
        os.remove(dir .. "/" .. name) -- so that each kill counts its own
      end
    end
    assert.same({}, errors, label)
    local what = table.concat(temps, " ")
    if os.getenv("MNIST_CRASH_DEBUG") then
      print(("# %s: exit %d, interrupted writes: %s"):format(label, code, what))
    end
    return code, what
  end

  it("leaves only whole files at every kill, and --resume ends with the uninterrupted run's weights", function()
    local kills = tonumber(os.getenv("MNIST_CRASH_KILLS") or "50")
    local seed = tonumber(os.getenv("MNIST_CRASH_SEED") or "20240601")
    math.randomseed(seed)
    local artifacts = home .. "/killed"
    local run_dir, weights_dir = artifacts .. "/runs/chain", artifacts .. "/weights/lenet"
    local in_checkpoint, in_weights = 0, 0

    -- 1. while training: kills after up to 2 epochs' time; the run advances by a fraction of an
    -- epoch per kill, so they fall on the checkpoints of many epochs
    local training_kills = math.ceil(kills * 0.6)
    for i = 1, training_kills do
      local delay = math.random() * 2 * reference.seconds / EPOCHS
      local _, what = kill_once(artifacts, "chain", delay, ("kill %d (seed %d, after %.3f s)"):format(i, seed, delay))
      if what:find("checkpoint.safetensors.", 1, true) then in_checkpoint = in_checkpoint + 1 end
    end
    -- the run completes from whatever checkpoint the kills left: the very same weights
    local out, code = cli(artifacts, TRAIN .. " --run-id chain " .. resume_flag(run_dir))
    assert.equal(0, code, out)
    assert.equal(reference.checkpoint, tensors_hash(run_dir .. "/checkpoint.safetensors"))

    -- 2. while publishing: --resume of the finished run evaluates and writes the weight files again
    local t0 = core.wall_time()
    out, code = cli(artifacts, TRAIN .. " --run-id chain --resume")
    assert.equal(0, code, out)
    local publish_seconds = core.wall_time() - t0
    for i = training_kills + 1, kills do
      local delay = math.random() * publish_seconds
      local _, what = kill_once(artifacts, "chain", delay, ("kill %d (seed %d, after %.3f s)"):format(i, seed, delay))
      -- a weight file's staged (<file>.<pid>.staged) or temporary copy was being written
      if what:find("mnist%-%w+%-[^ ]*%.safetensors%.") then in_weights = in_weights + 1 end
    end
    out, code = cli(artifacts, TRAIN .. " --run-id chain --resume")
    assert.equal(0, code, out)
    assert.equal(reference.classifier, tensors_hash(weights_dir .. "/mnist-classifier-" .. require "mnist.version" .. ".safetensors"))
    assert.same({}, (check_dir(run_dir)))
    assert.same({}, (check_dir(weights_dir)))

    -- the kills must have hit writes for this to prove anything
    print(("# %d kills: %d inside a checkpoint write, %d inside a weight-file write; a whole run takes "
      .. "%.2f s, publishing %.2f s"):format(kills, in_checkpoint, in_weights, reference.seconds, publish_seconds))
    local enough = math.min(2, math.floor(kills / 10))
    assert.is_true(in_checkpoint >= enough and in_weights >= enough, "too few kills landed inside writes")
  end)
end)

describe("a write that runs out of space", function()
  local home, data
  local SMALL = "train --arch lenet --limit-train 600 --n-validation 100 --limit-test 500 --batch-size 50 "
    .. "--test-batch-size 500 --threads 1 --log-interval 1000 --run-id r"
  setup(function()
    home = H.tmpdir()
    data = home .. "/shared-data"
    local out, code = cli(home .. "/prep", "save-datasets", "MNIST_MIRROR=" .. H.quote(H.mirror()))
    assert(code == 0, out)
    assert(H.sh(("mv %s/prep/data %s"):format(home, data)))
  end)
  teardown(function() H.rm(home) end)

  -- A new artifact dir (at `dir`, created unless it exists) sharing the prepared data.
  local function artifacts(dir)
    assert(H.sh(("mkdir -p %s && ln -s %s %s/data"):format(H.quote(dir), H.quote(data), H.quote(dir))))
    return dir
  end

  -- Names in dir that are not final names (interrupted or failed writes).
  local function leftovers(dir)
    local found = {}
    for _, name in ipairs(list(dir)) do
      if is_temp(name) then found[#found + 1] = name end
    end
    return found
  end

  local function snapshot(dir)
    local files = {}
    for _, name in ipairs(list(dir)) do files[name] = H.read(dir .. "/" .. name) end
    return files
  end

  it("a file-size limit (ulimit -f) while writing a checkpoint: a clear error, the last checkpoint intact", function()
    local a = artifacts(home .. "/fsize")
    local out, code = cli(a, SMALL .. " --epochs 1")
    assert.equal(0, code, out)
    local checkpoint = a .. "/runs/r/checkpoint.safetensors"
    local before = H.read(checkpoint)
    -- epoch 2 trains, then its checkpoint (as large as the first) does not fit under the limit
    out, code = cli(a, SMALL .. " --epochs 2 --resume", ("prlimit --fsize=%d"):format(#before - 4096))
    assert.equal(2, code, out)
    assert.truthy(out:find(("mnist.lua train: train: cannot write the checkpoint: weights: %s: cannot write: %s.staged: File too large\n")
      :format(checkpoint, checkpoint), 1, true), out)
    assert.equal(before, H.read(checkpoint))
    assert.same({}, leftovers(a .. "/runs/r"))
    -- and the run goes on once there is room
    out, code = cli(a, SMALL .. " --epochs 2 --resume")
    assert.equal(0, code, out)
    assert.truthy(out:find("resuming run r at epoch 2, step 1", 1, true), out)
  end)

  it("a file-size limit while publishing weights: a clear error, the published weights untouched", function()
    local a = artifacts(home .. "/publish")
    local out, code = cli(a, SMALL .. " --epochs 1")
    assert.equal(0, code, out)
    local dir = a .. "/weights/lenet"
    local before = snapshot(dir)
    local classifier = dir .. "/mnist-classifier-" .. require "mnist.version" .. ".safetensors"
    -- the resumed, finished run publishes again: the classifier file does not fit
    out, code = cli(a, SMALL .. " --epochs 1 --resume", ("prlimit --fsize=%d"):format(#before["manifest.json"] + 4096))
    assert.equal(2, code, out)
    -- staged under a name of this process (<file>.<pid>.staged): publishers never share one
    local staged = out:match("cannot write: (%S+%.%d+%.staged): File too large\n")
    assert.truthy(staged and staged:match("^(.*)%.%d+%.staged$") == classifier, out)
    assert.truthy(out:find(("mnist.lua train: artifacts: cannot publish the weights (the published ones are untouched): "
      .. "weights: %s: cannot write: %s: File too large\n"):format(classifier, staged), 1, true), out)
    assert.same(before, snapshot(dir))
    -- still the verified pretrained weights
    out, code = cli(a, "evaluate --arch lenet --limit-test 100 --threads 1")
    assert.equal(0, code, out)
  end)

  it("a full disk while writing a checkpoint: a clear error, the last checkpoint intact", function()
    local mnt = home .. "/full"
    assert(H.sh("mkdir -p " .. H.quote(mnt)))
    -- room for one checkpoint of this run (about 530 KB) with the run's other files (weights, report
    -- and evaluation: about 400 KB), and not for the next checkpoint beside it
    if not H.sh(("mount -t tmpfs -o size=1100k tmpfs %s 2>/dev/null"):format(H.quote(mnt))) then
      pending("cannot mount a small tmpfs here (needs root): the file-size limit specs above cover the same code")
      return
    end
    finally(function() H.sh("umount " .. H.quote(mnt)) end)
    local a = artifacts(mnt)
    local out, code = cli(a, SMALL .. " --epochs 1")
    assert.equal(0, code, out)
    H.rm(a .. "/weights") -- only the run directory stays on the small disk
    local checkpoint = a .. "/runs/r/checkpoint.safetensors"
    local before = H.read(checkpoint)
    out, code = cli(a, SMALL .. " --epochs 2 --resume")
    assert.equal(2, code, out)
    assert.truthy(out:find(("mnist.lua train: train: cannot write the checkpoint: weights: %s: cannot write: %s.staged: No space left on device\n")
      :format(checkpoint, checkpoint), 1, true), out)
    assert.equal(before, H.read(checkpoint))
    assert.same({}, leftovers(a .. "/runs/r"))
  end)
end)
