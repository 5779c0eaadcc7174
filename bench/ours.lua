-- Our side of `make bench` (bench/run.lua drives it): the same models and work as
-- bench/torch_bench.py, with the same flags. Prints one JSON object on stdout.
--
--   luajit bench/ours.lua --task train --model default --data DIR --steps 50
--   tasks: train (images/s, SGD momentum), infer (images/s, batch 1000, eval),
--          latency (us/image, batch 1), sgemm (GFLOP/s of an N x N x N cblas_sgemm), shapes
--          (GFLOP/s of ours and of OpenBLAS on the products the default model's layers run),
--          products (GFLOP/s of torch.mm on contiguous and transposed N x N operands, and of
--          torch.bmm on 256 matrices of 32 x 32 against a loop of torch.mm)
local cjson = require "cjson"
local mnist = require "mnist"
local core = require "mnist.core"
local T = require "mnist.tensor"
local optim = require "mnist.optim"
local nn = mnist.nn

local function parse(argv)
  local args = { model = "default", steps = 20, warmup = 3, batch = 64, threads = 2, size = 2048 }
  local i = 1
  while i <= #argv do
    local key = argv[i]:match("^%-%-(.+)$")
    if not key or argv[i + 1] == nil then error("ours.lua: bad argument " .. argv[i], 0) end
    args[key] = tonumber(argv[i + 1]) or argv[i + 1]
    i = i + 2
  end
  return args
end

-- The first `bytes` bytes of an IDX file in dir (.gz through gzip -dc, or raw): only what the
-- benchmark uses, so the process's peak RSS is the model's, not the whole data set's.
local function read_idx(dir, stem, bytes)
  for _, name in ipairs { stem .. ".gz", stem } do
    local path = dir .. "/" .. name
    local f = io.open(path, "rb")
    if f then
      f:close()
      local p = name:match("%.gz$") and io.popen("gzip -dc '" .. path .. "' 2>/dev/null")
        or io.open(path, "rb")
      local data = p:read(bytes)
      p:close()
      return data
    end
  end
  error(("ours.lua: %s not found in %s"):format(stem, dir), 0)
end

local function be32(s, at)
  local a, b, c, d = s:byte(at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local MEAN, STD = 0.1307, 0.3081

local function load(dir, split, n)
  local prefix = split == "train" and "train" or "t10k"
  local images = read_idx(dir, prefix .. "-images-idx3-ubyte", 16 + n * 28 * 28)
  local labels = read_idx(dir, prefix .. "-labels-idx1-ubyte", 8 + n)
  local count, rows, cols = be32(images, 5), be32(images, 9), be32(images, 13)
  assert(rows == 28 and cols == 28, "ours.lua: expected 28x28 images")
  n = math.min(n, count)
  local x = T.frombytes(images:sub(17, 16 + n * rows * cols), { n, 1, rows, cols },
    1 / (255 * STD), -MEAN / STD)
  local y = T.frombytes(labels:sub(9, 8 + n), { n }):float()
  return x, y
end

local function classifier(args)
  mnist.random.manual_seed(0)
  return mnist.classifier { arch = args.model }
end

local tasks = {}

function tasks.train(args)
  local net = classifier(args)
  net:training()
  -- the images need no gradient (PyTorch does not compute it either); older builds lack the switch
  if net.setInputGradient then net:setInputGradient(false) end
  local params, grads = net:getParameters()
  local crit = nn.ClassNLLCriterion()
  local config, state = { learningRate = 0.01, momentum = 0.9 }, {}
  local x, y = load(args.data, "train", args.batch * (args.steps + args.warmup))
  local xb, yb
  -- mnist.train.feval's loop, written out: bench/commits.sh runs this file on older commits' trees
  local function feval()
    grads:fill(0)
    local out = net:forward(xb)
    local loss = crit:forward(out, yb)
    net:backward(xb, crit:backward(out, yb))
    return loss, grads
  end
  local loss
  local function step(i)
    xb, yb = x:narrow(1, i * args.batch + 1, args.batch), y:narrow(1, i * args.batch + 1, args.batch)
    loss = optim.sgd(feval, params, config, state)
  end
  for i = 0, args.warmup - 1 do step(i) end
  local start = core.wall_time()
  for i = args.warmup, args.warmup + args.steps - 1 do step(i) end
  local elapsed = core.wall_time() - start
  return { images_per_s = args.steps * args.batch / elapsed, loss = crit.output }
end

local function timed_forward(args, n)
  local net = classifier(args)
  net:evaluate()
  local x = load(args.data, "test", n)
  for _ = 1, args.warmup do net:forward(x) end
  local start = core.wall_time()
  for _ = 1, args.steps do net:forward(x) end
  return core.wall_time() - start
end

function tasks.infer(args)
  return { images_per_s = args.steps * args.batch / timed_forward(args, args.batch) }
end

function tasks.latency(args)
  return { us_per_image = timed_forward(args, 1) / args.steps * 1e6 }
end

-- The machine's sgemm ceiling: OpenBLAS's cblas_sgemm on `threads` threads (through the FFI: the
-- core keeps OpenBLAS at one thread and uses its own sgemm), and our sgemm (csrc/tensor/gemm.c, what
-- the kernels run) on the same threads, both on an N x N x N product.
local ffi = require "ffi"
ffi.cdef [[
  void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
  void openblas_set_num_threads(int n);
]]

local function median_seconds(args, fn)
  local times = {}
  for r = 1, args.warmup + args.steps do
    local start = core.wall_time()
    fn()
    if r > args.warmup then times[#times + 1] = core.wall_time() - start end
  end
  table.sort(times)
  return times[math.ceil(#times / 2)]
end

function tasks.sgemm(args)
  local n = args.size
  local a, b, c = T.zeros(n, n), T.zeros(n, n), T.zeros(n, n)
  mnist.random.default:fill_uniform(a, -1, 1)
  mnist.random.default:fill_uniform(b, -1, 1)
  local ok, blas = pcall(ffi.load, "openblas")
  if not ok then blas = ffi.load("libopenblas.so.0") end
  local pa, pb, pc = ffi.new("float[?]", n * n), ffi.new("float[?]", n * n), ffi.new("float[?]", n * n)
  for i = 0, n * n - 1 do pa[i], pb[i] = (i % 7) / 7 - 0.5, (i % 5) / 5 - 0.5 end
  blas.openblas_set_num_threads(args.threads)
  local cblas = median_seconds(args, function()
    blas.cblas_sgemm(101, 111, 111, n, n, n, 1, pa, n, pb, n, 0, pc, n) -- row-major, no transposes
  end)
  core.blas_set_threads(args.threads) -- back to our threads (OpenBLAS at one)
  local ours = median_seconds(args, function() T.matmul(a, b, false, false, c) end)
  local flops = 2 * n * n * n
  return { gflops = flops / cblas / 1e9, ours_gflops = flops / ours / 1e9,
    core = core.blas_info().core, gemm = core.blas_info().gemm }
end

-- The products the default model's layers run, ours against OpenBLAS's cblas_sgemm on the same
-- threads (issue 15: use OpenBLAS where it wins a layer's shape). Ours through T.matmul, which
-- packs A every call: the Winograd products read a pre-packed A and so run a little faster in the
-- layer than here.
local LAYER_SHAPES = { -- name, m, n, k, transpose a, transpose b
  { "linear forward x W^T", 64, 128, 9216, false, true },
  { "linear weight grad dy^T x", 128, 9216, 64, true, false },
  { "linear input grad dy W", 64, 9216, 128, false, false },
  -- F(4x4, 3x3): blocks of 64 tiles; the weight gradient's K is an image's 36 tiles
  { "Winograd forward U V", 64, 64, 32, false, false },
  { "Winograd input grad", 32, 64, 64, false, false },
  { "Winograd weight grad Z^T V", 64, 32, 36, true, false },
}

function tasks.shapes(args)
  local ok, blas = pcall(ffi.load, "openblas")
  if not ok then blas = ffi.load("libopenblas.so.0") end
  blas.openblas_set_num_threads(args.threads)
  local out = {}
  for _, shape in ipairs(LAYER_SHAPES) do
    local name, m, n, k, ta, tb = unpack(shape)
    local a, b, c = ta and T.zeros(k, m) or T.zeros(m, k), tb and T.zeros(n, k) or T.zeros(k, n), T.zeros(m, n)
    mnist.random.default:fill_uniform(a, -1, 1)
    mnist.random.default:fill_uniform(b, -1, 1)
    local pa, pb, pc = ffi.new("float[?]", m * k), ffi.new("float[?]", k * n), ffi.new("float[?]", m * n)
    for i = 0, m * k - 1 do pa[i] = (i % 7) / 7 - 0.5 end
    for i = 0, k * n - 1 do pb[i] = (i % 5) / 5 - 0.5 end
    -- repeated to about 2 ms a sample, so that the timer and the threads' start do not count
    local reps = math.max(1, math.floor(2e-3 / (2 * m * n * k / 50e9)))
    local theirs = median_seconds(args, function()
      for _ = 1, reps do
        blas.cblas_sgemm(101, ta and 112 or 111, tb and 112 or 111, m, n, k, 1, pa, ta and m or k, pb,
          tb and k or n, 0, pc, n)
      end
    end)
    core.blas_set_threads(args.threads)
    local ours = median_seconds(args, function()
      for _ = 1, reps do T.matmul(a, b, ta, tb, c) end
    end)
    local flops = 2 * m * n * k * reps
    out[#out + 1] = { name = name, m = m, n = n, k = k, ours_gflops = flops / ours / 1e9,
      openblas_gflops = flops / theirs / 1e9 }
  end
  return { shapes = out, gemm = core.blas_info().gemm }
end

-- Torch7's products (lua/mnist/tensor.lua, csrc/tensor/tensor_linalg.c): transposed operands are
-- read in place, so mm(a:t(), b:t()) should run at mm(a, b)'s speed; bmm splits a batch of small
-- matrices over the threads, which a loop of mm cannot.
function tasks.products(args)
  local torch = require "mnist.torch"
  local n = args.size
  local a, b, c = torch.rand(n, n), torch.rand(n, n), torch.Tensor(n, n)
  local at, bt = a:t():contiguous():t(), b:t():contiguous():t()
  local flops = 2 * n * n * n
  local plain = median_seconds(args, function() c:mm(a, b) end)
  local transposed = median_seconds(args, function() c:mm(at, bt) end)
  local batch, m = 256, 32
  local x, y, z = torch.rand(batch, m, m), torch.rand(batch, m, m), torch.Tensor(batch, m, m)
  local bmm = median_seconds(args, function() z:bmm(x, y) end)
  local loop = median_seconds(args, function()
    for i = 1, batch do z[i]:mm(x[i], y[i]) end
  end)
  local bflops = 2 * batch * m * m * m
  return { mm_gflops = flops / plain / 1e9, mm_transposed_gflops = flops / transposed / 1e9,
    bmm_gflops = bflops / bmm / 1e9, mm_loop_gflops = bflops / loop / 1e9,
    gemm = core.blas_info().gemm }
end

-- Publishes freshly initialised default-model weights into the artifact dir (MNIST_HOME), for the
-- cold-start measurement (the numbers do not matter, the files and their checks do).
function tasks.publish(args)
  local cfg = require("mnist.config").resolve({ arch = args.model })
  mnist.random.manual_seed(0)
  local paths = require("mnist.artifacts").publish(mnist.classifier(cfg), cfg,
    { test_accuracy = 0, epochs = 0 })
  return { weights = paths.classifier }
end

local args = parse(arg)
if not tasks[args.task] then error("ours.lua: unknown --task " .. tostring(args.task), 0) end
core.blas_set_threads(args.threads)
local result = tasks[args.task](args)
result.task, result.model, result.impl, result.threads = args.task, args.model, "ours", args.threads
print(cjson.encode(result))
