/* conv.h: 2-D convolution over a batch of images (cross-correlation, as Torch and PyTorch).
 *
 * How: image by image, im2col then one sgemm (csrc/gemm.h) that writes straight into the output
 * (small images go a few to an sgemm, see CONV2D_MIN_COLUMNS). For an image with P = OH*OW
 * output positions:
 *
 *     cols (K, P)   K = C*KH*KW rows, one per (channel, kernel row, kernel col)
 *     out[n] (O, P) = weight (O, K) @ cols, then + bias[o]   no transpose, no copy of the weight
 *
 * Backward, reading dY = dout[n] (O, P) in place: dweight (O, K) += dY @ cols^T (Winograd's own
 * products instead for 3x3 stride-1 layers, winograd.h), dbias += row
 * sums of dY, dcols (K, P) = weight^T @ dY written over cols, col2im -> dinp[n]. One image's cols
 * (663 KB for the default model's second layer) stay in L2 between im2col and the product; our
 * sgemm costs little per call, so one call per image loses nothing against one per batch.
 *
 * Threads (parallel.h): the batch is split into one contiguous range of images per thread, each
 * with its own cols and single-threaded sgemm calls; the weight and bias gradients of the other
 * ranges are summed apart and added in range order, so results are bitwise reproducible for a
 * given thread count (outputs and input gradients do not depend on it at all). A single image
 * uses all threads inside its sgemm.
 *
 * The caller owns the workspace (a float32 tensor of any shape with at least
 * conv2d_workspace_floats() elements; the Lua module caches it), so a training step allocates
 * nothing.
 *
 * Shapes: inp (N, C, H, W), weight (O, C, KH, KW) (PyTorch's layout), bias (O),
 * out (N, O, OH, OW) with OH = (H + 2*PH - KH) / SH + 1, OW = (W + 2*PW - KW) / SW + 1. */
#ifndef MNIST_CONV_H
#define MNIST_CONV_H

#include <stdint.h>

#include "tensor/tensor.h"
#include "nn/winograd.h"

/* Images smaller than this many output positions go several to an sgemm (N = images * P), their
 * columns and outputs in the workspace; larger ones one at a time, straight into the output. */
#ifndef CONV2D_MIN_COLUMNS
#define CONV2D_MIN_COLUMNS 512
#endif

typedef struct Conv2dShape {
    int64_t n, c, h, w;     /* input (N, C, H, W) */
    int64_t o, kh, kw;      /* weight (O, C, KH, KW) */
    int64_t sh, sw, ph, pw; /* stride and zero padding, per direction */
    int64_t oh, ow;         /* output height and width */
    int64_t k, p;           /* K = C*KH*KW (im2col rows), P = OH*OW (positions per image) */
    int64_t parts;          /* ranges of images run on their own threads (parallel.h) */
    int64_t chunk;          /* images per sgemm: 1, or several small ones (CONV2D_MIN_COLUMNS) */
    int winograd;           /* 3x3 stride 1 with enough channels: forward, input and weight
                               gradients by Winograd F(4x4, 3x3) (winograd.h);
                               MNIST_CONV_WINOGRAD=0 turns it off */
    WinogradShape wf, wb;   /* the forward's, and the input gradient's (dout into dinp) */
    int direct;             /* few input channels: forward and weight gradient by the direct
                               kernels (conv_direct.h), no im2col */
} Conv2dShape;

/* g: the geometry of convolving inp with weight. MN_ERR_SHAPE unless inp is (N, C, H, W) and
 * weight (O, C, KH, KW) with the same C and the padded input at least as large as the kernel;
 * MN_ERR_ARG for strides < 1 or paddings < 0.
 *   inp     (N, C, H, W) float32 input batch
 *   weight  (O, C, KH, KW) float32 filters
 *   sh, sw  strides (>= 1) along height and width
 *   ph, pw  zero padding (>= 0) on each side along height and width */
int conv2d_shape(Conv2dShape *g, const Tensor *inp, const Tensor *weight, int sh, int sw, int ph,
                 int pw);

/* The kernels a convolution of shape g runs on: "direct rows", "direct channels" (conv_direct.h),
 * "winograd" or "im2col" (for the specs and benchmarks). */
const char *conv2d_path(const Conv2dShape *g);

/* The workspace size (in floats) that conv2d_forward and conv2d_backward need for geometry g
 * (it grows with the thread count: ask again after parallel_set_threads). */
int64_t conv2d_workspace_floats(const Conv2dShape *g);

/* out = conv(inp, weight) + bias.
 *   out        (N, O, OH, OW) written
 *   workspace  >= conv2d_workspace_floats() floats of scratch, any shape
 *   inp        (N, C, H, W)
 *   weight     (O, C, KH, KW)
 *   bias       (O), or NULL for none
 *   sh .. pw   strides and paddings as in conv2d_shape */
int conv2d_forward(Tensor *out, Tensor *workspace, const Tensor *inp, const Tensor *weight,
                   const Tensor *bias, int sh, int sw, int ph, int pw);

/* Gradients of conv2d_forward. dinp is OVERWRITTEN; dweight and dbias ACCUMULATE (+=).
 * Any of dinp, dweight, dbias may be NULL to skip it.
 *   dinp       (N, C, H, W) gradient w.r.t. the input, or NULL
 *   dweight    (O, C, KH, KW) gradient w.r.t. the weight, or NULL
 *   dbias      (O) gradient w.r.t. the bias, or NULL
 *   workspace  >= conv2d_workspace_floats() floats of scratch
 *   dout       (N, O, OH, OW) gradient w.r.t. the output
 *   inp        (N, C, H, W) the forward input (needed for dweight)
 *   weight     (O, C, KH, KW) the forward weight (needed for dinp)
 *   sh .. pw   strides and paddings as in the forward call */
int conv2d_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, Tensor *workspace,
                    const Tensor *dout, const Tensor *inp, const Tensor *weight, int sh, int sw,
                    int ph, int pw);

#endif
