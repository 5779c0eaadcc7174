/* fuzz_config: the settings a user gives, through the CLI's own path (cli.config_from_args, which
 * reads the override file with config.parse_file and checks every value with config.merge):
 *   first byte % 3 == 0: the rest is a JSON override file
 *                  == 1: the rest is a YAML override file
 *                  == 2: the rest is lines of --set key=value
 * A clean rejection is a "config: ..." or "usage: ..." error (internal Lua errors start with a
 * source position instead). A config that is accepted must hold only known keys, each of its
 * default's type. */
#include "lua_harness.h"

static const char *chunk =
    "local cli = require 'mnist.cli'\n"
    "local config = require 'mnist.config'\n"
    "local function clean(err)\n"
    "  if type(err) ~= 'string' then return false end\n"
    "  return err:sub(1, 8) == 'config: ' or err:sub(1, 7) == 'usage: '\n"
    "end\n"
    "return function(path, data)\n"
    "  local mode = data:byte(1) or 0\n"
    "  local args = { positional = {} }\n"
    "  if mode % 3 == 2 then\n"
    "    args.set = {}\n"
    "    for line in data:sub(2):gmatch('[^\\n]+') do\n"
    "      if #args.set == 16 then break end\n"
    "      args.set[#args.set + 1] = line\n"
    "    end\n"
    "  else\n"
    "    local f = assert(io.open(path, 'wb'))\n"
    "    f:write(data:sub(2))\n"
    "    f:close()\n"
    "    args.config_option = path\n"
    "  end\n"
    "  local ok, cfg = pcall(cli.config_from_args, args)\n"
    "  if not ok then\n"
    "    if not clean(cfg) then error('config_from_args: ' .. tostring(cfg), 0) end\n"
    "    return\n"
    "  end\n"
    "  for k, v in pairs(cfg) do\n"
    "    local d = config.defaults[k]\n"
    "    if d == nil or type(d) ~= type(v) then error('accepted a bad setting ' .. tostring(k), 0) end\n"
    "  end\n"
    "end\n";

static lua_State *L;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) L = lua_harness_open("fuzz_config", chunk);
    /* the file's extension decides the parser: the harness writes the same bytes under either */
    lua_harness_run(L, size > 0 && data[0] % 3 == 1 ? ".yml" : ".json", data, size);
    return 0;
}
