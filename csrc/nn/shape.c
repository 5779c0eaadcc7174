#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/shape.h"

#include <string.h>

#include "nn/nn_common.h"

/* Every plane: dst[y][x] = src[y - dy][x - dx] where that lies in src, else 0.
 *   dst (planes, DH, DW), src (planes, SH, SW) */
static void place_planes(float *dst, int64_t dh, int64_t dw, const float *src, int64_t sh,
                         int64_t sw, int64_t planes, int64_t dy, int64_t dx) {
    const int64_t x0 = dx > 0 ? dx : 0, x1 = sw + dx < dw ? sw + dx : dw; /* dst columns from src */
    for (int64_t p = 0; p < planes; p++)
        for (int64_t y = 0; y < dh; y++) {
            float *row = dst + (p * dh + y) * dw;
            const int64_t sy = y - dy;
            if (sy < 0 || sy >= sh || x0 >= x1) {
                memset(row, 0, (size_t)dw * sizeof *row);
                continue;
            }
            memset(row, 0, (size_t)x0 * sizeof *row);
            memcpy(row + x0, src + (p * sh + sy) * sw + (x0 - dx), (size_t)(x1 - x0) * sizeof *row);
            memset(row + x1, 0, (size_t)(dw - x1) * sizeof *row);
        }
}

/* MN_OK when big is (N, C, H + t + b, W + l + r) for small (N, C, H, W), both float32 apart. */
static int check_pad(const Tensor *big, const Tensor *small, int l, int r, int t, int b) {
    if (!nn_is_f32(big) || !nn_is_f32(small)) return MN_ERR_DTYPE;
    if (small->ndim != 4) return MN_ERR_SHAPE;
    const int64_t shape[4] = {small->shape[0], small->shape[1], small->shape[2] + t + b,
                              small->shape[3] + l + r};
    if (!nn_has_shape(big, 4, shape)) return MN_ERR_SHAPE;
    return tensor_overlaps(big, small) ? MN_ERR_ARG : MN_OK;
}

int pad2d_forward(Tensor *out, const Tensor *inp, int l, int r, int t, int b) {
    int st = check_pad(out, inp, l, r, t, b);
    if (st) return st;
    place_planes(tensor_f32(out), out->shape[2], out->shape[3], tensor_f32(inp), inp->shape[2],
                 inp->shape[3], inp->shape[0] * inp->shape[1], t, l);
    return MN_OK;
}

int pad2d_backward(Tensor *dinp, const Tensor *dout, int l, int r, int t, int b) {
    int st = check_pad(dout, dinp, l, r, t, b);
    if (st) return st;
    place_planes(tensor_f32(dinp), dinp->shape[2], dinp->shape[3], tensor_f32(dout),
                 dout->shape[2], dout->shape[3], dinp->shape[0] * dinp->shape[1], -t, -l);
    return MN_OK;
}

int concat_copy(Tensor *big, Tensor *part, int dim, int64_t offset, int into_big) {
    if (!nn_is_f32(big) || !nn_is_f32(part)) return MN_ERR_DTYPE;
    if (big->ndim != part->ndim || dim < 0 || dim >= big->ndim) return MN_ERR_SHAPE;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < big->ndim; i++) {
        if (i != dim && big->shape[i] != part->shape[i]) return MN_ERR_SHAPE;
        if (i < dim) outer *= big->shape[i];
        if (i > dim) inner *= big->shape[i];
    }
    const int64_t d = part->shape[dim], total = big->shape[dim];
    if (offset < 0 || offset + d > total) return MN_ERR_RANGE;
    if (tensor_overlaps(big, part)) return MN_ERR_ARG;
    float *whole = tensor_f32(big), *block = tensor_f32(part); /* (outer, D, inner), (outer, d, inner) */
    const size_t bytes = (size_t)(d * inner) * sizeof(float);
    for (int64_t o = 0; o < outer; o++) {
        float *at = whole + (o * total + offset) * inner, *from = block + o * d * inner;
        if (into_big) memcpy(at, from, bytes);
        else memcpy(from, at, bytes);
    }
    return MN_OK;
}
