/* shape.h: copies that move blocks of contiguous float32 tensors around: zero padding (or
 * cropping) of images, as Torch7's SpatialZeroPadding, and the blocks of a concatenation along a
 * dim (Concat, JoinTable). */
#ifndef MNIST_SHAPE_H
#define MNIST_SHAPE_H

#include <stdint.h>

#include "tensor/tensor.h"

/* out = inp with l, r columns and t, b rows of zeros added on the left, right, top and bottom of
 * every plane; a negative count crops that many instead.
 *   out         (N, C, H + t + b, W + l + r) written, each size >= 1
 *   inp         (N, C, H, W)
 *   l, r, t, b  padding (or, negative, cropping) per side */
int pad2d_forward(Tensor *out, const Tensor *inp, int l, int r, int t, int b);

/* dinp = the part of dout that came from inp, 0 where inp was cropped (OVERWRITES dinp).
 *   dinp        (N, C, H, W) written
 *   dout        (N, C, H + t + b, W + l + r)
 *   l, r, t, b  as in the forward call */
int pad2d_backward(Tensor *dinp, const Tensor *dout, int l, int r, int t, int b);

/* Copies between a tensor and its block along one dim: into_big = 1 writes part into
 * big[..., offset : offset + part.shape[dim], ...]; into_big = 0 reads that block into part.
 *   big     (..., D, ...) the concatenation
 *   part    big's shape but for dim, where it has d <= D - offset
 *   dim     0-based dim of the concatenation
 *   offset  0-based start of the block along dim */
int concat_copy(Tensor *big, Tensor *part, int dim, int64_t offset, int into_big);

#endif
