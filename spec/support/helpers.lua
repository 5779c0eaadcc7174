-- Shared by the data specs: temp directories, files, the local MNIST mirror, subprocesses and the
-- loopback HTTP mirror. Loaded with dofile("spec/support/helpers.lua").
local core = require "mnist.core"
local fs = require "mnist.fs"

local H = {}

-- The shell helpers are the library's own (mnist.fs): quote, run (true on exit 0), capture.
H.quote, H.sh, H.run = fs.quote, fs.run, fs.capture

-- The JSON file at path, decoded (the specs' fixtures).
function H.read_json(path)
  local f = assert(io.open(path, "rb"))
  local data = require("cjson").decode(f:read("*a"))
  f:close()
  return data
end

-- t seen through Torch7 view steps as the fixture scripts write them: {"t"}, {"transpose", d1, d2},
-- {"narrow", dim, index, size}, {"select", dim, index}, {"expand", sizes}.
function H.view_steps(t, steps)
  for _, s in ipairs(steps) do
    if s[1] == "t" then t = t:t()
    elseif s[1] == "transpose" then t = t:transpose(s[2], s[3])
    elseif s[1] == "narrow" then t = t:narrow(s[2], s[3], s[4])
    elseif s[1] == "select" then t = t:select(s[2], s[3])
    elseif s[1] == "expand" then t = t:expand(s[2])
    else error("view_steps: unknown step " .. tostring(s[1])) end
  end
  return t
end

-- Mean absolute difference of two tensors with the same numel.
function H.mean_abs_diff(a, b)
  local fa, fb = a:view(a:numel()), b:view(b:numel())
  local s = 0
  for i = 1, a:numel() do s = s + math.abs(fa[i] - fb[i]) end
  return s / a:numel()
end

function H.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

function H.rm(path)
  H.sh("rm -rf " .. H.quote(path))
end

function H.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

function H.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

function H.gzip(data)
  local d = H.tmpdir()
  H.write(d .. "/x", data)
  assert(H.sh("gzip -n -9 " .. H.quote(d .. "/x")))
  local gz = H.read(d .. "/x.gz")
  H.rm(d)
  return gz
end

function H.gunzip_file(path)
  local p = assert(io.popen("gzip -dc " .. H.quote(path)))
  local s = p:read("*a")
  p:close()
  return s
end

H.exists = fs.exists

-- The local MNIST mirror the test target points MNIST_MIRROR at (never a hard-wired path).
function H.mirror()
  local m = os.getenv("MNIST_MIRROR")
  assert(m and m ~= "" and H.exists(m .. "/t10k-labels-idx1-ubyte.gz"),
    "these specs need MNIST_MIRROR pointing at a directory with the four MNIST .gz files (make test sets it)")
  return m
end

-- Big-endian u32.
function H.be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

-- An IDX file of unsigned bytes: dims and the data bytes.
function H.idx(dims, data)
  local parts = { "\0\0\8" .. string.char(#dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = H.be32(d) end
  parts[#parts + 1] = data
  return table.concat(parts)
end

-- A luajit subprocess running `code` with the in-tree modules; `env` is a prefix like "A=1 B=2".
function H.luajit(code, env)
  local cpath = os.getenv("MNIST_BUILD_DIR") or "build"
  local pwd = io.popen("pwd"):read("*l")
  local prefix = ("LUA_PATH=%s LUA_CPATH=%s"):format(
    H.quote(pwd .. "/lua/?.lua;" .. pwd .. "/lua/?/init.lua;;"), H.quote(pwd .. "/" .. cpath .. "/?.so;;"))
  local luajit = io.popen("command -v luajit"):read("*l")
  return H.run(("%s timeout 120 %s %s -e %s"):format(prefix, env or "", luajit, H.quote(code)))
end

-- A loopback HTTP server (spec/support/http_mirror.py) serving root. Returns its base URL, a
-- stop function (kills it by its pid) and the path of its request log (one line per request).
function H.http_mirror(root)
  local state = H.tmpdir()
  assert(H.sh(("python3 spec/support/http_mirror.py %s --lifetime 300 > %s 2> %s & echo $! > %s"):format(
    H.quote(root), H.quote(state .. "/port"), H.quote(state .. "/log"), H.quote(state .. "/pid"))))
  local pid = H.read(state .. "/pid"):match("%d+")
  local port
  for _ = 1, 200 do
    port = H.exists(state .. "/port") and H.read(state .. "/port"):match("(%d+)")
    if port then break end
    core.sleep(0.025)
  end
  assert(port, "the HTTP mirror did not start: " .. H.read(state .. "/log"))
  local function stop()
    H.sh("kill " .. pid .. " 2>/dev/null")
    H.rm(state)
  end
  return ("http://127.0.0.1:%s/"):format(port), stop, state .. "/log"
end

return H
