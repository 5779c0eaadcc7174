-- Loader throughput: batches of 64 per second over the MNIST training split, with and without
-- augmentation, with the background thread (prefetch 2) and without it (prefetch 0), then the
-- time the training loop waits per batch when it does 2 ms of work per batch.
--   eval "$(make -s env)"; luajit bench/loader.lua     (uses $MNIST_HOME / ~/.mnist and $MNIST_MIRROR)
local ffi = require "ffi"
ffi.cdef [[ typedef struct { long tv_sec; long tv_nsec; } mnist_bench_ts; int clock_gettime(int, mnist_bench_ts *); ]]
local function now()
  local t = ffi.new("mnist_bench_ts")
  ffi.C.clock_gettime(1, t) -- CLOCK_MONOTONIC
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) * 1e-9
end

local mnist = require "mnist"

for _, shift in ipairs { 0, 2 } do
  for _, prefetch in ipairs { 0, 2 } do
    local loader = mnist.load_dataset("train", { augment_shift = shift }, { prefetch = prefetch })
    local t0, n = now(), 0
    for epoch = 1, 3 do
      for _ in loader:epoch(epoch) do n = n + 1 end
    end
    local dt = now() - t0
    print(("augment_shift %d, prefetch %d: %6.0f batches/s (%d batches of 64 in %.3f s)"):format(
      shift, prefetch, n / dt, n, dt))
  end
end

for _, prefetch in ipairs { 0, 2 } do
  local loader = mnist.load_dataset("train", { augment_shift = 2 }, { prefetch = prefetch })
  local next_batch = loader:epoch(1)
  local waited, n = 0, 0
  while true do
    local t = now()
    local x = next_batch()
    waited = waited + now() - t
    if not x then break end
    n = n + 1
    local busy = now()
    while now() - busy < 0.002 do end -- the training step
  end
  print(("with 2 ms of work per batch, prefetch %d: the loop waits %.1f us per batch"):format(
    prefetch, waited / n * 1e6))
end
