/* pool.h: 2-D max and average pooling over a batch of images.
 *
 * Each output element is the largest input in its KH x KW window (windows start every SH rows
 * and SW columns; PH/PW rows/columns of padding on each side never win). The position of the
 * winner is kept in `indices` for the backward pass, as Torch does: the flat position ih*W + iw
 * in its input plane, stored as a float (exact, since planes are capped at 2^24 elements).
 * Ties go to the first maximum in scan order and a NaN wins, as in PyTorch.
 *
 * Shapes: inp (N, C, H, W), out and indices (N, C, OH, OW) with
 * OH = (H + 2*PH - KH) / SH + 1, OW = (W + 2*PW - KW) / SW + 1, the division rounded down, or up
 * in ceil mode (Torch7's :ceil()), where a last window that would start past the top/left padding
 * plus the image (at or beyond H + PH) is dropped, so every window holds at least one input
 * (PyTorch's rule; Torch7 applies it only with padding, leaving an empty window otherwise when
 * the stride exceeds the kernel). 
 *
 * Average pooling (Torch7's SpatialAveragePooling, PyTorch's avg_pool2d): each output is the sum
 * of its window's inputs divided by the window's size clipped to the padded image
 * (count_include_pad: padding counts, a ceil-mode window hanging past the padding does not) or by
 * the number of real inputs in it (count_include_pad = 0). */
#ifndef MNIST_POOL_H
#define MNIST_POOL_H

#include <stdint.h>

#include "tensor/tensor.h"

/* *oh, *ow: the output size of pooling an h x w plane. MN_ERR_ARG for a kernel or stride < 1, a
 * padding < 0 or more than half the kernel; MN_ERR_SHAPE when the padded plane is smaller than
 * the kernel or has more than 2^24 elements.
 *   h, w    input plane height and width
 *   kh, kw  window height and width
 *   sh, sw  strides
 *   ph, pw  padding on each side
 *   ceil    1: round the window count up (ceil mode), 0: down */
int pool2d_out_size(int64_t *oh, int64_t *ow, int64_t h, int64_t w, int kh, int kw, int sh, int sw,
                    int ph, int pw, int ceil);

/* out = max over each window of inp; indices = where each max came from.
 *   out      (N, C, OH, OW) written
 *   indices  (N, C, OH, OW) written: flat position (ih*W + iw) of each max, as float
 *   inp      (N, C, H, W)
 *   kh .. pw window, stride and padding as in pool2d_out_size
 *   ceil     ceil mode (the output shape tells it apart only where it matters) */
/* The fast 2x2 stride-2 max pooling on this machine: "avx512", "avx2" (forward, rows of 8 or more
 * outputs) or "generic" (the plain loops only). */
const char *maxpool_2x2_path(void);

int maxpool2d_forward(Tensor *out, Tensor *indices, const Tensor *inp, int kh, int kw, int sh,
                      int sw, int ph, int pw, int ceil);

/* dinp = the output gradient routed back to each window's max (OVERWRITES dinp; overlapping
 * windows add up). MN_ERR_RANGE (dinp then undefined) for an index maxpool2d_forward could not
 * have written.
 *   dinp     (N, C, H, W) written
 *   dout     (N, C, OH, OW) gradient w.r.t. the output
 *   indices  (N, C, OH, OW) from maxpool2d_forward */
int maxpool2d_backward(Tensor *dinp, const Tensor *dout, const Tensor *indices);

/* out = the average of each window of inp (see above for the divisor).
 *   out                (N, C, OH, OW) written
 *   inp                (N, C, H, W)
 *   kh .. ceil         as in pool2d_out_size
 *   count_include_pad  1: padding counts in the divisor (Torch7's and PyTorch's default) */
int avgpool2d_forward(Tensor *out, const Tensor *inp, int kh, int kw, int sh, int sw, int ph,
                      int pw, int ceil, int count_include_pad);

/* dinp = each output gradient spread evenly back over its window (OVERWRITES dinp).
 *   dinp  (N, C, H, W) written
 *   dout  (N, C, OH, OW), OH and OW those of the forward call
 *   the rest as in the forward call */
int avgpool2d_backward(Tensor *dinp, const Tensor *dout, int kh, int kw, int sh, int sw, int ph,
                       int pw, int ceil, int count_include_pad);

#endif
