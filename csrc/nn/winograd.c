#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/winograd.h"

#include <stdint.h>
#include <string.h>

#include "tensor/gemm.h"

/* The transforms run 8 tiles (or 8 channels) a vector with AVX2 and FMA on every x86 CPU whose
 * kernels are AVX2's or AVX-512's (chosen at run time with the gemm kernel), else as plain loops. One
 * vector width for both: the transforms are a small part of the time next to the products, and
 * an AVX-512 machine then runs the same transform code as the AVX2 machines it is tested on. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define WINOGRAD_AVX2 1

static int simd_transforms(void) { return gemm_avx512() || gemm_avx2(); }
#endif

#define TILE 4    /* output pixels of a tile, each way */
#define PATCH 6   /* input pixels under a tile, each way */
#define PLANES 36 /* PATCH * PATCH: the transformed planes, one product each */

/* Rows or planes this many floats more apart than their size: planes whose starts are 4 KB apart
 * would all fall in the same L1 sets, making a transform several times slower. */
#define PLANE_GAP 16

/* ---- The transforms' arithmetic, once for floats and for vectors of 8 tiles or channels (GCC's
 * vector types take +, - and a float factor), each as two passes of a 1-D transform: along a
 * patch's rows first, then along its columns. The factors are powers of two only (5x is written
 * 4x + x), so a multiply-add the compiler fuses rounds as the separate operations would: every
 * path gives the same bits. */

/* y[k ys] = (B^T x)[k] of six values x[k xs] (k < 6), B^T =
 *   [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]. */
#define INPUT_1D(T, y, ys, x, xs)                                                                  \
    do {                                                                                           \
        const T x0_ = x[0], x1_ = x[(xs)], x2_ = x[2 * (xs)];                                     \
        const T x3_ = x[3 * (xs)], x4_ = x[4 * (xs)], x5_ = x[5 * (xs)];                          \
        const T a_ = x4_ - 4.0f * x2_, b_ = x3_ - 4.0f * x1_;                                      \
        const T c_ = x4_ - x2_, e_ = 2.0f * (x3_ - x1_);                                           \
        y[0] = 4.0f * (x0_ - x2_) + c_;                                                            \
        y[(ys)] = a_ + b_;                                                                         \
        y[2 * (ys)] = a_ - b_;                                                                     \
        y[3 * (ys)] = c_ + e_;                                                                     \
        y[4 * (ys)] = c_ - e_;                                                                     \
        y[5 * (ys)] = 4.0f * (x1_ - x3_) + (x5_ - x3_);                                            \
    } while (0)

/* y[k ys] = (A^T x)[k] of six values x[k xs] (k < 4), A^T =
 *   [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
#define OUTPUT_1D(T, y, ys, x, xs)                                                                 \
    do {                                                                                           \
        const T p_ = x[(xs)] + x[2 * (xs)], q_ = x[(xs)] - x[2 * (xs)];                           \
        const T r_ = x[3 * (xs)] + x[4 * (xs)], s_ = x[3 * (xs)] - x[4 * (xs)];                   \
        y[0] = x[0] + p_ + r_;                                                                     \
        y[(ys)] = q_ + 2.0f * s_;                                                                  \
        y[2 * (ys)] = p_ + 4.0f * r_;                                                              \
        y[3 * (ys)] = q_ + 8.0f * s_ + x[5 * (xs)];                                                \
    } while (0)

/* y[k ys] (k < 6) = (A x)[k] of four values x[k xs]: the output transform's adjoint, for the
 * weight gradient. */
#define OUTPUT_GRAD_1D(T, y, ys, x, xs)                                                            \
    do {                                                                                           \
        const T e_ = x[0] + x[2 * (xs)], o_ = x[(xs)] + x[3 * (xs)];                              \
        const T e4_ = x[0] + 4.0f * x[2 * (xs)], o4_ = x[(xs)] + 4.0f * x[3 * (xs)];              \
        y[0] = x[0];                                                                               \
        y[(ys)] = e_ + o_;                                                                         \
        y[2 * (ys)] = e_ - o_;                                                                     \
        y[3 * (ys)] = e4_ + 2.0f * o4_;                                                            \
        y[4 * (ys)] = e4_ - 2.0f * o4_;                                                            \
        y[5 * (ys)] = x[3 * (xs)];                                                                 \
    } while (0)

/* v[6i + j] = (B^T d B)[i][j] of a patch d[6i + j]; y[4r + c] = (A^T m A)[r][c] + bias of
 * m[6i + j]; z[6i + j] = (A g A^T)[i][j] of an output-gradient tile g[4r + c]. */
#define TRANSFORMS(T, suffix, attrs)                                                               \
    attrs static inline void input_transform##suffix(T v[PLANES], const T d[PLANES]) {            \
        T t[PLANES];                                                                               \
        for (int i = 0; i < PATCH; i++) INPUT_1D(T, (t + PATCH * i), 1, (d + PATCH * i), 1);      \
        for (int j = 0; j < PATCH; j++) INPUT_1D(T, (v + j), PATCH, (t + j), PATCH);              \
    }                                                                                              \
    attrs static inline void output_transform##suffix(T y[TILE * TILE], const T m[PLANES],       \
                                                      T bias) {                                    \
        T t[PATCH * TILE];                                                                         \
        for (int i = 0; i < PATCH; i++) OUTPUT_1D(T, (t + TILE * i), 1, (m + PATCH * i), 1);      \
        for (int c = 0; c < TILE; c++) OUTPUT_1D(T, (y + c), TILE, (t + c), TILE);                \
        for (int k = 0; k < TILE * TILE; k++) y[k] = y[k] + bias;                                  \
    }                                                                                              \
    attrs static inline void output_grad_transform##suffix(T z[PLANES], const T g[TILE * TILE]) { \
        T t[TILE * PATCH];                                                                         \
        for (int r = 0; r < TILE; r++) OUTPUT_GRAD_1D(T, (t + PATCH * r), 1, (g + TILE * r), 1);  \
        for (int j = 0; j < PATCH; j++) OUTPUT_GRAD_1D(T, (z + j), PATCH, (t + j), PATCH);        \
    }

TRANSFORMS(float, , )
#ifdef WINOGRAD_AVX2
TRANSFORMS(__m256, 8, __attribute__((target("avx2,fma"), always_inline)))
#endif

/* G of F(4x4, 3x3): U = G g G^T, the weight gradient dg = G^T dU G. In double, rounded once. */
static const double G[PATCH][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};

void winograd_shape(WinogradShape *s, int64_t c, int64_t h, int64_t w, int64_t o, int64_t ph,
                    int64_t pw) {
    s->c = c, s->h = h, s->w = w, s->o = o, s->ph = ph, s->pw = pw;
    s->oh = h + 2 * ph - 2, s->ow = w + 2 * pw - 2;
    s->th = (s->oh + TILE - 1) / TILE, s->tw = (s->ow + TILE - 1) / TILE, s->t = s->th * s->tw;
}

/* u (36, O, C) from weight (O, C, 3, 3); with flip, u (36, C, O) from the same weight turned
 * 180 degrees with channels swapped. o, c: the weight's output and input channels. 16 filters at
 * a time, each plane's 16 values then written together (one value at a time to 36 planes whose
 * starts are 8 KB apart thrashes an L1 set). */
static void transform_weights(float *u, const float *weight, int64_t o, int64_t c, int flip) {
    const int64_t n = o * c; /* filters, numbered as u holds them: u[xi * n + f] */
    for (int64_t f0 = 0; f0 < n; f0 += 16) {
        const int count = n - f0 < 16 ? (int)(n - f0) : 16;
        float out[PLANES][16]; /* [xi][filter] */
        for (int q = 0; q < count; q++) {
            const int64_t f = f0 + q, at = flip ? (f % o) * c + f / o : f;
            const float *g = weight + at * 9; /* (3, 3) */
            double k[3][3], t[PATCH][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) k[a][b] = flip ? g[(2 - a) * 3 + (2 - b)] : g[a * 3 + b];
            for (int a = 0; a < PATCH; a++) /* t = G k */
                for (int b = 0; b < 3; b++) t[a][b] = G[a][0] * k[0][b] + G[a][1] * k[1][b] + G[a][2] * k[2][b];
            for (int a = 0; a < PATCH; a++) /* u = t G^T */
                for (int b = 0; b < PATCH; b++)
                    out[PATCH * a + b][q] = (float)(t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2]);
        }
        for (int xi = 0; xi < PLANES; xi++)
            memcpy(u + xi * n + f0, out[xi], (size_t)count * sizeof(float));
    }
}

int64_t winograd_weight_floats(const WinogradShape *s) {
    return PLANES * gemm_packed_a_floats(s->o, s->c);
}

void winograd_weights(float *up, float *tmp, const float *weight, const WinogradShape *s,
                      int flip) {
    const int64_t pa = gemm_packed_a_floats(s->o, s->c);
    transform_weights(tmp, weight, flip ? s->c : s->o, flip ? s->o : s->c, flip);
    for (int xi = 0; xi < PLANES; xi++)
        gemm_pack_a(up + xi * pa, 0, s->o, s->c, tmp + xi * s->o * s->c, s->c);
}

/* ---- The forward (and the input gradient): the images' tiles, numbered image by image and row
 * by row (no unused tiles), go through the products WINOGRAD_BLOCK_TILES at a time; a block may
 * span tile rows and images, so that every product but a part's last is whole strips of the
 * micro-kernel (a multiple of 32: AVX-512's strip). Blocks of 16 to 96 tiles ran alike on the
 * default model (its 64-tile V and M are 1.1 MB, past L2, yet the transforms are bound by their
 * shuffles and stores, not by memory). The transforms go channel by channel over a block's pieces
 * of tile rows, 8 tiles (a vector) at a time, reading the input planes and writing the output
 * planes in place (no transposes, no split planes). */
#ifndef WINOGRAD_BLOCK_TILES
#define WINOGRAD_BLOCK_TILES 64
#endif

/* V's and M's rows are this many floats longer than a block: a piece's last 8 tiles may run past
 * the block's end (the lanes past the piece are written, then overwritten by the next piece), and
 * the product reads a last, narrower strip whole. */
#define ROW_SLACK 16

#define BLOCK_LD (WINOGRAD_BLOCK_TILES + ROW_SLACK)
_Static_assert(BLOCK_LD % 16 == 0, "V's and M's planes start 64-byte aligned");
#define BLOCK_ROW (PLANES * BLOCK_LD + PLANE_GAP)

/* V[xi] (C, BLOCK_LD) at v + xi * BLOCK_LD, rows BLOCK_ROW apart, so a channel's 36 values of a
 * tile are a constant stride apart (the transforms need no pointer per plane, and BLOCK_LD floats
 * keep the 36 in different L1 sets; the gap, the rows of a strip the product reads in place);
 * M[xi] (O, BLOCK_LD) likewise. Rows and planes start 64-byte aligned. */
typedef struct {
    float *v, *m; /* (C, BLOCK_ROW), (O, BLOCK_ROW) */
} Block;

static Block block_layout(const WinogradShape *s, float *scratch) {
    Block b;
    b.v = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    b.m = b.v + s->c * BLOCK_ROW;
    return b;
}

/* Floats of a padded patch row: a piece's 4 tw + 2 columns, and room for its last 8 tiles'
 * loads (36 columns from the last chunk's first) to run past them. */
static int64_t patch_row_floats(const WinogradShape *s) { return TILE * s->tw + 2 + 40; }

/* 16 floats to align V, V and M, then 6 padded patch rows and a row of zeros; at least
 * winograd_weights' tmp. */
int64_t winograd_scratch_floats(const WinogradShape *s) {
    const int64_t n = 16 + (s->c + s->o) * BLOCK_ROW + (PATCH + 1) * patch_row_floats(s);
    return n > PLANES * s->o * s->c ? n : PLANES * s->o * s->c;
}

/* A piece: tiles [tx, tx + run) of tile row ty of image `image`, at column `at` of the block;
 * in an input plane, its patch rows' first columns (NO_ROW: padding), how far its loads reach
 * from there, and whether its columns are all inside the image. */
#define NO_ROW INT64_MIN
typedef struct {
    int64_t image, ty, tx, run, at;
    int64_t row_at[PATCH], reach;
    int inside;
} Piece;

/* The pieces of the tiles [g0, g0 + nb), in order (at most nb / tw + 2); returns how many. */
static int64_t block_pieces(Piece *pieces, int64_t g0, int64_t nb, const WinogradShape *s) {
    int64_t n = 0;
    for (int64_t g = g0; g < g0 + nb; n++) {
        Piece *p = pieces + n;
        const int64_t in_image = g % s->t;
        p->image = g / s->t, p->ty = in_image / s->tw, p->tx = in_image % s->tw;
        p->run = s->tw - p->tx < g0 + nb - g ? s->tw - p->tx : g0 + nb - g;
        p->at = g - g0;
        const int64_t x0 = TILE * p->tx - s->pw; /* columns [x0, x0 + 4 run + 2) */
        for (int i = 0; i < PATCH; i++) {
            const int64_t y = TILE * p->ty + i - s->ph;
            p->row_at[i] = y < 0 || y >= s->h ? NO_ROW : y * s->w + x0;
        }
        p->reach = TILE * ((p->run - 1) / 8 * 8) + 36; /* the last chunk's 36 columns */
        p->inside = x0 >= 0 && x0 + TILE * p->run + 2 <= s->w;
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
    float *pad;               /* 6 patch rows (patch_rows), row_floats apart */
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

/* The six patch rows of a piece's tiles in the plane at `plane`, rows[i][q] = the padded plane's
 * row 4 ty + i, column 4 tx + q, for q < 4 run + 2 (more may be read, and ignored), or zeros for
 * a row of padding. With `masked` (the caller zeroes the columns outside the image itself), the
 * image's rows themselves wherever the loads stay inside the input; else only where no column is
 * padding, and elsewhere rows copied with their zeros into pl->pad (set once, so the columns past
 * a copy hold finite values). */
static inline void patch_rows(const float *rows[PATCH], const float *plane, const Planes *pl,
                              const WinogradShape *s, const Piece *p, int masked) {
    const int64_t x0 = TILE * p->tx - s->pw;
    for (int i = 0; i < PATCH; i++) {
        if (p->row_at[i] == NO_ROW) {
            rows[i] = pl->zeros;
            continue;
        }
        const float *src = plane + p->row_at[i];
        if ((masked || p->inside) && src >= pl->inp && src + p->reach <= pl->end)
            rows[i] = src;
        else
            rows[i] = copy_patch_row(pl->pad + i * pl->row_floats, src, x0, TILE * p->run + 2, s->w);
    }
}

/* V of a block's tiles in channel c: plain loops. */
static void input_channel(const Block *b, int64_t c, const Piece *pieces, int64_t np,
                          const Planes *pl, const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *rows[PATCH];
        patch_rows(rows, pl->inp + p->image * pl->image + c * s->h * s->w, pl, s, p, 0);
        float *vc = b->v + c * BLOCK_ROW + p->at;
        for (int64_t k = 0; k < p->run; k++) {
            float d[PLANES], v[PLANES];
            for (int i = 0; i < PATCH; i++)
                for (int j = 0; j < PATCH; j++) d[PATCH * i + j] = rows[i][TILE * k + j];
            input_transform(v, d);
            for (int xi = 0; xi < PLANES; xi++) vc[xi * BLOCK_LD + k] = v[xi];
        }
    }
}

/* The output pixels of a block's tiles in channel o, + bias: plain loops. */
static void output_channel(const Block *b, float bias, int64_t o, const Piece *pieces,
                           int64_t np, const Planes *pl, const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *mo = b->m + o * BLOCK_ROW + p->at;
        for (int64_t k = 0; k < p->run; k++) {
            float m[PLANES], y[TILE * TILE];
            for (int xi = 0; xi < PLANES; xi++) m[xi] = mo[xi * BLOCK_LD + k];
            output_transform(y, m, bias);
            const int64_t row = TILE * p->ty, col = TILE * (p->tx + k);
            float *dst = pl->out + p->image * pl->image_out + (o * s->oh + row) * s->ow + col;
            for (int r = 0; r < TILE && row + r < s->oh; r++)
                for (int q = 0; q < TILE && col + q < s->ow; q++) dst[r * s->ow + q] = y[TILE * r + q];
        }
    }
}

#ifdef WINOGRAD_AVX2
/* The lanes l of 8 whose column x0 + l lies inside [0, w): all ones, else zero. */
__attribute__((target("avx2,fma"))) static inline __m256 columns_inside(int64_t x0, int64_t w) {
    const __m256i x = _mm256_add_epi32(_mm256_set1_epi32((int)x0), _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
    const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), x),
                                           _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), x));
    return _mm256_castsi256_ps(in);
}

/* The 4 x 4 transposes of the two 128-bit halves of a0..a3: from four vectors that hold 4
 * columns of 8 tiles, [tile 0 | tile 4], [1 | 5], [2 | 6], [3 | 7], the columns (c[j] lane l =
 * tile l's column j), and back (a transpose is its own inverse). */
__attribute__((target("avx2,fma"), always_inline)) static inline void tile_columns(
    __m256 c[4], __m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 u0 = _mm256_unpacklo_ps(a0, a1), u1 = _mm256_unpackhi_ps(a0, a1);
    const __m256 u2 = _mm256_unpacklo_ps(a2, a3), u3 = _mm256_unpackhi_ps(a2, a3);
    c[0] = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(1, 0, 1, 0));
    c[1] = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(3, 2, 3, 2));
    c[2] = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(1, 0, 1, 0));
    c[3] = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* V of a block's tiles in channel c, 8 tiles a vector: a patch row's 34 columns of 8 tiles in
 * eight loads (columns 0-31, and 4-35 for each tile's columns 4 and 5), the columns outside the
 * image (the padding) zeroed by an AND (rows are copied only where the loads would leave the
 * input), then a 4 x 8 transpose in registers. The lanes past a piece's run are stored too and
 * overwritten by the next piece. The same sums as the plain loops, so the same bits. */
__attribute__((target("avx2,fma"))) static void input_channel_avx2(const Block *b, int64_t c,
                                                               const Piece *pieces, int64_t np,
                                                               const Planes *pl,
                                                               const WinogradShape *s) {
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const float *rows[PATCH];
        patch_rows(rows, pl->inp + p->image * pl->image + c * s->h * s->w, pl, s, p, 1);
        float *vc = b->v + c * BLOCK_ROW + p->at;
        const int64_t x0 = TILE * p->tx - s->pw;
        for (int64_t k = 0; k < p->run; k += 8) {
            const int64_t q = x0 + TILE * k; /* the image column of the chunk's first load */
            __m256 inside[8];                /* of the loads at columns q + 0, 8, .., 28, 4, .., 28 + 4 */
            for (int l = 0; l < 8; l++) inside[l] = columns_inside(q + 8 * (l % 4) + 4 * (l / 4), s->w);
            /* input_transform8's two passes, the row pass as each row comes and the column pass
             * stored straight into V: the input gradient 9% faster than d[] and v[] through the
             * stack (min of 10 interleaved runs, Zen 3) */
            __m256 t[PLANES];
            for (int i = 0; i < PATCH; i++) {
                const float *row = rows[i] + TILE * k;
                __m256 a[8], h[4], odd[4], d[PATCH];
                for (int l = 0; l < 8; l++)
                    a[l] = _mm256_and_ps(inside[l], _mm256_loadu_ps(row + 8 * (l % 4) + 4 * (l / 4)));
                /* [tile 0 | tile 4] .. [3 | 7] of columns 0-3, then of columns 4-7 */
                tile_columns(d, _mm256_permute2f128_ps(a[0], a[2], 0x20),
                             _mm256_permute2f128_ps(a[0], a[2], 0x31),
                             _mm256_permute2f128_ps(a[1], a[3], 0x20),
                             _mm256_permute2f128_ps(a[1], a[3], 0x31));
                h[0] = _mm256_permute2f128_ps(a[4], a[6], 0x20);
                h[1] = _mm256_permute2f128_ps(a[4], a[6], 0x31);
                h[2] = _mm256_permute2f128_ps(a[5], a[7], 0x20);
                h[3] = _mm256_permute2f128_ps(a[5], a[7], 0x31);
                tile_columns(odd, h[0], h[1], h[2], h[3]);
                d[4] = odd[0], d[5] = odd[1];
                INPUT_1D(__m256, (t + PATCH * i), 1, d, 1);
            }
            /* the column pass, stored straight into V's planes (BLOCK_LD floats a plane) */
            __m256_u *vk = (__m256_u *)(vc + k);
            for (int j = 0; j < PATCH; j++)
                INPUT_1D(__m256, (vk + j * (BLOCK_LD / 8)), PATCH * (BLOCK_LD / 8), (t + j), PATCH);
        }
    }
}

/* The first n (1..32) floats of x0:x1:x2:x3 at dst, without masked stores (nor a loop over an
 * array, which GCC turned into a call to memcpy from the stack). */
__attribute__((target("avx2,fma"), always_inline)) static inline void store_first32(
    float *dst, __m256 x0, __m256 x1, __m256 x2, __m256 x3, int64_t n) {
    if (n >= 8) _mm256_storeu_ps(dst, x0);
    if (n >= 16) _mm256_storeu_ps(dst + 8, x1);
    if (n >= 24) _mm256_storeu_ps(dst + 16, x2);
    if (n == 32) _mm256_storeu_ps(dst + 24, x3);
    const int64_t whole = n / 8 * 8, left = n - whole;
    if (left == 0) return;
    const __m256 part = whole == 0 ? x0 : whole == 8 ? x1 : whole == 16 ? x2 : x3;
    dst += whole;
    __m128 r4 = _mm256_castps256_ps128(part);
    int64_t rest = left;
    if (rest >= 4) _mm_storeu_ps(dst, r4), r4 = _mm256_extractf128_ps(part, 1), dst += 4, rest -= 4;
    if (rest >= 2) _mm_storel_pi((__m64 *)dst, r4), r4 = _mm_movehl_ps(r4, r4), dst += 2, rest -= 2;
    if (rest) _mm_store_ss(dst, r4);
}

/* The output pixels of a block's tiles in channel o, + bias, 8 tiles a vector: each of a tile
 * row's four pixel rows turned from 4 vectors of 8 tiles into 32 pixels by the transpose's
 * inverse. */
__attribute__((target("avx2,fma"))) static void output_channel_avx2(const Block *b, float bias,
                                                                int64_t o, const Piece *pieces,
                                                                int64_t np, const Planes *pl,
                                                                const WinogradShape *s) {
    const int64_t ow = s->ow;
    const __m256 bias8 = _mm256_set1_ps(bias);
    for (const Piece *p = pieces; p < pieces + np; p++) {
        const int64_t row = TILE * p->ty;
        const float *mo = b->m + o * BLOCK_ROW + p->at;
        float *dst = pl->out + p->image * pl->image_out + (o * s->oh + row) * ow + TILE * p->tx;
        for (int64_t k = 0; k < p->run; k += 8) {
            const int64_t col = TILE * (p->tx + k), tiles = p->run - k < 8 ? p->run - k : 8;
            const int64_t n = TILE * tiles < ow - col ? TILE * tiles : ow - col; /* pixels a row */
            __m256 m[PLANES], y[TILE * TILE];
            for (int xi = 0; xi < PLANES; xi++) m[xi] = _mm256_loadu_ps(mo + xi * BLOCK_LD + k);
            output_transform8(y, m, bias8);
            for (int r = 0; r < TILE && row + r < s->oh; r++) {
                __m256 t[4]; /* [tile 0 | tile 4], [1 | 5], [2 | 6], [3 | 7] of pixel row r */
                const __m256 *yr = y + TILE * r; /* pixel columns 0..3 of the 8 tiles */
                tile_columns(t, yr[0], yr[1], yr[2], yr[3]);
                store_first32(dst + TILE * k + r * ow, _mm256_permute2f128_ps(t[0], t[1], 0x20),
                              _mm256_permute2f128_ps(t[2], t[3], 0x20),
                              _mm256_permute2f128_ps(t[0], t[1], 0x31),
                              _mm256_permute2f128_ps(t[2], t[3], 0x31), n);
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
 * base) that the tiles [g0, end) touch: rows [4 ty - skip, 4 ty + 4 + keep) of tile row ty. */
static void prefetch_planes(const float *base, int64_t per_image, int64_t c, int64_t plane,
                            int64_t h, int64_t w, int64_t skip, int64_t keep, int64_t g0,
                            int64_t end, const WinogradShape *s, int for_write) {
    for (int64_t g = g0; g < end;) { /* a segment of one image's tiles */
        const int64_t image = g / s->t, last = end < (image + 1) * s->t ? end : (image + 1) * s->t;
        int64_t lo = TILE * ((g % s->t) / s->tw) - skip;
        int64_t hi = TILE * (((last - 1) % s->t) / s->tw) + TILE + keep;
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
    pl.pad = b.m + s->o * BLOCK_ROW, pl.zeros = pl.pad + PATCH * prf, pl.row_floats = prf;
    memset(pl.pad, 0, (size_t)((PATCH + 1) * prf) * sizeof *pl.pad);
    /* M's columns that no product writes but the last 8 tiles of a piece read */
    const int64_t written = total < WINOGRAD_BLOCK_TILES ? total : WINOGRAD_BLOCK_TILES;
    for (int64_t o = 0; o < s->o; o++)
        for (int xi = 0; xi < PLANES; xi++)
            memset(b.m + o * BLOCK_ROW + xi * BLOCK_LD + written, 0,
                   (size_t)(BLOCK_LD - written) * sizeof(float));
#ifdef WINOGRAD_AVX2
    const int simd = simd_transforms();
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
#ifdef WINOGRAD_AVX2
            if (simd) {
                input_channel_avx2(&b, c, pieces, np, &pl, s);
                continue;
            }
#endif
            input_channel(&b, c, pieces, np, &pl, s);
        }
        for (int xi = 0; xi < PLANES; xi++) /* M[xi] (O, nb) = U[xi] (O, C) @ V[xi] (C, nb) */
            gemm_packed_serial(s->o, nb, s->c, up + xi * pa, b.v + xi * BLOCK_LD, BLOCK_ROW,
                               0.0f, b.m + xi * BLOCK_LD, BLOCK_ROW);
        for (int64_t o = 0; o < s->o; o++) {
            const float bo = bias ? bias[o] : 0.0f;
            if (o + PREFETCH_PLANES < s->o)
                prefetch_planes(out, pl.image_out, o + PREFETCH_PLANES, s->oh * s->ow, s->oh,
                                s->ow, 0, 0, g0, g0 + nb, s, 1);
#ifdef WINOGRAD_AVX2
            if (simd) {
                output_channel_avx2(&b, bo, o, pieces, np, &pl, s);
                continue;
            }
#endif
            output_channel(&b, bo, o, pieces, np, &pl, s);
        }
    }
}

/* ---- The weight gradient. */

/* Z (36, T, O) at zt[xi * stride + c] for one tile, from its 16 output-gradient pixels px[4r + q]
 * (O channels each), channels [lo, hi). */
static void output_grad_tile(float *restrict zt, int64_t stride, const float *const px[TILE * TILE],
                             int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; c++) {
        float g[TILE * TILE], z[PLANES];
        for (int k = 0; k < TILE * TILE; k++) g[k] = px[k][c];
        output_grad_transform(z, g);
        for (int xi = 0; xi < PLANES; xi++) zt[xi * stride + c] = z[xi];
    }
}

#ifdef WINOGRAD_AVX2
/* output_grad_tile, 8 channels a vector from 0; returns how many it did. */
__attribute__((target("avx2,fma"))) static int64_t output_grad_tile_avx2(
    float *restrict zt, int64_t stride, const float *const px[TILE * TILE], int64_t n) {
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 g[TILE * TILE], z[PLANES];
        for (int k = 0; k < TILE * TILE; k++) g[k] = _mm256_loadu_ps(px[k] + c);
        output_grad_transform8(z, g);
        for (int xi = 0; xi < PLANES; xi++) _mm256_storeu_ps(zt + xi * stride + c, z[xi]);
    }
    return c;
}
#endif

/* Z (36, n, O), planes stride apart, of the tiles in tile rows [ty0, ty0 + rows), n = rows * tw,
 * of the output gradient dyt (OH*OW, O) (its planes transposed: a pixel's channels side by side,
 * so that Z comes out with them side by side too); zero: O zeros, the pixels past the edges. */
static void output_grad_tiles(float *z, int64_t stride, const float *dyt, const float *zero,
                              const WinogradShape *s, int64_t ty0, int64_t rows) {
    const int64_t o = s->o, ow = s->ow;
    for (int64_t ty = ty0; ty < ty0 + rows; ty++)
        for (int64_t tx = 0; tx < s->tw; tx++) {
            float *zu = z + ((ty - ty0) * s->tw + tx) * o; /* (36, O), rows stride apart */
            const float *px[TILE * TILE];
            for (int r = 0; r < TILE; r++)
                for (int q = 0; q < TILE; q++) {
                    const int64_t y = TILE * ty + r, x = TILE * tx + q;
                    px[TILE * r + q] = y < s->oh && x < ow ? dyt + (y * ow + x) * o : zero;
                }
            int64_t c = 0;
#ifdef WINOGRAD_AVX2
            if (simd_transforms()) c = output_grad_tile_avx2(zu, stride, px, o);
#endif
            output_grad_tile(zu, stride, px, c, o);
        }
}

int64_t winograd_weight_grad_floats(const WinogradShape *s) { return PLANES * s->o * s->c; }

/* The weight gradient's input transform works on the image transposed, xp (4th + 2, 4tw + 2, C)
 * (a pixel's channels side by side, zero outside the image), so that V comes out (tiles, C), which
 * the product reads without transposing it. */
static void pad_transpose(float *xp, const float *inp, const WinogradShape *s) {
    const int64_t c = s->c, w2 = TILE * s->tw + 2, right = w2 - s->pw - s->w;
    for (int64_t r = 0; r < TILE * s->th + 2; r++) {
        float *row = xp + r * w2 * c; /* (4tw + 2, C) */
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
        float d[PLANES], vc[PLANES];
        for (int i = 0; i < PATCH; i++)
            for (int j = 0; j < PATCH; j++) d[PATCH * i + j] = x[i * ld + j * pc + c];
        input_transform(vc, d);
        for (int xi = 0; xi < PLANES; xi++) v[xi * stride + c] = vc[xi];
    }
}

#ifdef WINOGRAD_AVX2
/* input_tile_channels, 8 channels a vector from 0; returns how many it did. */
__attribute__((target("avx2,fma"))) static int64_t input_tile_channels_avx2(
    float *restrict v, int64_t stride, const float *restrict x, int64_t ld, int64_t pc, int64_t n) {
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 d[PLANES], vc[PLANES];
        for (int i = 0; i < PATCH; i++)
            for (int j = 0; j < PATCH; j++) d[PATCH * i + j] = _mm256_loadu_ps(x + i * ld + j * pc + c);
        input_transform8(vc, d);
        for (int xi = 0; xi < PLANES; xi++) _mm256_storeu_ps(v + xi * stride + c, vc[xi]);
    }
    return c;
}
#endif

/* V (36, n, C), planes stride apart, of the tiles in tile rows [ty0, ty0 + rows), n = rows * tw,
 * from xp as pad_transpose makes it. */
static void input_tiles_channels(float *v, int64_t stride, const float *xp, const WinogradShape *s,
                                 int64_t ty0, int64_t rows) {
    const int64_t c = s->c, ld = (TILE * s->tw + 2) * c;
    for (int64_t ty = ty0; ty < ty0 + rows; ty++)
        for (int64_t tx = 0; tx < s->tw; tx++) {
            float *vu = v + ((ty - ty0) * s->tw + tx) * c;         /* (36, C), rows stride apart */
            const float *x = xp + TILE * ty * ld + TILE * tx * c; /* the patch's corner */
            int64_t done = 0;
#ifdef WINOGRAD_AVX2
            if (simd_transforms()) done = input_tile_channels_avx2(vu, stride, x, ld, c, c);
#endif
            input_tile_channels(vu, stride, x, ld, c, done, c);
        }
}

/* The weight gradient goes through the tiles about GRAD_BLOCK_TILES at a time (whole tile rows),
 * so that the block's V and Z stay in L2 between the transforms and the products: the default
 * model's whole image (36 tiles, 0.5 MB), which ran faster than 24 or 12 (fewer, longer products).
 * The block decides the order of the sums, so it is fixed, not tuned per machine. */
#ifndef GRAD_BLOCK_TILES
#define GRAD_BLOCK_TILES 48
#endif

static int64_t grad_block_rows(const WinogradShape *s) {
    const int64_t rows = GRAD_BLOCK_TILES / s->tw > 1 ? GRAD_BLOCK_TILES / s->tw : 1;
    return s->th < rows ? s->th : rows;
}

/* 16 floats to align V to 64 bytes (the product then reads it in place when C is its strip
 * width), V (36, n, C) and Z (36, n, O) of a block of n = grad_block_rows * tw tiles, the image
 * transposed and padded (4th + 2, 4tw + 2, C), the output gradient transposed (OH*OW, O) and O
 * zeros. */
int64_t winograd_weight_grad_scratch_floats(const WinogradShape *s) {
    const int64_t n = grad_block_rows(s) * s->tw;
    return 16 + PLANES * ((s->c + s->o) * n + 2 * PLANE_GAP) +
           (TILE * s->th + 2) * (TILE * s->tw + 2) * s->c + (s->oh * s->ow + 1) * s->o;
}

void winograd_weight_grad_image(float *du, const float *inp, const float *dout,
                                const WinogradShape *s, float *scratch) {
    const int64_t c = s->c, o = s->o, p = s->oh * s->ow, block = grad_block_rows(s) * s->tw;
    const int64_t vs = block * c + PLANE_GAP, zs = block * o + PLANE_GAP; /* plane strides */
    float *v = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* (36, block, C) */
    float *z = v + PLANES * vs;                                       /* (36, block, O) */
    float *xp = z + PLANES * zs;                                      /* (4th + 2, 4tw + 2, C) */
    float *dyt = xp + (TILE * s->th + 2) * (TILE * s->tw + 2) * c;    /* (OH*OW, O) */
    float *zero = dyt + p * o;                                        /* (O) */
    pad_transpose(xp, inp, s);
    gemm_transpose(dyt, o, dout, p, o, p);
    memset(zero, 0, (size_t)o * sizeof *zero);
    for (int64_t ty0 = 0; ty0 < s->th; ty0 += grad_block_rows(s)) {
        const int64_t rows = s->th - ty0 < grad_block_rows(s) ? s->th - ty0 : grad_block_rows(s);
        const int64_t n = rows * s->tw;
        input_tiles_channels(v, vs, xp, s, ty0, rows);
        output_grad_tiles(z, zs, dyt, zero, s, ty0, rows);
        for (int xi = 0; xi < PLANES; xi++) /* dU[xi] (O, C) += Z[xi]^T (O, n) @ V[xi] (n, C) */
            gemm_serial(1, 0, o, c, n, 1.0f, z + xi * zs, o, v + xi * vs, c, 1.0f,
                        du + xi * o * c, c);
    }
}

void winograd_weights_backward(float *dweight, const float *du, int64_t o, int64_t c) {
    for (int64_t oo = 0; oo < o; oo++)
        for (int64_t cc = 0; cc < c; cc++) {
            double t[3][PATCH];
            for (int a = 0; a < 3; a++) /* t = G^T dU */
                for (int j = 0; j < PATCH; j++) {
                    double sum = 0;
                    for (int i = 0; i < PATCH; i++) sum += G[i][a] * du[((PATCH * i + j) * o + oo) * c + cc];
                    t[a][j] = sum;
                }
            float *g = dweight + (oo * c + cc) * 9; /* (3, 3) += t G */
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    double sum = 0;
                    for (int j = 0; j < PATCH; j++) sum += t[a][j] * G[j][b];
                    g[a * 3 + b] += (float)sum;
                }
        }
}
