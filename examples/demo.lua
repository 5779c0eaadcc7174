-- A first look at the tensor core: build tensors, multiply them, look at an image as block art.
--   eval "$(make -s env)"; luajit examples/demo.lua
local mnist = require "mnist"
local T = mnist.tensor

print(("mnist %s (OpenBLAS core %s)"):format(mnist.version, mnist.core.blas_info().core))

local a = T { { 1, 2, 3 }, { 4, 5, 6 } }
local b = T { { 7, 8 }, { 9, 10 }, { 11, 12 } }
print("a @ b =")
print(a:matmul(b))

-- A ring drawn into a 28x28 image, printed as block art.
local img = T(28, 28)
for r = 1, 28 do
  for c = 1, 28 do
    local d = math.sqrt((r - 14.5) ^ 2 + (c - 14.5) ^ 2)
    img:set(r, c, math.max(0, 1 - math.abs(d - 8) / 3))
  end
end
print(img)
