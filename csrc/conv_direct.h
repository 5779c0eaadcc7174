/* conv_direct.h: direct convolution (no im2col, no sgemm) for layers with few input channels,
 * such as the first layer of both models (1 channel, 3x3 or 5x5).
 *
 * Why: with C*KH*KW = 9 or 25, im2col writes 9-25 copies of each image for a product whose K is
 * 9-25, so the copies and the packing cost more than the arithmetic (LeNet's first layer spent
 * 75% of its time there). Here AVX-512 vectors run along an output row: each output vector is
 * KH*KW fused multiply-adds of input vectors read in place; output vectors past the row's
 * multiple of 16 start at OW - 16 and overlap the previous one (same values, no masked stores).
 * The weight gradient keeps one vector accumulator per kernel tap in registers over a whole block
 * of images and sums its lanes at the end (lanes of an overlapping vector already counted are
 * zeroed), a fixed order whatever the thread count.
 *
 * Used for stride 1, no padding, 3x3 or 5x5 kernels, C <= CONV_DIRECT_MAX_CHANNELS, OW >= 16,
 * on CPUs with AVX-512 (conv_direct_fits); the rest goes through im2col. */
#ifndef MNIST_CONV_DIRECT_H
#define MNIST_CONV_DIRECT_H

#include <stdint.h>

#include "conv.h"

#define CONV_DIRECT_MAX_CHANNELS 4

/* 1 when g can use the direct kernels. */
int conv_direct_fits(const Conv2dShape *g);

/* One image: out (O, OH, OW) = conv(inp (C, H, W), weight (O, C, KH, KW)) + bias (O, or NULL). */
void conv_direct_forward(float *out, const float *inp, const float *weight, const float *bias,
                         const Conv2dShape *g);

/* dweight (O, C, KH, KW) += the weight gradient of nb images: dout (nb, O, OH, OW) and their
 * inputs inp (nb, C, H, W). */
void conv_direct_weight_grad(float *dweight, const float *dout, const float *inp, int64_t nb,
                             const Conv2dShape *g);

#endif
