-- A run's report.html, rendered by a real browser (headless Chromium), and evaluate --errors.
local cjson = require "cjson"
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local fs = require "mnist.fs"

local TRAIN = "train --arch lenet --limit-train 1200 --limit-test 500 --batch-size 50 --epochs 2 --log-interval 4 "
  .. "--threads 2 --run-id r1"

local function cli(home, args)
  return H.run(("MNIST_HOME=%s luajit bin/mnist.lua %s"):format(H.quote(home), args))
end

-- The Chromium binary, installing Debian's package when it is missing (as `make deps` would);
-- nil and why when it cannot be had.
local function chromium()
  local path = fs.capture("command -v chromium"):match("^(%S+)")
  if path then return path end
  local out = H.run("sh tools/deps.sh chromium 2>&1")
  path = fs.capture("command -v chromium"):match("^(%S+)")
  if path then return path end
  return nil, "Chromium cannot be installed here: " .. out:gsub("%s+$", "")
end

-- Runs headless Chromium on a file with `args`; returns stdout and stderr.
local function browse(browser, page, args)
  local profile = H.tmpdir()
  local err = profile .. ".stderr"
  -- the browser is not ours: `make asan` preloads the sanitizer runtimes for our core, not for it
  local out = H.run(("env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS timeout 120 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
    .. "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=%s "
    .. "--enable-logging=stderr --v=0 --virtual-time-budget=5000 %s %s 2>%s"):format(browser,
    H.quote(profile), args, H.quote("file://" .. page), H.quote(err)))
  local stderr = H.read(err)
  H.rm(profile)
  os.remove(err)
  return out, stderr
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

describe("report's mistakes", function()
  it("lists the misclassified samples with the prediction's probability, most confident first", function()
    local report = require "mnist.report"
    local T = require "mnist.tensor"
    local log = math.log
    -- rows: predicted 1 (p .7, label 0), correct, predicted 2 (p .9, label 1), predicted 0 (p .7, label 2)
    local log_probs = T {
      { log(0.2), log(0.7), log(0.1) },
      { log(0.8), log(0.1), log(0.1) },
      { log(0.05), log(0.05), log(0.9) },
      { log(0.7), log(0.2), log(0.1) },
    }
    local list = report.add_mistakes({}, log_probs, { 0, 0, 1, 2 }, 10)
    assert.equal(3, #list)
    report.sort_mistakes(list)
    local want = { { 13, 1, 2, 0.9 }, { 11, 0, 1, 0.7 }, { 14, 2, 0, 0.7 } } -- ties: by position
    for i, w in ipairs(want) do
      assert.same({ w[1], w[2], w[3] }, { list[i].index, list[i].label, list[i].prediction })
      assert.near(w[4], list[i].probability, 1e-6)
    end
  end)
end)

describe("report.base64", function()
  it("encodes as coreutils' base64 does", function()
    local report = require "mnist.report"
    for _, s in ipairs { "", "a", "ab", "abc", "abcd", "\0\255\128", ("xyz\1"):rep(50) } do
      local file = os.tmpname()
      H.write(file, s)
      local want = H.run("base64 -w0 " .. H.quote(file))
      os.remove(file)
      assert.equal(want, report.base64(s))
    end
  end)
end)

describe("report.html", function()
  local home, dir, train_out, code
  setup(function()
    home = H.tmpdir()
    train_out, code = cli(home, TRAIN)
    dir = home .. "/runs/r1"
  end)
  teardown(function() H.rm(home) end)

  it("is written by training, self-contained, with the run's numbers", function()
    assert.equal(0, code, train_out)
    assert.truthy(train_out:find("report: " .. dir .. "/report.html", 1, true), train_out)
    local html = H.read(dir .. "/report.html")
    -- nothing is fetched: no URL but the SVG namespace, a policy that forbids any load
    assert.is_nil(html:gsub('xmlns="http://www.w3.org/2000/svg"', ""):find("https?://"))
    assert.truthy(html:find("default-src 'none'", 1, true))
    local evaluation = cjson.decode(H.read(dir .. "/evaluation.json"))
    local history = {}
    for line in H.read(dir .. "/metrics.jsonl"):gmatch("[^\n]+") do history[#history + 1] = cjson.decode(line) end
    assert.equal(2, #history)
    -- the evaluation is the last epoch's test pass: its matrix gives the logged accuracy
    local correct, total = 0, 0
    for t, row in ipairs(evaluation.confusion) do
      for p, c in ipairs(row) do
        total = total + c
        if t == p then correct = correct + c end
      end
    end
    assert.equal(500, total)
    assert.near(history[2].test_accuracy, correct / total, 1e-12)
    assert.equal(total - correct, evaluation.mistakes_total)
    -- the loss was logged every 4 steps of the 22 per epoch (1200 - 100 validation images, batch 50)
    local steps = {}
    for _, sl in ipairs(history[1].step_losses) do steps[#steps + 1] = sl[1] end
    assert.same({ 4, 8, 12, 16, 20, 22 }, steps)
    -- provenance: the weights' SHA-256 as published
    local manifest = cjson.decode(H.read(home .. "/weights/lenet/manifest.json"))
    for name, f in pairs(manifest.files) do
      assert.truthy(html:find(f.sha256, 1, true), name)
    end
    assert.truthy(html:find("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 1, true)) -- t10k images
  end)

  it("renders in headless Chromium: no console errors, heat map, curves and gallery in the DOM, a picture", function()
    local browser, why = chromium()
    if not browser then
      pending(why)
      return
    end
    local page = dir .. "/report.html"
    local dom, log = browse(browser, page, "--dump-dom")
    assert.is_nil(log:find("CONSOLE", 1, true), log)
    assert.is_nil(log:find("Refused to", 1, true), log)
    -- the page's self-check ran: every image decoded, no error event
    local body = dom:match("<body([^>]*)>")
    assert.truthy(body, dom:sub(1, 500))
    assert.is_nil(body:find("data-errors", 1, true), body)
    assert.matches('data%-broken%-images="0"', body)
    local evaluation = cjson.decode(H.read(dir .. "/evaluation.json"))
    local shown = math.min(evaluation.mistakes_total, 100)
    assert.is_true(shown > 0)
    assert.matches(('data%%-images="%d"'):format(shown), body)
    -- the heat map: 100 cells carrying the confusion counts
    local heat = dom:match('<svg id="confusion".-</svg>')
    assert.truthy(heat)
    assert.equal(100, count(heat, '<rect class="cell"'))
    for t, p, c in heat:gmatch('data%-true="(%d)" data%-predicted="(%d)" data%-count="(%d+)"') do
      assert.equal(evaluation.confusion[tonumber(t) + 1][tonumber(p) + 1], tonumber(c))
    end
    -- the curves: the loss per logged step (12 points) and per epoch, accuracy, learning rate, speed
    local loss = dom:match('<svg id="loss%-chart".-</svg>')
    assert.truthy(loss)
    local points = loss:match('<polyline class="series s1" points="([^"]+)"')
    assert.equal(12, count(points, "[%d.]+,[%d.]+"))
    for _, id in ipairs { "accuracy%-chart", "lr%-chart", "speed%-chart" } do
      assert.truthy(dom:find('<svg id="' .. id .. '"'), id)
    end
    -- the gallery, worst first, labelled
    local gallery = dom:match('<div id="gallery">.-</div>')
    assert.equal(shown, count(gallery, '<figure class="mistake"'))
    local first = evaluation.mistakes[1]
    assert.truthy(gallery:find(('data-index="%d"'):format(first.index), 1, true))
    assert.truthy(gallery:find(("true <b>%d</b> → <b>%d</b>"):format(first.label, first.prediction), 1, true))
    assert.truthy(dom:find('<table id="per-class"', 1, true))
    assert.truthy(dom:find('<table id="config"', 1, true))

    -- a screenshot that is not blank: many pixels that are not the white background, many shades
    local shot = home .. "/shot.png"
    local _, shot_log = browse(browser, page, ("--hide-scrollbars --window-size=1300,2400 --screenshot=%s"):format(H.quote(shot)))
    assert.is_true(H.exists(shot), shot_log)
    local img = assert(core.image_decode(H.read(shot)))
    assert.same({ 2400, 1300 }, img:size())
    local bytes = img:tobytes()
    local inked, shades = 0, {}
    for i = 1, #bytes, 7 do
      local v = bytes:byte(i)
      if v < 240 then inked = inked + 1 end
      shades[v] = true
    end
    local n_shades = 0
    for _ in pairs(shades) do n_shades = n_shades + 1 end
    assert.is_true(inked > #bytes / 7 * 0.03, "the screenshot is (nearly) blank: " .. inked)
    assert.is_true(n_shades > 50, "too few shades: " .. n_shades)
  end)

  it("mnist.lua report rebuilds the page of the newest run (or the one named) and prints its path", function()
    local page = dir .. "/report.html"
    local before = H.read(page)
    os.remove(page)
    local out, c = cli(home, "report")
    assert.equal(0, c, out)
    assert.equal(page .. "\n", out)
    local rebuilt = H.read(page)
    local function stable(s) return (s:gsub("Written by mnist [^<]*UTC", "")) end
    assert.equal(stable(before), stable(rebuilt))
    out, c = cli(home, "report r1")
    assert.equal(0, c)
    assert.equal(page .. "\n", out)
    out, c = cli(home, "report nope 2>&1")
    assert.equal(1, c)
    assert.matches("no run 'nope' under .*/runs %(runs: r1%)", out)
  end)

  it("evaluate --errors draws the misclassified test digits, worst first, labelled", function()
    local png = home .. "/errors.png"
    local out, c = cli(home, "evaluate --arch lenet --limit-test 500 --errors " .. H.quote(png))
    assert.equal(0, c, out)
    local n = tonumber(out:match("misclassified: (%d+) images"))
    local correct = tonumber(out:match("%((%d+) / 500%)"))
    assert.equal(500 - correct, n)
    -- the same mistakes, computed here from the published weights
    local mnist = require "mnist"
    local cfg = mnist.config.resolve { artifact_dir = home, arch = "lenet", limit_test = 500 }
    local net = mnist.classifier(cfg, { pretrained = true })
    local result = require("mnist.train").evaluate(net, mnist.load_dataset("test", cfg))
    assert.equal(n, #result.mistakes)
    local img = assert(core.image_decode(H.read(png)))
    local columns, scale = 16, 2
    assert.same({ math.ceil(n / columns) * 40 * scale, columns * 32 * scale }, img:size())
    -- tile 1 holds the worst mistake's digit, dark on light, at (2, 2), scaled by 2
    local digit = mnist.dataset.ensure_records(cfg).test.images[result.mistakes[1].index]:tobytes()
    local pixels, width = img:tobytes(), columns * 32 * scale
    for y = 0, 27 do
      for x = 0, 27 do
        local got = pixels:byte((2 + y) * scale * width + (2 + x) * scale + 1)
        assert.equal(255 - digit:byte(y * 28 + x + 1), got)
      end
    end
    -- under it, the label's ink (not the white background)
    local inked = 0
    for y = 31 * scale, 38 * scale - 1 do
      for x = 0, 32 * scale - 1 do
        if pixels:byte(y * width + x + 1) < 200 then inked = inked + 1 end
      end
    end
    assert.is_true(inked > 20, "no label under the first tile")
  end)
end)
