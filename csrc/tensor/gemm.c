#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/gemm.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sys/parallel.h"

/* Blocking (BLIS's scheme, reduced to what the kernels' shapes need): K in blocks of at most
 * GEMM_KC (a block up to 1.5x that is kept whole, so K = 288 is one block), M in blocks of at most
 * GEMM_MC rows packed into MR-row panels (the A block stays in L2), and for each NR-column strip
 * of B, packed once per A block, the micro-kernel runs over every MR-row panel of the block (the
 * strip stays in L1). Packing pads the panels with zeros, so the micro-kernel always computes a
 * whole MR x NR tile; edge tiles go through a small buffer. */
#define GEMM_KC 256
#define GEMM_MC 384
#define GEMM_MAX_MR 8
#define GEMM_MAX_NR 32
#define GEMM_KC_MAX (GEMM_KC + GEMM_KC / 2)

/* c[i*ldc + j] = sum over k of a[k*MR + i] * b[k*NR + j] (+ c[i*ldc + j] when accumulate), for
 * the MR x NR tile; a and b 64-byte aligned, c any alignment. */
typedef void (*MicroKernel)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                            int accumulate);

/* Asks for the lines of a tile of C (rows x floats, ldc apart) before a kernel's loop: C's rows
 * are far apart (a linear layer's gradients: 36 KB), which no prefetcher guesses, so every tile
 * would wait for memory at its end (the weight gradient's product ran at half speed). */
static inline void prefetch_tile(const float *c, int64_t ldc, int rows, int floats) {
    for (int i = 0; i < rows; i++) {
        for (int q = 0; q < floats; q += 16) __builtin_prefetch(c + i * ldc + q, 1, 3);
        __builtin_prefetch(c + i * ldc + floats - 1, 1, 3);
    }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GEMM_X86 1
#include <immintrin.h>

/* 8 x 32 on AVX-512: 16 accumulators, the A value broadcast from the packed panel; stores the
 * first `cols` columns of the tile (masked stores past 16 and 32). */
__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512(
    int64_t kc, const float *a, const float *b, int64_t ldb, float *acc, int64_t ldc,
    int accumulate, int cols) {
    __m512 c[8][2];
    for (int i = 0; i < 8; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    prefetch_tile(acc, ldc, 8, cols);
    for (int64_t k = 0; k < kc; k++, a += 8, b += ldb) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < 8; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
        }
    }
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
    for (int i = 0; i < 8; i++) {
        float *row = acc + i * ldc;
        if (cols == 32) {
            if (accumulate) {
                c[i][0] = _mm512_add_ps(c[i][0], _mm512_loadu_ps(row));
                c[i][1] = _mm512_add_ps(c[i][1], _mm512_loadu_ps(row + 16));
            }
            _mm512_storeu_ps(row, c[i][0]);
            _mm512_storeu_ps(row + 16, c[i][1]);
            continue;
        }
        if (accumulate) {
            c[i][0] = _mm512_add_ps(c[i][0], _mm512_maskz_loadu_ps(m0, row));
            c[i][1] = _mm512_add_ps(c[i][1], _mm512_maskz_loadu_ps(m1, row + 16));
        }
        _mm512_mask_storeu_ps(row, m0, c[i][0]);
        _mm512_mask_storeu_ps(row + 16, m1, c[i][1]);
    }
}

__attribute__((target("avx512f"))) static void kernel_avx512(int64_t kc, const float *a,
                                                             const float *b, float *acc,
                                                             int64_t ldc, int accumulate) {
    tile_avx512(kc, a, b, 32, acc, ldc, accumulate, 32);
}

/* The tile's first cols (< 32) columns: a product's last, narrower strip stored in place. */
__attribute__((target("avx512f"))) static void kernel_avx512_narrow(int64_t kc, const float *a,
                                                                    const float *b, float *acc,
                                                                    int64_t ldc, int accumulate,
                                                                    int cols) {
    tile_avx512(kc, a, b, 32, acc, ldc, accumulate, cols);
}

/* C (m, n) (+)= A @ B with A packed (one block: m <= GEMM_MC, a multiple of 8, and k <= GEMM_KC_MAX)
 * and B's rows read in place, ldb apart (64-byte aligned): no strips to pack when B's rows are
 * already in the cache (Winograd's V). The sums are the packed kernel's, in the same order. */
__attribute__((target("avx512f"))) static void gemm_rows_in_place_avx512(
    int64_t m, int64_t n, int64_t k, const float *packed_a, const float *b, int64_t ldb,
    int accumulate, float *c, int64_t ldc) {
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
        const int cols = n - j0 < 32 ? (int)(n - j0) : 32;
        for (int64_t r0 = 0; r0 < m; r0 += 8)
            tile_avx512(k, packed_a + r0 * k, b + j0, ldb, c + r0 * ldc + j0, ldc, accumulate, cols);
    }
}

/* pack_b_strip's narrow last strip, non-transposed, on AVX-512: masked loads, zeros past cols. */
__attribute__((target("avx512f"))) static void pack_b_narrow_avx512(float *dst, const float *b,
                                                                    int64_t ldb, int64_t cols,
                                                                    int64_t kc) {
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols > 16 ? (1u << (cols - 16)) - 1 : 0);
    for (int64_t k = 0; k < kc; k++, dst += 32, b += ldb) {
        _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, b));
        _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, b + 16));
    }
}

/* One row of a step of the AVX2 kernels: ai = A's value of row i, times B's 16 values b0:b1,
 * added into the row's two accumulators lo:hi. */
#define GEMM_AVX2_ROW(i, lo, hi)           \
    ai = _mm256_broadcast_ss(a + (i));     \
    lo = _mm256_fmadd_ps(ai, b0, lo);      \
    hi = _mm256_fmadd_ps(ai, b1, hi)

/* 6 x 16 on AVX2 + FMA: 12 accumulators, named one by one: held in an array, GCC 12 kept them in
 * registers but also stored all twelve to the stack at every step (a third of the speed). B's
 * rows of 16 are ldb apart (32-byte aligned). */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2(
    int64_t kc, const float *a, const float *b, int64_t ldb, float *acc, int64_t ldc,
    int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    prefetch_tile(acc, ldc, 6, 16);
    for (int64_t k = 0; k < kc; k++, a += 6, b += ldb) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 ai;
        GEMM_AVX2_ROW(0, c00, c01);
        GEMM_AVX2_ROW(1, c10, c11);
        GEMM_AVX2_ROW(2, c20, c21);
        GEMM_AVX2_ROW(3, c30, c31);
        GEMM_AVX2_ROW(4, c40, c41);
        GEMM_AVX2_ROW(5, c50, c51);
    }
    const __m256 c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < 6; i++) {
        float *row = acc + i * ldc;
        __m256 lo = c[i][0], hi = c[i][1];
        if (accumulate) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(row));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(row + 8));
        }
        _mm256_storeu_ps(row, lo);
        _mm256_storeu_ps(row + 8, hi);
    }
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(int64_t kc, const float *a,
                                                            const float *b, float *acc,
                                                            int64_t ldc, int accumulate) {
    tile_avx2(kc, a, b, 16, acc, ldc, accumulate);
}

/* tile_avx2's first `rows` (2 or 4) rows into acc (rows, 16), for a last panel of fewer than 6
 * rows (M = 32 or 64 leaves 2 or 4): 4 or 8 accumulators and a third or two thirds of the
 * multiplies, the same sums. */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2_upto4(
    int64_t kc, const float *a, const float *b, int64_t ldb, float *acc, int rows) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
    __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int64_t k = 0; k < kc; k++, a += 6, b += ldb) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 ai;
        GEMM_AVX2_ROW(0, c00, c01);
        GEMM_AVX2_ROW(1, c10, c11);
        if (rows > 2) {
            GEMM_AVX2_ROW(2, c20, c21);
            GEMM_AVX2_ROW(3, c30, c31);
        }
    }
    const __m256 c[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int i = 0; i < rows; i++) {
        _mm256_store_ps(acc + i * 16, c[i][0]);
        _mm256_store_ps(acc + i * 16 + 8, c[i][1]);
    }
}
#undef GEMM_AVX2_ROW

/* The first `rows` (1..6) rows of a 6 x 16 tile into acc (6, 16), 32-byte aligned: the fewest
 * rows' kernel that covers them. */
__attribute__((target("avx2,fma"))) static void tile_avx2_rows(int64_t kc, const float *a,
                                                               const float *b, int64_t ldb,
                                                               float *acc, int64_t rows) {
    if (rows <= 2)
        tile_avx2_upto4(kc, a, b, ldb, acc, 2);
    else if (rows <= 4)
        tile_avx2_upto4(kc, a, b, ldb, acc, 4);
    else
        tile_avx2(kc, a, b, ldb, acc, 16, 0);
}

/* gemm_rows_in_place_avx512 on AVX2 (m any, one A block): B's rows read in place, ldb apart
 * (32-byte aligned; a strip's last columns may be read past n, and ignored); the tiles cut by m
 * or n go through a buffer. The packed kernel's sums, in the same order. */
__attribute__((target("avx2,fma"))) static void gemm_rows_in_place_avx2(
    int64_t m, int64_t n, int64_t k, const float *packed_a, const float *b, int64_t ldb,
    int accumulate, float *c, int64_t ldc) {
    float edge[6 * 16] __attribute__((aligned(32)));
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
        const int64_t cols = n - j0 < 16 ? n - j0 : 16;
        for (int64_t r0 = 0; r0 < m; r0 += 6) {
            const int64_t rows = m - r0 < 6 ? m - r0 : 6;
            float *tile = c + r0 * ldc + j0;
            if (rows == 6 && cols == 16) {
                tile_avx2(k, packed_a + r0 * k, b + j0, ldb, tile, ldc, accumulate);
                continue;
            }
            tile_avx2_rows(k, packed_a + r0 * k, b + j0, ldb, edge, rows);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < cols; j++)
                    tile[i * ldc + j] = accumulate ? tile[i * ldc + j] + edge[i * 16 + j] : edge[i * 16 + j];
        }
    }
}

/* r[i][j] = the 8 x 8 block's element (j, i), in registers. */
__attribute__((target("avx2"), always_inline)) static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* dst[c*ldd + r] = src[r*lds + c] for an 8 x 8 block: the packing's transposes, in registers. */
__attribute__((target("avx2"))) static void transpose8x8(float *dst, int64_t ldd, const float *src,
                                                        int64_t lds) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    transpose8(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* dst[k*6 + i] = src[i*lds + k] for 6 rows of kc floats: the AVX2 kernel's A panels, 8 columns at
 * a time through transpose8 (two rows of zeros), stored 4 + 2 floats a column. */
__attribute__((target("avx2"))) static void pack_rows6(float *dst, const float *src, int64_t lds,
                                                      int64_t kc) {
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; i++) r[i] = _mm256_loadu_ps(src + i * lds + k);
        r[6] = r[7] = _mm256_setzero_ps();
        transpose8(r);
        for (int j = 0; j < 8; j++) {
            float *d = dst + (k + j) * 6;
            _mm_storeu_ps(d, _mm256_castps256_ps128(r[j]));
            _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(r[j], 1));
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < 6; i++) dst[k * 6 + i] = src[i * lds + k];
}

/* dst[k*nr + j] = src[k*lds + j] for kc rows of nr (a multiple of 8) floats: without a memcpy
 * call per 128-byte row. */
__attribute__((target("avx2"))) static void copy_strip(float *dst, const float *src, int64_t lds,
                                                      int64_t kc, int nr) {
    for (int64_t k = 0; k < kc; k++, dst += nr, src += lds)
        for (int j = 0; j < nr; j += 8) _mm256_store_ps(dst + j, _mm256_loadu_ps(src + j));
}
#elif defined(__GNUC__) && defined(__aarch64__)
#define GEMM_NEON 1
#include <arm_neon.h>

/* 8 x 12 on NEON (every AArch64 CPU has it): 24 accumulators of 4 lanes out of the 32 vector
 * registers, the 8 A values of a step in two registers, each multiplied by lane into the 3 B
 * vectors. The accumulators are named one by one: held in an array c[8][3], GCC 12 stored all 24
 * to the stack at every step (as it did the AVX2 kernel's). */
static void kernel_neon(int64_t kc, const float *a, const float *b, float *acc, int64_t ldc,
                        int accumulate) {
    float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    float32x4_t c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    float32x4_t c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    float32x4_t c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    prefetch_tile(acc, ldc, 8, 12);
    for (int64_t k = 0; k < kc; k++, a += 8, b += 12) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
/* row i += A[i] * the B step: the lane index must be a constant */
#define NEON_ROW(r0, r1, r2, av, lane)           \
    r0 = vfmaq_laneq_f32(r0, b0, av, lane);      \
    r1 = vfmaq_laneq_f32(r1, b1, av, lane);      \
    r2 = vfmaq_laneq_f32(r2, b2, av, lane)
        NEON_ROW(c00, c01, c02, a0, 0);
        NEON_ROW(c10, c11, c12, a0, 1);
        NEON_ROW(c20, c21, c22, a0, 2);
        NEON_ROW(c30, c31, c32, a0, 3);
        NEON_ROW(c40, c41, c42, a1, 0);
        NEON_ROW(c50, c51, c52, a1, 1);
        NEON_ROW(c60, c61, c62, a1, 2);
        NEON_ROW(c70, c71, c72, a1, 3);
#undef NEON_ROW
    }
    float32x4_t c[8][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32},
                           {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
    for (int i = 0; i < 8; i++) {
        float *row = acc + i * ldc;
        for (int v = 0; v < 3; v++) {
            if (accumulate) c[i][v] = vaddq_f32(c[i][v], vld1q_f32(row + 4 * v));
            vst1q_f32(row + 4 * v, c[i][v]);
        }
    }
}
#endif

/* 4 x 8 in plain C (any CPU; the compiler vectorizes the j loop). */
static void kernel_generic(int64_t kc, const float *a, const float *b, float *acc, int64_t ldc,
                           int accumulate) {
    float c[4][8] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += 4, b += 8)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++) c[i][j] += a[i] * b[j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) acc[i * ldc + j] = c[i][j] + (accumulate ? acc[i * ldc + j] : 0.0f);
}

typedef struct {
    const char *name;
    MicroKernel fn;
    int mr, nr;
    int transpose8; /* transpose8x8 may run (AVX2) */
} Kernel;

static const Kernel *kernel(void) {
    static const Kernel generic = {"generic", kernel_generic, 4, 8, 0};
#ifdef GEMM_X86
    static const Kernel avx512 = {"avx512", kernel_avx512, 8, 32, 1};
    static const Kernel avx2 = {"avx2", kernel_avx2, 6, 16, 1};
    static const Kernel *chosen = NULL;
    if (!chosen) { /* a benign race: every thread picks the same */
        __builtin_cpu_init();
        int has512 = __builtin_cpu_supports("avx512f");
        int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        const char *want = getenv("MNIST_GEMM_KERNEL"); /* tests: a narrower kernel than the best */
        if (want && strcmp(want, "generic") == 0) has512 = has2 = 0;
        else if (want && strcmp(want, "avx2") == 0) has512 = 0;
        chosen = has512 ? &avx512 : has2 ? &avx2 : &generic;
    }
    return chosen;
#elif defined(GEMM_NEON)
    static const Kernel neon = {"neon", kernel_neon, 8, 12, 0};
    static const Kernel *chosen = NULL;
    if (!chosen) { /* MNIST_GEMM_KERNEL=generic: the plain C kernel, for tests */
        const char *want = getenv("MNIST_GEMM_KERNEL");
        chosen = want && strcmp(want, "generic") == 0 ? &generic : &neon;
    }
    return chosen;
#else
    return &generic;
#endif
}

const char *gemm_kernel_name(void) { return kernel()->name; }

int gemm_avx512(void) { return kernel()->mr == 8 && kernel()->nr == 32; }

int gemm_avx2(void) { return kernel()->mr == 6 && kernel()->nr == 16; }

void gemm_transpose(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                    int64_t cols) {
    int64_t r0 = 0, c0 = 0; /* rows and columns done by 8 x 8 blocks */
#ifdef GEMM_X86
    if (kernel()->transpose8) {
        r0 = rows / 8 * 8, c0 = cols / 8 * 8;
        for (int64_t r = 0; r < r0; r += 8)
            for (int64_t c = 0; c < c0; c += 8) transpose8x8(dst + c * ldd + r, ldd, src + r * lds + c, lds);
    }
#endif
    for (int64_t r = 0; r < rows; r++) /* the edges (everything without AVX2) */
        for (int64_t c = r < r0 ? c0 : 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
}

/* Per-thread packing buffers, made on first use and kept (the pool's threads live on). */
static _Thread_local float *pack_a, *pack_b;

static int buffers(void) {
    if (!pack_a) pack_a = aligned_alloc(64, sizeof(float) * GEMM_MC * GEMM_KC_MAX);
    if (!pack_b) pack_b = aligned_alloc(64, sizeof(float) * GEMM_MAX_NR * GEMM_KC_MAX);
    return pack_a && pack_b;
}

/* dst (panels of mr rows: dst[(p*kc + k)*mr + i]) from rows [0, m) and columns [0, kc) of op(A),
 * where op(A)[i][k] = a[i*lda + k] (or a[k*lda + i] when trans); rows past m are zero. */
static void pack_a_block(float *dst, const float *a, int64_t lda, int trans, int64_t m,
                         int64_t kc, const Kernel *kern) {
    const int mr = kern->mr;
    for (int64_t i0 = 0; i0 < m; i0 += mr, dst += kc * mr) {
        int64_t rows = m - i0 < mr ? m - i0 : mr;
#ifdef GEMM_X86
        if (!trans && rows == 8 && mr == 8 && kern->transpose8) { /* 8 rows x 8 columns at a time */
            int64_t k = 0;
            for (; k + 8 <= kc; k += 8) transpose8x8(dst + k * 8, 8, a + i0 * lda + k, lda);
            for (; k < kc; k++)
                for (int64_t i = 0; i < 8; i++) dst[k * 8 + i] = a[(i0 + i) * lda + k];
            continue;
        }
        if (trans && rows == mr && mr % 8 == 0 && kern->transpose8) { /* whole rows of mr */
            copy_strip(dst, a + i0, lda, kc, mr);
            continue;
        }
        if (rows == 6 && mr == 6 && kern->transpose8) { /* the AVX2 kernel's whole panels */
            if (!trans) pack_rows6(dst, a + i0 * lda, lda, kc);
            else /* a constant size: inlined */
                for (int64_t k = 0; k < kc; k++) memcpy(dst + k * 6, a + k * lda + i0, 6 * sizeof(float));
            continue;
        }
#endif
        if (trans) {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = a + k * lda + i0; /* (rows) contiguous */
                float *d = dst + k * mr;
                int64_t i = 0;
                for (; i < rows; i++) d[i] = src[i];
                for (; i < mr; i++) d[i] = 0.0f;
            }
        } else {
            for (int64_t i = 0; i < mr; i++) {
                if (i >= rows) {
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = 0.0f;
                    continue;
                }
                const float *src = a + (i0 + i) * lda; /* (kc) contiguous */
                for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = src[k];
            }
        }
    }
}

/* dst[k*nr + j] from columns [0, cols) and rows [0, kc) of op(B), where op(B)[k][j] =
 * b[k*ldb + j] (or b[j*ldb + k] when trans); columns past cols are zero. */
static void pack_b_strip(float *dst, const float *b, int64_t ldb, int trans, int64_t cols,
                         int64_t kc, const Kernel *kern) {
    const int nr = kern->nr;
#ifdef GEMM_X86
    if (trans && nr % 8 == 0 && kern->transpose8) { /* 8 x 8 blocks, then the odd columns */
        const int64_t full = cols / 8 * 8;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8)
            for (int64_t j = 0; j < full; j += 8) transpose8x8(dst + k * nr + j, nr, b + j * ldb + k, ldb);
        for (; k < kc; k++)
            for (int64_t j = 0; j < full; j++) dst[k * nr + j] = b[j * ldb + k];
        for (int64_t j = full; j < nr; j++) {
            if (j >= cols) {
                for (k = 0; k < kc; k++) dst[k * nr + j] = 0.0f;
                continue;
            }
            const float *src = b + j * ldb; /* (kc) contiguous */
            for (k = 0; k < kc; k++) dst[k * nr + j] = src[k];
        }
        return;
    }
#endif
    if (trans) {
        for (int64_t j = 0; j < nr; j++) {
            if (j >= cols) {
                for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = 0.0f;
                continue;
            }
            const float *src = b + j * ldb; /* (kc) contiguous */
            for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = src[k];
        }
    } else if (cols == nr) {
#ifdef GEMM_X86
        if (kern->transpose8 && nr % 8 == 0) {
            copy_strip(dst, b, ldb, kc, nr);
            return;
        }
#endif
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * nr, b + k * ldb, sizeof(float) * nr);
    } else {
#ifdef GEMM_X86
        if (nr == 32 && kern->transpose8) { /* the AVX-512 kernel's */
            pack_b_narrow_avx512(dst, b, ldb, cols, kc);
            return;
        }
#endif
        for (int64_t k = 0; k < kc; k++) {
            int64_t j = 0;
            for (; j < cols; j++) dst[k * nr + j] = b[k * ldb + j];
            for (; j < nr; j++) dst[k * nr + j] = 0.0f;
        }
    }
}

/* C tile (rows x cols of it) = alpha * acc + beta * C; beta == 0 never reads C. With c_trans
 * the tile is stored transposed: element (i, j) goes to c[j*ldc + i]. */
static void store_tile(float *c, int64_t ldc, int c_trans, const float *acc, int nr, int64_t rows,
                       int64_t cols, float alpha, float beta) {
    if (c_trans) {
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                float *cij = c + j * ldc + i;
                *cij = alpha * acc[i * nr + j] + (beta == 0.0f ? 0.0f : beta * *cij);
            }
        return;
    }
    for (int64_t i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *ai = acc + i * nr;
        if (beta == 0.0f)
            for (int64_t j = 0; j < cols; j++) ci[j] = alpha * ai[j];
        else if (beta == 1.0f && alpha == 1.0f)
            for (int64_t j = 0; j < cols; j++) ci[j] += ai[j];
        else
            for (int64_t j = 0; j < cols; j++) ci[j] = alpha * ai[j] + beta * ci[j];
    }
}

/* The blocked product; with c_trans, C is stored transposed (C^T = op(B)^T op(A)^T computed as
 * this product with the operands swapped). */
/* The K block that starts at p0: GEMM_KC, or all that is left when that is at most GEMM_KC_MAX. */
static int64_t k_block(int64_t k, int64_t p0) { return k - p0 <= GEMM_KC_MAX ? k - p0 : GEMM_KC; }

/* Floats of one packed A block: mc rows rounded up to whole panels, times kc. */
static int64_t a_block_floats(int64_t mc, int64_t kc, const Kernel *kern) {
    return (mc + kern->mr - 1) / kern->mr * kern->mr * kc;
}

/* The blocked product; with c_trans, C is stored transposed (C^T = op(B)^T op(A)^T computed as
 * this product with the operands swapped). With packed_a (gemm_pack_a's layout: the blocks in
 * this loop's order), A is read from there instead of being packed. */
static void gemm_blocked(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                         float *c, int64_t ldc, int c_trans, const Kernel *kern,
                         const float *packed_a) {
    const int mr = kern->mr, nr = kern->nr;
    float acc[GEMM_MAX_MR * GEMM_MAX_NR] __attribute__((aligned(64)));
    for (int64_t p0 = 0; p0 < k; ) {
        int64_t kc = k_block(k, p0);
        float block_beta = p0 == 0 ? beta : 1.0f; /* later K blocks add to the first's result */
        /* whole tiles go straight to C when that is a plain store or add */
        int direct = !c_trans && alpha == 1.0f && (block_beta == 0.0f || block_beta == 1.0f);
        for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC) {
            int64_t mc = m - i0 < GEMM_MC ? m - i0 : GEMM_MC;
            const float *panels = packed_a; /* (mc / mr panels, kc, mr) */
            if (packed_a)
                packed_a += a_block_floats(mc, kc, kern);
            else
                pack_a_block(pack_a, trans_a ? a + p0 * lda + i0 : a + i0 * lda + p0, lda,
                             trans_a, mc, kc, kern), panels = pack_a;
            for (int64_t j0 = 0; j0 < n; j0 += nr) {
                int64_t cols = n - j0 < nr ? n - j0 : nr;
                const float *src = trans_b ? b + j0 * ldb + p0 : b + p0 * ldb + j0, *strip = pack_b;
                if (!trans_b && cols == nr && ldb == nr && ((uintptr_t)src & 63) == 0)
                    strip = src; /* B is already laid out as a packed strip */
                else
                    pack_b_strip(pack_b, src, ldb, trans_b, cols, kc, kern);
                for (int64_t r0 = 0; r0 < mc; r0 += mr) {
                    int64_t rows = mc - r0 < mr ? mc - r0 : mr;
                    float *tile = c_trans ? c + j0 * ldc + i0 + r0 : c + (i0 + r0) * ldc + j0;
                    if (direct && rows == mr && cols == nr) { /* the kernel writes C itself */
                        kern->fn(kc, panels + r0 * kc, strip, tile, ldc, block_beta != 0.0f);
                        continue;
                    }
#ifdef GEMM_X86
                    if (direct && rows == mr && kern->fn == kernel_avx512) { /* masked stores */
                        kernel_avx512_narrow(kc, panels + r0 * kc, strip, tile, ldc,
                                             block_beta != 0.0f, (int)cols);
                        continue;
                    }
                    if (kern->fn == kernel_avx2)
                        tile_avx2_rows(kc, panels + r0 * kc, strip, 16, acc, rows);
                    else
#endif
                        kern->fn(kc, panels + r0 * kc, strip, acc, nr, 0);
                    store_tile(tile, ldc, c_trans, acc, nr, rows, cols, alpha, block_beta);
                }
            }
        }
        p0 += kc;
    }
}

/* One or two rows of C (a single image through a linear layer): matrix-vector products need no
 * packing, which would cost as much as the product itself here. Vectors of 8 partial sums (the
 * compiler maps them to whatever the baseline has); the order of the sums is fixed. */
typedef float vec8 __attribute__((vector_size(32)));

#ifdef GEMM_X86
/* out[j] = dot(x, b_j) for 4 rows b_j (ldb apart) of k floats, 16 lanes at a time: a single image
 * through a linear layer reads the whole weight once, at the memory's speed. */
__attribute__((target("avx512f"))) static void dot4_avx512(float *out, const float *x,
                                                           const float *b, int64_t ldb, int64_t k) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 xv = _mm512_loadu_ps(x + p);
        for (int r = 0; r < 4; r++) acc[r] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(b + r * ldb + p), acc[r]);
    }
    for (int r = 0; r < 4; r++) {
        float sum = _mm512_reduce_add_ps(acc[r]);
        for (int64_t q = p; q < k; q++) sum += x[q] * b[r * ldb + q];
        out[r] = sum;
    }
}
#endif

static void gemm_rows(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc; /* (N) */
        int64_t j0 = 0; /* columns done by the AVX-512 dot products */
#ifdef GEMM_X86
        if (trans_b && !trans_a && gemm_avx512()) {
            float dots[4];
            for (; j0 + 4 <= n; j0 += 4) {
                dot4_avx512(dots, a + i * lda, b + j0 * ldb, ldb, k);
                for (int r = 0; r < 4; r++)
                    ci[j0 + r] = alpha * dots[r] + (beta == 0.0f ? 0.0f : beta * ci[j0 + r]);
            }
        }
#endif
        if (trans_b) {           /* c[i][j] = dot(a_i, b_j), b_j a contiguous row of K */
            for (int64_t j = j0; j < n; j++) {
                const float *bj = b + j * ldb;
                vec8 acc = {0};
                int64_t p = 0;
                float sum = 0.0f;
                if (!trans_a) {
                    const float *ai = a + i * lda;
                    for (; p + 8 <= k; p += 8) {
                        vec8 x, y;
                        memcpy(&x, ai + p, sizeof x);
                        memcpy(&y, bj + p, sizeof y);
                        acc += x * y;
                    }
                    for (; p < k; p++) sum += ai[p] * bj[p];
                } else {
                    for (; p < k; p++) sum += a[p * lda + i] * bj[p];
                }
                for (int q = 0; q < 8; q++) sum += acc[q];
                ci[j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * ci[j]);
            }
        } else { /* c_i = sum over p of a[i][p] * (row p of B): rows added in order */
            if (beta == 0.0f)
                for (int64_t j = 0; j < n; j++) ci[j] = 0.0f;
            else if (beta != 1.0f)
                for (int64_t j = 0; j < n; j++) ci[j] *= beta;
            for (int64_t p = 0; p < k; p++) {
                const float f = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
                const float *bp = b + p * ldb;
                for (int64_t j = 0; j < n; j++) ci[j] += f * bp[j];
            }
        }
    }
}

void gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (m <= 2 && k > 0) {
        gemm_rows(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (k <= 0 || alpha == 0.0f || !buffers()) { /* nothing to multiply, or no memory: BLAS */
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a,
                    (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
    const Kernel *kern = kernel();
    if (2 * n < kern->nr && n < m) /* a narrow C (conv1's weight gradient): fill tiles with M */
        gemm_blocked(!trans_b, !trans_a, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc, 1, kern, NULL);
    else
        gemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 0, kern, NULL);
}

int64_t gemm_packed_a_floats(int64_t m, int64_t k) {
    const Kernel *kern = kernel();
    int64_t n = 0;
    for (int64_t p0 = 0; p0 < k; p0 += k_block(k, p0))
        for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC)
            n += a_block_floats(m - i0 < GEMM_MC ? m - i0 : GEMM_MC, k_block(k, p0), kern);
    return n;
}

void gemm_pack_a(float *dst, int trans_a, int64_t m, int64_t k, const float *a, int64_t lda) {
    const Kernel *kern = kernel();
    for (int64_t p0 = 0; p0 < k; p0 += k_block(k, p0))
        for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC) {
            const int64_t mc = m - i0 < GEMM_MC ? m - i0 : GEMM_MC, kc = k_block(k, p0);
            pack_a_block(dst, trans_a ? a + p0 * lda + i0 : a + i0 * lda + p0, lda, trans_a, mc,
                         kc, kern);
            dst += a_block_floats(mc, kc, kern);
        }
}

/* A[i][kk] of A (m, k) packed by gemm_pack_a: for the product's rare no-memory fallback. */
static float packed_at(const float *packed, int64_t m, int64_t k, int64_t i, int64_t kk,
                       const Kernel *kern) {
    for (int64_t p0 = 0; p0 < k; p0 += k_block(k, p0))
        for (int64_t i0 = 0; i0 < m; i0 += GEMM_MC) {
            const int64_t mc = m - i0 < GEMM_MC ? m - i0 : GEMM_MC, kc = k_block(k, p0);
            if (kk >= p0 && kk < p0 + kc && i >= i0 && i < i0 + mc) {
                const int64_t r = i - i0;
                return packed[(r / kern->mr * kc + kk - p0) * kern->mr + r % kern->mr];
            }
            packed += a_block_floats(mc, kc, kern);
        }
    return 0.0f;
}

void gemm_packed_serial(int64_t m, int64_t n, int64_t k, const float *packed_a, const float *b,
                        int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    const Kernel *kern = kernel();
#ifdef GEMM_X86
    if (kern->fn == kernel_avx512 && k > 0 && k <= GEMM_KC_MAX && m <= GEMM_MC && m % 8 == 0 &&
        (beta == 0.0f || beta == 1.0f) && ((uintptr_t)b & 63) == 0 && ldb % 16 == 0) {
        gemm_rows_in_place_avx512(m, n, k, packed_a, b, ldb, beta != 0.0f, c, ldc);
        return;
    }
    if (kern->fn == kernel_avx2 && k > 0 && k <= GEMM_KC_MAX && m <= GEMM_MC &&
        (beta == 0.0f || beta == 1.0f) && ((uintptr_t)b & 31) == 0 && ldb % 8 == 0) {
        gemm_rows_in_place_avx2(m, n, k, packed_a, b, ldb, beta != 0.0f, c, ldc);
        return;
    }
#endif
    if (k > 0 && buffers()) {
        gemm_blocked(0, 0, m, n, k, 1.0f, NULL, 0, b, ldb, beta, c, ldc, 0, kern, packed_a);
        return;
    }
    for (int64_t i = 0; i < m; i++) /* nothing to multiply, or no memory for B's strips */
        for (int64_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int64_t kk = 0; kk < k; kk++) sum += packed_at(packed_a, m, k, i, kk, kern) * b[kk * ldb + j];
            c[i * ldc + j] = sum + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
        }
}

typedef struct {
    int trans_a, trans_b, split_columns;
    int64_t m, n, k, lda, ldb, ldc, align;
    float alpha, beta;
    const float *a, *b;
    float *c;
} GemmJob;

/* Blocks of `align` columns (or rows) [lo, hi) of C. */
static void gemm_part(void *ctx, int64_t lo, int64_t hi, int part) {
    const GemmJob *j = ctx;
    (void)part;
    lo *= j->align, hi *= j->align;
    if (j->split_columns) {
        if (hi > j->n) hi = j->n;
        const float *b = j->trans_b ? j->b + lo * j->ldb : j->b + lo;
        gemm_serial(j->trans_a, j->trans_b, j->m, hi - lo, j->k, j->alpha, j->a, j->lda, b, j->ldb,
                    j->beta, j->c + lo, j->ldc);
    } else {
        if (hi > j->m) hi = j->m;
        const float *a = j->trans_a ? j->a + lo : j->a + lo * j->lda;
        gemm_serial(j->trans_a, j->trans_b, hi - lo, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb,
                    j->beta, j->c + lo * j->ldc, j->ldc);
    }
}

/* Below this many multiply-adds per part, a second thread costs more than it saves. */
#define GEMM_MIN_PART_FLOPS ((int64_t)1 << 17)

void gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    const Kernel *kern = kernel();
    int split_columns = n >= m;
    GemmJob j = {trans_a, trans_b, split_columns, m, n, k, lda, ldb, ldc,
                 split_columns ? kern->nr : kern->mr, alpha, beta, a, b, c};
    int64_t along = split_columns ? n : m, across = split_columns ? m : n;
    int64_t blocks = (along + j.align - 1) / j.align;
    int64_t per_block = j.align * across * (k > 0 ? k : 1);
    int64_t grain = (GEMM_MIN_PART_FLOPS + per_block - 1) / per_block;
    parallel_for(blocks, grain, gemm_part, &j);
}
