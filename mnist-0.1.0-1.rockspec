-- Built with: luarocks --lua-version=5.1 make mnist-0.1.0-1.rockspec --deps-mode=none
--             LUA_INCDIR=/usr/include/luajit-2.1   (`make install` does this)
rockspec_format = "3.0"
package = "mnist"
version = "0.1.0-1"
source = {
  url = "git+file:///mnist", -- built from the checkout (luarocks make); no server is reachable
}
description = {
  summary = "A Torch-style MNIST pipeline for LuaJIT with a C core",
  detailed = [[
    Float32 tensors, convolution, pooling, linear layers, losses and optimizers in C (OpenBLAS),
    with a Torch7-style nn/optim API, dataset download and loading, versioned weights and a CLI.
  ]],
  license = "MIT",
}
-- The Lua modules come from Debian packages (lua-cjson, lua-yaml, lua-argparse, lua-term,
-- lua-filesystem), so they are declared here for documentation and satisfied by `--deps-mode=none`.
dependencies = {
  "lua >= 5.1",
  -- "lua-cjson", "lyaml", "argparse", "lua-term", "luafilesystem": from Debian (make deps)
}
external_dependencies = {
  OPENBLAS = { library = "openblas" },
  ZLIB = { library = "z" },
  CRYPTO = { library = "crypto" },
  STB = { library = "stb" },
}
build = {
  type = "builtin",
  modules = {
    ["mnist.core"] = {
      sources = {
        "csrc/fileio.c",
        "csrc/lua_core.c",
        "csrc/optim.c",
        "csrc/process.c",
        "csrc/rng.c",
        "csrc/status.c",
        "csrc/tensor.c",
        "csrc/activation.c",
        "csrc/batchnorm.c",
        "csrc/conv.c",
        "csrc/conv_direct.c",
        "csrc/linear.c",
        "csrc/loss.c",
        "csrc/pool.c",
        "csrc/gemm.c",
        "csrc/parallel.c",
        "csrc/winograd.c",
        "csrc/idx.c",
        "csrc/image.c",
        "csrc/loader.c",
        "csrc/record.c",
      },
      libraries = { "openblas", "crypto", "z", "stb", "m", "pthread" },
      incdirs = { "csrc", "$(OPENBLAS_INCDIR)/x86_64-linux-gnu" },
      libdirs = { "$(OPENBLAS_LIBDIR)" },
    },
    ["mnist"] = "lua/mnist/init.lua",
    ["mnist.version"] = "lua/mnist/version.lua",
    ["mnist.tensor"] = "lua/mnist/tensor.lua",
    ["mnist.random"] = "lua/mnist/random.lua",
    ["mnist.config"] = "lua/mnist/config.lua",
    ["mnist.weights"] = "lua/mnist/weights.lua",
    ["mnist.cli"] = "lua/mnist/cli.lua",
    ["mnist.metrics"] = "lua/mnist/metrics.lua",
    ["mnist.model"] = "lua/mnist/model.lua",
    ["mnist.predict"] = "lua/mnist/predict.lua",
    ["mnist.pretrained"] = "lua/mnist/pretrained.lua",
    ["mnist.artifacts"] = "lua/mnist/artifacts.lua",
    ["mnist.checkpoint"] = "lua/mnist/checkpoint.lua",
    ["mnist.train"] = "lua/mnist/train.lua",
    ["mnist.optim"] = "lua/mnist/optim.lua",
    ["mnist.nn"] = "lua/mnist/nn/init.lua",
    ["mnist.nn.Module"] = "lua/mnist/nn/Module.lua",
    ["mnist.nn.Sequential"] = "lua/mnist/nn/Sequential.lua",
    ["mnist.nn.SpatialConvolution"] = "lua/mnist/nn/SpatialConvolution.lua",
    ["mnist.nn.SpatialMaxPooling"] = "lua/mnist/nn/SpatialMaxPooling.lua",
    ["mnist.nn.BatchNormalization"] = "lua/mnist/nn/BatchNormalization.lua",
    ["mnist.nn.SpatialBatchNormalization"] = "lua/mnist/nn/SpatialBatchNormalization.lua",
    ["mnist.nn.Linear"] = "lua/mnist/nn/Linear.lua",
    ["mnist.nn.ReLU"] = "lua/mnist/nn/ReLU.lua",
    ["mnist.nn.Dropout"] = "lua/mnist/nn/Dropout.lua",
    ["mnist.nn.View"] = "lua/mnist/nn/View.lua",
    ["mnist.nn.Flatten"] = "lua/mnist/nn/Flatten.lua",
    ["mnist.nn.LogSoftMax"] = "lua/mnist/nn/LogSoftMax.lua",
    ["mnist.nn.Criterion"] = "lua/mnist/nn/Criterion.lua",
    ["mnist.nn.ClassNLLCriterion"] = "lua/mnist/nn/ClassNLLCriterion.lua",
    ["mnist.nn.CrossEntropyCriterion"] = "lua/mnist/nn/CrossEntropyCriterion.lua",
    ["mnist.http"] = "lua/mnist/http.lua",
    ["mnist.fs"] = "lua/mnist/fs.lua",
    ["mnist.deploy"] = "lua/mnist/deploy.lua",
    ["mnist.download"] = "lua/mnist/download.lua",
    ["mnist.dataset"] = "lua/mnist/dataset.lua",
    ["mnist.preprocessing"] = "lua/mnist/preprocessing.lua",
  },
  install = {
    bin = { ["mnist.lua"] = "bin/mnist.lua" },
    -- The published weights of this version (make shipped), installed beside the modules as
    -- mnist/shipped/<file>, where mnist.pretrained looks for them.
    lua = {
      ["mnist.shipped.classifier"] = "lua/mnist/shipped/mnist-classifier-0.1.0.safetensors",
      ["mnist.shipped.classifier_sha256"] = "lua/mnist/shipped/mnist-classifier-0.1.0.safetensors.sha256",
      ["mnist.shipped.features"] = "lua/mnist/shipped/mnist-features-0.1.0.safetensors",
      ["mnist.shipped.features_sha256"] = "lua/mnist/shipped/mnist-features-0.1.0.safetensors.sha256",
      ["mnist.shipped.manifest"] = "lua/mnist/shipped/manifest.json",
    },
  },
}
