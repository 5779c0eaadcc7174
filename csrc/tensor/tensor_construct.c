#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor_construct.h"

#include <math.h>

#include "tensor/strided.h"

typedef struct {
    double start, step;
    int log10_scale, dtype;
    int64_t next; /* row-major index of the run's first element (the walk is serial, in order) */
} Linear;

static double linear_value(const Linear *l, int64_t i) {
    double v = l->start + (double)i * l->step;
    return l->log10_scale ? pow(10.0, v) : v;
}

static void linear_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    Linear *l = ctx;
    char *p = ptr[0];
    for (int64_t i = 0; i < n; i++, p += step[0]) {
        double v = linear_value(l, l->next + i);
        switch (l->dtype) {
        case DTYPE_FLOAT32: *(float *)p = (float)v; break;
        case DTYPE_UINT8: *(uint8_t *)p = (uint8_t)v; break;
        default: *(int64_t *)p = (int64_t)v; break;
        }
    }
    l->next += n;
}

/* 1 when every value of the sequence converts to dtype (the extremes are at its two ends). */
static int linear_fits(const Linear *l, int64_t numel) {
    double lo = 0, hi = 0;
    for (int end = 0; end < 2; end++) {
        double v = linear_value(l, end ? numel - 1 : 0);
        if (isnan(v)) return 0;
        if (end == 0 || v < lo) lo = v;
        if (end == 0 || v > hi) hi = v;
    }
    if (l->dtype == DTYPE_UINT8) return lo > -1.0 && hi < 256.0;
    if (l->dtype == DTYPE_INT64) return lo > -9223372036854775808.0 && hi < 9223372036854775808.0;
    return 1; /* float32: out-of-range values become infinities, as Torch7's */
}

int tensor_fill_linear(Tensor *t, double start, double step, int log10_scale) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->numel == 0) return MN_OK;
    Linear l = {start, step, log10_scale, t->dtype, 0};
    if (!linear_fits(&l, t->numel)) return MN_ERR_ARG;
    const Tensor *ops[1] = {t};
    strided_apply(1, ops, 0, linear_run, &l);
    return MN_OK;
}

int tensor_eye(Tensor *t) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->ndim != 2) return MN_ERR_SHAPE;
    int st = tensor_fill(t, 0);
    int64_t n = t->shape[0] < t->shape[1] ? t->shape[0] : t->shape[1];
    for (int64_t i = 0; i < n && st == MN_OK; i++)
        st = tensor_set_at(t, i * (t->stride[0] + t->stride[1]), 1.0);
    return st;
}
