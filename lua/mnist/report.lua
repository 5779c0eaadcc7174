-- mnist.report: what a run looks like. In <artifact_dir>/runs/<id>/:
--   report.html      one self-contained page (inline SVG and PNG, no network, readable without
--                    JavaScript): loss per logged step and per epoch, accuracy, learning rate,
--                    images/s, the confusion matrix as a heat map, the misclassified test digits
--                    worst first, per-class accuracy, the resolved config and the provenance
--   evaluation.json  the last test evaluation the page shows: confusion counts and the mistakes
--                    (the worst MAX_MISTAKES with their 28x28 PNG), so the page is rebuilt from
--                    the run directory alone
--   curve.png        loss and accuracy for terminals, drawn by gnuplot
-- Training calls after_epoch (after every epoch) and write (at the end); `mnist.lua report [ID]`
-- rebuilds the page. `mnist.lua evaluate --errors FILE.png` draws errors_png. The mistakes come
-- from train.evaluate, through add_mistakes and sort_mistakes.
local cjson = require "cjson"
local core = require "mnist.core"
local fs = require "mnist.fs"
local runs = require "mnist.runs"

local M = {}

M.PAGE, M.EVALUATION = "report.html", "evaluation.json"
M.MAX_MISTAKES = 100 -- digits kept in evaluation.json and shown in the gallery

-- Mistakes -----------------------------------------------------------------------------------------

-- The misclassified samples of a batch, appended to `out`: log-probabilities (N, n), labels (N)
-- (tensor or table), `offset` the number of samples of the split before this batch. Each entry:
-- {index = 1-based position in the split, label, prediction, probability = of the prediction}.
function M.add_mistakes(out, log_probs, labels, offset)
  local predictions = log_probs:argmax()
  if type(predictions) == "number" then predictions = { predictions } end
  for i, p in ipairs(predictions) do
    if p - 1 ~= labels[i] then
      out[#out + 1] = { index = offset + i, label = labels[i], prediction = p - 1,
        probability = math.exp(log_probs:get(i, p)) }
    end
  end
  return out
end

-- Worst first: the most confident wrong predictions, then by position.
function M.sort_mistakes(list)
  table.sort(list, function(a, b)
    if a.probability ~= b.probability then return a.probability > b.probability end
    return a.index < b.index
  end)
  return list
end

-- Encoding helpers ---------------------------------------------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { math.floor(n / 262144) % 64, math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1)
      .. (b and B64:sub(q[3] + 1, q[3] + 1) or "=") .. (c and B64:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return table.concat(out)
end

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end

local function pct(x) return x and ("%.2f%%"):format(100 * x) or "–" end

-- Charts (inline SVG) ---------------------------------------------------------------------------

-- About `n` round tick values covering [lo, hi].
local function ticks(lo, hi, n)
  local span = hi - lo
  local raw = span / (n or 5)
  local mag = 10 ^ math.floor(math.log10(raw))
  local step = mag
  for _, m in ipairs { 1, 2, 5, 10 } do
    step = m * mag
    if span / step <= (n or 5) then break end
  end
  local out = {}
  for k = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) do out[#out + 1] = k * step end
  return out, step
end

local function tick_label(v, step)
  if v == 0 then v = 0 end -- not "-0.0"
  if step >= 1 and math.abs(v) < 1e6 then return ("%d"):format(v) end
  local decimals = math.max(0, -math.floor(math.log10(step) + 1e-9))
  return ("%." .. decimals .. "f"):format(v)
end

-- An SVG line chart. spec: id, title, x_label, y_label, series = {{name, color, points =
-- {{x, y}, ...}, line (default true), markers}}, y_percent (values are fractions shown as %).
-- The legend sits right of the plot area, clear of every line.
local function chart(spec)
  local W, H, left, right, top, bottom = 610, 280, 64, 420, 34, 236
  local xs, ys = {}, {}
  for _, s in ipairs(spec.series) do
    for _, p in ipairs(s.points) do
      if p[2] == p[2] and p[2] ~= math.huge and p[2] ~= -math.huge then
        xs[#xs + 1], ys[#ys + 1] = p[1], p[2]
      end
    end
  end
  local parts = { ('<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
    .. 'viewBox="0 0 %d %d" role="img" aria-label="%s">'):format(spec.id, W, H, W, H, esc(spec.title)),
    ('<text x="%d" y="20" class="title">%s</text>'):format(left, esc(spec.title)) }
  if #xs == 0 then
    parts[#parts + 1] = ('<text x="%d" y="%d" class="empty">no data yet</text></svg>'):format(left + 20, (top + bottom) / 2)
    return table.concat(parts)
  end
  local x0, x1 = math.min(unpack(xs)), math.max(unpack(xs))
  local y0, y1 = math.min(unpack(ys)), math.max(unpack(ys))
  if x1 - x0 < 1e-12 then x0, x1 = x0 - 0.5, x1 + 0.5 end
  local pad = (y1 - y0) * 0.08
  if pad < 1e-12 then pad = math.max(math.abs(y1) * 0.05, 1e-3) end
  y0, y1 = y0 - pad, y1 + pad
  if spec.y_min and y0 < spec.y_min then y0 = spec.y_min end
  local function px(x) return left + (x - x0) / (x1 - x0) * (right - left) end
  local function py(y) return bottom - (y - y0) / (y1 - y0) * (bottom - top) end
  -- grid and axes
  local yt, ystep = ticks(y0, y1, 5)
  for _, v in ipairs(yt) do
    local label = spec.y_percent and tick_label(100 * v, 100 * ystep) .. "%" or tick_label(v, ystep)
    parts[#parts + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="ytick">%s</text>')
      :format(left, right, py(v), py(v), left - 6, py(v) + 4, label)
  end
  local xt, xstep = ticks(x0, x1, 8)
  if xstep < 1 and not spec.x_fractions then -- epochs: whole numbers only
    xt, xstep = {}, 1
    for v = math.ceil(x0), math.floor(x1) do xt[#xt + 1] = v end
  end
  for _, v in ipairs(xt) do
    parts[#parts + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="tick"/><text x="%.1f" y="%d" class="xtick">%s</text>')
      :format(px(v), px(v), bottom, bottom + 4, px(v), bottom + 17, tick_label(v, xstep))
  end
  parts[#parts + 1] = ('<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>'):format(left, top,
    right - left, bottom - top)
  parts[#parts + 1] = ('<text x="%d" y="%d" class="xlabel">%s</text>'):format((left + right) / 2, H - 10, esc(spec.x_label))
  -- series
  for i, s in ipairs(spec.series) do
    local pts = {}
    for _, p in ipairs(s.points) do
      if p[2] == p[2] then pts[#pts + 1] = ("%.1f,%.1f"):format(px(p[1]), py(p[2])) end
    end
    local class = ("series s%d"):format(i)
    if s.line ~= false and #pts > 1 then
      parts[#parts + 1] = ('<polyline class="%s" points="%s" fill="none" stroke="%s" stroke-width="%s"%s/>'):format(
        class, table.concat(pts, " "), s.color, s.width or 2, s.dash and (' stroke-dasharray="%s"'):format(s.dash) or "")
    end
    if s.markers or #pts == 1 or s.line == false then
      for _, p in ipairs(pts) do
        local cx, cy = p:match("([^,]+),(.+)")
        parts[#parts + 1] = ('<circle class="%s" cx="%s" cy="%s" r="3.5" fill="%s"/>'):format(class, cx, cy, s.color)
      end
    end
    -- the legend, right of the plot
    local ly = top + 8 + (i - 1) * 20
    parts[#parts + 1] = ('<g class="legend"><line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"%s/>'
      .. '<text x="%d" y="%d">%s</text></g>'):format(right + 14, right + 36, ly, ly, s.color,
      s.dash and (' stroke-dasharray="%s"'):format(s.dash) or "", right + 42, ly + 4, esc(s.name))
  end
  parts[#parts + 1] = "</svg>"
  return table.concat(parts, "\n")
end

local COLORS = { train = "#1f77b4", validation = "#ff7f0e", test = "#2ca02c", step = "#9ecae1", other = "#6a3d9a" }

-- The charts of a history (metrics.jsonl records): x is the epoch, logged steps at fractions.
local function charts(history)
  local step_pts, train_loss, val_loss, train_acc, val_acc, test_acc, lr, speed = {}, {}, {}, {}, {}, {}, {}, {}
  for _, h in ipairs(history) do
    local e = h.epoch
    local steps = 0
    for _, sl in ipairs(h.step_losses or {}) do steps = math.max(steps, sl[1]) end
    for _, sl in ipairs(h.step_losses or {}) do step_pts[#step_pts + 1] = { e - 1 + sl[1] / steps, sl[2] } end
    train_loss[#train_loss + 1] = { e, h.train_loss }
    if h.validation_loss then val_loss[#val_loss + 1] = { e, h.validation_loss } end
    train_acc[#train_acc + 1] = { e, h.train_accuracy }
    if h.validation_accuracy then val_acc[#val_acc + 1] = { e, h.validation_accuracy } end
    if h.test_accuracy then test_acc[#test_acc + 1] = { e, h.test_accuracy } end
    lr[#lr + 1] = { e, h.learning_rate }
    speed[#speed + 1] = { e, h.images_per_s }
  end
  return {
    chart { id = "loss-chart", title = "Loss", x_label = "epoch (logged steps between epochs)", y_min = 0,
      x_fractions = true, series = {
      { name = "train, logged steps", color = COLORS.step, points = step_pts, width = 1.5 },
      { name = "train, epoch", color = COLORS.train, points = train_loss, markers = true },
      { name = "validation, epoch", color = COLORS.validation, points = val_loss, markers = true },
    } },
    chart { id = "accuracy-chart", title = "Accuracy per epoch", x_label = "epoch", y_percent = true, series = {
      { name = "train", color = COLORS.train, points = train_acc, markers = true },
      { name = "validation", color = COLORS.validation, points = val_acc, markers = true },
      { name = "test", color = COLORS.test, points = test_acc, markers = true, dash = "6 3" },
    } },
    chart { id = "lr-chart", title = "Learning rate", x_label = "epoch", y_min = 0, series = {
      { name = "learning rate", color = COLORS.other, points = lr, markers = true } } },
    chart { id = "speed-chart", title = "Training speed (images/s)", x_label = "epoch", y_min = 0, series = {
      { name = "images/s", color = COLORS.train, points = speed, markers = true } } },
  }
end

-- The confusion matrix as an SVG heat map: each row shaded by the share of its true label that
-- went to each prediction (blue: correct, red: mistakes), counts written in the cells.
local function heat_map(confusion)
  local n = #confusion
  local cell, left, top = 44, 60, 56
  local size = n * cell
  local parts = { ('<svg id="confusion" class="heatmap" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
    .. 'aria-label="confusion matrix">'):format(left + size + 20, top + size + 20),
    ('<text x="%d" y="18" class="axis">prediction</text>'):format(left + size / 2 - 30),
    ('<text x="16" y="%d" class="axis" transform="rotate(-90 16 %d)">true label</text>'):format(top + size / 2 + 30, top + size / 2 + 30) }
  for t = 1, n do
    local row_total = 0
    for p = 1, n do row_total = row_total + confusion[t][p] end
    parts[#parts + 1] = ('<text x="%d" y="%d" class="label">%d</text>'):format(left - 10, top + (t - 0.5) * cell + 5, t - 1)
    parts[#parts + 1] = ('<text x="%d" y="%d" class="label">%d</text>'):format(left + (t - 0.5) * cell, top - 8, t - 1)
    for p = 1, n do
      local count = confusion[t][p]
      local share = row_total > 0 and count / row_total or 0
      local fill, ink
      if t == p then
        local k = share
        fill = ("rgb(%d,%d,%d)"):format(math.floor(247 - 200 * k), math.floor(251 - 140 * k), math.floor(255 - 75 * k))
        ink = k > 0.5 and "#fff" or "#000"
      else
        local k = count > 0 and math.min(1, 0.15 + math.sqrt(share) * 1.6) or 0
        fill = ("rgb(%d,%d,%d)"):format(255, math.floor(255 - 200 * k), math.floor(255 - 200 * k))
        ink = k > 0.6 and "#fff" or "#000"
      end
      parts[#parts + 1] = ('<rect class="cell" x="%d" y="%d" width="%d" height="%d" fill="%s" data-true="%d" data-predicted="%d" data-count="%d">'
        .. '<title>true %d, predicted %d: %d (%.1f%%)</title></rect>'):format(left + (p - 1) * cell, top + (t - 1) * cell,
        cell, cell, fill, t - 1, p - 1, count, t - 1, p - 1, count, 100 * share)
      if count > 0 then
        parts[#parts + 1] = ('<text x="%d" y="%d" class="count" fill="%s">%d</text>'):format(
          left + (p - 0.5) * cell, top + (t - 0.5) * cell + 4, ink, count)
      end
    end
  end
  parts[#parts + 1] = "</svg>"
  return table.concat(parts, "\n")
end

-- The page ---------------------------------------------------------------------------------------

local STYLE = [[
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1280px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.sub { color: #666; } .charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } svg .title { font-weight: 600; font-size: 13px; }
svg .grid { stroke: #eee; } svg .tick { stroke: #999; } svg .frame { fill: none; stroke: #999; }
svg .ytick { text-anchor: end; } svg .xtick, svg .xlabel, svg .label, svg .count { text-anchor: middle; }
svg .axis { font-weight: 600; } svg .empty { fill: #999; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } code { font-size: 12px; }
#gallery { display: flex; flex-wrap: wrap; gap: 8px; }
#gallery figure { margin: 0; width: 84px; text-align: center; font-size: 12px; }
#gallery img { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.bar { display: inline-block; height: 10px; background: #1f77b4; }
.status-finished { color: #2ca02c; } .status-interrupted { color: #ff7f0e; } .status-failed, .status-running { color: #d62728; }
]]

-- Fills data-* attributes on <body> with what a browser saw (images that failed to decode, script
-- errors): a check for the spec that renders the page, not needed to read it.
local SELF_CHECK = [[
window.addEventListener('error', function (e) {
  var t = e.target && e.target.tagName ? e.target.tagName + ' failed to load' : (e.message || 'error');
  document.body.setAttribute('data-errors', (document.body.getAttribute('data-errors') || '') + t + ';');
}, true);
window.addEventListener('load', function () {
  var broken = 0, images = document.images;
  for (var i = 0; i < images.length; i++) if (!images[i].complete || images[i].naturalWidth === 0) broken++;
  document.body.setAttribute('data-images', String(images.length));
  document.body.setAttribute('data-broken-images', String(broken));
});
]]

local function key_value_table(id, rows)
  local out = { ('<table id="%s">'):format(id) }
  for _, r in ipairs(rows) do
    out[#out + 1] = ("<tr><th>%s</th><td><code>%s</code></td></tr>"):format(esc(r[1]), esc(r[2]))
  end
  out[#out + 1] = "</table>"
  return table.concat(out, "\n")
end

local function show_value(v)
  if type(v) == "table" then return #v > 0 and table.concat(v, ", ") or "[]" end
  return tostring(v)
end

-- The HTML of the page for the run in `dir` (read from its files).
function M.html(dir)
  local s, why = runs.summary(dir)
  if not s then error("report: " .. why, 0) end
  local cfg, info, history = s.config, s.info, s.history
  local evaluation = fs.read_json(dir .. "/" .. M.EVALUATION)
  if type(evaluation) ~= "table" then evaluation = nil end
  local p = { "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    -- no network: nothing outside this file may load
    [[<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">]],
    ("<title>mnist run %s</title><style>%s</style></head><body>"):format(esc(s.id), STYLE),
    ("<h1>Run %s</h1>"):format(esc(s.id)),
    ('<p class="sub">%s, %s, batch %s; %d of %d epochs; <span class="status-%s" id="status">%s</span>%s; started %s UTC, '
      .. 'training time %s</p>'):format(esc(require("mnist.config").model_label(cfg)), esc(cfg.optimizer), esc(cfg.batch_size), s.epochs_done,
      s.epochs or 0, esc(s.status), esc(s.status), (info.message and info.message ~= "") and (": " .. esc(info.message))
      or (s.note and (" (" .. esc(s.note) .. ")") or ""), esc(s.date), esc(runs.format_duration(s.seconds))),
    ('<p>Best validation accuracy <b>%s</b>, test accuracy <b>%s</b>.</p>'):format(pct(s.best_validation), pct(s.test_accuracy)),
    '<h2>Training</h2><div class="charts">' }
  for _, svg in ipairs(charts(history)) do p[#p + 1] = svg end
  p[#p + 1] = "</div>"
  -- per epoch, as numbers
  p[#p + 1] = '<table id="epochs"><tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th>'
    .. '<th>test loss</th><th>test acc</th><th>learning rate</th><th>images/s</th><th>seconds</th></tr>'
  for _, h in ipairs(history) do
    p[#p + 1] = ('<tr><td class="num">%d</td><td class="num">%.4f</td><td class="num">%s</td><td class="num">%s</td>'
      .. '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%g</td><td class="num">%.0f</td>'
      .. '<td class="num">%.1f</td></tr>'):format(h.epoch, h.train_loss, pct(h.train_accuracy),
      h.validation_loss and ("%.4f"):format(h.validation_loss) or "–", pct(h.validation_accuracy),
      h.test_loss and ("%.4f"):format(h.test_loss) or "–", pct(h.test_accuracy), h.learning_rate, h.images_per_s, h.seconds)
  end
  p[#p + 1] = "</table>"
  if evaluation then
    p[#p + 1] = ("<h2>Test set after epoch %d: %d images, accuracy %s, loss %.4f</h2>"):format(evaluation.epoch or 0,
      evaluation.n or 0, pct(evaluation.accuracy), evaluation.loss or 0)
    p[#p + 1] = '<div class="charts"><div><h3>Confusion matrix</h3>' .. heat_map(evaluation.confusion) .. "</div>"
    p[#p + 1] = '<div><h3>Per-class accuracy</h3><table id="per-class"><tr><th>digit</th><th>images</th><th>correct</th><th>accuracy</th><th></th></tr>'
    for t, row in ipairs(evaluation.confusion) do
      local total = 0
      for _, c in ipairs(row) do total = total + c end
      local acc = total > 0 and row[t] / total or 0
      p[#p + 1] = ('<tr><td class="num">%d</td><td class="num">%d</td><td class="num">%d</td><td class="num">%s</td>'
        .. '<td><span class="bar" style="width:%dpx"></span></td></tr>'):format(t - 1, total, row[t], pct(acc), math.floor(120 * acc + 0.5))
    end
    p[#p + 1] = "</table></div></div>"
    local shown, total = #evaluation.mistakes, evaluation.mistakes_total or #evaluation.mistakes
    p[#p + 1] = ("<h2>Misclassified test digits (%d%s), most confident first</h2>"):format(total,
      shown < total and (", the worst %d shown"):format(shown) or "")
    p[#p + 1] = '<div id="gallery">'
    for _, m in ipairs(evaluation.mistakes) do
      p[#p + 1] = ('<figure class="mistake" data-index="%d"><img alt="test image %d: true %d, predicted %d" src="data:image/png;base64,%s">'
        .. '<figcaption>#%d<br>true <b>%d</b> → <b>%d</b><br>p = %.3f</figcaption></figure>'):format(m.index, m.index,
        m.label, m.prediction, m.png, m.index, m.label, m.prediction, m.probability)
    end
    if total == 0 then p[#p + 1] = "<p>None: every test image is classified correctly.</p>" end
    p[#p + 1] = "</div>"
  else
    p[#p + 1] = "<h2>Test set</h2><p>No epoch has finished yet: the confusion matrix and the mistakes come after the first.</p>"
  end
  -- settings and provenance
  p[#p + 1] = "<h2>Settings</h2>"
  local rows = {}
  for _, f in ipairs(require("mnist.config").fields) do
    if cfg[f[1]] ~= nil then rows[#rows + 1] = { f[1], show_value(cfg[f[1]]) } end
  end
  p[#p + 1] = key_value_table("config", rows)
  p[#p + 1] = "<h2>Provenance</h2>"
  rows = { { "mnist version", info.version or "–" }, { "git commit", info.git_commit or "–" },
    { "run directory", dir }, { "started", info.started or "–" }, { "last update", info.updated or "–" } }
  for _, k in ipairs(fs.sorted_keys(info.data or {})) do
    rows[#rows + 1] = { "data " .. k .. " (SHA-256 of the IDX content)", info.data[k] }
  end
  for _, k in ipairs(fs.sorted_keys(info.weights or {})) do
    rows[#rows + 1] = { "weights " .. k .. " (SHA-256)", info.weights[k] }
  end
  if not info.weights then rows[#rows + 1] = { "weights", "not published yet (written when the run finishes)" } end
  p[#p + 1] = key_value_table("provenance", rows)
  p[#p + 1] = ("<p class=\"sub\">Written by mnist %s at %s UTC. Rebuild with <code>mnist.lua report %s</code>.</p>"):format(
    esc(require "mnist.version"), os.date("!%Y-%m-%d %H:%M:%S"), esc(s.id))
  p[#p + 1] = "<script>" .. SELF_CHECK .. "</script></body></html>"
  return table.concat(p, "\n")
end

-- Writes dir/report.html atomically; returns its path. opts.warn: on failure print a warning to
-- stderr and return nil (training goes on without a page) instead of raising.
function M.write(dir, opts)
  local ok, result = pcall(function()
    local path = dir .. "/" .. M.PAGE
    local written, err = core.write_atomic(path, M.html(dir))
    if not written then error("report: cannot write " .. tostring(err), 0) end
    return path
  end)
  if ok then return result end
  if opts and opts.warn then
    io.stderr:write("mnist report: ", tostring(result), " (training goes on)\n")
    return nil
  end
  error(result, 0)
end

-- The 28x28 digit `index` (1-based) of uint8 images (N, 28, 28), as PNG bytes.
local function digit_png(images, index)
  return core.image_encode(images[index], "png")
end

-- Saves the test evaluation `result` (mnist.train.evaluate) of epoch `epoch` into
-- dir/evaluation.json, with the worst MAX_MISTAKES digits as PNG from `images`.
function M.save_evaluation(dir, result, images, epoch)
  local confusion, cm = {}, result.confusion -- an optim.ConfusionMatrix: mat (n, n), rows = truth
  for t = 1, cm.nclasses do
    confusion[t] = {}
    for p = 1, cm.nclasses do confusion[t][p] = cm.mat:get(t, p) end
  end
  local mistakes = {}
  for i = 1, math.min(#result.mistakes, M.MAX_MISTAKES) do
    local m = result.mistakes[i]
    mistakes[i] = { index = m.index, label = m.label, prediction = m.prediction, probability = m.probability,
      png = M.base64(digit_png(images, m.index)) }
  end
  local doc = { epoch = epoch, n = result.n, loss = result.loss, accuracy = result.accuracy,
    confusion = confusion, mistakes_total = #result.mistakes, mistakes = mistakes }
  local ok, err = core.write_atomic(dir .. "/" .. M.EVALUATION, cjson.encode(doc) .. "\n")
  if not ok then error("report: cannot write " .. tostring(err), 0) end
end

-- After each epoch: the epoch's test evaluation, then the page. Never stops training (warns).
function M.after_epoch(dir, cfg, result)
  local ok, err = pcall(function()
    local records = require("mnist.dataset").ensure_records(cfg, { verify = false, log = false })
    local history = runs.history(dir)
    M.save_evaluation(dir, result, records.test.images, #history > 0 and history[#history].epoch or 0)
  end)
  if not ok then io.stderr:write("mnist report: ", tostring(err), " (training goes on)\n") end
  return M.write(dir, { warn = true })
end

-- `mnist.lua report [RUN_ID]`: rebuilds the page of the run (the newest by default).
function M.run_cli(cfg, id)
  local dir = runs.find(cfg, id)
  print(M.write(dir))
end

-- curve.png (gnuplot) ------------------------------------------------------------------------------

-- Draws dir/curve.png from metrics.jsonl: loss per logged step and per epoch, accuracy per epoch,
-- legends right of the plots. Returns the path, or nil and why not.
function M.curve_png(dir)
  local history = runs.history(dir)
  if #history == 0 then return nil, "no finished epoch" end
  if not fs.find_program("gnuplot") then return nil, "gnuplot is not installed" end
  local function num(x) return x and ("%.6f"):format(x) or "NaN" end
  local epochs, steps = {}, {}
  for _, h in ipairs(history) do
    epochs[#epochs + 1] = ("%d %s %s %s %s %s"):format(h.epoch, num(h.train_loss), num(h.validation_loss),
      num(h.train_accuracy), num(h.validation_accuracy), num(h.test_accuracy))
    local last = 0
    for _, sl in ipairs(h.step_losses or {}) do last = math.max(last, sl[1]) end
    for _, sl in ipairs(h.step_losses or {}) do steps[#steps + 1] = ("%.6f %.6f"):format(h.epoch - 1 + sl[1] / last, sl[2]) end
  end
  if #steps == 0 then steps[1] = "NaN NaN" end
  local ok = core.write_atomic(dir .. "/curve.dat", table.concat(epochs, "\n") .. "\n")
    and core.write_atomic(dir .. "/curve_steps.dat", table.concat(steps, "\n") .. "\n")
  if not ok then return nil, "cannot write the plot data in " .. dir end
  local script = ([[
set terminal pngcairo size 1200,420 font ",10"
set output '%s/curve.png.tmp'
set multiplot layout 1,2
set xlabel 'epoch'
set grid
set key outside right top vertical Left reverse
set xtics 1
set mxtics 2
set title 'loss'
plot '%s/curve_steps.dat' using 1:2 with lines lc rgb '#9ecae1' lw 1.5 title 'train, logged steps', \
     '%s/curve.dat' using 1:2 with linespoints lc rgb '#1f77b4' pt 7 title 'train, epoch', \
     '' using 1:3 with linespoints lc rgb '#ff7f0e' pt 7 title 'validation, epoch'
set title 'accuracy'
set format y '%%.1f%%%%'
plot '%s/curve.dat' using 1:($4*100) with linespoints lc rgb '#1f77b4' pt 7 title 'train', \
     '' using 1:($5*100) with linespoints lc rgb '#ff7f0e' pt 7 title 'validation', \
     '' using 1:($6*100) with linespoints lc rgb '#2ca02c' pt 7 dt 2 title 'test'
unset multiplot
]]):format(dir, dir, dir, dir)
  core.write_atomic(dir .. "/curve.gp", script)
  -- pngcairo is in gnuplot-nox; fall back to the plain png terminal where it is missing
  local ran = fs.run(("gnuplot %s 2>/dev/null"):format(fs.quote(dir .. "/curve.gp")))
  if not ran then
    core.write_atomic(dir .. "/curve.gp", (script:gsub("pngcairo", "png")))
    ran = fs.run(("gnuplot %s 2>/dev/null"):format(fs.quote(dir .. "/curve.gp")))
  end
  if not ran or not os.rename(dir .. "/curve.png.tmp", dir .. "/curve.png") then
    os.remove(dir .. "/curve.png.tmp")
    return nil, "gnuplot failed (see " .. dir .. "/curve.gp)"
  end
  return dir .. "/curve.png"
end

-- The errors grid (evaluate --errors) ---------------------------------------------------------------

-- 5x7 glyphs for the labels: digits and an arrow, one string of 7 rows of 5 columns each.
local GLYPHS = {
  ["0"] = ".###.#...##..###.#.###..##...#.###.", ["1"] = "..#...##....#....#....#....#...###.",
  ["2"] = ".###.#...#....#...#...#...#...#####", ["3"] = "#####...#...#.....#.....##...#.###.",
  ["4"] = "...#...##..#.#.#..#.#####...#....#.", ["5"] = "######....####.....#....##...#.###.",
  ["6"] = "..##..#...#....####.#...##...#.###.", ["7"] = "#####....#...#...#...#....#....#...",
  ["8"] = ".###.#...##...#.###.#...##...#.###.", ["9"] = ".###.#...##...#.####....#...#..##..",
  [">"] = ".......#.....#.#####...#...#.......",
}

M.GRID = { columns = 16, max = 512, scale = 2 }

-- Writes a PNG grid of the misclassified digits `mistakes` (worst first, as train.evaluate gives
-- them) from uint8 `images` (N, 28, 28): each tile the digit, dark on light, and "true > predicted"
-- under it (true in green, predicted in red). At most GRID.max tiles. Returns the path.
function M.errors_png(path, mistakes, images, opts)
  opts = opts or {}
  local columns, scale = opts.columns or M.GRID.columns, opts.scale or M.GRID.scale
  local count = math.min(#mistakes, opts.max or M.GRID.max)
  local tile_w, tile_h = 32, 40 -- 28x28 digit, 2 px border, a 9 px label strip
  local rows = math.max(1, math.ceil(count / columns))
  local W, H = columns * tile_w * scale, rows * tile_h * scale
  local pixels = {} -- RGB bytes, row-major, filled white
  for i = 1, W * H * 3 do pixels[i] = 255 end
  local function put(x, y, r, g, b) -- one source pixel, scaled
    for dy = 0, scale - 1 do
      local base = ((y * scale + dy) * W + x * scale) * 3
      for dx = 0, scale - 1 do
        local o = base + dx * 3
        pixels[o + 1], pixels[o + 2], pixels[o + 3] = r, g, b
      end
    end
  end
  local COLORS_OF = { { 0, 120, 0 }, { 110, 110, 110 }, { 200, 0, 0 } }
  for k = 1, count do
    local m = mistakes[k]
    local ox, oy = ((k - 1) % columns) * tile_w, math.floor((k - 1) / columns) * tile_h
    for x = 0, tile_w - 1 do put(ox + x, oy + tile_h - 1, 220, 220, 220) end -- tile edges
    for y = 0, tile_h - 1 do put(ox + tile_w - 1, oy + y, 220, 220, 220) end
    local bytes = images[m.index]:tobytes()
    for y = 0, 27 do
      for x = 0, 27 do
        local v = 255 - bytes:byte(y * 28 + x + 1)
        put(ox + 2 + x, oy + 2 + y, v, v, v)
      end
    end
    local text = ("%d>%d"):format(m.label, m.prediction)
    local tx = ox + math.floor((tile_w - (#text * 6 - 1)) / 2)
    for c = 1, #text do
      local glyph, color = GLYPHS[text:sub(c, c)], COLORS_OF[c]
      for gy = 0, 6 do
        for gx = 0, 4 do
          if glyph:sub(gy * 5 + gx + 1, gy * 5 + gx + 1) == "#" then
            put(tx + (c - 1) * 6 + gx, oy + 31 + gy, color[1], color[2], color[3])
          end
        end
      end
    end
  end
  local chunks = {}
  for i = 1, #pixels, 4096 do chunks[#chunks + 1] = string.char(unpack(pixels, i, math.min(i + 4095, #pixels))) end
  local T = require "mnist.tensor"
  local png = core.image_encode(T.frombytes(table.concat(chunks), { H, W, 3 }), "png")
  local ok, err = core.write_atomic(path, png)
  if not ok then error("report: cannot write " .. tostring(err), 0) end
  return path, count
end

return M
