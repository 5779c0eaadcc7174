#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

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

NN_VEC_LOOP static void relu_loop(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

NN_VEC_LOOP static void relu_grad_loop(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i]; /* loaded unconditionally: the loop becomes a vector blend, not a branch */
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

static void relu_forward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Elementwise *e = ctx;
    (void)part;
    relu_loop(e->out + lo, e->x + lo, hi - lo);
}

static void relu_backward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Elementwise *e = ctx;
    (void)part;
    relu_grad_loop(e->out + lo, e->dy + lo, e->y + lo, hi - lo);
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

/* The rows of a batch: the last dim. */
int logsoftmax_forward(Tensor *out, const Tensor *inp) {
    if (!nn_is_f32(inp)) return MN_ERR_DTYPE;
    return softmax_forward(out, inp, inp->ndim - 1, 1);
}

int logsoftmax_backward(Tensor *dinp, const Tensor *dout, const Tensor *out) {
    if (!nn_is_f32(out)) return MN_ERR_DTYPE;
    return softmax_backward(dinp, dout, out, out->ndim - 1, 1);
}

/* ---- the other elementwise activations ------------------------------------------------------ */

/* exp(x) for float32 in a form GCC vectorizes (libm's expf is a call it cannot): x = k ln2 + r
 * with |r| <= ln2/2, exp(r) by Cephes' degree-6 polynomial (2e-7 relative error), 2^k put straight
 * into the exponent bits. The argument is clamped to [-87.3, 88.37], where 2^k stays a normal
 * finite float: exp(-100) gives 1.2e-38 instead of 3.7e-44 and exp(89) 2.3e38 instead of
 * infinity, harmless to every formula below (none needs exp beyond 88 to be exact). */
NN_VEC_INLINE float vexpf(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.37f ? 88.37f : x;
    /* k = round(x / ln2) by the 1.5 * 2^23 trick: the sum's low mantissa bits hold k */
    union { int32_t i; float f; } shifted, scale;
    shifted.f = x * 1.44269504088896341f + 12582912.0f;
    float k = shifted.f - 12582912.0f;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    scale.i = (shifted.i - 0x4B400000 + 127) << 23; /* 2^k: 0x4B400000 is 1.5 * 2^23's bits */
    return p * scale.f;
}

/* tanh(x) as a rational function, x P(x^2) / Q(x^2) (degrees 13 and 6, minimax coefficients as
 * in Eigen's float tanh), the argument clamped at +-7.9053 where float tanh rounds to +-1: no exp,
 * one division, 4e-7 from tanh at worst (a few ulps near +-1), exact odd symmetry. */
NN_VEC_INLINE float vtanhf(float x) {
    const float clamp = 7.90531110763549805f;
    x = x < -clamp ? -clamp : x;
    x = x > clamp ? clamp : x;
    const float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

NN_VEC_LOOP static void tanh_loop(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = vtanhf(x[i]);
}
NN_VEC_LOOP static void tanh_grad_loop(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
NN_VEC_LOOP static void sigmoid_loop(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + vexpf(-x[i]));
}
NN_VEC_LOOP static void sigmoid_grad_loop(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
/* log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)); log1p by the series where exp(-|x|) is tiny
 * would buy nothing at float32 precision, so logf's vector-friendly form: log(1 + e), e <= 1. */
NN_VEC_INLINE float vlog1pf_unit(float e) { /* log(1 + e) for e in [0, 1] */
    /* log(1 + e) = 2 atanh(t), t = e / (2 + e) in [0, 1/3]: the odd series to t^13 is < 1 ulp */
    float t = e / (2.0f + e), t2 = t * t;
    float s = 1.0f / 13.0f;
    s = s * t2 + 1.0f / 11.0f;
    s = s * t2 + 1.0f / 9.0f;
    s = s * t2 + 1.0f / 7.0f;
    s = s * t2 + 1.0f / 5.0f;
    s = s * t2 + 1.0f / 3.0f;
    s = s * t2 + 1.0f;
    return 2.0f * t * s;
}
NN_VEC_LOOP static void logsigmoid_loop(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], a = v < 0.0f ? -v : v, m = v < 0.0f ? v : 0.0f;
        y[i] = m - vlog1pf_unit(vexpf(-a));
    }
}
/* d/dx log(sigmoid(x)) = sigmoid(-x): with e = exp(-|x|) in (0, 1], e / (1 + e) for x > 0 and
 * 1 / (1 + e) otherwise (exp never overflows, one division). */
NN_VEC_LOOP static void logsigmoid_grad_loop(float *dx, const float *dy, const float *x,
                                             int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], a = v < 0.0f ? -v : v, e = vexpf(-a);
        float s = 1.0f / (1.0f + e), g = dy[i];
        dx[i] = v > 0.0f ? g * e * s : g * s;
    }
}
NN_VEC_LOOP static void leaky_relu_loop(float *y, const float *x, int64_t n, float a) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], s = v * a;
        y[i] = v > 0.0f ? v : s;
    }
}
NN_VEC_LOOP static void leaky_relu_grad_loop(float *dx, const float *dy, const float *x,
                                             int64_t n, float a) {
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i], s = g * a;
        dx[i] = x[i] > 0.0f ? g : s;
    }
}
NN_VEC_LOOP static void elu_loop(float *y, const float *x, int64_t n, float a) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], s = a * (vexpf(v) - 1.0f);
        y[i] = v > 0.0f ? v : s;
    }
}
/* For x <= 0, d/dx a (exp(x) - 1) = a exp(x) = y + a. */
NN_VEC_LOOP static void elu_grad_loop(float *dx, const float *dy, const float *x, const float *y,
                                      int64_t n, float a) {
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i], s = g * (y[i] + a);
        dx[i] = x[i] > 0.0f ? g : s;
    }
}
NN_VEC_LOOP static void hardtanh_loop(float *y, const float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}
/* The gradient passes strictly inside (lo, hi), as Torch7 and PyTorch (0 at the bounds). */
NN_VEC_LOOP static void hardtanh_grad_loop(float *dx, const float *dy, const float *x, int64_t n,
                                           float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i], v = x[i];
        dx[i] = (v > lo && v < hi) ? g : 0.0f;
    }
}

typedef struct {
    const float *x, *y, *dy;
    float *out;
    int kind;
    float a, b;
} Activation;

static void activation_forward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Activation *e = ctx;
    const float *x = e->x + lo;
    float *y = e->out + lo;
    const int64_t n = hi - lo;
    (void)part;
    switch (e->kind) {
    case ACT_TANH: tanh_loop(y, x, n); break;
    case ACT_SIGMOID: sigmoid_loop(y, x, n); break;
    case ACT_LOGSIGMOID: logsigmoid_loop(y, x, n); break;
    case ACT_LEAKY_RELU: leaky_relu_loop(y, x, n, e->a); break;
    case ACT_ELU: elu_loop(y, x, n, e->a); break;
    default: hardtanh_loop(y, x, n, e->a, e->b); break;
    }
}

static void activation_backward_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Activation *e = ctx;
    const float *x = e->x + lo, *y = e->y + lo, *dy = e->dy + lo;
    float *dx = e->out + lo;
    const int64_t n = hi - lo;
    (void)part;
    switch (e->kind) {
    case ACT_TANH: tanh_grad_loop(dx, dy, y, n); break;
    case ACT_SIGMOID: sigmoid_grad_loop(dx, dy, y, n); break;
    case ACT_LOGSIGMOID: logsigmoid_grad_loop(dx, dy, x, n); break;
    case ACT_LEAKY_RELU: leaky_relu_grad_loop(dx, dy, x, n, e->a); break;
    case ACT_ELU: elu_grad_loop(dx, dy, x, y, n, e->a); break;
    default: hardtanh_grad_loop(dx, dy, x, n, e->a, e->b); break;
    }
}

/* MN_ERR_ARG for an unknown kind or constants it cannot take (NaN, alpha < 0, min >= max). */
static int check_kind(int kind, float a, float b) {
    if (kind < 0 || kind >= ACT_COUNT) return MN_ERR_ARG;
    if (kind == ACT_LEAKY_RELU && !(a == a)) return MN_ERR_ARG;
    if (kind == ACT_ELU && !(a >= 0.0f)) return MN_ERR_ARG;
    if (kind == ACT_HARDTANH && !(a < b)) return MN_ERR_ARG;
    return MN_OK;
}

int activation_forward(Tensor *out, const Tensor *inp, int kind, float a, float b) {
    int st = check_like(out, inp);
    if (!st) st = check_alias(out, inp);
    if (!st) st = check_kind(kind, a, b);
    if (st) return st;
    Activation e = {tensor_f32(inp), NULL, NULL, tensor_f32(out), kind, a, b};
    parallel_for(inp->numel, ELEMENTWISE_GRAIN, activation_forward_range, &e);
    return MN_OK;
}

int activation_backward(Tensor *dinp, const Tensor *dout, const Tensor *inp, const Tensor *out,
                        int kind, float a, float b) {
    int st = check_like(dinp, inp);
    if (!st) st = check_like(dout, inp);
    if (!st) st = check_like(out, inp);
    if (!st) st = check_alias(dinp, dout);
    if (!st) st = check_alias(dinp, inp);
    if (!st) st = check_alias(dinp, out);
    if (!st) st = check_kind(kind, a, b);
    if (st) return st;
    Activation e = {tensor_f32(inp), tensor_f32(out), tensor_f32(dout), tensor_f32(dinp), kind, a, b};
    parallel_for(inp->numel, ELEMENTWISE_GRAIN, activation_backward_range, &e);
    return MN_OK;
}

/* ---- dropout of feature maps ----------------------------------------------------------------- */

/* MN_OK when t is (N, C, ...) float32 and mask (N, C). */
static int check_planes(const Tensor *t, const Tensor *mask) {
    if (!nn_is_f32(t) || !nn_is_f32(mask)) return MN_ERR_DTYPE;
    if (t->ndim < 2) return MN_ERR_SHAPE;
    const int64_t shape[2] = {t->shape[0], t->shape[1]};
    return nn_has_shape(mask, 2, shape) ? MN_OK : MN_ERR_SHAPE;
}

int spatial_dropout_forward(Tensor *out, Tensor *mask, const Tensor *inp, float p, float scale,
                            Rng *rng) {
    int st = check_like(out, inp);
    if (!st) st = check_alias(out, inp);
    if (!st) st = check_planes(inp, mask);
    if (st) return st;
    if (!(p >= 0.0f && p <= 1.0f) || !(scale == scale) || !rng) return MN_ERR_ARG;
    if (tensor_overlaps(mask, inp) || tensor_overlaps(mask, out)) return MN_ERR_ARG;
    const int64_t planes = mask->numel, plane = inp->numel / planes;
    const float *x = tensor_f32(inp); /* (N*C, plane) */
    float *y = tensor_f32(out), *m = tensor_f32(mask);
    for (int64_t k = 0; k < planes; k++) {
        m[k] = rng_uniform(rng) >= p ? scale : 0.0f;
        for (int64_t i = 0; i < plane; i++) y[k * plane + i] = x[k * plane + i] * m[k];
    }
    return MN_OK;
}

int spatial_dropout_backward(Tensor *dinp, const Tensor *dout, const Tensor *mask) {
    int st = check_like(dinp, dout);
    if (!st) st = check_alias(dinp, dout);
    if (!st) st = check_planes(dout, mask);
    if (st) return st;
    if (tensor_overlaps(dinp, mask)) return MN_ERR_ARG;
    const int64_t planes = mask->numel, plane = dout->numel / planes;
    const float *dy = tensor_f32(dout), *m = tensor_f32(mask);
    float *dx = tensor_f32(dinp);
    for (int64_t k = 0; k < planes; k++)
        for (int64_t i = 0; i < plane; i++) dx[k * plane + i] = dy[k * plane + i] * m[k];
    return MN_OK;
}

/* ---- softmax along any dim ---------------------------------------------------------------------- */

/* The tensor as (outer, d, inner) around dim. */
static void around_dim(const Tensor *t, int dim, int64_t *outer, int64_t *d, int64_t *inner) {
    *outer = 1, *inner = 1, *d = t->shape[dim];
    for (int i = 0; i < dim; i++) *outer *= t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

int softmax_forward(Tensor *out, const Tensor *inp, int dim, int take_log) {
    int st = check_like(out, inp);
    if (!st) st = check_alias(out, inp);
    if (st) return st;
    if (dim < 0 || dim >= inp->ndim) return MN_ERR_ARG;
    int64_t outer, d, inner;
    around_dim(inp, dim, &outer, &d, &inner);
    const float *x = tensor_f32(inp); /* (outer, d, inner) */
    float *y = tensor_f32(out);       /* (outer, d, inner) */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *xr = x + o * d * inner + j; /* d values, inner apart */
            float *yr = y + o * d * inner + j;
            float max = xr[0];
            for (int64_t k = 1; k < d; k++)
                if (xr[k * inner] > max) max = xr[k * inner];
            double sum = 0.0;
            for (int64_t k = 0; k < d; k++) sum += exp((double)xr[k * inner] - max);
            if (take_log) {
                double shift = max + log(sum);
                for (int64_t k = 0; k < d; k++) yr[k * inner] = (float)(xr[k * inner] - shift);
            } else {
                for (int64_t k = 0; k < d; k++)
                    yr[k * inner] = (float)(exp((double)xr[k * inner] - max) / sum);
            }
        }
    return MN_OK;
}

int softmax_backward(Tensor *dinp, const Tensor *dout, const Tensor *out, int dim, int take_log) {
    int st = check_like(dinp, out);
    if (!st) st = check_like(dout, out);
    if (!st) st = check_alias(dinp, dout);
    if (st) return st;
    if (tensor_overlaps(dinp, out)) return MN_ERR_ARG;
    if (dim < 0 || dim >= out->ndim) return MN_ERR_ARG;
    int64_t outer, d, inner;
    around_dim(out, dim, &outer, &d, &inner);
    const float *dy = tensor_f32(dout), *y = tensor_f32(out); /* (outer, d, inner) */
    float *dx = tensor_f32(dinp);                              /* (outer, d, inner) */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const int64_t base = o * d * inner + j;
            double sum = 0.0;
            for (int64_t k = 0; k < d; k++)
                sum += take_log ? dy[base + k * inner] : (double)dy[base + k * inner] * y[base + k * inner];
            for (int64_t k = 0; k < d; k++) {
                const int64_t i = base + k * inner;
                dx[i] = take_log ? (float)(dy[i] - exp((double)y[i]) * sum) : (float)(y[i] * (dy[i] - sum));
            }
        }
    return MN_OK;
}
