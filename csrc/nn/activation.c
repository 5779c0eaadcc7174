#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/activation.h"

#include <math.h>
#include <string.h>

#include "nn/nn_common.h"
#include "sys/parallel.h"
#include "tensor/gemm.h"

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

/* The transcendental kinds: activation_simd.h once per instruction set, chosen with the GEMM's
 * micro-kernel (gemm_avx512, gemm_avx2; MNIST_GEMM_KERNEL forces a narrower one), so per machine
 * and the same for every kernel of a process. */
/* The portable copy: GNU C vectors of 4 floats (gcc and clang make SSE2 or NEON of them), every
 * lane through the same operations as a scalar loop would take. */
typedef float Floats4 __attribute__((vector_size(16)));
typedef int32_t Ints4 __attribute__((vector_size(16)));
typedef uint32_t Bits4 __attribute__((vector_size(16)));
static inline Floats4 load4(const float *p) {
    Floats4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store4(float *p, Floats4 v) { memcpy(p, &v, sizeof v); }
static inline Floats4 blend4(Ints4 m, Floats4 a, Floats4 b) { /* m ? b : a, lane by lane */
    return (Floats4)(((Ints4)b & m) | ((Ints4)a & ~m));
}
static inline int bits4(Ints4 m) { return (m[0] & 1) | (m[1] & 2) | (m[2] & 4) | (m[3] & 8); }
#define SIMD(name) name##_generic
#define SIMD_FN
#define SIMD_INLINE static inline
#define VEC 4
#define V Floats4
#define M Ints4
#define v_load load4
#define v_store store4
#define v_set1(c) ((Floats4){(c), (c), (c), (c)})
#define v_add(a, b) ((a) + (b))
#define v_sub(a, b) ((a) - (b))
#define v_mul(a, b) ((a) * (b))
#define v_div(a, b) ((a) / (b))
#define v_fmadd(a, b, c) ((a) * (b) + (c))
#define v_fnmadd(a, b, c) ((c) - (a) * (b))
#define v_min(c, x) blend4((c) < (x), (x), (c)) /* x where either is NaN */
#define v_max(c, x) blend4((c) > (x), (x), (c))
#define v_abs(x) ((Floats4)((Bits4)(x) & 0x7fffffffu))
#define v_neg(x) (-(x))
#define v_lt(a, b) ((a) < (b))
#define v_gt(a, b) ((a) > (b))
#define v_blend blend4
#define v_pow2(t) ((Floats4)((Bits4)(t) << 23))
#define m_or(a, b) ((a) | (b))
#define m_bits bits4
#include "nn/activation_simd.h" /* (it undefines the macros above) */

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ACT_X86 1

/* 1 / d on AVX-512: the 14-bit estimate and a Newton step, r + r (1 - d r) (2 ulp); Intel's
 * divider takes 10 cycles a vector of 16, longer than the rest of tanh. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 avx512_recip(__m512 d) {
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

#define SIMD(name) name##_avx2
#define SIMD_FN __attribute__((target("avx2,fma")))
#define SIMD_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
#define VEC 8
#define V __m256
#define M __m256
#define v_load _mm256_loadu_ps
#define v_store _mm256_storeu_ps
#define v_set1 _mm256_set1_ps
#define v_add _mm256_add_ps
#define v_sub _mm256_sub_ps
#define v_mul _mm256_mul_ps
#define v_div _mm256_div_ps /* its own unit on AMD: beside the FMAs, not in their way */
#define v_fmadd _mm256_fmadd_ps
#define v_fnmadd _mm256_fnmadd_ps
#define v_min _mm256_min_ps /* the second operand where either is NaN */
#define v_max _mm256_max_ps
#define v_abs(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (x))
#define v_neg(x) _mm256_xor_ps((x), _mm256_set1_ps(-0.0f))
#define v_lt(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define v_gt(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define v_blend(m, a, b) _mm256_blendv_ps((a), (b), (m))
#define v_pow2(t) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23))
#define m_or _mm256_or_ps
#define m_bits _mm256_movemask_ps
#include "nn/activation_simd.h" /* (it undefines the macros above) */

#define SIMD(name) name##_avx512
#define SIMD_FN __attribute__((target("avx512f")))
#define SIMD_INLINE __attribute__((target("avx512f"), always_inline)) static inline
#define VEC 16
#define V __m512
#define M __mmask16
#define v_load _mm512_loadu_ps
#define v_store _mm512_storeu_ps
#define v_set1 _mm512_set1_ps
#define v_add _mm512_add_ps
#define v_sub _mm512_sub_ps
#define v_mul _mm512_mul_ps
#define v_div(a, b) _mm512_mul_ps((a), avx512_recip(b))
#define v_fmadd _mm512_fmadd_ps
#define v_fnmadd _mm512_fnmadd_ps
#define v_min _mm512_min_ps /* the second operand where either is NaN */
#define v_max _mm512_max_ps
#define v_abs _mm512_abs_ps
#define v_neg(x) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)))
#define v_lt(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define v_gt(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define v_blend(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
#define v_pow2(t) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23))
#define m_or(a, b) ((__mmask16)((a) | (b)))
#define m_bits(m) ((int)(m))
#include "nn/activation_simd.h" /* (it undefines the macros above) */
#endif

const char *activation_path(void) {
#ifdef ACT_X86
    if (gemm_avx512()) return "avx512";
    if (gemm_avx2()) return "avx2";
#endif
    return "generic";
}

static void transcendental_forward(float *y, const float *x, int64_t n, int kind, float a) {
#ifdef ACT_X86
    if (gemm_avx512()) forward_avx512(y, x, n, kind, a);
    else if (gemm_avx2()) forward_avx2(y, x, n, kind, a);
    else
#endif
        forward_generic(y, x, n, kind, a);
}

static void transcendental_backward(float *dx, const float *dy, const float *x, const float *y,
                                    int64_t n, int kind, float a) {
#ifdef ACT_X86
    if (gemm_avx512()) backward_avx512(dx, dy, x, y, n, kind, a);
    else if (gemm_avx2()) backward_avx2(dx, dy, x, y, n, kind, a);
    else
#endif
        backward_generic(dx, dy, x, y, n, kind, a);
}

NN_VEC_LOOP static void tanh_grad_loop(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
NN_VEC_LOOP static void sigmoid_grad_loop(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
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
    case ACT_TANH:
    case ACT_SIGMOID:
    case ACT_LOGSIGMOID:
    case ACT_ELU: transcendental_forward(y, x, n, e->kind, e->a); break;
    case ACT_LEAKY_RELU: leaky_relu_loop(y, x, n, e->a); break;
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
    case ACT_LOGSIGMOID:
    case ACT_ELU: transcendental_backward(dx, dy, x, y, n, e->kind, e->a); break;
    case ACT_LEAKY_RELU: leaky_relu_grad_loop(dx, dy, x, n, e->a); break;
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

