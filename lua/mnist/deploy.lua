-- mnist.deploy: versioned weights to and from S3-compatible storage or a plain web server.
--
--   deploy.run(cfg, {force = false})  -- uploads <weights_dir>/ for this rock version; returns URLs
--   deploy.fetch(cfg, dest_dir)       -- cfg.weights_url/<version>/ into dest_dir, verified
--
-- Remote layout, for rock version V: <prefix>/<V>/manifest.json (another arch than the default
-- model: <prefix>/<V>/<arch>/, as the artifact dir's weights/<arch>/), and beside it every file the
-- manifest lists (mnist-classifier-V.safetensors, mnist-features-V.safetensors) with its .sha256.
-- The manifest is {"version": V, "files": {name: {"sha256": hex, "bytes": n}}, ...}; it is written
-- last, so a version whose manifest is visible is complete and verified.
--
-- S3 requests are signed (SigV4) by curl. Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
-- (+ AWS_SESSION_TOKEN), else the [AWS_PROFILE or default] profile of AWS_SHARED_CREDENTIALS_FILE
-- or ~/.aws/credentials. They never appear in output, errors or a process's command line.
-- Errors are one line starting with "deploy:".
local cjson = require "cjson"
local core = require "mnist.core"
local config = require "mnist.config"
local fs = require "mnist.fs"
local http = require "mnist.http"
local weights = require "mnist.weights"

local M = {}

M.MANIFEST = "manifest.json"
M.MAX_MANIFEST_BYTES = 1024 * 1024
M.EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

-- The weight files a release of `version` must have.
function M.file_names(version)
  return { ("mnist-classifier-%s.safetensors"):format(version), ("mnist-features-%s.safetensors"):format(version) }
end

local function fail(msg, ...)
  error("deploy: " .. msg:format(...), 0)
end

-- Error text with any secret of `creds` masked, as a last guard.
local function scrub(text, creds)
  if creds then
    for _, secret in ipairs{ creds.secret_key, creds.session_token } do
      if secret and #secret > 0 then
        text = text:gsub(secret:gsub("%W", "%%%0"), "***")
      end
    end
  end
  return text
end

local read_file, file_exists, sorted_keys = fs.read, fs.exists, fs.sorted_keys

-- Credentials ---------------------------------------------------------------------------------

-- The named profile's keys from an AWS shared credentials file, or nil.
local function read_profile(path, profile)
  local f = io.open(path, "r")
  if not f then return nil end
  local values, section = {}, nil
  for line in f:lines() do
    local name = line:match("^%s*%[%s*(.-)%s*%]%s*$")
    if name then
      section = name
    elseif section == profile and not line:match("^%s*[#;]") then
      local key, value = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if key then values[key:lower()] = value end
    end
  end
  f:close()
  if values.aws_access_key_id and values.aws_secret_access_key then
    return { access_key = values.aws_access_key_id, secret_key = values.aws_secret_access_key,
      session_token = values.aws_session_token,
      source = ("%s [%s]"):format(path, profile) }
  end
end

-- {access_key, secret_key, session_token?, source} from the environment or the shared
-- credentials file; nil and where it looked when there are none.
function M.credentials()
  local id, secret = os.getenv("AWS_ACCESS_KEY_ID"), os.getenv("AWS_SECRET_ACCESS_KEY")
  if id and id ~= "" and secret and secret ~= "" then
    local token = os.getenv("AWS_SESSION_TOKEN")
    return { access_key = id, secret_key = secret, session_token = token ~= "" and token or nil,
      source = "environment" }
  end
  local path = os.getenv("AWS_SHARED_CREDENTIALS_FILE")
  if not path or path == "" then path = (os.getenv("HOME") or ".") .. "/.aws/credentials" end
  local profile = os.getenv("AWS_PROFILE")
  if not profile or profile == "" then profile = "default" end
  local creds = read_profile(path, profile)
  if creds then return creds end
  return nil, ("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and %s has no [%s] profile with both keys"):format(path, profile)
end

-- S3 addressing -------------------------------------------------------------------------------

local function trim_slashes(s)
  return (s:gsub("^/+", ""):gsub("/+$", ""))
end

local function join_key(...)
  local parts = {}
  for _, p in ipairs{ ... } do
    p = trim_slashes(p)
    if p ~= "" then parts[#parts + 1] = p end
  end
  return table.concat(parts, "/")
end

-- "/<arch>" for an arch other than the default model (its own remote folder), else "".
local function arch_suffix(cfg)
  local arch = config.arch_name(cfg)
  return arch == "default" and "" or "/" .. arch
end


-- A bucket on an endpoint: {endpoint, bucket, prefix, region}. Path-style URLs, which every
-- S3-compatible server understands; the endpoint defaults to AWS's for the region.
function M.s3_target(cfg, bucket, prefix)
  local endpoint = cfg.s3_endpoint ~= "" and cfg.s3_endpoint or ("https://s3.%s.amazonaws.com"):format(cfg.s3_region)
  endpoint = endpoint:gsub("/+$", "")
  if not endpoint:match("^https?://[^/]+") then
    fail("s3_endpoint '%s' must be an http:// or https:// URL", endpoint)
  end
  if not bucket or bucket == "" then
    fail("s3_bucket is not set (config key s3_bucket, or --s3-bucket)")
  end
  if not bucket:match("^[%w][%w.%-_]*$") then fail("s3_bucket '%s' is not a valid bucket name", bucket) end
  return { endpoint = endpoint, bucket = bucket, prefix = trim_slashes(prefix or ""), region = cfg.s3_region }
end

function M.s3_url(target, key)
  return ("%s/%s/%s"):format(target.endpoint, target.bucket, http.encode(key, true))
end

function M.s3_uri(target, key)
  return ("s3://%s/%s"):format(target.bucket, key)
end

-- One S3 request (http.request options, plus key: the object key, or "" for the bucket), signed
-- with creds when given. x-amz-content-sha256 is always sent: it signs the payload, and S3
-- servers insist on it.
function M.s3_request(target, creds, opts, cfg)
  local req = {}
  for k, v in pairs(opts) do req[k] = v end
  req.url = opts.key == "" and ("%s/%s"):format(target.endpoint, target.bucket) or M.s3_url(target, opts.key)
  req.timeout = req.timeout or (cfg and cfg.download_timeout)
  req.retries = req.retries or (cfg and cfg.download_retries)
  if creds then
    local payload = M.EMPTY_SHA256
    if opts.upload then
      payload = core.sha256_file(opts.upload) or fail("%s: cannot read", opts.upload)
    end
    req.headers = { "x-amz-content-sha256: " .. payload }
    for _, h in ipairs(opts.headers or {}) do req.headers[#req.headers + 1] = h end
    req.netrc = { host = http.host(target.endpoint), login = creds.access_key, password = creds.secret_key }
    req.aws_sigv4 = ("aws:amz:%s:s3"):format(target.region)
    if creds.session_token then req.secret_headers = { "x-amz-security-token: " .. creds.session_token } end
  end
  return http.request(req)
end

-- What to do about an S3 error code.
local HINTS = {
  SignatureDoesNotMatch = "check AWS_SECRET_ACCESS_KEY",
  InvalidAccessKeyId = "check AWS_ACCESS_KEY_ID",
  AccessDenied = "these credentials may not do this",
  NoSuchBucket = "create the bucket first, or fix s3_bucket",
  AuthorizationHeaderMalformed = "check s3_region",
  RequestTimeTooSkewed = "check the system clock",
  ExpiredToken = "refresh AWS_SESSION_TOKEN",
  InvalidToken = "check AWS_SESSION_TOKEN",
}

-- "deploy: <where>: 403 Forbidden (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY".
local function fail_response(where, res, creds)
  local msg = http.describe(res)
  local body = res.body or ""
  local code = body:match("<Code>(.-)</Code>")
  if code then
    local hint = HINTS[code]
    if hint and creds and creds.source ~= "environment" then
      hint = hint:gsub("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key in " .. creds.source)
                 :gsub("AWS_ACCESS_KEY_ID", "aws_access_key_id in " .. creds.source)
    end
    local server = body:match("<Message>(.-)</Message>")
    msg = ("%s (%s): %s"):format(msg, code, hint or server or "see the server's logs")
  elseif res.status == 403 and not creds then
    msg = msg .. ": no credentials were sent (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
  end
  fail("%s: %s", where, scrub(msg, creds):gsub("[\r\n]+", " "))
end

-- Manifests -----------------------------------------------------------------------------------

-- Checks a decoded manifest for `version`; `where` names it in errors. Returns it.
function M.check_manifest(manifest, version, where)
  if type(manifest) ~= "table" then fail("%s: not a JSON object", where) end
  if manifest.version ~= version then
    fail("%s: manifest is for version %s, this rock is %s", where, tostring(manifest.version), version)
  end
  if type(manifest.files) ~= "table" or next(manifest.files) == nil then
    fail("%s: manifest lists no files", where)
  end
  for name, info in pairs(manifest.files) do
    if type(name) ~= "string" or not name:match("^[%w][%w._%-]*$") or name:find("..", 1, true)
       or name == M.MANIFEST then
      fail("%s: manifest lists an invalid file name '%s'", where, tostring(name))
    end
    if type(info) ~= "table" or type(info.sha256) ~= "string" or not info.sha256:match("^%x+$")
       or #info.sha256 ~= 64 then
      fail("%s: manifest entry '%s' has no valid sha256", where, name)
    end
    if type(info.bytes) ~= "number" or info.bytes < 0 or info.bytes ~= math.floor(info.bytes) then
      fail("%s: manifest entry '%s' has no valid byte count", where, name)
    end
    info.sha256 = info.sha256:lower()
  end
  return manifest
end

local function decode_manifest(text, version, where)
  local ok, manifest = pcall(cjson.decode, text)
  if not ok then fail("%s: not valid JSON (%s)", where, tostring(manifest)) end
  return M.check_manifest(manifest, version, where)
end

-- Checks one local file against its manifest entry and its .sha256 sidecar.
local function verify_local(path, info)
  local actual, err = core.sha256_file(path)
  if not actual then fail("%s: cannot read (%s)", path, tostring(err)) end
  if actual ~= info.sha256 then
    fail("%s: SHA-256 is %s, the manifest says %s: the file changed after the manifest was written", path, actual, info.sha256)
  end
  local size = #read_file(path)
  if size ~= info.bytes then
    fail("%s: %d bytes, the manifest says %d", path, size, info.bytes)
  end
  local sidecar = weights.read_checksum(path)
  if not sidecar then fail("%s: missing", weights.checksum_path(path)) end
  if sidecar:lower() ~= actual then
    fail("%s: says %s, the file's SHA-256 is %s", weights.checksum_path(path), sidecar, actual)
  end
end

-- deploy.run ----------------------------------------------------------------------------------

-- Downloads key into a temp file and checks its SHA-256; fails naming both hashes.
local function verify_remote(target, creds, cfg, key, expected)
  local tmp = os.tmpname()
  local res = M.s3_request(target, creds, { key = key, output = tmp }, cfg)
  if not http.ok(res) then
    os.remove(tmp)
    fail_response(M.s3_uri(target, key) .. " (reading back)", res, creds)
  end
  local actual = core.sha256_file(tmp)
  os.remove(tmp)
  if actual ~= expected then
    fail("%s: read back with SHA-256 %s, uploaded %s: the upload was corrupted", M.s3_uri(target, key), tostring(actual), expected)
  end
end

local function upload(target, creds, cfg, key, path, content_type)
  local res = M.s3_request(target, creds, { method = "PUT", key = key, upload = path,
    headers = { "Content-Type: " .. content_type } }, cfg)
  if not http.ok(res) then fail_response(M.s3_uri(target, key), res, creds) end
end

-- Uploads the weights of this rock version from config.weights_dir(cfg) to
-- s3://<s3_bucket>/<s3_prefix>/<version>/, verifying before and after. opts.force overwrites a
-- deployed version; opts.log (default print) receives the progress lines. Returns
-- {weights_url = "s3://bucket/prefix", version = V, objects = {[file name] = {s3 = uri, url = url}}}.
function M.run(cfg, opts)
  opts = opts or {}
  local log = opts.log or print
  local version = require "mnist.version"
  local dir = config.weights_dir(cfg)
  local manifest_path = dir .. "/" .. M.MANIFEST
  local text = read_file(manifest_path)
  if not text then
    fail("%s: not found: train first (mnist.lua train) to write the weights of version %s", manifest_path, version)
  end
  local manifest = decode_manifest(text, version, manifest_path)
  for _, name in ipairs(M.file_names(version)) do
    if not manifest.files[name] then fail("%s: does not list %s", manifest_path, name) end
  end
  local names = sorted_keys(manifest.files)
  for _, name in ipairs(names) do verify_local(dir .. "/" .. name, manifest.files[name]) end

  local creds, why = M.credentials()
  if not creds then fail("no AWS credentials: %s", why) end
  local target = M.s3_target(cfg, cfg.s3_bucket, cfg.s3_prefix)
  local base = join_key(target.prefix, version) .. arch_suffix(cfg)
  local manifest_key = base .. "/" .. M.MANIFEST

  -- A visible manifest means the version is deployed: refuse, or hide it while files change.
  local res = M.s3_request(target, creds, { key = manifest_key, max_bytes = M.MAX_MANIFEST_BYTES }, cfg)
  if http.ok(res) then
    if not opts.force then
      fail("%s is already deployed (%s exists); use --force to overwrite it", M.s3_uri(target, base .. "/"), M.MANIFEST)
    end
    local del = M.s3_request(target, creds, { method = "DELETE", key = manifest_key }, cfg)
    if not http.ok(del) then fail_response(M.s3_uri(target, manifest_key), del, creds) end
  elseif not (res.status == 404 and (res.body or ""):match("<Code>NoSuchKey</Code>")) then
    fail_response(M.s3_uri(target, manifest_key), res, creds)
  end

  local result = { weights_url = ("s3://%s/%s"):format(target.bucket, target.prefix):gsub("/$", ""),
    version = version, objects = {} }
  local function record(name)
    local key = base .. "/" .. name
    result.objects[name] = { s3 = M.s3_uri(target, key), url = M.s3_url(target, key) }
  end
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    upload(target, creds, cfg, base .. "/" .. name, path, "application/octet-stream")
    upload(target, creds, cfg, base .. "/" .. name .. ".sha256", weights.checksum_path(path), "text/plain")
    record(name)
    record(name .. ".sha256")
  end
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    verify_remote(target, creds, cfg, base .. "/" .. name, manifest.files[name].sha256)
    verify_remote(target, creds, cfg, base .. "/" .. name .. ".sha256", core.sha256_file(weights.checksum_path(path)))
  end
  upload(target, creds, cfg, manifest_key, manifest_path, "application/json")
  verify_remote(target, creds, cfg, manifest_key, core.sha256(text))
  record(M.MANIFEST)

  log(("deployed mnist %s to %s"):format(version, M.s3_uri(target, base .. "/")))
  for _, name in ipairs(sorted_keys(result.objects)) do
    log(("  %s"):format(result.objects[name].url))
  end
  log(("pretrained weights from here: weights_url = %s (s3_endpoint = %s)"):format(result.weights_url, target.endpoint))
  return result
end

-- deploy.fetch --------------------------------------------------------------------------------

-- Where cfg.weights_url points: a function that GETs a file of this version into a path, and a
-- function naming a file's source in messages.
local function remote(cfg, version)
  local url = cfg.weights_url
  if url == "" then fail("weights_url is not set: nowhere to fetch pretrained weights from") end
  local bucket, prefix = url:match("^s3://([^/]+)/?(.*)$")
  if bucket then
    local target = M.s3_target(cfg, bucket, prefix)
    local creds = M.credentials() -- anonymous when there are none (public buckets)
    local base = join_key(target.prefix, version) .. arch_suffix(cfg)
    return {
      where = function(name) return M.s3_uri(target, base .. "/" .. name) end,
      get = function(name, path, max_bytes)
        return M.s3_request(target, creds, { key = base .. "/" .. name, output = path, max_bytes = max_bytes }, cfg)
      end,
      creds = creds,
    }
  end
  if not url:match("^https?://[^/]+") then
    fail("weights_url '%s' must start with http://, https:// or s3://", url)
  end
  local suffix = arch_suffix(cfg)
  local base = url:gsub("/+$", "") .. "/" .. http.encode(version, false)
    .. (suffix ~= "" and "/" .. http.encode(suffix:sub(2), false) or "")
  return {
    where = function(name) return base .. "/" .. http.encode(name, false) end,
    get = function(name, path, max_bytes)
      return http.request{ url = base .. "/" .. http.encode(name, false), output = path, follow = true,
        max_bytes = max_bytes, timeout = cfg.download_timeout, retries = cfg.download_retries }
    end,
  }
end

local function mkdir_p(dir)
  local ok, err = fs.mkdir_p(dir)
  if not ok then fail("cannot create the directory %s", err) end
end

-- Downloads one listed file into dir: to a temp file, checked, then renamed into place.
local function fetch_file(src, dir, name, info)
  local dest = dir .. "/" .. name
  local tmp = fs.part_name(dest)
  local res = src.get(name, tmp, info.bytes)
  if res.curl_code == http.CURL_TOO_LARGE then
    os.remove(tmp)
    fail("%s from %s: larger than the %d bytes the manifest says (SHA-256 %s): tampered or replaced, not kept",
      name, src.where(name), info.bytes, info.sha256)
  end
  if not http.ok(res) then
    os.remove(tmp)
    fail_response(src.where(name), res, src.creds)
  end
  local actual = core.sha256_file(tmp)
  local got = read_file(tmp)
  local size = got and #got or 0
  if actual ~= info.sha256 or size ~= info.bytes then
    os.remove(tmp)
    fail("%s from %s: SHA-256 mismatch: manifest says %s (%d bytes), got %s (%d bytes): tampered or truncated, not kept",
      name, src.where(name), info.sha256, info.bytes, tostring(actual), size)
  end
  os.remove(weights.checksum_path(dest)) -- rewritten after: never names other content
  local ok, err = os.rename(tmp, dest)
  if not ok then
    os.remove(tmp)
    fail("%s: cannot move into place: %s", dest, tostring(err))
  end
end

-- Fetches this rock version's manifest and files from cfg.weights_url into dest_dir (created if
-- needed). Files already there with the right SHA-256 are kept; others are downloaded, verified
-- and renamed into place, each with its .sha256 sidecar. manifest.json is written last. Returns
-- the manifest table. opts.log (default: silent) receives one line per file.
function M.fetch(cfg, dest_dir, opts)
  opts = opts or {}
  local log = opts.log or function() end
  local version = require "mnist.version"
  local src = remote(cfg, version)
  mkdir_p(dest_dir)
  -- under the publishing lock of dest_dir (mnist.artifacts): readers never see a half-fetched
  -- set, and processes fetching together download each file once (the later ones find it verified)
  return require("mnist.artifacts").publishing(dest_dir, function()
    fs.remove_stale_parts(dest_dir)
    local tmp = os.tmpname()
    local res = src.get(M.MANIFEST, tmp, M.MAX_MANIFEST_BYTES)
    local text = http.ok(res) and read_file(tmp)
    os.remove(tmp)
    if not text then fail_response(src.where(M.MANIFEST), res, src.creds) end
    local manifest = decode_manifest(text, version, src.where(M.MANIFEST))
    os.remove(dest_dir .. "/" .. M.MANIFEST) -- written again last: never stale after a crash
    for _, name in ipairs(sorted_keys(manifest.files)) do
      local info, dest = manifest.files[name], dest_dir .. "/" .. name
      if file_exists(dest) and core.sha256_file(dest) == info.sha256 then
        log(("%s: already present, verified"):format(dest))
      else
        fetch_file(src, dest_dir, name, info)
        log(("%s: fetched from %s, verified"):format(dest, src.where(name)))
      end
      if weights.read_checksum(dest) ~= info.sha256 then weights.write_checksum(dest, info.sha256) end
    end
    local ok, err = core.write_atomic(dest_dir .. "/" .. M.MANIFEST, text)
    if not ok then fail("%s/%s: cannot write: %s", dest_dir, M.MANIFEST, tostring(err)) end
    return manifest
  end)
end

return M
