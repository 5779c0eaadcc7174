#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/pool.h"

#include <math.h>
#include <string.h>

#include "tensor/gemm.h"
#include "nn/nn_common.h"
#include "sys/parallel.h"

#define MAXPOOL_MAX_PLANE ((int64_t)1 << 24) /* indices are exact floats below this */

/* Windows along one axis: floor or ceil((size + 2 pad - k) / s) + 1, without a last ceil-mode
 * window that would start at or past size + pad (Torch7's and PyTorch's rule). */
static int64_t windows(int64_t size, int k, int s, int pad, int ceil) {
    int64_t span = size + 2 * pad - k;
    int64_t n = (ceil ? (span + s - 1) / s : span / s) + 1;
    if (ceil && (n - 1) * s >= size + pad) n--;
    return n;
}

int pool2d_out_size(int64_t *oh, int64_t *ow, int64_t h, int64_t w, int kh, int kw, int sh, int sw,
                    int ph, int pw, int ceil) {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
        return MN_ERR_ARG;
    if (h + 2 * ph < kh || w + 2 * pw < kw || h * w > MAXPOOL_MAX_PLANE) return MN_ERR_SHAPE;
    *oh = windows(h, kh, sh, ph, ceil);
    *ow = windows(w, kw, sw, pw, ceil);
    return MN_OK;
}

/* take ? a : b through bit masks: compilers turn a ?: on floats into a branch, which random
 * data mispredicts half the time. */
static inline float select_float(int take, float a, float b) {
    uint32_t ua, ub, mask = 0u - (uint32_t)(take != 0);
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    uint32_t r = (ua & mask) | (ub & ~mask);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* [*lo, *hi): the windows j whose column j*sw - pw + c lies inside [0, w). */
static void window_columns(int64_t *lo, int64_t *hi, int64_t c, int64_t w, int64_t ow, int sw,
                           int pw) {
    int64_t first = pw - c, limit = w + pw - c;
    *lo = first > 0 ? (first + sw - 1) / sw : 0;
    *hi = limit > 0 ? (limit + sw - 1) / sw : 0;
    if (*hi > ow) *hi = ow;
    if (*lo > *hi) *lo = *hi;
}

/* One step for a row of windows: window j (lo <= j < hi) looks at src[base + j*sw] and keeps the
 * first maximum in scan order (a later NaN wins, as in PyTorch) in best[j], its position in
 * where[j]. Branch-free, and inlined with sw a constant for the common strides. */
static inline __attribute__((always_inline)) void
window_step(float *restrict best, float *restrict where, const float *restrict src, int32_t base,
            int64_t lo, int64_t hi, int sw) {
    for (int64_t j = lo; j < hi; j++) {
        int32_t pos = base + (int32_t)j * sw;
        float v = src[pos], b = best[j], at = where[j];
        int take = (v > b) | (v != v) | (at < 0.0f);
        best[j] = select_float(take, v, b);
        where[j] = select_float(take, (float)pos, at);
    }
}

/* Planes per thread: enough input values (64K) that waking a thread pays. */
static int64_t plane_grain(int64_t plane) {
    int64_t grain = ((int64_t)1 << 16) / (plane > 0 ? plane : 1);
    return grain < 1 ? 1 : grain;
}

typedef struct {
    const float *x;   /* (N*C, H, W) forward input */
    float *y;         /* (N*C, OH, OW) forward output, or backward dout (read) */
    float *idx;       /* (N*C, OH, OW) positions of the maxima in their plane */
    float *dx;        /* (N*C, H, W) backward output */
    int64_t h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
    int status[PARALLEL_MAX_THREADS]; /* backward: per part, MN_ERR_RANGE for a bad index */
} PoolJob;

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define POOL_AVX512 1

/* The common 2x2 window with stride 2 and no padding (every window inside the plane), 16 windows
 * at a time on AVX-512 (masked at the end of a row): the same rule as window_step (the first
 * maximum in scan order, a later NaN wins), the positions carried as floats beside the maxima. */
__attribute__((target("avx512f"))) static void row_2x2_avx512(float *best, float *where,
                                                              const float *src, int32_t row0,
                                                              int32_t w, int64_t ow) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512 steps = _mm512_cvtepi32_ps(even); /* 0, 2, 4, ... */
    for (int64_t q = 0; q < ow; q += 16) {
        const int n = ow - q < 16 ? (int)(ow - q) : 16;   /* windows in this step */
        const __mmask16 out = (__mmask16)((1u << n) - 1);
        const __mmask16 lo = (__mmask16)(n >= 8 ? 0xffffu : (1u << 2 * n) - 1);
        const __mmask16 hi = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
        const int32_t p00 = row0 + 2 * (int32_t)q, p10 = p00 + w;
        __m512 r0a = _mm512_maskz_loadu_ps(lo, src + p00), r0b = _mm512_maskz_loadu_ps(hi, src + p00 + 16);
        __m512 r1a = _mm512_maskz_loadu_ps(lo, src + p10), r1b = _mm512_maskz_loadu_ps(hi, src + p10 + 16);
        __m512 cand[4] = {_mm512_permutex2var_ps(r0a, even, r0b), _mm512_permutex2var_ps(r0a, odd, r0b),
                          _mm512_permutex2var_ps(r1a, even, r1b), _mm512_permutex2var_ps(r1a, odd, r1b)};
        const int32_t offset[4] = {p00, p00 + 1, p10, p10 + 1};
        __m512 b = cand[0];
        __m512 at = _mm512_add_ps(_mm512_set1_ps((float)offset[0]), steps);
        for (int c = 1; c < 4; c++) {
            __mmask16 take = _mm512_cmp_ps_mask(cand[c], b, _CMP_GT_OQ) |
                             _mm512_cmp_ps_mask(cand[c], cand[c], _CMP_UNORD_Q);
            b = _mm512_mask_blend_ps(take, b, cand[c]);
            at = _mm512_mask_blend_ps(take, at, _mm512_add_ps(_mm512_set1_ps((float)offset[c]), steps));
        }
        _mm512_mask_storeu_ps(best + q, out, b);
        _mm512_mask_storeu_ps(where + q, out, at);
    }
}

/* row_2x2_avx512's AVX2 form: 8 windows per step, the last step of a row starting at OW - 8 and
 * overlapping the one before (it stores the same values; no masks). A row of fewer than 8
 * windows is read with masked loads (lanes past 2 OW left 0) and written through a buffer
 * (masked stores are slow on AMD). The pairs come apart with a shuffle within 128-bit halves and
 * a permute of 64-bit pairs. */
__attribute__((target("avx2"), always_inline)) static inline void pairs_avx2(__m256 *even, __m256 *odd,
                                                                         __m256 a, __m256 b) {
    /* per half: a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit pairs in order 0, 2, 1, 3 */
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
}

/* The mask of the first n (0..8) of 8 lanes, for _mm256_maskload_ps. */
__attribute__((target("avx2"), always_inline)) static inline __m256i lanes_avx2(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Windows q..q+7 of the row: their maxima and positions (the first maximum in scan order, a later
 * NaN wins). r0 and r1 point at the two input rows at column 2q; n: the windows that exist. */
__attribute__((target("avx2"), always_inline)) static inline void
windows_2x2_avx2(__m256 *best, __m256 *at, const float *r0, const float *r1, int32_t p00, int32_t w,
                 int64_t n) {
    const __m256 steps = _mm256_setr_ps(0, 2, 4, 6, 8, 10, 12, 14);
    __m256 cand[4];
    if (n >= 8) {
        pairs_avx2(&cand[0], &cand[1], _mm256_loadu_ps(r0), _mm256_loadu_ps(r0 + 8));
        pairs_avx2(&cand[2], &cand[3], _mm256_loadu_ps(r1), _mm256_loadu_ps(r1 + 8));
    } else {
        const __m256i lo = lanes_avx2(2 * n < 8 ? 2 * n : 8), hi = lanes_avx2(2 * n > 8 ? 2 * n - 8 : 0);
        pairs_avx2(&cand[0], &cand[1], _mm256_maskload_ps(r0, lo), _mm256_maskload_ps(r0 + 8, hi));
        pairs_avx2(&cand[2], &cand[3], _mm256_maskload_ps(r1, lo), _mm256_maskload_ps(r1 + 8, hi));
    }
    const int32_t offset[4] = {p00, p00 + 1, p00 + w, p00 + w + 1};
    __m256 b = cand[0];
    __m256 a = _mm256_add_ps(_mm256_set1_ps((float)offset[0]), steps);
    for (int c = 1; c < 4; c++) {
        const __m256 take = _mm256_or_ps(_mm256_cmp_ps(cand[c], b, _CMP_GT_OQ),
                                         _mm256_cmp_ps(cand[c], cand[c], _CMP_UNORD_Q));
        b = _mm256_blendv_ps(b, cand[c], take);
        a = _mm256_blendv_ps(a, _mm256_add_ps(_mm256_set1_ps((float)offset[c]), steps), take);
    }
    *best = b, *at = a;
}

__attribute__((target("avx2"))) static void row_2x2_avx2(float *best, float *where, const float *src,
                                                          int32_t row0, int32_t w, int64_t ow) {
    if (ow < 8) {
        float b[8], a[8];
        __m256 vb, va;
        windows_2x2_avx2(&vb, &va, src + row0, src + row0 + w, row0, w, ow);
        _mm256_storeu_ps(b, vb);
        _mm256_storeu_ps(a, va);
        memcpy(best, b, (size_t)ow * sizeof *b);
        memcpy(where, a, (size_t)ow * sizeof *a);
        return;
    }
    for (int64_t q0 = 0; q0 < ow; q0 += 8) {
        const int64_t q = q0 + 8 <= ow ? q0 : ow - 8;
        const int32_t p00 = row0 + 2 * (int32_t)q;
        __m256 b, a;
        windows_2x2_avx2(&b, &a, src + p00, src + p00 + w, p00, w, 8);
        _mm256_storeu_ps(best + q, b);
        _mm256_storeu_ps(where + q, a);
    }
}

/* dst[0..16) = e0 o0 e1 o1 ... e7 o7 from the evens and the odds. */
__attribute__((target("avx2"), always_inline)) static inline void interleave_avx2(float *dst, __m256 even,
                                                                              __m256 odd) {
    const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

/* Backward of output row i (row0 = 2 i W) of 2x2 stride-2 windows, OW >= 8: each window's 2x2
 * block of dx gets the window's gradient at its maximum and 0 elsewhere (the blocks tile the rows;
 * 0 + dy as the scatter's sum gives: -0 becomes +0). 8 windows a step as the forward; returns 0,
 * having written part of the rows, when an index lies outside its window's block. */
__attribute__((target("avx2"))) static int row_2x2_backward_avx2(float *dx, const float *dy,
                                                                const float *where, int32_t row0,
                                                                int32_t w, int64_t ow) {
    const __m256 steps = _mm256_setr_ps(0, 2, 4, 6, 8, 10, 12, 14), zero = _mm256_setzero_ps();
    const __m256 one = _mm256_set1_ps(1.0f), below = _mm256_set1_ps((float)w);
    const __m256 below1 = _mm256_set1_ps((float)w + 1.0f);
    for (int64_t q0 = 0; q0 < ow; q0 += 8) {
        const int64_t q = q0 + 8 <= ow ? q0 : ow - 8;
        const int32_t p00 = row0 + 2 * (int32_t)q;
        const __m256 corner = _mm256_add_ps(_mm256_set1_ps((float)p00), steps);
        const __m256 at = _mm256_sub_ps(_mm256_loadu_ps(where + q), corner);
        const __m256 g = _mm256_add_ps(zero, _mm256_loadu_ps(dy + q));
        const __m256 m00 = _mm256_cmp_ps(at, zero, _CMP_EQ_OQ), m01 = _mm256_cmp_ps(at, one, _CMP_EQ_OQ);
        const __m256 m10 = _mm256_cmp_ps(at, below, _CMP_EQ_OQ), m11 = _mm256_cmp_ps(at, below1, _CMP_EQ_OQ);
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(m00, m01), _mm256_or_ps(m10, m11))) != 0xff)
            return 0;
        interleave_avx2(dx + p00, _mm256_and_ps(m00, g), _mm256_and_ps(m01, g));
        interleave_avx2(dx + p00 + w, _mm256_and_ps(m10, g), _mm256_and_ps(m11, g));
    }
    return 1;
}

/* Backward over planes [lo, hi) with AVX2, OW >= 8: the rows of blocks, then zeros in the column
 * and row the windows leave out (W or H odd). Returns 0 as row_2x2_backward_avx2. */
__attribute__((target("avx2"))) static int planes_2x2_backward_avx2(const PoolJob *j, int64_t lo,
                                                                   int64_t hi) {
    const int64_t h = j->h, w = j->w, oh = j->oh, ow = j->ow;
    for (int64_t pl = lo; pl < hi; pl++) {
        float *dx = j->dx + pl * h * w; /* (H, W) */
        for (int64_t i = 0; i < oh; i++) {
            if (!row_2x2_backward_avx2(dx, j->y + (pl * oh + i) * ow, j->idx + (pl * oh + i) * ow,
                                       (int32_t)(2 * i * w), (int32_t)w, ow))
                return 0;
            for (int64_t r = 2 * i; r < 2 * i + 2; r++)
                for (int64_t c = 2 * ow; c < w; c++) dx[r * w + c] = 0.0f;
        }
        memset(dx + 2 * oh * w, 0, (size_t)((h - 2 * oh) * w) * sizeof *dx);
    }
    return 1;
}

/* The planes of an even-sized input pooled 2x2 with stride 2 are one tall image (N*C*H, W)
 * whose output rows lie back to back, (N*C*OH, OW): with OW <= 16 a step takes G = 16 / OW
 * whole output rows at once (16 windows for OW = 4 or 8; 12 for OW = 12) from the 4*G*OW input
 * values under them, so narrow planes fill the vector too. The lane constants: */
typedef struct {
    __m512i even, odd; /* pair (2k, 2k+1) of 32 values */
    __m512i top, bot;  /* window t's pair in the upper / lower input row of the step */
    __m512i col;       /* 2 * (t mod OW): window t's first column */
    __m512i row;       /* t / OW: window t's output row within the step */
    int g, per;        /* output rows and windows per step */
} Tall2x2;

__attribute__((target("avx512f"))) static void tall_2x2_setup(Tall2x2 *c, int64_t ow) {
    int32_t even[16], top[16], col[16], row[16];
    c->g = (int)(16 / ow), c->per = c->g * (int)ow;
    for (int t = 0; t < 16; t++) {
        int r = t / (int)ow, q = t % (int)ow;
        even[t] = 2 * t;
        top[t] = t < c->per ? r * 2 * (int)ow + q : 0;
        col[t] = 2 * q;
        row[t] = r;
    }
    c->even = _mm512_loadu_si512(even);
    c->odd = _mm512_add_epi32(c->even, _mm512_set1_epi32(1));
    c->top = _mm512_loadu_si512(top);
    c->bot = _mm512_add_epi32(c->top, _mm512_set1_epi32((int)ow));
    c->col = _mm512_loadu_si512(col);
    c->row = _mm512_loadu_si512(row);
}

/* The mask of the first n of 16 lanes (n may be <= 0 or >= 16). */
static inline __mmask16 first_lanes(int64_t n) {
    return n <= 0 ? 0 : n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* Plane rows, back at [0, oh) after a step moved them down. */
__attribute__((target("avx512f"))) static inline __m512i wrap_rows(__m512i row, __m512i oh) {
    for (__mmask16 over; (over = _mm512_cmpge_epi32_mask(row, oh));)
        row = _mm512_mask_sub_epi32(row, over, row, oh);
    return row;
}

/* Forward over planes [lo, hi) of the tall image: the same rule as window_step (first maximum
 * in scan order, a later NaN wins), applied to each row's pairs and then to the two rows, which
 * picks the same element. */
__attribute__((target("avx512f"))) static void tall_2x2_forward(const PoolJob *j, int64_t lo,
                                                               int64_t hi) {
    const int64_t ow = j->ow, w = j->w, rows = (hi - lo) * j->oh;
    Tall2x2 c;
    tall_2x2_setup(&c, ow);
    const float *x = j->x + lo * j->h * w; /* (rows * 2, W) */
    float *y = j->y + lo * j->oh * ow, *where = j->idx + lo * j->oh * ow; /* (rows, OW) */
    const __m512 one = _mm512_set1_ps(1.0f), below = _mm512_set1_ps((float)w);
    const __m512i oh = _mm512_set1_epi32((int32_t)j->oh), width2 = _mm512_set1_epi32(2 * (int32_t)w);
    int32_t first = 0; /* the plane row of the step's first output row */
    for (int64_t r = 0; r < rows; r += c.g) {
        const int64_t in = (rows - r < c.g ? rows - r : c.g) * 2 * w; /* input values of the step */
        const float *src = x + r * 2 * w;
        /* Whole vectors where the part's rows go on far enough (masked loads and stores are slow
         * on AMD): lanes past the step's rows belong to the next step, which rewrites them. */
        const int whole_in = (rows - r) * 2 * w >= 64, whole_out = (rows - r) * ow >= 16;
        __m512 pair_max[2], pair_at[2];
        for (int h = 0; h < 2; h++) { /* first max of each pair (2k, 2k+1), k in [16h, 16h+16) */
            __m512 a, b;
            if (whole_in) { /* values past the step's rows are read, then ignored */
                a = _mm512_loadu_ps(src + 32 * h), b = _mm512_loadu_ps(src + 32 * h + 16);
            } else {
                a = _mm512_maskz_loadu_ps(first_lanes(in - 32 * h), src + 32 * h);
                b = _mm512_maskz_loadu_ps(first_lanes(in - 32 * h - 16), src + 32 * h + 16);
            }
            __m512 left = _mm512_permutex2var_ps(a, c.even, b), right = _mm512_permutex2var_ps(a, c.odd, b);
            __mmask16 take = _mm512_cmp_ps_mask(right, left, _CMP_GT_OQ) |
                             _mm512_cmp_ps_mask(right, right, _CMP_UNORD_Q);
            pair_max[h] = _mm512_mask_blend_ps(take, left, right);
            pair_at[h] = _mm512_maskz_mov_ps(take, one);
        }
        __m512 up = _mm512_permutex2var_ps(pair_max[0], c.top, pair_max[1]);
        __m512 down = _mm512_permutex2var_ps(pair_max[0], c.bot, pair_max[1]);
        __m512 up_at = _mm512_permutex2var_ps(pair_at[0], c.top, pair_at[1]);
        __m512 down_at = _mm512_add_ps(_mm512_permutex2var_ps(pair_at[0], c.bot, pair_at[1]), below);
        __mmask16 take = _mm512_cmp_ps_mask(down, up, _CMP_GT_OQ) |
                         _mm512_cmp_ps_mask(down, down, _CMP_UNORD_Q);
        __m512i row = wrap_rows(_mm512_add_epi32(_mm512_set1_epi32(first), c.row), oh);
        __m512i corner = _mm512_add_epi32(_mm512_mullo_epi32(row, width2), c.col);
        __m512 at = _mm512_add_ps(_mm512_cvtepi32_ps(corner), _mm512_mask_blend_ps(take, up_at, down_at));
        const __mmask16 out = first_lanes((rows - r) * ow < c.per ? (rows - r) * ow : c.per);
        if (whole_out) {
            _mm512_storeu_ps(y + r * ow, _mm512_mask_blend_ps(take, up, down));
            _mm512_storeu_ps(where + r * ow, at);
        } else {
            _mm512_mask_storeu_ps(y + r * ow, out, _mm512_mask_blend_ps(take, up, down));
            _mm512_mask_storeu_ps(where + r * ow, out, at);
        }
        for (first += c.g; first >= j->oh;) first -= (int32_t)j->oh;
    }
}

/* Backward over planes [lo, hi) of the tall image when every index lies in its own window's
 * 2x2 block (what forward writes): the blocks tile the planes, so each input value is its
 * window's gradient or 0, written once, without the zeroing pass (0 + dy, as the scatter's
 * sum gives: -0 becomes +0). Returns 0, having written part of dx, on any other index. */
__attribute__((target("avx512f"))) static int tall_2x2_backward(const PoolJob *j, int64_t lo,
                                                               int64_t hi) {
    const int64_t ow = j->ow, w = j->w, rows = (hi - lo) * j->oh;
    Tall2x2 c;
    tall_2x2_setup(&c, ow);
    /* input value p of a step (p < 64) belongs to window win[p] at offset off[p] from its corner */
    __m512i win[4];
    __m512 off[4];
    for (int v = 0; v < 4; v++) {
        int32_t wv[16];
        float ov[16];
        for (int l = 0; l < 16; l++) {
            int p = 16 * v + l, rr = p / (int)w, cc = p % (int)w;
            wv[l] = ((rr / 2) * (int)ow + cc / 2) & 15;
            ov[l] = (float)((rr % 2) * w + cc % 2);
        }
        win[v] = _mm512_loadu_si512(wv);
        off[v] = _mm512_loadu_ps(ov);
    }
    const float *dy = j->y + lo * j->oh * ow, *where = j->idx + lo * j->oh * ow; /* (rows, OW) */
    float *dx = j->dx + lo * j->h * w; /* (rows * 2, W) */
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 below = _mm512_set1_ps((float)w), below1 = _mm512_set1_ps((float)w + 1.0f);
    const __m512i oh = _mm512_set1_epi32((int32_t)j->oh), width2 = _mm512_set1_epi32(2 * (int32_t)w);
    int32_t first = 0; /* the plane row of the step's first output row */
    for (int64_t r = 0; r < rows; r += c.g) {
        const int64_t in = (rows - r < c.g ? rows - r : c.g) * 2 * w;
        const __mmask16 out = first_lanes((rows - r) * ow < c.per ? (rows - r) * ow : c.per);
        __m512i row = wrap_rows(_mm512_add_epi32(_mm512_set1_epi32(first), c.row), oh);
        __m512i corner = _mm512_add_epi32(_mm512_mullo_epi32(row, width2), c.col);
        __m512 at = _mm512_sub_ps(_mm512_maskz_loadu_ps(out, where + r * ow), _mm512_cvtepi32_ps(corner));
        __mmask16 inside = _mm512_cmp_ps_mask(at, zero, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(at, one, _CMP_EQ_OQ) |
                           _mm512_cmp_ps_mask(at, below, _CMP_EQ_OQ) | _mm512_cmp_ps_mask(at, below1, _CMP_EQ_OQ);
        if ((inside & out) != out) return 0;
        __m512 g = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(out, dy + r * ow));
        float *dst = dx + r * 2 * w;
        for (int v = 0; v < 4 && 16 * v < in; v++) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_permutexvar_ps(win[v], at), off[v], _CMP_EQ_OQ);
            __m512 values = _mm512_maskz_mov_ps(hit, _mm512_permutexvar_ps(win[v], g));
            if (in - 16 * v >= 16) /* a plain store where it can: masked stores are slow on AMD */
                _mm512_storeu_ps(dst + 16 * v, values);
            else
                _mm512_mask_storeu_ps(dst + 16 * v, first_lanes(in - 16 * v), values);
        }
        for (first += c.g; first >= j->oh;) first -= (int32_t)j->oh;
    }
    return 1;
}
#endif

/* 2x2 windows, stride 2, no padding, on AVX-512 where the CPU has it: even planes with
 * OW <= 16 as one tall image, others a row at a time; on AVX2 a row at a time. */
static int forward_planes_2x2(const PoolJob *j, int64_t lo, int64_t hi) {
#ifdef POOL_AVX512
    const int64_t h = j->h, w = j->w, oh = j->oh, ow = j->ow;
    if (gemm_avx2()) { /* AVX2 (no AVX-512, or forbidden) */
        for (int64_t pl = lo; pl < hi; pl++)
            for (int64_t i = 0; i < oh; i++)
                row_2x2_avx2(j->y + (pl * oh + i) * ow, j->idx + (pl * oh + i) * ow,
                             j->x + pl * h * w, (int32_t)(2 * i * w), (int32_t)w, ow);
        return 1;
    }
    if (!gemm_avx512()) return 0;
    if (h == 2 * oh && w == 2 * ow && ow <= 16) {
        tall_2x2_forward(j, lo, hi);
        return 1;
    }
    for (int64_t pl = lo; pl < hi; pl++)
        for (int64_t i = 0; i < oh; i++)
            row_2x2_avx512(j->y + (pl * oh + i) * ow, j->idx + (pl * oh + i) * ow,
                           j->x + pl * h * w, (int32_t)(2 * i * w), (int32_t)w, ow);
    return 1;
#else
    (void)j, (void)lo, (void)hi;
    return 0;
#endif
}

/* Planes [lo, hi) of the forward pass. A whole output row at a time: for each window offset
 * (r, c) in scan order, every window of the row looks at one element. The iterations over q are
 * independent (no chain through one running max), so they overlap and vectorize; the running
 * max lives in the output row and its position in the indices row (-1 until the window saw a
 * real element). */
static void forward_planes(void *ctx, int64_t lo, int64_t hi, int part) {
    const PoolJob *j = ctx;
    const int64_t h = j->h, w = j->w, oh = j->oh, ow = j->ow;
    const int kh = j->kh, kw = j->kw, sh = j->sh, sw = j->sw, ph = j->ph, pw = j->pw;
    (void)part;
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * oh <= h &&
        2 * ow <= w && forward_planes_2x2(j, lo, hi)) /* not a ceil-mode window past the edge */
        return;
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *src = j->x + pl * h * w; /* (H, W) */
        for (int64_t i = 0; i < oh; i++) {
            float *best = j->y + (pl * oh + i) * ow;    /* (OW) */
            float *where = j->idx + (pl * oh + i) * ow; /* (OW) */
            for (int64_t q = 0; q < ow; q++) best[q] = -INFINITY, where[q] = -1.0f;
            int64_t r0 = i * sh - ph, r1 = r0 + kh;
            if (r0 < 0) r0 = 0;
            if (r1 > h) r1 = h;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = 0; c < kw; c++) {
                    int64_t a, b; /* windows q whose column q*sw - pw + c is inside [0, w) */
                    window_columns(&a, &b, c, w, ow, sw, pw);
                    int32_t base = (int32_t)(r * w - pw + c); /* window q looks at base + q*sw */
                    if (sw == 2) window_step(best, where, src, base, a, b, 2);
                    else if (sw == 1) window_step(best, where, src, base, a, b, 1);
                    else window_step(best, where, src, base, a, b, sw);
                }
        }
    }
}

/* Planes [lo, hi) of the backward pass: zero, then route each gradient to its maximum. Where
 * every index lies in its output's 2x2 block (2i.., 2q..), as 2x2 stride-2 pooling gives, the
 * blocks tile the plane and a vector path writes them: AVX-512's tall image for even planes with
 * OW <= 16, else AVX2's rows of 8 windows or more (on AVX-512 machines too). */
static void backward_planes(void *ctx, int64_t lo, int64_t hi, int part) {
    PoolJob *j = ctx;
    const int64_t in_plane = j->h * j->w, out_plane = j->oh * j->ow;
    const float *dy = j->y;
#ifdef POOL_AVX512
    if (2 * j->oh <= j->h && 2 * j->ow <= j->w) { /* disjoint blocks: each input gets <= 1 value */
        if (gemm_avx512() && j->h == 2 * j->oh && j->w == 2 * j->ow && j->ow <= 16 &&
            tall_2x2_backward(j, lo, hi))
            return;
        /* (narrower rows: the scatter below was as fast as 4-window steps, LeNet's 4x4 maps) */
        if ((gemm_avx512() || gemm_avx2()) && j->ow >= 8 && planes_2x2_backward_avx2(j, lo, hi)) return;
    }
#endif
    memset(j->dx + lo * in_plane, 0, (size_t)((hi - lo) * in_plane) * sizeof *j->dx);
    for (int64_t pl = lo; pl < hi; pl++)
        for (int64_t q = 0; q < out_plane; q++) {
            float f = j->idx[pl * out_plane + q];
            if (!(f >= 0.0f && f < (float)in_plane)) { /* not from forward */
                j->status[part] = MN_ERR_RANGE;
                return;
            }
            j->dx[pl * in_plane + (int64_t)f] += dy[pl * out_plane + q];
        }
}

const char *maxpool_2x2_path(void) {
#ifdef POOL_AVX512
    if (gemm_avx512()) return "avx512";
    if (gemm_avx2()) return "avx2";
#endif
    return "generic";
}

int maxpool2d_forward(Tensor *out, Tensor *indices, const Tensor *inp, int kh, int kw, int sh,
                      int sw, int ph, int pw, int ceil) {
    if (!nn_is_f32(inp)) return MN_ERR_DTYPE;
    if (inp->ndim != 4) return MN_ERR_SHAPE;
    const int64_t h = inp->shape[2], w = inp->shape[3];
    int64_t oh, ow;
    int st = pool2d_out_size(&oh, &ow, h, w, kh, kw, sh, sw, ph, pw, ceil);
    if (st) return st;
    const int64_t out_shape[4] = {inp->shape[0], inp->shape[1], oh, ow};
    if (!nn_has_shape(out, 4, out_shape) || !nn_has_shape(indices, 4, out_shape))
        return MN_ERR_SHAPE;
    if (tensor_overlaps(out, inp) || tensor_overlaps(indices, inp) || tensor_overlaps(out, indices))
        return MN_ERR_ARG;
    PoolJob job = {tensor_f32(inp), tensor_f32(out), tensor_f32(indices), NULL, h, w, oh, ow,
                   kh, kw, sh, sw, ph, pw, {0}};
    parallel_for(inp->shape[0] * inp->shape[1], plane_grain(h * w), forward_planes, &job);
    return MN_OK;
}

int maxpool2d_backward(Tensor *dinp, const Tensor *dout, const Tensor *indices) {
    if (!nn_is_f32(dinp) || !nn_is_f32(dout) || !nn_same_shape(indices, dout)) return MN_ERR_SHAPE;
    if (dinp->ndim != 4 || dout->ndim != 4 || dinp->shape[0] != dout->shape[0] ||
        dinp->shape[1] != dout->shape[1])
        return MN_ERR_SHAPE;
    if (tensor_overlaps(dinp, dout) || tensor_overlaps(dinp, indices)) return MN_ERR_ARG;
    PoolJob job = {NULL, tensor_f32(dout), tensor_f32(indices), tensor_f32(dinp),
                   dinp->shape[2], dinp->shape[3], dout->shape[2], dout->shape[3],
                   0, 0, 0, 0, 0, 0, {0}};
    parallel_for(dout->shape[0] * dout->shape[1], plane_grain(dinp->shape[2] * dinp->shape[3]),
                 backward_planes, &job);
    for (int p = 0; p < PARALLEL_MAX_THREADS; p++)
        if (job.status[p]) return job.status[p];
    return MN_OK;
}

/* ---- average pooling ---------------------------------------------------------------------------- */

typedef struct {
    const float *x;  /* forward: (N*C, H, W) input */
    float *y;        /* forward: (N*C, OH, OW) output */
    const float *dy; /* backward: (N*C, OH, OW) */
    float *dx;       /* backward: (N*C, H, W) */
    int64_t h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw, include_pad;
} AvgJob;

/* Window (i, j)'s rows [*r0, *r1) and columns [*c0, *c1) inside the image, and 1 / its divisor. */
static float avg_window(const AvgJob *j, int64_t i, int64_t q, int64_t *r0, int64_t *r1,
                        int64_t *c0, int64_t *c1) {
    int64_t hs = i * j->sh - j->ph, ws = q * j->sw - j->pw;
    int64_t he = hs + j->kh, we = ws + j->kw;
    if (he > j->h + j->ph) he = j->h + j->ph; /* a ceil-mode window past the padding */
    if (we > j->w + j->pw) we = j->w + j->pw;
    const int64_t padded = (he - hs) * (we - ws);
    *r0 = hs > 0 ? hs : 0, *c0 = ws > 0 ? ws : 0;
    *r1 = he < j->h ? he : j->h, *c1 = we < j->w ? we : j->w;
    const int64_t inside = (*r1 - *r0) * (*c1 - *c0);
    return 1.0f / (float)(j->include_pad ? padded : inside);
}

static void avg_forward_planes(void *ctx, int64_t lo, int64_t hi, int part) {
    const AvgJob *j = ctx;
    (void)part;
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *src = j->x + pl * j->h * j->w; /* (H, W) */
        float *dst = j->y + pl * j->oh * j->ow;     /* (OH, OW) */
        for (int64_t i = 0; i < j->oh; i++)
            for (int64_t q = 0; q < j->ow; q++) {
                int64_t r0, r1, c0, c1;
                const float inv = avg_window(j, i, q, &r0, &r1, &c0, &c1);
                float sum = 0.0f;
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = c0; c < c1; c++) sum += src[r * j->w + c];
                dst[i * j->ow + q] = sum * inv;
            }
    }
}

static void avg_backward_planes(void *ctx, int64_t lo, int64_t hi, int part) {
    const AvgJob *j = ctx;
    (void)part;
    memset(j->dx + lo * j->h * j->w, 0, (size_t)((hi - lo) * j->h * j->w) * sizeof *j->dx);
    for (int64_t pl = lo; pl < hi; pl++) {
        float *dst = j->dx + pl * j->h * j->w;          /* (H, W) */
        const float *g = j->dy + pl * j->oh * j->ow;    /* (OH, OW) */
        for (int64_t i = 0; i < j->oh; i++)
            for (int64_t q = 0; q < j->ow; q++) {
                int64_t r0, r1, c0, c1;
                const float share = g[i * j->ow + q] * avg_window(j, i, q, &r0, &r1, &c0, &c1);
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = c0; c < c1; c++) dst[r * j->w + c] += share;
            }
    }
}

/* The job for inp or dinp (N, C, H, W) and out or dout (N, C, OH, OW), shapes checked. */
static int avg_job(AvgJob *j, const Tensor *big, const Tensor *small, int kh, int kw, int sh,
                   int sw, int ph, int pw, int ceil, int include_pad) {
    if (!nn_is_f32(big) || !nn_is_f32(small)) return MN_ERR_DTYPE;
    if (big->ndim != 4) return MN_ERR_SHAPE;
    int64_t oh, ow;
    int st = pool2d_out_size(&oh, &ow, big->shape[2], big->shape[3], kh, kw, sh, sw, ph, pw, ceil);
    if (st) return st;
    const int64_t out_shape[4] = {big->shape[0], big->shape[1], oh, ow};
    if (!nn_has_shape(small, 4, out_shape)) return MN_ERR_SHAPE;
    if (tensor_overlaps(big, small)) return MN_ERR_ARG;
    *j = (AvgJob){NULL, NULL, NULL, NULL, big->shape[2], big->shape[3], oh, ow,
                  kh, kw, sh, sw, ph, pw, include_pad != 0};
    return MN_OK;
}

int avgpool2d_forward(Tensor *out, const Tensor *inp, int kh, int kw, int sh, int sw, int ph,
                      int pw, int ceil, int count_include_pad) {
    AvgJob j;
    int st = avg_job(&j, inp, out, kh, kw, sh, sw, ph, pw, ceil, count_include_pad);
    if (st) return st;
    j.x = tensor_f32(inp), j.y = tensor_f32(out);
    parallel_for(inp->shape[0] * inp->shape[1], plane_grain(j.h * j.w), avg_forward_planes, &j);
    return MN_OK;
}

int avgpool2d_backward(Tensor *dinp, const Tensor *dout, int kh, int kw, int sh, int sw, int ph,
                       int pw, int ceil, int count_include_pad) {
    AvgJob j;
    int st = avg_job(&j, dinp, dout, kh, kw, sh, sw, ph, pw, ceil, count_include_pad);
    if (st) return st;
    j.dy = tensor_f32(dout), j.dx = tensor_f32(dinp);
    parallel_for(dinp->shape[0] * dinp->shape[1], plane_grain(j.h * j.w), avg_backward_planes, &j);
    return MN_OK;
}
