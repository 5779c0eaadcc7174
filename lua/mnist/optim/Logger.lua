-- optim.Logger: Torch7's optim.Logger, a tab-separated log of named values with gnuplot plots.
--
--   local logger = optim.Logger("runs/accuracy.log")   -- creates the directory and the file
--   logger:setNames { "train acc", "test acc" }        -- the header line
--   logger:style { "-", "+-" }                         -- one gnuplot style per name
--   for epoch = 1, epochs do logger:add { train_acc, test_acc } end
--   logger:plot()                                      --> "runs/accuracy.log.png"
--
-- add() takes a list in setNames' order or, without setNames, a table of name = value (the names
-- are then fixed by the first add, in sorted order). Values are numbers (written "%11.4e", as
-- Torch7) or strings. style() takes a list in name order or a table name = style; styles are
-- Torch7's gnuplot ones: '-' lines, '+' points (the default), '+-' lines and points, '.' dots,
-- '|' impulses, '~' smoothed lines (or a gnuplot "with" clause, e.g. "lines lw 2").
-- plot([names...]) draws every numeric column (or the named ones) against the row number into
-- `<file>.png` (Torch7 wrote `<file>.eps` and opened a window) with gnuplot, atomically, and
-- returns the PNG's path, or nil and the reason (gnuplot missing or failing: a training run goes
-- on). Logger() with no file logs to standard output and cannot plot.
local core = require "mnist.core"
local fs = require "mnist.fs"

local Logger = {}
Logger.__index = Logger

local function fail(fmt, ...)
  error("optim.Logger: " .. fmt:format(...), 0)
end

local STYLES = {
  ["-"] = "lines", ["+"] = "points pt 1", ["+-"] = "linespoints pt 1", ["-+"] = "linespoints pt 1",
  ["."] = "dots", ["|"] = "impulses", ["~"] = "lines smooth csplines",
}

-- Logger([filename [, timestamp]]): timestamp appends the date and time to the file name.
local function new(filename, timestamp)
  local self = setmetatable({ names = nil, symbols = {}, styles = {}, empty = true }, Logger)
  if filename == nil then
    self.file, self.name = io.stdout, "stdout"
    return self
  end
  if type(filename) ~= "string" or filename == "" then
    fail("expected a file name, got %s", type(filename))
  end
  if timestamp then filename = filename .. "-" .. os.date("%Y_%m_%d_%H_%M_%S") end
  local dir = filename:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, why = fs.mkdir_p(dir)
    if not ok then fail("cannot create the directory of %s: %s", filename, tostring(why)) end
  end
  local file, err = io.open(filename, "w")
  if not file then fail("cannot open %s for writing: %s", filename, tostring(err)) end
  self.file, self.name, self.path = file, filename, filename
  return self
end

local function write_header(self)
  self.file:write(table.concat(self.names, "\t"), "\n")
  self.file:flush()
end

-- setNames(names): the column names, in order (written as the header line).
function Logger:setNames(names)
  if type(names) ~= "table" or #names == 0 then fail("setNames: expected a list of names") end
  if not self.empty then fail("setNames: call it before the first add") end
  self.names = {}
  for i, name in ipairs(names) do
    if type(name) ~= "string" then fail("setNames: name %d is %s, not a string", i, type(name)) end
    self.names[i] = name
    self.symbols[name] = self.symbols[name] or {}
  end
  write_header(self)
  self.empty = false
  return self
end

-- add(values): one row.
function Logger:add(values)
  if type(values) ~= "table" then fail("add: expected a table of values, got %s", type(values)) end
  if self.names == nil then -- names from the first row's keys
    local names = {}
    for k in pairs(values) do
      if type(k) ~= "string" then fail("add: without setNames, values must be keyed by name") end
      names[#names + 1] = k
    end
    table.sort(names)
    self:setNames(names)
  end
  local row = {}
  local positional = #values > 0
  if positional and #values ~= #self.names then
    fail("add: %d values for %d names (%s)", #values, #self.names, table.concat(self.names, ", "))
  end
  for i, name in ipairs(self.names) do
    local v
    if positional then v = values[i] else v = values[name] end
    if type(v) == "number" then
      row[i] = ("%11.4e"):format(v)
    elseif type(v) == "string" then
      row[i] = v
    elseif v == nil then
      fail("add: no value for '%s'", name)
    else
      fail("add: '%s' is a %s; only numbers and strings can be logged", name, type(v))
    end
    table.insert(self.symbols[name], v)
  end
  self.file:write(table.concat(row, "\t"), "\n")
  self.file:flush()
  return self
end

-- style(styles): a list in setNames' order, or a table name = style.
function Logger:style(styles)
  if type(styles) ~= "table" then fail("style: expected a table of styles, got %s", type(styles)) end
  for key, style in pairs(styles) do
    local name = type(key) == "number" and self.names and self.names[key] or key
    if type(name) ~= "string" then fail("style: call setNames before giving styles by position") end
    if type(style) ~= "string" then fail("style: the style of '%s' must be a string", name) end
    self.styles[name] = style
  end
  return self
end

local function quote(s) return "'" .. s:gsub("'", "''") .. "'" end

-- plot([name, ...]) -> png path, or nil and why not.
function Logger:plot(...)
  if not self.path then return nil, "logging to standard output: nothing to plot" end
  local wanted = { ... }
  if #wanted == 0 then wanted = self.names or {} end
  local columns = {}
  for _, name in ipairs(wanted) do
    local list = self.symbols[name]
    if list == nil then fail("plot: no column named '%s'", tostring(name)) end
    local numeric = #list > 0
    for _, v in ipairs(list) do numeric = numeric and type(v) == "number" end
    if numeric then columns[#columns + 1] = name end
  end
  if #columns == 0 then return nil, "no numeric values logged yet" end
  if not fs.run("command -v gnuplot >/dev/null 2>&1") then return nil, "gnuplot is not installed" end

  local data = {}
  for row = 1, #self.symbols[columns[1]] do
    local cells = { tostring(row) }
    for i, name in ipairs(columns) do
      local v = self.symbols[name][row]
      cells[i + 1] = v and ("%.9g"):format(v) or "NaN"
    end
    data[#data + 1] = table.concat(cells, " ")
  end
  local png = self.path .. ".png"
  local dat, script = self.path .. ".plot.dat", self.path .. ".plot.gp"
  local ok, err = core.write_atomic(dat, table.concat(data, "\n") .. "\n")
  if not ok then return nil, "cannot write " .. dat .. ": " .. tostring(err) end
  local plots = {}
  for i, name in ipairs(columns) do
    local style = self.styles[name] or "+"
    plots[i] = ("%s using 1:%d with %s title %s"):format(quote(dat), i + 1, STYLES[style] or style,
      quote(name))
  end
  local text = table.concat({
    "set terminal png size 800,500",
    "set output " .. quote(png .. ".tmp"),
    "set title " .. quote("<Logger::" .. self.name .. ">"),
    "set key outside right",
    "set grid",
    "plot " .. table.concat(plots, ", "),
    "unset output",
  }, "\n") .. "\n"
  ok, err = core.write_atomic(script, text)
  if not ok then return nil, "cannot write " .. script .. ": " .. tostring(err) end
  if not fs.run(("gnuplot %s 2>/dev/null"):format(fs.quote(script)))
    or not os.rename(png .. ".tmp", png) then
    os.remove(png .. ".tmp")
    return nil, "gnuplot failed (see " .. script .. ")"
  end
  return png
end

-- Closes the file (not standard output).
function Logger:close()
  if self.path and io.type(self.file) == "file" then self.file:close() end
end

return new
