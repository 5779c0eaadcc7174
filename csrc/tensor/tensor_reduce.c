#include "tensor/tensor_reduce.h"

#include <math.h>

#include "tensor/strided.h"

static int check_f32(const Tensor *t) {
    if (!t->storage) return MN_ERR_ARG;
    return t->dtype == DTYPE_FLOAT32 ? MN_OK : MN_ERR_DTYPE;
}

int tensor_sum_all(double *sum, const Tensor *t) {
    int st = check_f32(t);
    if (st) return st;
    Walk w;
    walk_init(&w, t);
    double acc = 0.0;
    for (int64_t left = t->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++) acc += *(const float *)(w.ptr + i * s);
        walk_advance(&w, n);
        left -= n;
    }
    *sum = acc;
    return MN_OK;
}

int tensor_max_all(float *max, int64_t *argmax, const Tensor *t) {
    int st = check_f32(t);
    if (st) return st;
    if (t->numel == 0) return MN_ERR_SHAPE;
    Walk w;
    walk_init(&w, t);
    float best = *(const float *)w.ptr;
    int64_t best_i = 0, at = 0;
    for (int64_t left = t->numel; left > 0 && best == best;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++, at++) {
            float v = *(const float *)(w.ptr + i * s);
            if (v > best || v != v) {
                best = v, best_i = at;
                if (v != v) break; /* a NaN beats every number (as torch.max) */
            }
        }
        walk_advance(&w, n);
        left -= n;
    }
    *max = best;
    *argmax = best_i;
    return MN_OK;
}

int tensor_max_rows(Tensor *values, int64_t *indices, const Tensor *t) {
    int st = check_f32(t);
    if (!st) st = check_f32(values);
    if (st) return st;
    if (t->ndim == 0 || t->numel == 0) return MN_ERR_SHAPE;
    if (!tensor_is_contiguous(t) || !tensor_is_contiguous(values)) return MN_ERR_LAYOUT;
    int64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    if (values->numel != rows) return MN_ERR_SHAPE;
    const float *p = tensor_f32(t);
    float *v = tensor_f32(values);
    for (int64_t r = 0; r < rows; r++) {
        const float *row = p + r * cols;
        int64_t best = 0;
        for (int64_t i = 0; i < cols; i++) {
            if (isnan(row[i])) { best = i; break; }
            if (row[i] > row[best]) best = i;
        }
        v[r] = row[best];
        indices[r] = best;
    }
    return MN_OK;
}
