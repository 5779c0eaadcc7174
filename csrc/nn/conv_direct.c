#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/conv_direct.h"

#include "tensor/gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* Output positions per block of the CHANNELS kernels (8 accumulators). */
#define BLOCK 8

/* The kernels once per instruction set (conv_direct_simd.h), the widest the CPU may use chosen at
 * run time with the GEMM's micro-kernel (gemm_avx512, gemm_avx2), so per machine. */

/* AVX-512: 16 floats per vector along a row; the 16 output channels of CHANNELS in one vector. */
#define SIMD(name) name##_avx512
#define SIMD_FN __attribute__((target("avx512f")))
#define SIMD_INLINE __attribute__((target("avx512f"), always_inline)) static inline
#define VEC 16
#define VEC_T __m512
#define v_load _mm512_loadu_ps
#define v_store _mm512_storeu_ps
#define v_set1 _mm512_set1_ps
#define v_fmadd _mm512_fmadd_ps
#define v_add _mm512_add_ps
#define v_zero _mm512_setzero_ps
#define v_reduce _mm512_reduce_add_ps
#define VMASK_T __mmask16
#define v_mask_from(n) ((__mmask16)(0xffffu << (n)))
#define v_keep _mm512_maskz_mov_ps
#define LANES_T __m512
#define l_load _mm512_loadu_ps
#define l_store _mm512_storeu_ps
#define l_set1 _mm512_set1_ps
#define l_fmadd _mm512_fmadd_ps
#define l_add _mm512_add_ps
#define l_zero _mm512_setzero_ps
#define FORWARD_CHANNELS 8 /* 2 x 8 accumulators, 2 input vectors: 19 of the 32 registers */
#include "nn/conv_direct_simd.h"
#undef SIMD
#undef SIMD_FN
#undef SIMD_INLINE
#undef VEC
#undef VEC_T
#undef v_load
#undef v_store
#undef v_set1
#undef v_fmadd
#undef v_add
#undef v_zero
#undef v_reduce
#undef VMASK_T
#undef v_mask_from
#undef v_keep
#undef LANES_T
#undef l_load
#undef l_store
#undef l_set1
#undef l_fmadd
#undef l_add
#undef l_zero
#undef FORWARD_CHANNELS

/* AVX2 + FMA: 8 floats per vector along a row; the 16 output channels of CHANNELS in a pair. */
#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
typedef struct {
    __m256 lo, hi;
} Lanes2; /* output channels 0-7, 8-15 */
AVX2_INLINE Lanes2 lanes2_load(const float *p) { return (Lanes2){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
AVX2_INLINE void lanes2_store(float *p, Lanes2 v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
AVX2_INLINE Lanes2 lanes2_set1(float x) { return (Lanes2){_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
AVX2_INLINE Lanes2 lanes2_fmadd(Lanes2 a, Lanes2 b, Lanes2 c) {
    return (Lanes2){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
AVX2_INLINE Lanes2 lanes2_add(Lanes2 a, Lanes2 b) {
    return (Lanes2){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
AVX2_INLINE Lanes2 lanes2_zero(void) { return (Lanes2){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
/* The 8 lanes' sum: halves, then pairs (a fixed order). */
AVX2_INLINE float avx2_reduce(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
AVX2_INLINE __m256 avx2_mask_from(int64_t n) { /* all ones in lanes n.. */
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                  _mm256_set1_epi32((int)n - 1)));
}
#define SIMD(name) name##_avx2
#define SIMD_FN __attribute__((target("avx2,fma")))
#define SIMD_INLINE AVX2_INLINE
#define VEC 8
#define VEC_T __m256
#define v_load _mm256_loadu_ps
#define v_store _mm256_storeu_ps
#define v_set1 _mm256_set1_ps
#define v_fmadd _mm256_fmadd_ps
#define v_add _mm256_add_ps
#define v_zero _mm256_setzero_ps
#define v_reduce avx2_reduce
#define VMASK_T __m256
#define v_mask_from avx2_mask_from
#define v_keep _mm256_and_ps
#define LANES_T Lanes2
#define l_load lanes2_load
#define l_store lanes2_store
#define l_set1 lanes2_set1
#define l_fmadd lanes2_fmadd
#define l_add lanes2_add
#define l_zero lanes2_zero
#define FORWARD_CHANNELS 6 /* 2 x 6 accumulators, 2 input vectors, a weight: 15 of the 16 registers */
#include "nn/conv_direct_simd.h"
#undef VEC

/* The instruction set of this process's direct kernels: 512, 256 or 0 (none). */
static int simd_bits(void) { return gemm_avx512() ? 512 : gemm_avx2() ? 256 : 0; }

const char *conv_direct_path(void) {
    int bits = simd_bits();
    return bits == 512 ? "avx512" : bits == 256 ? "avx2" : "none";
}

int conv_direct_kind(const Conv2dShape *g) {
    const int bits = simd_bits();
    if (!bits || g->sh != 1 || g->sw != 1 || g->ph != 0 || g->pw != 0 ||
        g->kh != g->kw || (g->kh != 3 && g->kh != 5))
        return CONV_DIRECT_NONE;
    if (g->c <= CONV_DIRECT_MAX_CHANNELS && g->ow >= bits / 32) return CONV_DIRECT_ROWS;
    if (g->o <= CONV_DIRECT_LANES && g->ow >= BLOCK && g->k <= CONV_DIRECT_MAX_TAPS && !g->winograd)
        return CONV_DIRECT_CHANNELS;
    return CONV_DIRECT_NONE;
}

int64_t conv_direct_shared_floats(const Conv2dShape *g) {
    return g->direct == CONV_DIRECT_CHANNELS ? g->k * CONV_DIRECT_LANES : 0;
}

int64_t conv_direct_scratch_floats(const Conv2dShape *g) {
    return g->direct == CONV_DIRECT_CHANNELS ? (g->p + g->k) * CONV_DIRECT_LANES : 0;
}

/* CHANNELS: the filters transposed to (K, 16), one vector of the O filters' weights per tap
 * (c, ki, kj), lanes from O on zero. */
void conv_direct_prepare(float *shared, const float *weight, const Conv2dShape *g) {
    if (conv_direct_kind(g) != CONV_DIRECT_CHANNELS) return;
    for (int64_t t = 0; t < g->k; t++)
        for (int64_t o = 0; o < CONV_DIRECT_LANES; o++)
            shared[t * CONV_DIRECT_LANES + o] = o < g->o ? weight[o * g->k + t] : 0.0f;
}

void conv_direct_forward(float *out, const float *inp, const float *weight, const float *shared,
                         const float *bias, const Conv2dShape *g) {
    if (simd_bits() == 512) forward_avx512(out, inp, weight, shared, bias, g);
    else forward_avx2(out, inp, weight, shared, bias, g);
}

void conv_direct_weight_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                             int64_t nb, const Conv2dShape *g, float *scratch) {
    if (simd_bits() == 512) weight_grad_avx512(dweight, dbias, dout, inp, nb, g, scratch);
    else weight_grad_avx2(dweight, dbias, dout, inp, nb, g, scratch);
}

#else /* no x86 vector code on this compiler or architecture: im2col does everything */

const char *conv_direct_path(void) { return "none"; }

int conv_direct_kind(const Conv2dShape *g) {
    (void)g;
    return CONV_DIRECT_NONE;
}
int64_t conv_direct_shared_floats(const Conv2dShape *g) {
    (void)g;
    return 0;
}
int64_t conv_direct_scratch_floats(const Conv2dShape *g) {
    (void)g;
    return 0;
}
void conv_direct_prepare(float *shared, const float *weight, const Conv2dShape *g) {
    (void)shared, (void)weight, (void)g;
}
void conv_direct_forward(float *out, const float *inp, const float *weight, const float *shared,
                         const float *bias, const Conv2dShape *g) {
    (void)out, (void)inp, (void)weight, (void)shared, (void)bias, (void)g;
}
void conv_direct_weight_grad(float *dweight, float *dbias, const float *dout, const float *inp,
                             int64_t nb, const Conv2dShape *g, float *scratch) {
    (void)dweight, (void)dbias, (void)dout, (void)inp, (void)nb, (void)g, (void)scratch;
}

#endif
