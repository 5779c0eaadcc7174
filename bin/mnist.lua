#!/usr/bin/env luajit
-- mnist.lua: the command line of the mnist rock (lua/mnist/cli.lua does the work).

-- Run from a checkout (bin/mnist.lua), use the checkout's modules and in-tree build (the build
-- directory MNIST_BUILD_DIR names, relative to the checkout: `make asan` runs the CLI on its own).
local here = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
if io.open(here .. "/lua/mnist/init.lua") then
  package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
  package.cpath = here .. "/" .. (os.getenv("MNIST_BUILD_DIR") or "build") .. "/?.so;" .. package.cpath
end

local ok, cli = pcall(require, "mnist.cli")
if not ok then
  io.stderr:write("mnist.lua: cannot load the mnist rock: ", tostring(cli), "\n",
    "  run `make` in the checkout, or install it with `make install`\n")
  os.exit(2)
end
os.exit(cli.main(arg))
