-- `mnist.lua predict` on single pictures, as a user runs it: wall time (best of N runs) and peak
-- RSS (/usr/bin/time), with the CPU time beside it (the machine may be shared). The pictures are
-- made here (stb_image_write): a 7000x7000 JPEG and PNG (a page with a digit in the middle), a
-- 2000x1500 phone-like JPEG (uneven light, noise) and a 28x28 PNG (cold start).
--   eval "$(make -s env)"; luajit bench/predict.lua [RUNS]
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

local home = dir .. "/home"
for _, item in ipairs(files) do
  local best, cpu, rss, out = math.huge, math.huge, 0, ""
  for _ = 1, runs do
    local p = io.popen(("MNIST_HOME=%s /usr/bin/time -f '%%e %%U %%S %%M' luajit bin/mnist.lua predict %s 2>&1"):format(home, item[2]))
    local text = p:read("*a")
    p:close()
    local e, u, s, m = text:match("([%d.]+) ([%d.]+) ([%d.]+) (%d+)%s*$")
    assert(e, text)
    best, cpu, rss = math.min(best, tonumber(e)), math.min(cpu, tonumber(u) + tonumber(s)), math.max(rss, tonumber(m))
    out = text:match("^[^\n]*")
  end
  local f = io.open(item[2], "rb")
  local size = f:seek("end")
  f:close()
  print(("%-24s %8d bytes  wall %.3f s  CPU %.3f s  peak RSS %.1f MB  (%s)"):format(item[1], size, best, cpu,
    rss / 1024, out:gsub("^.*: ", "")))
end
os.execute("rm -rf " .. dir)
