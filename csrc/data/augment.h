/* augment.h: the random transforms of training images (the loader draws one per image).
 *
 * Whole-pixel shifts copy pixels; rotations and scaling are an affine warp about the image's
 * centre with bilinear sampling. Pixels come from outside the image as background (byte 0). Both
 * write normalised floats through lut (byte -> float, linear in the byte), so sampling the lut's
 * values is sampling the bytes, then normalising. */
#ifndef MNIST_AUGMENT_H
#define MNIST_AUGMENT_H

#include <stdint.h>

#include "tensor/rng.h"

typedef struct AugmentOptions {
    int shift;    /* whole-pixel shifts of up to this many pixels each way (0: none) */
    float rotate; /* rotations of up to this many degrees each way (0: none) */
    float scale;  /* scaling by a factor in [1 - scale, 1 + scale] (0: none); < 1 */
} AugmentOptions;

/* One image's transform: move by (dy, dx) pixels (down, right) after turning by `angle` degrees
 * anticlockwise (as the image is shown, rows down) and scaling by `scale`, about the centre. */
typedef struct Affine {
    float dy, dx, angle, scale;
} Affine;

/* 1 when the options ask for a rotation or scaling (the warp), 0 for shifts alone or nothing. */
int augment_is_affine(const AugmentOptions *opt);

/* *t: the next image's transform from rng. Draws dy, dx (rng_below(2 * shift + 1) - shift, only
 * when shift > 0), then the angle (uniform in [-rotate, rotate], only when rotate > 0), then the
 * scale (uniform in [1 - scale, 1 + scale], only when scale > 0); what is not drawn is the
 * identity (0 or 1). */
void augment_draw(Affine *t, Rng *rng, const AugmentOptions *opt);

/* dst (H, W) = lut[src (H, W)] moved by whole pixels (dy down, dx right). */
void augment_shift(float *dst, const uint8_t *src, int64_t H, int64_t W, const float lut[256],
                   int64_t dy, int64_t dx);

/* dst (H, W): src (H, W) under the transform t, sampled bilinearly: output pixel p reads source
 * point c + R(-angle) (p - (dy, dx) - c) / scale, c = ((H - 1) / 2, (W - 1) / 2). */
void augment_affine(float *dst, const uint8_t *src, int64_t H, int64_t W, const float lut[256],
                    const Affine *t);

#endif
