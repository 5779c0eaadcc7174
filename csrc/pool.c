#include "pool.h"

#include <math.h>
#include <string.h>

#include "nn_common.h"

#define MAXPOOL_MAX_PLANE ((int64_t)1 << 24) /* indices are exact floats below this */

int maxpool2d_out_size(int64_t *oh, int64_t *ow, int64_t h, int64_t w, int kh, int kw, int sh,
                       int sw, int ph, int pw) {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
        return MN_ERR_ARG;
    if (h + 2 * ph < kh || w + 2 * pw < kw || h * w > MAXPOOL_MAX_PLANE) return MN_ERR_SHAPE;
    *oh = (h + 2 * ph - kh) / sh + 1;
    *ow = (w + 2 * pw - kw) / sw + 1;
    return MN_OK;
}

/* take ? a : b through bit masks: compilers turn a ?: on floats into a branch, which random
 * data mispredicts half the time. */
static inline float select_float(int take, float a, float b) {
    uint32_t ua, ub, mask = 0u - (uint32_t)(take != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t r = (ua & mask) | (ub & ~mask);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* [*lo, *hi): the windows j whose column j*sw - pw + c lies inside [0, w). */
static void window_columns(int64_t *lo, int64_t *hi, int64_t c, int64_t w, int64_t ow, int sw,
                           int pw) {
    int64_t first = pw - c, limit = w + pw - c;
    *lo = first > 0 ? (first + sw - 1) / sw : 0;
    *hi = limit > 0 ? (limit + sw - 1) / sw : 0;
    if (*hi > ow) *hi = ow;
    if (*lo > *hi) *lo = *hi;
}

/* One step for a row of windows: window j (lo <= j < hi) looks at src[base + j*sw] and keeps the
 * first maximum in scan order (a later NaN wins, as in PyTorch) in best[j], its position in
 * where[j]. Branch-free, and inlined with sw a constant for the common strides. */
static inline __attribute__((always_inline)) void
window_step(float *restrict best, float *restrict where, const float *restrict src, int32_t base,
            int64_t lo, int64_t hi, int sw) {
    for (int64_t j = lo; j < hi; j++) {
        int32_t pos = base + (int32_t)j * sw;
        float v = src[pos], b = best[j], at = where[j];
        int take = (v > b) | (v != v) | (at < 0.0f);
        best[j] = select_float(take, v, b);
        where[j] = select_float(take, (float)pos, at);
    }
}

int maxpool2d_forward(Tensor *out, Tensor *indices, const Tensor *inp, int kh, int kw, int sh,
                      int sw, int ph, int pw) {
    if (!nn_is_f32(inp)) return MN_ERR_DTYPE;
    if (inp->ndim != 4) return MN_ERR_SHAPE;
    const int64_t h = inp->shape[2], w = inp->shape[3];
    int64_t oh, ow;
    int st = maxpool2d_out_size(&oh, &ow, h, w, kh, kw, sh, sw, ph, pw);
    if (st) return st;
    const int64_t out_shape[4] = {inp->shape[0], inp->shape[1], oh, ow};
    if (!nn_has_shape(out, 4, out_shape) || !nn_has_shape(indices, 4, out_shape))
        return MN_ERR_SHAPE;
    if (tensor_overlaps(out, inp) || tensor_overlaps(indices, inp) || tensor_overlaps(out, indices))
        return MN_ERR_ARG;
    const int64_t planes = inp->shape[0] * inp->shape[1];
    const float *x = tensor_f32(inp); /* (N*C, H, W) */
    float *y = tensor_f32(out);       /* (N*C, OH, OW) */
    float *idx = tensor_f32(indices); /* (N*C, OH, OW) */
    /* A whole output row at a time: for each window offset (r, c) in scan order, every window of
     * the row looks at one element. The iterations over j are independent (no chain through one
     * running max), so they overlap and vectorize; the running max lives in the output row and
     * its position in the indices row (-1 until the window saw a real element). */
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *src = x + pl * h * w; /* (H, W) */
        for (int64_t i = 0; i < oh; i++) {
            float *best = y + (pl * oh + i) * ow;    /* (OW) */
            float *where = idx + (pl * oh + i) * ow; /* (OW) */
            for (int64_t j = 0; j < ow; j++) best[j] = -INFINITY, where[j] = -1.0f;
            int64_t r0 = i * sh - ph, r1 = r0 + kh;
            if (r0 < 0) r0 = 0;
            if (r1 > h) r1 = h;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = 0; c < kw; c++) {
                    int64_t lo, hi; /* windows j whose column j*sw - pw + c is inside [0, w) */
                    window_columns(&lo, &hi, c, w, ow, sw, pw);
                    int32_t base = (int32_t)(r * w - pw + c); /* window j looks at base + j*sw */
                    if (sw == 2) window_step(best, where, src, base, lo, hi, 2);
                    else if (sw == 1) window_step(best, where, src, base, lo, hi, 1);
                    else window_step(best, where, src, base, lo, hi, sw);
                }
        }
    }
    return MN_OK;
}

int maxpool2d_backward(Tensor *dinp, const Tensor *dout, const Tensor *indices) {
    if (!nn_is_f32(dinp) || !nn_is_f32(dout) || !nn_same_shape(indices, dout)) return MN_ERR_SHAPE;
    if (dinp->ndim != 4 || dout->ndim != 4 || dinp->shape[0] != dout->shape[0] ||
        dinp->shape[1] != dout->shape[1])
        return MN_ERR_SHAPE;
    if (tensor_overlaps(dinp, dout) || tensor_overlaps(dinp, indices)) return MN_ERR_ARG;
    const int64_t planes = dout->shape[0] * dout->shape[1];
    const int64_t in_plane = dinp->shape[2] * dinp->shape[3];
    const int64_t out_plane = dout->shape[2] * dout->shape[3];
    const float *dy = tensor_f32(dout);   /* (N*C, OH*OW) */
    const float *idx = tensor_f32(indices); /* (N*C, OH*OW) */
    float *dx = tensor_f32(dinp);         /* (N*C, H*W) */
    memset(dx, 0, (size_t)dinp->numel * sizeof *dx);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t q = 0; q < out_plane; q++) {
            float f = idx[pl * out_plane + q];
            if (!(f >= 0.0f && f < (float)in_plane)) return MN_ERR_RANGE; /* not from forward */
            dx[pl * in_plane + (int64_t)f] += dy[pl * out_plane + q];
        }
    return MN_OK;
}
