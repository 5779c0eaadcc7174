/* activation_simd.h: the transcendental activations (tanh, sigmoid, log-sigmoid, ELU) and the
 * gradients that need exp, written once over a vector width and included by activation.c once
 * per instruction set (no include guard on purpose): AVX-512, AVX2+FMA, and a portable 4-float
 * GNU C vector (any other machine; ARM64 gets NEON from it), each lane computing what a scalar
 * loop would. The includer
 * defines:
 *   SIMD(name)            the instruction set's copy of a function (name##_avx2, ...)
 *   SIMD_FN, SIMD_INLINE  function attributes (the target; always_inline for helpers)
 *   VEC, V, M             floats per vector, the vector type, a lane mask
 *   v_load v_store v_set1 v_add v_sub v_mul
 *   v_div(a, b)           a / b, or within 2 ulp of it (AVX-512: an estimate and a Newton step, for
 *                         b finite and at most 2^126, where the estimate is not yet flushed to 0)
 *   v_fmadd(a, b, c) = a * b + c (fused where the ISA has it), v_fnmadd(a, b, c) = c - a * b
 *   v_min(c, x), v_max(c, x)  with x returned where x is NaN (the clamps keep NaNs)
 *   v_abs v_neg, v_lt(a, b) v_gt(a, b) (ordered: false for NaN), v_blend(m, a, b) = m ? b : a
 *   v_pow2(t)             2^k from t = k + 127 + 1.5 * 2^23 (the float's low bits hold k + 127)
 *   m_or(a, b)            the lanes set in either mask
 *   m_bits(m)             the mask as an int, bit i for lane i (0: no lane)
 * and this file undefines them at its end.
 *
 * The math (coefficients fitted by tools/fit_activation_polys.py, relative errors of the fits):
 *   exp: c x = k ln2 + c r (c = +-1), |r| <= ln2/2 (Cody-Waite: ln2 in two parts where |k|
 *        reaches 126 and the result is as sensitive to r as near 0; in one part for tanh, where
 *        |k| <= 27, and ELU, where expm1 is -1 wherever k is large); 2^k from the rounding's bits.
 *        Then either expm1(r) = r + r^2 P(r), P of degree 4 by Horner's scheme (1.3e-8),
 *        2^k expm1(r) + b in one fused multiply-add, so nothing is lost near 0 (tanh, ELU); or,
 *        where the kernel divides anyway (sigmoid, log-sigmoid), exp(-r) = (q - o) / (q + o), the
 *        (3, 3) Pade approximant (6.4e-9), in four operations instead of seven, folded into the
 *        kernel's one division. Arguments are clamped to [-87.33, 87.33], where 2^k is a normal
 *        float; the few inputs whose result lies beyond (a subnormal sigmoid or log-sigmoid) take
 *        libm in extreme_lanes.
 *   tanh: expm1(2x) / (expm1(2x) + 2): no cancellation anywhere (a rational fit, as Eigen's, is
 *        off by 8 ulp near +-1).
 *   log1p(e), e in [0, 1]: 2 atanh(t), t = e / (2 + e) in [0, 1/3], 2t + t^3 Q(t^2), Q of
 *        degree 3 (4.5e-9).
 * Errors against libm measured by spec/activation_simd_spec.lua (within 3 ulp where the result
 * is a normal float; within one subnormal ulp below).
 *
 * Speed (AVX2, Zen 3): the FMA pipes bind (the divider counts as about 2.5 FMAs there), so the
 * forms above are the ones with the fewest multiplies; Estrin's scheme (a shorter chain, two more
 * multiplies) measured slower once the kernels run software-pipelined (forward_kind). */

#define ACT_LOG2E 1.44269504088896341f
#define ACT_LN2 0.693147182f           /* ln2 rounded: r off by |k| 1.9e-9 */
#define ACT_LN2_HI 0.693359375f        /* ln2 = ACT_LN2_HI + ACT_LN2_LO, the first exact in k * */
#define ACT_LN2_LO -2.12194440e-4f
#define ACT_SHIFTER 12583039.0f        /* 1.5 * 2^23 + 127: round to integer, exponent bias */
#define ACT_EXP_LIMIT 87.3365448f      /* ln(2^126): exp stays normal inside +-this */
#define ACT_EXTREME 87.0f              /* |x| past this: the lane's exact value from libm */
#define ACT_LOGSIGMOID_EXTREME 86.0f   /* the forward's (its divisor reaches 2^(k+2), k <= 124) */
#define ACT_TANH_LIMIT 9.1f           /* tanh rounds to 1 from 9.011 */

/* x split as c x = k ln2 + c r, k an integer, |r| <= ln2/2: returns r, *scale = 2^k. c is +1
 * or -1, |x| <= ACT_EXP_LIMIT (or NaN: NaN out). exact: ln2 in two parts (where |k| is large and
 * the result as sensitive to r as at small k); else in one (r off by |k| 1.9e-9). */
SIMD_INLINE V SIMD(exp_reduce)(V x, const float c, const int exact, V *scale) {
    const V t = v_fmadd(x, v_set1(c * ACT_LOG2E), v_set1(ACT_SHIFTER));
    const V k = v_sub(t, v_set1(ACT_SHIFTER));
    *scale = v_pow2(t);
    if (!exact) return v_fnmadd(k, v_set1(c * ACT_LN2), x);
    return v_fnmadd(k, v_set1(c * ACT_LN2_LO), v_fnmadd(k, v_set1(c * ACT_LN2_HI), x));
}

/* s expm1(r) + b for s = 2^k, |r| <= ln2/2: expm1(r) = r + r^2 P(r), then one fused
 * multiply-add. */
SIMD_INLINE V SIMD(scaled_expm1)(V r, V s, V b) {
    V p = v_set1(1.388250967e-03f);
    p = v_fmadd(p, r, v_set1(8.366511203e-03f));
    p = v_fmadd(p, r, v_set1(4.166720062e-02f));
    p = v_fmadd(p, r, v_set1(1.666654348e-01f));
    p = v_fmadd(p, r, v_set1(4.999999702e-01f));
    return v_fmadd(s, v_fmadd(v_mul(r, r), p, r), b);
}

/* x clamped to [-lim, lim], a NaN kept. */
SIMD_INLINE V SIMD(clamp)(V x, float lim) { return v_min(v_set1(lim), v_max(v_set1(-lim), x)); }

/* Each forward kind in two halves, head(x) -> w (and aux, for sigmoid and log-sigmoid: the
 * division's divisor) and tail(w, aux, x) -> y, which forward_kind runs software-pipelined. The
 * tails of sigmoid and log-sigmoid start with their division: its operands are then ready, and
 * its latency off the heads' chain. */

/* tanh(x) = e / (e + 2), e = expm1(2x) (in (-1, 0] for x <= 0), x clamped at +-9.1 where
 * float tanh is +-1 (so |k| <= 27: ln2 in one part). */
SIMD_INLINE V SIMD(tanh_head)(V x) {
    V scale;
    const V xc = SIMD(clamp)(x, ACT_TANH_LIMIT);
    const V r = SIMD(exp_reduce)(v_add(xc, xc), 1.0f, 0, &scale);
    return SIMD(scaled_expm1)(r, scale, v_sub(scale, v_set1(1.0f)));
}
SIMD_INLINE V SIMD(tanh_tail)(V e) { return v_div(e, v_add(e, v_set1(2.0f))); }

/* exp(-r) = (q - o) / (q + o), q = (120 + 12 r^2) / 128, o = r (60 + r^2) / 128 (the (3, 3) Pade
 * approximant, 6.4e-9 for |r| <= ln2/2; over 128, so that 2^127 (q +- o) stays finite): where the
 * kernel divides anyway, fewer multiplies than the polynomial. */
SIMD_INLINE void SIMD(exp_pade)(V r, V *q, V *o) {
    const V r2 = v_mul(r, r);
    *q = v_fmadd(r2, v_set1(0.09375f), v_set1(0.9375f));
    *o = v_mul(r, v_fmadd(r2, v_set1(0.0078125f), v_set1(0.46875f)));
}

/* sigmoid(x) = 1 / (1 + exp(-x)) = (q + o) / ((q + o) + 2^k (q - o)) for -x = k ln2 - r; below
 * -ACT_EXTREME the lane is fixed by extreme_lanes (so x is clamped above only). */
SIMD_INLINE V SIMD(sigmoid_head)(V x, V *den) {
    V scale, q, o;
    const V r = SIMD(exp_reduce)(v_min(v_set1(ACT_EXP_LIMIT), x), -1.0f, 1, &scale);
    SIMD(exp_pade)(r, &q, &o);
    const V n = v_add(q, o);
    *den = v_fmadd(scale, v_sub(q, o), n);
    return n;
}
SIMD_INLINE V SIMD(sigmoid_tail)(V n, V den) { return v_div(n, den); }

/* log(sigmoid(x)) = min(x, 0) - log1p(e), e = exp(-|x|) in (0, 1], log1p(e) = 2 atanh(t), t =
 * e / (e + 2) = (q - o) / ((q - o) + 2^(k+1) (q + o)) for |x| = k ln2 + r; above
 * ACT_LOGSIGMOID_EXTREME fixed by extreme_lanes (where the divisor would pass 2^126, AVX-512's
 * reciprocal would be 0; below -86 it may be, t then 0 where x - e rounds to x anyway). */
SIMD_INLINE V SIMD(logsigmoid_head)(V x, V *den) {
    V scale, q, o;
    const V r = SIMD(exp_reduce)(v_min(v_set1(ACT_EXP_LIMIT), v_abs(x)), 1.0f, 1, &scale);
    SIMD(exp_pade)(r, &q, &o);
    const V n = v_sub(q, o);
    *den = v_fmadd(v_add(scale, scale), v_add(q, o), n);
    return n;
}
SIMD_INLINE V SIMD(logsigmoid_tail)(V n, V den, V x) {
    const V t = v_div(n, den);
    const V t2 = v_mul(t, t);
    V q = v_set1(2.801189423e-01f);
    q = v_fmadd(q, t2, v_set1(2.800182402e-01f));
    q = v_fmadd(q, t2, v_set1(4.002152681e-01f));
    q = v_fmadd(q, t2, v_set1(6.666641831e-01f));
    const V log1p = v_fmadd(v_mul(t, t2), q, v_add(t, t));
    return v_sub(v_min(v_set1(0.0f), x), log1p);
}

/* x > 0 ? x : alpha expm1(x), as max(x, 0) + alpha expm1(min(x, 0)) (expm1(0) is 0 exactly, a
 * NaN passes through max). ln2 in one part: where |k| is large, expm1 is -1 to within far less
 * than r's error. */
SIMD_INLINE V SIMD(elu_head)(V x) {
    V scale;
    const V r = SIMD(exp_reduce)(v_max(v_set1(-ACT_EXP_LIMIT), v_min(v_set1(0.0f), x)), 1.0f, 0, &scale);
    return SIMD(scaled_expm1)(r, scale, v_sub(scale, v_set1(1.0f)));
}
SIMD_INLINE V SIMD(elu_tail)(V y, V x, V alpha) { return v_fmadd(alpha, y, v_max(v_set1(0.0f), x)); }

/* dy * sigmoid(-x), the log-sigmoid's gradient: dy / (1 + exp(x)); above ACT_EXTREME fixed by
 * extreme_lanes. */
SIMD_INLINE V SIMD(logsigmoid_grad)(V x, V dy) {
    V scale;
    const V r = SIMD(exp_reduce)(SIMD(clamp)(x, ACT_EXP_LIMIT), 1.0f, 1, &scale);
    return v_div(dy, SIMD(scaled_expm1)(r, scale, v_add(scale, v_set1(1.0f))));
}

/* The lanes set in `bits` of res, from libm: where the result is subnormal or about to be
 * (sigmoid(x) = exp(x) for x < -87, log-sigmoid(x) = -exp(-x) for x > 86 and its gradient
 * dy exp(-x) for x > 87). xs and dys hold the vector's inputs (dys may be NULL), saved before res is stored over
 * them when the kernel runs in place. */
SIMD_FN static void SIMD(extreme_lanes)(float *res, const float *xs, const float *dys, int bits, int kind) {
    for (int i = 0; i < VEC; i++) {
        if (!(bits >> i & 1)) continue;
        if (dys) res[i] = dys[i] * expf(-xs[i]); /* the log-sigmoid's gradient */
        else if (kind == ACT_SIGMOID) res[i] = expf(xs[i]);
        else res[i] = -expf(-xs[i]); /* log-sigmoid */
    }
}

/* The forward kinds' halves; kind is a constant wherever these are inlined. */
SIMD_INLINE V SIMD(head)(const int kind, V x, V *aux) {
    switch (kind) {
    case ACT_TANH: return SIMD(tanh_head)(x);
    case ACT_SIGMOID: return SIMD(sigmoid_head)(x, aux);
    case ACT_LOGSIGMOID: return SIMD(logsigmoid_head)(x, aux);
    default: return SIMD(elu_head)(x);
    }
}
SIMD_INLINE V SIMD(tail)(const int kind, V w, V aux, V x, V alpha) {
    switch (kind) {
    case ACT_TANH: return SIMD(tanh_tail)(w);
    case ACT_SIGMOID: return SIMD(sigmoid_tail)(w, aux);
    case ACT_LOGSIGMOID: return SIMD(logsigmoid_tail)(w, aux, x);
    default: return SIMD(elu_tail)(w, x, alpha);
    }
}
#define ACT_HAS_AUX(kind) ((kind) == ACT_SIGMOID || (kind) == ACT_LOGSIGMOID)

/* The lanes of x whose result extreme_lanes gives (none for tanh and ELU). */
SIMD_INLINE M SIMD(extreme)(const int kind, V x) {
    return kind == ACT_SIGMOID ? v_lt(x, v_set1(-ACT_EXTREME)) : v_gt(x, v_set1(ACT_LOGSIGMOID_EXTREME));
}
#define ACT_HAS_EXTREMES(kind) ((kind) == ACT_SIGMOID || (kind) == ACT_LOGSIGMOID)

/* The gradient for the backward kinds: log-sigmoid from v = x, ELU from v = y (y > 0 exactly
 * where x > 0, since alpha >= 0): dy where y > 0, else dy (y + alpha) = dy alpha exp(x). */
SIMD_INLINE V SIMD(apply_grad)(const int kind, V v, V d, V alpha, int *bits) {
    if (kind == ACT_LOGSIGMOID) {
        *bits |= m_bits(v_gt(v, v_set1(ACT_EXTREME)));
        return SIMD(logsigmoid_grad)(v, d);
    }
    return v_blend(v_gt(v, v_set1(0.0f)), v_mul(d, v_add(v, alpha)), d);
}

/* y, x (count) with count <= VEC (a tail, or a vector with an extreme lane): through padded
 * copies, the extreme lanes from libm. y may be x. */
SIMD_INLINE void SIMD(forward_one)(float *y, const float *x, int64_t count, const int kind, V alpha) {
    float xs[VEC], res[VEC];
    for (int l = 0; l < VEC; l++) xs[l] = l < count ? x[l] : 0.0f;
    const V v = v_load(xs);
    V aux = v;
    const V w = SIMD(head)(kind, v, &aux);
    v_store(res, SIMD(tail)(kind, w, aux, v, alpha));
    const int bits = ACT_HAS_EXTREMES(kind) ? m_bits(SIMD(extreme)(kind, v)) : 0;
    if (bits) SIMD(extreme_lanes)(res, xs, NULL, bits, kind);
    for (int l = 0; l < count; l++) y[l] = res[l];
}

SIMD_INLINE void SIMD(backward_one)(float *dx, const float *dy, const float *v, int64_t count,
                                    const int kind, V alpha) {
    float vs[VEC], gs[VEC], res[VEC];
    int bits = 0;
    for (int l = 0; l < VEC; l++) vs[l] = l < count ? v[l] : 0.0f, gs[l] = l < count ? dy[l] : 0.0f;
    v_store(res, SIMD(apply_grad)(kind, v_load(vs), v_load(gs), alpha, &bits));
    if (bits) SIMD(extreme_lanes)(res, vs, gs, bits, kind);
    for (int l = 0; l < count; l++) dx[l] = res[l];
}

/* Backward: four vectors per step: their independent chains overlap (one alone is
 * latency-bound), and the constants stay in registers. A step with an extreme lane is redone a
 * vector at a time (nothing of it stored yet, so in place too). */
#define ACT_UNROLL 4

/* Forward: software-pipelined over blocks of ACT_BLOCK floats, one loop running the heads of the
 * next block (into w, wa) beside the tails of the current one (from w, wa). The whole chain in one
 * pass (~50 cycles a vector) holds its registers that long, and the out-of-order window then
 * holds too few vectors to keep the FMA pipes busy; a pass of tails alone would wait on the
 * divider. A block with an extreme lane (seen in its heads' pass; y not yet written there) is
 * redone a vector at a time, in place too. */
#define ACT_BLOCK 512

/* The head of x[j] into w[j] (and wa[j]); its extreme lanes. */
SIMD_INLINE M SIMD(head_at)(float *w, float *wa, const float *x, int64_t j, const int kind) {
    const V v = v_load(x + j);
    V aux = v;
    v_store(w + j, SIMD(head)(kind, v, &aux));
    if (ACT_HAS_AUX(kind)) v_store(wa + j, aux);
    return SIMD(extreme)(kind, v);
}

/* y[j] from the head in w[j] (and wa[j]). */
SIMD_INLINE void SIMD(tail_at)(float *y, const float *w, const float *wa, const float *x, int64_t j,
                               const int kind, V alpha) {
    const V h = v_load(w + j);
    v_store(y + j, SIMD(tail)(kind, h, ACT_HAS_AUX(kind) ? v_load(wa + j) : h, v_load(x + j), alpha));
}

/* The heads of x (len, a multiple of VEC) into w, wa; whether any lane is extreme. */
SIMD_INLINE int SIMD(heads)(float *w, float *wa, const float *x, int64_t len, const int kind) {
    M any = v_lt(v_set1(0.0f), v_set1(0.0f)); /* no lane */
    for (int64_t j = 0; j < len; j += VEC) any = m_or(any, SIMD(head_at)(w, wa, x, j, kind));
    return ACT_HAS_EXTREMES(kind) && m_bits(any);
}

SIMD_INLINE void SIMD(forward_kind)(float *y, const float *x, int64_t n, const int kind, float a) {
    const V alpha = v_set1(a);
    float w[2][ACT_BLOCK] __attribute__((aligned(64))), wa[2][ACT_BLOCK] __attribute__((aligned(64)));
    const int64_t full = n / VEC * VEC;
    int64_t cur = 0, len = full < ACT_BLOCK ? full : ACT_BLOCK;
    int extreme = SIMD(heads)(w[0], wa[0], x, len, kind), side = 0;
    while (len > 0) { /* the heads of [cur, cur + len) are in w[side], wa[side] */
        const int64_t next = cur + len, next_len = full - next < ACT_BLOCK ? full - next : ACT_BLOCK;
        float *wc = w[side], *wac = wa[side], *wn = w[!side], *wan = wa[!side];
        int next_extreme;
        if (extreme) {
            next_extreme = SIMD(heads)(wn, wan, x + next, next_len, kind);
            for (int64_t j = 0; j < len; j += VEC) SIMD(forward_one)(y + cur + j, x + cur + j, VEC, kind, alpha);
        } else {
            M any = v_lt(v_set1(0.0f), v_set1(0.0f));
            int64_t j = 0;
            for (; j < next_len; j += VEC) { /* next_len <= len: only the last block is short */
                any = m_or(any, SIMD(head_at)(wn, wan, x + next, j, kind));
                SIMD(tail_at)(y + cur, wc, wac, x + cur, j, kind, alpha);
            }
            for (; j < len; j += VEC) SIMD(tail_at)(y + cur, wc, wac, x + cur, j, kind, alpha);
            next_extreme = ACT_HAS_EXTREMES(kind) && m_bits(any);
        }
        cur = next, len = next_len, extreme = next_extreme, side = !side;
    }
    if (full < n) SIMD(forward_one)(y + full, x + full, n - full, kind, alpha);
}

SIMD_INLINE void SIMD(backward_kind)(float *dx, const float *dy, const float *v, int64_t n,
                                     const int kind, float a) {
    const V alpha = v_set1(a);
    int64_t i = 0;
    for (; i + ACT_UNROLL * VEC <= n; i += ACT_UNROLL * VEC) {
        V r[ACT_UNROLL];
        int bits = 0;
        for (int u = 0; u < ACT_UNROLL; u++)
            r[u] = SIMD(apply_grad)(kind, v_load(v + i + u * VEC), v_load(dy + i + u * VEC), alpha, &bits);
        if (bits) {
            for (int u = 0; u < ACT_UNROLL; u++)
                SIMD(backward_one)(dx + i + u * VEC, dy + i + u * VEC, v + i + u * VEC, VEC, kind, alpha);
            continue;
        }
        for (int u = 0; u < ACT_UNROLL; u++) v_store(dx + i + u * VEC, r[u]);
    }
    for (; i < n; i += VEC)
        SIMD(backward_one)(dx + i, dy + i, v + i, n - i < VEC ? n - i : VEC, kind, alpha);
}

/* y (n) = f(x (n)) for kind tanh, sigmoid, log-sigmoid or ELU (constant a); y may be x. */
SIMD_FN static void SIMD(forward)(float *y, const float *x, int64_t n, int kind, float a) {
    switch (kind) {
    case ACT_TANH: SIMD(forward_kind)(y, x, n, ACT_TANH, a); break;
    case ACT_SIGMOID: SIMD(forward_kind)(y, x, n, ACT_SIGMOID, a); break;
    case ACT_LOGSIGMOID: SIMD(forward_kind)(y, x, n, ACT_LOGSIGMOID, a); break;
    default: SIMD(forward_kind)(y, x, n, ACT_ELU, a); break;
    }
}

/* dx (n) = the gradient for kind log-sigmoid (from x) or ELU (from y); dx may be dy, x or y. */
SIMD_FN static void SIMD(backward)(float *dx, const float *dy, const float *x, const float *y,
                                   int64_t n, int kind, float a) {
    if (kind == ACT_LOGSIGMOID) SIMD(backward_kind)(dx, dy, x, n, ACT_LOGSIGMOID, a);
    else SIMD(backward_kind)(dx, dy, y, n, ACT_ELU, a);
}

/* The includer's macros, for the next instruction set. */
#undef SIMD
#undef SIMD_FN
#undef SIMD_INLINE
#undef VEC
#undef V
#undef v_load
#undef v_store
#undef v_set1
#undef v_add
#undef v_sub
#undef v_mul
#undef v_div
#undef v_fmadd
#undef v_fnmadd
#undef v_min
#undef v_max
#undef v_abs
#undef v_neg
#undef v_lt
#undef v_gt
#undef v_blend
#undef v_pow2
#undef m_or
#undef m_bits
#undef M
#undef ACT_HAS_EXTREMES
#undef ACT_HAS_AUX
#undef ACT_LOGSIGMOID_EXTREME
#undef ACT_BLOCK
#undef ACT_UNROLL
