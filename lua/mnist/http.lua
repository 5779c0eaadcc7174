-- mnist.http: HTTP(S) requests through the curl program, with timeouts and retries.
--
-- curl runs as a process; its command line never holds a secret: credentials go through a netrc
-- file and secret headers through a header file, both mode 0600 and removed after the call.
--
--   local res = http.request{ url = "https://host/f", output = "/tmp/f", timeout = 60, retries = 3 }
--   if not http.ok(res) then error(http.describe(res)) end
--   res.status   -- HTTP status (0 when no response arrived), res.body when `output` was not given
--
-- Options of http.request:
--   url, method ("GET"), output (path for the body; else res.body holds it), upload (path for
--   the request body), headers (list of "Name: value"), secret_headers (same, kept off the command
--   line), netrc = {host=, login=, password=}, aws_sigv4 ("aws:amz:<region>:s3"), follow (redirects,
--   for plain downloads), max_bytes, timeout (seconds per attempt), retries (attempts, >= 1),
--   backoff (seconds before the 2nd attempt, doubled each time; default 0.5), on_retry.
local fs = require "mnist.fs"

local M = {}

-- curl exit codes worth another attempt: resolve/connect failures, timeouts, cut transfers.
M.TRANSIENT_CURL = { [5] = true, [6] = true, [7] = true, [18] = true, [28] = true, [35] = true,
  [52] = true, [55] = true, [56] = true }
-- HTTP statuses worth another attempt.
M.TRANSIENT_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true,
  [504] = true }

-- curl's exit code when the body exceeds max_bytes.
M.CURL_TOO_LARGE = 63

M.REASONS = {
  [200] = "OK", [204] = "No Content", [206] = "Partial Content", [301] = "Moved Permanently",
  [302] = "Found", [304] = "Not Modified", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [409] = "Conflict", [411] = "Length Required", [412] = "Precondition Failed",
  [416] = "Range Not Satisfiable", [429] = "Too Many Requests", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

-- One argument for /bin/sh, single-quoted.
M.shell_quote = fs.quote
local read_all = fs.read

-- A new private file (os.tmpname uses mkstemp: mode 0600) holding `text`; returns its path.
local function private_file(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- A netrc value: quoted, so secrets with spaces or quotes survive (curl >= 7.84 reads quotes).
local function netrc_quote(s)
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

local sleep = require("mnist.core").sleep -- in-process: no `sleep` program, no shell

-- A sanitizer runtime preloaded for our C core (`make asan`) is inherited by child processes and
-- hangs an uninstrumented curl: children run without it. Any other LD_PRELOAD is kept.
function M.child_env_prefix()
  local preload = os.getenv("LD_PRELOAD") or ""
  if preload:find("libasan", 1, true) or preload:find("libubsan", 1, true) then
    return "env -u LD_PRELOAD "
  end
  return ""
end

-- The curl argument list for one attempt (no secrets: those are in the files named here).
local function curl_args(opts, output, netrc_path, header_path)
  local args = { "curl", "--silent", "--globoff", "--proto", "=http,https",
    "--max-time", tostring(opts.timeout or 60), "--output", output,
    "--write-out", "%{http_code} %{exitcode} %{errormsg}" }
  local function add(...) for _, a in ipairs{ ... } do args[#args + 1] = a end end
  if opts.method and opts.method ~= "GET" then
    if opts.method == "HEAD" then add("--head") else add("--request", opts.method) end
  end
  if opts.upload then add("--upload-file", opts.upload) end
  if opts.follow then add("--location", "--proto-redir", "=http,https") end
  if opts.max_bytes then add("--max-filesize", ("%d"):format(opts.max_bytes)) end
  for _, h in ipairs(opts.headers or {}) do add("--header", h) end
  if header_path then add("--header", "@" .. header_path) end
  if netrc_path then add("--netrc-file", netrc_path) end
  if opts.aws_sigv4 then add("--aws-sigv4", opts.aws_sigv4) end
  add(opts.url)
  return args
end

local function attempt(opts)
  local output = opts.output or os.tmpname()
  local netrc_path, header_path
  if opts.netrc then
    netrc_path = private_file(("machine %s login %s password %s\n"):format(
      opts.netrc.host, netrc_quote(opts.netrc.login), netrc_quote(opts.netrc.password)))
  end
  if opts.secret_headers and #opts.secret_headers > 0 then
    header_path = private_file(table.concat(opts.secret_headers, "\n") .. "\n")
  end
  local quoted = {}
  for i, a in ipairs(curl_args(opts, output, netrc_path, header_path)) do quoted[i] = M.shell_quote(a) end
  local p = io.popen(M.child_env_prefix() .. table.concat(quoted, " ") .. " 2>&1")
  local text = p and p:read("*a") or ""
  if p then p:close() end
  if netrc_path then os.remove(netrc_path) end
  if header_path then os.remove(header_path) end
  local res = { url = opts.url }
  local status, code, msg = text:match("(%d%d%d) (%d+) ?([^\n]*)%s*$")
  if not status then
    res.status, res.curl_code = 0, -1
    res.curl_error = "cannot run curl: " .. (text:match("[^\n]+") or "no output")
  else
    res.status, res.curl_code, res.curl_error = tonumber(status), tonumber(code), msg
  end
  if not opts.output then
    res.body = read_all(output)
    os.remove(output)
  elseif res.status < 200 or res.status > 299 then
    res.body = read_all(output) -- an error document (small); the caller removes the file
  end
  return res
end

-- True when the request got a 2xx response.
function M.ok(res)
  return res.curl_code == 0 and res.status >= 200 and res.status <= 299
end

function M.is_transient(res)
  return M.TRANSIENT_CURL[res.curl_code] or (res.curl_code == 0 and M.TRANSIENT_STATUS[res.status]) or false
end

-- Runs the request, again after a pause (doubling) while it fails in a transient way;
-- opts.on_retry(res, attempt, pause) hears about each retry.
function M.request(opts)
  assert(type(opts) == "table" and type(opts.url) == "string", "http.request: opts.url is required")
  local retries = math.max(1, opts.retries or 1)
  local pause = opts.backoff or 0.5
  local res
  for i = 1, retries do
    res = attempt(opts)
    res.attempts = i
    if M.ok(res) or not M.is_transient(res) or i == retries then break end
    if opts.on_retry then opts.on_retry(res, i, pause) end
    sleep(math.min(pause, 3600))
    pause = pause * 2
  end
  return res
end

-- "403 Forbidden", or curl's reason when no response came ("Failed to connect ...").
function M.describe(res)
  local text
  if res.curl_code ~= 0 and (res.status == 0 or M.TRANSIENT_CURL[res.curl_code]) then
    text = res.curl_error ~= "" and res.curl_error or ("curl exit code " .. tostring(res.curl_code))
  else
    text = ("%d %s"):format(res.status, M.REASONS[res.status] or "HTTP status")
    if res.curl_code ~= 0 and res.curl_error ~= "" then text = text .. " (" .. res.curl_error .. ")" end
  end
  if (res.attempts or 1) > 1 then text = ("%s (after %d attempts)"):format(text, res.attempts) end
  return text
end

-- The host part of an http(s) URL (brackets removed from an IPv6 literal), or nil.
function M.host(url)
  local authority = url:match("^[%a][%w+.-]*://([^/?#]*)")
  if not authority then return nil end
  authority = authority:gsub("^.*@", "")
  return authority:match("^%[(.-)%]") or authority:match("^[^:]*")
end

-- Percent-encodes everything but RFC 3986 unreserved characters (and "/" when keep_slash).
function M.encode(s, keep_slash)
  return (s:gsub("[^%w%-%._~/]", function(c) return ("%%%02X"):format(c:byte()) end)
           :gsub("/", keep_slash and "/" or "%%2F"))
end

return M
