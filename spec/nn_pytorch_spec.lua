-- Every layer and one whole training step of the default model against PyTorch 1.13: the values
-- in spec/fixtures/*.json were computed by spec/fixtures/make_fixtures.py and
-- make_nn_experiments_fixtures.py (the modules of issue 13; PyTorch is not needed to run this
-- spec). Agreement within 1e-4, relative to each value and its tensor's scale.
local mnist = require "mnist"
local H = dofile("spec/nn_helpers.lua")
local nn, T = mnist.nn, mnist.tensor

local RTOL = 1e-4
local layers = H.read_json("spec/fixtures/nn_layers.json")
for name, case in pairs(H.read_json("spec/fixtures/nn_experiments.json")) do
  assert(not layers[name], "fixture case " .. name .. " is in both files")
  layers[name] = case
end
local cjson = require "cjson"

-- A case's constructor arguments: tensors from their fixtures, JSON null as nil.
local function arguments(case)
  local args, n = {}, 0
  for i, a in ipairs(case.args) do
    n = i
    if a == cjson.null then
      args[i] = nil
    elseif type(a) == "table" and a.shape then
      args[i] = H.tensor(a)
    else
      args[i] = a
    end
  end
  return args, n
end
local step = H.read_json("spec/fixtures/nn_model_step.json")

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- The module of a fixture case, with the fixture's parameters and running statistics.
local function build(case)
  local args, n = arguments(case)
  local m = nn[case.module](unpack(args, 1, n))
  for _, method in ipairs(case.setup or {}) do m[method](m) end
  for _, key in ipairs { "weight", "bias" } do
    if case[key] then m[key]:copy(H.tensor(case[key])) end
  end
  for _, key in ipairs { "running_mean", "running_var" } do
    if case[key .. "_before"] then m[key]:copy(H.tensor(case[key .. "_before"])) end
  end
  if case.train == false then m:evaluate() end
  return m
end

describe("PyTorch agreement", function()
  describe("layers", function()
    for _, name in ipairs(sorted_keys(layers)) do
      local case = layers[name]
      if not case.module:find("Criterion") then
        it(name .. " (" .. case.module .. ")", function()
          local m = build(case)
          local input = H.tensor(case.input)
          H.assert_close(m:forward(input), case.output, RTOL, name .. " output")
          m:zeroGradParameters()
          H.assert_close(m:backward(input, H.tensor(case.grad_output)), case.grad_input, RTOL,
            name .. " gradInput")
          if case.grad_weight then H.assert_close(m.gradWeight, case.grad_weight, RTOL, name .. " gradWeight") end
          if case.grad_bias then H.assert_close(m.gradBias, case.grad_bias, RTOL, name .. " gradBias") end
          if case.running_mean_after then
            H.assert_close(m.running_mean, case.running_mean_after, RTOL, name .. " running_mean")
            H.assert_close(m.running_var, case.running_var_after, RTOL, name .. " running_var")
          end
        end)
      end
    end
  end)

  -- Torch7's in-place activations: the output IS the input, the input gradient is written over
  -- gradOutput, and the values are the out-of-place ones (PyTorch's).
  describe("in-place activations", function()
    for name, position in pairs { leaky_relu = 2, elu = 2, hardtanh = 3 } do
      it(name, function()
        local case = layers[name]
        local args = { unpack(case.args) }
        for i = #args + 1, position - 1 do args[i] = nil end
        args[position] = true
        local m = nn[case.module](unpack(args, 1, position))
        local input, gy = H.tensor(case.input), H.tensor(case.grad_output)
        local out = m:forward(input)
        assert.equal(input, out)
        H.assert_close(out, case.output, RTOL, name .. " output")
        local gi = m:backward(input, gy)
        assert.equal(gy, gi)
        H.assert_close(gi, case.grad_input, RTOL, name .. " gradInput")
      end)
    end
  end)

  describe("criteria, with labels as a table and as a tensor", function()
    for _, name in ipairs(sorted_keys(layers)) do
      local case = layers[name]
      if case.module:find("Criterion") then
        it(name .. " (" .. case.module .. ")", function()
          local targets -- labels as a table and as a tensor, or a regression target tensor
          if case.target.shape then targets = { H.tensor(case.target) } else targets = { case.target, T(case.target) } end
          for _, target in ipairs(targets) do
            local args, n = arguments(case)
            local crit = nn[case.module](unpack(args, 1, n))
            local input = H.tensor(case.input)
            local loss = crit:forward(input, target)
            assert.is_true(math.abs(loss - case.loss) <= RTOL * math.abs(case.loss),
              ("loss %.9g, expected %.9g"):format(loss, case.loss))
            H.assert_close(crit:backward(input, target), case.grad_input, RTOL, name .. " gradInput")
          end
        end)
      end
    end
  end)

  describe("one training step of the default model", function()
    local model, loss
    setup(function()
      model = H.default_model()
      local named = {}
      for _, pair in ipairs(model:state()) do named[pair.name] = pair.tensor end
      -- every parameter from the formula both sides share: offset + amp * sin(phase_step * i + phase)
      for _, p in ipairs(step.parameters) do
        local t = assert(named[p.name], "no tensor named " .. p.name)
        assert.same(p.shape, t:size())
        local flat = t:view(t:numel())
        for i = 0, t:numel() - 1 do
          flat[i + 1] = p.offset + p.amp * math.sin(step.phase_step * i + p.phase)
        end
      end
      local input = H.tensor(step.input)
      local crit = nn.ClassNLLCriterion()
      loss = crit:forward(model:forward(input), step.target)
      model:zeroGradParameters()
      model:backward(input, crit:backward(model.output, step.target))
    end)

    it("has PyTorch's state_dict names and shapes", function()
      local names = {}
      for _, pair in ipairs(model:state()) do
        if not pair.name:find("running") then names[#names + 1] = pair.name end
      end
      local expected = {}
      for _, p in ipairs(step.parameters) do expected[#expected + 1] = p.name end
      assert.same(expected, names)
    end)

    it("computes the same loss and log-probabilities", function()
      assert.is_true(math.abs(loss - step.loss) <= RTOL * step.loss, ("loss %.9g, expected %.9g"):format(loss, step.loss))
      H.assert_close(model.output, step.output, RTOL, "log-probabilities")
    end)

    it("computes the same gradient for every parameter", function()
      local grads = {}
      local params, gradients = model:parameters()
      for k, pair in ipairs(step.parameters) do
        assert.equal(params[k]:numel(), gradients[k]:numel())
        grads[pair.name] = H.values(gradients[k])
      end
      for _, p in ipairs(step.parameters) do
        local g = grads[p.name]
        local sum, abs_sum, abs_max = 0, 0, 0
        for _, v in ipairs(g) do
          sum, abs_sum, abs_max = sum + v, abs_sum + math.abs(v), math.max(abs_max, math.abs(v))
        end
        local function near(what, got, want, scale)
          assert.is_true(math.abs(got - want) <= RTOL * scale,
            ("%s %s: %.9g, expected %.9g"):format(p.name, what, got, want))
        end
        near("gradient sum", sum, p.grad_sum, p.grad_abs_sum)
        near("gradient absolute sum", abs_sum, p.grad_abs_sum, p.grad_abs_sum)
        near("largest gradient", abs_max, p.grad_abs_max, p.grad_abs_max)
        for _, sample in ipairs(p.samples) do
          near("gradient entry " .. sample[1], g[sample[1] + 1], sample[2], math.abs(sample[2]) + p.grad_abs_max)
        end
      end
    end)

    it("updates the batch-norm running statistics as PyTorch", function()
      local named = {}
      for _, pair in ipairs(model:state()) do named[pair.name] = pair.tensor end
      for _, b in ipairs(step.buffers_after) do
        local got = named[b.name]:sum()
        assert.is_true(math.abs(got - b.sum) <= RTOL * math.abs(b.sum), ("%s sum %.9g, expected %.9g"):format(b.name, got, b.sum))
      end
    end)
  end)
end)
