/* conv_direct.h: direct convolution (no im2col) for small layers, two kinds:
 *
 * CONV_DIRECT_ROWS, few input channels (the first layer of both models: 1 channel, 3x3 or 5x5).
 * With C*KH*KW = 9 or 25, im2col writes 9-25 copies of each image for a product whose K is 9-25,
 * so the copies and the packing cost more than the arithmetic (LeNet's first layer spent 75% of
 * its time there). AVX-512 vectors run along an output row: each output vector is KH*KW fused
 * multiply-adds of input vectors read in place; a last vector that would run past the row starts
 * at OW - 16 and overlaps its neighbour (same values, no masked stores). The weight gradient keeps
 * one vector accumulator per kernel tap in registers over a block of images and sums its lanes
 * at the end (lanes of an overlapping vector already counted are zeroed).
 *
 * CONV_DIRECT_CHANNELS, few output channels on small images (LeNet's second layer: 6 -> 16, 5x5,
 * 8x8 outputs): the vector lanes are the (up to 16) output channels, so an 8x8 image fills them.
 * Each block of 8 output positions keeps 8 accumulators; every kernel tap is one load of the 16
 * filters' weights (transposed once per call, conv_direct_prepare) and 8 multiply-adds by input
 * values broadcast in place. The weight gradient is the same loop with the output gradient
 * transposed to (P, 16) per image. The input gradient stays im2col's (conv.c).
 *
 * Both: stride 1, no padding, AVX-512 or AVX2+FMA CPUs (AVX2: 8-float vectors along the rows, the
 * 16 channels in two; conv_direct_kind; conv.c also lets MNIST_CONV_DIRECT=0
 * turn them off); the rest goes through im2col or Winograd. Sums run in a fixed order, whatever
 * the thread count. */
#ifndef MNIST_CONV_DIRECT_H
#define MNIST_CONV_DIRECT_H

#include <stdint.h>

#include "nn/conv.h"

enum { CONV_DIRECT_NONE = 0, CONV_DIRECT_ROWS = 1, CONV_DIRECT_CHANNELS = 2 };

#define CONV_DIRECT_MAX_CHANNELS 4 /* ROWS: input channels */
#define CONV_DIRECT_LANES 16       /* CHANNELS: output channels */
#define CONV_DIRECT_MAX_TAPS 512   /* CHANNELS: C*KH*KW */

/* The instruction set of the direct kernels on this machine: "avx512", "avx2" or "none". */
const char *conv_direct_path(void);

/* Which direct kernel g can use (CONV_DIRECT_NONE: none). */
int conv_direct_kind(const Conv2dShape *g);

/* Floats shared by the threads (the transposed filters), written by conv_direct_prepare, and
 * floats of per-thread scratch conv_direct_weight_grad needs. */
int64_t conv_direct_shared_floats(const Conv2dShape *g);
int64_t conv_direct_scratch_floats(const Conv2dShape *g);

/* shared (conv_direct_shared_floats) from weight (O, C, KH, KW): once per call, before the others. */
void conv_direct_prepare(float *shared, const float *weight, const Conv2dShape *g);

/* One image: out (O, OH, OW) = conv(inp (C, H, W), weight (O, C, KH, KW)) + bias (O, or NULL). */
void conv_direct_forward(float *out, const float *inp, const float *weight, const float *shared,
                         const float *bias, const Conv2dShape *g);

/* dweight (O, C, KH, KW) += the weight gradient of nb images, and dbias (O) += the bias
 * gradient unless dbias is NULL: dout (nb, O, OH, OW) and their inputs inp (nb, C, H, W).
 * scratch: conv_direct_scratch_floats(g) floats. */
void conv_direct_weight_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                             int64_t nb, const Conv2dShape *g, float *scratch);

#endif
