#include "winograd.h"

#include <stdint.h>
#include <string.h>

#include "gemm.h"

/* The transforms are flat loops over all tiles: the input transform, most of their cost, also
 * has an AVX-512 version chosen at run time (GCC does not vectorize its 16 output streams). */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define WINOGRAD_AVX512 1

static int has_avx512(void) { return gemm_avx512(); }

/* even[q] = src[2q], odd[q] = src[2q + 1] for q in [0, n); returns how many it did (a multiple
 * of 16), the caller finishes. */
__attribute__((target("avx512f"))) static int64_t deinterleave_avx512(float *even, float *odd,
                                                                      const float *src, int64_t n) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) {
        __m512 a = _mm512_loadu_ps(src + 2 * q), b = _mm512_loadu_ps(src + 2 * q + 16);
        _mm512_storeu_ps(even + q, _mm512_permutex2var_ps(a, ev, b));
        _mm512_storeu_ps(odd + q, _mm512_permutex2var_ps(a, od, b));
    }
    if (q + 8 <= n) { /* 16 values: evens to the low half, odds to the high half */
        __m512 a = _mm512_permutexvar_ps(_mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0),
                                         _mm512_loadu_ps(src + 2 * q));
        _mm256_storeu_ps(even + q, _mm512_castps512_ps256(a));
        _mm256_storeu_ps(odd + q, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
        q += 8;
    }
    return q;
}

/* dst[2q] = even[q] + add, dst[2q + 1] = odd[q] + add for q in [0, n); returns how many it did. */
__attribute__((target("avx512f"))) static int64_t interleave_avx512(float *dst, const float *even,
                                                                    const float *odd, int64_t n,
                                                                    float add) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512 b = _mm512_set1_ps(add);
    int64_t q = 0;
    for (; q + 16 <= n; q += 16) {
        __m512 e = _mm512_add_ps(_mm512_loadu_ps(even + q), b), o = _mm512_add_ps(_mm512_loadu_ps(odd + q), b);
        _mm512_storeu_ps(dst + 2 * q, _mm512_permutex2var_ps(e, lo, o));
        _mm512_storeu_ps(dst + 2 * q + 16, _mm512_permutex2var_ps(e, hi, o));
    }
    for (; q + 8 <= n; q += 8) {
        __m512 e = _mm512_add_ps(_mm512_castps256_ps512(_mm256_loadu_ps(even + q)), b);
        __m512 o = _mm512_add_ps(_mm512_castps256_ps512(_mm256_loadu_ps(odd + q)), b);
        _mm512_storeu_ps(dst + 2 * q, _mm512_permutex2var_ps(e, lo, o));
    }
    return q;
}
#endif

void winograd_shape(WinogradShape *s, int64_t c, int64_t h, int64_t w, int64_t o, int64_t ph,
                    int64_t pw) {
    s->c = c, s->h = h, s->w = w, s->o = o, s->ph = ph, s->pw = pw;
    s->oh = h + 2 * ph - 2, s->ow = w + 2 * pw - 2;
    s->th = (s->oh + 1) / 2, s->tw = (s->ow + 1) / 2, s->t = s->th * (s->tw + 1);
}

int64_t winograd_weight_floats(const WinogradShape *s) { return 16 * s->o * s->c; }

/* V (16, C, T), M (16, O, T), then the split input planes (4 x (th + 1) x (tw + 1) + 1) and the
 * four output quarters (4 x T). */
int64_t winograd_scratch_floats(const WinogradShape *s) {
    return 16 * (s->c + s->o) * s->t + 4 * (s->th + 1) * (s->tw + 1) + 1 + 4 * s->t;
}

void winograd_weights(float *u, const float *weight, int64_t o, int64_t c, int flip) {
    for (int64_t oo = 0; oo < o; oo++)
        for (int64_t cc = 0; cc < c; cc++) {
            const float *g = weight + (oo * c + cc) * 9; /* (3, 3) */
            float k[3][3], t[4][3], v[4][4];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) k[a][b] = flip ? g[(2 - a) * 3 + (2 - b)] : g[a * 3 + b];
            for (int b = 0; b < 3; b++) { /* t = G k, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
                t[0][b] = k[0][b];
                t[1][b] = 0.5f * (k[0][b] + k[1][b] + k[2][b]);
                t[2][b] = 0.5f * (k[0][b] - k[1][b] + k[2][b]);
                t[3][b] = k[2][b];
            }
            for (int a = 0; a < 4; a++) { /* v = t G^T */
                v[a][0] = t[a][0];
                v[a][1] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
                v[a][2] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
                v[a][3] = t[a][2];
            }
            for (int xi = 0; xi < 16; xi++) {
                int64_t at = flip ? (xi * c + cc) * o + oo : (xi * o + oo) * c + cc;
                u[at] = v[xi / 4][xi % 4];
            }
        }
}

/* The padded plane split four ways, so that every tile's 4x4 patch is at a fixed offset from its
 * index u = ty * (tw + 1) + tx: ee/eo hold the even/odd columns of the even padded rows 0, 2, ...,
 * oe/oo those of the odd rows, each (th + 1) x (tw + 1) with column q = padded column 2q (+1). */
static void split_plane(float *ee, float *eo, float *oe, float *oo, const float *plane,
                        const WinogradShape *s) {
    const int64_t w1 = s->tw + 1;
    for (int64_t r = 0; r < 2 * (s->th + 1); r++) {
        float *even = (r % 2 ? oe : ee) + (r / 2) * w1, *odd = (r % 2 ? oo : eo) + (r / 2) * w1;
        const int64_t y = r - s->ph;
        if (y < 0 || y >= s->h) {
            memset(even, 0, (size_t)w1 * sizeof *even);
            memset(odd, 0, (size_t)w1 * sizeof *odd);
            continue;
        }
        const float *row = plane + y * s->w;
        /* columns 2q - pw and 2q + 1 - pw; the interior loop has no bounds to check */
        int64_t q = 0;
        for (; q < w1 && 2 * q - s->pw < 0; q++) {
            even[q] = 0.0f;
            odd[q] = 2 * q + 1 - s->pw >= 0 && 2 * q + 1 - s->pw < s->w ? row[2 * q + 1 - s->pw] : 0.0f;
        }
        const float *base = row - s->pw;
        int64_t inner = (s->w + s->pw - 1) / 2; /* q < inner: both columns inside */
        if (inner > w1) inner = w1;
#ifdef WINOGRAD_AVX512
        if (has_avx512() && inner > q) q += deinterleave_avx512(even + q, odd + q, base + 2 * q, inner - q);
#endif
        for (; q < w1 && 2 * q + 1 - s->pw < s->w; q++) even[q] = base[2 * q], odd[q] = base[2 * q + 1];
        for (; q < w1; q++) {
            even[q] = 2 * q - s->pw < s->w ? row[2 * q - s->pw] : 0.0f;
            odd[q] = 0.0f;
        }
    }
}

/* V[xi][u] = B^T d B for the tiles u in [0, n), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]:
 * patch row i comes from the split plane at u (i = 0, 1) or u + w1 (i = 2, 3), columns from the
 * even/odd arrays at u and u + 1. One flat loop over all tiles: it vectorizes. */
static void input_tiles(float *restrict v, const float *restrict ee,
                                      const float *restrict eo, const float *restrict oe,
                                      const float *restrict oo, int64_t w1, int64_t stride,
                                      int64_t n) {
    for (int64_t u = 0; u < n; u++) {
        const int64_t d2 = u + w1;
        /* t = B^T d: patch rows combined, column by column (patch columns: e[u], o[u], e[u+1], o[u+1]) */
        float t00 = ee[u] - ee[d2], t01 = eo[u] - eo[d2], t02 = ee[u + 1] - ee[d2 + 1],
              t03 = eo[u + 1] - eo[d2 + 1];
        float t10 = oe[u] + ee[d2], t11 = oo[u] + eo[d2], t12 = oe[u + 1] + ee[d2 + 1],
              t13 = oo[u + 1] + eo[d2 + 1];
        float t20 = ee[d2] - oe[u], t21 = eo[d2] - oo[u], t22 = ee[d2 + 1] - oe[u + 1],
              t23 = eo[d2 + 1] - oo[u + 1];
        float t30 = oe[u] - oe[d2], t31 = oo[u] - oo[d2], t32 = oe[u + 1] - oe[d2 + 1],
              t33 = oo[u + 1] - oo[d2 + 1];
        /* V = t B: columns combined */
        v[0 * stride + u] = t00 - t02, v[1 * stride + u] = t01 + t02;
        v[2 * stride + u] = t02 - t01, v[3 * stride + u] = t01 - t03;
        v[4 * stride + u] = t10 - t12, v[5 * stride + u] = t11 + t12;
        v[6 * stride + u] = t12 - t11, v[7 * stride + u] = t11 - t13;
        v[8 * stride + u] = t20 - t22, v[9 * stride + u] = t21 + t22;
        v[10 * stride + u] = t22 - t21, v[11 * stride + u] = t21 - t23;
        v[12 * stride + u] = t30 - t32, v[13 * stride + u] = t31 + t32;
        v[14 * stride + u] = t32 - t31, v[15 * stride + u] = t31 - t33;
    }
}

#ifdef WINOGRAD_AVX512
/* The loops over tiles below go 16 at a time; the last 16 again when n is not a multiple of 16
 * (each tile's values depend on that tile alone, so they are written twice, the same), or the
 * plain loop when n < 16. */
#define LAST_16(u, n, plain)                                                                        \
    if ((u) + 16 > (n)) {                                                                          \
        if ((n) < 16) {                                                                            \
            plain;                                                                                 \
            break;                                                                                 \
        }                                                                                          \
        (u) = (n) - 16;                                                                            \
    }

/* input_tiles, 16 tiles at a time. */
__attribute__((target("avx512f"))) static void input_tiles_avx512(
    float *restrict v, const float *restrict ee, const float *restrict eo,
    const float *restrict oe, const float *restrict oo, int64_t w1, int64_t stride, int64_t n) {
    for (int64_t u = 0; u < n; u += 16) {
        LAST_16(u, n, input_tiles(v, ee, eo, oe, oo, w1, stride, n))
        const int64_t d2 = u + w1;
#define LD(p, at) _mm512_loadu_ps((p) + (at))
        __m512 t00 = _mm512_sub_ps(LD(ee, u), LD(ee, d2)), t01 = _mm512_sub_ps(LD(eo, u), LD(eo, d2));
        __m512 t02 = _mm512_sub_ps(LD(ee, u + 1), LD(ee, d2 + 1));
        __m512 t03 = _mm512_sub_ps(LD(eo, u + 1), LD(eo, d2 + 1));
        __m512 t10 = _mm512_add_ps(LD(oe, u), LD(ee, d2)), t11 = _mm512_add_ps(LD(oo, u), LD(eo, d2));
        __m512 t12 = _mm512_add_ps(LD(oe, u + 1), LD(ee, d2 + 1));
        __m512 t13 = _mm512_add_ps(LD(oo, u + 1), LD(eo, d2 + 1));
        __m512 t20 = _mm512_sub_ps(LD(ee, d2), LD(oe, u)), t21 = _mm512_sub_ps(LD(eo, d2), LD(oo, u));
        __m512 t22 = _mm512_sub_ps(LD(ee, d2 + 1), LD(oe, u + 1));
        __m512 t23 = _mm512_sub_ps(LD(eo, d2 + 1), LD(oo, u + 1));
        __m512 t30 = _mm512_sub_ps(LD(oe, u), LD(oe, d2)), t31 = _mm512_sub_ps(LD(oo, u), LD(oo, d2));
        __m512 t32 = _mm512_sub_ps(LD(oe, u + 1), LD(oe, d2 + 1));
        __m512 t33 = _mm512_sub_ps(LD(oo, u + 1), LD(oo, d2 + 1));
#undef LD
        float *o = v + u;
        _mm512_storeu_ps(o + 0 * stride, _mm512_sub_ps(t00, t02));
        _mm512_storeu_ps(o + 1 * stride, _mm512_add_ps(t01, t02));
        _mm512_storeu_ps(o + 2 * stride, _mm512_sub_ps(t02, t01));
        _mm512_storeu_ps(o + 3 * stride, _mm512_sub_ps(t01, t03));
        _mm512_storeu_ps(o + 4 * stride, _mm512_sub_ps(t10, t12));
        _mm512_storeu_ps(o + 5 * stride, _mm512_add_ps(t11, t12));
        _mm512_storeu_ps(o + 6 * stride, _mm512_sub_ps(t12, t11));
        _mm512_storeu_ps(o + 7 * stride, _mm512_sub_ps(t11, t13));
        _mm512_storeu_ps(o + 8 * stride, _mm512_sub_ps(t20, t22));
        _mm512_storeu_ps(o + 9 * stride, _mm512_add_ps(t21, t22));
        _mm512_storeu_ps(o + 10 * stride, _mm512_sub_ps(t22, t21));
        _mm512_storeu_ps(o + 11 * stride, _mm512_sub_ps(t21, t23));
        _mm512_storeu_ps(o + 12 * stride, _mm512_sub_ps(t30, t32));
        _mm512_storeu_ps(o + 13 * stride, _mm512_add_ps(t31, t32));
        _mm512_storeu_ps(o + 14 * stride, _mm512_sub_ps(t32, t31));
        _mm512_storeu_ps(o + 15 * stride, _mm512_sub_ps(t31, t33));
    }
}

#endif

/* The four outputs of every tile u in [0, n), A^T m A with A^T = [1 1 1 0; 0 1 -1 -1]:
 * y[r][c][u] is output row 2ty + r, column 2tx + c. */
static void output_tiles(float *restrict y00, float *restrict y01,
                                       float *restrict y10, float *restrict y11,
                                       const float *restrict m, int64_t stride, int64_t n) {
    for (int64_t u = 0; u < n; u++) {
        float a[16];
        for (int xi = 0; xi < 16; xi++) a[xi] = m[xi * stride + u];
        float s00 = a[0] + a[4] + a[8], s01 = a[1] + a[5] + a[9], s02 = a[2] + a[6] + a[10],
              s03 = a[3] + a[7] + a[11];
        float s10 = a[4] - a[8] - a[12], s11 = a[5] - a[9] - a[13], s12 = a[6] - a[10] - a[14],
              s13 = a[7] - a[11] - a[15];
        y00[u] = s00 + s01 + s02;
        y01[u] = s01 - s02 - s03;
        y10[u] = s10 + s11 + s12;
        y11[u] = s11 - s12 - s13;
    }
}

#ifdef WINOGRAD_AVX512
/* output_tiles, 16 tiles at a time. */
__attribute__((target("avx512f"))) static void output_tiles_avx512(
    float *restrict y00, float *restrict y01, float *restrict y10, float *restrict y11,
    const float *restrict m, int64_t stride, int64_t n) {
    for (int64_t u = 0; u < n; u += 16) {
        LAST_16(u, n, output_tiles(y00, y01, y10, y11, m, stride, n))
        __m512 a[16];
        for (int xi = 0; xi < 16; xi++) a[xi] = _mm512_loadu_ps(m + xi * stride + u);
        __m512 s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
            s0[j] = _mm512_add_ps(_mm512_add_ps(a[j], a[4 + j]), a[8 + j]);
            s1[j] = _mm512_sub_ps(_mm512_sub_ps(a[4 + j], a[8 + j]), a[12 + j]);
        }
        _mm512_storeu_ps(y00 + u, _mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]));
        _mm512_storeu_ps(y01 + u, _mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]));
        _mm512_storeu_ps(y10 + u, _mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]));
        _mm512_storeu_ps(y11 + u, _mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]));
    }
}
#endif

/* Z (16, T, O) at z[xi * T * O + o] for one tile, from its four output-gradient pixels y[r][c]
 * (O each), channels [lo, hi): Z = A dY A^T, A = [1 0; 1 1; 1 -1; 0 -1] (the adjoint of
 * output_tiles). One loop over channels: it vectorizes. */
static void output_grad_tile(float *restrict z, int64_t stride, const float *restrict y00,
                             const float *restrict y01, const float *restrict y10,
                             const float *restrict y11, int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        /* A dY: rows (a, b) of the 4 x 2, then each row times A^T: (a, a + b, a - b, -b) */
        const float r[4][2] = {{y00[c], y01[c]},
                               {y00[c] + y10[c], y01[c] + y11[c]},
                               {y00[c] - y10[c], y01[c] - y11[c]},
                               {-y10[c], -y11[c]}};
        for (int i = 0; i < 4; i++) {
            z[(4 * i + 0) * stride + c] = r[i][0];
            z[(4 * i + 1) * stride + c] = r[i][0] + r[i][1];
            z[(4 * i + 2) * stride + c] = r[i][0] - r[i][1];
            z[(4 * i + 3) * stride + c] = -r[i][1];
        }
    }
}

#ifdef WINOGRAD_AVX512
/* output_grad_tile, 16 channels at a time from 0; returns how many it did. */
__attribute__((target("avx512f"))) static int64_t output_grad_tile_avx512(
    float *restrict z, int64_t stride, const float *restrict y00, const float *restrict y01,
    const float *restrict y10, const float *restrict y11, int64_t n) {
    const __m512 zero = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512 a00 = _mm512_loadu_ps(y00 + c), a01 = _mm512_loadu_ps(y01 + c);
        __m512 a10 = _mm512_loadu_ps(y10 + c), a11 = _mm512_loadu_ps(y11 + c);
        __m512 r[4][2] = {{a00, a01},
                          {_mm512_add_ps(a00, a10), _mm512_add_ps(a01, a11)},
                          {_mm512_sub_ps(a00, a10), _mm512_sub_ps(a01, a11)},
                          {_mm512_sub_ps(zero, a10), _mm512_sub_ps(zero, a11)}};
        for (int i = 0; i < 4; i++) {
            float *zi = z + 4 * i * stride + c;
            _mm512_storeu_ps(zi, r[i][0]);
            _mm512_storeu_ps(zi + stride, _mm512_add_ps(r[i][0], r[i][1]));
            _mm512_storeu_ps(zi + 2 * stride, _mm512_sub_ps(r[i][0], r[i][1]));
            _mm512_storeu_ps(zi + 3 * stride, _mm512_sub_ps(zero, r[i][1]));
        }
    }
    return c;
}
#endif

/* Z (16, n, O), planes stride apart, of the tiles in tile rows [ty0, ty0 + rows), n = rows * tw,
 * of the output gradient dyt (OH*OW, O) (its planes transposed: a pixel's channels side by side,
 * so that Z comes out with them side by side too); zero: O zeros, the pixels past the edges. */
static void output_grad_tiles(float *z, int64_t stride, const float *dyt, const float *zero,
                              const WinogradShape *s, int64_t ty0, int64_t rows) {
    const int64_t o = s->o, ow = s->ow;
    for (int64_t ty = ty0; ty < ty0 + rows; ty++)
        for (int64_t tx = 0; tx < s->tw; tx++) {
            float *zu = z + ((ty - ty0) * s->tw + tx) * o; /* (16, O), rows stride apart */
            const int64_t y = 2 * ty, x = 2 * tx;
            const int right = x + 1 < ow, below = y + 1 < s->oh;
            const float *y00 = dyt + (y * ow + x) * o, *y01 = right ? y00 + o : zero;
            const float *y10 = below ? y00 + ow * o : zero, *y11 = right && below ? y10 + o : zero;
            int64_t c = 0;
#ifdef WINOGRAD_AVX512
            if (has_avx512()) c = output_grad_tile_avx512(zu, stride, y00, y01, y10, y11, o);
#endif
            output_grad_tile(zu, stride, y00, y01, y10, y11, c, o);
        }
}

/* input_tiles on the widest units the CPU has. */
static void input_tiles_any(float *v, const float *ee, const float *eo, const float *oe,
                            const float *oo, int64_t w1, int64_t stride, int64_t n) {
#ifdef WINOGRAD_AVX512
    if (has_avx512()) {
        input_tiles_avx512(v, ee, eo, oe, oo, w1, stride, n);
        return;
    }
#endif
    input_tiles(v, ee, eo, oe, oo, w1, stride, n);
}

/* The input transform of every channel of inp (C, H, W): v (16, C, T). ee: room for the split
 * planes, 4 x (th + 1) x (tw + 1) floats, then one float more. */
static void input_transform(float *v, const float *inp, const WinogradShape *s, float *ee) {
    const int64_t c = s->c, t = s->t, w1 = s->tw + 1, plane_n = (s->th + 1) * w1;
    float *eo = ee + plane_n, *oe = eo + plane_n, *oo = oe + plane_n;
    oo[plane_n] = 0.0f; /* read (times zero weight) by the last, unused tile of the last row */
    for (int64_t cc = 0; cc < c; cc++) {
        split_plane(ee, eo, oe, oo, inp + cc * s->h * s->w, s);
        input_tiles_any(v + cc * t, ee, eo, oe, oo, w1, c * t, t);
    }
}

void winograd_image(float *out, const float *inp, const float *u, const float *bias,
                    const WinogradShape *s, float *scratch, int all_threads) {
    const int64_t c = s->c, o = s->o, t = s->t, w1 = s->tw + 1, plane_n = (s->th + 1) * w1;
    float *v = scratch;        /* (16, C, T) */
    float *m = v + 16 * c * t; /* (16, O, T) */
    float *ee = m + 16 * o * t;                                                      /* split planes */
    float *y00 = ee + 4 * plane_n + 1, *y01 = y00 + t, *y10 = y01 + t, *y11 = y10 + t; /* (T) */
    input_transform(v, inp, s, ee);
    for (int xi = 0; xi < 16; xi++) { /* M[xi] (O, T) = U[xi] (O, C) @ V[xi] (C, T) */
        const float *a = u + xi * o * c, *b = v + xi * c * t;
        float *mx = m + xi * o * t;
        if (all_threads)
            gemm(0, 0, o, t, c, 1.0f, a, c, b, t, 0.0f, mx, t);
        else
            gemm_serial(0, 0, o, t, c, 1.0f, a, c, b, t, 0.0f, mx, t);
    }
    for (int64_t oo_ = 0; oo_ < o; oo_++) {
#ifdef WINOGRAD_AVX512
        if (has_avx512())
            output_tiles_avx512(y00, y01, y10, y11, m + oo_ * t, o * t, t);
        else
#endif
            output_tiles(y00, y01, y10, y11, m + oo_ * t, o * t, t);
        float *plane = out + oo_ * s->oh * s->ow; /* (OH, OW) */
        const float bo = bias ? bias[oo_] : 0.0f;
        for (int64_t ty = 0; ty < s->th; ty++)
            for (int r = 0; r < 2 && 2 * ty + r < s->oh; r++) {
                float *dst = plane + (2 * ty + r) * s->ow; /* (OW) */
                const float *ev = (r ? y10 : y00) + ty * w1, *ov = (r ? y11 : y01) + ty * w1;
                int64_t q = 0, pairs = s->ow / 2;
#ifdef WINOGRAD_AVX512
                if (has_avx512()) q = interleave_avx512(dst, ev, ov, pairs, bo);
#endif
                for (; q < pairs; q++) dst[2 * q] = ev[q] + bo, dst[2 * q + 1] = ov[q] + bo;
                if (s->ow % 2) dst[s->ow - 1] = ev[pairs] + bo;
            }
    }
}

int64_t winograd_weight_grad_floats(const WinogradShape *s) { return 16 * s->o * s->c; }

/* The weight gradient's input transform works on the image transposed, xp (2th + 2, 2tw + 2, C)
 * (a pixel's channels side by side, zero outside the image), so that V comes out (tiles, C), which
 * the product reads without transposing it. */
static void pad_transpose(float *xp, const float *inp, const WinogradShape *s) {
    const int64_t c = s->c, w2 = 2 * s->tw + 2, right = w2 - s->pw - s->w;
    for (int64_t r = 0; r < 2 * s->th + 2; r++) {
        float *row = xp + r * w2 * c; /* (2tw + 2, C) */
        const int64_t y = r - s->ph;
        if (y < 0 || y >= s->h) {
            memset(row, 0, (size_t)(w2 * c) * sizeof *row);
            continue;
        }
        memset(row, 0, (size_t)(s->pw * c) * sizeof *row);
        gemm_transpose(row + s->pw * c, c, inp + y * s->w, s->h * s->w, c, s->w);
        memset(row + (s->pw + s->w) * c, 0, (size_t)(right * c) * sizeof *row);
    }
}

/* V[xi] at v[xi * stride + c] = B^T d B of one tile, channels [lo, hi): its patch d[i][j] at
 * x[i * ld + j * pc + c]. One loop over channels: it vectorizes. */
static void input_tile_channels(float *restrict v, int64_t stride, const float *restrict x,
                                int64_t ld, int64_t pc, int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        float d[4][4], t[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) d[i][j] = x[i * ld + j * pc + c];
        for (int j = 0; j < 4; j++) { /* t = B^T d, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
            t[0][j] = d[0][j] - d[2][j];
            t[1][j] = d[1][j] + d[2][j];
            t[2][j] = d[2][j] - d[1][j];
            t[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; i++) { /* V = t B */
            v[(4 * i + 0) * stride + c] = t[i][0] - t[i][2];
            v[(4 * i + 1) * stride + c] = t[i][1] + t[i][2];
            v[(4 * i + 2) * stride + c] = t[i][2] - t[i][1];
            v[(4 * i + 3) * stride + c] = t[i][1] - t[i][3];
        }
    }
}

#ifdef WINOGRAD_AVX512
/* input_tile_channels, 16 channels at a time from 0; returns how many it did. */
__attribute__((target("avx512f"))) static int64_t input_tile_channels_avx512(
    float *restrict v, int64_t stride, const float *restrict x, int64_t ld, int64_t pc, int64_t n) {
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m512 t[4][4];
        for (int j = 0; j < 4; j++) {
            const float *col = x + j * pc + c;
            __m512 d0 = _mm512_loadu_ps(col), d1 = _mm512_loadu_ps(col + ld);
            __m512 d2 = _mm512_loadu_ps(col + 2 * ld), d3 = _mm512_loadu_ps(col + 3 * ld);
            t[0][j] = _mm512_sub_ps(d0, d2);
            t[1][j] = _mm512_add_ps(d1, d2);
            t[2][j] = _mm512_sub_ps(d2, d1);
            t[3][j] = _mm512_sub_ps(d1, d3);
        }
        for (int i = 0; i < 4; i++) {
            float *vi = v + 4 * i * stride + c;
            _mm512_storeu_ps(vi, _mm512_sub_ps(t[i][0], t[i][2]));
            _mm512_storeu_ps(vi + stride, _mm512_add_ps(t[i][1], t[i][2]));
            _mm512_storeu_ps(vi + 2 * stride, _mm512_sub_ps(t[i][2], t[i][1]));
            _mm512_storeu_ps(vi + 3 * stride, _mm512_sub_ps(t[i][1], t[i][3]));
        }
    }
    return c;
}
#endif

/* V (16, n, C), planes stride apart, of the tiles in tile rows [ty0, ty0 + rows), n = rows * tw,
 * from xp as pad_transpose makes it. */
static void input_tiles_channels(float *v, int64_t stride, const float *xp, const WinogradShape *s,
                                 int64_t ty0, int64_t rows) {
    const int64_t c = s->c, ld = (2 * s->tw + 2) * c;
    for (int64_t ty = ty0; ty < ty0 + rows; ty++)
        for (int64_t tx = 0; tx < s->tw; tx++) {
            float *vu = v + ((ty - ty0) * s->tw + tx) * c;   /* (16, C), rows stride apart */
            const float *x = xp + 2 * ty * ld + 2 * tx * c; /* the patch's corner */
            int64_t done = 0;
#ifdef WINOGRAD_AVX512
            if (has_avx512()) done = input_tile_channels_avx512(vu, stride, x, ld, c, c);
#endif
            input_tile_channels(vu, stride, x, ld, c, done, c);
        }
}

/* The weight gradient goes through the tiles a few tile rows at a time, so that the block's V
 * and Z stay in L2 between the transforms and the products (a whole image's are 1 MB in the
 * default model's second layer). */
#ifndef GRAD_TILE_ROWS
#define GRAD_TILE_ROWS 4
#endif

static int64_t grad_block_rows(const WinogradShape *s) {
    return s->th < GRAD_TILE_ROWS ? s->th : GRAD_TILE_ROWS;
}

/* The planes of V and Z are this many floats more apart than their size: 16 planes whose starts
 * are 4 KB apart (48 x 64 floats in the default model) would all fall in the same L1 sets. */
#define PLANE_GAP 16

/* 16 floats to align V to 64 bytes (the product then reads it in place when C is its strip
 * width), V (16, n, C) and Z (16, n, O) of a block of n = grad_block_rows * tw tiles, the image
 * transposed and padded (2th + 2, 2tw + 2, C), the output gradient transposed (OH*OW, O) and O
 * zeros. */
int64_t winograd_weight_grad_scratch_floats(const WinogradShape *s) {
    const int64_t n = grad_block_rows(s) * s->tw;
    return 16 + 16 * ((s->c + s->o) * n + 2 * PLANE_GAP) +
           (2 * s->th + 2) * (2 * s->tw + 2) * s->c + (s->oh * s->ow + 1) * s->o;
}

void winograd_weight_grad_image(float *du, const float *inp, const float *dout,
                                const WinogradShape *s, float *scratch) {
    const int64_t c = s->c, o = s->o, p = s->oh * s->ow, block = grad_block_rows(s) * s->tw;
    const int64_t vs = block * c + PLANE_GAP, zs = block * o + PLANE_GAP; /* plane strides */
    float *v = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* (16, block, C) */
    float *z = v + 16 * vs;                                           /* (16, block, O) */
    float *xp = z + 16 * zs;                                 /* (2th + 2, 2tw + 2, C) */
    float *dyt = xp + (2 * s->th + 2) * (2 * s->tw + 2) * c; /* (OH*OW, O) */
    float *zero = dyt + p * o;                               /* (O) */
    pad_transpose(xp, inp, s);
    gemm_transpose(dyt, o, dout, p, o, p);
    memset(zero, 0, (size_t)o * sizeof *zero);
    for (int64_t ty0 = 0; ty0 < s->th; ty0 += grad_block_rows(s)) {
        const int64_t rows = s->th - ty0 < grad_block_rows(s) ? s->th - ty0 : grad_block_rows(s);
        const int64_t n = rows * s->tw;
        input_tiles_channels(v, vs, xp, s, ty0, rows);
        output_grad_tiles(z, zs, dyt, zero, s, ty0, rows);
        for (int xi = 0; xi < 16; xi++) /* dU[xi] (O, C) += Z[xi]^T (O, n) @ V[xi] (n, C) */
            gemm_serial(1, 0, o, c, n, 1.0f, z + xi * zs, o, v + xi * vs, c, 1.0f,
                        du + xi * o * c, c);
    }
}

void winograd_weights_backward(float *dweight, const float *du, int64_t o, int64_t c) {
    for (int64_t oo = 0; oo < o; oo++)
        for (int64_t cc = 0; cc < c; cc++) {
            float d[4][4], t[3][4];
            for (int xi = 0; xi < 16; xi++) d[xi / 4][xi % 4] = du[(xi * o + oo) * c + cc];
            for (int j = 0; j < 4; j++) { /* t = G^T d, G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1] */
                t[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
                t[1][j] = 0.5f * (d[1][j] - d[2][j]);
                t[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
            }
            float *g = dweight + (oo * c + cc) * 9; /* (3, 3) += t G */
            for (int a = 0; a < 3; a++) {
                g[a * 3 + 0] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
                g[a * 3 + 1] += 0.5f * (t[a][1] - t[a][2]);
                g[a * 3 + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
            }
        }
}
