#!/usr/bin/python3
"""Pictures of handwritten digits as a user would take them, from MNIST test digits (which the
shipped model never trained on), to measure `mnist.lua predict` on them (bench/photos.lua) and to
make the committed subset under spec/fixtures/photos/ (spec/photo_spec.lua).

    /usr/bin/python3 tools/make_photos.py KIND OUT_DIR COUNT [--seed N] [--first I] [--mnist DIR]

KIND:
  photo  a phone photo of a note: the digit in blue, black or red ink on off-white plain, lined or
         squared paper, 1000-2400 px frames with the digit at 8-25% of the height, turned by up to
         6 degrees, under a light gradient and a soft shadow, blurred, with sensor noise; JPEG of
         quality 60-85 (4 in 5) or PNG.
  thin   a drawing from a paint program: strokes 3-7 px wide (the digit's skeleton, redrawn with a
         round pen) on a 400-800 px canvas, dark on white or light on black; PNG.
  scan   a clean scan: the digit enlarged 3-12x, black on white or white on black; PNG or JPEG.
Files are named KIND-<index>-<label>.<ext>, index the MNIST test index (0-based).
Needs python3-numpy and python3-pil (Debian); never run by the tests."""
import argparse
import gzip
import math
import os

import numpy as np
from PIL import Image, ImageFilter


def read_idx(path):
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def digit_alpha(digit, height, rng):
    """The digit's ink coverage (0..1) enlarged so its bounding box is `height` px tall."""
    ys, xs = np.nonzero(digit > 30)
    box = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = height / box.shape[0]
    size = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    big = np.asarray(Image.fromarray(box).resize(size, Image.BICUBIC), np.float32) / 255.0
    # a pen's ink is more even than MNIST's scanned pencil: a firmer edge
    return np.clip((big - 0.15) * 1.4, 0, 1)


def photo(digit, rng):
    long_side = int(rng.integers(1000, 2401))
    aspect = rng.choice([4 / 3, 3 / 2, 16 / 9])
    if rng.random() < 0.5:
        h, w = long_side, int(long_side / aspect)
    else:
        w, h = long_side, int(long_side / aspect)
    pad = int(0.1 * max(h, w))  # drawn larger, turned, then cropped: no empty corners
    H, W = h + 2 * pad, w + 2 * pad
    paper = np.array([rng.uniform(228, 250), rng.uniform(224, 246), rng.uniform(205, 235)], np.float32)
    page = np.ones((H, W, 3), np.float32) * paper
    page += rng.normal(0, 2.0, (H, W, 1)).astype(np.float32)  # paper texture
    ruling = rng.choice(["plain", "lined", "squared"], p=[0.2, 0.5, 0.3])
    line_colour = np.array(rng.choice([[150, 180, 225], [170, 170, 180], [130, 170, 215]]), np.float32)
    spacing = int(h * rng.uniform(0.03, 0.06))
    thickness = max(1, int(round(max(h, w) / 1000 * rng.uniform(1.0, 2.5))))
    strength = rng.uniform(0.5, 0.9)
    if ruling != "plain":
        offset = int(rng.integers(0, spacing))
        for y in range(offset, H, spacing):
            page[y:y + thickness] = page[y:y + thickness] * (1 - strength) + line_colour * strength
        if ruling == "squared":
            for x in range(offset, W, spacing):
                page[:, x:x + thickness] = page[:, x:x + thickness] * (1 - strength) + line_colour * strength
    # the digit
    dh = int(h * rng.uniform(0.08, 0.25))
    alpha = digit_alpha(digit, dh, rng)
    ink = np.array(rng.choice([[25, 45, 150], [30, 30, 35], [175, 30, 35]]), np.float32)
    ink = ink + rng.uniform(-15, 15, 3).astype(np.float32)
    ah, aw = alpha.shape
    top = pad + int(rng.integers(int(0.15 * h), max(int(0.15 * h) + 1, int(0.85 * h) - ah)))
    left = pad + int(rng.integers(int(0.15 * w), max(int(0.15 * w) + 1, int(0.85 * w) - aw)))
    region = page[top:top + ah, left:left + aw]
    a = alpha[..., None] * rng.uniform(0.8, 1.0)
    page[top:top + ah, left:left + aw] = region * (1 - a) + ink * a
    # turned a little, then cropped to the frame
    img = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    img = img.rotate(rng.uniform(-6, 6), resample=Image.BILINEAR, fillcolor=tuple(int(c) for c in paper))
    page = np.asarray(img.crop((pad, pad, pad + w, pad + h)), np.float32)
    # light: a gradient across the page and a soft shadow (a hand or a phone) from one side
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    along = (np.cos(theta) * xx / w + np.sin(theta) * yy / h)
    light = 1.0 - rng.uniform(0.1, 0.35) * (along - along.min()) / (along.max() - along.min() + 1e-6)
    phi = rng.uniform(0, 2 * math.pi)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    dist = (np.cos(phi) * (xx - cx) + np.sin(phi) * (yy - cy)) / max(h, w)
    softness = rng.uniform(0.03, 0.08)
    shadow = 1.0 - rng.uniform(0.2, 0.45) / (1.0 + np.exp(-dist / softness))
    page = page * (light * shadow)[..., None]
    img = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5) * max(h, w) / 1000))
    page = np.asarray(img, np.float32) + rng.normal(0, rng.uniform(2, 7), (h, w, 3)).astype(np.float32)
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))


def skeleton(mask):
    """Zhang-Suen thinning of a boolean image."""
    m = np.pad(mask, 1).astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p2, p3, p4 = m[:-2, 1:-1], m[:-2, 2:], m[1:-1, 2:]
            p5, p6, p7 = m[2:, 2:], m[2:, 1:-1], m[2:, :-2]
            p8, p9 = m[1:-1, :-2], m[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            b = sum(ring[:8])
            a = sum(((ring[i] == 0) & (ring[i + 1] == 1)).astype(np.uint8) for i in range(8))
            if step == 0:
                c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                c = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            drop = (m[1:-1, 1:-1] == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if drop.any():
                m[1:-1, 1:-1][drop] = 0
                changed = True
    return m[1:-1, 1:-1].astype(bool)


def neighbours(m):
    p = np.pad(m, 1).astype(np.uint8)
    return sum(p[1 + dy:1 + dy + m.shape[0], 1 + dx:1 + dx + m.shape[1]]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def prune(skel, length):
    """The skeleton without its spurs (branches shorter than `length` px); stroke ends grow back."""
    pruned = skel.copy()
    for _ in range(length):
        pruned &= ~((neighbours(pruned) == 1) & pruned)
    grown = pruned & (neighbours(pruned) == 1)
    for _ in range(length):
        grown = (neighbours(grown) > 0) & skel & ~pruned | grown
    return pruned | grown


def thin(digit, rng):
    side = int(rng.integers(400, 801))
    h, w = side, int(side * rng.uniform(0.8, 1.25))
    dh = int(h * rng.uniform(0.5, 0.8))
    alpha = digit_alpha(digit, dh, rng)
    if alpha.shape[1] > 0.85 * w:  # a wide digit: smaller, so it fits the canvas
        dh = int(dh * 0.85 * w / alpha.shape[1])
        alpha = digit_alpha(digit, dh, rng)
    # smoothed first: the enlarged pixels' corners would grow spurs on the skeleton
    smooth = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(dh * 0.015)))
    skel = prune(skeleton(smooth > 127), int(dh * 0.2))
    width = rng.uniform(3, 7)
    r = width / 2
    # a round pen along the skeleton: the distance to it, anti-aliased at the edge
    canvas = np.zeros((h, w), bool)
    ah, aw = skel.shape
    top = int(rng.integers(int(0.05 * h), max(int(0.05 * h) + 1, h - ah - int(0.05 * h))))
    left = int(rng.integers(int(0.05 * w), max(int(0.05 * w) + 1, w - aw - int(0.05 * w))))
    canvas[top:top + ah, left:left + aw] = skel[:h - top, :w - left]
    ys, xs = np.nonzero(canvas)
    cov = np.zeros((h, w), np.float32)
    R = int(math.ceil(r)) + 1
    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            c = np.clip(r + 0.5 - math.hypot(dy, dx), 0, 1)
            if c <= 0:
                continue
            y, x = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
            np.maximum.at(cov, (y, x), c)
    if rng.random() < 0.75:
        ink, bg = rng.choice([[0, 0, 0], [20, 20, 120], [160, 20, 20]]), [255, 255, 255]
    else:
        ink, bg = [255, 255, 255], [0, 0, 0]
    img = np.array(bg, np.float32) * (1 - cov[..., None]) + np.array(ink, np.float32) * cov[..., None]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def scan(digit, rng):
    scale = rng.uniform(3, 12)
    size = int(28 * scale)
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.BILINEAR))
    img = 255 - big if rng.random() < 0.5 else big
    return Image.fromarray(img)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["photo", "thin", "scan"])
    ap.add_argument("out")
    ap.add_argument("count", type=int)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--first", type=int, default=0, help="first MNIST test index")
    ap.add_argument("--mnist", default=os.path.join(os.path.dirname(__file__), "../../shared/data/mnist"))
    ap.add_argument("--png-share", type=float, default=None, help="share of PNG files (photo: 0.2)")
    args = ap.parse_args()
    images = read_idx(os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.mnist, "t10k-labels-idx1-ubyte.gz"))
    os.makedirs(args.out, exist_ok=True)
    for k in range(args.count):
        i = args.first + k
        rng = np.random.default_rng([args.seed, i])
        img = {"photo": photo, "thin": thin, "scan": scan}[args.kind](images[i], rng)
        png_share = args.png_share if args.png_share is not None else {"photo": 0.2, "thin": 1.0, "scan": 0.5}[args.kind]
        name = os.path.join(args.out, "%s-%05d-%d" % (args.kind, i, labels[i]))
        if rng.random() < png_share:
            img.save(name + ".png", optimize=True)
        else:
            img.save(name + ".jpg", quality=int(rng.integers(60, 86)))


if __name__ == "__main__":
    main()
