#!/usr/bin/python3
"""Measures PHOTO_MNIST_STROKE (csrc/data/photo.c): the stroke width of MNIST digits relative to the
larger side of their bounding box, with photo.c's estimator (4 * mean depth - 2, depth = distance
to the background, 1 at the stroke's edge) on digits enlarged 8x and binarised at 0.5.

The depth here is the sum of successive octagonal erosions (square and cross alternately), the
same quantity photo.c's chamfer (3-4) transform approximates.

    /usr/bin/python3 tools/photo_stroke_width.py [IDX.gz] [COUNT]
Needs python3-numpy and python3-pil (Debian); never run by the tests."""
import gzip
import sys

import numpy as np
from PIL import Image


def erode(m, square):
    p = np.pad(m, 1)
    out = m.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if (dy and dx) and not square:
                continue
            out &= p[1 + dy:1 + dy + m.shape[0], 1 + dx:1 + dx + m.shape[1]]
    return out


def relative_stroke(digit):
    big = np.asarray(Image.fromarray(digit).resize((224, 224), Image.BILINEAR)) >= 128
    area = big.sum()
    if area == 0:
        return None
    depth, m, k = 0, big, 0
    while m.any():
        depth += m.sum()
        m = erode(m, k % 2 == 0)
        k += 1
    ys, xs = np.nonzero(big)
    size = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    return (4.0 * depth / area - 2.0) / size


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist/train-images-idx3-ubyte.gz"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    raw = gzip.open(path).read()
    digits = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:count]
    values = [v for v in (relative_stroke(d) for d in digits) if v is not None]
    q = np.percentile(values, [10, 25, 50, 75, 90])
    print("relative stroke width of %d digits: p10 %.4f p25 %.4f median %.4f p75 %.4f p90 %.4f"
          % (len(values), *q))


if __name__ == "__main__":
    main()
