-- Data-parallel training under Open MPI (mnist.distributed, csrc/mpi/), on loopback only:
-- `mpirun --allow-run-as-root --oversubscribe -np 2 mnist.lua train ...` on small slices of MNIST
-- (MNIST_MIRROR, as `make test` sets it). Without mpirun or the MPI module (build/mnist/mpi.so) the
-- specs are skipped with a message naming the Debian packages to install.
local H = require "spec.support.helpers"
local weights = require "mnist.weights"
local cjson = require "cjson"
local fs = require "mnist.fs"

local build = os.getenv("MNIST_BUILD_DIR") or "build"
local missing
if os.getenv("MNIST_BUILD_DIR") then
  missing = "the sanitizer build: mpirun's processes do not get its preload"
elseif not H.sh("command -v mpirun >/dev/null 2>&1") then
  missing = "mpirun not found: install the Debian packages openmpi-bin and libopenmpi-dev (make deps)"
elseif not H.exists(build .. "/mnist/mpi.so") then
  missing = build .. "/mnist/mpi.so not built: install the Debian package libopenmpi-dev (make deps), then make"
end

local MPIRUN = "mpirun --allow-run-as-root --oversubscribe -x MNIST_HOME -x MNIST_MIRROR -np %d luajit bin/mnist.lua"

-- Runs `mnist.lua train <config> <flags>` with MNIST_HOME=home, under mpirun with `ranks`
-- processes (nil: one process, no launcher). Returns output and exit code.
local function train(home, ranks, config, flags)
  local cmd = ranks and MPIRUN:format(ranks) or "luajit bin/mnist.lua"
  return H.run(("MNIST_HOME=%s MNIST_MIRROR=%s timeout 300 %s train %s %s"):format(H.quote(home),
    H.quote(H.mirror()), cmd, H.quote(config), flags or ""))
end

-- The classifier's tensors of a run, its metadata and the manifest.
-- The weights a run published in home: the default model's in weights/, a model file's in
-- weights/<name>/ (`arch`).
local function published(home, arch)
  local dir = home .. "/weights" .. (arch and "/" .. arch or "")
  local tensors, meta, names = weights.load(dir .. "/mnist-classifier-0.1.0.safetensors")
  return tensors, meta, names, H.read_json(dir .. "/manifest.json")
end

-- max |a - b| / max |a| of every tensor of the two runs (for the names matching `only`, if given;
-- of the weights of `arch`, if given).
local function relative_differences(a, b, only, arch)
  local ta, _, names = published(a, arch)
  local tb = published(b, arch)
  local out = {}
  for _, name in ipairs(names) do
    if not only or name:find(only) then
      local scale = math.max(ta[name]:clone():abs():max(), 1e-12)
      out[name] = (ta[name] - tb[name]):abs():max() / scale
    end
  end
  return out
end

local function worst(diffs)
  local name, value = nil, -1
  for k, v in pairs(diffs) do
    if v > value then name, value = k, v end
  end
  return value, name
end

-- The synced batch-norm kernels with the reducer of a job of one process compute what the plain
-- ones compute, bit for bit (with MPI, the job's sums are the only difference; no MPI needed here).
describe("synced batch norm on one process", function()
  local mnist = require "mnist"
  local T, core = require "mnist.torch", mnist.core
  for _, shape in ipairs { { 6, 5 }, { 4, 3, 5, 7 } } do
    it("equals batchnorm_forward and _backward for input " .. table.concat(shape, "x"), function()
      mnist.random.manual_seed(3)
      local c = shape[2]
      local x, dy = T.randn(shape):mul(2):add(1), T.randn(shape)
      local w, b = T.randn(c), T.randn(c)
      local function run(synced)
        local out, mean, invstd = T.zeros(shape), T.zeros(c), T.zeros(c)
        local rmean, rvar = T.zeros(c):fill(0.5), T.zeros(c):fill(2)
        local dx, dw, db = T.zeros(shape), T.zeros(c):fill(1), T.zeros(c)
        if synced then
          core.batchnorm_forward_synced(out, mean, invstd, rmean, rvar, x, w, b, 0.1, 1e-5, core.local_reducer())
          core.batchnorm_backward_synced(dx, dw, db, dy, x, w, mean, invstd, core.local_reducer())
        else
          core.batchnorm_forward(out, mean, invstd, rmean, rvar, x, w, b, true, 0.1, 1e-5)
          core.batchnorm_backward(dx, dw, db, dy, x, w, mean, invstd, true)
        end
        return { out, mean, invstd, rmean, rvar, dx, dw, db }
      end
      local plain, synced = run(false), run(true)
      for i = 1, #plain do
        assert.equal(core.sha256(plain[i]), core.sha256(synced[i]), ("result %d differs by %g"):format(i, (plain[i] - synced[i]):abs():max()))
      end
      assert.is_true(synced[2]:clone():abs():max() > 0.1 and synced[7]:clone():abs():max() > 0) -- computed, not zeros
      assert.has_error(function()
        core.batchnorm_forward_synced(T.zeros(shape), T.zeros(c), T.zeros(c), T.zeros(c), T.zeros(c), x, w, b, 0.1, 1e-5, {})
      end, "batchnorm_forward_synced: argument #11: expected a channel reducer, got table")
    end)
  end
end)

describe("data-parallel training under mpirun", function()
  if missing then
    it("is skipped", function() pending("MPI specs skipped: " .. missing) end)
    return
  end

  local dir = H.tmpdir()
  -- 3 steps of the global batch 64, plain SGD (every rounding difference shows, none is hidden
  -- by an adaptive rate), shifted images (augment_shift: per sample, drawn by the loader)
  local config = H.write(dir .. "/equal.yml", [[
epochs: 1
limit_train: 242
n_validation: 50
limit_test: 100
threads: 1
optimizer: sgd
learning_rate: 0.05
lr_schedule: constant
augment_shift: 2
log_interval: 1000
]])
  local one, two, two_again = dir .. "/one", dir .. "/two", dir .. "/two-again"
  local ran = {}
  local function run_once(home, ranks)
    if ran[home] == nil then
      local out, rc = train(home, ranks, config)
      ran[home] = { out = out, rc = rc }
    end
    assert.equal(0, ran[home].rc, ran[home].out)
    return ran[home].out
  end

  teardown(function() H.rm(dir) end)

  it("names the MPI implementation in mnist.lua info", function()
    local out, rc = H.run(("MNIST_HOME=%s luajit bin/mnist.lua info"):format(H.quote(dir .. "/info")))
    assert.equal(0, rc, out)
    assert.truthy(out:find("MPI: Open MPI v%d"), out)
  end)

  it("trains with 2 ranks the model one process trains with the same global batch, to float rounding", function()
    run_once(one, nil)
    local out = run_once(two, 2)
    assert.truthy(out:find("2 ranks"), out)
    assert.truthy(out:find("gradient all%-reduce [%d.]+ ms per step"), out)
    -- One step differs by float rounding only: a rank's gradient is the sum of two partial sums,
    -- in another order than one process's. The Winograd layer's weight gradient is G^T dU G of a
    -- dU whose entries are hundreds of times its result's (F(4x4, 3x3)'s factors go to 8 and
    -- 1/24), so adding two ranks' dW instead of one dU rounds differently by more than the
    -- other layers do: after three steps of SGD, 8.2e-5 of that weight (1.7e-6 with F(2x2, 3x3)'s
    -- smaller factors). Unsynced batch norm or a wrongly scaled gradient differs by 0.5 and more.
    local value, name = worst(relative_differences(one, two))
    assert.is_true(value < 4e-4, ("%s differs by %.3g of its largest value"):format(name, value))
    assert.is_true(value > 0, "bitwise equal: the 2-rank run may not have been distributed")
    local _, meta_one = published(one)
    local _, meta_two, _, manifest = published(two)
    assert.equal("1", tostring(meta_one.world_size))
    assert.equal("2", tostring(meta_two.world_size))
    assert.equal(2, manifest.world_size)
  end)

  it("synchronises batch norm: the running statistics equal the one-process run's within rounding", function()
    run_once(one, nil)
    run_once(two, 2)
    -- statistics in double over the union of the ranks' rows: 1e-7 relative after three steps
    local value, name = worst(relative_differences(one, two, "running_"))
    assert.is_true(value < 2e-6, ("%s differs by %.3g of its largest value"):format(name, value))
  end)

  it("gives bitwise-identical weights in two 2-rank runs", function()
    run_once(two, 2)
    run_once(two_again, 2)
    local _, _, _, a = published(two)
    local _, _, _, b = published(two_again)
    for file, entry in pairs(a.files) do
      assert.equal(entry.tensors_sha256 or entry.sha256, (b.files[file].tensors_sha256 or b.files[file].sha256), file)
    end
  end)

  it("draws dropout masks per global sample: a model with dropout trains as in one process", function()
    local model = H.write(dir .. "/dropout_mlp.lua", [[
local nn = require "mnist.nn"
return {
  name = "dropout_mlp",
  features = function()
    return nn.Sequential():add(nn.Flatten()):add(nn.Linear(784, 64)):add(nn.ReLU()):add(nn.Dropout(0.4))
      :add(nn.BatchNormalization(64))
  end,
  head = function() return nn.Sequential():add(nn.Linear(64, 10)):add(nn.LogSoftMax()) end,
}
]])
    local flags = "--set model_file=" .. H.quote(model)
    local a, b = dir .. "/drop-one", dir .. "/drop-two"
    local out, rc = train(a, nil, config, flags)
    assert.equal(0, rc, out)
    out, rc = train(b, 2, config, flags)
    assert.equal(0, rc, out)
    -- a mask drawn per rank would differ in 40% of the units: 1e-2 and more
    local value, name = worst(relative_differences(a, b, nil, "dropout_mlp"))
    assert.is_true(value < 2e-5, ("%s differs by %.3g of its largest value"):format(name, value))
  end)

  it("stops every rank within 10 s when one is killed mid-epoch, keeps the checkpoint whole, and --resume finishes", function()
    local home = dir .. "/killed"
    local cfg = H.write(dir .. "/kill.yml", [[
epochs: 2
limit_train: 5170
n_validation: 50
limit_test: 100
threads: 1
log_interval: 1000
]])
    local pidfile, rcfile, log = dir .. "/mpirun.pid", dir .. "/mpirun.rc", dir .. "/kill.log"
    assert.is_true(H.sh(("(MNIST_HOME=%s MNIST_MIRROR=%s %s train %s > %s 2>&1 & echo $! > %s; wait $!; echo $? > %s) &"):format(
      H.quote(home), H.quote(H.mirror()), MPIRUN:format(2), H.quote(cfg), H.quote(log), H.quote(pidfile), H.quote(rcfile))))
    local function sleep(s) H.sh("sleep " .. s) end
    -- wait for the end of epoch 1 (its checkpoint), then well into epoch 2
    local run, checkpoint
    for _ = 1, 1500 do
      run = (fs.list(home .. "/runs") or {})[1]
      checkpoint = run and home .. "/runs/" .. run .. "/checkpoint.safetensors"
      if run and H.exists(home .. "/runs/" .. run .. "/metrics.jsonl") then break end
      if H.exists(rcfile) then break end
      sleep(0.2)
    end
    assert.is_false(H.exists(rcfile), "the run ended before it could be killed: " .. H.read(log))
    sleep(0.3) -- into epoch 2 (80 steps: about 3 s on a 2-core Zen 3, 1 s on a Zen 5)
    local before = H.read(checkpoint)
    -- rank 1: the child of mpirun whose environment says OMPI_COMM_WORLD_RANK=1
    local mpirun_pid = H.read(pidfile):match("%d+")
    local ranks = H.run("ps -o pid= --ppid " .. mpirun_pid)
    local victim
    for pid in ranks:gmatch("%d+") do
      local env = io.open("/proc/" .. pid .. "/environ", "rb")
      if env and env:read("*a"):find("OMPI_COMM_WORLD_RANK=1\0", 1, true) then victim = pid end
      if env then env:close() end
    end
    assert.truthy(victim, "rank 1's process not found among " .. ranks)
    local killed_at = os.time()
    assert.is_true(H.sh("kill -9 " .. victim))
    for _ = 1, 100 do
      if H.exists(rcfile) then break end
      sleep(0.1)
    end
    assert.is_true(H.exists(rcfile), "mpirun still runs 10 s after rank 1 was killed")
    assert.is_true(os.time() - killed_at <= 11)
    assert.are_not.equal("0", H.read(rcfile):match("%d+"), "mpirun exited 0")
    assert.equal("", (H.run("ps -o pid= --ppid " .. mpirun_pid):gsub("%s", "")), "a rank is still running")
    assert.truthy(H.read(log):find("rank 1"), H.read(log))
    -- the checkpoint of epoch 1 is intact (its data hash verifies on load) and no run file is torn
    local after = H.read(checkpoint)
    assert.equal(before, after)
    assert.truthy(weights.load(checkpoint))
    for line in H.read(checkpoint:gsub("checkpoint.safetensors$", "metrics.jsonl")):gmatch("[^\n]+") do
      assert.truthy(cjson.decode(line).epoch)
    end
    -- --resume continues from it with the same number of ranks (each reads rank 0's checkpoint)
    -- and finishes; then one process (another number) extends the run by an epoch
    local out, rc = train(home, 2, cfg, "--resume")
    assert.equal(0, rc, out)
    assert.truthy(out:find("resuming run %S+ at epoch 2, step 1"), out)
    local _, meta = published(home)
    assert.equal("2", tostring(meta.epochs))
    assert.equal("2", tostring(meta.world_size))
    out, rc = train(home, nil, cfg, "--resume --epochs 3")
    assert.equal(0, rc, out)
    assert.truthy(out:find("resuming run %S+ at epoch 3, step 1"), out)
    _, meta = published(home)
    assert.equal("3", tostring(meta.epochs))
    assert.equal("1", tostring(meta.world_size))
  end)

  it("stops every rank with an error naming the rank when one rank's loss is not finite", function()
    -- a model whose output turns NaN on rank 1 only, at its third forward pass in training
    local model = H.write(dir .. "/nan_on_rank1.lua", [[
local nn = require "mnist.nn"
local Poison = nn.Identity:extend("Poison")
local calls = 0
function Poison:updateOutput(input)
  self.output = input
  if self.train and os.getenv("OMPI_COMM_WORLD_RANK") == "1" then
    calls = calls + 1
    if calls == 3 then self.output = input:clone():fill(0 / 0) end
  end
  return self.output
end
return {
  name = "nan_on_rank1",
  features = function() return nn.Sequential():add(nn.Flatten()):add(nn.Linear(784, 32)):add(nn.ReLU()) end,
  head = function() return nn.Sequential():add(nn.Linear(32, 10)):add(Poison()):add(nn.LogSoftMax()) end,
}
]])
    local home = dir .. "/nan"
    local started = os.time()
    local out, rc = train(home, 2, config, "--set model_file=" .. H.quote(model))
    assert.are_not.equal(0, rc, out)
    assert.is_true(os.time() - started < 60, "took " .. (os.time() - started) .. " s")
    assert.truthy(out:find("loss is nan on rank 1 at epoch 1, step 3", 1, true), out)
    assert.is_false(H.exists(home .. "/weights/manifest.json"))
  end)
end)
