-- mnist.repl: `mnist.lua repl`, an interactive LuaJIT with mnist, torch (mnist.torch), nn and
-- optim loaded, in the spirit of Torch7's th. Each line's value is printed (tensors and models as
-- print shows them, tables as literals); a statement runs as is; an unfinished statement (a
-- `for` without its `end`) continues on the next line; an error is printed and the session goes
-- on. Line editing, Tab completion and history (kept in <artifact_dir>/repl_history) come from
-- GNU readline through Debian's lua-readline; without it, lines are read plainly.
--
-- At the prompt `local x = ...` defines x for the rest of the session (a chunk's locals would
-- die with the line), so the README's examples can be pasted as they are.
local M = {}

M.PROMPT, M.CONTINUE = "> ", ">> "
M.HISTORY = "repl_history" -- under the artifact directory
M.HISTORY_LINES = 1000

function M.banner()
  local version = require "mnist.version"
  return table.concat({
    ("mnist %s, %s: mnist, torch, nn, optim and cfg are loaded; every value is printed."):format(
      version, jit and jit.version or _VERSION),
    "Inference in three lines:",
    "  local mnist = require \"mnist\"",
    "  local net = mnist.classifier { pretrained = true }",
    "  print(net:predict(\"digit.png\"))",
    "Try  mnist.tensor{{1, 2}, {3, 4}}  or  nn.Linear(4, 2).  Ctrl-D quits.",
  }, "\n")
end

-- The session's variables: the four modules and the run's config, over the globals.
function M.environment(cfg)
  local mnist = require "mnist"
  local lazy = require "mnist.lazy"
  lazy.load_all(lazy.load_all(mnist).nn) -- everything, for Tab completion and printing
  local env = {
    mnist = mnist,
    torch = require "mnist.torch",
    nn = mnist.nn,
    optim = mnist.optim,
    cfg = cfg,
  }
  return setmetatable(env, { __index = _G })
end

-- Values as the REPL shows them ------------------------------------------------------------------

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- A table as a literal, at most `depth` levels and MAX_ITEMS entries per level; anything with a
-- __tostring (tensors, modules) as tostring shows it.
local MAX_ITEMS = 30

local function show(v, depth, seen)
  local t = type(v)
  if t == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  local mt = getmetatable(v)
  if t ~= "table" or (mt and mt.__tostring) then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth <= 0 then return tostring(v) end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, math.min(n, MAX_ITEMS) do parts[#parts + 1] = show(v[i], depth - 1, seen) end
  local keys = {}
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do
    if #parts >= MAX_ITEMS then break end
    local key = is_identifier(k) and k or ("[" .. show(k, 0, seen) .. "]")
    parts[#parts + 1] = key .. " = " .. show(v[k], depth - 1, seen)
  end
  local hidden = n + #keys - #parts
  if hidden > 0 then parts[#parts + 1] = ("... (%d more)"):format(hidden) end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- How the REPL prints one value: strings as they are, the rest as `show` writes it.
function M.format(v)
  if type(v) == "string" then return v end
  return show(v, 3, {})
end

-- Evaluation --------------------------------------------------------------------------------------

-- A top-level `local` makes a session variable: `local x, y = ...` -> `x, y = ...`,
-- `local function f` -> `function f`.
local function session_locals(source)
  local rest = source:match("^%s*local%s+(.*)$")
  if not rest then return source end
  if rest:match("^function[%s(]") or rest:match("^[%a_][%w_]*%s*[,=]") or rest:match("^[%a_][%w_]*%s*$") then
    return rest
  end
  return source
end

-- Compiles `source` in env: as an expression when it is one (its value is printed), else as a
-- statement. Returns the function, or nil, the message and whether more lines may complete it.
function M.compile(source, env)
  source = session_locals(source)
  local f = loadstring("return " .. source, "=stdin")
  local err
  if not f then f, err = loadstring(source, "=stdin") end
  if not f then
    -- "unexpected symbol near '<eof>'", "'end' expected near '<eof>'": the statement goes on
    return nil, err, err:match("<eof>'?$") ~= nil
  end
  return setfenv(f, env)
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- Runs `source` in env. Returns true and the printed text (values separated by tabs, "" for
-- none), or false and the error message, or nil when the source is unfinished.
function M.eval(source, env)
  local f, err, incomplete = M.compile(source, env)
  if not f then
    if incomplete then return nil end
    return false, err
  end
  local results = pack(xpcall(f, function(e) return e end))
  if not results[1] then return false, tostring(results[2]) end
  local out = {}
  for i = 2, results.n do out[#out + 1] = M.format(results[i]) end -- `return nil` prints nil
  return true, table.concat(out, "\t")
end

-- Tab completion ----------------------------------------------------------------------------------

-- The names reachable from `v` by `.` or `:`: its fields, then its metatables' __index tables.
local function field_names(v, out, depth)
  if depth > 4 then return out end
  if type(v) == "table" then
    for k in pairs(v) do
      if type(k) == "string" then out[k] = true end
    end
  end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__index) == "table" then field_names(mt.__index, out, depth + 1) end
  return out
end

-- The completions of `word` (e.g. "mnist.ten", "net:for") in env, sorted.
function M.completions(env, word)
  local path, sep, partial = word:match("^(.-)([.:])([%w_]*)$")
  local scope = env
  if path then
    for name in path:gmatch("[^.:]+") do
      if not is_identifier(name) then return {} end
      local ok, v = pcall(function() return scope[name] end)
      if not ok or v == nil then return {} end
      scope = v
    end
  else
    partial, path, sep = word, "", ""
  end
  local names = field_names(scope, {}, 0)
  if scope == env then field_names(_G, names, 0) end
  local out = {}
  for name in pairs(names) do
    if name:sub(1, #partial) == partial and is_identifier(name) then out[#out + 1] = path .. sep .. name end
  end
  table.sort(out)
  return out
end

-- The session ------------------------------------------------------------------------------------

-- readline when stdin is a terminal and lua-readline is installed; history in `history_path`,
-- Tab completes names in `env`.
local function line_reader(history_path, env)
  local ok_term, term = pcall(require, "term")
  local tty = ok_term and term.isatty(io.stdin)
  local ok, readline = pcall(require, "readline")
  if not (tty and ok) then
    return function(prompt)
      if tty then io.stdout:write(prompt) io.stdout:flush() end
      return io.read("*l")
    end, function() end, tty and "no line editing: install Debian's lua-readline for it" or nil
  end
  readline.set_options { histfile = history_path or "", keeplines = M.HISTORY_LINES, completion = true }
  readline.set_complete_function(function(text, from, to) return M.completions(env, text:sub(from, to)) end)
  readline.set_completion_append_character("")
  return readline.readline, readline.save_history
end

-- `mnist.lua repl`: reads, evaluates and prints until end of input (Ctrl-D).
function M.run(cfg)
  local fs = require "mnist.fs"
  local env = M.environment(cfg)
  local history = fs.mkdir_p(cfg.artifact_dir) and (cfg.artifact_dir .. "/" .. M.HISTORY) or nil
  local read, save_history, note = line_reader(history, env)
  print(M.banner())
  if note then print("(" .. note .. ")") end
  local pending = nil
  while true do
    -- Ctrl-C raises "interrupted!" (LuaJIT's handler) wherever it lands: it drops the current
    -- input or computation, not the session
    local ok, stop = pcall(function()
      local line = read(pending and M.CONTINUE or M.PROMPT)
      if line == nil then return true end
      local source = pending and (pending .. "\n" .. line) or line
      if source:match("^%s*$") then pending = nil return false end
      local done, text = M.eval(source, env)
      if done == nil then
        pending = source
        return false
      end
      pending = nil
      if done then
        if text ~= "" then print(text) end
      else
        print(text)
      end
      return false
    end)
    if not ok then
      pending = nil
      local msg = tostring(stop)
      print(msg:match("interrupted!$") and "interrupted (Ctrl-C): input dropped" or msg)
    elseif stop then
      break
    end
  end
  io.stdout:write("\n")
  save_history()
end

return M
