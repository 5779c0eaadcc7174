#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/conv.h"

#include <string.h>

#include <stdlib.h>

#include "nn/conv_direct.h"
#include "tensor/gemm.h"
#include "nn/nn_common.h"
#include "sys/parallel.h"
#include "nn/winograd.h"

/* Below this batch the filters' transform (once per call) costs more than Winograd saves. */
#define WINOGRAD_MIN_BATCH 4

/* 1 unless the environment variable `name` is "0": MNIST_CONV_WINOGRAD=0 and MNIST_CONV_DIRECT=0
 * send those layers through im2col instead (to compare with, or fall back to). Read once. */
static int path_enabled(const char *name, int *cached) {
    if (*cached < 0) {
        const char *v = getenv(name);
        *cached = !(v && strcmp(v, "0") == 0);
    }
    return *cached;
}
static int winograd_enabled(void) {
    static int enabled = -1;
    return path_enabled("MNIST_CONV_WINOGRAD", &enabled);
}
static int direct_enabled(void) {
    static int enabled = -1;
    return path_enabled("MNIST_CONV_DIRECT", &enabled);
}

const char *conv2d_path(const Conv2dShape *g) {
    if (g->direct == CONV_DIRECT_ROWS) return "direct rows";
    if (g->direct == CONV_DIRECT_CHANNELS) return "direct channels";
    return g->winograd ? "winograd" : "im2col";
}

int conv2d_shape(Conv2dShape *g, const Tensor *inp, const Tensor *weight, int sh, int sw, int ph,
                 int pw) {
    if (!nn_is_f32(inp) || !nn_is_f32(weight)) return MN_ERR_DTYPE;
    if (sh < 1 || sw < 1 || ph < 0 || pw < 0) return MN_ERR_ARG;
    if (inp->ndim != 4 || weight->ndim != 4 || inp->shape[1] != weight->shape[1])
        return MN_ERR_SHAPE;
    memset(g, 0, sizeof *g);
    g->n = inp->shape[0], g->c = inp->shape[1], g->h = inp->shape[2], g->w = inp->shape[3];
    g->o = weight->shape[0], g->kh = weight->shape[2], g->kw = weight->shape[3];
    g->sh = sh, g->sw = sw, g->ph = ph, g->pw = pw;
    if (g->h + 2 * g->ph < g->kh || g->w + 2 * g->pw < g->kw) return MN_ERR_SHAPE;
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    g->k = g->c * g->kh * g->kw;
    g->p = g->oh * g->ow;
    if (g->k * g->p > TENSOR_MAX_NUMEL) return MN_ERR_SHAPE; /* one image's cols */
    g->parts = parallel_parts(g->n, 1);
    /* Small images go several to a product, so its N dimension has CONV2D_MIN_COLUMNS */
    int64_t per_part = (g->n + g->parts - 1) / g->parts;
    g->chunk = (CONV2D_MIN_COLUMNS + g->p - 1) / g->p;
    if (g->chunk > per_part) g->chunk = per_part;
    if (g->chunk < 1) g->chunk = 1;
    if ((g->k + g->o) * g->chunk * g->p > TENSOR_MAX_NUMEL) g->chunk = 1;
    /* 3x3, stride 1: Winograd where the channels make its 16 products worth it (the input
     * gradient's padding, 2 - pad, must not be negative) */
    g->winograd = winograd_enabled() && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 &&
                  g->ph <= 2 && g->pw <= 2 && g->c >= 8 && g->o >= 8 && g->n >= WINOGRAD_MIN_BATCH;
    if (g->winograd) {
        winograd_shape(&g->wf, g->c, g->h, g->w, g->o, g->ph, g->pw);
        winograd_shape(&g->wb, g->o, g->oh, g->ow, g->c, 2 - g->ph, 2 - g->pw);
    }
    g->direct = direct_enabled() ? conv_direct_kind(g) : CONV_DIRECT_NONE;
    return MN_OK;
}

/* Per thread: one image's cols, or Winograd's scratch, then Winograd's transformed weight
 * gradient dU of the part the thread runs; parts (blocks of images) after the first also sum
 * their dweight and dbias apart (added in part order at the end, so the result depends on the
 * thread count only, not on which thread ran which part). */
static int64_t scratch_floats(const Conv2dShape *g) {
    int64_t n = g->chunk > 1 ? (g->k + g->o) * g->chunk * g->p : g->k * g->p;
    if (g->winograd) { /* the same scratch serves Winograd after im2col is done with it */
        int64_t f = winograd_scratch_floats(&g->wf), b = winograd_scratch_floats(&g->wb);
        int64_t w = winograd_weight_grad_scratch_floats(&g->wf);
        if (f > n) n = f;
        if (b > n) n = b;
        if (w > n) n = w;
    }
    if (conv_direct_scratch_floats(g) > n) n = conv_direct_scratch_floats(g);
    return n;
}
static int64_t part_floats(const Conv2dShape *g) {
    return scratch_floats(g) + (g->winograd ? winograd_weight_grad_floats(&g->wf) : 0);
}
/* The transformed filters, shared by the threads, come first. */
static int64_t shared_floats(const Conv2dShape *g) {
    if (!g->winograd) return conv_direct_shared_floats(g);
    int64_t f = winograd_weight_floats(&g->wf), b = winograd_weight_floats(&g->wb);
    return f > b ? f : b;
}
static int64_t partial_floats(const Conv2dShape *g) { return g->o * g->k + g->o; }

static float *partials(const Conv2dShape *g, float *ws) {
    return ws + shared_floats(g) + g->parts * part_floats(g);
}

int64_t conv2d_workspace_floats(const Conv2dShape *g) {
    return shared_floats(g) + g->parts * part_floats(g) + (g->parts - 1) * partial_floats(g);
}

/* Output columns [lo, hi) whose input column ow*s - pad + kj lies inside [0, width). */
static void valid_range(int64_t *lo, int64_t *hi, int64_t out, int64_t width, int64_t s,
                        int64_t pad, int64_t kj) {
    int64_t first = pad - kj; /* smallest ow*s that lands inside */
    *lo = first > 0 ? (first + s - 1) / s : 0;
    int64_t limit = width + pad - kj; /* ow*s must stay below this */
    *hi = limit > 0 ? (limit + s - 1) / s : 0;
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}

/* cols (K, P), rows ld apart, from the image at inp (C, H, W); zero where the kernel hits padding.
 * The rows copied are short (24 floats in the default model): GCC must not turn the copy and
 * zero loops into memcpy/memset calls, which cost a third of the time here. */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define KEEP_LOOPS
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CONV_AVX512 1

/* im2col and col2im for the unpadded stride-1 case on AVX-512: a row of OW values is one or two
 * plain vector moves (masked moves are slow on AMD's cores), instead of a loop whose set-up costs
 * as much as the 24 values it copies. */
__attribute__((target("avx512f"))) static inline void copy_row(float *dst, const float *src,
                                                               int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i + 8 <= n) _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i)), i += 8;
    for (; i < n; i++) dst[i] = src[i];
}

__attribute__((target("avx512f"))) static inline void add_row(float *dst, const float *src,
                                                              int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
    if (i + 8 <= n)
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i))),
            i += 8;
    for (; i < n; i++) dst[i] += src[i];
}

__attribute__((target("avx512f"))) static void im2col_avx512(float *cols, int64_t ld,
                                                             const float *inp,
                                                             const Conv2dShape *g) {
    const int64_t plane = g->h * g->w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld; /* (P) */
                const float *src = inp + c * plane + ki * g->w + kj;          /* (OH, W) */
                for (int64_t oh = 0; oh < g->oh; oh++)
                    copy_row(row + oh * g->ow, src + oh * g->w, g->ow);
            }
}

__attribute__((target("avx512f"))) static void col2im_avx512(float *dinp, const float *dcols,
                                                             int64_t ld, const Conv2dShape *g) {
    const int64_t plane = g->h * g->w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *row = dcols + ((c * g->kh + ki) * g->kw + kj) * ld; /* (P) */
                float *dst = dinp + c * plane + ki * g->w + kj;                    /* (OH, W) */
                for (int64_t oh = 0; oh < g->oh; oh++)
                    add_row(dst + oh * g->w, row + oh * g->ow, g->ow);
            }
}

/* col2im for images at most 16 wide (stride 1, no padding; LeNet's second layer): each input row
 * is one vector, the sum of its KH x KW contributions, each a masked load of an OW-wide row of
 * dcols placed kj lanes in; written (not added) with a masked store, so no memset first. */
__attribute__((target("avx512f"))) static void col2im_narrow_avx512(float *dinp, const float *dcols,
                                                                    int64_t ld,
                                                                    const Conv2dShape *g) {
    const __mmask16 row_mask = (__mmask16)((1u << g->w) - 1);
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ih = 0; ih < g->h; ih++) {
            __m512 acc = _mm512_setzero_ps();
            const int64_t ki_lo = ih - g->oh + 1 > 0 ? ih - g->oh + 1 : 0;
            const int64_t ki_hi = ih < g->kh - 1 ? ih : g->kh - 1;
            for (int64_t ki = ki_lo; ki <= ki_hi; ki++) {
                const float *rows = dcols + (c * g->kh + ki) * g->kw * ld + (ih - ki) * g->ow;
                for (int64_t kj = 0; kj < g->kw; kj++) { /* lanes kj .. kj + OW - 1 */
                    const __mmask16 m = (__mmask16)(((1u << g->ow) - 1) << kj);
                    acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, rows + kj * ld - kj));
                }
            }
            _mm512_mask_storeu_ps(dinp + (c * g->h + ih) * g->w, row_mask, acc);
        }
}

static int has_avx512(void) { return gemm_avx512(); }
#endif

/* 1 when col2im writes dinp whole (the narrow kernel), so the caller need not zero it first. */
static int col2im_writes(const Conv2dShape *g) {
#ifdef CONV_AVX512
    return g->sw == 1 && g->sh == 1 && g->pw == 0 && g->ph == 0 && g->w <= 16 && has_avx512();
#else
    (void)g;
    return 0;
#endif
}

KEEP_LOOPS static void im2col(float *cols, int64_t ld, const float *inp, const Conv2dShape *g) {
#ifdef CONV_AVX512
    if (g->sw == 1 && g->sh == 1 && g->pw == 0 && g->ph == 0 && has_avx512()) {
        im2col_avx512(cols, ld, inp, g);
        return;
    }
#endif
    const int64_t plane = g->h * g->w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                float *row = cols + ((c * g->kh + ki) * g->kw + kj) * ld; /* (P) */
                int64_t lo, hi;
                valid_range(&lo, &hi, g->ow, g->w, g->sw, g->pw, kj);
                {
                    const float *src_plane = inp + c * plane; /* (H, W) */
                    for (int64_t oh = 0; oh < g->oh; oh++) {
                        float *dst = row + oh * g->ow; /* (OW) */
                        int64_t ih = oh * g->sh - g->ph + ki;
                        if (ih < 0 || ih >= g->h) {
                            for (int64_t ow = 0; ow < g->ow; ow++) dst[ow] = 0.0f;
                            continue;
                        }
                        const float *src = src_plane + ih * g->w - g->pw + kj; /* src[ow*sw] */
                        for (int64_t ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                        if (g->sw == 1)
                            for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[ow];
                        else
                            for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[ow * g->sw];
                        for (int64_t ow = hi; ow < g->ow; ow++) dst[ow] = 0.0f;
                    }
                }
            }
}

/* dinp (C, H, W) += the columns of dcols (K, P), rows ld apart, scattered back (im2col's adjoint);
 * = for narrow images (col2im_writes). */
static void col2im(float *dinp, const float *dcols, int64_t ld, const Conv2dShape *g) {
#ifdef CONV_AVX512
    if (col2im_writes(g)) {
        col2im_narrow_avx512(dinp, dcols, ld, g);
        return;
    }
    if (g->sw == 1 && g->sh == 1 && g->pw == 0 && g->ph == 0 && has_avx512()) {
        col2im_avx512(dinp, dcols, ld, g);
        return;
    }
#endif
    const int64_t plane = g->h * g->w;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const float *row = dcols + ((c * g->kh + ki) * g->kw + kj) * ld; /* (P) */
                int64_t lo, hi;
                valid_range(&lo, &hi, g->ow, g->w, g->sw, g->pw, kj);
                {
                    float *dst_plane = dinp + c * plane; /* (H, W) */
                    for (int64_t oh = 0; oh < g->oh; oh++) {
                        int64_t ih = oh * g->sh - g->ph + ki;
                        if (ih < 0 || ih >= g->h) continue;
                        const float *src = row + oh * g->ow; /* (OW) */
                        float *dst = dst_plane + ih * g->w - g->pw + kj;  /* dst[ow*sw] */
                        if (g->sw == 1) /* contiguous: vectorizes */
                            for (int64_t ow = lo; ow < hi; ow++) dst[ow] += src[ow];
                        else
                            for (int64_t ow = lo; ow < hi; ow++) dst[ow * g->sw] += src[ow];
                    }
                }
            }
}

static int check_tensors(const Conv2dShape *g, const Tensor *workspace, const Tensor *bias) {
    if (!nn_is_f32(workspace) || workspace->numel < conv2d_workspace_floats(g)) return MN_ERR_SHAPE;
    if (!nn_opt_vector(bias, g->o)) return MN_ERR_SHAPE;
    return MN_OK;
}

typedef struct {
    const Conv2dShape *g;
    const float *x;  /* (N, C, H, W) */
    const float *wt; /* (O, K) */
    const float *b;  /* (O) or NULL */
    const float *dy; /* (N, O, OH, OW) */
    float *y;        /* (N, O, OH, OW) */
    float *dx;       /* (N, C, H, W) or NULL */
    float *dw;       /* (O, K) or NULL */
    float *db;       /* (O) or NULL */
    float *ws;       /* parts x (cols, Y), then (parts - 1) x (dweight, dbias) partials */
} ConvJob;

/* The product for an image: one thread's sgemm when the batch is split over threads, all threads
 * on this one product when it is not (a single image). */
static void image_gemm(const Conv2dShape *g, int trans_a, int trans_b, int64_t m, int64_t n,
                       int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float beta, float *c, int64_t ldc) {
    if (g->parts > 1)
        gemm_serial(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    else
        gemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* Images [lo, hi) of the forward pass. One image: Y_i (O, P) = weight (O, K) @ cols_i (K, P),
 * written straight into out[i]. A chunk of nb small images: cols (K, nb*P), Y (O, nb*P) in the
 * workspace, then copied out. The bias is added in the last pass. */
static void forward_part(void *ctx, int64_t lo, int64_t hi, int part) {
    const ConvJob *j = ctx;
    const Conv2dShape *g = j->g;
    const int64_t image = g->c * g->h * g->w;
    float *cols = j->ws + shared_floats(g) + parallel_thread_index() * part_floats(g); /* (K, chunk*P) */
    float *prod = cols + g->k * g->chunk * g->p;                    /* (O, chunk*P) */
    (void)part;
    if (g->direct) {
        for (int64_t i = lo; i < hi; i++)
            conv_direct_forward(j->y + i * g->o * g->p, j->x + i * image, j->wt, j->ws, j->b, g);
        return;
    }
    if (g->winograd) {
        winograd_images(j->y + lo * g->o * g->p, j->x + lo * image, hi - lo, j->ws, j->b, &g->wf,
                        cols);
        return;
    }
    for (int64_t n0 = lo; n0 < hi; n0 += g->chunk) {
        const int64_t nb = hi - n0 < g->chunk ? hi - n0 : g->chunk, ld = nb * g->p;
        float *y = nb == 1 ? j->y + n0 * g->o * g->p : prod; /* (O, nb*P) */
        for (int64_t i = 0; i < nb; i++) im2col(cols + i * g->p, ld, j->x + (n0 + i) * image, g);
        image_gemm(g, 0, 0, g->o, ld, g->k, j->wt, g->k, cols, ld, 0.0f, y, ld);
        if (nb == 1 && !j->b) continue; /* already in place */
        for (int64_t i = 0; i < nb; i++)
            for (int64_t o = 0; o < g->o; o++) {
                const float *src = y + o * ld + i * g->p;         /* (P) */
                float *dst = j->y + ((n0 + i) * g->o + o) * g->p; /* (P); src itself for nb == 1 */
                const float bo = j->b ? j->b[o] : 0.0f;
                for (int64_t p = 0; p < g->p; p++) dst[p] = src[p] + bo;
            }
    }
}

/* The sum of x[0 .. n) in 16 interleaved running sums, added pairwise at the end: it vectorizes
 * (one running sum is a chain of dependent adds, 4 cycles each) and its order is fixed. */
static float plane_sum(const float *x, int64_t n) {
    float lane[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) lane[k] += x[i + k];
    for (int k = 0; i < n; i++, k++) lane[k] += x[i];
    for (int width = 8; width >= 1; width /= 2)
        for (int k = 0; k < width; k++) lane[k] += lane[k + width];
    return lane[0];
}

/* Images [lo, hi) of the backward pass: dY (O, nb*P) is dout[i] itself for one image, else
 * gathered into the workspace (that pass, or one over dout[i], sums dbias);
 * dweight += dY @ cols^T, dcols = weight^T @ dY written over cols, col2im -> dinp.
 * Winograd layers instead sum the part's transformed weight gradient dU image by image and add
 * G^T dU G at the end; their dinp is a Winograd convolution of dY.
 * Part 0 accumulates into dweight/dbias; the others into their own partials, zeroed first. */
static void backward_part(void *ctx, int64_t lo, int64_t hi, int part) {
    const ConvJob *j = ctx;
    const Conv2dShape *g = j->g;
    const int64_t image = g->c * g->h * g->w;
    float *cols = j->ws + shared_floats(g) + parallel_thread_index() * part_floats(g); /* (K, chunk*P), later dcols */
    float *dprod = cols + g->k * g->chunk * g->p;                   /* (O, chunk*P) */
    float *du = g->winograd && j->dw ? cols + scratch_floats(g) : NULL; /* (36, O, C) */
    float *dw = j->dw, *db = j->db;
    const int direct_dw = dw && g->direct; /* the direct kernel sums dbias too */
    if (du) memset(du, 0, (size_t)winograd_weight_grad_floats(&g->wf) * sizeof *du);
    if (part > 0) {
        float *partial = partials(g, j->ws) + (part - 1) * partial_floats(g);
        if (dw) dw = partial, memset(dw, 0, (size_t)(g->o * g->k) * sizeof *dw);
        if (db) db = partial + g->o * g->k, memset(db, 0, (size_t)g->o * sizeof *db);
    }
    for (int64_t n0 = lo; n0 < hi; n0 += g->chunk) {
        const int64_t nb = hi - n0 < g->chunk ? hi - n0 : g->chunk, ld = nb * g->p;
        const float *dy = nb == 1 ? j->dy + n0 * g->o * g->p : dprod; /* (O, nb*P) */
        for (int64_t i = 0; i < nb; i++)
            for (int64_t o = 0; o < g->o; o++) {
                const float *src = j->dy + ((n0 + i) * g->o + o) * g->p; /* (P) */
                if (nb > 1 && !g->winograd) /* Winograd reads dout itself */
                    memcpy(dprod + o * ld + i * g->p, src, (size_t)g->p * sizeof *src);
                if (db && !direct_dw) db[o] += plane_sum(src, g->p);
            }
        if (du) {
            for (int64_t i = 0; i < nb; i++)
                winograd_weight_grad_image(du, j->x + (n0 + i) * image,
                                           j->dy + (n0 + i) * g->o * g->p, &g->wf, cols);
        } else if (dw && !direct_dw) {
            for (int64_t i = 0; i < nb; i++) im2col(cols + i * g->p, ld, j->x + (n0 + i) * image, g);
            image_gemm(g, 0, 1, g->o, g->k, ld, dy, ld, cols, ld, 1.0f, dw, g->k);
        }
        if (j->dx && !g->winograd) {
            image_gemm(g, 1, 0, g->k, ld, g->o, j->wt, g->k, dy, ld, 0.0f, cols, ld);
            if (!col2im_writes(g)) memset(j->dx + n0 * image, 0, (size_t)(nb * image) * sizeof *j->dx);
            for (int64_t i = 0; i < nb; i++) col2im(j->dx + (n0 + i) * image, cols + i * g->p, ld, g);
        }
    }
    if (j->dx && g->winograd) /* written, not accumulated: no memset */
        winograd_images(j->dx + lo * image, j->dy + lo * g->o * g->p, hi - lo, j->ws, NULL, &g->wb,
                        cols);
    if (du) winograd_weights_backward(dw, du, g->o, g->c);
    if (direct_dw) /* cols is free again: the kernel's scratch */
        conv_direct_weight_grad(dw, db, j->dy + lo * g->o * g->p, j->x + lo * image, hi - lo, g, cols);
}

int conv2d_forward(Tensor *out, Tensor *workspace, const Tensor *inp, const Tensor *weight,
                   const Tensor *bias, int sh, int sw, int ph, int pw) {
    Conv2dShape g;
    int st = conv2d_shape(&g, inp, weight, sh, sw, ph, pw);
    if (st) return st;
    if ((st = check_tensors(&g, workspace, bias))) return st;
    const int64_t out_shape[4] = {g.n, g.o, g.oh, g.ow};
    if (!nn_has_shape(out, 4, out_shape)) return MN_ERR_SHAPE;
    if (tensor_overlaps(out, inp) || tensor_overlaps(workspace, inp) ||
        tensor_overlaps(workspace, out) || tensor_overlaps(workspace, weight))
        return MN_ERR_ARG;

    ConvJob job = {&g, tensor_f32(inp), tensor_f32(weight), bias ? tensor_f32(bias) : NULL,
                   NULL, tensor_f32(out), NULL, NULL, NULL, tensor_f32(workspace)};
    if (g.winograd) /* part 0's scratch is free until the parts start */
        winograd_weights(job.ws, job.ws + shared_floats(&g), job.wt, &g.wf, 0);
    if (g.direct) conv_direct_prepare(job.ws, job.wt, &g);
    parallel_for(g.n, g.n / g.parts, forward_part, &job);
    return MN_OK;
}

int conv2d_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, Tensor *workspace,
                    const Tensor *dout, const Tensor *inp, const Tensor *weight, int sh, int sw,
                    int ph, int pw) {
    Conv2dShape g;
    int st = conv2d_shape(&g, inp, weight, sh, sw, ph, pw);
    if (st) return st;
    if ((st = check_tensors(&g, workspace, dbias))) return st;
    const int64_t out_shape[4] = {g.n, g.o, g.oh, g.ow};
    if (!nn_has_shape(dout, 4, out_shape)) return MN_ERR_SHAPE;
    if ((dinp && !nn_same_shape(dinp, inp)) || (dweight && !nn_same_shape(dweight, weight)))
        return MN_ERR_SHAPE;
    if (dinp && (tensor_overlaps(dinp, dout) || tensor_overlaps(dinp, inp) ||
                 tensor_overlaps(dinp, weight) || tensor_overlaps(dinp, workspace)))
        return MN_ERR_ARG;
    if (tensor_overlaps(workspace, dout) || tensor_overlaps(workspace, inp) ||
        tensor_overlaps(workspace, weight) || (dweight && tensor_overlaps(workspace, dweight)) ||
        (dbias && tensor_overlaps(workspace, dbias)))
        return MN_ERR_ARG;

    if (!dinp && !dweight && !dbias) return MN_OK;
    ConvJob job = {&g, tensor_f32(inp), tensor_f32(weight), NULL, tensor_f32(dout), NULL,
                   dinp ? tensor_f32(dinp) : NULL, dweight ? tensor_f32(dweight) : NULL,
                   dbias ? tensor_f32(dbias) : NULL, tensor_f32(workspace)};
    if (g.winograd && job.dx) /* part 0's scratch is free until the parts start */
        winograd_weights(job.ws, job.ws + shared_floats(&g), job.wt, &g.wb, 1);
    parallel_for(g.n, g.n / g.parts, backward_part, &job);
    for (int part = 1; part < g.parts; part++) { /* the partials, in part order */
        const float *partial = partials(&g, job.ws) + (part - 1) * partial_floats(&g);
        if (job.dw)
            for (int64_t i = 0; i < g.o * g.k; i++) job.dw[i] += partial[i];
        if (job.db)
            for (int64_t o = 0; o < g.o; o++) job.db[o] += partial[g.o * g.k + o];
    }
    return MN_OK;
}
