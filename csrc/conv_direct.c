#include "conv_direct.h"

#include "gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define VEC 16
/* Output channels per pass of the forward: 2 x 8 accumulators, 2 input vectors. */
#define FORWARD_CHANNELS 8

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE __attribute__((target("avx512f"), always_inline)) static inline

int conv_direct_fits(const Conv2dShape *g) {
    return gemm_avx512() && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
           g->c <= CONV_DIRECT_MAX_CHANNELS && g->ow >= VEC && g->kh == g->kw &&
           (g->kh == 3 || g->kh == 5);
}

/* Where output vector j of a row starts: 16 j, or OW - 16 for a last vector that would run past
 * the row (it then overlaps its neighbour by 16 j + 16 - OW lanes). */
static inline int64_t vector_start(int64_t j, int64_t ow) {
    return j * VEC + VEC <= ow ? j * VEC : ow - VEC;
}

/* Output channels [o0, o0 + G) of one image, two output vectors of a row at a time. G is a
 * constant at every call, so the accumulators live in registers. */
AVX512_INLINE void forward_channels(float *out, const float *inp, const float *weight,
                                    const float *bias, const Conv2dShape *g, int64_t o0,
                                    const int G) {
    const int64_t ck = g->c * g->kh * g->kw, nvec = (g->ow + VEC - 1) / VEC;
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t j = 0; j < nvec; j += 2) {
            const int64_t p0 = vector_start(j, g->ow);
            const int64_t p1 = vector_start(j + 1 < nvec ? j + 1 : j, g->ow);
            __m512 acc[FORWARD_CHANNELS][2];
            for (int k = 0; k < G; k++)
                acc[k][0] = acc[k][1] = _mm512_set1_ps(bias ? bias[o0 + k] : 0.0f);
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    const float *row = inp + (c * g->h + oh + ki) * g->w;           /* (W) */
                    const float *w = weight + o0 * ck + (c * g->kh + ki) * g->kw; /* (G, .., KW) */
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const __m512 x0 = _mm512_loadu_ps(row + p0 + kj);
                        const __m512 x1 = _mm512_loadu_ps(row + p1 + kj);
                        for (int k = 0; k < G; k++) {
                            const __m512 wk = _mm512_set1_ps(w[k * ck + kj]);
                            acc[k][0] = _mm512_fmadd_ps(wk, x0, acc[k][0]);
                            acc[k][1] = _mm512_fmadd_ps(wk, x1, acc[k][1]);
                        }
                    }
                }
            for (int k = 0; k < G; k++) {
                float *dst = out + ((o0 + k) * g->oh + oh) * g->ow; /* (OW) */
                _mm512_storeu_ps(dst + p0, acc[k][0]);
                _mm512_storeu_ps(dst + p1, acc[k][1]);
            }
        }
}

AVX512 void conv_direct_forward(float *out, const float *inp, const float *weight,
                                const float *bias, const Conv2dShape *g) {
    int64_t o0 = 0;
    for (; o0 + FORWARD_CHANNELS <= g->o; o0 += FORWARD_CHANNELS)
        forward_channels(out, inp, weight, bias, g, o0, FORWARD_CHANNELS);
    switch (g->o - o0) { /* the last few channels, still with a constant count */
    case 7: forward_channels(out, inp, weight, bias, g, o0, 7); break;
    case 6: forward_channels(out, inp, weight, bias, g, o0, 6); break;
    case 5: forward_channels(out, inp, weight, bias, g, o0, 5); break;
    case 4: forward_channels(out, inp, weight, bias, g, o0, 4); break;
    case 3: forward_channels(out, inp, weight, bias, g, o0, 3); break;
    case 2: forward_channels(out, inp, weight, bias, g, o0, 2); break;
    case 1: forward_channels(out, inp, weight, bias, g, o0, 1); break;
    default: break;
    }
}

/* dweight[o][c] (K, K) += sum over the nb images, output rows and columns of
 * dout[n][o][oh][ow] * inp[n][c][oh + ki][ow + kj]: one accumulator per tap. */
AVX512_INLINE void weight_grad_taps(float *dw, const float *dout, const float *inp, int64_t nb,
                                    const Conv2dShape *g, int64_t o, int64_t c, const int K) {
    const int64_t nvec = (g->ow + VEC - 1) / VEC, plane = g->h * g->w, oplane = g->oh * g->ow;
    __m512 acc[25];
    for (int t = 0; t < K * K; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t n = 0; n < nb; n++) {
        const float *dy = dout + (n * g->o + o) * oplane; /* (OH, OW) */
        const float *x = inp + (n * g->c + c) * plane;    /* (H, W) */
        for (int64_t oh = 0; oh < g->oh; oh++)
            for (int64_t j = 0; j < nvec; j++) {
                const int64_t p = vector_start(j, g->ow);
                const __mmask16 fresh = (__mmask16)(0xffffu << (j * VEC - p)); /* lanes not counted yet */
                const __m512 d = _mm512_maskz_mov_ps(fresh, _mm512_loadu_ps(dy + oh * g->ow + p));
                const float *xr = x + oh * g->w + p; /* (K rows of W) */
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++)
                        acc[ki * K + kj] =
                            _mm512_fmadd_ps(d, _mm512_loadu_ps(xr + ki * g->w + kj), acc[ki * K + kj]);
            }
    }
    for (int t = 0; t < K * K; t++) dw[t] += _mm512_reduce_add_ps(acc[t]);
}

AVX512 void conv_direct_weight_grad(float *dweight, const float *dout, const float *inp,
                                    int64_t nb, const Conv2dShape *g) {
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t c = 0; c < g->c; c++) {
            float *dw = dweight + (o * g->c + c) * g->kh * g->kw; /* (KH, KW) */
            if (g->kh == 3)
                weight_grad_taps(dw, dout, inp, nb, g, o, c, 3);
            else
                weight_grad_taps(dw, dout, inp, nb, g, o, c, 5);
        }
}

#else /* no AVX-512 code on this compiler or architecture: im2col does everything */

int conv_direct_fits(const Conv2dShape *g) {
    (void)g;
    return 0;
}
void conv_direct_forward(float *out, const float *inp, const float *weight, const float *bias,
                         const Conv2dShape *g) {
    (void)out, (void)inp, (void)weight, (void)bias, (void)g;
}
void conv_direct_weight_grad(float *dweight, const float *dout, const float *inp, int64_t nb,
                             const Conv2dShape *g) {
    (void)dweight, (void)dout, (void)inp, (void)nb, (void)g;
}

#endif
