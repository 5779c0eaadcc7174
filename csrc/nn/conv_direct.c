#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/conv_direct.h"

#include "tensor/gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define VEC 16
/* Output channels per pass of the forward: 2 x 8 accumulators, 2 input vectors. */
#define FORWARD_CHANNELS 8

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE __attribute__((target("avx512f"), always_inline)) static inline

/* Output positions per block of the CHANNELS kernels (8 accumulators). */
#define BLOCK 8

int conv_direct_kind(const Conv2dShape *g) {
    if (!gemm_avx512() || g->sh != 1 || g->sw != 1 || g->ph != 0 || g->pw != 0 ||
        g->kh != g->kw || (g->kh != 3 && g->kh != 5))
        return CONV_DIRECT_NONE;
    if (g->c <= CONV_DIRECT_MAX_CHANNELS && g->ow >= VEC) return CONV_DIRECT_ROWS;
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

/* CHANNELS forward of one image: blocks of 8 neighbouring outputs of a row (a last block that
 * would run past the row starts at OW - 8 and overlaps the previous one), 16 output channels per
 * vector; the 8 inputs a tap multiplies are neighbours too, broadcast from fixed offsets. */
AVX512 static void forward_lanes(float *out, const float *inp, const float *filters,
                                 const float *bias, const Conv2dShape *g) {
    float start_values[CONV_DIRECT_LANES] = {0}, tile[BLOCK][CONV_DIRECT_LANES];
    for (int64_t o = 0; bias && o < g->o; o++) start_values[o] = bias[o];
    const __m512 start = _mm512_loadu_ps(start_values);
    const int64_t plane = g->h * g->w;
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t b = 0; b < g->ow; b += BLOCK) {
            const int64_t ow0 = b + BLOCK <= g->ow ? b : g->ow - BLOCK;
            __m512 acc[BLOCK];
            for (int i = 0; i < BLOCK; i++) acc[i] = start;
            const float *w = filters; /* (K, 16) */
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    const float *x = inp + c * plane + (oh + ki) * g->w + ow0; /* (KW + 7) */
                    for (int64_t kj = 0; kj < g->kw; kj++, w += CONV_DIRECT_LANES) {
                        const __m512 wv = _mm512_loadu_ps(w);
                        for (int i = 0; i < BLOCK; i++)
                            acc[i] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[kj + i]), acc[i]);
                    }
                }
            for (int i = 0; i < BLOCK; i++) _mm512_storeu_ps(tile[i], acc[i]);
            float *dst = out + oh * g->ow + ow0; /* (O, ..., 8) */
            for (int64_t o = 0; o < g->o; o++) /* (8 positions, 16 channels) to (O, 8) */
                for (int i = 0; i < BLOCK; i++) dst[o * g->p + i] = tile[i][o];
        }
}

AVX512 void conv_direct_forward(float *out, const float *inp, const float *weight,
                                const float *shared, const float *bias, const Conv2dShape *g) {
    if (g->direct == CONV_DIRECT_CHANNELS) {
        forward_lanes(out, inp, shared, bias, g);
        return;
    }
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

/* One output-gradient vector d at column p of the K input rows: its K x K taps. The row
 * pointers are computed per output row, so the taps' addresses are a pointer plus a constant
 * (K x K offsets hoisted out of the loops would not fit in the registers). */
AVX512_INLINE void add_taps(__m512 *acc, __m512 d, const float *const *rows, int64_t p, const int K) {
    for (int ki = 0; ki < K; ki++)
        for (int kj = 0; kj < K; kj++)
            acc[ki * K + kj] = _mm512_fmadd_ps(d, _mm512_loadu_ps(rows[ki] + p + kj), acc[ki * K + kj]);
}

/* dweight[o][c] (K, K) += sum over the nb images, output rows and columns of
 * dout[n][o][oh][ow] * inp[n][c][oh + ki][ow + kj]: one accumulator per tap; with dbias, also
 * dbias[o] += the sum of dout[.][o]. */
AVX512_INLINE void weight_grad_taps(float *dw, float *dbias, const float *dout, const float *inp,
                                    int64_t nb, const Conv2dShape *g, int64_t o, int64_t c,
                                    const int K) {
    const int64_t last = (g->ow + VEC - 1) / VEC - 1, plast = vector_start(last, g->ow);
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow;
    const __mmask16 fresh = (__mmask16)(0xffffu << (last * VEC - plast)); /* lanes not counted yet */
    __m512 acc[25], bias_acc = _mm512_setzero_ps();
    for (int t = 0; t < K * K; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t n = 0; n < nb; n++) {
        const float *dy = dout + (n * g->o + o) * oplane; /* (OH, OW) */
        const float *x = inp + (n * g->c + c) * plane;    /* (H, W) */
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const float *dyr = dy + oh * g->ow, *rows[5];
            for (int ki = 0; ki < K; ki++) rows[ki] = x + (oh + ki) * g->w;
            for (int64_t p = 0; p < last * VEC; p += VEC) {
                const __m512 d = _mm512_loadu_ps(dyr + p);
                if (dbias) bias_acc = _mm512_add_ps(bias_acc, d);
                add_taps(acc, d, rows, p, K);
            }
            const __m512 d = _mm512_maskz_mov_ps(fresh, _mm512_loadu_ps(dyr + plast));
            if (dbias) bias_acc = _mm512_add_ps(bias_acc, d);
            add_taps(acc, d, rows, plast, K);
        }
    }
    for (int t = 0; t < K * K; t++) dw[t] += _mm512_reduce_add_ps(acc[t]);
    if (dbias) dbias[o] += _mm512_reduce_add_ps(bias_acc);
}

/* CHANNELS: acc (K, 16) += the weight gradient of input channel c of one image, with
 * dyt (P, 16) its output gradient transposed, kernel row by kernel row: K accumulators for even
 * output columns and K for odd ones (two independent chains). */
AVX512_INLINE void weight_grad_lanes(float *acc_rows, const float *dyt, const float *x,
                                     const Conv2dShape *g, const int K) {
    for (int ki = 0; ki < K; ki++) {
        float *rows = acc_rows + ki * K * CONV_DIRECT_LANES; /* (K, 16) */
        __m512 even[5], odd[5];
        for (int kj = 0; kj < K; kj++) {
            even[kj] = _mm512_loadu_ps(rows + kj * CONV_DIRECT_LANES);
            odd[kj] = _mm512_setzero_ps();
        }
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const float *dr = dyt + oh * g->ow * CONV_DIRECT_LANES, *xr = x + (oh + ki) * g->w;
            int64_t ow = 0;
            for (; ow + 2 <= g->ow; ow += 2) {
                const __m512 d0 = _mm512_loadu_ps(dr + ow * CONV_DIRECT_LANES);
                const __m512 d1 = _mm512_loadu_ps(dr + (ow + 1) * CONV_DIRECT_LANES);
                for (int kj = 0; kj < K; kj++) {
                    even[kj] = _mm512_fmadd_ps(d0, _mm512_set1_ps(xr[ow + kj]), even[kj]);
                    odd[kj] = _mm512_fmadd_ps(d1, _mm512_set1_ps(xr[ow + 1 + kj]), odd[kj]);
                }
            }
            if (ow < g->ow) {
                const __m512 d0 = _mm512_loadu_ps(dr + ow * CONV_DIRECT_LANES);
                for (int kj = 0; kj < K; kj++)
                    even[kj] = _mm512_fmadd_ps(d0, _mm512_set1_ps(xr[ow + kj]), even[kj]);
            }
        }
        for (int kj = 0; kj < K; kj++)
            _mm512_storeu_ps(rows + kj * CONV_DIRECT_LANES, _mm512_add_ps(even[kj], odd[kj]));
    }
}

AVX512 static void weight_grad_channels(float *dweight, float *dbias, const float *dout,
                                        const float *inp, int64_t nb, const Conv2dShape *g,
                                        float *scratch) {
    const int64_t taps = g->kh * g->kw, plane = g->h * g->w;
    float *dyt = scratch;                         /* (P, 16) */
    float *acc = dyt + g->p * CONV_DIRECT_LANES;  /* (K, 16) */
    __m512 bias_acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < g->k * CONV_DIRECT_LANES; i++) acc[i] = 0.0f;
    for (int64_t n = 0; n < nb; n++) {
        const float *dy = dout + n * g->o * g->p; /* (O, P) */
        for (int64_t q = 0; q < g->p; q++) {
            for (int64_t o = 0; o < CONV_DIRECT_LANES; o++)
                dyt[q * CONV_DIRECT_LANES + o] = o < g->o ? dy[o * g->p + q] : 0.0f;
            bias_acc = _mm512_add_ps(bias_acc, _mm512_loadu_ps(dyt + q * CONV_DIRECT_LANES));
        }
        for (int64_t c = 0; c < g->c; c++) {
            const float *x = inp + (n * g->c + c) * plane;
            float *rows = acc + c * taps * CONV_DIRECT_LANES;
            if (g->kh == 3)
                weight_grad_lanes(rows, dyt, x, g, 3);
            else
                weight_grad_lanes(rows, dyt, x, g, 5);
        }
    }
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t t = 0; t < g->k; t++) dweight[o * g->k + t] += acc[t * CONV_DIRECT_LANES + o];
    float bias_sums[CONV_DIRECT_LANES];
    _mm512_storeu_ps(bias_sums, bias_acc);
    for (int64_t o = 0; dbias && o < g->o; o++) dbias[o] += bias_sums[o];
}

AVX512 void conv_direct_weight_grad(float *dweight, float *dbias, const float *dout,
                                    const float *inp, int64_t nb, const Conv2dShape *g,
                                    float *scratch) {
    if (g->direct == CONV_DIRECT_CHANNELS) {
        weight_grad_channels(dweight, dbias, dout, inp, nb, g, scratch);
        return;
    }
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t c = 0; c < g->c; c++) {
            float *dw = dweight + (o * g->c + c) * g->kh * g->kw; /* (KH, KW) */
            if (g->kh == 3)
                weight_grad_taps(dw, c == 0 ? dbias : NULL, dout, inp, nb, g, o, c, 3);
            else
                weight_grad_taps(dw, c == 0 ? dbias : NULL, dout, inp, nb, g, o, c, 5);
        }
}

#else /* no AVX-512 code on this compiler or architecture: im2col does everything */

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
