-- Accuracy of the shipped weights on pictures of digits, with the photo clean-up (what predict
-- does) and with the MNIST recipe alone (photo = false: what predict did before), per folder. The
-- file names carry the labels: <kind>-<mnist index>-<label>.<ext> (tools/make_photos.py).
--   /usr/bin/python3 tools/make_photos.py photo build/photos/photo 200 --seed 1 --first 1000
--   /usr/bin/python3 tools/make_photos.py thin build/photos/thin 200 --seed 1 --first 1000
--   /usr/bin/python3 tools/make_photos.py scan build/photos/scan 200 --seed 1 --first 1000
--   eval "$(make -s env)"; luajit bench/photos.lua build/photos/photo build/photos/thin build/photos/scan
local mnist = require "mnist"
local net = mnist.classifier { pretrained = true }

local function list(dir)
  local files = {}
  local p = io.popen("ls -1 '" .. dir .. "'")
  for name in p:lines() do
    local label = name:match("%-(%d)%.%a+$")
    if label then files[#files + 1] = { path = dir .. "/" .. name, label = tonumber(label) } end
  end
  p:close()
  return files
end

for _, dir in ipairs(arg) do
  local files = list(dir)
  for _, photo in ipairs { true, false } do
    local right, failed, wrong = 0, 0, {}
    local t0 = os.clock()
    for _, f in ipairs(files) do
      local ok, x = pcall(mnist.preprocess_images, f.path, { photo = photo })
      if ok then
        local label = net:predict(x[1][1]:clone():mul(net.config.normalize_std or 0.3081):add(net.config.normalize_mean or 0.1307))
        if label == f.label then right = right + 1 else wrong[#wrong + 1] = f.path:match("[^/]+$") .. "->" .. label end
      else
        failed = failed + 1
        wrong[#wrong + 1] = f.path:match("[^/]+$") .. ": " .. tostring(x)
      end
    end
    print(("%s, %s: %d of %d right (%.1f%%), %d refused, %.1f ms per picture (CPU)"):format(dir,
      photo and "photo clean-up + recipe" or "recipe alone", right, #files, 100 * right / #files, failed,
      1000 * (os.clock() - t0) / #files))
    if photo and #wrong > 0 then print("  wrong: " .. table.concat(wrong, ", ", 1, math.min(#wrong, 12))) end
  end
end
