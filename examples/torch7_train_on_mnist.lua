----------------------------------------------------------------------
-- Torch7's MNIST demo (torch/demos, train-a-digit-classifier/train-on-mnist.lua) on this rock:
-- a convnet, an MLP or a linear model (logistic regression), trained with SGD or L-BFGS on
-- 2,000 images (-f: all 60,000) and tested on 1,000 (-f: 10,000), with optim.ConfusionMatrix
-- and optim.Logger.
--
--   luajit examples/torch7_train_on_mnist.lua -m convnet --epochs 3
--   luajit examples/torch7_train_on_mnist.lua -m mlp -o LBFGS --epochs 3
--
-- What differs from Torch7's script:
--   * the require lines: mnist.torch, mnist.nn and mnist.optim for torch, nn and optim; the
--     option parser is Penlight's lapp (Debian's lua-penlight) as in the later demo
--   * the data: the rock's own MNIST files (mnist.dataset, in $MNIST_HOME or ~/.mnist, fetched
--     through $MNIST_MIRROR or the usual mirrors), each 28x28 image padded with 2 black pixels
--     per side to the demo's 32x32 (what its mnist.t7 files held)
--   * labels are 0-based (digit d is class d; Torch7's were 1..10), so the classes are '0'..'9'
--   * the network is saved as safetensors (mnist.weights) since there is no torch.save here, and
--     -n reloads those weights into the chosen model
--   * Torch7's sys.clock, xlua.progress and paths.concat: the few lines under "helpers" below
--   * the training confusion matrix counts each image once (Torch7's counted it again at every
--     evaluation of L-BFGS's line search)
--   * --epochs N stops after N epochs (0, the default, trains until interrupted, as the demo),
--     --trainSize / --testSize take a smaller slice (for the specs), --seed fixes the seed
----------------------------------------------------------------------

local torch = require "mnist.torch"
local nn = require "mnist.nn"
local optim = require "mnist.optim"
local lapp = require "pl.lapp"
local mnist = require "mnist"
local weights = require "mnist.weights"

----------------------------------------------------------------------
-- parse command-line options
--
local opt = lapp [[
Training a digit classifier on MNIST
   -s,--save          (default "logs")      subdirectory to save logs and the network in
   -n,--network       (default "")          reload the weights of a previously saved network
   -m,--model         (default "convnet")   type of model to train: convnet | mlp | linear
   -f,--full                                use the full dataset (60,000 / 10,000 images)
   -p,--plot                                plot the accuracies into <save>/*.log.png
   -o,--optimization  (default "SGD")       optimization: SGD | LBFGS
   -r,--learningRate  (default 0.05)        learning rate, for SGD only
   -b,--batchSize     (default 10)          batch size
   --momentum         (default 0)           momentum, for SGD only
   -i,--maxIter       (default 3)           maximum nb of iterations per batch, for LBFGS
   --coefL1           (default 0)           L1 penalty on the weights
   --coefL2           (default 0)           L2 penalty on the weights
   -t,--threads       (default 4)           number of threads
   --epochs           (default 0)           stop after this many epochs (0: never)
   --trainSize        (default 2000)        training images without -f
   --testSize         (default 1000)        test images without -f
   --seed             (default 1)           seed of the random generator
]]

torch.manualSeed(opt.seed)

-- threads
torch.setnumthreads(opt.threads)
print('<torch> set nb of threads to ' .. torch.getnumthreads())

-- helpers: what Torch7's sys, xlua and paths packages gave the script
local sys = { clock = mnist.core.wall_time }
local paths = { concat = function(...) return table.concat({ ... }, '/') end }
local xlua = {}
function xlua.progress(done, total)
   if done == total or done % 200 == 1 then
      io.stderr:write(('\r [%d/%d] '):format(done, total))
      if done == total then io.stderr:write('\n') end
   end
end

----------------------------------------------------------------------
-- define model to train
-- on the 10-class classification problem
--
local classes = {'0','1','2','3','4','5','6','7','8','9'}

-- geometry: width and height of input images
local geometry = {32,32}

local model = nn.Sequential()
if opt.model == 'convnet' then
   ------------------------------------------------------------
   -- convolutional network
   ------------------------------------------------------------
   -- stage 1 : 32 filters of 5x5, squashing, 3x3 max pooling: 32x32 -> 28x28 -> 9x9
   model:add(nn.SpatialConvolutionMM(1, 32, 5, 5))
   model:add(nn.Tanh())
   model:add(nn.SpatialMaxPooling(3, 3, 3, 3))
   -- stage 2 : 64 filters of 5x5, squashing, 2x2 max pooling: 9x9 -> 5x5 -> 2x2
   model:add(nn.SpatialConvolutionMM(32, 64, 5, 5))
   model:add(nn.Tanh())
   model:add(nn.SpatialMaxPooling(2, 2, 2, 2))
   -- stage 3 : standard 2-layer MLP
   model:add(nn.Reshape(64*2*2))
   model:add(nn.Linear(64*2*2, 200))
   model:add(nn.Tanh())
   model:add(nn.Linear(200, #classes))
elseif opt.model == 'mlp' then
   ------------------------------------------------------------
   -- regular 2-layer MLP
   ------------------------------------------------------------
   model:add(nn.Reshape(geometry[1]*geometry[2]))
   model:add(nn.Linear(geometry[1]*geometry[2], 2048))
   model:add(nn.Tanh())
   model:add(nn.Linear(2048, #classes))
elseif opt.model == 'linear' then
   ------------------------------------------------------------
   -- simple linear model: logistic regression
   ------------------------------------------------------------
   model:add(nn.Reshape(geometry[1]*geometry[2]))
   model:add(nn.Linear(geometry[1]*geometry[2], #classes))
else
   error('unknown model type: ' .. tostring(opt.model) .. ' (convnet | mlp | linear)')
end
model:add(nn.LogSoftMax())

-- a saved network: its weights into the model just built
if opt.network ~= '' then
   print('<trainer> reloading previously trained network')
   weights.load_into(model:namedTensors(), opt.network)
end

-- retrieve parameters and gradients
local parameters, gradParameters = model:getParameters()

-- verbose
print('<mnist> using model:')
print(model)

----------------------------------------------------------------------
-- loss function: negative log-likelihood
--
local criterion = nn.ClassNLLCriterion()

----------------------------------------------------------------------
-- get/create dataset
--
local nbTrainingPatches, nbTestingPatches
if opt.full then
   nbTrainingPatches = 60000
   nbTestingPatches = 10000
else
   nbTrainingPatches = opt.trainSize
   nbTestingPatches = opt.testSize
   print('<warning> only using ' .. nbTrainingPatches .. ' samples to train quickly (use flag -full to use 60000 samples)')
end

-- The first n images of a split of the rock's record files as a Torch7-style dataset:
-- data (n, 1, 32, 32) float pixels in [0, 1] (the 28x28 digit centred on black), labels (n)
-- 0-based, dataset[i] = {data[i], labels[i]}, size(), normalizeGlobal([mean, std]).
local function loadSet(split, n)
   local records = mnist.dataset.ensure_records(mnist.config.resolve {})[split]
   n = math.min(n, records.images:size(1))
   local pad = (geometry[1] - records.images:size(2)) / 2
   local data = torch.zeros(n, 1, geometry[1], geometry[2])
   data:narrow(3, pad + 1, records.images:size(2)):narrow(4, pad + 1, records.images:size(3))
      :copy(records.images:narrow(1, 1, n):float():div(255):view(n, 1, records.images:size(2), records.images:size(3)))
   local dataset = { data = data, labels = records.labels:narrow(1, 1, n):float() }
   function dataset:size() return n end
   function dataset:normalizeGlobal(mean, std)
      mean = mean or self.data:mean()
      std = std or self.data:std()
      self.data:add(-mean):div(std)
      return mean, std
   end
   setmetatable(dataset, { __index = function(self, i)
      if type(i) == 'number' then return { self.data[i], self.labels[i] } end
   end })
   return dataset
end

-- create training set and normalize
local trainData = loadSet('train', nbTrainingPatches)
local mean, std = trainData:normalizeGlobal()

-- create test set and normalize
local testData = loadSet('test', nbTestingPatches)
testData:normalizeGlobal(mean, std)

----------------------------------------------------------------------
-- define training and testing functions
--

-- this matrix records the current confusion across classes
local confusion = optim.ConfusionMatrix(classes)

-- log results to files
local trainLogger = optim.Logger(paths.concat(opt.save, 'train.log'))
local testLogger = optim.Logger(paths.concat(opt.save, 'test.log'))

local epoch
local config -- the optimizer's settings and state, kept across batches and epochs

-- training function
local function train(dataset)
   -- epoch tracker
   epoch = epoch or 1

   -- local vars
   local time = sys.clock()

   -- do one epoch
   print('<trainer> on training set:')
   print("<trainer> online epoch # " .. epoch .. ' [batchSize = ' .. opt.batchSize .. ']')
   for t = 1, dataset:size(), opt.batchSize do
      -- create mini batch (the last one may be smaller)
      local batch = math.min(opt.batchSize, dataset:size() - t + 1)
      local inputs = torch.Tensor(batch, 1, geometry[1], geometry[2])
      local targets = torch.Tensor(batch)
      for k = 1, batch do
         -- load new sample
         local sample = dataset[t + k - 1]
         inputs[k]:copy(sample[1])
         targets[k] = sample[2]
      end

      -- create closure to evaluate f(X) and df/dX
      local counted = false
      local feval = function(x)
         -- just in case:
         collectgarbage()

         -- get new parameters
         if x ~= parameters then
            parameters:copy(x)
         end

         -- reset gradients
         gradParameters:zero()

         -- evaluate function for complete mini batch
         local outputs = model:forward(inputs)
         local f = criterion:forward(outputs, targets)

         -- estimate df/dW
         local df_do = criterion:backward(outputs, targets)
         model:backward(inputs, df_do)

         -- penalties (L1 and L2):
         if opt.coefL1 ~= 0 or opt.coefL2 ~= 0 then
            -- locals:
            local norm, sign = torch.norm, torch.sign

            -- Loss:
            f = f + opt.coefL1 * norm(parameters, 1)
            f = f + opt.coefL2 * norm(parameters, 2)^2/2

            -- Gradients:
            gradParameters:add(sign(parameters):mul(opt.coefL1) + parameters:clone():mul(opt.coefL2))
         end

         -- update confusion (once per batch: L-BFGS evaluates f several times)
         if not counted then
            for i = 1, batch do
               confusion:add(outputs[i], targets[i])
            end
            counted = true
         end

         -- return f and df/dX
         return f, gradParameters
      end

      -- optimize on current mini-batch
      if opt.optimization == 'LBFGS' then
         -- Perform LBFGS step:
         config = config or {maxIter = opt.maxIter,
                             lineSearch = optim.lswolfe}
         optim.lbfgs(feval, parameters, config)
      elseif opt.optimization == 'SGD' then
         -- Perform SGD step:
         config = config or {learningRate = opt.learningRate,
                             momentum = opt.momentum,
                             learningRateDecay = 5e-7}
         optim.sgd(feval, parameters, config)
      else
         error('unknown optimization method: ' .. tostring(opt.optimization) .. ' (SGD | LBFGS)')
      end

      -- disp progress
      xlua.progress(t + batch - 1, dataset:size())
   end

   -- time taken
   time = sys.clock() - time
   time = time / dataset:size()
   print("<trainer> time to learn 1 sample = " .. (time*1000) .. 'ms')

   -- print confusion matrix
   print(confusion)
   trainLogger:add{['% mean class accuracy (train set)'] = confusion.totalValid * 100}
   confusion:zero()

   -- save/log current net
   local filename = paths.concat(opt.save, 'mnist.net.safetensors')
   print('<trainer> saving network to ' .. filename)
   weights.save(filename, model:namedTensors(), {model = opt.model, epoch = epoch})

   -- next epoch
   epoch = epoch + 1
end

-- test function
local function test(dataset)
   -- local vars
   local time = sys.clock()

   -- test over given dataset
   print('<trainer> on testing Set:')
   for t = 1, dataset:size(), opt.batchSize do
      -- create mini batch
      local batch = math.min(opt.batchSize, dataset:size() - t + 1)
      local inputs = torch.Tensor(batch, 1, geometry[1], geometry[2])
      local targets = torch.Tensor(batch)
      for k = 1, batch do
         local sample = dataset[t + k - 1]
         inputs[k]:copy(sample[1])
         targets[k] = sample[2]
      end

      -- test samples
      local preds = model:forward(inputs)

      -- confusion:
      for i = 1, batch do
         confusion:add(preds[i], targets[i])
      end

      -- disp progress
      xlua.progress(t + batch - 1, dataset:size())
   end

   -- timing
   time = sys.clock() - time
   time = time / dataset:size()
   print("<trainer> time to test 1 sample = " .. (time*1000) .. 'ms')

   -- print confusion matrix
   print(confusion)
   testLogger:add{['% mean class accuracy (test set)'] = confusion.totalValid * 100}
   confusion:zero()
end

----------------------------------------------------------------------
-- and train!
--
while opt.epochs == 0 or (epoch or 1) <= opt.epochs do
   -- train/test
   train(trainData)
   test(testData)

   -- plot errors
   if opt.plot then
      trainLogger:style{['% mean class accuracy (train set)'] = '-'}
      testLogger:style{['% mean class accuracy (test set)'] = '-'}
      trainLogger:plot()
      testLogger:plot()
   end
end
