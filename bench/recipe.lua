-- Time to accuracy (part of `make bench`): the fast recipe (config/fast.yml) trained by us and by
-- PyTorch running the same recipe (bench/recipe_torch.py: same model, Adam, one-cycle schedule,
-- batch, epochs and training rows), interleaved (ours, PyTorch; then PyTorch, ours; ...). Each
-- side's clock counts training only; every few steps it stops while the test accuracy is measured.
-- Prints each side's seconds to 99.0% test accuracy (the median of the repetitions) and writes
-- bench/recipe.svg: test accuracy against training seconds, both sides, every repetition.
--
--   MNIST_BENCH_DATA=DIR  the four IDX files (.gz or raw); default: the artifact dir's data
--   BENCH_REPS=N (default 3; BENCH_QUICK=1: 1), BENCH_THREADS=N (2), BENCH_PYTHON=PATH (/usr/bin/python3)
local cjson = require "cjson"
local config = require "mnist.config"

local HERE = (arg[0]:match("^(.*)/[^/]*$") or ".")
local QUICK = (os.getenv("BENCH_QUICK") or "") ~= "" and os.getenv("BENCH_QUICK") ~= "0"
local REPS = tonumber(os.getenv("BENCH_REPS") or "") or (QUICK and 1 or 3)
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "") or 2
local PYTHON = os.getenv("BENCH_PYTHON") or "/usr/bin/python3"
local RECIPE = HERE .. "/../config/fast.yml"
local TARGET = 0.99
local SVG = HERE .. "/recipe.svg"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function die(fmt, ...)
  io.stderr:write("bench/recipe: ", fmt:format(...), "\n")
  os.exit(1)
end

local DATA = os.getenv("MNIST_BENCH_DATA")
if not DATA or DATA == "" then
  local cfg = config.resolve()
  local ok, err = pcall(require("mnist.download").fetch, cfg)
  if not ok then die("%s\n(or set MNIST_BENCH_DATA)", tostring(err)) end
  DATA = config.data_dir(cfg)
end

local TMP = io.popen("mktemp -d /tmp/mnist-recipe.XXXXXX"):read("*l")
local cfg = config.load(RECIPE, { artifact_dir = TMP .. "/home", threads = THREADS })
local EVERY = math.max(1, math.floor(config.steps_per_epoch(cfg) / 5)) -- five points per epoch

-- Runs one side; returns its decoded JSON line.
local function run(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  local ok = p:close()
  local line = out:match("(%b{})%s*$")
  if not ok or not line then die("failed: %s\n%s", cmd, out) end
  return cjson.decode(line)
end

local SIDES = {
  ours = function()
    return run(("luajit %s/recipe_ours.lua --config %s --data %s --home %s --every %d --rows-out %s --threads %d 2>&1")
      :format(HERE, q(RECIPE), q(DATA), q(TMP .. "/home"), EVERY, q(TMP .. "/rows"), THREADS))
  end,
  pytorch = function()
    return run(("OPENBLAS_NUM_THREADS=1 %s %s/recipe_torch.py --data %s --rows %s --epochs %d --batch %d --lr %s "
      .. "--pct-start %s --every %d --threads %d 2>&1"):format(q(PYTHON), HERE, q(DATA), q(TMP .. "/rows"), cfg.epochs,
      cfg.batch_size, cfg.learning_rate, cfg.lr_pct_start, EVERY, THREADS))
  end,
}

-- The first point at or above the target: its training seconds (nil: never reached).
local function time_to(points)
  for _, p in ipairs(points) do
    if p[2] >= TARGET then return p[1] end
  end
end

local function median(t)
  if #t == 0 then return nil end
  table.sort(t)
  return t[math.ceil(#t / 2)]
end

local results = { ours = {}, pytorch = {} }
SIDES.ours() -- prepares the record files and the rows (data preparation is not timed); a warm-up
for rep = 1, REPS do
  local order = rep % 2 == 1 and { "ours", "pytorch" } or { "pytorch", "ours" }
  for _, side in ipairs(order) do
    local r = SIDES[side]()
    results[side][#results[side] + 1] = r
    io.stderr:write(("bench/recipe: rep %d %s: %.2f s of training, final test accuracy %.4f, %.0f images/s\n")
      :format(rep, side, r.seconds, r.points[#r.points][2], r.images_per_s))
  end
end

-- The plot: test accuracy (97-100%) against training seconds, one polyline per run.
local function svg(all)
  local W, H, L, B = 640, 400, 60, 40
  local xmax = 0
  for _, runs in pairs(all) do
    for _, r in ipairs(runs) do xmax = math.max(xmax, r.points[#r.points][1]) end
  end
  xmax = math.ceil(xmax)
  local function x(s) return L + (W - L - 20) * s / xmax end
  local function y(a) return H - B - (H - B - 20) * (math.max(a, 0.97) - 0.97) / 0.03 end
  local out = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'):format(W, H),
    ('<rect width="%d" height="%d" fill="white"/>'):format(W, H) }
  for _, a in ipairs { 0.97, 0.98, 0.99, 1.0 } do
    out[#out + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/><text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>')
      :format(L, W - 20, y(a), y(a), a == TARGET and "#999" or "#eee", L - 5, y(a) + 4, 100 * a)
  end
  for s = 0, xmax, math.max(1, math.floor(xmax / 10)) do
    out[#out + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'):format(x(s), H - B + 15, s)
  end
  out[#out + 1] = ('<text x="%d" y="%d" text-anchor="middle">training seconds (%d threads)</text>'):format((W + L) / 2, H - 8, THREADS)
  local colours = { ours = "#1f77b4", pytorch = "#d62728" }
  local legend = 0
  for _, side in ipairs { "ours", "pytorch" } do
    for _, r in ipairs(all[side]) do
      local pts = { ("%.1f,%.1f"):format(x(0), y(0.97)) }
      for _, p in ipairs(r.points) do pts[#pts + 1] = ("%.1f,%.1f"):format(x(p[1]), y(p[2])) end
      out[#out + 1] = ('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'):format(colours[side], table.concat(pts, " "))
    end
    legend = legend + 1
    out[#out + 1] = ('<text x="%d" y="%d" fill="%s">%s</text>'):format(W - 200, H - B - 10 - 16 * legend, colours[side],
      side == "ours" and "ours (config/fast.yml)" or "PyTorch, same recipe")
  end
  out[#out + 1] = ('<text x="%d" y="14">MNIST test accuracy against training time</text></svg>'):format(L)
  return table.concat(out, "\n") .. "\n"
end

local f = assert(io.open(SVG, "w"))
f:write(svg(results))
f:close()
os.execute("rm -rf " .. q(TMP))

local load = io.open("/proc/loadavg") and io.open("/proc/loadavg"):read("*l"):match("^(%S+ %S+ %S+)") or "?"
print(("time to %.1f%% test accuracy, %s (%d threads, median of %d, load average %s)"):format(100 * TARGET,
  "config/fast.yml", THREADS, REPS, load))
print("| | seconds to 99.0% | final test accuracy | training seconds | images/s |")
print("|---|---|---|---|---|")
local medians = {}
for _, side in ipairs { "ours", "pytorch" } do
  local tt, acc, secs, ips = {}, {}, {}, {}
  for _, r in ipairs(results[side]) do
    local t = time_to(r.points)
    tt[#tt + 1] = t or math.huge
    acc[#acc + 1] = r.points[#r.points][2]
    secs[#secs + 1], ips[#ips + 1] = r.seconds, r.images_per_s
  end
  medians[side] = median(tt)
  print(("| %s | %s | %.2f%% | %.2f | %.0f |"):format(side == "ours" and "ours" or "PyTorch " .. "(same recipe)",
    medians[side] == math.huge and "not reached" or ("%.2f"):format(medians[side]), 100 * median(acc), median(secs), median(ips)))
end
if medians.ours ~= math.huge and medians.pytorch ~= math.huge then
  print(("PyTorch takes %.2fx our time to 99.0%%; plot: %s"):format(medians.pytorch / medians.ours, SVG))
else
  print("plot: " .. SVG)
end
