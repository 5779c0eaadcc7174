-- Processes sharing one artifact directory (real processes, started together): trains that start
-- in the same second get their own run directories; a run trained by a live process cannot be
-- resumed by another; a reader of the pretrained weights never sees a set that does not match its
-- manifest while another process publishes new ones; downloads started together fetch each file
-- once; a killed download's .part file is removed at the next start, a live one's is not.
-- bench/concurrency.sh repeats the concurrent cases 20 times each.
local cjson = require "cjson"
local core = require "mnist.core"
local fs = require "mnist.fs"
local H = require "spec.support.helpers"
local weights = require "mnist.weights"

-- Trains started together in the first case (bench/concurrency.sh can raise it).
local TRAINS = tonumber(os.getenv("MNIST_CONCURRENT_TRAINS")) or 3

local TINY = "--arch lenet --limit-train 600 --n-validation 100 --limit-test 200 --batch-size 50 "
  .. "--test-batch-size 200 --threads 1 --log-interval 1000"

local function cli(home, args, env)
  return H.run(("MNIST_MIRROR=%s MNIST_HOME=%s %s luajit bin/mnist.lua %s"):format(
    H.quote(H.mirror()), H.quote(home), env or "", args))
end

-- Starts each command of `commands` in the background at once and waits for all; returns their
-- outputs and exit codes.
local function together(dir, commands)
  local script = {}
  for i, cmd in ipairs(commands) do
    script[#script + 1] = ("{ %s > %s/out.%d 2>&1; echo $? > %s/rc.%d; } &"):format(cmd, dir, i, dir, i)
  end
  script[#script + 1] = "wait"
  assert(H.sh(table.concat(script, "\n")))
  local outs, codes = {}, {}
  for i = 1, #commands do
    outs[i] = H.read(("%s/out.%d"):format(dir, i))
    codes[i] = tonumber(H.read(("%s/rc.%d"):format(dir, i)))
  end
  return outs, codes
end

-- Names in dir that are temp files: interrupted or concurrent writes left behind.
local function temps(dir)
  local found = {}
  for _, name in ipairs(fs.list(dir) or {}) do
    if name:match("%.part%-") or name:match("%.tmp%.") or name:match("%.staged$") then found[#found + 1] = name end
  end
  return found
end

-- The published weights in dir agree with their manifest (each file's SHA-256).
local function check_published(dir)
  local manifest = cjson.decode(H.read(dir .. "/manifest.json"))
  local n = 0
  for name, info in pairs(manifest.files) do
    assert.equal(info.sha256, core.sha256_file(dir .. "/" .. name), name)
    n = n + 1
  end
  assert.equal(2, n)
  return manifest
end

describe("one artifact directory, many processes", function()
  local home
  setup(function() home = H.tmpdir() end)
  teardown(function() H.rm(home) end)

  it("trains started together (on a fresh directory, data not yet fetched) get a run directory each, with all their metrics and checkpoints", function()
    local a, cmds = home .. "/together", {}
    for seed = 1, TRAINS do
      cmds[seed] = ("MNIST_MIRROR=%s MNIST_HOME=%s luajit bin/mnist.lua train %s --epochs 1 --seed %d"):format(
        H.quote(H.mirror()), H.quote(a), TINY, seed)
    end
    local outs, codes = together(home, cmds)
    local ids = {}
    for seed = 1, TRAINS do
      assert.equal(0, codes[seed], outs[seed])
      local id = outs[seed]:match("run (%d+%-%d+%-%x+):")
      assert.truthy(id, outs[seed])
      ids[id] = seed
    end
    local dirs = fs.list(a .. "/runs")
    assert.equal(TRAINS, #dirs, table.concat(dirs, " "))
    for _, id in ipairs(dirs) do
      local dir = a .. "/runs/" .. id
      local seed = ids[id]
      assert.truthy(seed, id .. " was not printed by any run")
      assert.equal(seed, cjson.decode(H.read(dir .. "/config.json")).seed)
      local lines = {}
      for line in H.read(dir .. "/metrics.jsonl"):gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
      assert.equal(1, #lines)
      assert.equal(1, lines[1].epoch)
      local _, meta = weights.load(dir .. "/checkpoint.safetensors")
      assert.equal(seed, cjson.decode(meta.checkpoint).config.seed)
      assert.same({}, temps(dir))
    end
    local manifest = check_published(a .. "/weights/lenet")
    assert.truthy(ids[manifest.run_id])
    -- the data was fetched and prepared once, by one of them, and left no temp files
    local data = a .. "/data/mnist"
    assert.same({}, temps(data))
    local preparing = 0
    for seed = 1, TRAINS do
      local _, n = outs[seed]:gsub("preparing the record files", "")
      preparing = preparing + n
    end
    assert.equal(1, preparing)
  end)

  it("--resume of a run that a live process trains is refused, naming that process; once it is killed the run resumes", function()
    local a = home .. "/live"
    local out, code = cli(a, "save-datasets")
    assert.equal(0, code, out)
    assert(H.sh(("MNIST_HOME=%s luajit bin/mnist.lua train %s --epochs 1000 --run-id busy > %s/live.out 2>&1 & echo $! > %s/live.pid")
      :format(H.quote(a), TINY, home, home)))
    local pid = tonumber(H.read(home .. "/live.pid"))
    finally(function() H.sh("kill -9 " .. pid .. " 2>/dev/null") end)
    for _ = 1, 400 do
      if H.exists(a .. "/runs/busy/config.json") then break end
      core.sleep(0.025)
    end
    assert.truthy(H.exists(a .. "/runs/busy/config.json"), H.read(home .. "/live.out"))
    out, code = cli(a, "train " .. TINY .. " --epochs 1 --run-id busy --resume")
    assert.equal(2, code, out)
    assert.truthy(out:find(("mnist.lua train: train: --resume: run busy is being trained by process %d (luajit bin/mnist.lua train"):format(pid), 1, true), out)
    out, code = cli(a, "train " .. TINY .. " --epochs 1 --run-id busy")
    assert.equal(2, code, out)
    assert.truthy(out:find(("train: run busy is being trained by process %d"):format(pid), 1, true), out)
    -- the kernel drops a killed process's lock: no stale lock to clean up by hand
    assert(H.sh("kill -9 " .. pid .. " && while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.01; done"))
    out, code = cli(a, "train " .. TINY .. " --epochs 1 --run-id busy --resume")
    assert.equal(0, code, out)
  end)

  it("a reader of the pretrained weights never sees a set that does not match its manifest while two processes republish them", function()
    local a = home .. "/publish"
    local seconds = 4
    -- every tensor of the n-th published set holds n, and its metadata says n
    local publisher = ([[
      local core, config = require "mnist.core", require "mnist.config"
      local artifacts, model = require "mnist.artifacts", require "mnist.model"
      local cfg = config.resolve { arch = "lenet", artifact_dir = %q }
      local net = model.classifier(cfg)
      local n, stop = 0, core.wall_time() + %g
      repeat
        n = n + 1
        for _, pair in ipairs(net:namedTensors()) do pair[2]:fill(n) end
        artifacts.publish(net, cfg, { test_accuracy = n, epochs = 1, run_id = "p" .. n, data = {} })
      until core.wall_time() > stop
      print("published " .. n)
    ]]):format(a, seconds)
    local reader = ([[
      local core, config = require "mnist.core", require "mnist.config"
      local model, pretrained = require "mnist.model", require "mnist.pretrained"
      local cfg = config.resolve { arch = "lenet", artifact_dir = %q }
      local loads, bad, stop = 0, {}, core.wall_time() + %g
      while not io.open(%q) do core.sleep(0.001) end
      repeat
        for _, make in ipairs { model.classifier, model.features } do
          local ok, err = pcall(function()
            local net = make(cfg)
            local n = tonumber(pretrained.load(net, cfg, {}).test_accuracy)
            for _, pair in ipairs(net:namedTensors()) do
              local t = pair[2]
              if t:max() ~= n or (-t):max() ~= -n then error(pair[1] .. " does not hold " .. n) end
            end
          end)
          loads = loads + 1
          if not ok then bad[#bad + 1] = tostring(err) end
        end
      until core.wall_time() > stop
      print(("loads %%d bad %%d %%s"):format(loads, #bad, bad[1] or ""))
    ]]):format(a, seconds, a .. "/weights/lenet/manifest.json")
    H.write(home .. "/publisher.lua", publisher)
    H.write(home .. "/reader.lua", reader)
    local lua = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. (os.getenv("MNIST_BUILD_DIR") or "build") .. "/?.so;;' luajit "
    -- two publishers at once, and a reader
    local outs, codes = together(home, { lua .. home .. "/publisher.lua", lua .. home .. "/publisher.lua",
      lua .. home .. "/reader.lua" })
    for i = 1, 3 do assert.equal(0, codes[i], outs[i]) end
    for i = 1, 2 do
      local published = tonumber(outs[i]:match("published (%d+)"))
      assert.truthy(published and published >= 5, outs[i])
    end
    local loads, bad = outs[3]:match("loads (%d+) bad (%d+)")
    assert.truthy(tonumber(loads) >= 10, outs[3])
    assert.equal("0", bad, outs[3])
    check_published(a .. "/weights/lenet")
    assert.same({}, temps(a .. "/weights/lenet"))
  end)

  it("two downloads started together into one empty directory fetch each file once and leave one verified copy", function()
    local url, stop, log = H.http_mirror(H.mirror())
    finally(stop)
    local a = home .. "/download"
    local cmd = ("MNIST_MIRROR=%s MNIST_HOME=%s luajit bin/mnist.lua download"):format(url, H.quote(a))
    local outs, codes = together(home, { cmd, cmd })
    assert.equal(0, codes[1], outs[1])
    assert.equal(0, codes[2], outs[2])
    local gets = 0
    for line in H.read(log):gmatch("[^\n]+") do
      if line:match('"GET ') then gets = gets + 1 end
    end
    assert.equal(4, gets, H.read(log))
    local dir = a .. "/data/mnist"
    local names = fs.list(dir)
    assert.same({ ".lock", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
      "train-labels-idx1-ubyte.gz" }, names)
    local download = require "mnist.download"
    for _, f in ipairs(download.FILES) do
      assert.truthy(download.verify(dir .. "/" .. f.name .. ".gz", "mnist", f.name))
    end
  end)

  it("a killed download's .part files are removed at the next start; a live process's are kept", function()
    local a = home .. "/parts"
    local dir = a .. "/data/mnist"
    assert(H.sh("mkdir -p " .. H.quote(dir)))
    -- a pid that is surely gone: a shell that has exited
    local dead = tonumber((H.run("sh -c 'echo $$'")))
    assert.is_false(fs.is_alive(dead))
    local live = fs.pid() -- this busted process
    local names = {
      dead = ("train-images-idx3-ubyte.part-%d-0123abcd"):format(dead),
      live = ("train-labels-idx1-ubyte.part-%d-89abcdef"):format(live),
      old = "t10k-images-idx3-ubyte.part-0123456789ab", -- an older version's name, no pid
    }
    for _, name in pairs(names) do H.write(dir .. "/" .. name, "partial") end
    assert(H.sh(("touch -d '2 hours ago' %s"):format(H.quote(dir .. "/" .. names.old))))
    local out, code = cli(a, "download")
    assert.equal(0, code, out)
    assert.truthy(out:find("removed " .. names.dead .. ", left by a killed download", 1, true), out)
    assert.is_false(H.exists(dir .. "/" .. names.dead))
    assert.is_false(H.exists(dir .. "/" .. names.old))
    assert.is_true(H.exists(dir .. "/" .. names.live))
  end)
end)
