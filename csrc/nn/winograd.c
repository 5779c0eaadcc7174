#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/winograd.h"

#include <stdint.h>
#include <string.h>

#include "tensor/gemm.h"

/* The transforms run on AVX-512 or AVX2 where the CPU has it (chosen at run time with the gemm
 * kernel), else as plain loops. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define WINOGRAD_AVX512 1

static int has_avx512(void) { return gemm_avx512(); }
#endif

/* Rows or planes this many floats more apart than their size: 16 planes whose starts are 4 KB
 * apart (48 x 64 floats in the default model) would all fall in the same L1 sets, making a
 * transform 3x slower. */
#define PLANE_GAP 16

/* ---- The transforms' arithmetic, once for every layout: on floats, or on vectors of 16 tiles
 * or 16 channels (GCC's vector types take + and -). */

/* v[4i + j] = (B^T d B)[i][j], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
#define INPUT_TRANSFORM_BODY(T)                                                                    \
    T t[4][4];                                                                                     \
    for (int j = 0; j < 4; j++) { /* t = B^T d */                                                  \
        t[0][j] = d[0][j] - d[2][j];                                                               \
        t[1][j] = d[1][j] + d[2][j];                                                               \
        t[2][j] = d[2][j] - d[1][j];                                                               \
        t[3][j] = d[1][j] - d[3][j];                                                               \
    }                                                                                              \
    for (int i = 0; i < 4; i++) { /* V = t B */                                                    \
        v[4 * i + 0] = t[i][0] - t[i][2];                                                          \
        v[4 * i + 1] = t[i][1] + t[i][2];                                                          \
        v[4 * i + 2] = t[i][2] - t[i][1];                                                          \
        v[4 * i + 3] = t[i][1] - t[i][3];                                                          \
    }

/* y[2r + c] = (A^T m A)[r][c] + bias for m[4i + j], A^T = [1 1 1 0; 0 1 -1 -1]. */
#define OUTPUT_TRANSFORM_BODY(T)                                                                   \
    T s0[4], s1[4];                                                                                \
    for (int j = 0; j < 4; j++) { /* A^T m */                                                      \
        s0[j] = m[j] + m[4 + j] + m[8 + j];                                                        \
        s1[j] = m[4 + j] - m[8 + j] - m[12 + j];                                                   \
    }                                                                                              \
    y[0] = s0[0] + s0[1] + s0[2] + bias; /* (A^T m) A */                                           \
    y[1] = s0[1] - s0[2] - s0[3] + bias;                                                           \
    y[2] = s1[0] + s1[1] + s1[2] + bias;                                                           \
    y[3] = s1[1] - s1[2] - s1[3] + bias;

static inline void input_transform(float v[16], const float d[4][4]) { INPUT_TRANSFORM_BODY(float) }

static inline void output_transform(float y[4], const float m[16], float bias) {
    OUTPUT_TRANSFORM_BODY(float)
}

#ifdef WINOGRAD_AVX512
__attribute__((target("avx512f"), always_inline)) static inline void input_transform16(
    __m512 v[16], const __m512 d[4][4]) {
    INPUT_TRANSFORM_BODY(__m512)
}

__attribute__((target("avx512f"), always_inline)) static inline void output_transform16(
    __m512 y[4], const __m512 m[16], __m512 bias) {
    OUTPUT_TRANSFORM_BODY(__m512)
}

__attribute__((target("avx2"), always_inline)) static inline void input_transform8(
    __m256 v[16], const __m256 d[4][4]) {
    INPUT_TRANSFORM_BODY(__m256)
}

__attribute__((target("avx2"), always_inline)) static inline void output_transform8(
    __m256 y[4], const __m256 m[16], __m256 bias) {
    OUTPUT_TRANSFORM_BODY(__m256)
}
#endif

void winograd_shape(WinogradShape *s, int64_t c, int64_t h, int64_t w, int64_t o, int64_t ph,
                    int64_t pw) {
    s->c = c, s->h = h, s->w = w, s->o = o, s->ph = ph, s->pw = pw;
    s->oh = h + 2 * ph - 2, s->ow = w + 2 * pw - 2;
    s->th = (s->oh + 1) / 2, s->tw = (s->ow + 1) / 2, s->t = s->th * s->tw;
}

/* u (16, O, C) from weight (O, C, 3, 3); with flip, u (16, C, O) from the same weight turned
 * 180 degrees with channels swapped. o, c: the weight's output and input channels. 16 filters at
 * a time, each plane's 16 values then written together (one value at a time to 16 planes whose
 * starts are 8 KB apart thrashes an L1 set). */
static void transform_weights(float *u, const float *weight, int64_t o, int64_t c, int flip) {
    const int64_t n = o * c; /* filters, numbered as u holds them: u[xi * n + f] */
    for (int64_t f0 = 0; f0 < n; f0 += 16) {
        const int count = n - f0 < 16 ? (int)(n - f0) : 16;
        float out[16][16]; /* [xi][filter] */
        for (int q = 0; q < count; q++) {
            const int64_t f = f0 + q, at = flip ? (f % o) * c + f / o : f;
            const float *g = weight + at * 9; /* (3, 3) */
            float k[3][3], t[4][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) k[a][b] = flip ? g[(2 - a) * 3 + (2 - b)] : g[a * 3 + b];
            for (int b = 0; b < 3; b++) { /* t = G k, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
                t[0][b] = k[0][b];
                t[1][b] = 0.5f * (k[0][b] + k[1][b] + k[2][b]);
                t[2][b] = 0.5f * (k[0][b] - k[1][b] + k[2][b]);
                t[3][b] = k[2][b];
            }
            for (int a = 0; a < 4; a++) { /* v = t G^T */
                out[4 * a + 0][q] = t[a][0];
                out[4 * a + 1][q] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
                out[4 * a + 2][q] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
                out[4 * a + 3][q] = t[a][2];
            }
        }
        for (int xi = 0; xi < 16; xi++) memcpy(u + xi * n + f0, out[xi], (size_t)count * sizeof(float));
    }
}

int64_t winograd_weight_floats(const WinogradShape *s) {
    return 16 * gemm_packed_a_floats(s->o, s->c);
}

void winograd_weights(float *up, float *tmp, const float *weight, const WinogradShape *s,
                      int flip) {
    const int64_t pa = gemm_packed_a_floats(s->o, s->c);
    transform_weights(tmp, weight, flip ? s->c : s->o, flip ? s->o : s->c, flip);
    for (int xi = 0; xi < 16; xi++)
        gemm_pack_a(up + xi * pa, 0, s->o, s->c, tmp + xi * s->o * s->c, s->c);
}

/* ---- The forward (and the input gradient): the images' tiles, numbered image by image and row
 * by row (no unused tiles), go through the products WINOGRAD_BLOCK_TILES at a time, so that the
 * block's V and M stay in L2 between the transforms and the products; a block may span tile rows
 * and images, so that every product but a part's last is whole strips of the micro-kernel (96:
 * three AVX-512 strips). The transforms go channel by channel over a block's pieces of tile rows,
 * 16 tiles (a vector) at a time, reading the input planes and writing the output planes in
 * place (no transposes, no split planes). */
#ifndef WINOGRAD_BLOCK_TILES
#define WINOGRAD_BLOCK_TILES 96
#endif

/* V's and M's rows are this many floats longer than a block: a piece's last 16 tiles may run past
 * the block's end (the lanes past the piece are written, then overwritten by the next piece), and
 * the product reads a last, narrower strip whole. */
#define ROW_SLACK 16

#define BLOCK_LD (WINOGRAD_BLOCK_TILES + ROW_SLACK)
#define BLOCK_ROW (16 * BLOCK_LD + PLANE_GAP)

/* V[xi] (C, BLOCK_LD) at v + xi * BLOCK_LD, rows BLOCK_ROW apart, so a channel's 16 values of a
 * tile are a constant stride apart (the transforms need no pointer per plane, and BLOCK_LD floats,
 * 448 bytes, keep the 16 in different L1 sets; the gap, the rows of a strip the product reads in
 * place); M[xi] (O, BLOCK_LD) likewise. Rows and planes start 64-byte aligned. */
typedef struct {
    float *v, *m; /* (C, BLOCK_ROW), (O, BLOCK_ROW) */
} Block;

static Block block_layout(const WinogradShape *s, float *scratch) {
    Block b;
    b.v = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    b.m = b.v + s->c * BLOCK_ROW;
    return b;
}

/* Floats of a padded patch row: a piece's 2 * tw + 2 columns, and room for its last 16 tiles'
 * loads (34 columns from the last chunk's first) to run past them. */
static int64_t patch_row_floats(const WinogradShape *s) { return 2 * s->tw + 2 + 48; }

/* 16 floats to align V, V and M, then 4 padded patch rows and a row of zeros; at least
 * winograd_weights' tmp. */
int64_t winograd_scratch_floats(const WinogradShape *s) {
    const int64_t n = 16 + (s->c + s->o) * BLOCK_ROW + 5 * patch_row_floats(s);
    return n > 16 * s->o * s->c ? n : 16 * s->o * s->c;
}

/* A piece: tiles [tx, tx + run) of tile row ty of image `image`, at column `at` of the block;
 * in an input plane, its patch rows' first columns (NO_ROW: padding), how far its loads reach
 * from there, and whether its columns are all inside the image. */
#define NO_ROW INT64_MIN
typedef struct {
    int64_t image, ty, tx, run, at;
    int64_t row_at[4], reach;
    int inside;
    uint16_t lanes_in[4]; /* its first 16 tiles: the lanes whose patch column j is in the image */
} Piece;

/* Bits [lo, hi) of 16, clamped. */
static uint16_t lane_bits(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (uint16_t)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* The lanes l of 16 tiles from tile column tx whose patch column j, the image's column
 * 2 (tx + l) + j - pw, lies inside it. */
static void lanes_inside(uint16_t in[4], int64_t tx, const WinogradShape *s) {
    const int64_t x0 = 2 * tx - s->pw;
    for (int j = 0; j < 4; j++) in[j] = lane_bits((-x0 - j + 1) / 2, (s->w - x0 - j + 1) / 2);
}

/* The pieces of the tiles [g0, g0 + nb), in order (at most nb / tw + 2); returns how many. */
static int64_t block_pieces(Piece *pieces, int64_t g0, int64_t nb, const WinogradShape *s) {
    int64_t n = 0;
    for (int64_t g = g0; g < g0 + nb; n++) {
        Piece *p = pieces + n;
        const int64_t in_image = g % s->t;
        p->image = g / s->t, p->ty = in_image / s->tw, p->tx = in_image % s->tw;
        p->run = s->tw - p->tx < g0 + nb - g ? s->tw - p->tx : g0 + nb - g;
        p->at = g - g0;
        const int64_t x0 = 2 * p->tx - s->pw; /* columns [x0, x0 + 2 run + 2) */
        for (int i = 0; i < 4; i++) {
            const int64_t y = 2 * p->ty + i - s->ph;
            p->row_at[i] = y < 0 || y >= s->h ? NO_ROW : y * s->w + x0;
        }
        p->reach = 2 * ((p->run - 1) / 16 * 16) + 34; /* the last chunk's 34 columns */
        p->inside = x0 >= 0 && x0 + 2 * p->run + 2 <= s->w;
        lanes_inside(p->lanes_in, p->tx, s);
        g += p->run;
    }
    return n;
}

/* Where a block's transforms find their data: the input (n images), its end (the loads must not
 * pass it), the output, and the padded-row buffers. */
typedef struct {
    const float *inp, *end;
    float *out;
    int64_t image, image_out; /* floats of an input and of an output image */
    float *pad;               /* 4 patch rows (patch_rows), row_floats apart */
    const float *zeros;       /* a patch row of zeros */
    int64_t row_floats;
} Planes;

/* A patch row that needs padding, or whose loads would leave the input: dst[q] = src[q] for the
 * columns x0 + q inside [0, w), zero for the others, q < need. */
static const float *copy_patch_row(float *dst, const float *src, int64_t x0, int64_t need,
                                   int64_t w) {
    const int64_t lo = x0 < 0 ? -x0 : 0, hi = x0 + need > w ? w - x0 : need;
    for (int64_t q = 0; q < need; q++) dst[q] = q >= lo && q < hi ? src[q] : 0.0f;
    return dst;
}

/* The four patch rows of a piece's tiles in the plane at `plane`, rows[i][q] = the padded plane's
 * row 2 ty + i, column 2 tx + q, for q < 2 run + 2 (more may be read, and ignored), or zeros for
 * a row of padding. With `masked` (the caller zeroes the columns outside the image itself), the
 * image's rows themselves wherever the loads stay inside the input; else only where no column is
 * padding, and elsewhere rows copied with their zeros into pl->pad (set once, so the columns past
 * a copy hold finite values). */
static inline void patch_rows(const float *rows[4], const float *plane, const Planes *pl,
                              const WinogradShape *s, const Piece *p, int masked) {
    const int64_t x0 = 2 * p->tx - s->pw;
    for (int i = 0; i < 4; i++) {
        if (p->row_at[i] == NO_ROW) {
            rows[i] = pl->zeros;
            continue;
        }
        const float *src = plane + p->row_at[i];
        if ((masked || p->inside) && src >= pl->inp && src + p->reach <= pl->end)
            rows[i] = src;
        else
            rows[i] = copy_patch_row(pl->pad + i * pl->row_floats, src, x0, 2 * p->run + 2, s->w);
    }
}

/* V of a block's tiles in channel c: plain loops. */
static void input_channel(const Block *b, int64_t c, const Piece *pieces, int64_t np,
                          const Planes *pl, const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *rows[4];
        patch_rows(rows, pl->inp + p->image * pl->image + c * s->h * s->w, pl, s, p, 0);
        float *vc = b->v + c * BLOCK_ROW + p->at;
        for (int64_t k = 0; k < p->run; k++) {
            float d[4][4], v[16];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) d[i][j] = rows[i][2 * k + j];
            input_transform(v, d);
            for (int xi = 0; xi < 16; xi++) vc[xi * BLOCK_LD + k] = v[xi];
        }
    }
}

/* The output pixels of a block's tiles in channel o, + bias: plain loops. */
static void output_channel(const Block *b, float bias, int64_t o, const Piece *pieces,
                           int64_t np, const Planes *pl, const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *mo = b->m + o * BLOCK_ROW + p->at;
        for (int64_t k = 0; k < p->run; k++) {
            float m[16], y[4];
            for (int xi = 0; xi < 16; xi++) m[xi] = mo[xi * BLOCK_LD + k];
            output_transform(y, m, bias);
            const int64_t row = 2 * p->ty, col = 2 * (p->tx + k);
            float *dst = pl->out + p->image * pl->image_out + (o * s->oh + row) * s->ow + col;
            const int right = col + 1 < s->ow, below = row + 1 < s->oh;
            dst[0] = y[0];
            if (right) dst[1] = y[1];
            if (below) dst[s->ow] = y[2];
            if (below && right) dst[s->ow + 1] = y[3];
        }
    }
}

#ifdef WINOGRAD_AVX512
/* V of a block's tiles in channel c, 16 tiles a vector: each patch row's 34 columns in four plain
 * loads (masked loads are slow on AMD's cores), split into even and odd columns by two-source
 * permutes that zero the columns outside the image (the padding). */
__attribute__((target("avx512f"))) static void input_channel_avx512(const Block *b, int64_t c,
                                                                    const Piece *pieces,
                                                                    int64_t np, const Planes *pl,
                                                                    const WinogradShape *s) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *rows[4];
        patch_rows(rows, pl->inp + p->image * pl->image + c * s->h * s->w, pl, s, p, 1);
        float *vc = b->v + c * BLOCK_ROW + p->at;
        for (int64_t k = 0; k < p->run; k += 16) {
            uint16_t later[4]; /* the lanes inside the image */
            const uint16_t *inside = p->lanes_in;
            if (k > 0) lanes_inside(later, p->tx + k, s), inside = later;
            __m512 d[4][4], v[16];
            for (int i = 0; i < 4; i++) {
                const float *row = rows[i] + 2 * k;
                __m512 a0 = _mm512_loadu_ps(row), a1 = _mm512_loadu_ps(row + 16);
                __m512 a2 = _mm512_loadu_ps(row + 2), a3 = _mm512_loadu_ps(row + 18);
                d[i][0] = _mm512_maskz_permutex2var_ps(inside[0], a0, ev, a1); /* columns 2l */
                d[i][1] = _mm512_maskz_permutex2var_ps(inside[1], a0, od, a1); /* 2l + 1 */
                d[i][2] = _mm512_maskz_permutex2var_ps(inside[2], a2, ev, a3); /* 2l + 2 */
                d[i][3] = _mm512_maskz_permutex2var_ps(inside[3], a2, od, a3); /* 2l + 3 */
            }
            input_transform16(v, d);
            for (int xi = 0; xi < 16; xi++) _mm512_storeu_ps(vc + xi * BLOCK_LD + k, v[xi]);
        }
    }
}

/* The first n (1..32) floats of lo:hi at dst, without masked stores. */
__attribute__((target("avx512f"))) static void store_first(float *dst, __m512 lo, __m512 hi,
                                                           int64_t n) {
    if (n >= 16) _mm512_storeu_ps(dst, lo), dst += 16, n -= 16, lo = hi;
    if (n == 16) {
        _mm512_storeu_ps(dst, lo);
        return;
    }
    __m256 r8 = _mm512_castps512_ps256(lo);
    if (n >= 8) {
        _mm256_storeu_ps(dst, r8);
        r8 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(lo), 1));
        dst += 8, n -= 8;
    }
    __m128 r4 = _mm256_castps256_ps128(r8);
    if (n >= 4) _mm_storeu_ps(dst, r4), r4 = _mm256_extractf128_ps(r8, 1), dst += 4, n -= 4;
    if (n >= 2) _mm_storel_pi((__m64 *)dst, r4), r4 = _mm_movehl_ps(r4, r4), dst += 2, n -= 2;
    if (n) _mm_store_ss(dst, r4);
}

/* The output pixels of a block's tiles in channel o, + bias, 16 tiles a vector: a tile row's
 * pixels interleaved by two-source permutes, stored without masked stores. */
__attribute__((target("avx512f"))) static void output_channel_avx512(const Block *b, float bias,
                                                                     int64_t o,
                                                                     const Piece *pieces,
                                                                     int64_t np,
                                                                     const Planes *pl,
                                                                     const WinogradShape *s) {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const int64_t ow = s->ow;
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const int64_t row = 2 * p->ty, below = row + 1 < s->oh;
        const float *mo = b->m + o * BLOCK_ROW + p->at;
        float *dst = pl->out + p->image * pl->image_out + (o * s->oh + row) * ow + 2 * p->tx;
        for (int64_t k = 0; k < p->run; k += 16) {
            const int64_t col = 2 * (p->tx + k), tiles = p->run - k < 16 ? p->run - k : 16;
            const int64_t n = 2 * tiles < ow - col ? 2 * tiles : ow - col; /* pixels a row */
            __m512 m[16], y[4];
            for (int xi = 0; xi < 16; xi++) m[xi] = _mm512_loadu_ps(mo + xi * BLOCK_LD + k);
            output_transform16(y, m, _mm512_set1_ps(bias));
            store_first(dst + 2 * k, _mm512_permutex2var_ps(y[0], lo, y[1]),
                        _mm512_permutex2var_ps(y[0], hi, y[1]), n);
            if (below)
                store_first(dst + 2 * k + ow, _mm512_permutex2var_ps(y[2], lo, y[3]),
                            _mm512_permutex2var_ps(y[2], hi, y[3]), n);
        }
    }
}
#endif

#ifdef WINOGRAD_AVX512
/* Columns 0, 2, .., 14 (odd: 1, 3, .., 15) of the 16 floats lo:hi. */
__attribute__((target("avx2"))) static inline __m256 even_columns(__m256 lo, __m256 hi) {
    const __m256 pairs = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2"))) static inline __m256 odd_columns(__m256 lo, __m256 hi) {
    const __m256 pairs = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The lanes l of 8 whose column x0 + l lies inside [0, w): all ones, else zero. */
__attribute__((target("avx2"))) static inline __m256 columns_inside(int64_t x0, int64_t w) {
    const __m256i x = _mm256_add_epi32(_mm256_set1_epi32((int)x0), _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
    const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), x),
                                           _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), x));
    return _mm256_castsi256_ps(in);
}

/* V of a block's tiles in channel c, 8 tiles a vector, on AVX2: each patch row's 18 columns in
 * four loads split into even and odd columns, the columns outside the image (the padding) zeroed
 * by an AND, as the AVX-512 copy does with its masks (rows are copied only where the loads would
 * leave the input). The lanes past a piece's run are stored too and overwritten by the next
 * piece, as on AVX-512. The same sums as the plain loops, so the same bits. */
__attribute__((target("avx2"))) static void input_channel_avx2(const Block *b, int64_t c,
                                                               const Piece *pieces, int64_t np,
                                                               const Planes *pl,
                                                               const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *rows[4];
        patch_rows(rows, pl->inp + p->image * pl->image + c * s->h * s->w, pl, s, p, 1);
        float *vc = b->v + c * BLOCK_ROW + p->at;
        const int64_t x0 = 2 * p->tx - s->pw;
        for (int64_t k = 0; k < p->run; k += 8) {
            const int64_t q = x0 + 2 * k; /* the image column of the chunk's first load */
            const __m256 m0 = columns_inside(q, s->w), m1 = columns_inside(q + 8, s->w);
            const __m256 m2 = columns_inside(q + 2, s->w), m3 = columns_inside(q + 10, s->w);
            __m256 d[4][4], v[16];
            for (int i = 0; i < 4; i++) {
                const float *row = rows[i] + 2 * k;
                const __m256 a0 = _mm256_and_ps(m0, _mm256_loadu_ps(row));
                const __m256 a1 = _mm256_and_ps(m1, _mm256_loadu_ps(row + 8));
                const __m256 a2 = _mm256_and_ps(m2, _mm256_loadu_ps(row + 2));
                const __m256 a3 = _mm256_and_ps(m3, _mm256_loadu_ps(row + 10));
                d[i][0] = even_columns(a0, a1); /* columns 2l */
                d[i][1] = odd_columns(a0, a1);  /* 2l + 1 */
                d[i][2] = even_columns(a2, a3); /* 2l + 2 */
                d[i][3] = odd_columns(a2, a3);  /* 2l + 3 */
            }
            input_transform8(v, d);
            for (int xi = 0; xi < 16; xi++) _mm256_storeu_ps(vc + xi * BLOCK_LD + k, v[xi]);
        }
    }
}

/* The first n (1..16) floats of lo:hi at dst, without masked stores. */
__attribute__((target("avx2"))) static void store_first8(float *dst, __m256 lo, __m256 hi,
                                                         int64_t n) {
    if (n >= 8) _mm256_storeu_ps(dst, lo), dst += 8, n -= 8, lo = hi;
    if (n == 8) {
        _mm256_storeu_ps(dst, lo);
        return;
    }
    __m128 r4 = _mm256_castps256_ps128(lo);
    if (n >= 4) _mm_storeu_ps(dst, r4), r4 = _mm256_extractf128_ps(lo, 1), dst += 4, n -= 4;
    if (n >= 2) _mm_storel_pi((__m64 *)dst, r4), r4 = _mm_movehl_ps(r4, r4), dst += 2, n -= 2;
    if (n) _mm_store_ss(dst, r4);
}

/* The output pixels of a block's tiles in channel o, + bias, 8 tiles a vector, on AVX2: a tile
 * row's two pixels interleaved by unpacks and a lane swap. */
__attribute__((target("avx2"))) static void output_channel_avx2(const Block *b, float bias,
                                                                int64_t o, const Piece *pieces,
                                                                int64_t np, const Planes *pl,
                                                                const WinogradShape *s) {
    const int64_t ow = s->ow;
    const __m256 bias8 = _mm256_set1_ps(bias);
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const int64_t row = 2 * p->ty, below = row + 1 < s->oh;
        const float *mo = b->m + o * BLOCK_ROW + p->at;
        float *dst = pl->out + p->image * pl->image_out + (o * s->oh + row) * ow + 2 * p->tx;
        for (int64_t k = 0; k < p->run; k += 8) {
            const int64_t col = 2 * (p->tx + k), tiles = p->run - k < 8 ? p->run - k : 8;
            const int64_t n = 2 * tiles < ow - col ? 2 * tiles : ow - col; /* pixels a row */
            __m256 m[16], y[4];
            for (int xi = 0; xi < 16; xi++) m[xi] = _mm256_loadu_ps(mo + xi * BLOCK_LD + k);
            output_transform8(y, m, bias8);
            for (int r = 0; r < 1 + (int)below; r++) {
                const __m256 lo = _mm256_unpacklo_ps(y[2 * r], y[2 * r + 1]);
                const __m256 hi = _mm256_unpackhi_ps(y[2 * r], y[2 * r + 1]);
                store_first8(dst + 2 * k + r * ow, _mm256_permute2f128_ps(lo, hi, 0x20),
                             _mm256_permute2f128_ps(lo, hi, 0x31), n);
            }
        }
    }
}
#endif

/* The transforms go through a block plane by plane, a slice of rows of each, which the hardware
 * prefetchers miss (64 planes are too many streams): each asks for the slice it will need
 * PREFETCH_PLANES planes later. */
#ifndef PREFETCH_PLANES
#define PREFETCH_PLANES 2
#endif

/* Asks for the lines of plane c (`plane` floats apart, rows of w, images per_image apart from
 * base) that the tiles [g0, end) touch: rows [2 ty - skip, 2 ty + 2 + keep) of tile row ty. */
static void prefetch_planes(const float *base, int64_t per_image, int64_t c, int64_t plane,
                            int64_t h, int64_t w, int64_t skip, int64_t keep, int64_t g0,
                            int64_t end, const WinogradShape *s, int for_write) {
    for (int64_t g = g0; g < end;) { /* a segment of one image's tiles */
        const int64_t image = g / s->t, last = end < (image + 1) * s->t ? end : (image + 1) * s->t;
        int64_t lo = 2 * ((g % s->t) / s->tw) - skip, hi = 2 * (((last - 1) % s->t) / s->tw) + 2 + keep;
        if (lo < 0) lo = 0;
        if (hi > h) hi = h;
        const char *from = (const char *)(base + image * per_image + c * plane + lo * w);
        const char *to = (const char *)(base + image * per_image + c * plane + hi * w);
        for (const char *q = from; q < to; q += 64) {
            if (for_write)
                __builtin_prefetch(q, 1, 3);
            else
                __builtin_prefetch(q, 0, 3);
        }
        g = last;
    }
}

void winograd_images(float *out, const float *inp, int64_t n, const float *up, const float *bias,
                     const WinogradShape *s, float *scratch) {
    const Block b = block_layout(s, scratch);
    const int64_t prf = patch_row_floats(s);
    const int64_t total = n * s->t, pa = gemm_packed_a_floats(s->o, s->c);
    Planes pl;
    pl.inp = inp, pl.out = out, pl.image = s->c * s->h * s->w, pl.image_out = s->o * s->oh * s->ow;
    pl.end = inp + n * pl.image;
    pl.pad = b.m + s->o * BLOCK_ROW, pl.zeros = pl.pad + 4 * prf, pl.row_floats = prf;
    memset(pl.pad, 0, (size_t)(5 * prf) * sizeof *pl.pad);
    /* M's columns that no product writes but the last 16 tiles of a piece read */
    const int64_t written = total < WINOGRAD_BLOCK_TILES ? total : WINOGRAD_BLOCK_TILES;
    for (int64_t o = 0; o < s->o; o++)
        for (int xi = 0; xi < 16; xi++)
            memset(b.m + o * BLOCK_ROW + xi * BLOCK_LD + written, 0,
                   (size_t)(BLOCK_LD - written) * sizeof(float));
#ifdef WINOGRAD_AVX512
    const int wide = has_avx512(), avx2 = !wide && gemm_avx2();
#endif
    Piece pieces[WINOGRAD_BLOCK_TILES + 2];
    /* channel by channel over a block's pieces: a plane's rows are read, or written, in order */
    for (int64_t g0 = 0; g0 < total; g0 += WINOGRAD_BLOCK_TILES) {
        const int64_t nb = total - g0 < WINOGRAD_BLOCK_TILES ? total - g0 : WINOGRAD_BLOCK_TILES;
        const int64_t np = block_pieces(pieces, g0, nb, s);
        for (int64_t c = 0; c < s->c; c++) {
            if (c + PREFETCH_PLANES < s->c)
                prefetch_planes(inp, pl.image, c + PREFETCH_PLANES, s->h * s->w, s->h, s->w, s->ph,
                                2 - s->ph, g0, g0 + nb, s, 0);
#ifdef WINOGRAD_AVX512
            if (wide) {
                input_channel_avx512(&b, c, pieces, np, &pl, s);
                continue;
            }
            if (avx2) {
                input_channel_avx2(&b, c, pieces, np, &pl, s);
                continue;
            }
#endif
            input_channel(&b, c, pieces, np, &pl, s);
        }
        for (int xi = 0; xi < 16; xi++) /* M[xi] (O, nb) = U[xi] (O, C) @ V[xi] (C, nb) */
            gemm_packed_serial(s->o, nb, s->c, up + xi * pa, b.v + xi * BLOCK_LD, BLOCK_ROW,
                               0.0f, b.m + xi * BLOCK_LD, BLOCK_ROW);
        for (int64_t o = 0; o < s->o; o++) {
            const float bo = bias ? bias[o] : 0.0f;
            if (o + PREFETCH_PLANES < s->o)
                prefetch_planes(out, pl.image_out, o + PREFETCH_PLANES, s->oh * s->ow, s->oh,
                                s->ow, 0, 0, g0, g0 + nb, s, 1);
#ifdef WINOGRAD_AVX512
            if (wide) {
                output_channel_avx512(&b, bo, o, pieces, np, &pl, s);
                continue;
            }
            if (avx2) {
                output_channel_avx2(&b, bo, o, pieces, np, &pl, s);
                continue;
            }
#endif
            output_channel(&b, bo, o, pieces, np, &pl, s);
        }
    }
}

/* ---- The weight gradient. */
/* Z = A dY A^T of one tile's four output-gradient pixels y00 y01 y10 y11 (one channel, or a
 * vector of channels), A = [1 0; 1 1; 1 -1; 0 -1] (the adjoint of the output transform): z[xi] for
 * xi = 4i + j. */
#define OUTPUT_GRAD_BODY(T)                                                                        \
    const T r[4][2] = {{y00, y01}, /* A dY: rows (a, b), then each row times A^T: (a, a + b, a - b, -b) */ \
                       {y00 + y10, y01 + y11},                                                     \
                       {y00 - y10, y01 - y11},                                                     \
                       {-y10, -y11}};                                                              \
    for (int i = 0; i < 4; i++) {                                                                  \
        z[4 * i + 0] = r[i][0];                                                                    \
        z[4 * i + 1] = r[i][0] + r[i][1];                                                          \
        z[4 * i + 2] = r[i][0] - r[i][1];                                                          \
        z[4 * i + 3] = -r[i][1];                                                                   \
    }

/* Z (16, T, O) at zt[xi * stride + c] for one tile, from its four output-gradient pixels
 * (O each), channels [lo, hi). */
static void output_grad_tile(float *restrict zt, int64_t stride, const float *restrict p00,
                             const float *restrict p01, const float *restrict p10,
                             const float *restrict p11, int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        const float y00 = p00[c], y01 = p01[c], y10 = p10[c], y11 = p11[c];
        float z[16];
        OUTPUT_GRAD_BODY(float)
        for (int xi = 0; xi < 16; xi++) zt[xi * stride + c] = z[xi];
    }
}

#ifdef WINOGRAD_AVX512
/* output_grad_tile, W channels (a vector of type VT) at a time from 0; returns how many it did.
 * Written once, made for AVX-512 and AVX2 below. */
#define OUTPUT_GRAD_TILE_SIMD(name, isa, VT, W, load, store)                                      \
    __attribute__((target(isa))) static int64_t name(                                              \
        float *restrict zt, int64_t stride, const float *restrict p00, const float *restrict p01, \
        const float *restrict p10, const float *restrict p11, int64_t n) {                        \
        int64_t c = 0;                                                                             \
        for (; c + W <= n; c += W) {                                                               \
            const VT y00 = load(p00 + c), y01 = load(p01 + c);                                     \
            const VT y10 = load(p10 + c), y11 = load(p11 + c);                                     \
            VT z[16];                                                                              \
            OUTPUT_GRAD_BODY(VT)                                                                   \
            for (int xi = 0; xi < 16; xi++) store(zt + xi * stride + c, z[xi]);                    \
        }                                                                                          \
        return c;                                                                                  \
    }
OUTPUT_GRAD_TILE_SIMD(output_grad_tile_avx512, "avx512f", __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps)
OUTPUT_GRAD_TILE_SIMD(output_grad_tile_avx2, "avx2", __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps)
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
            else if (gemm_avx2()) c = output_grad_tile_avx2(zu, stride, y00, y01, y10, y11, o);
#endif
            output_grad_tile(zu, stride, y00, y01, y10, y11, c, o);
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
 * x[i * ld + j * pc + c]. */
static void input_tile_channels(float *restrict v, int64_t stride, const float *restrict x,
                                int64_t ld, int64_t pc, int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        float d[4][4], vc[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) d[i][j] = x[i * ld + j * pc + c];
        input_transform(vc, d);
        for (int xi = 0; xi < 16; xi++) v[xi * stride + c] = vc[xi];
    }
}

#ifdef WINOGRAD_AVX512
/* input_tile_channels, W channels (a vector of type VT) at a time from 0; returns how many it did.
 * Written once, made for AVX-512 and AVX2 below. */
#define INPUT_TILE_CHANNELS_SIMD(name, isa, VT, W, load, store, transform)                        \
    __attribute__((target(isa))) static int64_t name(float *restrict v, int64_t stride,             \
                                                     const float *restrict x, int64_t ld,          \
                                                     int64_t pc, int64_t n) {                      \
        int64_t c = 0;                                                                             \
        for (; c + W <= n; c += W) {                                                               \
            VT d[4][4], vc[16];                                                                    \
            for (int i = 0; i < 4; i++)                                                            \
                for (int j = 0; j < 4; j++) d[i][j] = load(x + i * ld + j * pc + c);               \
            transform(vc, d);                                                                      \
            for (int xi = 0; xi < 16; xi++) store(v + xi * stride + c, vc[xi]);                    \
        }                                                                                          \
        return c;                                                                                  \
    }
INPUT_TILE_CHANNELS_SIMD(input_tile_channels_avx512, "avx512f", __m512, 16, _mm512_loadu_ps,
                         _mm512_storeu_ps, input_transform16)
INPUT_TILE_CHANNELS_SIMD(input_tile_channels_avx2, "avx2", __m256, 8, _mm256_loadu_ps,
                         _mm256_storeu_ps, input_transform8)
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
            else if (gemm_avx2()) done = input_tile_channels_avx2(vu, stride, x, ld, c, c);
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
