-- mnist.artifacts: the versioned weight files a training run publishes, and their manifest.
--
-- In <artifact_dir>/weights/ (config.weights_dir: weights/<arch>/ for an arch other than the
-- default model, so each arch has its own files and manifest), for rock version V:
--   mnist-classifier-V.safetensors   the whole network (features.* and head.*)
--   mnist-features-V.safetensors     the feature extractor alone (features.*), for transfer learning
--   each with a .sha256 beside it, and manifest.json:
--   {"version": V, "arch": ..., "files": {name: {"sha256": hex, "bytes": n, "tensors_sha256": hex}},
--    "test_accuracy": ...,
--    "created": ISO time, "git_commit": ..., "config": {identity settings},
--    "kernels": the kernels' instruction set (avx512, avx2, neon, generic: `mnist.lua info`'s
--    "kernels: gemm ..."), which with the code, the config and its threads decides the bits}
-- The files are staged first, then the manifest is removed, the files committed, and the manifest
-- written last: a full disk changes nothing, and a crash never leaves a manifest naming other files.
--
-- Many processes may share one artifact dir. weights/.lock orders them (mnist.fs locks: fcntl, so a
-- killed holder never leaves it locked): a publisher (this module, mnist.deploy's fetch) commits
-- the set under the exclusive lock, and a reader (mnist.pretrained) reads the manifest and the file
-- under the shared lock, so it sees the old set or the new one, whole. We lock rather than publish
-- each set into a new directory behind an atomically swapped symlink: the file names stay those
-- that `make shipped`, `deploy` and users' scripts know, and nothing is left to garbage-collect;
-- the commit under the lock is three renames and a small write, so readers wait milliseconds.
local lfs = require "lfs"
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"
local version = require "mnist.version"
local weights = require "mnist.weights"

local M = {}

M.PARTS = { "classifier", "features" }
M.MANIFEST = "manifest.json"

function M.file_name(part, v)
  return ("mnist-%s-%s.safetensors"):format(part, v or version)
end

M.LOCK = ".lock"

-- Runs fn(...) holding the shared lock of the weights in dir: no publisher replaces them meanwhile.
function M.reading(dir, fn, ...)
  return fs.with_lock(dir .. "/" .. M.LOCK, "r", nil, fn, ...)
end

-- Runs fn(...) holding the exclusive lock of the weights in dir (waiting for readers to finish and
-- for another publisher, whom it names on stderr).
function M.publishing(dir, fn, ...)
  return fs.with_lock(dir .. "/" .. M.LOCK, "w", { on_wait = function(holder)
    io.stderr:write(("mnist: waiting for %s, which holds the weights in %s\n"):format(holder, dir))
  end }, fn, ...)
end

local function first_line(path)
  local text = fs.read(path)
  return text and text:match("^([^\n]*)")
end

local function absolute(path, base)
  return path:sub(1, 1) == "/" and path or base .. "/" .. path
end

-- The git directory of the checkout holding dir: dir/.git, or the one a worktree's .git file names.
local function git_dir(dir)
  while dir and dir ~= "" do
    local dotgit = dir .. "/.git"
    if fs.is_dir(dotgit) then return dotgit end
    local target = fs.exists(dotgit) and (first_line(dotgit) or ""):match("^gitdir: (.+)$")
    if target then return absolute(target, dir) end
    dir = dir:match("^(.*)/[^/]*$")
  end
end

-- HEAD's commit, read from the git directory in-process (a detached HEAD, or a branch's loose or
-- packed ref, in the worktree's or the common git dir); nil for what that does not cover.
local function read_head(gitdir)
  local head = first_line(gitdir .. "/HEAD") or ""
  if head:match("^%x+$") and #head >= 40 then return head end
  local ref = head:match("^ref: (%S+)$")
  if not ref then return nil end
  local common = first_line(gitdir .. "/commondir")
  common = common and absolute(common, gitdir) or gitdir
  for _, base in ipairs { gitdir, common } do
    local hash = first_line(base .. "/" .. ref)
    if hash and hash:match("^%x+$") and #hash >= 40 then return hash end
  end
  for line in (fs.read(common .. "/packed-refs") or ""):gmatch("[^\n]+") do
    local hash, name = line:match("^(%x+) (%S+)$")
    if name == ref then return hash end
  end
end

-- The commit of the checkout this code runs from, when it is one: read in-process, through
-- `git rev-parse` only when the repository's layout is one read_head does not know.
function M.git_commit()
  local source = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
  if not source then return nil end
  local gitdir = git_dir(absolute(source, lfs.currentdir()))
  if not gitdir then return nil end
  local commit = read_head(gitdir)
  if commit then return commit end
  local out, rc = fs.capture(("git -C %s rev-parse HEAD"):format(fs.quote(source)))
  commit = out:match("^(%x+)%s*$")
  return rc == 0 and commit or nil
end

-- The tensors of `net` that belong in the file of `part`.
function M.part_tensors(net, part)
  local out = {}
  for _, pair in ipairs(net:namedTensors()) do
    if part == "classifier" or pair[1]:match("^features%.") then out[#out + 1] = pair end
  end
  return out
end

-- SHA-256 over the tensors' names and bytes in file order: equal for a bitwise rebuild, whatever
-- the metadata (the git commit, the time) says.
function M.tensors_sha256(named)
  local parts = {}
  for _, pair in ipairs(named) do
    parts[#parts + 1] = pair[1] .. "\0"
    parts[#parts + 1] = pair[2] -- hashed in place
  end
  return core.sha256(parts)
end

-- Writes both weight files of the trained classifier `net` and the manifest. info: test_accuracy,
-- test_loss, epochs, run_id, data (hashes of the data files). Returns the paths.
function M.publish(net, cfg, info)
  local dir = config.weights_dir(cfg)
  local ok, err = fs.mkdir_p(dir)
  if not ok then error("artifacts: cannot create " .. tostring(err), 0) end
  local commit = M.git_commit()
  local identity = config.identity(cfg)
  local arch, model_file = net.arch or cfg.arch, net.model_file -- a model file's name and SHA-256
  local manifest = {
    version = version, arch = arch, model_file = model_file, files = {}, test_accuracy = info.test_accuracy,
    test_loss = info.test_loss, epochs = info.epochs, seed = cfg.seed, run_id = info.run_id,
    created = os.date("!%Y-%m-%dT%H:%M:%SZ"), git_commit = commit, config = identity,
    data = info.data, world_size = info.world_size, kernels = core.blas_info().gemm,
  }
  -- every file is staged first (a full disk fails here and changes nothing); then the manifest
  -- goes, the files move into place, and a new manifest comes last: a crash in between leaves no
  -- manifest (the weights are then "not published"), never one naming other files
  local staged, paths, owned = {}, {}, { owner = fs.pid() }
  for _, part in ipairs(M.PARTS) do
    local name = M.file_name(part)
    local path = dir .. "/" .. name
    local named = M.part_tensors(net, part)
    local ok_stage, staged_or_err, hex = pcall(weights.stage, path, named, {
      format = "mnist-weights-1", version = version, part = part, arch = arch,
      model_file = model_file and model_file.path, model_file_sha256 = model_file and model_file.sha256,
      config = identity, data = info.data or {}, seed = cfg.seed, epochs = info.epochs,
      test_accuracy = info.test_accuracy, git_commit = commit or "unknown",
      world_size = info.world_size, -- the processes that trained it (mpirun -np N; 1 alone)
      kernels = manifest.kernels,
    }, owned)
    if not ok_stage then
      for _, s in ipairs(staged) do os.remove(weights.staged_path(s.path, owned)) end
      error("artifacts: cannot publish the weights (the published ones are untouched): " .. tostring(staged_or_err), 0)
    end
    staged[#staged + 1] = { path = path, name = name, hex = hex, part = part,
      tensors_sha256 = M.tensors_sha256(named) }
  end
  M.publishing(dir, function()
    os.remove(dir .. "/" .. M.MANIFEST)
    fs.remove_stale_parts(dir) -- what killed publishers staged
    for _, s in ipairs(staged) do
      weights.commit(s.path, s.hex, owned)
      manifest.files[s.name] = { sha256 = s.hex, bytes = fs.size(s.path), tensors_sha256 = s.tensors_sha256 }
      paths[s.part] = s.path
    end
    ok, err = core.write_atomic(dir .. "/" .. M.MANIFEST, fs.json(manifest) .. "\n")
    if not ok then error("artifacts: cannot write the manifest: " .. tostring(err), 0) end
  end)
  paths.manifest = dir .. "/" .. M.MANIFEST
  return paths
end

-- The manifest at dir/manifest.json, or nil and why not.
function M.read_manifest(dir)
  local path = dir .. "/" .. M.MANIFEST
  if not fs.exists(path) then return nil, path .. ": missing" end
  local manifest = fs.read_json(path)
  if type(manifest) ~= "table" or type(manifest.files) ~= "table" then
    return nil, path .. ": not a valid manifest"
  end
  return manifest
end

return M
