-- mnist.cli: the `mnist.lua` command line. Parses arguments, builds the run's config (defaults,
-- then an optional override file, then flags) and hands it to the module that does the work.
--
-- Exit codes: 0 success, 1 bad usage or input, 2 runtime failure, 130 training interrupted (a
-- checkpoint was written). Errors are one line; --debug shows the traceback.
local argparse = require "argparse"
local config = require "mnist.config"

local M = {}

M.EXIT_OK, M.EXIT_USAGE, M.EXIT_RUNTIME = 0, 1, 2

-- Error prefixes that mean "the user's input is wrong" (exit 1) rather than "the work failed".
local INPUT_ERRORS = { "usage", "config", "model", "preprocess_images", "preprocess_labels",
  "classifier", "weights", "checkpoint", "runs" }

-- A failure the caller caused; anything else that raises is a runtime failure.
function M.usage_error(msg)
  error("usage: " .. msg, 0)
end

local function flag_name(key)
  return "--" .. key:gsub("_", "-")
end

-- Converts a command-line string to the type of the setting's default.
local function convert(key, text)
  local default = config.defaults[key]
  if type(default) == "number" then
    local n = tonumber(text)
    if not n then M.usage_error(("%s expects a number, got '%s'"):format(flag_name(key), text)) end
    return n
  elseif type(default) == "boolean" then
    if text == "true" or text == "1" or text == "yes" then return true end
    if text == "false" or text == "0" or text == "no" then return false end
    M.usage_error(("%s expects true or false, got '%s'"):format(flag_name(key), text))
  elseif type(default) == "table" then
    local items = {}
    for item in text:gmatch("[^,]+") do items[#items + 1] = item end
    return items
  end
  return text
end

-- Settings given as a bare flag (--verbose), not --key <value>.
local BARE_FLAGS = { verbose = true }

-- Every config setting becomes a typed flag (--batch-size 128), plus --set key=value.
local function add_config_options(cmd)
  for _, field in ipairs(config.fields) do
    local key, default, description = field[1], field[2], field[3]
    local shown = type(default) == "table" and table.concat(default, ",") or tostring(default)
    if BARE_FLAGS[key] then
      cmd:flag(flag_name(key), description):target("set_" .. key)
    else
      cmd:option(flag_name(key), ("%s (default: %s)"):format(description, shown == "" and '""' or shown))
        :target("set_" .. key):argname("<value>")
    end
  end
  cmd:option("--set", "key=value, for any setting (repeatable)"):count("*"):argname("<key=value>")
  cmd:option("--config", "override file (YAML or JSON); may also be the first positional argument")
    :target("config_option")
end

local function is_config_path(path)
  return path and (path:match("%.ya?ml$") or path:match("%.json$")) ~= nil
end

-- The run's config from parsed arguments: file (positional or --config), then flags, then --set.
function M.config_from_args(args)
  local path = args.config_option
  if args.positional and args.positional[1] and is_config_path(args.positional[1]) then
    if path then M.usage_error("two config files given: " .. path .. " and " .. args.positional[1]) end
    path = table.remove(args.positional, 1)
  end
  local overrides = {}
  for _, field in ipairs(config.fields) do
    local key = field[1]
    local text = args["set_" .. key]
    if text == true then overrides[key] = true -- a bare flag
    elseif text ~= nil then overrides[key] = convert(key, text) end
  end
  for _, item in ipairs(args.set or {}) do
    local key, text = item:match("^([%w_%-]+)=(.*)$")
    if not key then M.usage_error(("--set expects key=value, got '%s'"):format(item)) end
    key = key:gsub("-", "_")
    if config.defaults[key] == nil then
      M.usage_error(("--set: unknown key '%s' (did you mean '%s'?)"):format(config.shorten(key), config.nearest_key(key)))
    end
    overrides[key] = convert(key, text)
  end
  return config.load(path, overrides, "command line"), path
end

-- The commands: name, description, extra arguments, and the function that runs it; `positional`
-- names a command's own positional arguments (the others take an optional config file).
local COMMANDS = {
  {
    "info", "Version, artifact dir, data and weights found, BLAS core and threads.",
    function(_) end,
    function(cfg) return M.info(cfg) end,
  },
  {
    "download", "Download and verify the data set into <artifact_dir>/data/<dataset>/.",
    function(_) end,
    function(cfg)
      local download = require "mnist.download"
      local _, details = download.fetch(cfg)
      for _, f in ipairs(download.FILES) do
        local d = details[f.key]
        print(("%s  %s  (%s)"):format(d.content_sha256, d.path, d.source))
      end
    end,
  },
  {
    "save-datasets", "Write the training record files (and their manifest) to the artifact dir.",
    function(_) end,
    function(cfg)
      local dataset = require "mnist.dataset"
      dataset.save_records(cfg)
      local paths = dataset.record_paths(cfg)
      print(("records: %s, %s\nmanifest: %s"):format(paths.train, paths.test, paths.manifest))
    end,
  },
  {
    "train", "Train the model; writes metrics, checkpoints, report.html and versioned weights.",
    function(cmd)
      cmd:flag("--resume", "continue from the last complete checkpoint of the same config")
      cmd:option("--run-id", "name of the run directory under <artifact_dir>/runs/")
    end,
    function(cfg, args) return require("mnist.train").run_cli(cfg, { resume = args.resume, run_id = args.run_id }) end,
  },
  {
    "evaluate", "Accuracy, loss and confusion matrix on the test split.",
    function(cmd)
      cmd:option("--weights", "classifier weights file (default: the pretrained weights)")
      cmd:option("--errors", "write a PNG grid of the misclassified test digits (true > predicted) to this file")
        :argname("<file.png>")
    end,
    function(cfg, args) return require("mnist.train").run_evaluate(cfg, { weights = args.weights, errors = args.errors }) end,
  },
  {
    "predict", "Classify pictures (PNG, JPEG, BMP, PGM, any size; photos too) or folders of them: one line each.",
    function(cmd)
      cmd:option("--weights", "classifier weights file (default: the pretrained weights)")
      cmd:flag("--json", "print a JSON array of {file, label, probabilities}, one record per line")
      cmd:flag("--show", "print the 28x28 input the model classified, as block art")
      cmd:option("--save-input", "write the 28x28 input the model classified to this PNG file"):argname("<file.png>")
      cmd:flag("--no-photo", "skip the photo clean-up (clean scans: the MNIST recipe alone)")
    end,
    function(cfg, args)
      if #args.positional == 0 then M.usage_error("predict needs at least one image file") end
      return require("mnist.predict").run(cfg, args.positional, { weights = args.weights, json = args.json,
        show = args.show, save_input = args.save_input, photo = not args.no_photo })
    end,
    positional = { "images", "image files (a leading .yml/.json is the config file)", "*" },
  },
  {
    "report", "Rebuild a run's report.html (default: the newest run) and print its path.",
    function(_) end,
    function(cfg, args) return require("mnist.report").run_cli(cfg, args.positional[1]) end,
    positional = { "run_id", "the run's id, as `mnist.lua runs` lists it", "?" },
  },
  {
    "runs", "List the runs: id, arch, date, epochs, best validation and test accuracy, time, status.",
    function(_) end,
    function(cfg) return require("mnist.runs").run_list(cfg) end,
  },
  {
    "diff", "Compare two runs: the settings that differ, then the metrics side by side.",
    function(_) end,
    function(cfg, args)
      if #args.positional ~= 2 then M.usage_error("diff needs two run ids (see mnist.lua runs)") end
      return require("mnist.runs").run_diff(cfg, args.positional[1], args.positional[2])
    end,
    positional = { "runs", "two run ids, as `mnist.lua runs` lists them", "*" },
  },
  {
    "repl", "An interactive LuaJIT with mnist, torch, nn and optim loaded; prints each value.",
    function(_) end,
    function(cfg) return require("mnist.repl").run(cfg) end,
  },
  {
    "deploy", "Upload the versioned weights, checksums and manifest to S3-compatible storage.",
    function(cmd) cmd:flag("--force", "overwrite a version that is already deployed") end,
    function(cfg, args) return require("mnist.deploy").run(cfg, { force = args.force }) end,
  },
}

-- `mnist.lua info`: what is installed and found, without changing anything.
function M.info(cfg)
  local core = require "mnist.core"
  local download = require "mnist.download"
  local dataset = require "mnist.dataset"
  local blas = core.blas_info()
  print(("mnist %s (LuaJIT, %s)"):format(require "mnist.version", jit and jit.version or _VERSION))
  print(("artifact dir: %s"):format(cfg.artifact_dir))
  local dir = config.data_dir(cfg)
  local found = {}
  for _, f in ipairs(download.FILES) do
    local state = "missing"
    for _, candidate in ipairs { dir .. "/" .. f.name .. ".gz", dir .. "/" .. f.name } do
      local handle = io.open(candidate, "rb")
      if handle then
        handle:close()
        local ok = download.verify(candidate, cfg.dataset, f.name)
        state = ok and "verified" or "FAILS VERIFICATION"
        break
      end
    end
    found[#found + 1] = ("%s %s"):format(f.name, state)
  end
  print(("data (%s): %s\n  %s"):format(cfg.dataset, dir, table.concat(found, "\n  ")))
  local records, why = dataset.open_records(cfg, { verify = false })
  print(("records: %s"):format(records and "present, headers checked" or ("not usable: " .. tostring(why))))
  print(("BLAS: OpenBLAS, core %s, %d threads; %d CPUs"):format(blas.core, blas.threads, core.cpu_count()))
  print(("kernels: gemm %s, direct convolution %s, 2x2 max pooling %s, activations %s"):format(blas.gemm,
    blas.conv_direct, blas.pool_2x2, blas.activations))
  print(("MPI: %s"):format(require("mnist.distributed").describe()))
  local pretrained = require "mnist.pretrained"
  for _, part in ipairs { "classifier", "features" } do
    local ok, path = pcall(pretrained.resolve, cfg, part)
    print(("weights (%s): %s"):format(part, ok and (path .. " (verified)") or tostring(path)))
  end
end

function M.parser()
  local version = require "mnist.version"
  local parser = argparse("mnist.lua", "A Torch-style MNIST pipeline for LuaJIT with a C core.")
    :command_target("command")
    :help_max_width(100)
  parser:flag("--version", "print the version and exit"):action(function()
    print(version)
    os.exit(0)
  end)
  for _, c in ipairs(COMMANDS) do
    local cmd = parser:command(c[1], c[2])
      :epilog("Settings: defaults live in lua/mnist/config.lua; a config file overrides them, flags override both.")
    if c.positional then
      cmd:argument(c.positional[1], c.positional[2]):args(c.positional[3]):target("positional")
    else
      cmd:argument("config", "config file (YAML or JSON)"):args("?"):target("positional")
    end
    cmd:flag("--debug", "show the Lua traceback on errors")
    c[3](cmd)
    add_config_options(cmd)
  end
  return parser
end

local function command(name)
  for _, c in ipairs(COMMANDS) do
    if c[1] == name then return c end
  end
end

local function is_input_error(msg)
  for _, prefix in ipairs(INPUT_ERRORS) do
    if msg:sub(1, #prefix + 1) == prefix .. ":" then return true end
  end
  return false
end

-- Runs the CLI on argv (a list of strings); returns the exit code. Output goes to io.stdout and
-- errors to io.stderr, one line each unless --debug.
function M.main(argv)
  -- a file-size limit makes a write fail with a clear error, not kill the process mid-run
  require("mnist.core").ignore_file_size_signal()
  local parser = M.parser()
  local ok, args = parser:pparse(argv)
  if not ok then
    io.stderr:write(("mnist.lua: %s\n%s"):format(args, parser:get_usage()), "\n")
    return M.EXIT_USAGE
  end
  if not args.command then
    io.stdout:write(parser:get_help(), "\n")
    return M.EXIT_USAGE
  end
  if type(args.positional) == "string" then args.positional = { args.positional } end
  args.positional = args.positional or {}
  local traceback
  local ok_run, err = xpcall(function()
    local cfg = M.config_from_args(args)
    if #args.positional > 0 and not command(args.command).positional then
      M.usage_error(("%s: '%s' is not a config file (.yml, .yaml or .json)"):format(args.command, args.positional[1]))
    end
    return command(args.command)[4](cfg, args)
  end, function(e)
    traceback = debug.traceback(tostring(e), 2)
    return e
  end)
  local world = require("mnist.distributed").current() -- under mpirun, once training started
  if ok_run then
    if world then world:finish() end
    return type(err) == "number" and err or M.EXIT_OK
  end
  local msg = tostring(err)
  local code = is_input_error(msg) and M.EXIT_USAGE or M.EXIT_RUNTIME
  if world and world.mpi then -- one line naming this rank, then every rank of the job ends now
    world:abort((msg:gsub("\n+$", "")), code)
  end
  io.stderr:write("mnist.lua ", args.command, ": ", msg:gsub("\n+$", ""), "\n")
  if args.debug then io.stderr:write(traceback, "\n") end
  return code
end

return M
