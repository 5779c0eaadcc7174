-- A short training through the command line, as a user runs one (a few seconds natively; the
-- training check of make test-arm64, where the longer ones of train_spec take too long under
-- emulation): LeNet with Adam, one epoch on 2,000 real MNIST images (MNIST_MIRROR, as make test
-- sets it), then `mnist.lua evaluate` of the weights it published scores the same test images the
-- same.
local mnist = require "mnist"
local H = require "spec.support.helpers"

describe("mnist.lua train, then evaluate", function()
  it("learns LeNet on 2,000 images in one epoch, and its published weights evaluate to its own score", function()
    local mirror = H.mirror()
    local home = H.tmpdir()
    local run = ("MNIST_HOME=%s MNIST_MIRROR=%s luajit bin/mnist.lua "):format(H.quote(home), H.quote(mirror))
    local data = " --arch lenet --limit-test 500 --threads 2"
    local trained, rc = H.run(run .. "train --limit-train 2000 --n-validation 200 --epochs 1 --optimizer adam" ..
      " --learning-rate 0.002 --batch-size 32 --seed 1" .. data)
    local evaluated, rc2 = H.run(run .. "evaluate" .. data)
    local file = ("%s/weights/lenet/mnist-classifier-%s.safetensors"):format(home, mnist.version) -- each arch its folder
    local published = H.exists(file)
    -- the kernels' instruction set, which decides the bits with the code and the config
    local manifest, meta
    if published then
      manifest = H.read_json(home .. "/weights/lenet/manifest.json")
      meta = select(2, require("mnist.weights").load(file))
    end
    H.rm(home)
    assert.equal(0, rc, trained)
    assert.equal(0, rc2, evaluated)
    assert.is_true(published, trained)
    assert.equal(mnist.core.blas_info().gemm, manifest.kernels)
    assert.equal(manifest.kernels, meta.kernels)
    local correct = tonumber(trained:match("global correct: ([%d.]+)%% %(%d+ / 500%)"))
    assert.truthy(correct, trained)
    -- chance is 10%; this run reaches about 80%
    assert.is_true(correct > 70, trained)
    assert.equal(trained:match("global correct: ([^\n]+)"), evaluated:match("global correct: ([^\n]+)"))
  end)
end)
