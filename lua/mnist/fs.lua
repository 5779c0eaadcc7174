-- mnist.fs: the file and shell helpers the modules share (one place for each).
--   fs.quote(s)        one /bin/sh argument, single-quoted
--   fs.run(cmd)        true when a shell command exits 0
--   fs.capture(cmd)    a shell command's output (stdout and stderr) and exit code
--   fs.exists(path), fs.is_dir(path), fs.read(path), fs.size(path), fs.read_json(path)
--   fs.list(dir)       the names in dir, sorted (no "." or ".."); nil and the reason
--   fs.mkdir_p(path)   like mkdir -p; true, or nil and "path: reason"
--   fs.mkdir(path)     creates path only when it does not exist (atomic): true, or nil, reason, errno
--   fs.find_program(name)  the path of an executable on PATH, or nil (no shell)
--   fs.temp_dir(), fs.remove_tree(path)   what `mktemp -d` and `rm -rf` do, in-process
--   fs.pid(), fs.is_alive(pid), fs.describe_process(pid)
--   fs.lock(path, mode, opts)  a file lock (see below); fs.with_lock(path, mode, opts, fn, ...)
--   fs.part_name(path), fs.remove_stale_parts(dir)  temp files of downloads, named by their process
--   fs.json(v)         JSON with sorted keys and indents (manifests that read well and diff cleanly)
--   fs.json_compact(v) the same without whitespace (a safetensors header: equal content, equal bytes)
-- Directory checks, listings, creation and locks go through LuaFileSystem (Debian lua-filesystem):
-- in-process, no shell and no quoting.
local cjson = require "cjson"
local lfs = require "lfs"
local core = require "mnist.core"

local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

-- LuaJIT's os.execute returns the wait status (0 for success); Lua 5.2+ returns true.
function M.run(cmd)
  local r = os.execute(cmd)
  return r == 0 or r == true
end

function M.capture(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"__rc=$?\""))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$")) or -1
  return (out:gsub("__rc=%d+%s*$", "")), rc
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.is_dir(path)
  return lfs.attributes(path, "mode") == "directory"
end

-- The names in dir, sorted, or nil and "dir: reason".
function M.list(dir)
  local ok, iter, state = pcall(lfs.dir, dir)
  if not ok then return nil, tostring(iter) end
  local names = {}
  for name in iter, state do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

-- mkdir(2): fails when path exists, so two processes never both "create" one directory.
function M.mkdir(path)
  local ok, err, errno = lfs.mkdir(path)
  if ok then return true end
  return nil, ("%s: %s"):format(path, tostring(err)), errno
end

-- The executable `name` on $PATH, or nil: what `command -v` says, without a shell.
function M.find_program(name)
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local path = dir .. "/" .. name
    local perms = lfs.attributes(path, "permissions")
    if perms and perms:sub(3, 3) == "x" and lfs.attributes(path, "mode") == "file" then return path end
  end
  return nil
end

-- A new private-named directory under $TMPDIR (or /tmp): its path, or nil and the reason.
function M.temp_dir()
  local base, err = os.getenv("TMPDIR") or "/tmp"
  for _ = 1, 100 do
    -- a name nobody can guess and mkdir(2), which refuses one that exists: never another's dir
    local path = ("%s/mnist.%s"):format(base, core.sha256(tostring({}) .. os.clock() .. os.time() .. M.pid()):sub(1, 12))
    local ok, why, errno = M.mkdir(path)
    if ok then return path end
    err = why
    if errno ~= 17 then break end
  end
  return nil, err
end

-- Removes path and everything under it (symbolic links are removed, never followed).
function M.remove_tree(path)
  local mode = lfs.symlinkattributes(path, "mode")
  if mode == "directory" then
    for _, name in ipairs(M.list(path) or {}) do M.remove_tree(path .. "/" .. name) end
    return lfs.rmdir(path)
  elseif mode then
    return os.remove(path)
  end
  return true
end

-- Processes (Linux /proc, read in-process) ----------------------------------------------------

local own_pid
-- This process's id.
function M.pid()
  if not own_pid then
    local stat = M.read("/proc/self/stat")
    own_pid = assert(tonumber(stat and stat:match("^(%d+)")), "fs.pid: /proc/self/stat is not readable")
  end
  return own_pid
end

function M.is_alive(pid)
  return pid ~= nil and lfs.attributes("/proc/" .. tostring(pid), "mode") == "directory"
end

-- "process 1234 (luajit bin/mnist.lua train ...)", for messages about who holds a lock.
function M.describe_process(pid)
  local cmdline = M.read("/proc/" .. tostring(pid) .. "/cmdline")
  cmdline = cmdline and cmdline:gsub("%z+$", ""):gsub("%z", " ") or ""
  if #cmdline > 120 then cmdline = cmdline:sub(1, 117) .. "..." end
  return cmdline ~= "" and ("process %d (%s)"):format(pid, cmdline) or ("process %d"):format(pid)
end

-- Download temp files ---------------------------------------------------------------------------

-- A temp name next to `path` for a download in progress: "<path>.part-<pid>-<random>". The pid
-- says whose it is, so a later process can tell a killed download's leftover from a live one.
function M.part_name(path)
  return ("%s.part-%d-%s"):format(path, M.pid(), core.sha256(tostring({}) .. os.time() .. os.clock()):sub(1, 8))
end

-- Older versions named them "<path>.part-<12 hex>", without a pid: stale after this many seconds.
M.UNOWNED_PART_AGE = 3600

-- Removes the "*.part-<pid>-*" and "*.<pid>.staged" files in dir whose process is gone (a pid reused since only delays it to
-- a later start); returns the names removed. Unowned names go once older than UNOWNED_PART_AGE.
function M.remove_stale_parts(dir)
  local removed = {}
  for _, name in ipairs(M.list(dir) or {}) do
    local pid = tonumber(name:match("%.part%-(%d+)%-%w+$") or name:match("%.(%d+)%.staged$"))
    local stale
    if pid then
      stale = pid ~= M.pid() and not M.is_alive(pid)
    elseif name:match("%.part%-%x+$") then
      local modified = lfs.attributes(dir .. "/" .. name, "modification")
      stale = modified and os.time() - modified > M.UNOWNED_PART_AGE
    end
    if stale and os.remove(dir .. "/" .. name) then removed[#removed + 1] = name end
  end
  return removed
end

-- Locks ---------------------------------------------------------------------------------------
-- fs.lock(path, mode, opts) -> a lock with :release(); or nil, a message naming the holder and
-- "busy"; or nil, why the lock file cannot be opened and "error".
--   mode "w": exclusive (one holder; its pid is written into the lock file for messages)
--   mode "r": shared (any number of "r" holders, no "w")
--   opts.wait: wait for the lock (polling with core.sleep), else try once
--   opts.on_wait(holder): told once when the lock is busy and we wait ("process N (...)")
-- fcntl record locks (lfs.lock): the kernel drops them when the holder exits or is killed, so a
-- crash never leaves a stale lock behind. Writers are not starved by a stream of readers: byte 0
-- is a gate that a writer holds while it waits for byte 1, and a reader passes the gate (shared)
-- before it takes byte 1 (shared). A shared lock in a directory where the lock file cannot be
-- created (a read-only artifact dir, where nobody can publish either) is a no-op.
-- fcntl locks belong to the process and any close of the file drops them, so each lock file is
-- opened once per process (`held`), and nested locks of one process on one path are counted.
local held = {}

local Lock = {}
Lock.__index = Lock

function Lock:release()
  local entry = self.entry
  if not entry or self.released then return end
  self.released = true
  entry.count = entry.count - 1
  if entry.count == 0 then
    held[entry.path] = nil
    if entry.file then
      lfs.unlock(entry.file, 0, 2)
      entry.file:close()
    end
  end
end

-- The holder named in the lock file, when it is alive.
local function holder(path)
  local text = M.read(path)
  local pid = tonumber(text and text:match("^pid (%d+)"))
  if pid and pid ~= M.pid() and M.is_alive(pid) then return M.describe_process(pid) end
  return "another process"
end

local function open_lock_file(path, mode)
  local f = io.open(path, mode == "w" and "r+" or "r")
  if f then return f end
  local created, err = io.open(path, "a")
  if not created then return nil, err end
  created:close()
  return io.open(path, mode == "w" and "r+" or "r")
end

-- What fcntl(F_SETLK) says when another process holds the lock (EAGAIN or EACCES); anything
-- else (ENOLCK on a file system without locks, ...) is an error, not a reason to wait.
local BUSY = { ["Resource temporarily unavailable"] = true, ["Permission denied"] = true }

-- Takes byte `start` of f in `mode`, waiting when asked. true, or nil, the holder and "busy", or
-- nil, the reason and "error".
local function take(f, path, mode, start, opts, told)
  local pause = 0.005
  while true do
    local ok, err = lfs.lock(f, mode, start, 1)
    if ok then return true end
    if not BUSY[err] then return nil, ("cannot lock %s: %s"):format(path, tostring(err)), "error" end
    if not opts.wait then return nil, holder(path), "busy" end
    if opts.on_wait and not told[1] then
      told[1] = true
      opts.on_wait(holder(path))
    end
    core.sleep(pause)
    pause = math.min(pause * 2, 0.1)
  end
end

function M.lock(path, mode, opts)
  opts = opts or {}
  assert(mode == "r" or mode == "w", "fs.lock: mode must be 'r' or 'w'")
  local entry = held[path]
  if entry then
    if mode == "w" and entry.mode == "r" then
      error("fs.lock: " .. path .. ": already held shared by this process, cannot upgrade", 2)
    end
    entry.count = entry.count + 1
    return setmetatable({ entry = entry }, Lock)
  end
  local f, err = open_lock_file(path, mode)
  if not f then
    if mode == "r" then -- read-only place: nobody can publish here
      return setmetatable({ entry = { path = path, count = 1 } }, Lock)
    end
    return nil, ("cannot open the lock file %s"):format(tostring(err)), "error"
  end
  local told = {}
  local ok, why, kind = take(f, path, mode, 0, opts, told)
  if ok then ok, why, kind = take(f, path, mode, 1, opts, told) end
  if not ok then
    f:close()
    if kind == "error" and mode == "r" then -- no locks here: read as before locks existed
      return setmetatable({ entry = { path = path, count = 1 } }, Lock)
    end
    return nil, why, kind
  end
  if mode == "w" then
    f:seek("set", 0)
    f:write(("pid %-20d\n"):format(M.pid()))
    f:flush()
  else
    lfs.unlock(f, 0, 1) -- past the gate
  end
  entry = { path = path, file = f, mode = mode, count = 1 }
  held[path] = entry
  return setmetatable({ entry = entry }, Lock)
end

-- Runs fn(...) holding the lock at path (waiting for it), releases it whatever happens, and
-- returns fn's results. opts as for fs.lock (wait is implied), and opts.optional: when the lock
-- file cannot be created (a read-only directory, where no other process writes either), fn runs
-- without it and meets the read-only directory itself.
function M.with_lock(path, mode, opts, fn, ...)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.wait = true
  local lock, err, kind = M.lock(path, mode, o)
  if not lock and kind == "error" and o.optional then return fn(...) end
  if not lock then error(err, 0) end
  local results = { pcall(fn, ...) }
  lock:release()
  if not results[1] then error(results[2], 0) end
  return unpack(results, 2, table.maxn(results))
end

-- The whole file, or nil and the reason.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

function M.size(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local n = f:seek("end")
  f:close()
  return n
end

-- The decoded JSON file, or nil and "path: reason".
function M.read_json(path)
  local text, err = M.read(path)
  if not text then return nil, err end
  local ok, value = pcall(cjson.decode, text)
  if not ok then return nil, path .. ": not valid JSON: " .. tostring(value) end
  return value
end

M.mkdir_p = core.mkdir_p

-- JSON with sorted keys: indented (indent = "") or compact (indent = nil), so equal values give
-- equal bytes whatever order their tables were filled in.
local function encode(v, indent)
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
      return named[c] or ("\\u%04x"):format(c:byte())
    end) .. '"'
  elseif t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
    if v ~= v or v == math.huge or v == -math.huge then error("fs.json: cannot encode " .. tostring(v), 3) end
    for digits = 15, 16 do -- the shortest form that reads back as the same double (0.7, not 0.69999...)
      local text = ("%." .. digits .. "g"):format(v)
      if tonumber(text) == v then return text end
    end
    return ("%.17g"):format(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local inner, parts = indent and indent .. "  ", {}
    if #v > 0 then
      for _, x in ipairs(v) do parts[#parts + 1] = encode(x, inner) end
      return "[" .. table.concat(parts, indent and ", " or ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    if #keys == 0 then return "{}" end
    table.sort(keys)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = (inner or "") .. encode(k) .. (indent and ": " or ":") .. encode(v[k], inner)
    end
    if not indent then return "{" .. table.concat(parts, ",") .. "}" end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  end
  error("fs.json: cannot encode a " .. t, 3)
end

-- JSON with sorted keys and two-space indents, so a manifest reads well and diffs cleanly.
function M.json(v, indent)
  return encode(v, indent or "")
end

-- JSON with sorted keys and no whitespace.
function M.json_compact(v)
  return encode(v, nil)
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

return M
