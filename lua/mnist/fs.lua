-- mnist.fs: the file and shell helpers the modules share (one place for each).
--   fs.quote(s)        one /bin/sh argument, single-quoted
--   fs.run(cmd)        true when a shell command exits 0
--   fs.capture(cmd)    a shell command's output (stdout and stderr) and exit code
--   fs.exists(path), fs.is_dir(path), fs.read(path), fs.size(path), fs.read_json(path)
--   fs.mkdir_p(path)   like mkdir -p; true, or nil and "path: reason"
--   fs.json(v)         JSON with sorted keys and indents (manifests that read well and diff cleanly)
local cjson = require "cjson"
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
  return M.run("test -d " .. M.quote(path))
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

-- JSON with sorted keys and two-space indents, so a manifest reads well and diffs cleanly.
function M.json(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
      return named[c] or ("\\u%04x"):format(c:byte())
    end) .. '"'
  elseif t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local inner, parts = indent .. "  ", {}
    if #v > 0 then
      for _, x in ipairs(v) do parts[#parts + 1] = M.json(x, inner) end
      return "[" .. table.concat(parts, ", ") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    if #keys == 0 then return "{}" end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = inner .. M.json(k) .. ": " .. M.json(v[k], inner) end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  end
  error("fs.json: cannot encode a " .. t, 2)
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

return M
