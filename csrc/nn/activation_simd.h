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
 *   m_bits(m)             the mask as an int, bit i for lane i (0: no lane)
 * and this file undefines them at its end.
 *
 * The math (coefficients fitted by tools/fit_activation_polys.py, relative errors of the fits):
 *   exp: x = k ln2 + r, |r| <= ln2/2 (Cody-Waite, two constants), expm1(r) = r + r^2 P(r), P of
 *        degree 4 (1.3e-8); exp(x) = 2^k + 2^k expm1(r), expm1(x) = 2^k expm1(r) + (2^k - 1),
 *        each one fused multiply-add, so neither loses digits near 0. Arguments are clamped to
 *        [-87.33, 87.33], where 2^k is a normal float; the few inputs whose result lies beyond
 *        (a subnormal sigmoid or log-sigmoid) take libm in extreme_lanes.
 *   tanh: expm1(2x) / (expm1(2x) + 2): no cancellation anywhere (a rational fit, as Eigen's, is
 *        off by 8 ulp near +-1).
 *   log1p(e), e in [0, 1]: 2 atanh(t), t = e / (2 + e) in [0, 1/3], t (2 + t^2 Q(t^2)), Q of
 *        degree 3 (4.5e-9).
 * Errors against libm measured by spec/activation_simd_spec.lua (within 3 ulp where the result
 * is a normal float; within one subnormal ulp below). */

#define ACT_LOG2E 1.44269504088896341f
#define ACT_LN2_HI 0.693359375f        /* ln2 = ACT_LN2_HI + ACT_LN2_LO, the first exact in k * */
#define ACT_LN2_LO -2.12194440e-4f
#define ACT_SHIFTER 12583039.0f        /* 1.5 * 2^23 + 127: round to integer, exponent bias */
#define ACT_EXP_LIMIT 87.3365448f      /* ln(2^126): exp stays normal inside +-this */
#define ACT_EXTREME 87.0f              /* |x| past this: the lane's exact value from libm */
#define ACT_TANH_LIMIT 9.1f           /* tanh rounds to 1 from 9.011 */

/* expm1(r) for x reduced to x = k ln2 + r, and *scale = 2^k. x in [-ACT_EXP_LIMIT, ACT_EXP_LIMIT]
 * (or NaN, which comes out as NaN). */
SIMD_INLINE V SIMD(exp_reduce)(V x, V *scale) {
    const V t = v_fmadd(x, v_set1(ACT_LOG2E), v_set1(ACT_SHIFTER));
    const V k = v_sub(t, v_set1(ACT_SHIFTER));
    V r = v_fnmadd(k, v_set1(ACT_LN2_HI), x);
    r = v_fnmadd(k, v_set1(ACT_LN2_LO), r);
    *scale = v_pow2(t);
    const V r2 = v_mul(r, r);
    V p = v_set1(1.388250967e-03f);
    p = v_fmadd(p, r, v_set1(8.366511203e-03f));
    p = v_fmadd(p, r, v_set1(4.166720062e-02f));
    p = v_fmadd(p, r, v_set1(1.666654348e-01f));
    p = v_fmadd(p, r, v_set1(4.999999702e-01f));
    return v_fmadd(r2, p, r);
}

/* x clamped to [-lim, lim], a NaN kept. */
SIMD_INLINE V SIMD(clamp)(V x, float lim) { return v_min(v_set1(lim), v_max(v_set1(-lim), x)); }

/* tanh(x) = e / (e + 2), e = expm1(2x) (in (-1, 0] for x <= 0), x clamped at +-9.1 where
 * float tanh is +-1. */
SIMD_INLINE V SIMD(tanh)(V x) {
    V scale;
    const V xc = SIMD(clamp)(x, ACT_TANH_LIMIT);
    const V em1 = SIMD(exp_reduce)(v_add(xc, xc), &scale);
    const V e = v_fmadd(scale, em1, v_sub(scale, v_set1(1.0f)));
    return v_div(e, v_add(e, v_set1(2.0f)));
}

/* sigmoid(x) = 1 / (1 + exp(-x)); below -ACT_EXTREME the lane is fixed by extreme_lanes. */
SIMD_INLINE V SIMD(sigmoid)(V x) {
    V scale;
    const V em1 = SIMD(exp_reduce)(SIMD(clamp)(v_neg(x), ACT_EXP_LIMIT), &scale);
    const V one = v_set1(1.0f);
    return v_div(one, v_fmadd(scale, em1, v_add(scale, one))); /* 1 / (1 + 2^k (1 + em1)) */
}

/* log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); above ACT_EXTREME fixed by extreme_lanes. */
SIMD_INLINE V SIMD(logsigmoid)(V x) {
    V scale;
    const V a = v_abs(x);
    const V em1 = SIMD(exp_reduce)(v_max(v_set1(-ACT_EXP_LIMIT), v_neg(a)), &scale);
    const V e = v_fmadd(scale, em1, scale); /* exp(-|x|) in (0, 1] */
    const V t = v_div(e, v_add(e, v_set1(2.0f)));
    const V t2 = v_mul(t, t);
    V q = v_set1(2.801189423e-01f);
    q = v_fmadd(q, t2, v_set1(2.800182402e-01f));
    q = v_fmadd(q, t2, v_set1(4.002152681e-01f));
    q = v_fmadd(q, t2, v_set1(6.666641831e-01f));
    const V log1p = v_mul(t, v_fmadd(t2, q, v_set1(2.0f)));
    return v_sub(v_min(v_set1(0.0f), x), log1p);
}

/* x > 0 ? x : alpha expm1(x), as max(x, 0) + alpha expm1(min(x, 0)) (expm1(0) is 0 exactly, a
 * NaN passes through max). */
SIMD_INLINE V SIMD(elu)(V x, V alpha) {
    V scale;
    const V xn = v_max(v_set1(-ACT_EXP_LIMIT), v_min(v_set1(0.0f), x));
    const V em1 = SIMD(exp_reduce)(xn, &scale);
    const V y = v_fmadd(scale, em1, v_sub(scale, v_set1(1.0f)));
    return v_fmadd(alpha, y, v_max(v_set1(0.0f), x));
}

/* dy * sigmoid(-x), the log-sigmoid's gradient: dy / (1 + exp(x)); above ACT_EXTREME fixed by
 * extreme_lanes. */
SIMD_INLINE V SIMD(logsigmoid_grad)(V x, V dy) {
    V scale;
    const V em1 = SIMD(exp_reduce)(SIMD(clamp)(x, ACT_EXP_LIMIT), &scale);
    return v_div(dy, v_fmadd(scale, em1, v_add(scale, v_set1(1.0f))));
}

/* The lanes set in `bits` of res, from libm: where the result is subnormal or about to be
 * (sigmoid(x) = exp(x) for x < -87, log-sigmoid(x) = -exp(-x) and its gradient dy exp(-x) for
 * x > 87). xs and dys hold the vector's inputs (dys may be NULL), saved before res is stored over
 * them when the kernel runs in place. */
SIMD_FN static void SIMD(extreme_lanes)(float *res, const float *xs, const float *dys, int bits, int kind) {
    for (int i = 0; i < VEC; i++) {
        if (!(bits >> i & 1)) continue;
        if (dys) res[i] = dys[i] * expf(-xs[i]); /* the log-sigmoid's gradient */
        else if (kind == ACT_SIGMOID) res[i] = expf(xs[i]);
        else res[i] = -expf(-xs[i]); /* log-sigmoid */
    }
}

/* f(v) for the forward kinds; *bits gets the lanes extreme_lanes must fix. kind is a constant
 * wherever this is inlined. */
SIMD_INLINE V SIMD(apply)(const int kind, V v, V alpha, int *bits) {
    switch (kind) {
    case ACT_TANH: return SIMD(tanh)(v);
    case ACT_SIGMOID: *bits |= m_bits(v_lt(v, v_set1(-ACT_EXTREME))); return SIMD(sigmoid)(v);
    case ACT_LOGSIGMOID: *bits |= m_bits(v_gt(v, v_set1(ACT_EXTREME))); return SIMD(logsigmoid)(v);
    default: return SIMD(elu)(v, alpha);
    }
}

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
    int bits = 0;
    for (int l = 0; l < VEC; l++) xs[l] = l < count ? x[l] : 0.0f;
    v_store(res, SIMD(apply)(kind, v_load(xs), alpha, &bits));
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

/* Four vectors per step: their independent chains overlap (one alone is latency-bound), and the
 * constants stay in registers. A step with an extreme lane is redone a vector at a time (nothing
 * of it stored yet, so in place too). */
#define ACT_UNROLL 4

SIMD_INLINE void SIMD(forward_kind)(float *y, const float *x, int64_t n, const int kind, float a) {
    const V alpha = v_set1(a);
    int64_t i = 0;
    for (; i + ACT_UNROLL * VEC <= n; i += ACT_UNROLL * VEC) {
        V r[ACT_UNROLL];
        int bits = 0;
        for (int u = 0; u < ACT_UNROLL; u++) r[u] = SIMD(apply)(kind, v_load(x + i + u * VEC), alpha, &bits);
        if (bits) {
            for (int u = 0; u < ACT_UNROLL; u++)
                SIMD(forward_one)(y + i + u * VEC, x + i + u * VEC, VEC, kind, alpha);
            continue;
        }
        for (int u = 0; u < ACT_UNROLL; u++) v_store(y + i + u * VEC, r[u]);
    }
    for (; i < n; i += VEC) SIMD(forward_one)(y + i, x + i, n - i < VEC ? n - i : VEC, kind, alpha);
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
#undef m_bits
#undef ACT_UNROLL
