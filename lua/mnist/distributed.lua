-- mnist.distributed: data-parallel training under an MPI launcher, the same command on N processes:
--
--   mpirun -np 2 mnist.lua train config/pipeline.yml
--
-- batch_size stays the global batch. Every rank's loader prepares the whole global batch (its order
-- a pure function of seed and epoch, as in one process; the preparation costs a thousandth of the
-- step) and the rank keeps its shard of the rows, so anything the loader draws per sample
-- (augmentation) is what one process draws. Each rank computes the gradient of the global mean
-- loss over its rows; mnist.mpi sums the flat gradient (getParameters) over the ranks in C, with
-- the step's loss, correct count and stop flags, in one call per step. Batch norm sums its channel
-- statistics over the ranks (the synced kernels, as PyTorch's SyncBatchNorm) and dropout draws the
-- global batch's mask and keeps the rank's rows, so N ranks train the model one process trains,
-- to float rounding. Rank 0 is the one writer (progress, metrics, checkpoints, report, weights).
--
-- The MPI module (build/mnist/mpi.so, csrc/mpi/) is optional: it is loaded only when the process
-- runs under a launcher (M.launcher()); without one, M.world() is the single process.
local M = {}

-- Variables an MPI launcher sets in its processes (Open MPI's mpirun, PMIx and PMI launchers).
M.LAUNCHER_VARS = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE" }

-- The launcher variable found in the environment, or nil when the process runs on its own.
function M.launcher()
  for _, name in ipairs(M.LAUNCHER_VARS) do
    if os.getenv(name) then return name end
  end
end

-- The mnist.mpi module, or nil and why it cannot be loaded.
function M.module()
  local ok, mpi = pcall(require, "mnist.mpi")
  if ok then return mpi end
  return nil, (tostring(mpi):match("^[^\n]*"):gsub(":%s*$", ""))
end

-- What `mnist.lua info` says: the MPI implementation the module was built with, or why there is none.
function M.describe()
  local mpi, why = M.module()
  local under = M.launcher()
  if not mpi then
    return ("not available (the optional module mnist.mpi is not built: install openmpi-bin and "
      .. "libopenmpi-dev, then make; %s)"):format(why)
  end
  return ("%s (mnist.mpi)%s"):format(mpi.library(), under and (", running under a launcher (" .. under .. ")") or "")
end

local World = {}
World.__index = World

local current

-- The job this process belongs to: {rank (0-based), size, mpi}; one process alone (rank 0 of 1,
-- no mpi) unless it runs under a launcher. timeout: seconds a collective may wait for a peer.
function M.world(timeout)
  if current then return current end
  local under = M.launcher()
  if not under then
    current = setmetatable({ rank = 0, size = 1 }, World)
    return current
  end
  local mpi, why = M.module()
  if not mpi then
    error(("distributed: running under an MPI launcher (%s is set) but the MPI module is missing: %s; "
      .. "install openmpi-bin and libopenmpi-dev (make deps) and run make"):format(under, why), 0)
  end
  local rank, size = mpi.init(timeout or 300)
  current = setmetatable({ rank = rank, size = size, mpi = mpi, reducer = mpi.reducer() }, World)
  return current
end

-- Rank 0 writes; the others compute.
function World:writer()
  return self.rank == 0
end

-- This rank's rows of a global batch of b: first (1-based) and count, the ranks in order.
function World:shard(b)
  local base, extra = math.floor(b / self.size), b % self.size
  return self.rank * base + math.min(self.rank, extra) + 1, base + (self.rank < extra and 1 or 0)
end

-- Makes net's batch norms sum their statistics over the ranks and its dropouts draw the global
-- batch's masks (a global batch of batch_size rows, this rank's from `first`).
function World:prepare(net, batch_size)
  if not self.mpi then return net end
  if batch_size < self.size then
    error(("distributed: batch_size %d is smaller than the %d ranks: every rank needs rows of each batch"):format(
      batch_size, self.size), 0)
  end
  local first = self:shard(batch_size)
  net:apply(function(m)
    if m.running_mean and m.save_invstd then m.reducer = self.reducer end
    if m.__typename == "nn.Dropout" or m.__typename == "nn.SpatialDropout" then
      m.shard = { first = first, total = batch_size }
    end
  end)
  return net
end

-- fn() on rank 0 only (it makes the run directory); its first three results reach every rank,
-- and so does its error, raised on every rank. Rank 0 also gets the fourth result (the lock).
function World:from_writer(fn)
  if not self.mpi then return fn() end
  local cjson = require "cjson"
  local ok, a, b, c, d
  if self:writer() then ok, a, b, c, d = pcall(fn) end
  local shared = cjson.decode(self.mpi.broadcast(self:writer() and cjson.encode(
    ok and { ok = true, values = { a or cjson.null, b or cjson.null, c or cjson.null } }
       or { ok = false, error = tostring(a) }) or nil))
  if not shared.ok then error(shared.error, 0) end
  local v = shared.values
  local function value(x) return x ~= cjson.null and x or nil end
  return value(v[1]), value(v[2]), value(v[3]), d
end

-- The bytes of rank 0's file at `path` on every rank (the checkpoint --resume reads: the other
-- machines of a job need not share rank 0's disk). Returns a path to read it from on this rank
-- (rank 0: path itself; the others: a temporary copy) and a function that removes the copy.
function World:shared_file(path)
  if not self.mpi then return path, function() end end
  local bytes
  self:from_writer(function()
    bytes = require("mnist.fs").read(path)
    if not bytes then error(("distributed: rank 0 cannot read %s"):format(path), 0) end
    return #bytes
  end)
  bytes = self.mpi.broadcast(self:writer() and bytes or nil)
  if self:writer() then return path, function() end end
  local copy = os.tmpname()
  local f, err = io.open(copy, "wb")
  if not f then error(("distributed: rank %d cannot write a copy of %s: %s"):format(self.rank, path, err), 0) end
  local ok, why = f:write(bytes)
  f:close()
  if not ok then
    os.remove(copy)
    error(("distributed: rank %d cannot write a copy of %s: %s"):format(self.rank, path, why), 0)
  end
  return copy, function() os.remove(copy) end
end

-- Ranks of the job on this machine (the launcher says; 1 alone): `threads: 0` shares the cores.
function M.local_ranks()
  return tonumber(os.getenv("OMPI_COMM_WORLD_LOCAL_SIZE") or os.getenv("MPI_LOCALNRANKS") or "") or 1
end

-- A training step's sums over the ranks, in place: grads (the flat gradient) and the numbers of
-- `stats` (a list). Returns the summed list, the seconds the gradient's all-reduce took, and the
-- seconds spent waiting for the slowest rank (the numbers' sum, done first).
function World:allreduce_step(grads, stats)
  return self.mpi.allreduce_step(grads, stats)
end

-- Waits for every rank (they wait, sleeping, while rank 0 evaluates and writes).
function World:barrier()
  if self.mpi then self.mpi.barrier() end
end

-- A normal end: waits for the others, then ends MPI.
function World:finish()
  if self.mpi and self.mpi.active() then
    self.mpi.barrier()
    self.mpi.finalize()
  end
end

-- A failure on this rank: names the rank on stderr and ends the whole job at once (MPI_Abort),
-- so no peer waits for it. Returns (the single process goes on to exit as usual).
function World:abort(message, code)
  if not (self.mpi and self.mpi.active()) then return end
  io.stderr:write(("mnist.lua: rank %d of %d: %s\n"):format(self.rank, self.size, message))
  io.stderr:flush()
  self.mpi.abort(code or 2)
end

-- The world already made, or nil (for the CLI's error path: it must not start MPI).
function M.current()
  return current
end

return M
