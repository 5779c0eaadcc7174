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
-- lua-filesystem, and lua-readline for the REPL's line editing), so they are declared here for
-- documentation and satisfied by `--deps-mode=none`.
dependencies = {
  "lua >= 5.1",
  -- "lua-cjson", "lyaml", "argparse", "lua-term", "luafilesystem": from Debian (make deps)
}
external_dependencies = {
  OPENBLAS = { library = "openblas" },
  ZLIB = { library = "z" },
  CRYPTO = { library = "crypto" },
  STB = { library = "stb" },
  JPEG = { library = "jpeg" },   -- libjpeg62-turbo-dev: JPEG decoding with DCT scaling
  PNG = { library = "png16" },   -- libpng-dev: PNG decoding, rows streamed
}
-- The optional MPI module, mnist.mpi (data-parallel training under mpirun; lua/mnist/distributed.lua
-- loads it only under an MPI launcher), is not in build.modules: luarocks' builtin backend builds
-- every module it lists and cannot skip one whose library (libmpi) is missing, and the rock must
-- build, install and work without MPI. `make` builds it when mpicc is found, into build/mnist/mpi.so,
-- and `make install` copies it beside the installed mnist/core.so. Its sources (never part of
-- mnist.core, which must not depend on MPI):
--   optional module mnist.mpi: "csrc/mpi/comm.c", "csrc/lua/lua_mpi.c"  (mpicc --showme flags, -ldl)
build = {
  type = "builtin",
  modules = {
    ["mnist.core"] = {
      sources = {
        "csrc/data/augment.c",
        "csrc/data/idx.c",
        "csrc/data/image.c",
        "csrc/data/loader.c",
        "csrc/data/photo.c",
        "csrc/data/record.c",
        "csrc/lua/lua_core.c",
        "csrc/lua/lua_data.c",
        "csrc/lua/lua_nn.c",
        "csrc/lua/lua_optim.c",
        "csrc/lua/lua_random.c",
        "csrc/lua/lua_system.c",
        "csrc/lua/lua_tensor.c",
        "csrc/lua/lua_tensor_index.c",
        "csrc/lua/lua_tensor_linalg.c",
        "csrc/lua/lua_tensor_reduce.c",
        "csrc/nn/activation.c",
        "csrc/nn/batchnorm.c",
        "csrc/nn/conv.c",
        "csrc/nn/conv_direct.c",
        "csrc/nn/linear.c",
        "csrc/nn/loss.c",
        "csrc/nn/optim.c",
        "csrc/nn/pool.c",
        "csrc/nn/shape.c",
        "csrc/nn/winograd.c",
        "csrc/sys/build_info.c",
        "csrc/sys/fileio.c",
        "csrc/sys/memory.c",
        "csrc/sys/parallel.c",
        "csrc/sys/process.c",
        "csrc/sys/status.c",
        "csrc/tensor/gemm.c",
        "csrc/tensor/rng.c",
        "csrc/tensor/strided.c",
        "csrc/tensor/tensor.c",
        "csrc/tensor/tensor_index.c",
        "csrc/tensor/tensor_construct.c",
        "csrc/tensor/tensor_linalg.c",
        "csrc/tensor/tensor_math.c",
        "csrc/tensor/tensor_reduce.c",
      },
      libraries = { "openblas", "crypto", "z", "jpeg", "png16", "stb", "m", "pthread" },
      -- cblas.h: Debian's compilers look in /usr/include/<their multiarch triplet> (any arch)
      incdirs = { "csrc" },
      libdirs = { "$(OPENBLAS_LIBDIR)" },
    },
    ["mnist"] = "lua/mnist/init.lua",
    ["mnist.version"] = "lua/mnist/version.lua",
    ["mnist.lazy"] = "lua/mnist/lazy.lua",
    ["mnist.tensor"] = "lua/mnist/tensor.lua",
    ["mnist.torch"] = "lua/mnist/torch.lua",
    ["mnist.random"] = "lua/mnist/random.lua",
    ["mnist.config"] = "lua/mnist/config.lua",
    ["mnist.weights"] = "lua/mnist/weights.lua",
    ["mnist.cli"] = "lua/mnist/cli.lua",
    ["mnist.model"] = "lua/mnist/model.lua",
    ["mnist.predict"] = "lua/mnist/predict.lua",
    ["mnist.recipes"] = "lua/mnist/recipes.lua",
    ["mnist.pretrained"] = "lua/mnist/pretrained.lua",
    ["mnist.artifacts"] = "lua/mnist/artifacts.lua",
    ["mnist.checkpoint"] = "lua/mnist/checkpoint.lua",
    ["mnist.train"] = "lua/mnist/train.lua",
    ["mnist.optim"] = "lua/mnist/optim.lua",
    ["mnist.optim.schedules"] = "lua/mnist/optim/schedules.lua",
    ["mnist.optim.ConfusionMatrix"] = "lua/mnist/optim/ConfusionMatrix.lua",
    ["mnist.optim.Logger"] = "lua/mnist/optim/Logger.lua",
    ["mnist.nn"] = "lua/mnist/nn/init.lua",
    ["mnist.nn.Module"] = "lua/mnist/nn/Module.lua",
    ["mnist.nn.Container"] = "lua/mnist/nn/Container.lua",
    ["mnist.nn.Sequential"] = "lua/mnist/nn/Sequential.lua",
    ["mnist.nn.Concat"] = "lua/mnist/nn/Concat.lua",
    ["mnist.nn.ConcatTable"] = "lua/mnist/nn/ConcatTable.lua",
    ["mnist.nn.ParallelTable"] = "lua/mnist/nn/ParallelTable.lua",
    ["mnist.nn.SpatialConvolution"] = "lua/mnist/nn/SpatialConvolution.lua",
    ["mnist.nn.SpatialConvolutionMM"] = "lua/mnist/nn/SpatialConvolutionMM.lua",
    ["mnist.nn.SpatialMaxPooling"] = "lua/mnist/nn/SpatialMaxPooling.lua",
    ["mnist.nn.SpatialAveragePooling"] = "lua/mnist/nn/SpatialAveragePooling.lua",
    ["mnist.nn.SpatialZeroPadding"] = "lua/mnist/nn/SpatialZeroPadding.lua",
    ["mnist.nn.BatchNormalization"] = "lua/mnist/nn/BatchNormalization.lua",
    ["mnist.nn.SpatialBatchNormalization"] = "lua/mnist/nn/SpatialBatchNormalization.lua",
    ["mnist.nn.Linear"] = "lua/mnist/nn/Linear.lua",
    ["mnist.nn.Activation"] = "lua/mnist/nn/Activation.lua",
    ["mnist.nn.ReLU"] = "lua/mnist/nn/ReLU.lua",
    ["mnist.nn.Tanh"] = "lua/mnist/nn/Tanh.lua",
    ["mnist.nn.Sigmoid"] = "lua/mnist/nn/Sigmoid.lua",
    ["mnist.nn.LogSigmoid"] = "lua/mnist/nn/LogSigmoid.lua",
    ["mnist.nn.LeakyReLU"] = "lua/mnist/nn/LeakyReLU.lua",
    ["mnist.nn.ELU"] = "lua/mnist/nn/ELU.lua",
    ["mnist.nn.HardTanh"] = "lua/mnist/nn/HardTanh.lua",
    ["mnist.nn.Identity"] = "lua/mnist/nn/Identity.lua",
    ["mnist.nn.SoftMax"] = "lua/mnist/nn/SoftMax.lua",
    ["mnist.nn.LogSoftMax"] = "lua/mnist/nn/LogSoftMax.lua",
    ["mnist.nn.Dropout"] = "lua/mnist/nn/Dropout.lua",
    ["mnist.nn.SpatialDropout"] = "lua/mnist/nn/SpatialDropout.lua",
    ["mnist.nn.View"] = "lua/mnist/nn/View.lua",
    ["mnist.nn.Flatten"] = "lua/mnist/nn/Flatten.lua",
    ["mnist.nn.Reshape"] = "lua/mnist/nn/Reshape.lua",
    ["mnist.nn.JoinTable"] = "lua/mnist/nn/JoinTable.lua",
    ["mnist.nn.CAddTable"] = "lua/mnist/nn/CAddTable.lua",
    ["mnist.nn.CMulTable"] = "lua/mnist/nn/CMulTable.lua",
    ["mnist.nn.SelectTable"] = "lua/mnist/nn/SelectTable.lua",
    ["mnist.nn.Criterion"] = "lua/mnist/nn/Criterion.lua",
    ["mnist.nn.ClassNLLCriterion"] = "lua/mnist/nn/ClassNLLCriterion.lua",
    ["mnist.nn.CrossEntropyCriterion"] = "lua/mnist/nn/CrossEntropyCriterion.lua",
    ["mnist.nn.PointwiseCriterion"] = "lua/mnist/nn/PointwiseCriterion.lua",
    ["mnist.nn.MSECriterion"] = "lua/mnist/nn/MSECriterion.lua",
    ["mnist.nn.BCECriterion"] = "lua/mnist/nn/BCECriterion.lua",
    ["mnist.nn.SmoothL1Criterion"] = "lua/mnist/nn/SmoothL1Criterion.lua",
    ["mnist.nn.DistKLDivCriterion"] = "lua/mnist/nn/DistKLDivCriterion.lua",
    ["mnist.nn.MultiMarginCriterion"] = "lua/mnist/nn/MultiMarginCriterion.lua",
    ["mnist.http"] = "lua/mnist/http.lua",
    ["mnist.fs"] = "lua/mnist/fs.lua",
    ["mnist.deploy"] = "lua/mnist/deploy.lua",
    ["mnist.download"] = "lua/mnist/download.lua",
    ["mnist.dataset"] = "lua/mnist/dataset.lua",
    ["mnist.distributed"] = "lua/mnist/distributed.lua",
    ["mnist.preprocessing"] = "lua/mnist/preprocessing.lua",
    ["mnist.report"] = "lua/mnist/report.lua",
    ["mnist.runs"] = "lua/mnist/runs.lua",
    ["mnist.repl"] = "lua/mnist/repl.lua",
  },
  install = {
    bin = { ["mnist.lua"] = "bin/mnist.lua" },
    -- The published weights of this version (make shipped), installed beside the modules as
    -- mnist/shipped/<file> (the recipes' in mnist/shipped/<arch>/), where mnist.pretrained looks for them.
    lua = {
      ["mnist.shipped.classifier"] = "lua/mnist/shipped/mnist-classifier-0.1.0.safetensors",
      ["mnist.shipped.classifier_sha256"] = "lua/mnist/shipped/mnist-classifier-0.1.0.safetensors.sha256",
      ["mnist.shipped.features"] = "lua/mnist/shipped/mnist-features-0.1.0.safetensors",
      ["mnist.shipped.features_sha256"] = "lua/mnist/shipped/mnist-features-0.1.0.safetensors.sha256",
      ["mnist.shipped.manifest"] = "lua/mnist/shipped/manifest.json",
      ["mnist.shipped.fast.classifier"] = "lua/mnist/shipped/fast/mnist-classifier-0.1.0.safetensors",
      ["mnist.shipped.fast.classifier_sha256"] = "lua/mnist/shipped/fast/mnist-classifier-0.1.0.safetensors.sha256",
      ["mnist.shipped.fast.features"] = "lua/mnist/shipped/fast/mnist-features-0.1.0.safetensors",
      ["mnist.shipped.fast.features_sha256"] = "lua/mnist/shipped/fast/mnist-features-0.1.0.safetensors.sha256",
      ["mnist.shipped.fast.manifest"] = "lua/mnist/shipped/fast/manifest.json",
      ["mnist.shipped.best.classifier"] = "lua/mnist/shipped/best/mnist-classifier-0.1.0.safetensors",
      ["mnist.shipped.best.classifier_sha256"] = "lua/mnist/shipped/best/mnist-classifier-0.1.0.safetensors.sha256",
      ["mnist.shipped.best.features"] = "lua/mnist/shipped/best/mnist-features-0.1.0.safetensors",
      ["mnist.shipped.best.features_sha256"] = "lua/mnist/shipped/best/mnist-features-0.1.0.safetensors.sha256",
      ["mnist.shipped.best.manifest"] = "lua/mnist/shipped/best/manifest.json",
    },
  },
}
