-- deploy.run / deploy.fetch against a real S3-compatible server (OpenStack Swift's s3api, which
-- checks SigV4 signatures) started once for this file by spec/support/s3_server.sh, and against
-- python3's http.server for plain http(s) weights_url.
local ffi = require "ffi"
local helpers = require "spec.support.helpers"
local tmpdir, read, write, exists = helpers.tmpdir, helpers.read, helpers.write, helpers.exists
local cjson = require "cjson"
local core = require "mnist.core"
local config = require "mnist.config"
local deploy = require "mnist.deploy"
local http = require "mnist.http"
local T = require "mnist.tensor"
local weights = require "mnist.weights"
local V = require "mnist.version"

pcall(ffi.cdef, [[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]])

local function setenv(name, value)
  if value == nil then ffi.C.unsetenv(name) else ffi.C.setenv(name, value, 1) end
end

local function capture(cmd)
  local p = io.popen(cmd)
  local s = p:read("*a")
  p:close()
  return s
end

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- The files in dir, but the lock file of the publishers and readers (.lock: not data).
local function listing(dir)
  return capture("ls -A --ignore=.lock " .. http.shell_quote(dir))
end

local CLASSIFIER, FEATURES = deploy.file_names(V)[1], deploy.file_names(V)[2]

-- Real weight files (two small tensors each, values depending on `seed`) and their manifest.
local function write_weights(artifact_dir, seed)
  local dir = config.weights_dir({ artifact_dir = artifact_dir })
  os.execute("mkdir -p " .. http.shell_quote(dir))
  local files = {}
  for i, name in ipairs{ CLASSIFIER, FEATURES } do
    local w = T { { seed, i }, { -seed, 0.5 } }
    local b = T { seed * 10 + i }
    local hex = weights.save(dir .. "/" .. name, { { "0.weight", w }, { "0.bias", b } }, { version = V })
    files[name] = { sha256 = hex, bytes = #read(dir .. "/" .. name) }
  end
  write(dir .. "/manifest.json", cjson.encode{ version = V, files = files, arch = "test", created = "now" })
  return dir, files
end

-- The AWS_* variables the specs change, restored after each test.
local AWS_VARS = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE" }

describe("deploy helpers", function()
  it("reads credentials from the environment, then the shared credentials file", function()
    local saved = {}
    for _, k in ipairs(AWS_VARS) do saved[k] = os.getenv(k) end
    local dir = tmpdir()
    write(dir .. "/creds", "[other]\naws_access_key_id = OTHER\naws_secret_access_key = o\n\n" ..
      "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file/Secret+1\n")
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV"); setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    setenv("AWS_SHARED_CREDENTIALS_FILE", dir .. "/creds")
    local c = deploy.credentials()
    assert.equal("AKIDENV", c.access_key); assert.equal("env-secret", c.secret_key)
    setenv("AWS_ACCESS_KEY_ID", nil); setenv("AWS_SECRET_ACCESS_KEY", nil)
    c = deploy.credentials()
    assert.equal("AKIDFILE", c.access_key); assert.equal("file/Secret+1", c.secret_key)
    setenv("AWS_PROFILE", "other")
    assert.equal("OTHER", deploy.credentials().access_key)
    setenv("AWS_PROFILE", "missing")
    local none, why = deploy.credentials()
    assert.is_nil(none)
    assert.truthy(why:find("[missing]", 1, true))
    for _, k in ipairs(AWS_VARS) do setenv(k, saved[k]) end
    os.execute("rm -rf " .. http.shell_quote(dir))
  end)

  it("checks manifests: version, names that could escape the directory, hashes", function()
    local good = { sha256 = ("a"):rep(64), bytes = 3 }
    assert.truthy(deploy.check_manifest({ version = V, files = { ["a.safetensors"] = good } }, V, "m"))
    assert.matches("version 9%.9%.9, this rock is", err_of(deploy.check_manifest, { version = "9.9.9", files = { a = good } }, V, "m"))
    assert.matches("invalid file name '%.%./x'", err_of(deploy.check_manifest, { version = V, files = { ["../x"] = good } }, V, "m"))
    assert.matches("no valid sha256", err_of(deploy.check_manifest, { version = V, files = { a = { sha256 = "zz", bytes = 1 } } }, V, "m"))
    assert.matches("lists no files", err_of(deploy.check_manifest, { version = V, files = {} }, V, "m"))
  end)

  it("refuses a local file that no longer matches the manifest, before any network", function()
    local art = tmpdir()
    local dir = write_weights(art, 1)
    write(dir .. "/" .. FEATURES, "changed")
    local cfg = config.resolve{ artifact_dir = art, s3_endpoint = "http://127.0.0.1:1", s3_bucket = "b" }
    local e = err_of(deploy.run, cfg, { log = function() end })
    assert.matches("^deploy: .*" .. FEATURES:gsub("%p", "%%%0") .. ": SHA%-256 is %x+, the manifest says %x+", e)
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("explains a missing manifest", function()
    local cfg = config.resolve{ artifact_dir = "/nonexistent/mnist", s3_bucket = "b" }
    assert.matches("^deploy: /nonexistent/mnist/weights/manifest.json: not found: train first", err_of(deploy.run, cfg))
  end)
end)

describe("deploy against S3 (Swift s3api on loopback)", function()
  local server_dir, S3, start_error
  local BUCKET = "mnist-test"
  local saved_env = {}

  local function target(prefix)
    return deploy.s3_target(config.resolve{ s3_endpoint = S3.S3_ENDPOINT }, BUCKET, prefix)
  end

  local function use_env_credentials(secret)
    setenv("AWS_ACCESS_KEY_ID", S3.S3_ACCESS_KEY)
    setenv("AWS_SECRET_ACCESS_KEY", secret or S3.S3_SECRET_KEY)
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
  end

  local function cfg_for(art, prefix, extra)
    local o = { artifact_dir = art, s3_endpoint = S3.S3_ENDPOINT, s3_bucket = BUCKET, s3_prefix = prefix,
      s3_region = S3.S3_REGION, weights_url = ("s3://%s/%s"):format(BUCKET, prefix),
      download_retries = 1, download_timeout = 30 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return config.resolve(o)
  end

  local function creds()
    return { access_key = S3.S3_ACCESS_KEY, secret_key = S3.S3_SECRET_KEY }
  end

  local function quiet() return { log = function() end } end

  setup(function()
    server_dir = tmpdir()
    local out = capture("sh spec/support/s3_server.sh start " .. http.shell_quote(server_dir) .. " 2>&1")
    local env = read(server_dir .. "/env")
    if not env then
      start_error = out
      io.stderr:write("\n*** deploy_spec: the S3 test server did not start; S3 specs are PENDING ***\n", out, "\n")
      return
    end
    S3 = {}
    for k, v in env:gmatch("(S3_[%w_]+)=([^\n]*)") do S3[k] = v end
    local res = deploy.s3_request(target(""), creds(), { method = "PUT", key = "" })
    assert(http.ok(res), "cannot create the test bucket: " .. http.describe(res))
  end)

  teardown(function()
    if server_dir then os.execute("sh spec/support/s3_server.sh stop " .. http.shell_quote(server_dir)) end
  end)

  before_each(function()
    for _, k in ipairs(AWS_VARS) do saved_env[k] = os.getenv(k) end
    setenv("AWS_PROFILE", nil); setenv("AWS_SESSION_TOKEN", nil)
  end)

  after_each(function()
    for _, k in ipairs(AWS_VARS) do setenv(k, saved_env[k]) end
  end)

  local function need_server()
    if not S3 then
      pending("S3 test server did not start: " .. (tostring(start_error):match("[^\n]+") or "no output"))
      return false
    end
    return true
  end

  it("round trip: deploy, then fetch into a fresh directory with verified hashes", function()
    if not need_server() then return end
    use_env_credentials()
    local art = tmpdir()
    local dir, files = write_weights(art, 1)
    -- Record every command line run during the deploy: no secret may be on one (ps shows them).
    local commands, real_popen = {}, io.popen
    io.popen = function(cmd, ...) commands[#commands + 1] = cmd; return real_popen(cmd, ...) end
    local lines = {}
    local ok, result = pcall(deploy.run, cfg_for(art, "rt"), { log = function(l) lines[#lines + 1] = l end })
    io.popen = real_popen
    assert(ok, result)
    assert.truthy(#commands >= 7)
    for _, c in ipairs(commands) do assert.falsy(c:find(S3.S3_SECRET_KEY, 1, true), c) end

    assert.equal(("s3://%s/rt"):format(BUCKET), result.weights_url)
    local key = "rt/" .. V .. "/" .. CLASSIFIER
    assert.equal(("s3://%s/%s"):format(BUCKET, key), result.objects[CLASSIFIER].s3)
    assert.equal(("%s/%s/%s"):format(S3.S3_ENDPOINT, BUCKET, key), result.objects[CLASSIFIER].url)
    for _, name in ipairs{ "manifest.json", CLASSIFIER .. ".sha256", FEATURES, FEATURES .. ".sha256" } do
      assert.truthy(result.objects[name], name)
    end
    assert.truthy(table.concat(lines, "\n"):find(result.objects[FEATURES].url, 1, true))

    -- The objects in the bucket are the local bytes (read with a separately signed GET).
    local res = deploy.s3_request(target("rt"), creds(), { key = key })
    assert.is_true(http.ok(res))
    assert.equal(read(dir .. "/" .. CLASSIFIER), res.body)
    res = deploy.s3_request(target("rt"), creds(), { key = "rt/" .. V .. "/" .. CLASSIFIER .. ".sha256" })
    assert.equal(read(dir .. "/" .. CLASSIFIER .. ".sha256"), res.body)

    -- Fetch with the credentials from a shared credentials file this time.
    local credfile = art .. "/aws-credentials"
    write(credfile, ("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"):format(S3.S3_ACCESS_KEY, S3.S3_SECRET_KEY))
    setenv("AWS_ACCESS_KEY_ID", nil); setenv("AWS_SECRET_ACCESS_KEY", nil)
    setenv("AWS_SHARED_CREDENTIALS_FILE", credfile)
    local dest = art .. "/fetched"
    local manifest = deploy.fetch(cfg_for(art, "rt"), dest)
    assert.equal(V, manifest.version)
    assert.equal("test", manifest.arch)
    for name, info in pairs(files) do
      assert.equal(info.sha256, manifest.files[name].sha256)
      assert.equal(info.sha256, core.sha256_file(dest .. "/" .. name))
      assert.equal(info.sha256, weights.read_checksum(dest .. "/" .. name))
    end
    assert.equal(read(dir .. "/manifest.json"), read(dest .. "/manifest.json"))
    local tensors = weights.load(dest .. "/" .. CLASSIFIER)
    assert.same({ { 1, 1 }, { -1, 0.5 } }, tensors["0.weight"]:totable())
    assert.equal(0, os.execute("cd " .. http.shell_quote(dest) .. " && sha256sum --quiet -c " .. CLASSIFIER .. ".sha256"))

    -- Verified files are not fetched again; a damaged local copy is replaced.
    write(dest .. "/" .. FEATURES, "damaged")
    local log = {}
    deploy.fetch(cfg_for(art, "rt"), dest, { log = function(l) log[#log + 1] = l end })
    assert.matches("already present", log[1])  -- the classifier (sorted first)
    assert.matches("fetched from s3://", log[2])
    assert.equal(files[FEATURES].sha256, core.sha256_file(dest .. "/" .. FEATURES))
    assert.equal("manifest.json\n" .. CLASSIFIER .. "\n" .. CLASSIFIER .. ".sha256\n" .. FEATURES .. "\n" ..
      FEATURES .. ".sha256\n", capture("cd " .. http.shell_quote(dest) .. " && ls -A --ignore=.lock | LC_ALL=C sort -f"))
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("surfaces a wrong secret as 403 SignatureDoesNotMatch, without the secret", function()
    if not need_server() then return end
    local wrong = "Wrong+Secret/Value99"
    use_env_credentials(wrong)
    local art = tmpdir()
    write_weights(art, 2)
    local e = err_of(deploy.run, cfg_for(art, "wrong"), quiet())
    assert.equal(("deploy: s3://%s/wrong/%s/manifest.json: 403 Forbidden (SignatureDoesNotMatch): check AWS_SECRET_ACCESS_KEY"):format(BUCKET, V), e)
    assert.falsy(e:find(wrong, 1, true))
    assert.falsy(e:find(S3.S3_SECRET_KEY, 1, true))
    -- The same through the credentials file names the file.
    write(art .. "/creds", ("[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n"):format(S3.S3_ACCESS_KEY, wrong))
    setenv("AWS_ACCESS_KEY_ID", nil); setenv("AWS_SECRET_ACCESS_KEY", nil)
    setenv("AWS_SHARED_CREDENTIALS_FILE", art .. "/creds")
    e = err_of(deploy.fetch, cfg_for(art, "wrong"), art .. "/dest")
    assert.matches("403 Forbidden %(SignatureDoesNotMatch%): check aws_secret_access_key in .*/creds %[default%]$", e)
    assert.falsy(e:find(wrong, 1, true))
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("gives a clear error when there are no credentials", function()
    if not need_server() then return end
    setenv("AWS_ACCESS_KEY_ID", nil); setenv("AWS_SECRET_ACCESS_KEY", nil)
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    local art = tmpdir()
    write_weights(art, 3)
    local e = err_of(deploy.run, cfg_for(art, "nocreds"), quiet())
    assert.equal("deploy: no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and " ..
      "/nonexistent/aws-credentials has no [default] profile with both keys", e)
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("names a missing bucket", function()
    if not need_server() then return end
    use_env_credentials()
    local art = tmpdir()
    write_weights(art, 3)
    local e = err_of(deploy.run, cfg_for(art, "x", { s3_bucket = "no-such-bucket" }), quiet())
    assert.equal(("deploy: s3://no-such-bucket/x/%s/manifest.json: 404 Not Found (NoSuchBucket): create the bucket first, or fix s3_bucket"):format(V), e)
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("refuses to overwrite a deployed version unless forced", function()
    if not need_server() then return end
    use_env_credentials()
    local art = tmpdir()
    write_weights(art, 4)
    deploy.run(cfg_for(art, "force"), quiet())
    local e = err_of(deploy.run, cfg_for(art, "force"), quiet())
    assert.equal(("deploy: s3://%s/force/%s/ is already deployed (manifest.json exists); use --force to overwrite it"):format(BUCKET, V), e)
    local _, files = write_weights(art, 5) -- new weights for the same version
    deploy.run(cfg_for(art, "force"), { force = true, log = function() end })
    local manifest = deploy.fetch(cfg_for(art, "force"), art .. "/dest")
    assert.equal(files[CLASSIFIER].sha256, manifest.files[CLASSIFIER].sha256)
    assert.equal(files[CLASSIFIER].sha256, core.sha256_file(art .. "/dest/" .. CLASSIFIER))
    assert.same({ { 5, 1 }, { -5, 0.5 } }, weights.load(art .. "/dest/" .. CLASSIFIER)["0.weight"]:totable())
    os.execute("rm -rf " .. http.shell_quote(art))
  end)

  it("refuses a tampered object on fetch and keeps nothing of it", function()
    if not need_server() then return end
    use_env_credentials()
    local art = tmpdir()
    local dir, files = write_weights(art, 6)
    deploy.run(cfg_for(art, "tamper"), quiet())
    -- Flip one byte of the stored classifier with a signed PUT straight to the bucket.
    local bytes = read(dir .. "/" .. CLASSIFIER)
    local i = #bytes - 3
    local tampered = bytes:sub(1, i - 1) .. string.char((bytes:byte(i) + 1) % 256) .. bytes:sub(i + 1)
    write(art .. "/tampered", tampered)
    local key = "tamper/" .. V .. "/" .. CLASSIFIER
    assert.is_true(http.ok(deploy.s3_request(target("tamper"), creds(), { method = "PUT", key = key, upload = art .. "/tampered" })))

    local dest = art .. "/dest"
    local e = err_of(deploy.fetch, cfg_for(art, "tamper"), dest)
    assert.equal(("deploy: %s from s3://%s/%s: SHA-256 mismatch: manifest says %s (%d bytes), got %s (%d bytes): tampered or truncated, not kept"):format(
      CLASSIFIER, BUCKET, key, files[CLASSIFIER].sha256, #bytes, core.sha256(tampered), #tampered), e)
    assert.is_false(exists(dest .. "/" .. CLASSIFIER))
    assert.is_false(exists(dest .. "/manifest.json"))
    assert.equal("", listing(dest)) -- no temp file left behind either
    os.execute("rm -rf " .. http.shell_quote(art))
  end)
end)

describe("deploy.fetch over plain http", function()
  local served, pid, base_url, art, files

  setup(function()
    art = tmpdir()
    local dir
    dir, files = write_weights(art, 7)
    served = tmpdir()
    os.execute(("mkdir -p %s/%s && cp %s/* %s/%s/"):format(served, V, dir, served, V))
    pid = capture((http.child_env_prefix() .. "python3 -u -m http.server 0 --bind 127.0.0.1 --directory %s > %s/server.log 2>&1 & echo $!"):format(
      http.shell_quote(served), http.shell_quote(art))):match("%d+")
    for _ = 1, 100 do
      local port = (read(art .. "/server.log") or ""):match("port (%d+)")
      if port then base_url = "http://127.0.0.1:" .. port .. "/"; break end
      os.execute("sleep 0.1")
    end
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid) end
    os.execute("rm -rf " .. http.shell_quote(art) .. " " .. http.shell_quote(served))
  end)

  local function cfg(url) return config.resolve{ weights_url = url or base_url, download_retries = 1, download_timeout = 20 } end

  it("fetches and verifies every file the manifest lists", function()
    assert.truthy(base_url, "python3 -m http.server did not start")
    local dest = art .. "/dest"
    local manifest = deploy.fetch(cfg(), dest)
    assert.equal(V, manifest.version)
    for name, info in pairs(files) do
      assert.equal(info.sha256, core.sha256_file(dest .. "/" .. name))
      assert.equal(info.sha256, weights.read_checksum(dest .. "/" .. name))
    end
    assert.truthy(weights.load(dest .. "/" .. FEATURES)["0.bias"])
  end)

  it("refuses a truncated file and keeps nothing of it", function()
    assert.truthy(base_url, "python3 -m http.server did not start")
    local path = ("%s/%s/%s"):format(served, V, FEATURES)
    local good = read(path)
    write(path, good:sub(1, #good - 10))
    local dest = art .. "/dest-truncated"
    local e = err_of(deploy.fetch, cfg(), dest)
    write(path, good)
    assert.equal(("deploy: %s from %s%s/%s: SHA-256 mismatch: manifest says %s (%d bytes), got %s (%d bytes): tampered or truncated, not kept"):format(
      FEATURES, base_url, V, FEATURES, files[FEATURES].sha256, #good, core.sha256(good:sub(1, #good - 10)), #good - 10), e)
    assert.is_false(exists(dest .. "/" .. FEATURES))
    assert.is_false(exists(dest .. "/manifest.json"))
  end)

  it("refuses a file larger than the manifest says without downloading it", function()
    assert.truthy(base_url, "python3 -m http.server did not start")
    local path = ("%s/%s/%s"):format(served, V, CLASSIFIER)
    local good = read(path)
    write(path, good .. "extra")
    local dest = art .. "/dest-large"
    local e = err_of(deploy.fetch, cfg(), dest)
    write(path, good)
    assert.equal(("deploy: %s from %s%s/%s: larger than the %d bytes the manifest says (SHA-256 %s): tampered or replaced, not kept"):format(
      CLASSIFIER, base_url, V, CLASSIFIER, #good, files[CLASSIFIER].sha256), e)
    assert.equal("", listing(dest))
  end)

  it("refuses a manifest whose file names would leave the directory", function()
    assert.truthy(base_url, "python3 -m http.server did not start")
    local path = ("%s/%s/manifest.json"):format(served, V)
    local good = read(path)
    write(path, cjson.encode{ version = V, files = { ["../escape"] = { sha256 = ("0"):rep(64), bytes = 1 } } })
    local e = err_of(deploy.fetch, cfg(), art .. "/dest-evil")
    write(path, good)
    assert.equal(("deploy: %s%s/manifest.json: manifest lists an invalid file name '../escape'"):format(base_url, V), e)
  end)

  it("names the source and the failure when the remote is missing or unreachable", function()
    assert.truthy(base_url, "python3 -m http.server did not start")
    local retrying = config.resolve{ weights_url = base_url .. "nothing-here", download_retries = 3 }
    local e = err_of(deploy.fetch, retrying, art .. "/dest-404") -- a 404 is final: no retries
    assert.equal(("deploy: %snothing-here/%s/manifest.json: 404 Not Found"):format(base_url, V), e)
    e = err_of(deploy.fetch, config.resolve{ weights_url = "http://127.0.0.1:1/w", download_retries = 2 }, art .. "/dest-refused")
    assert.matches("^deploy: http://127.0.0.1:1/w/" .. V:gsub("%p", "%%%0") .. "/manifest.json: Failed to connect .* %(after 2 attempts%)$", e)
    assert.equal("deploy: weights_url 'ftp://x/y' must start with http://, https:// or s3://",
      err_of(deploy.fetch, cfg("ftp://x/y"), art .. "/d"))
    assert.equal("deploy: weights_url is not set: nowhere to fetch pretrained weights from",
      err_of(deploy.fetch, config.resolve{}, art .. "/d"))
  end)
end)
