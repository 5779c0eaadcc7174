-- The config fuzz target's check (fuzz/fuzz_config.c runs it under libFuzzer;
-- spec/hostile_files_spec.lua replays the inputs it found): the settings a user gives, through
-- the CLI's own path (cli.config_from_args: config.parse_file reads the override file,
-- config.merge checks every value). The first byte of the input picks what the rest is:
--   % 3 == 0: a JSON override file    == 1: a YAML override file    == 2: lines of --set key=value
-- A clean rejection is a "config: ..." or "usage: ..." error (internal Lua errors start with a
-- source position instead). A config that is accepted must hold only known keys, each of its
-- default's type.
local cli = require "mnist.cli"
local config = require "mnist.config"

local M = {}

local function clean(err)
  return type(err) == "string" and (err:sub(1, 8) == "config: " or err:sub(1, 7) == "usage: ")
end

-- The override file's extension decides the parser.
function M.suffix(data)
  return (data:byte(1) or 0) % 3 == 1 and ".yml" or ".json"
end

-- path: a file holding data (rewritten here with the override file's bytes). Raises only on a
-- finding.
function M.check(path, data)
  local args = { positional = {} }
  if (data:byte(1) or 0) % 3 == 2 then
    args.set = {}
    for line in data:sub(2):gmatch("[^\n]+") do
      if #args.set == 16 then break end
      args.set[#args.set + 1] = line
    end
  else
    local f = assert(io.open(path, "wb"))
    f:write(data:sub(2))
    f:close()
    args.config_option = path
  end
  local ok, cfg = pcall(cli.config_from_args, args)
  if not ok then
    if not clean(cfg) then error("config_from_args: " .. tostring(cfg), 0) end
    return
  end
  for k, v in pairs(cfg) do
    local d = config.defaults[k]
    if d == nil or type(d) ~= type(v) then error("accepted a bad setting " .. tostring(k), 0) end
  end
end

return M
