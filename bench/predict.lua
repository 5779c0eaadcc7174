-- `mnist.lua predict` on single pictures, as a user runs it, each a new process: wall time (best
-- and median of RUNS) and peak RSS (/usr/bin/time) against issue #19's targets, with the CPU time
-- (user + sys) beside it, which a shared machine disturbs less than the wall time. The pictures are
-- made here (stb_image_write): a 7000x7000 JPEG and PNG (a page with a digit in the middle), a
-- 2000x1500 phone-like JPEG (uneven light, noise) and a 28x28 PNG (cold start).
--   eval "$(make -s env)"; luajit bench/predict.lua [RUNS [OTHER_CHECKOUT]]
-- With OTHER_CHECKOUT (e.g. a checkout of main, built), its bin/mnist.lua runs too, interleaved
-- run by run with this one, so both see the same load.
local core = require "mnist.core"
local T = require "mnist.tensor"
local dataset = require "mnist.dataset"

local runs = tonumber(arg[1]) or 5
local mirror = os.getenv("MNIST_MIRROR") or os.getenv("MNIST_BENCH_DATA") or "../shared/data/mnist"
local digit = dataset.read_idx(mirror .. "/t10k-images-idx3-ubyte.gz")[1] -- a 7
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)

-- h x w uint8: value(r, c) per pixel, a row at a time.
local function picture(h, w, value)
  local rows = {}
  for r = 0, h - 1 do
    local row = {}
    for c = 0, w - 1 do row[c + 1] = string.char(math.max(0, math.min(255, math.floor(value(r, c))))) end
    rows[r + 1] = table.concat(row)
  end
  return T.frombytes(table.concat(rows), { h, w })
end

local function digit_at(scale, top, left)
  return function(r, c)
    local y, x = math.floor((r - top) / scale), math.floor((c - left) / scale)
    if y < 0 or x < 0 or y > 27 or x > 27 then return 0 end
    return digit:get(y + 1, x + 1) / 255
  end
end

local function save(name, data)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(data)
  f:close()
  return dir .. "/" .. name
end

local files = {}
do
  local ink = digit_at(50, 2800, 2800)
  local rows, blank = {}, ("\235"):rep(7000)
  for r = 0, 6999 do
    if r >= 2800 and r < 4200 then
      local row = {}
      for c = 0, 6999 do row[c + 1] = string.char(235 - math.floor(200 * ink(r, c))) end
      rows[r + 1] = table.concat(row)
    else
      rows[r + 1] = blank
    end
  end
  local page = T.frombytes(table.concat(rows), { 7000, 7000 })
  rows = nil
  files[#files + 1] = { "7000x7000 JPEG", save("page7000.jpg", core.image_encode(page, "jpg", 80)) }
  files[#files + 1] = { "7000x7000 PNG", save("page7000.png", core.image_encode(page, "png")) }
  page = nil
  collectgarbage()
end
do
  local ink, seed = digit_at(12, 600, 900), 12345
  local phone = picture(1500, 2000, function(r, c)
    seed = (seed * 1103515245 + 12345) % 2147483648
    local light = 0.75 + 0.25 * c / 2000
    return (235 * (1 - ink(r, c)) + 40 * ink(r, c)) * light + (seed % 13) - 6
  end)
  files[#files + 1] = { "2000x1500 phone JPEG", save("phone.jpg", core.image_encode(phone, "jpg", 80)) }
end
files[#files + 1] = { "28x28 PNG (cold start)", save("small.png", core.image_encode(digit, "png")) }

-- Issue #19's targets: wall seconds and peak RSS (MB) per picture.
local TARGETS = {
  ["7000x7000 JPEG"] = { wall = 0.1, rss = 60 },
  ["7000x7000 PNG"] = { wall = 0.4, rss = 60 },
  ["2000x1500 phone JPEG"] = { wall = 0.06 },
  ["28x28 PNG (cold start)"] = { wall = 0.05 },
}

local checkouts = { "." }
if arg[2] then checkouts[2] = arg[2] end
local home = dir .. "/home"

-- Wall and CPU clocks to the microsecond (/usr/bin/time's are to 10 ms; it gives the peak RSS).
local ffi = require "ffi"
ffi.cdef [[
  typedef struct { long sec, nsec; } bench_timespec;
  typedef struct { long sec, usec; } bench_timeval;
  typedef struct { bench_timeval utime, stime; long rest[14]; } bench_rusage;
  int clock_gettime(int clock, bench_timespec *t);
  int getrusage(int who, bench_rusage *usage);
]]
local function wall_now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t) -- CLOCK_MONOTONIC
  return tonumber(t.sec) + tonumber(t.nsec) * 1e-9
end
local function children_cpu() -- user + sys of the waited-for children (RUSAGE_CHILDREN)
  local u = ffi.new("bench_rusage")
  ffi.C.getrusage(-1, u)
  return tonumber(u.utime.sec + u.stime.sec) + tonumber(u.utime.usec + u.stime.usec) * 1e-6
end

-- One run: wall s, CPU s (user + sys: the shell and /usr/bin/time around it add about a
-- millisecond to both), peak RSS kB, the first line printed.
local function run(checkout, file)
  local w0, c0 = wall_now(), children_cpu()
  local p = io.popen(("MNIST_HOME=%s /usr/bin/time -f '%%M' luajit %s/bin/mnist.lua predict %s 2>&1")
    :format(home, checkout, file))
  local text = p:read("*a")
  p:close()
  local wall, cpu = wall_now() - w0, children_cpu() - c0
  local m = text:match("(%d+)%s*$")
  assert(m, text)
  return wall, cpu, tonumber(m), text:match("^[^\n]*")
end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local function loadavg()
  local f = io.open("/proc/loadavg")
  local text = f and f:read("*l") or "?"
  if f then f:close() end
  return text:match("^(%S+ %S+ %S+)") or text
end

local cpu = io.popen("lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1"):read("*l") or "?"
print(("%d runs each, CPU %s, load average before: %s"):format(runs, cpu, loadavg()))
for _, item in ipairs(files) do
  local f = io.open(item[2], "rb")
  local size = f:seek("end")
  f:close()
  local stats = {}
  for k = 1, #checkouts do stats[k] = { wall = {}, cpu = {}, rss = 0 } end
  for _ = 1, runs do
    for k, checkout in ipairs(checkouts) do
      local e, c, m, out = run(checkout, item[2])
      local st = stats[k]
      st.wall[#st.wall + 1], st.cpu[#st.cpu + 1], st.rss, st.out = e, c, math.max(st.rss, m), out
    end
  end
  local target = TARGETS[item[1]]
  for k, checkout in ipairs(checkouts) do
    local st = stats[k]
    local best, rss = math.min(unpack(st.wall)), st.rss / 1024
    local met = best <= target.wall and (not target.rss or rss <= target.rss)
    print(("%-24s %8d bytes  wall best %.4f s median %.4f s  CPU best %.4f s median %.4f s  peak RSS %.1f MB" ..
      "  target <= %.2f s%s: %s  [%s] (%s)"):format(item[1], size, best, median(st.wall), math.min(unpack(st.cpu)),
      median(st.cpu), rss, target.wall, target.rss and (", <= %d MB"):format(target.rss) or "",
      met and "met" or "NOT met", checkout, st.out:gsub("^.*: ", "")))
  end
end
print("load average after: " .. loadavg())
os.execute("rm -rf " .. dir)
