#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/augment.h"

#include <math.h>

int augment_is_affine(const AugmentOptions *opt) {
    return opt->rotate > 0 || opt->scale > 0;
}

void augment_draw(Affine *t, Rng *rng, const AugmentOptions *opt) {
    t->dy = t->dx = 0.0f;
    t->angle = 0.0f;
    t->scale = 1.0f;
    if (opt->shift > 0) {
        const uint64_t span = 2 * (uint64_t)opt->shift + 1;
        t->dy = (float)((int64_t)rng_below(rng, span) - opt->shift);
        t->dx = (float)((int64_t)rng_below(rng, span) - opt->shift);
    }
    if (opt->rotate > 0) t->angle = opt->rotate * (2.0f * rng_uniform(rng) - 1.0f);
    if (opt->scale > 0) t->scale = 1.0f + opt->scale * (2.0f * rng_uniform(rng) - 1.0f);
}

void augment_shift(float *dst, const uint8_t *src, int64_t H, int64_t W, const float lut[256],
                   int64_t dy, int64_t dx) {
    for (int64_t r = 0; r < H; r++) {
        const int64_t sr = r - dy;
        float *out = dst + r * W; // (W)
        if (sr < 0 || sr >= H) {
            for (int64_t c = 0; c < W; c++) out[c] = lut[0];
            continue;
        }
        const uint8_t *in = src + sr * W; // (W)
        for (int64_t c = 0; c < W; c++) {
            const int64_t sc = c - dx;
            out[c] = sc >= 0 && sc < W ? lut[in[sc]] : lut[0];
        }
    }
}

/* lut[src[r, c]], background outside the image. */
static inline float pixel(const uint8_t *src, int64_t H, int64_t W, const float lut[256], int64_t r,
                          int64_t c) {
    return r >= 0 && r < H && c >= 0 && c < W ? lut[src[r * W + c]] : lut[0];
}

void augment_affine(float *dst, const uint8_t *src, int64_t H, int64_t W, const float lut[256],
                    const Affine *t) {
    const float radians = t->angle * (float)(M_PI / 180.0);
    /* the inverse map: turn back by -angle, divide by the scale */
    const float cos_a = cosf(radians) / t->scale, sin_a = sinf(radians) / t->scale;
    const float cy = 0.5f * (float)(H - 1), cx = 0.5f * (float)(W - 1);
    for (int64_t r = 0; r < H; r++) {
        const float y = (float)r - t->dy - cy;
        for (int64_t c = 0; c < W; c++) {
            const float x = (float)c - t->dx - cx;
            const float sx = cx + cos_a * x - sin_a * y; // source column
            const float sy = cy + sin_a * x + cos_a * y; // source row
            const float fy0 = floorf(sy), fx0 = floorf(sx);
            const float wy = sy - fy0, wx = sx - fx0;
            const int64_t r0 = (int64_t)fy0, c0 = (int64_t)fx0;
            if (r0 < -1 || r0 >= H || c0 < -1 || c0 >= W) { // all four neighbours outside
                dst[r * W + c] = lut[0];
                continue;
            }
            const float top = (1.0f - wx) * pixel(src, H, W, lut, r0, c0) + wx * pixel(src, H, W, lut, r0, c0 + 1);
            const float bottom = (1.0f - wx) * pixel(src, H, W, lut, r0 + 1, c0) +
                                 wx * pixel(src, H, W, lut, r0 + 1, c0 + 1);
            dst[r * W + c] = (1.0f - wy) * top + wy * bottom;
        }
    }
}
