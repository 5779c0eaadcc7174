#!/usr/bin/env luajit
-- mnist.lua: the command-line interface of the mnist rock.

-- Run from a checkout (bin/mnist.lua), use the checkout's modules and in-tree build.
local here = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
if io.open(here .. "/lua/mnist/init.lua") then
  package.path = here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;" .. package.path
  package.cpath = here .. "/build/?.so;" .. package.cpath
end
local ok, mnist = pcall(require, "mnist")
if not ok then
  io.stderr:write("mnist.lua: cannot load the mnist rock: ", tostring(mnist), "\n",
    "  run `make` in the checkout and `eval \"$(make -s env)\"`, or install it with `make install`\n")
  os.exit(2)
end

local USAGE = [[
usage: mnist.lua <command>

commands:
  info        version, BLAS core and threads
  --version   print the version
]]

local command = arg[1]
if command == "--version" then
  print(mnist.version)
elseif command == "info" then
  local blas = mnist.core.blas_info()
  print(("mnist %s\nBLAS: OpenBLAS, core %s, %d threads"):format(mnist.version, blas.core, blas.threads))
elseif command == nil or command == "--help" or command == "-h" then
  io.write(USAGE)
else
  io.stderr:write(("mnist.lua: unknown command '%s'\n%s"):format(command, USAGE))
  os.exit(1)
end
