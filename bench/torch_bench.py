"""The PyTorch side of `make bench`: the same models and work as bench/ours.lua, PyTorch at its
best on this machine (2 torch threads; the harness sets OPENBLAS_NUM_THREADS=1 so Debian's
OpenBLAS pool does not oversubscribe the cores). Prints one JSON object on stdout.

  /usr/bin/python3 bench/torch_bench.py --task train --model default --data DIR --steps 50
  tasks: train (images/s), infer (images/s, batch 1000, eval), latency (us/image, batch 1),
         coldstart (load safetensors weights, predict one PNG; the harness times the process),
         png (write the first test image to --image, the cold start's input)
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn


# Same structure and state_dict names as lua/mnist/model.lua (features.<i>.*, head.<i>.*).
def default_model():
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                               nn.MaxPool2d(2), nn.BatchNorm2d(64)),
        head=nn.Sequential(nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.BatchNorm1d(128),
                           nn.Linear(128, 10), nn.LogSoftmax(dim=1))))


def lenet():
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                               nn.ReLU(), nn.MaxPool2d(2)),
        head=nn.Sequential(nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                           nn.ReLU(), nn.Linear(84, 10), nn.LogSoftmax(dim=1))))


MODELS = {"default": default_model, "lenet": lenet}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    sys.exit("torch_bench: %s not found in %s" % (stem, data_dir))


def load(data_dir, split, n):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(find(data_dir, prefix + "-images-idx3-ubyte"))[:n]
    labels = read_idx(find(data_dir, prefix + "-labels-idx1-ubyte"))[:n]
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - 0.1307) / 0.3081
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def bench_train(args):
    model = MODELS[args.model]()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    n = args.batch * (args.steps + args.warmup)
    x, y = load(args.data, "train", n)
    loss_fn = nn.NLLLoss()

    def step(i):
        xb = x[i * args.batch:(i + 1) * args.batch]
        yb = y[i * args.batch:(i + 1) * args.batch]
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(args.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = step(i)
    elapsed = time.perf_counter() - start
    return {"images_per_s": args.steps * args.batch / elapsed, "loss": loss}


def bench_infer(args):
    model = MODELS[args.model]()
    model.eval()
    x, _ = load(args.data, "test", args.batch)
    with torch.no_grad():
        for _ in range(args.warmup):
            model(x)
        start = time.perf_counter()
        for _ in range(args.steps):
            model(x)
        elapsed = time.perf_counter() - start
    return {"images_per_s": args.steps * args.batch / elapsed}


def bench_latency(args):
    model = MODELS[args.model]()
    model.eval()
    x, _ = load(args.data, "test", 1)
    with torch.no_grad():
        for _ in range(args.warmup):
            model(x)
        start = time.perf_counter()
        for _ in range(args.steps):
            model(x)
        elapsed = time.perf_counter() - start
    return {"us_per_image": elapsed / args.steps * 1e6}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n, = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(blob, dtype=np.float32, count=(e - b) // 4, offset=8 + n + b)
        out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
    return out


def coldstart(args):
    from PIL import Image
    model = default_model()
    model.load_state_dict(read_safetensors(args.weights), strict=False)
    model.eval()
    img = Image.open(args.image).convert("L").resize((28, 28))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    x = ((x - 0.1307) / 0.3081).reshape(1, 1, 28, 28)
    with torch.no_grad():
        label = int(model(x).argmax(1))
    return {"label": label}


def write_png(args):
    from PIL import Image
    images = read_idx(find(args.data, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(args.data, "t10k-labels-idx1-ubyte"))
    Image.fromarray(np.ascontiguousarray(images[0]), mode="L").save(args.image)
    return {"label": int(labels[0]), "image": args.image}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True, choices=["train", "infer", "latency", "coldstart", "png"])
    p.add_argument("--model", default="default", choices=sorted(MODELS))
    p.add_argument("--data", help="directory with the IDX files (.gz or raw)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights")
    p.add_argument("--image")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    task = {"train": bench_train, "infer": bench_infer, "latency": bench_latency,
            "coldstart": coldstart, "png": write_png}[args.task]
    result = task(args)
    result.update(task=args.task, model=args.model, impl="pytorch", threads=args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
