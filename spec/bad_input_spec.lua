-- The README's "What happens when…" table, checked row by row. Each row names a situation, what
-- `mnist.lua` (or the Lua API) says, the exit code, and the spec that proves it. Rows whose spec
-- is this file are run here and their message compared with the README's text (`…` stands for
-- parts left out; <home>, <file> and <dir> for the paths of the case); the other rows must name
-- an existing test of another spec file.
local H = require "spec.support.helpers"
local mnist = require "mnist"

local TINY = "--arch lenet --limit-train 600 --n-validation 100 --limit-test 200 --batch-size 50 "
  .. "--test-batch-size 200 --threads 1 --log-interval 1000"

-- The rows of the README's "What happens when…" table: { situation, message, exit, spec }.
local function readme_rows()
  local text = H.read("README.md")
  local section = text:match("\n## What happens when…\n(.*)$")
  assert(section, "README.md has no '## What happens when…' section")
  section = section:match("^(.-)\n## ") or section
  local rows = {}
  for line in section:gmatch("[^\n]+") do
    local cells = {}
    for cell in line:gmatch("|([^|]*)") do cells[#cells + 1] = cell:match("^%s*(.-)%s*$") end
    if #cells >= 4 and cells[1] ~= "" and not cells[1]:find("^%-") and cells[1] ~= "What happens when…" then
      rows[#rows + 1] = { situation = cells[1]:gsub("`", ""), message = cells[2], exit = cells[3], spec = cells[4] }
    end
  end
  return rows
end

-- True when the README's message (code spans joined, `…` as a gap) appears in out, in order.
local function matches(message, out, vars)
  local at = 1
  for span in message:gmatch("`([^`]+)`") do
    for part in (span .. "…"):gmatch("(.-)…") do
      part = part:gsub("<(%w+)>", function(k) return vars[k] or ("<" .. k .. ">") end)
      if part ~= "" then
        local i = out:find(part, at, true)
        if not i then return false, part end
        at = i + #part
      end
    end
  end
  return true
end

describe("What happens when…", function()
  local home, vars
  local CASES = {}

  local function cli(args, env)
    return H.run(("%s MNIST_HOME=%s luajit bin/mnist.lua %s"):format(env or "", H.quote(home), args))
  end

  -- In-process calls: the error message and exit code 1 (what the CLI maps a usage error to).
  local function api(fn)
    local ok, err = pcall(fn)
    assert(not ok, "no error")
    return tostring(err), 1
  end

  setup(function()
    home = H.tmpdir()
    vars = { home = home }
    local out, code = H.run(("MNIST_MIRROR=%s MNIST_HOME=%s luajit bin/mnist.lua save-datasets"):format(
      H.quote(H.mirror()), H.quote(home)))
    assert(code == 0, out)
    out, code = cli("train " .. TINY .. " --epochs 1 --run-id done")
    assert(code == 0, out)
    local digit = mnist.tensor(28, 28)
    for r = 6, 22 do digit:set(r, 14, 1) end
    mnist.preprocessing.save_image(digit, home .. "/digit.png")
  end)
  teardown(function() H.rm(home) end)

  -- Offline and fast: curl and npm stand-ins that fail as they do without a network. Returns the
  -- environment prefix that puts them first on PATH.
  local function offline()
    local bin = home .. "/bin"
    H.sh("mkdir -p " .. H.quote(bin))
    H.write(bin .. "/curl", "#!/bin/sh\necho 'curl: (6) Could not resolve host' >&2\nexit 6\n")
    H.write(bin .. "/npm", "#!/bin/sh\necho 'npm ERR! network' >&2\nexit 1\n")
    H.sh("chmod +x " .. H.quote(bin) .. "/*")
    return ("env -u MNIST_MIRROR PATH=%s:$PATH"):format(H.quote(bin))
  end

  CASES["every source of the data is dead"] = function()
    return cli("download --artifact-dir " .. H.quote(home .. "/offline") .. " --download-retries 1", offline())
  end

  CASES["a mirror serves a file with the wrong hash"] = function()
    local bad = home .. "/bad-mirror"
    H.sh("mkdir -p " .. H.quote(bad))
    for _, name in ipairs { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" } do
      H.write(bad .. "/" .. name .. ".gz", H.gzip("not the MNIST data"))
    end
    vars.dir = bad
    return cli("download --artifact-dir " .. H.quote(home .. "/wrong") .. " --download-retries 1 --mirrors "
      .. H.quote(bad), offline())
  end

  CASES["an IDX file is corrupt"] = function()
    local file = home .. "/broken-idx3-ubyte"
    H.write(file, "\0\0\8\3" .. H.be32(10) .. H.be32(28) .. H.be32(28) .. ("\0"):rep(100))
    vars.file = file
    return api(function() mnist.dataset.read_idx(file) end)
  end

  CASES["an image is not 28x28 where the classifier needs it"] = function()
    local net = mnist.classifier { arch = "lenet" }
    return api(function() net:forward(mnist.tensor(1, 1, 32, 32)) end)
  end

  CASES["an image file cannot be read"] = function()
    vars.file = home .. "/missing.png"
    return cli("predict --arch lenet " .. H.quote(vars.file))
  end

  CASES["a file is not an image"] = function()
    vars.file = home .. "/notes.txt"
    H.write(vars.file, "shopping list: eggs")
    return cli("predict --arch lenet " .. H.quote(vars.file))
  end

  CASES["an image is blank"] = function()
    vars.file = home .. "/blank.png"
    mnist.preprocessing.save_image(mnist.tensor(28, 28):fill(1), vars.file)
    return cli("predict --arch lenet " .. H.quote(vars.file))
  end

  CASES["an image is a crafted JPEG (stb_image 2.27 would overflow its heap)"] = function()
    vars.file = "fuzz/regressions/image/jpeg-dht-overflow.jpg"
    return cli("predict --arch lenet " .. vars.file)
  end

  CASES["a config file has an unknown key"] = function()
    vars.file = home .. "/typo.yml"
    H.write(vars.file, "epochz: 9\n")
    return cli("info " .. H.quote(vars.file))
  end

  CASES["a setting has the wrong type"] = function()
    vars.file = home .. "/type.yml"
    H.write(vars.file, "batch_size: many\n")
    return cli("info " .. H.quote(vars.file))
  end

  CASES["a flag has the wrong type"] = function()
    return cli("info --batch-size many")
  end

  CASES["the loss becomes NaN"] = function()
    return cli("train " .. TINY .. " --epochs 1 --optimizer sgd --learning-rate 1e38 --run-id nan")
  end

  CASES["training is interrupted with Ctrl-C"] = function()
    -- SIGINT once the run has started (its first line is out)
    local log = home .. "/interrupted.log"
    local out = H.run(("MNIST_SLOW_WRITES=20 MNIST_HOME=%s luajit bin/mnist.lua train %s --epochs 50 --run-id ctrl-c "
      .. "> %s 2>&1 & pid=$!; for i in $(seq 100); do grep -q '^run ctrl-c' %s && break; sleep 0.05; done; "
      .. "sleep 0.3; kill -INT $pid; wait $pid; echo \"exit=$?\""):format(H.quote(home), TINY, H.quote(log), H.quote(log)))
    return H.read(log), tonumber(out:match("exit=(%d+)"))
  end

  CASES["weights fail their checksum"] = function()
    local published = ("%s/weights/lenet/mnist-classifier-%s.safetensors"):format(home, mnist.version)
    local copy = home .. "/tampered.safetensors"
    local bytes = H.read(published)
    H.write(copy, bytes:sub(1, -2) .. string.char((bytes:byte(-1) + 1) % 256))
    H.write(copy .. ".sha256", H.read(published .. ".sha256"))
    vars.file = copy
    return cli("predict --arch lenet --weights " .. H.quote(copy) .. " " .. H.quote(home .. "/digit.png"))
  end

  CASES["weights were made for another architecture"] = function()
    vars.file = ("%s/weights/lenet/mnist-classifier-%s.safetensors"):format(home, mnist.version)
    return cli("predict --arch default --weights " .. H.quote(vars.file) .. " " .. H.quote(home .. "/digit.png"))
  end

  CASES["there are no pretrained weights"] = function()
    vars.dir = home .. "/empty"
    -- lenet: the rock ships weights for the default arch only
    return cli("predict --arch lenet --artifact-dir " .. H.quote(vars.dir) .. " " .. H.quote(home .. "/digit.png"))
  end

  CASES["--resume is given other settings"] = function()
    return cli("train " .. TINY .. " --epochs 1 --batch-size 20 --run-id done --resume")
  end

  it("every row is backed by a spec, and the rows run here say what the README says", function()
    local rows = readme_rows()
    assert.is_true(#rows >= 20, "only " .. #rows .. " rows")
    local covered = {}
    for _, row in ipairs(rows) do
      local spec, title = row.spec:match("^`?(spec/[%w_]+%.lua)`?:?%s*(.*)$")
      assert.truthy(spec, row.situation .. ": the spec column names no spec file: " .. row.spec)
      if spec == "spec/bad_input_spec.lua" then
        local case = CASES[row.situation]
        assert.truthy(case, row.situation .. ": no case in spec/bad_input_spec.lua")
        covered[row.situation] = true
        vars = { home = home }
        local out, code = case()
        local ok, missing = matches(row.message, out, vars)
        assert(ok, ("%s: the README says %q, the output lacks %q:\n%s"):format(row.situation, row.message, tostring(missing), out))
        assert.equal(tonumber(row.exit), code, row.situation .. ": exit code\n" .. out)
      else
        title = title:match('^"(.*)"$') or title
        assert.truthy(title ~= "", row.situation .. ": name the test in " .. spec)
        assert.truthy(H.read(spec):find(title, 1, true), ("%s: %s has no test %q"):format(row.situation, spec, title))
      end
    end
    for situation in pairs(CASES) do
      assert.truthy(covered[situation], situation .. ": a case that no README row names")
    end
  end)
end)
