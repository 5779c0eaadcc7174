-- mnist.runs: the runs under <artifact_dir>/runs/, listed and compared (`mnist.lua runs`,
-- `mnist.lua diff A B`), and each run's run.json: its status and provenance.
--
-- run.json (rewritten whole, atomically, by the run's writer):
--   {"status": "running" | "finished" | "interrupted" | "failed", "message": why it stopped,
--    "pid": the writer, "started": ISO time, "updated": ISO time, "version", "git_commit",
--    "data": {IDX file: content SHA-256}, "weights": {file: SHA-256}, "test_accuracy",
--    "steps_per_epoch", "world_size", "kernels": the kernels' instruction set (mnist.artifacts)}
-- A "running" run whose process is gone was killed: it reads as interrupted (its last checkpoint
-- resumes it). Runs made before run.json existed get a status from their files.
local cjson = require "cjson"
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"

local M = {}

M.FILE = "run.json"

local function iso_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- The run.json of dir as a table ({} when missing or unreadable).
function M.read(dir)
  local t = fs.read_json(dir .. "/" .. M.FILE)
  return type(t) == "table" and t or {}
end

-- Merges `fields` into dir/run.json (the writer's pid and the time are added). Never raises: a
-- run must not fail because its status cannot be recorded; returns true, or nil and why.
function M.mark(dir, fields)
  local ok, err = pcall(function()
    local t = M.read(dir)
    for k, v in pairs(fields) do t[k] = v end
    t.started = t.started or iso_now()
    t.updated = iso_now()
    t.pid = fs.pid()
    local written, why = core.write_atomic(dir .. "/" .. M.FILE, fs.json(t) .. "\n")
    if not written then error(why, 0) end
  end)
  if not ok then return nil, tostring(err) end
  return true
end

-- The content SHA-256 of each IDX file behind cfg's record files (their manifest), or nil.
function M.data_hashes(cfg)
  local manifest = fs.read_json(require("mnist.dataset").record_paths(cfg).manifest)
  if type(manifest) ~= "table" or type(manifest.records) ~= "table" then return nil end
  local out = {}
  for _, split in ipairs { "train", "test" } do
    local sources = manifest.records[split] and manifest.records[split].sources or {}
    for _, part in ipairs { "images", "labels" } do
      local s = sources[part]
      if type(s) == "table" and s.file then out[(s.file:gsub("%.gz$", ""))] = s.content_sha256 end
    end
  end
  return out
end

-- {file name: SHA-256} of the weights a published manifest names.
function M.published_hashes(manifest_path)
  local manifest = fs.read_json(manifest_path)
  if type(manifest) ~= "table" or type(manifest.files) ~= "table" then return nil end
  local out = {}
  for name, f in pairs(manifest.files) do out[name] = f.sha256 end
  return out
end

-- The epochs of metrics.jsonl, in order (lines that do not parse are skipped).
function M.history(dir)
  local text = fs.read(dir .. "/metrics.jsonl") or ""
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local ok, record = pcall(cjson.decode, line)
    if ok and type(record) == "table" then out[#out + 1] = record end
  end
  return out
end

-- What one run directory says about itself: id, dir, config, history, info (run.json), status,
-- epochs_done, epochs, best_validation, test_accuracy, seconds, date.
function M.summary(dir, id)
  local cfg = fs.read_json(dir .. "/config.json")
  if type(cfg) ~= "table" then return nil, dir .. "/config.json: missing or not valid JSON" end
  local info = M.read(dir)
  local history = M.history(dir)
  local s = { id = id or dir:match("[^/]+$"), dir = dir, config = cfg, history = history, info = info,
    epochs_done = #history, epochs = cfg.epochs, seconds = 0 }
  for _, h in ipairs(history) do
    s.seconds = s.seconds + (h.seconds or 0)
    if h.validation_accuracy and (not s.best_validation or h.validation_accuracy > s.best_validation) then
      s.best_validation = h.validation_accuracy
    end
  end
  local last = history[#history]
  s.test_accuracy = info.test_accuracy or (last and last.test_accuracy)
  s.status = info.status
  if s.status == "running" and not fs.is_alive(info.pid) then
    s.status, s.note = "interrupted", "its process is gone"
  elseif not s.status then -- a run from before run.json
    if #history >= (cfg.epochs or 0) and #history > 0 then s.status = "finished"
    elseif fs.exists(dir .. "/checkpoint.safetensors") then s.status = "interrupted"
    else s.status = "unknown" end
  end
  s.date = info.started and info.started:gsub("T", " "):gsub("Z$", "") or "-"
  return s
end

-- The ids under cfg's runs directory, oldest first (ids begin with their date).
function M.ids(cfg)
  local runs = config.runs_dir(cfg)
  local ids = {}
  if not fs.is_dir(runs) then return ids end
  for _, name in ipairs(fs.list(runs) or {}) do
    if fs.exists(runs .. "/" .. name .. "/config.json") then ids[#ids + 1] = name end
  end
  return ids
end

-- The directory of run `id` (nil: the newest run). Raises naming the runs there when it is missing.
function M.find(cfg, id)
  local ids = M.ids(cfg)
  local runs = config.runs_dir(cfg)
  if not id then
    if #ids == 0 then error(("runs: no runs under %s (train one with: mnist.lua train)"):format(runs), 0) end
    return runs .. "/" .. ids[#ids], ids[#ids]
  end
  for _, known in ipairs(ids) do
    if known == id then return runs .. "/" .. id, id end
  end
  error(("runs: no run '%s' under %s (%s)"):format(config.shorten(id), runs,
    #ids > 0 and ("runs: " .. table.concat(ids, ", ", math.max(1, #ids - 9))) or "there are no runs"), 0)
end

-- Plain-text table: rows of cells, left-aligned columns separated by two spaces.
local function tabulate(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
  end
  local lines = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do cells[i] = i < #row and cell .. (" "):rep(widths[i] - #cell) or cell end
    lines[#lines + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  return table.concat(lines, "\n")
end

local function percent(x) return x and ("%.2f%%"):format(100 * x) or "-" end
local function number(x, fmt) return x and (fmt or "%.4f"):format(x) or "-" end

function M.format_duration(seconds)
  if not seconds then return "-" end
  if seconds < 60 then return ("%.1f s"):format(seconds) end
  return ("%d min %02d s"):format(math.floor(seconds / 60), math.floor(seconds % 60 + 0.5))
end

-- `mnist.lua runs`: one line per run, oldest first.
function M.format_list(summaries)
  local rows = { { "id", "arch", "started (UTC)", "epochs", "best val acc", "test acc", "time", "status" } }
  for _, s in ipairs(summaries) do
    rows[#rows + 1] = { s.id, config.model_label(s.config), s.date, ("%d/%d"):format(s.epochs_done, s.epochs or 0),
      percent(s.best_validation), percent(s.test_accuracy), M.format_duration(s.seconds), s.status }
  end
  return tabulate(rows)
end

function M.list(cfg)
  local out = {}
  for _, id in ipairs(M.ids(cfg)) do
    local s = M.summary(config.runs_dir(cfg) .. "/" .. id, id)
    if s then out[#out + 1] = s end
  end
  return out
end

local function show(v)
  if v == nil then return "-" end
  if type(v) == "table" then return #v == 0 and "[]" or table.concat(v, ",") end
  return tostring(v)
end

-- `mnist.lua diff A B`: the settings that differ, then the metrics side by side.
function M.format_diff(a, b)
  local lines = {}
  local rows = { { "setting", a.id, b.id } }
  for _, f in ipairs(config.fields) do
    local k = f[1]
    if k ~= "artifact_dir" and cjson.encode(a.config[k]) ~= cjson.encode(b.config[k]) then
      rows[#rows + 1] = { k, show(a.config[k]), show(b.config[k]) }
    end
  end
  lines[#lines + 1] = #rows > 1 and tabulate(rows) or "settings: the same"
  lines[#lines + 1] = ""
  local function info_of(s, k) return s.info[k] and tostring(s.info[k]) or "-" end
  rows = {
    { "metric", a.id, b.id },
    { "status", a.status, b.status },
    { "epochs", ("%d/%d"):format(a.epochs_done, a.epochs or 0), ("%d/%d"):format(b.epochs_done, b.epochs or 0) },
    { "best validation accuracy", percent(a.best_validation), percent(b.best_validation) },
    { "test accuracy", percent(a.test_accuracy), percent(b.test_accuracy) },
    { "training time", M.format_duration(a.seconds), M.format_duration(b.seconds) },
    { "version", info_of(a, "version"), info_of(b, "version") },
    { "git commit", info_of(a, "git_commit"):sub(1, 12), info_of(b, "git_commit"):sub(1, 12) },
  }
  lines[#lines + 1] = tabulate(rows)
  lines[#lines + 1] = ""
  rows = { { "epoch", "train loss", "", "val loss", "", "val acc", "", "test acc", "", "img/s", "" },
    { "", a.id, b.id, a.id, b.id, a.id, b.id, a.id, b.id, a.id, b.id } }
  for e = 1, math.max(#a.history, #b.history) do
    local x, y = a.history[e] or {}, b.history[e] or {}
    rows[#rows + 1] = { tostring(e), number(x.train_loss), number(y.train_loss), number(x.validation_loss),
      number(y.validation_loss), percent(x.validation_accuracy), percent(y.validation_accuracy),
      percent(x.test_accuracy), percent(y.test_accuracy), number(x.images_per_s, "%.0f"), number(y.images_per_s, "%.0f") }
  end
  lines[#lines + 1] = tabulate(rows)
  return table.concat(lines, "\n")
end

local function summary_of(cfg, id)
  local dir = M.find(cfg, id)
  local s, why = M.summary(dir, id)
  if not s then error("runs: " .. why, 0) end
  return s
end

-- The CLI commands.
function M.run_list(cfg)
  local list = M.list(cfg)
  if #list == 0 then
    print(("no runs under %s (train one with: mnist.lua train)"):format(config.runs_dir(cfg)))
    return
  end
  print(M.format_list(list))
end

function M.run_diff(cfg, a, b)
  print(M.format_diff(summary_of(cfg, a), summary_of(cfg, b)))
end

return M
