"""PyTorch's side of the time-to-accuracy benchmark (bench/recipe.lua drives it): the fast recipe
(config/fast.yml, lua/mnist/recipes.lua) written in PyTorch: the same model, Adam, OneCycleLR over
every batch (learning rate only, as ours: cycle_momentum=False), batch size and epochs, on the same
training rows (--rows, written by bench/recipe_ours.lua). Every --every steps the clock stops and
the test accuracy is measured. Prints one JSON object: points ([training seconds, test accuracy]).

  /usr/bin/python3 bench/recipe_torch.py --data DIR --rows FILE --epochs 2 --batch 256 --lr 0.02
"""
import argparse
import json
import os
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import find, read_idx  # noqa: E402  (the IDX reader, one place)


def stage(c_in, c_out, k):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(c_out))


def fast_model():
    """lua/mnist/recipes.lua's fast: LeNet-5 with batch norm after each stage."""
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(stage(1, 6, 5), stage(6, 16, 5)),
        head=nn.Sequential(nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.BatchNorm1d(120),
                           nn.Linear(120, 10), nn.LogSoftmax(dim=1))))


def normalised(images):
    return ((torch.from_numpy(images.astype(np.float32)) / 255.0 - 0.1307) / 0.3081).unsqueeze(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--rows", required=True, help="the training rows (0-based), one per line")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--pct-start", type=float, default=0.3)
    p.add_argument("--every", type=int, default=43)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    rows = np.loadtxt(args.rows, dtype=np.int64)
    x_train = normalised(read_idx(find(args.data, "train-images-idx3-ubyte"))[rows])
    y_train = torch.from_numpy(read_idx(find(args.data, "train-labels-idx1-ubyte"))[rows].astype(np.int64))
    x_test = normalised(read_idx(find(args.data, "t10k-images-idx3-ubyte")))
    y_test = torch.from_numpy(read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64))

    net = fast_model()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = len(rows) // args.batch  # full batches, as our loader (drop_last)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps,
                                                pct_start=args.pct_start, cycle_momentum=False)
    loss_fn = nn.NLLLoss()

    def test_accuracy():
        net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x_test), 1000):
                correct += (net(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
        net.train()
        return correct / len(x_test)

    points, seconds, seen = [], 0.0, 0
    for _ in range(args.epochs):
        order = torch.randperm(len(rows))
        start = time.perf_counter()
        for step in range(1, steps + 1):
            idx = order[(step - 1) * args.batch:step * args.batch]
            x, y = x_train[idx], y_train[idx]
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            if step % args.every == 0 or step == steps:
                seconds += time.perf_counter() - start  # the clock stops while we measure
                points.append([seconds, test_accuracy()])
                start = time.perf_counter()
    print(json.dumps({"points": points, "images_per_s": seen / seconds, "seconds": seconds,
                      "steps": steps, "epochs": args.epochs, "batch": args.batch}))


if __name__ == "__main__":
    main()
