-- `mnist.lua repl`, driven through a pseudo-terminal (tmux): values printed, errors survived,
-- unfinished statements continued, line editing and history.
local H = dofile("spec/support/helpers.lua")
local core = require "mnist.core"
local fs = require "mnist.fs"

-- The tmux binary, installing Debian's package when it is missing; nil and why otherwise.
local function tmux_binary()
  local path = fs.capture("command -v tmux"):match("^(%S+)")
  if path then return path end
  local out = H.run("sh tools/deps.sh tmux 2>&1")
  path = fs.capture("command -v tmux"):match("^(%S+)")
  return path, path == nil and ("tmux cannot be installed here: " .. out) or nil
end

describe("mnist.lua repl", function()
  local home, socket, tmux, skip

  -- the terminal's text
  local function screen()
    return (H.run(("%s -S %s capture-pane -p -J -S -200 -t repl"):format(tmux, H.quote(socket))))
  end

  -- waits until the screen matches `pattern` (Lua pattern; plain text when `plain`) `times`
  -- times; returns the screen
  local function wait_for(pattern, times, plain)
    local text
    for _ = 1, 300 do
      text = screen()
      local n, at = 0, 1
      while true do
        local i, j = text:find(pattern, at, plain)
        if not i then break end
        n, at = n + 1, j + 1
      end
      if n >= (times or 1) then return text end
      core.sleep(0.05)
    end
    error(("timed out waiting for %q; the screen:\n%s"):format(pattern, text))
  end

  local function type_line(text)
    H.sh(("%s -S %s send-keys -t repl -l %s"):format(tmux, H.quote(socket), H.quote(text)))
    H.sh(("%s -S %s send-keys -t repl Enter"):format(tmux, H.quote(socket)))
  end

  local function keys(...)
    H.sh(("%s -S %s send-keys -t repl %s"):format(tmux, H.quote(socket), table.concat({ ... }, " ")))
  end

  setup(function()
    local why
    tmux, why = tmux_binary()
    if not tmux then skip = why return end
    home = H.tmpdir()
    socket = home .. "/tmux.sock"
    local pwd = io.popen("pwd"):read("*l")
    local env = ("env MNIST_HOME=%s LUA_PATH=%s LUA_CPATH=%s TERM=xterm"):format(H.quote(home),
      H.quote(pwd .. "/lua/?.lua;" .. pwd .. "/lua/?/init.lua;;"),
      H.quote(pwd .. "/" .. (os.getenv("MNIST_BUILD_DIR") or "build") .. "/?.so;;"))
    assert(H.sh(("%s -S %s new-session -d -s repl -x 160 -y 60 %s"):format(tmux, H.quote(socket),
      H.quote(env .. " luajit " .. pwd .. "/bin/mnist.lua repl; echo REPL-EXITED=$?; sleep 30"))))
  end)
  teardown(function()
    if socket then H.sh(("%s -S %s kill-server 2>/dev/null"):format(tmux, H.quote(socket))) end
    if home then H.rm(home) end
  end)

  it("shows a banner with the three-line inference example and prints each value", function()
    if skip then pending(skip) return end
    local text = wait_for("\n> ")
    assert.truthy(text:find("local net = mnist.classifier { pretrained = true }", 1, true), text)
    assert.truthy(text:find('print(net:predict("digit.png"))', 1, true), text)
    type_line("1 + 2")
    wait_for("\n3\n")
    type_line("table.concat({type(torch), type(nn), type(optim), type(mnist)}, ',')")
    wait_for("\ntable,table,table,table\n")
    -- a tensor as print shows it
    type_line("mnist.tensor{1, 2}")
    wait_for("> mnist.tensor{1, 2}\n" .. tostring(require("mnist").tensor { 1, 2 }) .. "\n", 1, true)
    type_line("local net = nn.Sequential():add(nn.Linear(4, 2))")
    type_line("net")
    wait_for("\nnn%.Sequential {")
    wait_for("nn%.Linear%(4 %-> 2%)")
    type_line("{1, 'a', k = true}")
    wait_for('\n{1, "a", k = true}\n')
  end)

  it("survives a syntax error and a runtime error, and continues an unfinished statement", function()
    if skip then pending(skip) return end
    type_line("x = = 1")
    wait_for("stdin:1: unexpected symbol near '='")
    type_line("nil + 1")
    wait_for("attempt to perform arithmetic on a nil value")
    type_line("for i = 1, 2 do")
    wait_for("\n>> ")
    type_line("print(i * 10)")
    type_line("end")
    wait_for("\n10\n20\n")
    type_line("6 * 7")
    wait_for("\n42\n")
  end)

  it("edits lines, completes names and keeps the history (up arrow; saved on exit)", function()
    if skip then pending(skip) return end
    keys("Up")      -- recalls "6 * 7"
    keys("Enter")
    wait_for("\n42\n", 2)
    type_line("'abc'")
    keys("Up", "Left", "Left", "BSpace", "X", "Enter") -- edit in place: 'aXc'
    wait_for("\naXc\n")
    -- Tab completes names of the session: mnist.tens -> mnist.tensor
    H.sh(("%s -S %s send-keys -t repl -l %s"):format(tmux, H.quote(socket), H.quote("mnist.tens")))
    keys("Tab")
    type_line("{3}")
    wait_for("mnist.tensor {3}\n" .. tostring(require("mnist").tensor { 3 }) .. "\n", 1, true)
    keys("C-d")
    wait_for("REPL%-EXITED=0")
    local history = H.read(home .. "/repl_history")
    assert.truthy(history:find("6 * 7\n", 1, true), history)
    assert.truthy(history:find("'aXc'\n", 1, true), history)
  end)
end)
