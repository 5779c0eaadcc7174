/* conv_direct_simd.h: the direct convolution kernels (conv_direct.h) written once over a vector
 * width, included by conv_direct.c once per instruction set (no include guard on purpose). The
 * includer defines:
 *   SIMD(name)         the instruction set's copy of a function (name##_avx512, ...)
 *   SIMD_FN, SIMD_INLINE  function attributes (the target; always_inline for helpers)
 *   VEC, VEC_T         ROWS: floats per vector along an output row, and the vector type
 *   v_load v_store v_set1 v_fmadd(a, b, c) = a * b + c, v_add, v_zero, v_reduce (sum of lanes)
 *   VMASK_T, v_mask_from(n) (lanes n.. kept), v_keep(mask, v) (the other lanes zeroed)
 *   LANES_T, l_load l_store l_set1 l_fmadd l_add l_zero  CHANNELS: a vector of 16 output channels
 *   FORWARD_CHANNELS   ROWS forward: output channels per pass (2 accumulators each), at most 8
 */
/* Where output vector j of a row starts: 16 j, or OW - 16 for a last vector that would run past
 * the row (it then overlaps its neighbour by 16 j + 16 - OW lanes). */
SIMD_INLINE int64_t SIMD(vector_start)(int64_t j, int64_t ow) {
    return j * VEC + VEC <= ow ? j * VEC : ow - VEC;
}

/* Output channels [o0, o0 + G) of one image, two output vectors of a row at a time. G is a
 * constant at every call, so the accumulators live in registers. */
SIMD_INLINE void SIMD(forward_channels)(float *out, const float *inp, const float *weight,
                                    const float *bias, const Conv2dShape *g, int64_t o0,
                                    const int G) {
    const int64_t ck = g->c * g->kh * g->kw, nvec = (g->ow + VEC - 1) / VEC;
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t j = 0; j < nvec; j += 2) {
            const int64_t p0 = SIMD(vector_start)(j, g->ow);
            const int64_t p1 = SIMD(vector_start)(j + 1 < nvec ? j + 1 : j, g->ow);
            VEC_T acc[8][2]; /* G <= FORWARD_CHANNELS <= 8 */
            for (int k = 0; k < G; k++)
                acc[k][0] = acc[k][1] = v_set1(bias ? bias[o0 + k] : 0.0f);
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    const float *row = inp + (c * g->h + oh + ki) * g->w;           /* (W) */
                    const float *w = weight + o0 * ck + (c * g->kh + ki) * g->kw; /* (G, .., KW) */
                    for (int64_t kj = 0; kj < g->kw; kj++) {
                        const VEC_T x0 = v_load(row + p0 + kj);
                        const VEC_T x1 = v_load(row + p1 + kj);
                        for (int k = 0; k < G; k++) {
                            const VEC_T wk = v_set1(w[k * ck + kj]);
                            acc[k][0] = v_fmadd(wk, x0, acc[k][0]);
                            acc[k][1] = v_fmadd(wk, x1, acc[k][1]);
                        }
                    }
                }
            for (int k = 0; k < G; k++) {
                float *dst = out + ((o0 + k) * g->oh + oh) * g->ow; /* (OW) */
                v_store(dst + p0, acc[k][0]);
                v_store(dst + p1, acc[k][1]);
            }
        }
}

/* CHANNELS forward of one image: blocks of 8 neighbouring outputs of a row (a last block that
 * would run past the row starts at OW - 8 and overlaps the previous one), 16 output channels per
 * vector; the 8 inputs a tap multiplies are neighbours too, broadcast from fixed offsets. */
SIMD_FN static void SIMD(forward_lanes)(float *out, const float *inp, const float *filters,
                                 const float *bias, const Conv2dShape *g) {
    float start_values[CONV_DIRECT_LANES] = {0}, tile[BLOCK][CONV_DIRECT_LANES];
    for (int64_t o = 0; bias && o < g->o; o++) start_values[o] = bias[o];
    const LANES_T start = l_load(start_values);
    const int64_t plane = g->h * g->w;
    for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t b = 0; b < g->ow; b += BLOCK) {
            const int64_t ow0 = b + BLOCK <= g->ow ? b : g->ow - BLOCK;
            LANES_T acc[BLOCK];
            for (int i = 0; i < BLOCK; i++) acc[i] = start;
            const float *w = filters; /* (K, 16) */
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t ki = 0; ki < g->kh; ki++) {
                    const float *x = inp + c * plane + (oh + ki) * g->w + ow0; /* (KW + 7) */
                    for (int64_t kj = 0; kj < g->kw; kj++, w += CONV_DIRECT_LANES) {
                        const LANES_T wv = l_load(w);
                        for (int i = 0; i < BLOCK; i++)
                            acc[i] = l_fmadd(wv, l_set1(x[kj + i]), acc[i]);
                    }
                }
            for (int i = 0; i < BLOCK; i++) l_store(tile[i], acc[i]);
            float *dst = out + oh * g->ow + ow0; /* (O, ..., 8) */
            for (int64_t o = 0; o < g->o; o++) /* (8 positions, 16 channels) to (O, 8) */
                for (int i = 0; i < BLOCK; i++) dst[o * g->p + i] = tile[i][o];
        }
}

SIMD_FN static void SIMD(forward)(float *out, const float *inp, const float *weight,
                                const float *shared, const float *bias, const Conv2dShape *g) {
    if (g->direct == CONV_DIRECT_CHANNELS) {
        SIMD(forward_lanes)(out, inp, shared, bias, g);
        return;
    }
    int64_t o0 = 0;
    for (; o0 + FORWARD_CHANNELS <= g->o; o0 += FORWARD_CHANNELS)
        SIMD(forward_channels)(out, inp, weight, bias, g, o0, FORWARD_CHANNELS);
    switch (g->o - o0) { /* the last few channels, still with a constant count */
    case 7: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 7); break;
    case 6: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 6); break;
    case 5: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 5); break;
    case 4: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 4); break;
    case 3: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 3); break;
    case 2: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 2); break;
    case 1: SIMD(forward_channels)(out, inp, weight, bias, g, o0, 1); break;
    default: break;
    }
}

/* One output-gradient vector d at column p of the K input rows: its K x K taps. The row
 * pointers are computed per output row, so the taps' addresses are a pointer plus a constant
 * (K x K offsets hoisted out of the loops would not fit in the registers). */
SIMD_INLINE void SIMD(add_taps)(VEC_T *acc, VEC_T d, const float *const *rows, int64_t p, const int K) {
    for (int ki = 0; ki < K; ki++)
        for (int kj = 0; kj < K; kj++)
            acc[ki * K + kj] = v_fmadd(d, v_load(rows[ki] + p + kj), acc[ki * K + kj]);
}

/* dweight[o][c] (K, K) += sum over the nb images, output rows and columns of
 * dout[n][o][oh][ow] * inp[n][c][oh + ki][ow + kj]: one accumulator per tap; with dbias, also
 * dbias[o] += the sum of dout[.][o]. */
SIMD_INLINE void SIMD(weight_grad_taps)(float *dw, float *dbias, const float *dout, const float *inp,
                                    int64_t nb, const Conv2dShape *g, int64_t o, int64_t c,
                                    const int K) {
    const int64_t last = (g->ow + VEC - 1) / VEC - 1, plast = SIMD(vector_start)(last, g->ow);
    const int64_t plane = g->h * g->w, oplane = g->oh * g->ow;
    const VMASK_T fresh = v_mask_from(last * VEC - plast); /* lanes not counted yet */
    VEC_T acc[25], bias_acc = v_zero();
    for (int t = 0; t < K * K; t++) acc[t] = v_zero();
    for (int64_t n = 0; n < nb; n++) {
        const float *dy = dout + (n * g->o + o) * oplane; /* (OH, OW) */
        const float *x = inp + (n * g->c + c) * plane;    /* (H, W) */
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const float *dyr = dy + oh * g->ow, *rows[5];
            for (int ki = 0; ki < K; ki++) rows[ki] = x + (oh + ki) * g->w;
            for (int64_t p = 0; p < last * VEC; p += VEC) {
                const VEC_T d = v_load(dyr + p);
                if (dbias) bias_acc = v_add(bias_acc, d);
                SIMD(add_taps)(acc, d, rows, p, K);
            }
            const VEC_T d = v_keep(fresh, v_load(dyr + plast));
            if (dbias) bias_acc = v_add(bias_acc, d);
            SIMD(add_taps)(acc, d, rows, plast, K);
        }
    }
    for (int t = 0; t < K * K; t++) dw[t] += v_reduce(acc[t]);
    if (dbias) dbias[o] += v_reduce(bias_acc);
}

/* CHANNELS: acc (K, 16) += the weight gradient of input channel c of one image, with
 * dyt (P, 16) its output gradient transposed, kernel row by kernel row: K accumulators for even
 * output columns and K for odd ones (two independent chains). */
SIMD_INLINE void SIMD(weight_grad_lanes)(float *acc_rows, const float *dyt, const float *x,
                                     const Conv2dShape *g, const int K) {
    for (int ki = 0; ki < K; ki++) {
        float *rows = acc_rows + ki * K * CONV_DIRECT_LANES; /* (K, 16) */
        LANES_T even[5], odd[5];
        for (int kj = 0; kj < K; kj++) {
            even[kj] = l_load(rows + kj * CONV_DIRECT_LANES);
            odd[kj] = l_zero();
        }
        for (int64_t oh = 0; oh < g->oh; oh++) {
            const float *dr = dyt + oh * g->ow * CONV_DIRECT_LANES, *xr = x + (oh + ki) * g->w;
            int64_t ow = 0;
            for (; ow + 2 <= g->ow; ow += 2) {
                const LANES_T d0 = l_load(dr + ow * CONV_DIRECT_LANES);
                const LANES_T d1 = l_load(dr + (ow + 1) * CONV_DIRECT_LANES);
                for (int kj = 0; kj < K; kj++) {
                    even[kj] = l_fmadd(d0, l_set1(xr[ow + kj]), even[kj]);
                    odd[kj] = l_fmadd(d1, l_set1(xr[ow + 1 + kj]), odd[kj]);
                }
            }
            if (ow < g->ow) {
                const LANES_T d0 = l_load(dr + ow * CONV_DIRECT_LANES);
                for (int kj = 0; kj < K; kj++)
                    even[kj] = l_fmadd(d0, l_set1(xr[ow + kj]), even[kj]);
            }
        }
        for (int kj = 0; kj < K; kj++)
            l_store(rows + kj * CONV_DIRECT_LANES, l_add(even[kj], odd[kj]));
    }
}

SIMD_FN static void SIMD(weight_grad_channels)(float *dweight, float *dbias, const float *dout,
                                        const float *inp, int64_t nb, const Conv2dShape *g,
                                        float *scratch) {
    const int64_t taps = g->kh * g->kw, plane = g->h * g->w;
    float *dyt = scratch;                         /* (P, 16) */
    float *acc = dyt + g->p * CONV_DIRECT_LANES;  /* (K, 16) */
    LANES_T bias_acc = l_zero();
    for (int64_t i = 0; i < g->k * CONV_DIRECT_LANES; i++) acc[i] = 0.0f;
    for (int64_t n = 0; n < nb; n++) {
        const float *dy = dout + n * g->o * g->p; /* (O, P) */
        for (int64_t q = 0; q < g->p; q++) {
            for (int64_t o = 0; o < CONV_DIRECT_LANES; o++)
                dyt[q * CONV_DIRECT_LANES + o] = o < g->o ? dy[o * g->p + q] : 0.0f;
            bias_acc = l_add(bias_acc, l_load(dyt + q * CONV_DIRECT_LANES));
        }
        for (int64_t c = 0; c < g->c; c++) {
            const float *x = inp + (n * g->c + c) * plane;
            float *rows = acc + c * taps * CONV_DIRECT_LANES;
            if (g->kh == 3)
                SIMD(weight_grad_lanes)(rows, dyt, x, g, 3);
            else
                SIMD(weight_grad_lanes)(rows, dyt, x, g, 5);
        }
    }
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t t = 0; t < g->k; t++) dweight[o * g->k + t] += acc[t * CONV_DIRECT_LANES + o];
    float bias_sums[CONV_DIRECT_LANES];
    l_store(bias_sums, bias_acc);
    for (int64_t o = 0; dbias && o < g->o; o++) dbias[o] += bias_sums[o];
}

SIMD_FN static void SIMD(weight_grad)(float *dweight, float *dbias, const float *dout,
                                    const float *inp, int64_t nb, const Conv2dShape *g,
                                    float *scratch) {
    if (g->direct == CONV_DIRECT_CHANNELS) {
        SIMD(weight_grad_channels)(dweight, dbias, dout, inp, nb, g, scratch);
        return;
    }
    for (int64_t o = 0; o < g->o; o++)
        for (int64_t c = 0; c < g->c; c++) {
            float *dw = dweight + (o * g->c + c) * g->kh * g->kw; /* (KH, KW) */
            if (g->kh == 3)
                SIMD(weight_grad_taps)(dw, c == 0 ? dbias : NULL, dout, inp, nb, g, o, c, 3);
            else
                SIMD(weight_grad_taps)(dw, c == 0 ? dbias : NULL, dout, inp, nb, g, o, c, 5);
        }
}

