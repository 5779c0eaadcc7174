#include "nn/activation.h"

#include <math.h>

#include "nn/nn_common.h"
#include "sys/parallel.h"

/* Elementwise loops split over the kernels' threads in ranges of at least this many values. */
#define ELEMENTWISE_GRAIN ((int64_t)1 << 16)

typedef struct {
    const float *x, *y, *dy;
    float *out;
} Elementwise;

static void relu_forward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Elementwise *e = ctx;
    (void)part;
    for (int64_t i = lo; i < hi; i++) e->out[i] = e->x[i] > 0.0f ? e->x[i] : 0.0f;
}

static void relu_backward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Elementwise *e = ctx;
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
        float g = e->dy[i]; /* loaded unconditionally: the loop becomes a vector blend, not a branch */
        e->out[i] = e->y[i] > 0.0f ? g : 0.0f;
    }
}

/* MN_OK when a and b are float32 tensors of the same shape. */
static int check_like(const Tensor *a, const Tensor *b) {
    if (!nn_is_f32(a) || !nn_is_f32(b)) return MN_ERR_DTYPE;
    return nn_same_shape(a, b) ? MN_OK : MN_ERR_SHAPE;
}

/* MN_OK when a and b are the same tensor data or do not overlap at all (elementwise kernels
 * may run in place, never on a shifted alias). */
static int check_alias(const Tensor *a, const Tensor *b) {
    if (!tensor_overlaps(a, b)) return MN_OK;
    return a->offset == b->offset ? MN_OK : MN_ERR_ARG;
}

int relu_forward(Tensor *out, const Tensor *inp) {
    int st = check_like(out, inp);
    if (!st) st = check_alias(out, inp);
    if (st) return st;
    Elementwise e = {tensor_f32(inp), NULL, NULL, tensor_f32(out)};
    parallel_for(inp->numel, ELEMENTWISE_GRAIN, relu_forward_range, &e);
    return MN_OK;
}

int relu_backward(Tensor *dinp, const Tensor *dout, const Tensor *out) {
    int st = check_like(dinp, out);
    if (!st) st = check_like(dout, out);
    if (!st) st = check_alias(dinp, dout);
    if (!st && tensor_overlaps(dinp, out) && dinp->offset != out->offset) st = MN_ERR_ARG;
    if (st) return st;
    Elementwise e = {NULL, tensor_f32(out), tensor_f32(dout), tensor_f32(dinp)};
    parallel_for(out->numel, ELEMENTWISE_GRAIN, relu_backward_range, &e);
    return MN_OK;
}

int dropout_forward(Tensor *out, Tensor *mask, const Tensor *inp, float p, Rng *rng) {
    int st = check_like(out, inp);
    if (!st) st = check_like(mask, inp);
    if (!st) st = check_alias(out, inp);
    if (st) return st;
    if (!(p >= 0.0f && p <= 1.0f) || !rng) return MN_ERR_ARG;
    if (tensor_overlaps(mask, inp) || tensor_overlaps(mask, out)) return MN_ERR_ARG;
    const float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const float *x = tensor_f32(inp);
    float *y = tensor_f32(out), *m = tensor_f32(mask);
    for (int64_t i = 0; i < inp->numel; i++) {
        m[i] = rng_uniform(rng) >= p ? keep : 0.0f;
        y[i] = x[i] * m[i];
    }
    return MN_OK;
}

int dropout_backward(Tensor *dinp, const Tensor *dout, const Tensor *mask) {
    int st = check_like(dinp, dout);
    if (!st) st = check_like(mask, dout);
    if (!st) st = check_alias(dinp, dout);
    if (st) return st;
    if (tensor_overlaps(dinp, mask)) return MN_ERR_ARG;
    const float *dy = tensor_f32(dout), *m = tensor_f32(mask);
    float *dx = tensor_f32(dinp);
    for (int64_t i = 0; i < dout->numel; i++) dx[i] = dy[i] * m[i];
    return MN_OK;
}

int logsoftmax_forward(Tensor *out, const Tensor *inp) {
    int st = check_like(out, inp);
    if (!st) st = check_alias(out, inp);
    if (st) return st;
    const int64_t d = inp->shape[inp->ndim - 1], rows = inp->numel / d;
    const float *x = tensor_f32(inp); /* (rows, D) */
    float *y = tensor_f32(out);       /* (rows, D) */
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        float max = xr[0];
        for (int64_t j = 1; j < d; j++)
            if (xr[j] > max) max = xr[j];
        double sum = 0.0;
        for (int64_t j = 0; j < d; j++) sum += exp((double)xr[j] - max);
        double shift = max + log(sum);
        for (int64_t j = 0; j < d; j++) yr[j] = (float)(xr[j] - shift);
    }
    return MN_OK;
}

int logsoftmax_backward(Tensor *dinp, const Tensor *dout, const Tensor *out) {
    int st = check_like(dinp, out);
    if (!st) st = check_like(dout, out);
    if (!st) st = check_alias(dinp, dout);
    if (st) return st;
    if (tensor_overlaps(dinp, out)) return MN_ERR_ARG;
    const int64_t d = out->shape[out->ndim - 1], rows = out->numel / d;
    const float *dy = tensor_f32(dout), *y = tensor_f32(out); /* (rows, D) */
    float *dx = tensor_f32(dinp);                              /* (rows, D) */
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0.0;
        for (int64_t j = 0; j < d; j++) sum += dy[r * d + j];
        for (int64_t j = 0; j < d; j++)
            dx[r * d + j] = (float)(dy[r * d + j] - exp((double)y[r * d + j]) * sum);
    }
    return MN_OK;
}
