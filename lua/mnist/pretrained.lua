-- mnist.pretrained: finds the published weights of this version and loads them into a model.
--
-- `pretrained = true` looks, in order, in:
--   1. the artifact dir: <artifact_dir>/weights/ (what `mnist.lua train` wrote, or a download cache)
--   2. the weights shipped with the rock: mnist/shipped/ beside this module (the default model's;
--      another arch's in mnist/shipped/<arch>/, as in the artifact dir)
--   3. the configured remote, cfg.weights_url (http(s):// or s3://), downloaded into the artifact dir
-- A file is used only when its SHA-256 matches its manifest; a tampered or truncated file is
-- refused with an error naming both hashes. `weights = "file.safetensors"` loads that file
-- (checked against a .sha256 beside it when there is one).
local config = require "mnist.config"
local artifacts = require "mnist.artifacts"
local version = require "mnist.version"
local weights = require "mnist.weights"

local M = {}

local function fail(fmt, ...)
  error("weights: " .. fmt:format(...), 0)
end

-- Where the rock's own weights of `arch` are: mnist/shipped/ next to this file for the default
-- model, mnist/shipped/<arch>/ for another, in a checkout and installed.
function M.shipped_dir(arch)
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  return (arch == nil or arch == "default") and here .. "/shipped" or here .. "/shipped/" .. arch
end

-- The path of `part` for `arch` in dir and the SHA-256 dir's manifest gives it, or nil and why
-- not. The caller checks the file against that hash (weights.verify, or weights.load as it reads).
local function listed_in(dir, part, arch)
  local name = artifacts.file_name(part)
  local path = dir .. "/" .. name
  local f = io.open(path, "rb")
  if not f then return nil, path .. ": missing" end
  f:close()
  local manifest, why = artifacts.read_manifest(dir)
  if not manifest then return nil, why end
  if manifest.arch and manifest.arch ~= arch then
    return nil, ("%s: made for arch '%s'"):format(path, tostring(manifest.arch))
  end
  local entry = manifest.files[name]
  if type(entry) ~= "table" or type(entry.sha256) ~= "string" then
    return nil, dir .. "/manifest.json: does not list " .. name
  end
  return path, entry.sha256
end

-- The weights of `part` found locally: in the artifact dir (read under its shared lock, so a
-- process publishing new weights meanwhile is never seen half done), then the shipped ones. Returns
-- {path, tensors, metadata} (tensors and metadata only when `load`: true, or name -> tensor to
-- read into, weights.load's `into`), or nil and the places tried.
local function find_local(cfg, part, load)
  local tried, arch = {}, require("mnist.model").arch_name(cfg) -- a model file's own name
  local function look(dir)
    local path, sha256 = listed_in(dir, part, arch)
    if not path then
      tried[#tried + 1] = sha256
      return nil
    end
    -- a file that does not match raises (never falls through to a tampered file silently)
    if not load then
      weights.verify(path, sha256)
      return { path = path }
    end
    local tensors, metadata = weights.load(path, { sha256 = sha256, into = type(load) == "table" and load or nil }) -- one read, one hash
    return { path = path, tensors = tensors, metadata = metadata }
  end
  local dir, base = config.weights_dir(cfg), cfg.artifact_dir .. "/weights"
  local found = artifacts.reading(dir, look, dir)
  if not found and dir ~= base then -- published before each arch had a folder of its own
    found = artifacts.reading(base, look, base)
  end
  return found or look(M.shipped_dir(arch)), tried
end

-- find_local, then the remote (fetched into the artifact dir, then read from there).
local function find(cfg, part, load)
  local arch = require("mnist.model").arch_name(cfg)
  local found, tried = find_local(cfg, part, load)
  if found then return found end
  if cfg.weights_url ~= "" then
    local deploy = require "mnist.deploy"
    deploy.fetch(cfg, config.weights_dir(cfg)) -- verifies every file against the remote manifest
    local again, why = find_local(cfg, part, load)
    if again then return again end
    tried[#tried + 1] = cfg.weights_url .. ": " .. tostring(why[1])
  else
    tried[#tried + 1] = "remote: weights_url is not set"
  end
  local recipe = ({ default = "config/pipeline.yml", fast = "config/fast.yml", best = "config/best.yml" })[arch]
  fail("no pretrained %s weights for version %s, arch %s; looked in: %s. Train them with " ..
    "`mnist.lua train %s`, or set weights_url.", part, version, arch,
    table.concat(tried, "; "), recipe or (cfg.model_file ~= "" and "--set model_file=" .. cfg.model_file)
      or ("--arch " .. arch))
end

-- The path of the verified weight file of `part` ("classifier" or "features") for this version.
function M.resolve(cfg, part)
  return find(cfg, part, false).path
end

-- Loads weights into net (a model from mnist.model): opts.weights (a file) or the pretrained ones.
-- A features model takes the features.* tensors of a classifier file too. Returns the metadata.
-- A refused file leaves net as it was, unless `fresh` (a net just built, dropped when this fails:
-- its tensors are then read into straight from the file, without a second copy of the weights).
function M.load(net, cfg, opts, fresh)
  local path, tensors, metadata = opts.weights, nil, nil
  local into = fresh and {} or nil -- name -> the fresh net's tensor
  for _, entry in ipairs(fresh and net:namedTensors() or {}) do into[entry[1]] = entry[2] end
  if path then
    tensors, metadata = weights.load(path, { sha256 = weights.read_checksum(path), into = into })
  else
    local found = find(cfg, net.part, into or true)
    path, tensors, metadata = found.path, found.tensors, found.metadata
  end
  if metadata.arch and metadata.arch ~= net.arch then
    fail("%s: made for arch '%s', this model is '%s' (set %s = \"%s\")", path, metadata.arch,
      net.arch, metadata.model_file and "model_file" or "arch", metadata.model_file or metadata.arch)
  end
  local now = net.model_file and net.model_file.sha256
  if metadata.model_file_sha256 and now and metadata.model_file_sha256 ~= now then
    io.stderr:write(("weights: %s: made with %s of SHA-256 %s; %s is now %s (loaded: the tensors fit)\n"):format(
      path, tostring(metadata.model_file), metadata.model_file_sha256, net.model_file.path, now))
  end
  weights.assign(net:namedTensors(), tensors, path, { partial = net.part == "features" })
  net:evaluate()
  return metadata
end

return M
