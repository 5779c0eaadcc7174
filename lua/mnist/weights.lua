-- mnist.weights: tensors to and from safetensors files, safely.
--
-- Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length N, then N
-- bytes of JSON {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
-- "__metadata__": {string: string}}, then the raw little-endian data. PyTorch and NumPy users read
-- these files with no code of ours.
--
--   weights.save(path, {{"0.weight", w}, {"0.bias", b}}, {version = "0.1.0"})  -- atomic, + .sha256
--   local tensors, metadata, names = weights.load(path)   -- every check before anything is returned
--
-- Integrity: save records the SHA-256 of the data section in the header (__metadata__.data_sha256)
-- and load refuses a file whose data does not match it, so a flipped byte in the data is caught
-- even without the .sha256 sidecar or a manifest (which cover the whole file).
--   weights.load_into(named, path)                        -- copies into existing tensors, all or none
local cjson = require "cjson"
local core = require "mnist.core"
local fs = require "mnist.fs"
local T = require "mnist.tensor"

local M = {}

-- A header larger than this is refused before it is read (ours are a few KB).
M.MAX_HEADER_BYTES = 16 * 1024 * 1024

local function fail(path, msg)
  error(("weights: %s: %s"):format(path, msg), 0)
end

local function u64le(n)
  local bytes = {}
  for i = 1, 8 do
    bytes[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(bytes)
end

local function read_u64le(s)
  local n = 0
  for i = 8, 1, -1 do n = n * 256 + s:byte(i) end
  return n
end

-- The sidecar checksum file, in sha256sum's format so `sha256sum -c` checks it.
function M.checksum_path(path)
  return path .. ".sha256"
end

function M.write_checksum(path, hex)
  local name = path:match("[^/]+$")
  local ok, err = core.write_atomic(M.checksum_path(path), ("%s  %s\n"):format(hex, name))
  if not ok then fail(path, "cannot write checksum: " .. err) end
end

-- The hash recorded beside path, or nil when there is no readable sidecar.
function M.read_checksum(path)
  local f = io.open(M.checksum_path(path), "r")
  if not f then return nil end
  local line = f:read("*l") or ""
  f:close()
  return line:match("^(%x+)%s") or line:match("^(%x+)$")
end

-- The metadata key holding the data section's SHA-256.
M.DATA_SHA256 = "data_sha256"

-- Writing is two steps, so that several files can be replaced together (mnist.artifacts):
--   stage:  the complete file, fsync'ed, under <path>.staged (a name no reader uses); a failure
--           (full disk, file-size limit) changes nothing under the final names
--   commit: removes the old .sha256 sidecar, renames the staged file over path, writes the new
--           sidecar; a crash in between leaves a file without a sidecar, never one whose sidecar
--           names other content
-- save = stage + commit.

-- opts.owner (a pid): "<path>.<pid>.staged", so that processes publishing into one directory
-- at once never stage into each other's file (fs.remove_stale_parts removes a dead owner's).
function M.staged_path(path, opts)
  if opts and opts.owner then return ("%s.%d.staged"):format(path, opts.owner) end
  return path .. ".staged"
end

-- Writes the tensors in `named` (an ordered list of {name, float32 tensor}) with string metadata
-- to staged_path(path, opts). Returns the staged path and the file's SHA-256.
function M.stage(path, named, metadata, opts)
  local header, chunks, offset, seen = {}, {}, 0, {}
  for i, entry in ipairs(named) do
    local name, t = entry[1], entry[2]
    if type(name) ~= "string" or name == "" or name == "__metadata__" then
      fail(path, ("entry %d has an invalid name %s"):format(i, tostring(name)))
    end
    if seen[name] then fail(path, ("duplicate tensor name '%s'"):format(name)) end
    seen[name] = true
    if not T.is_tensor(t) or t:dtype() ~= "float32" then
      fail(path, ("'%s' must be a float32 tensor"):format(name))
    end
    local nbytes = t:numel() * 4
    header[name] = { dtype = "F32", shape = t:size(), data_offsets = { offset, offset + nbytes } }
    chunks[#chunks + 1] = t
    offset = offset + nbytes
  end
  local meta = {}
  for k, v in pairs(metadata or {}) do
    meta[tostring(k)] = type(v) == "table" and fs.json_compact(v) or tostring(v)
  end
  meta[M.DATA_SHA256] = core.sha256(chunks) -- the tensors' bytes in place, not a copy

  header.__metadata__ = meta
  -- keys sorted at every level (a Lua table has no order, and cjson follows the hash order,
  -- which differs between processes): equal tensors and metadata give equal bytes
  local json = fs.json_compact(header)
  json = json .. (" "):rep((8 - #json % 8) % 8) -- pad so the data starts 8-byte aligned
  table.insert(chunks, 1, json)
  table.insert(chunks, 1, u64le(#json))
  local staged = M.staged_path(path, opts)
  local ok, err = core.write_atomic(staged, chunks)
  if not ok then fail(path, "cannot write: " .. err) end
  local hex, herr = core.sha256_file(staged)
  if not hex then
    os.remove(staged)
    fail(path, "cannot read back: " .. herr)
  end
  return staged, hex
end

-- Moves the staged file of path into place; its sidecar too unless opts.sidecar == false.
function M.commit(path, hex, opts)
  os.remove(M.checksum_path(path))
  local ok, err = os.rename(M.staged_path(path, opts), path)
  if not ok then
    os.remove(M.staged_path(path, opts))
    fail(path, "cannot move into place: " .. tostring(err))
  end
  if not (opts and opts.sidecar == false) then M.write_checksum(path, hex) end
end

-- Writes the tensors in `named` to path: stage, then commit. opts.sidecar == false: no .sha256
-- (a checkpoint, rewritten every epoch and verified by its data hash). Returns the file's SHA-256.
function M.save(path, named, metadata, opts)
  local _, hex = M.stage(path, named, metadata)
  M.commit(path, hex, opts)
  return hex
end

local function check_entry(path, name, info, data_len)
  if type(info) ~= "table" then fail(path, ("'%s': header entry is not an object"):format(name)) end
  if info.dtype ~= "F32" then
    fail(path, ("'%s': dtype %s is not supported (only F32)"):format(name, tostring(info.dtype)))
  end
  local shape, numel = info.shape, 1
  if type(shape) ~= "table" or #shape < 1 or #shape > 4 then
    fail(path, ("'%s': shape must be a list of 1 to 4 sizes"):format(name))
  end
  for i, d in ipairs(shape) do
    if type(d) ~= "number" or d < 1 or d ~= math.floor(d) then
      fail(path, ("'%s': shape[%d] is not a positive whole number"):format(name, i))
    end
    numel = numel * d
  end
  local offsets = info.data_offsets
  if type(offsets) ~= "table" or type(offsets[1]) ~= "number" or type(offsets[2]) ~= "number" then
    fail(path, ("'%s': data_offsets must be two numbers"):format(name))
  end
  local b, e = offsets[1], offsets[2]
  if b < 0 or e < b or b ~= math.floor(b) or e ~= math.floor(e) or e > data_len then
    fail(path, ("'%s': data_offsets [%s, %s] out of range (data is %d bytes)"):format(
      name, tostring(b), tostring(e), data_len))
  end
  if e - b ~= numel * 4 then
    fail(path, ("'%s': data_offsets hold %d bytes, shape needs %d"):format(name, e - b, numel * 4))
  end
  return b, e
end

-- The SHA-256 mismatch error, one wording for verify and load.
local function mismatch(path, expected, actual)
  fail(path, ("SHA-256 mismatch: expected %s, got %s (tampered or truncated file)"):format(expected, actual))
end

-- The tensors of the open file f (`size` bytes): header checks, then each tensor read straight
-- into its own storage (no copy of the file in memory), hashed on the way: the whole file's
-- SHA-256 when `expected` is given, else the data section's. `into` (name -> tensor, or nil): a
-- contiguous float32 tensor of the entry's name and shape is read into as it is. Returns tensors,
-- metadata, names, and the hash with what it covers ("file" or "data").
local function read_tensors(f, path, size, expected, into)
  local head = f:read(8)
  if size < 8 or not head or #head < 8 then
    fail(path, ("file is %d bytes, too short for a safetensors header"):format(head and #head or size))
  end
  local header_len = read_u64le(head)
  if header_len > M.MAX_HEADER_BYTES then
    fail(path, ("header length %.0f exceeds the %d-byte limit"):format(header_len, M.MAX_HEADER_BYTES))
  end
  if 8 + header_len > size then
    fail(path, ("header length %d runs past the end of the file (%d bytes): truncated?"):format(header_len, size))
  end
  local json = f:read(header_len) or ""
  local ok, header = pcall(cjson.decode, json)
  if not ok or type(header) ~= "table" then fail(path, "header is not a JSON object") end
  local data_start, data_len = 8 + header_len, size - 8 - header_len
  local metadata = {}
  if header.__metadata__ ~= nil then
    if type(header.__metadata__) ~= "table" then fail(path, "__metadata__ is not an object") end
    for k, v in pairs(header.__metadata__) do
      if type(v) ~= "string" then fail(path, ("__metadata__ '%s' is not a string"):format(k)) end
      metadata[k] = v
    end
  end
  local spans, names = {}, {}
  for name, info in pairs(header) do
    if name ~= "__metadata__" then
      local b, e = check_entry(path, name, info, data_len)
      spans[#spans + 1] = { b, e, name }
    end
  end
  table.sort(spans, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[3] < y[3]) end)
  local covered = 0
  for _, s in ipairs(spans) do
    if s[1] < covered then fail(path, ("'%s' overlaps another tensor's data"):format(s[3])) end
    if s[1] > covered then fail(path, ("bytes %d..%d belong to no tensor"):format(covered, s[1])) end
    covered = s[2]
  end
  if covered ~= data_len then
    fail(path, ("file has %d data bytes, the header describes %d"):format(data_len, covered))
  end
  -- the tensors tile the data section (checked above): read in order, they are the data
  local tensors, in_order, offsets = {}, {}, {}
  for i, s in ipairs(spans) do
    local name = s[3]
    local target = into and into[name]
    local fits = target and target:type() == "torch.FloatTensor" and target:isContiguous()
      and T.shape_str(target) == "(" .. table.concat(header[name].shape, ", ") .. ")"
    tensors[name] = fits and target or T.empty("float32", header[name].shape)
    names[i], in_order[i], offsets[i] = name, tensors[name], data_start + s[1]
  end
  local read_ok, hash = pcall(core.read_tensors, f, offsets, in_order, expected and (head .. json) or nil)
  if not read_ok then fail(path, (tostring(hash):gsub("^read_tensors: ", ""))) end
  return tensors, metadata, names, hash, expected and "file" or "data"
end

-- Reads and checks a whole file: returns {name = tensor}, metadata (strings), and the names in
-- file order. Errors name the file and the problem; nothing is returned half-checked.
-- opts.sha256: the whole file's expected SHA-256 (a manifest's or a sidecar's), computed as the
-- file is read (one pass: it covers the data, whose recorded hash is then not computed again); a
-- file that does not match fails with the mismatch, whatever else is wrong with it.
-- opts.into: name -> tensor (a model's, being built): the entries that match one in name, shape
-- and dtype are read straight into it (no second copy of the weights; M.assign then has nothing to
-- copy). Those tensors may hold part of the file when load fails: for a model that is discarded then.
function M.load(path, opts)
  local expected = opts and opts.sha256
  local f, err = io.open(path, "rb")
  if not f then fail(path, "cannot open: " .. tostring(err)) end
  local size = f:seek("end")
  f:seek("set")
  local ok, tensors, metadata, names, hash, covers = pcall(read_tensors, f, path, size or 0, expected, opts and opts.into)
  f:close()
  if expected and not ok then hash = M.verify(path) end -- the mismatch, if any, is the error to give
  if expected and hash ~= expected:lower() then mismatch(path, expected, hash) end
  if not ok then error(tensors, 0) end
  local recorded = metadata[M.DATA_SHA256]
  if covers == "data" and recorded and hash ~= recorded:lower() then
    fail(path, ("the data's SHA-256 is %s, the header records %s: the file is corrupt or was tampered with")
      :format(hash, recorded))
  end
  return tensors, metadata, names
end

-- Copies `tensors` (name -> tensor, as load returns) into the tensors of `named` (ordered
-- {name, tensor} pairs, e.g. a model's state): names and shapes must match exactly; nothing is
-- copied unless all do. `path` names the source in errors. opts.prefix: only the tensors under
-- that prefix are used, with it stripped; opts.partial: extra tensors are allowed.
function M.assign(named, tensors, path, opts)
  opts = opts or {}
  if opts.prefix then
    local stripped = {}
    for name, t in pairs(tensors) do
      if name:sub(1, #opts.prefix) == opts.prefix then stripped[name:sub(#opts.prefix + 1)] = t end
    end
    tensors = stripped
  end
  local wanted = {}
  for _, entry in ipairs(named) do
    local name, target = entry[1], entry[2]
    wanted[name] = true
    local t = tensors[name]
    if not t then fail(path, ("missing tensor '%s' that the model needs"):format(name)) end
    if T.shape_str(t) ~= T.shape_str(target) then
      fail(path, ("'%s' has shape %s, the model needs %s"):format(name, T.shape_str(t), T.shape_str(target)))
    end
  end
  if not opts.partial then
    for name in pairs(tensors) do
      if not wanted[name] then fail(path, ("unexpected tensor '%s' that the model does not have"):format(name)) end
    end
  end
  for _, entry in ipairs(named) do
    if tensors[entry[1]] ~= entry[2] then entry[2]:copy(tensors[entry[1]]) end -- (load's `into`: in place)
  end
end

-- load + assign: the file's tensors into `named`, all or none. Returns the file's metadata.
function M.load_into(named, path, opts)
  local tensors, metadata = M.load(path)
  M.assign(named, tensors, path, opts)
  return metadata
end

-- Checks path against an expected SHA-256 (hex); errors naming both hashes when they differ.
function M.verify(path, expected)
  local actual, err = core.sha256_file(path)
  if not actual then fail(path, "cannot read: " .. err) end
  if expected and actual ~= expected:lower() then mismatch(path, expected, actual) end
  return actual
end

return M
