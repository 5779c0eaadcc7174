-- Inference the way you would do it at the REPL: load the pretrained classifier, look at a digit,
-- predict it, then predict a picture file.
--   eval "$(make -s env)"; luajit examples/repl.lua [image.png]
local mnist = require "mnist"

-- 1. The classifier with the published weights of this version (verified by SHA-256).
local net = mnist.classifier { pretrained = true }
print(net)

-- 2. The first test digit, as stored: uint8 (28, 28), white ink on black. print shows block art.
local records = mnist.dataset.ensure_records(mnist.config.resolve())
local digit, label = records.test.images[1], records.test.labels[1]
print(digit)
print(("true label: %d"):format(label))

-- 3. predict takes tensors, tables, byte strings and image files; labels are the digits 0..9.
local predicted, probs = net:predict(digit)
print(("predicted: %d (p = %.3f)"):format(predicted, probs[predicted + 1]))

-- 4. A picture of any size: grayscale, inverted if the page is light, cropped, centred. Without
--    an argument, the same digit saved as dark ink on a light page.
local path = arg and arg[1]
if not path then
  local base = os.tmpname()
  os.remove(base)
  path = base .. ".png"
  mnist.preprocessing.save_image(digit:float(-1 / 255, 1), path)
end
local file_label, file_probs = net:predict(path)
print(("%s: %d (p = %.3f)"):format(path, file_label, file_probs[file_label + 1]))
