-- `mnist.lua runs` and `mnist.lua diff A B` on real short runs: one finished, one interrupted
-- with Ctrl-C, one failed.
local cjson = require "cjson"
local H = dofile("spec/support/helpers.lua")

local SMALL = "train --arch lenet --limit-train 600 --limit-test 200 --batch-size 50 --threads 2 "

local function cli(home, args)
  return H.run(("MNIST_HOME=%s luajit bin/mnist.lua %s"):format(H.quote(home), args))
end

local function history(dir)
  local out = {}
  for line in H.read(dir .. "/metrics.jsonl"):gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line) end
  return out
end

local function pct(x) return ("%.2f%%"):format(100 * x) end

describe("runs and diff", function()
  local home, out, code
  setup(function()
    home = H.tmpdir()
    out, code = cli(home, SMALL .. "--epochs 2 --run-id a")
    assert(code == 0, out)
    -- Ctrl-C once the first epoch is logged
    local log = home .. "/b.log"
    local r = H.run(("MNIST_HOME=%s luajit bin/mnist.lua %s --epochs 50 --learning-rate 0.5 --run-id b > %s 2>&1 & "
      .. "pid=$!; for i in $(seq 400); do grep -q '^epoch 1/50:' %s && break; sleep 0.05; done; "
      .. "kill -INT $pid; wait $pid; echo \"exit=$?\""):format(H.quote(home), SMALL, H.quote(log), H.quote(log)))
    assert(r:match("exit=130"), r .. H.read(log))
    out, code = cli(home, SMALL .. "--epochs 1 --optimizer sgd --learning-rate 1e38 --run-id c")
    assert(code == 2, out)
  end)
  teardown(function() H.rm(home) end)

  it("lists every run with its arch, epochs, accuracies, time and status", function()
    local listing, c = cli(home, "runs")
    assert.equal(0, c, listing)
    local lines = {}
    for line in listing:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(4, #lines, listing)
    assert.matches("^id%s+arch%s+started %(UTC%)%s+epochs%s+best val acc%s+test acc%s+time%s+status$", lines[1])
    local a, b = history(home .. "/runs/a"), history(home .. "/runs/b")
    local run_a = cjson.decode(H.read(home .. "/runs/a/run.json"))
    local best_a = math.max(a[1].validation_accuracy, a[2].validation_accuracy)
    assert.matches(("^a%%s+lenet%%s+%%d%%d%%d%%d%%-%%d%%d%%-%%d%%d %%d%%d:%%d%%d:%%d%%d%%s+2/2%%s+%s%%s+%s%%s+[%%d.]+ s%%s+finished$")
      :format(pct(best_a):gsub("%%", "%%%%"):gsub("%.", "%%."), pct(run_a.test_accuracy):gsub("%%", "%%%%"):gsub("%.", "%%.")), lines[2])
    assert.is_true(#b >= 1)
    assert.matches(("^b%%s+lenet%%s+.-%%s+%d/50%%s+.-%%s+%s%%s+.-interrupted$"):format(#b,
      pct(b[#b].test_accuracy):gsub("%%", "%%%%"):gsub("%.", "%%.")), lines[3])
    assert.matches("^c%s+lenet%s+.-%s+0/1%s+%-%s+%-%s+0%.0 s%s+failed$", lines[4])
    -- why each run stopped is in its run.json
    local run_b = cjson.decode(H.read(home .. "/runs/b/run.json"))
    assert.equal("interrupted", run_b.status)
    assert.matches("^at epoch %d+, step %d+$", run_b.message)
    local run_c = cjson.decode(H.read(home .. "/runs/c/run.json"))
    assert.equal("failed", run_c.status)
    assert.matches("loss is nan at epoch 1", run_c.message)
    -- the interrupted run's page was written after its epochs and at the interruption
    local page = H.read(home .. "/runs/b/report.html")
    assert.truthy(page:find('id="status">interrupted<', 1, true))
    assert.truthy(page:find('<svg id="confusion"', 1, true))
  end)

  it("diff shows the settings that differ and the metrics side by side", function()
    local text, c = cli(home, "diff a b")
    assert.equal(0, c, text)
    local settings = text:match("^(.-)\n\n")
    assert.matches("^setting%s+a%s+b\n", settings)
    local differing = {}
    for key, x, y in settings:gmatch("\n(%S+)%s+(%S+)%s+(%S+)") do differing[key] = { x, y } end
    assert.same({ epochs = { "2", "50" }, learning_rate = { "1", "0.5" } }, differing)
    assert.matches("\nstatus%s+finished%s+interrupted\n", text)
    local a, b = history(home .. "/runs/a"), history(home .. "/runs/b")
    assert.matches(("\nepochs%%s+2/2%%s+%d/50\n"):format(#b), text)
    -- the first epoch's row: train losses, validation losses, accuracies of both runs
    local row = text:match("\n(1  [^\n]+)")
    local cells = {}
    for cell in row:gmatch("%S+") do cells[#cells + 1] = cell end
    assert.same({ "1", ("%.4f"):format(a[1].train_loss), ("%.4f"):format(b[1].train_loss),
      ("%.4f"):format(a[1].validation_loss), ("%.4f"):format(b[1].validation_loss),
      pct(a[1].validation_accuracy), pct(b[1].validation_accuracy), pct(a[1].test_accuracy), pct(b[1].test_accuracy),
      ("%.0f"):format(a[1].images_per_s), ("%.0f"):format(b[1].images_per_s) }, cells)
    -- a run that is not there: exit 1, naming the runs that are
    local err, c2 = cli(home, "diff a zz 2>&1")
    assert.equal(1, c2)
    assert.matches("no run 'zz' under .*/runs %(runs: a, b, c%)", err)
    err, c2 = cli(home, "diff a 2>&1")
    assert.equal(1, c2)
    assert.matches("diff needs two run ids", err)
  end)

  it("says so when there are no runs", function()
    local empty = H.tmpdir()
    local text, c = cli(empty, "runs")
    assert.equal(0, c)
    assert.matches("^no runs under .*/runs %(train one with: mnist.lua train%)\n$", text)
    H.rm(empty)
  end)
end)
