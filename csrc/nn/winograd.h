/* winograd.h: 3x3 stride-1 convolution of images by Winograd's minimal filtering F(4x4, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
 *
 * Each 4x4 block of outputs (a tile) is computed from the 6x6 input patch under it with 36
 * multiplications per (input, output) channel pair instead of 144, so the products cost 4x less
 * than im2col's (F(2x2, 3x3), which this file used before, saves 2.25x):
 *
 *     V[xi] (C, T)  = B^T d B of every tile and channel (input transform)
 *     U[xi] (O, C)  = G g G^T of every filter           (once per call, packed for the products)
 *     M[xi] (O, T)  = U[xi] @ V[xi]                      36 sgemm calls, xi = 0..35
 *     out           = A^T m A of every tile, + bias      (output transform)
 *
 * with T the tiles, a block of them at a time (winograd_images), and the interpolation points
 * 0, 1, -1, 2, -2 (the transforms' factors are powers of two; G holds 1/4, 1/6, 1/12, 1/24 and is
 * applied in double). The input gradient of a 3x3 stride-1 convolution is itself one (of the
 * output gradient, padded by 2 - pad, with the filters turned 180 degrees and their in/out
 * channels swapped: winograd_weights(..., flip = 1)), so the same code serves both. The rounding
 * is about ten times im2col's (a few 1e-6 of the outputs' scale; spec/gemm_spec.lua): the larger
 * factors are the price of the fewer products. */
#ifndef MNIST_WINOGRAD_H
#define MNIST_WINOGRAD_H

#include <stdint.h>

typedef struct {
    int64_t c, h, w;   /* input (C, H, W) */
    int64_t o;         /* output channels */
    int64_t ph, pw;    /* zero padding on each side */
    int64_t oh, ow;    /* output (O, OH, OW): OH = H + 2*PH - 2 */
    int64_t th, tw, t; /* tiles of an image: ceil(OH/2) x ceil(OW/2) = T */
} WinogradShape;

/* s for a 3x3 stride-1 convolution of a (C, H, W) image into O channels with padding ph, pw. */
void winograd_shape(WinogradShape *s, int64_t c, int64_t h, int64_t w, int64_t o, int64_t ph,
                    int64_t pw);

/* Floats of the transformed filters, packed for the products (36 x gemm_packed_a_floats(O, C)). */
int64_t winograd_weight_floats(const WinogradShape *s);

/* Floats of scratch one winograd_images call needs (a block's V and M), at least 36 * O * C (so
 * that it can serve as winograd_weights' tmp first). */
int64_t winograd_scratch_floats(const WinogradShape *s);

/* up (winograd_weight_floats(s)) = U (36, O, C), packed for the products, from weight
 * (O, C, 3, 3); with flip, the filters of the input gradient: weight (C, O, 3, 3) (s's C and O:
 * the forward's O and C) turned 180 degrees with its channels swapped. tmp: 36 * O * C floats. */
void winograd_weights(float *up, float *tmp, const float *weight, const WinogradShape *s,
                      int flip);

/* out (N, O, OH, OW) = the convolution of inp (N, C, H, W), n images, by the filters up (as
 * winograd_weights made them for s), + bias (O) when not NULL, on the calling thread. scratch:
 * winograd_scratch_floats(s) floats. The tiles of all n images go through the products in blocks
 * that span tile rows and images; a result does not depend on n or on the blocks. */
void winograd_images(float *out, const float *inp, int64_t n, const float *up, const float *bias,
                     const WinogradShape *s, float *scratch);

/* The weight gradient, by the same transforms: the output is linear in U, so
 *
 *     V[xi] (T, C)   = B^T d B of every tile of the input
 *     Z[xi] (T, O)   = A dY A^T of every tile of the output gradient
 *     dU[xi] (O, C) += Z[xi]^T @ V[xi]                  36 sgemm calls, K = the tiles
 *     dweight       += G^T dU G                          (once per call, winograd_weights_backward)
 *
 * with the tiles a few tile rows at a time (V and Z stay in L2), and the image and the output
 * gradient transposed first (a pixel's channels side by side), so that V comes out (T, C) and Z
 * (T, O): the product packs Z by plain copies, and reads V in place when C is its strip width
 * (32 on AVX-512).
 *
 * Floats of dU (36 * O * C). */
int64_t winograd_weight_grad_floats(const WinogradShape *s);

/* Floats of scratch one winograd_weight_grad_image call needs. */
int64_t winograd_weight_grad_scratch_floats(const WinogradShape *s);

/* du (36, O, C) += the transformed weight gradient of one image, on the calling thread.
 *   inp      (C, H, W) the forward's input
 *   dout     (O, OH, OW) the gradient w.r.t. the forward's output
 *   scratch  winograd_weight_grad_scratch_floats(s) floats */
void winograd_weight_grad_image(float *du, const float *inp, const float *dout,
                                const WinogradShape *s, float *scratch);

/* dweight (O, C, 3, 3) += G^T du G for du (36, O, C) as winograd_weight_grad_image sums it. */
void winograd_weights_backward(float *dweight, const float *du, int64_t o, int64_t c);

#endif
