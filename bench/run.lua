-- `make bench`: our implementation against PyTorch on the same machine, in the same run, on the
-- same IDX files, interleaved (ours, theirs, ours, theirs: each pair back to back, the order
-- alternating between repetitions) so the ratios survive a noisy shared machine. Every figure is
-- the median of the repetitions, with min and max. Prints a table; the full run also writes it
-- into bench/RESULTS.md (between the bench:begin / bench:end markers, keeping the notes around it)
-- unless other processes took more than 5% of the machine meanwhile (BENCH_WRITE=1 writes anyway).
--
--   MNIST_BENCH_DATA=DIR   directory with the four MNIST (or Fashion-MNIST) IDX files, .gz or raw
--                          (default: <artifact_dir>/data/mnist, downloaded there first if needed)
--   BENCH_REPS=N           repetitions (default 5; BENCH_QUICK=1: 1)
--   BENCH_QUICK=1          a smoke run: one repetition of short workloads, RESULTS.md untouched
--   BENCH_THREADS=N        threads for both sides (default 2: the development machine's cores)
--   BENCH_PYTHON=PATH      the Python that has Debian's torch (default /usr/bin/python3)
--   BENCH_ISA=avx2         both sides restricted to AVX2 (`make bench ISA=avx2`): ours through
--                          MNIST_GEMM_KERNEL=avx2 (the sgemm kernel, and with it the convolution
--                          and pooling paths), PyTorch through ATEN_CPU_CAPABILITY=avx2 and
--                          DNNL_MAX_CPU_ISA=AVX2, both sides' OpenBLAS through
--                          OPENBLAS_CORETYPE=Haswell; the AVX-512 ratio measured on any machine.
--                          Its table goes to its own block of RESULTS.md, beside the native one.
-- PyTorch runs with torch.set_num_threads(BENCH_THREADS) and OPENBLAS_NUM_THREADS=1 (Debian's
-- torch otherwise starts an OpenBLAS pool on top of its own threads: PyTorch at its best).
local cjson = require "cjson"
local core = require "mnist.core"

local DATA = os.getenv("MNIST_BENCH_DATA")
local QUICK = (os.getenv("BENCH_QUICK") or "") ~= "" and os.getenv("BENCH_QUICK") ~= "0"
local REPS = tonumber(os.getenv("BENCH_REPS") or "") or (QUICK and 1 or 5)
local THREADS = tonumber(os.getenv("BENCH_THREADS") or "") or 2
local PYTHON = os.getenv("BENCH_PYTHON") or "/usr/bin/python3"
local ISA = os.getenv("BENCH_ISA") or ""
ISA = ISA == "" and "native" or ISA
-- the environment that restricts each side to the ISA (nothing for native)
local ISA_OURS = ISA == "avx2" and "env MNIST_GEMM_KERNEL=avx2 OPENBLAS_CORETYPE=Haswell " or ""
local ISA_THEIRS = ISA == "avx2" and "env ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell " or ""
local HERE = (arg[0]:match("^(.*)/[^/]*$") or ".")
local RESULTS = HERE .. "/RESULTS.md"

-- path as RESULTS.md shows it: relative to the checkout when it lies in or beside it (the
-- Makefile passes $(CURDIR)/../shared/...), so the file names no machine's directories.
local function shown_path(path)
  local pwd = io.popen("pwd"):read("*l") or ""
  local parent = pwd:match("^(.*)/[^/]+$") or ""
  if pwd ~= "" and path:sub(1, #pwd + 1) == pwd .. "/" then return path:sub(#pwd + 2) end
  if parent ~= "" and path:sub(1, #parent + 1) == parent .. "/" then return "../" .. path:sub(#parent + 2) end
  return path
end

local function die(fmt, ...)
  io.stderr:write("bench: ", fmt:format(...), "\n")
  os.exit(1)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function shell(cmd) -- first line of a command's output
  local p = io.popen(cmd)
  local out = p:read("*l")
  p:close()
  return out
end

-- Without MNIST_BENCH_DATA: the data the pipeline keeps in its artifact directory, fetched and
-- verified the way `make train` does when it is not there yet.
if not DATA or DATA == "" then
  local config = require "mnist.config"
  local cfg = config.resolve()
  local ok, err = pcall(require("mnist.download").fetch, cfg)
  if not ok then die("%s\n(or set MNIST_BENCH_DATA to a directory with the four IDX files)", tostring(err)) end
  DATA = config.data_dir(cfg)
  io.stderr:write("bench: data from the artifact directory: ", DATA, "\n")
end
if ISA ~= "native" and ISA ~= "avx2" then die("BENCH_ISA=%s: expected avx2 or native", ISA) end
for _, stem in ipairs { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte" } do
  if not exists(DATA .. "/" .. stem .. ".gz") and not exists(DATA .. "/" .. stem) then
    die("%s/%s(.gz) not found (MNIST_BENCH_DATA)", DATA, stem)
  end
end
if not exists(PYTHON) then die("%s not found (BENCH_PYTHON): PyTorch is Debian's python3-torch", PYTHON) end
local TIME = exists("/usr/bin/time") and "/usr/bin/time" or nil -- Debian's `time`: peak RSS

local TMP = shell("mktemp -d /tmp/mnist-bench.XXXXXX")
local LOG = TMP .. "/log"

-- Runs one process (stdout to `stdout_to`, or captured); returns whether it exited 0, its output,
-- its wall time in seconds and its peak RSS in MB (from /usr/bin/time, when present).
local function execute(cmd, stdout_to)
  local rss_file, out_file = TMP .. "/rss", stdout_to or (TMP .. "/out")
  os.remove(rss_file)
  local prefix = TIME and (TIME .. " -f %M -o " .. q(rss_file) .. " ") or ""
  local start = core.wall_time()
  local status = os.execute(prefix .. cmd .. " >" .. q(out_file) .. " 2>>" .. q(LOG))
  local wall = core.wall_time() - start
  local ok = status == 0 or status == true -- LuaJIT: the wait status; Lua 5.2+: true
  local out
  if not stdout_to then
    local f = io.open(out_file)
    out = f and f:read("*a")
    if f then f:close() end
  end
  local rss
  local f = io.open(rss_file)
  if f then
    rss = tonumber(f:read("*a"):match("(%d+)%s*$"))
    f:close()
  end
  if not ok then
    local l = io.open(LOG, "a")
    l:write("FAILED: ", cmd, "\n", out or "", "\n")
    l:close()
  end
  return ok, out, wall, rss and rss / 1024
end

-- Runs a benchmark process that prints one JSON line: the decoded result (nil on failure), the
-- wall time and the peak RSS.
local function run(cmd)
  local ok, out, wall, rss = execute(cmd)
  local line = out and out:match("([^\n]+)\n?$")
  local decoded, result = pcall(cjson.decode, line or "")
  return ok and decoded and result or nil, wall, rss
end

local OURS = ISA_OURS .. "luajit " .. q(HERE .. "/ours.lua")
local THEIRS = ISA_THEIRS .. "env OPENBLAS_NUM_THREADS=1 " .. q(PYTHON) .. " " .. q(HERE .. "/torch_bench.py")
local COMMON = (" --data %s --threads %d"):format(q(DATA), THREADS)

-- The core as `luarocks install` builds it (luarocks' builtin backend and its own CFLAGS, in a copy
-- of the checkout: tools/luarocks_build.sh), timed beside make's: csrc/sys/optimize.h should make
-- them equal.
local ROCK = TMP .. "/rock"
local rock_ok = execute(("sh %s %s"):format(q(HERE .. "/../tools/luarocks_build.sh"), q(ROCK)), "/dev/null")
if not rock_ok then io.stderr:write("bench: luarocks make failed (see ", LOG, "); its rows are left out\n") end
local OURS_ROCK = ("env LUA_CPATH=%s %s"):format(q(ROCK .. "/lib/lua/5.1/?.so;;"), OURS)

-- Workloads (steps after `warmup` untimed ones); the quick run shrinks them.
local function work(full, quick) return QUICK and quick or full end
local WORK = {
  train_default = ("--task train --model default --batch 64 --warmup 3 --steps %d"):format(work(40, 5)),
  train_lenet = ("--task train --model lenet --batch 64 --warmup 5 --steps %d"):format(work(300, 20)),
  infer_default = ("--task infer --model default --batch 1000 --warmup 1 --steps %d"):format(work(10, 2)),
  infer_lenet = ("--task infer --model lenet --batch 1000 --warmup 2 --steps %d"):format(work(40, 4)),
  latency_default = ("--task latency --model default --batch 1 --warmup 20 --steps %d"):format(work(1000, 50)),
  latency_lenet = ("--task latency --model lenet --batch 1 --warmup 50 --steps %d"):format(work(3000, 200)),
}

-- Cold start: freshly initialised weights published into a temporary artifact dir, and a PNG.
local HOME = TMP .. "/home"
local PNG = TMP .. "/digit.png"
local published = run(("env MNIST_HOME=%s %s --task publish --model default"):format(q(HOME), OURS))
local png = run(("%s --task png --image %s --data %s"):format(THEIRS, q(PNG), q(DATA)))
if not published or not png then die("cannot prepare the cold start (see %s)", LOG) end
local MNIST_LUA = q(HERE .. "/../bin/mnist.lua")
local COLD_OURS = ("%senv MNIST_HOME=%s luajit %s predict %s"):format(ISA_OURS, q(HOME), MNIST_LUA, q(PNG))
local COLD_THEIRS = ("%s --task coldstart --weights %s --image %s --threads %d"):format(THEIRS,
  q(published.weights), q(PNG), THREADS)

-- samples[row][impl] = list of numbers
local samples = {}
local function add(row, impl, v)
  samples[row] = samples[row] or { ours = {}, pytorch = {} }
  samples[row][impl] = samples[row][impl] or {}
  if v then table.insert(samples[row][impl], v) end
end

-- One measurement of each kind: every workload runs on both sides back to back (`order` says
-- which side goes first), so a slow minute of the shared machine hits both.
local ROW_KIND = {
  { "train_default", "images_per_s" }, { "train_lenet", "images_per_s" },
  { "infer_default", "images_per_s" }, { "infer_lenet", "images_per_s" },
  { "latency_default", "us_per_image" }, { "latency_lenet", "us_per_image" },
}

local function measure(order)
  for _, row in ipairs(ROW_KIND) do
    local name, field = row[1], row[2]
    for _, impl in ipairs(order) do
      local r, _, rss = run((impl == "ours" and OURS or THEIRS) .. " " .. WORK[name] .. COMMON)
      add(name, impl, r and r[field])
      if name == "train_default" then add("rss_train", impl, r and rss) end
      if impl == "ours" and rock_ok and (name == "train_default" or name == "train_lenet") then
        r = run(OURS_ROCK .. " " .. WORK[name] .. COMMON)
        add(name .. "_luarocks", "ours", r and r[field])
      end
    end
  end
  for _, impl in ipairs(order) do
    local ok, _, wall, rss = execute(impl == "ours" and COLD_OURS or COLD_THEIRS, "/dev/null")
    add("coldstart", impl, ok and wall * 1e3)
    add("rss_coldstart", impl, ok and rss)
  end
  -- the sgemm ceilings, on the same threads, in the same run
  local s = run(("%s --task sgemm --size 2048 --warmup 2 --steps %d --threads %d"):format(OURS,
    work(7, 3), THREADS))
  add("sgemm", "ours", s and s.gflops)
  add("sgemm_ours", "ours", s and s.ours_gflops)
  if s then samples.blas_core, samples.gemm_kernel = s.core, s.gemm end
  -- the products of the default model's layers, ours and OpenBLAS's
  local p = run(("%s --task shapes --warmup 1 --steps %d --threads %d"):format(OURS, work(5, 2), THREADS))
  samples.shape_names = samples.shape_names or {}
  for i, shape in ipairs(p and p.shapes or {}) do
    samples.shape_names[i] = ("%s (%d x %d x %d)"):format(shape.name, shape.m, shape.n, shape.k)
    add("shape" .. i, "ours", shape.ours_gflops)
    add("shape" .. i, "openblas", shape.openblas_gflops)
  end
end

-- How much of the machine other processes took while we ran: all CPU time not idle (/proc/stat)
-- minus the CPU time of our own child processes (getrusage), over the wall time of all cores.
-- Other work on the shared cores makes every figure noisy, PyTorch's OpenMP threads most of all.
local ffi = require "ffi"
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  typedef struct { bench_timeval ru_utime, ru_stime; long rest[14]; } bench_rusage;
  int getrusage(int who, bench_rusage *usage);
  long sysconf(int name);
]]
local CLK_TCK = tonumber(ffi.C.sysconf(2)) -- _SC_CLK_TCK
local function cpu_seconds_busy() -- all processes, since boot
  local f = io.open("/proc/stat")
  local line = f and f:read("*l")
  if f then f:close() end
  if not line then return nil end
  local busy, i = 0, 0
  for v in line:gmatch("%d+") do
    i = i + 1
    if i ~= 4 and i ~= 5 then busy = busy + tonumber(v) end -- all but idle and iowait
  end
  return busy / CLK_TCK
end
local function children_seconds()
  local u = ffi.new("bench_rusage")
  ffi.C.getrusage(-1, u) -- RUSAGE_CHILDREN
  local t = u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
  return tonumber(t)
end
local start_busy, start_children, start_wall = cpu_seconds_busy(), children_seconds(), core.wall_time()
local function others_share() -- of all cores' time since the start
  local busy = cpu_seconds_busy()
  if not busy or not start_busy then return nil end
  local wall = core.wall_time() - start_wall
  local others = (busy - start_busy) - (children_seconds() - start_children)
  return math.max(0, others / (wall * core.cpu_count()))
end
local started = os.time()
for rep = 1, REPS do
  measure(rep % 2 == 1 and { "ours", "pytorch" } or { "pytorch", "ours" })
  io.stderr:write(("bench: repetition %d/%d done\n"):format(rep, REPS))
end

local function stats(list)
  if not list or #list == 0 then return nil end
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  local median = n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
  return { median = median, min = s[1], max = s[n], n = n }
end

-- Multiply-adds (x2) of the default model's training step per image: convolutions and linear
-- layers forward, weight gradients, and input gradients except the first layer's (PyTorch skips
-- that one too). Elementwise layers are not counted.
local function default_step_flops()
  local conv1 = 2 * 32 * (1 * 3 * 3) * 26 * 26
  local conv2 = 2 * 64 * (32 * 3 * 3) * 24 * 24
  local fc1, fc2 = 2 * 9216 * 128, 2 * 128 * 10
  return 2 * conv1 + 3 * (conv2 + fc1 + fc2)
end
local FLOPS = default_step_flops()
local sgemm = stats(samples.sgemm and samples.sgemm.ours)
local sgemm_ours = stats(samples.sgemm_ours and samples.sgemm_ours.ours)
for _, impl in ipairs { "ours", "pytorch" } do
  local list = {}
  for i, v in ipairs(samples.train_default[impl]) do list[i] = v * FLOPS / 1e9 end
  add("gflops_train", impl, nil)
  samples.gflops_train[impl] = list
end

local ROWS = {
  { "train_default", "training, default model (images/s)", "%.0f", true },
  { "train_lenet", "training, LeNet (images/s)", "%.0f", true },
  { "infer_default", "inference b1000, default (images/s)", "%.0f", true },
  { "infer_lenet", "inference b1000, LeNet (images/s)", "%.0f", true },
  { "latency_default", "latency b1, default (us/image)", "%.0f", false },
  { "latency_lenet", "latency b1, LeNet (us/image)", "%.1f", false },
  { "coldstart", "cold start: predict one PNG (ms)", "%.0f", false },
  { "rss_coldstart", "cold start peak RSS (MB)", "%.0f", false },
  { "rss_train", "training peak RSS, default (MB)", "%.0f", false },
  { "gflops_train", "training GFLOP/s, default", "%.1f", true },
}

local function cell(st, fmt)
  if not st then return "failed" end
  if st.n == 1 then return fmt:format(st.median) end
  return (fmt .. " (" .. fmt .. "-" .. fmt .. ")"):format(st.median, st.min, st.max)
end

local results = {}
local lines = {}
local function emit(s) lines[#lines + 1] = s end
emit("| measure | ours: median (min-max) | PyTorch: median (min-max) | ours / PyTorch | ours / PyTorch's best run |")
emit("|---|---|---|---|---|")
for _, row in ipairs(ROWS) do
  local key, label, fmt, higher = row[1], row[2], row[3], row[4]
  local o, t = stats(samples[key].ours), stats(samples[key].pytorch)
  local ratio = o and t and o.median / t.median
  results[key] = { ours = o, pytorch = t, ratio = ratio }
  -- against PyTorch's best repetition (max, or min for times and sizes): a conservative ratio
  -- that a busy minute on PyTorch's side cannot flatter
  local best = t and (higher and t.max or t.min)
  emit(("| %s | %s | %s | %s | %s |"):format(label, cell(o, fmt), cell(t, fmt),
    ratio and ("%.2fx%s"):format(ratio, higher and "" or " (lower is better)") or "-",
    o and best and ("%.2fx"):format(o.median / best) or "-"))
end
for _, key in ipairs { "train_default", "train_lenet" } do
  local rock, make = stats(samples[key .. "_luarocks"] and samples[key .. "_luarocks"].ours), results[key].ours
  if rock then
    emit(("| %s, luarocks-built core (images/s) | %s | | %s of make's | |"):format(
      key == "train_default" and "training, default model" or "training, LeNet", cell(rock, "%.0f"),
      make and ("%.2fx"):format(rock.median / make.median) or "-"))
  end
end
local function percent(x) return x and ("%.0f%%"):format(100 * x) or "-" end
if sgemm then
  emit(("| OpenBLAS cblas_sgemm 2048^3, %d threads (GFLOP/s) | %s | | | |"):format(THREADS, cell(sgemm, "%.0f")))
  for _, impl in ipairs { "ours", "pytorch" } do
    local g = results.gflops_train[impl]
    results.gflops_train[impl .. "_fraction"] = g and g.median / sgemm.median
  end
  emit(("| training GFLOP/s / cblas_sgemm peak | %s | %s | | |"):format(
    percent(results.gflops_train.ours_fraction), percent(results.gflops_train.pytorch_fraction)))
end
if sgemm_ours then
  emit(("| our sgemm (csrc/tensor/gemm.c, %s) 2048^3, %d threads (GFLOP/s) | %s | | | |"):format(
    samples.gemm_kernel or "?", THREADS, cell(sgemm_ours, "%.0f")))
  local g = results.gflops_train.ours
  emit(("| training GFLOP/s / our sgemm peak | %s | | | |"):format(percent(g and g.median / sgemm_ours.median)))
end

-- Where OpenBLAS would win a layer's product (issue 15): ours against cblas_sgemm on each shape.
for i, name in ipairs(samples.shape_names or {}) do
  local o, t = stats(samples["shape" .. i].ours), stats(samples["shape" .. i].openblas)
  emit(("| product: %s, GFLOP/s: ours / OpenBLAS's | %s | %s (OpenBLAS) | %s | |"):format(name,
    cell(o, "%.0f"), cell(t, "%.0f"), o and t and ("%.2fx"):format(o.median / t.median) or "-"))
end

-- The targets of issue 7 (on the 2-core development machine).
local function check(ok) return ok == nil and "not measured" or (ok and "met" or "NOT met") end
local function ratio_at_least(key, x)
  local r = results[key].ratio
  return r and r >= x
end
local function ours_at_most(key, x)
  local o = results[key].ours
  if o then return o.median <= x end
end
local targets = {
  { "default training >= 2.0x PyTorch", ratio_at_least("train_default", 2.0) },
  { "default training >= 70% of the cblas_sgemm peak",
    results.gflops_train.ours_fraction and results.gflops_train.ours_fraction >= 0.70 },
  { "LeNet training >= 2.5x PyTorch", ratio_at_least("train_lenet", 2.5) },
  { "default inference >= 3x PyTorch", ratio_at_least("infer_default", 3.0) },
  { "cold-start predict <= 50 ms", ours_at_most("coldstart", 50) },
  { "training peak RSS <= 200 MB (the benchmark's training process)", ours_at_most("rss_train", 200) },
}
emit("")
emit("| target | |")
emit("|---|---|")
for _, t in ipairs(targets) do emit(("| %s | %s |"):format(t[1], check(t[2]))) end

local function getenv_shown(name) return os.getenv(name) or "(unset)" end
local cpu = shell("lscpu | sed -n 's/^Model name:[[:space:]]*//p'") or "?"
local has_avx512 = (shell("grep -c -m1 -w avx512f /proc/cpuinfo") or "0") ~= "0"
-- what ATen dispatches to under this ISA's environment (its own report)
local torch_isa = shell(ISA_THEIRS .. q(PYTHON) .. [[ -c 'import re, torch; print(re.search(r"CPU capability usage: (.+)", torch.__config__.show()).group(1))' 2>/dev/null]]) or "?"
local torch_version = shell(q(PYTHON) .. " -c 'import torch; print(torch.__version__)' 2>/dev/null") or "?"
local header = {
  ("Date: %s; CPU: %s (%s cores online); threads: %d each side; repetitions: %d%s."):format(
    os.date("!%Y-%m-%d %H:%M UTC", started), cpu, core.cpu_count(), THREADS, REPS,
    QUICK and " (BENCH_QUICK: short workloads)" or ""),
  ("Command: `make bench` (MNIST_BENCH_DATA=%s); wall time %d s."):format(shown_path(DATA), os.time() - started),
  ("OpenBLAS core: %s; OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s (as found in the environment); PyTorch %s with OPENBLAS_NUM_THREADS=1."):format(
    samples.blas_core or "?", getenv_shown("OPENBLAS_CORETYPE"), getenv_shown("OPENBLAS_L2_SIZE"),
    torch_version),
  ("Training FLOPs per image (default model, counted as in bench/run.lua): %.1f M."):format(FLOPS / 1e6),
  ISA == "avx2" and ("ISA: both sides restricted to AVX2 (`make bench ISA=avx2`: MNIST_GEMM_KERNEL=avx2; ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2; OPENBLAS_CORETYPE=Haswell)%s."):format(
    has_avx512 and "" or "; this CPU has no AVX-512, so this table measures the same code as the native one")
    .. (" Our gemm kernel: %s; PyTorch's CPU capability: %s."):format(samples.gemm_kernel or "?", torch_isa)
    or ("ISA: native (the best each side finds; our gemm kernel %s, PyTorch's CPU capability %s)%s."):format(
    samples.gemm_kernel or "?", torch_isa,
    has_avx512 and "" or "; this CPU has no AVX-512, so the AVX2 table measures the same code"),
}
local others = others_share()
local noisy = others == nil or others > 0.05
header[#header + 1] = ("Other processes took %s of the machine during the run.%s"):format(
  others and ("%.0f%%"):format(100 * others) or "an unknown share",
  noisy and " WARNING: figures are noisy (PyTorch's OpenMP threads suffer most from a busy machine)." or "")
local text = table.concat(header, "\n") .. "\n\n" .. table.concat(lines, "\n") .. "\n"
io.write("\n", text)

if QUICK then
  io.stderr:write("bench: quick run, ", RESULTS, " left alone\n")
elseif noisy and os.getenv("BENCH_WRITE") ~= "1" then
  io.stderr:write(("bench: other processes took %s of the machine: %s left alone (rerun on a quiet machine, or BENCH_WRITE=1 to record it anyway)\n"):format(
    others and ("%.0f%%"):format(100 * others) or "an unknown share", RESULTS))
else
  local f = io.open(RESULTS)
  local old = f and f:read("*a") or ""
  if f then f:close() end
  -- one block per ISA: bench:begin/end (native) and bench-avx2:begin/end, the AVX2 one after
  local tag = ISA == "native" and "bench" or "bench-" .. ISA
  local block = "<!-- " .. tag .. ":begin (written by bench/run.lua) -->\n" .. text .. "<!-- " .. tag .. ":end -->"
  local new, n = old:gsub("<!%-%- " .. tag:gsub("%-", "%%-") .. ":begin.-<!%-%- " .. tag:gsub("%-", "%%-") .. ":end %-%->",
    function() return block end)
  if n == 0 and ISA ~= "native" then
    new, n = old:gsub("(<!%-%- bench:end %-%->)", function(native)
      return native .. "\n\n### The same, both sides restricted to " .. ISA:upper() .. "\n\n" .. block
    end)
  end
  if n == 0 then new = "# Benchmark results\n\n" .. block .. "\n" .. old end
  f = assert(io.open(RESULTS, "w"))
  f:write(new)
  f:close()
  io.stderr:write("bench: wrote ", RESULTS, "\n")
end
local failed = exists(LOG) and shell("grep -c '^FAILED' " .. q(LOG)) or "0"
if failed ~= "0" then
  io.stderr:write("bench: ", failed, " runs failed; see ", LOG, "\n")
else
  os.execute("rm -rf " .. q(TMP))
end
