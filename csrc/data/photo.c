#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/photo.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "sys/memory.h"
#include "sys/parallel.h"

/* Ink fainter than this (after flattening: 1 - pixel / page) is never ink, whatever Otsu says:
 * sensor noise, paper texture, the faint rest of a shadow. */
#define PHOTO_MIN_INK 0.15f
/* A run of ink longer than this fraction of the frame is a ruled line on its own; runs longer than
 * PHOTO_LINE_FAMILY are lines when there are at least two of them (ruled paper). */
#define PHOTO_LINE_SINGLE 0.9
#define PHOTO_LINE_FAMILY 0.6
#define PHOTO_LINE_GAP 0.02       /* a line may miss this fraction of the frame (noise, JPEG) at a time */
#define PHOTO_LINE_EDGE 2         /* pixels beside a line's run that belong to the line */
#define PHOTO_LINE_INK 0.4        /* lines are looked for in ink this much fainter than the threshold */
#define PHOTO_MAX_SLANT 0.21      /* the page may be turned by up to about 12 degrees */
/* A blob belongs to the digit when its area is at least this fraction of the largest one's and it
 * lies within this fraction of the digit's size from it. */
#define PHOTO_PART_AREA 0.03
#define PHOTO_PART_GAP 0.3
/* Ink this much fainter than the threshold still belongs to a stroke it touches. */
#define PHOTO_HYSTERESIS 0.5
/* Strokes thinner than this fraction of MNIST's are thickened to MNIST's. */
#define PHOTO_THIN 0.7

/* Measured by tools/photo_stroke_width.py: the median over the first 2,000 MNIST training digits,
 * enlarged 8x and binarised at 0.5, of (4 * mean depth - 2) / the bounding box's larger side
 * (p10 0.086, p25 0.100, median 0.118, p75 0.142, p90 0.174). */
const float PHOTO_MNIST_STROKE = 0.118f;

/* hist[b] = how many of the n values v[] in [0, 1] (clamped) round to b / 255. Four partial
 * histograms: most pixels fall in a few bins, and one array would make each count wait for the
 * previous one to the same bin. */
static void histogram(int64_t hist[256], const float *v, int64_t n) {
    uint32_t part[4][256] = {{0}};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            const float x = v[i + k] < 0 ? 0 : v[i + k] > 1 ? 1 : v[i + k];
            part[k][(int)(x * 255.0f + 0.5f)]++;
        }
    for (; i < n; i++) {
        const float x = v[i] < 0 ? 0 : v[i] > 1 ? 1 : v[i];
        part[0][(int)(x * 255.0f + 0.5f)]++;
    }
    for (int b = 0; b < 256; b++) hist[b] = (int64_t)part[0][b] + part[1][b] + part[2][b] + part[3][b];
}

/* The value below which `fraction` of the n values counted in hist lie (256 bins over [0, 1]). */
static float quantile(const int64_t hist[256], int64_t n, double fraction) {
    int64_t seen = 0;
    for (int b = 0; b < 256; b++) {
        seen += hist[b];
        if ((double)seen >= fraction * (double)n && seen > 0) return (float)b / 255.0f;
    }
    return 1.0f;
}

/* Otsu's threshold of the n values v[] in [0, 1]. */
static float otsu(const float *v, int64_t n) {
    int64_t counts[256];
    histogram(counts, v, n);
    double hist[256], total = 0, sum = 0;
    for (int b = 0; b < 256; b++) hist[b] = (double)counts[b], total += hist[b], sum += b * hist[b];
    double w0 = 0, sum0 = 0, best = -1;
    int best_b = 0;
    for (int b = 0; b < 255; b++) {
        w0 += hist[b];
        sum0 += b * hist[b];
        const double w1 = total - w0;
        if (w0 == 0 || w1 == 0) continue;
        const double m0 = sum0 / w0, m1 = (sum - sum0) / w1;
        const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) best = between, best_b = b;
    }
    return ((float)best_b + 0.5f) / 255.0f;
}

/* A window's values kept sorted as it slides: each step removes a column and adds one (a binary
 * search and a move of the tail each), where selecting the median afresh at every place cost a
 * branch mispredicted at every other comparison. */
static int64_t lower_bound(const float *sorted, int64_t n, float x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (sorted[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void sorted_insert(float *sorted, int64_t *n, float x) {
    const int64_t at = lower_bound(sorted, *n, x);
    memmove(sorted + at + 1, sorted + at, (size_t)(*n - at) * sizeof *sorted);
    sorted[at] = x;
    (*n)++;
}

static void sorted_remove(float *sorted, int64_t *n, float x) {
    int64_t at = lower_bound(sorted, *n, x);
    if (!(at < *n && sorted[at] == x)) /* not where order puts it: a NaN; any copy of it, else the last */
        for (at = 0; at < *n - 1 && !(sorted[at] == x || (sorted[at] != sorted[at] && x != x)); at++) {}
    if (*n == 0) return;
    memmove(sorted + at, sorted + at + 1, (size_t)(*n - at - 1) * sizeof *sorted);
    (*n)--;
}

/* cell (h, w) = the mean of each s x s cell of p (H, W); count: scratch (h, w). */
static void cell_means(float *cell, float *count, const float *p, int64_t H, int64_t W, int64_t s, int64_t w,
                       int64_t h) {
    for (int64_t i = 0; i < h * w; i++) cell[i] = 0, count[i] = 0;
    for (int64_t y = 0; y < H; y++) {
        float *c = cell + (y / s) * w, *n = count + (y / s) * w;
        const float *py = p + y * W;
        for (int64_t cx = 0, x = 0; cx < w; cx++) {
            const int64_t end = x + s < W ? x + s : W;
            float sum = 0;
            for (int64_t x1 = x; x1 < end; x1++) sum += py[x1];
            c[cx] += sum;
            n[cx] += (float)(end - x);
            x = end;
        }
    }
    for (int64_t i = 0; i < h * w; i++) cell[i] /= count[i];
}

/* *polarity: which way the ink goes on p (H, W): 1 when it is darker than the page around it (a
 * light page), -1 when lighter, 0 when nothing stands out. The page around a place is the
 * median of a neighbourhood of coarse cells: ink is the minority wherever it is, while shadows and
 * uneven light (which fool a global median: a page half in shadow) are not. */
static int ink_polarity(int *polarity, const float *p, int64_t H, int64_t W) {
    const int64_t side = H > W ? H : W;
    /* neighbourhoods of about a quarter of the picture: wider than a thick stroke of a digit
     * that fills the frame */
    const int64_t s = side / 48 > 1 ? side / 48 : 1, h = (H + s - 1) / s, w = (W + s - 1) / s;
    const int64_t r = 5;
    float *cell = calloc((size_t)(h * w), sizeof *cell), *count = calloc((size_t)(h * w), sizeof *count);
    float *window = malloc((size_t)((2 * r + 1) * (2 * r + 1)) * sizeof *window);
    if (!cell || !count || !window) {
        free(cell), free(count), free(window);
        return MN_ERR_NOMEM;
    }
    cell_means(cell, count, p, H, W, s, w, h);
    double darker = 0, lighter = 0;
    for (int64_t y = 0; y < h; y++) {
        const int64_t y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= h ? h - 1 : y + r;
        int64_t k = 0; /* window: the cells of rows y0..y1 and columns x - r..x + r, sorted */
        for (int64_t xx = 0; xx <= r && xx < w; xx++)
            for (int64_t yy = y0; yy <= y1; yy++) sorted_insert(window, &k, cell[yy * w + xx]);
        for (int64_t x = 0; x < w; x++) {
            if (x - r - 1 >= 0) /* out first: the window holds at most (2r + 1)^2 */
                for (int64_t yy = y0; yy <= y1; yy++) sorted_remove(window, &k, cell[yy * w + x - r - 1]);
            if (x > 0 && x + r < w)
                for (int64_t yy = y0; yy <= y1; yy++) sorted_insert(window, &k, cell[yy * w + x + r]);
            const float d = cell[y * w + x] - window[k / 2];
            if (d < -0.1f) darker += -d;
            if (d > 0.1f) lighter += d;
        }
    }
    free(cell), free(count), free(window);
    *polarity = darker > lighter ? 1 : lighter > darker ? -1 : 0;
    return MN_OK;
}

/* dst (n) = the max (or min) of src over [i - r, i + r], src and dst strided. */
static void extreme_axis(float *dst, int64_t dstride, const float *src, int64_t sstride, int64_t n, int64_t r,
                         int want_max) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t lo = i - r < 0 ? 0 : i - r, hi = i + r >= n ? n - 1 : i + r;
        float e = src[lo * sstride];
        for (int64_t j = lo + 1; j <= hi; j++) {
            const float x = src[j * sstride];
            e = want_max ? (x > e ? x : e) : (x < e ? x : e);
        }
        dst[i * dstride] = e;
    }
}

/* dst (n) = the mean of src over [i - r, i + r] (clipped at the ends). */
static void mean_axis(float *dst, int64_t dstride, const float *src, int64_t sstride, int64_t n, int64_t r) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t lo = i - r < 0 ? 0 : i - r, hi = i + r >= n ? n - 1 : i + r;
        double s = 0;
        for (int64_t j = lo; j <= hi; j++) s += src[j * sstride];
        dst[i * dstride] = (float)(s / (double)(hi - lo + 1));
    }
}

typedef enum { FILTER_MAX, FILTER_MIN, FILTER_MEAN } Filter;

/* a (h, w) filtered in place over a (2r+1)^2 square, tmp (h, w) scratch. */
static void filter2d(float *a, float *tmp, int64_t h, int64_t w, int64_t r, Filter f) {
    for (int64_t y = 0; y < h; y++) {
        if (f == FILTER_MEAN) mean_axis(tmp + y * w, 1, a + y * w, 1, w, r);
        else extreme_axis(tmp + y * w, 1, a + y * w, 1, w, r, f == FILTER_MAX);
    }
    for (int64_t x = 0; x < w; x++) {
        if (f == FILTER_MEAN) mean_axis(a + x, w, tmp + x, w, h, r);
        else extreme_axis(a + x, w, tmp + x, w, h, r, f == FILTER_MAX);
    }
}

/* ink (H, W) = how much darker than the page each pixel of p (H, W, page bright) is, relative to
 * the page: 1 - p / page, the page estimated at a scale large against strokes and small against
 * shadows (a closing on a coarse grid, then smoothed and interpolated back). */
static int flatten(float *ink, const float *p, int64_t H, int64_t W) {
    const int64_t side = H > W ? H : W;
    const int64_t s = side / 128 > 1 ? side / 128 : 1; /* grid cell */
    const int64_t h = (H + s - 1) / s, w = (W + s - 1) / s;
    const int64_t small_side = h > w ? h : w;
    const int64_t r = small_side / 10 > 4 ? small_side / 10 : 4;
    float *page = malloc((size_t)(h * w) * sizeof *page), *tmp = malloc((size_t)(h * w) * sizeof *tmp);
    if (!page || !tmp) {
        free(page);
        free(tmp);
        return MN_ERR_NOMEM;
    }
    cell_means(page, tmp, p, H, W, s, w, h); /* the page without its noise (the closing removes the ink) */
    filter2d(page, tmp, h, w, r, FILTER_MAX); /* the ink is gone */
    filter2d(page, tmp, h, w, r, FILTER_MIN); /* the page's edges and shadows are back in place */
    filter2d(page, tmp, h, w, r / 4 > 1 ? r / 4 : 1, FILTER_MEAN); /* no steps between cells */
    /* bilinear from the cells' centres: each output row from one interpolated row of cells */
    int64_t *x0 = malloc((size_t)W * sizeof *x0);
    float *tx = malloc((size_t)W * sizeof *tx), *row = malloc((size_t)w * sizeof *row);
    if (!x0 || !tx || !row) {
        free(page), free(tmp), free(x0), free(tx), free(row);
        return MN_ERR_NOMEM;
    }
    for (int64_t x = 0; x < W; x++) {
        double fx = ((double)x + 0.5) / (double)s - 0.5;
        fx = fx < 0 ? 0 : fx > (double)(w - 1) ? (double)(w - 1) : fx;
        x0[x] = (int64_t)fx;
        tx[x] = (float)(fx - (double)x0[x]);
        if (x0[x] + 1 >= w) x0[x] = w - 1, tx[x] = 0; /* the last cell: no right neighbour */
    }
    for (int64_t y = 0; y < H; y++) {
        double fy = ((double)y + 0.5) / (double)s - 0.5;
        fy = fy < 0 ? 0 : fy > (double)(h - 1) ? (double)(h - 1) : fy;
        const int64_t y0 = (int64_t)fy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        const float ty = (float)(fy - (double)y0);
        for (int64_t c = 0; c < w; c++) row[c] = page[y0 * w + c] * (1 - ty) + page[y1 * w + c] * ty;
        const float *py = p + y * W;
        float *iy = ink + y * W;
        for (int64_t x = 0; x < W; x++) { /* the page under this row (a gather) */
            const int64_t c = x0[x], c1 = c + 1 < w ? c + 1 : c;
            iy[x] = row[c] + (row[c1] - row[c]) * tx[x];
        }
        for (int64_t x = 0; x < W; x++) { /* then the ink (vectorised) */
            const float bg = iy[x] < 0.2f ? 0.2f : iy[x];
            const float v = 1.0f - py[x] / bg;
            iy[x] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    free(x0), free(tx), free(row);
    free(page);
    free(tmp);
    return MN_OK;
}

/* ---- ruled and squared paper ---------------------------------------------------------------
 * A family of lines is walked along u (x for horizontal lines, y for vertical ones), across v. */
typedef struct {
    uint8_t *mask;         /* (H, W): 0 paper, 1 ink, 2 ink on a line */
    const uint8_t *strong; /* (H, W): the ink above the threshold */
    int64_t H, W;
    int vertical;
    int64_t su, sv;        /* the index steps along and across the lines */
} Lines;

/* The slope (dv per du) at which the ink's projection is sharpest: lines then fall on few rows.
 * uv (2 * n): a sample of the ink's (u, v); profile: scratch of `rows` counts. */
static double line_slope(const int32_t *uv, int64_t n, int64_t U, int64_t V, int32_t *profile, int32_t *shift) {
    const int64_t margin = (int64_t)ceil(PHOTO_MAX_SLANT * (double)U) + 1, rows = V + 2 * margin;
    double best = -1, best_m = 0;
    for (int pass = 0; pass < 2; pass++) {
        const double centre = best_m, delta = pass == 0 ? 0.0175 : 0.00175; /* 1 degree, then 0.1 */
        const int count = pass == 0 ? (int)(PHOTO_MAX_SLANT / delta) : 10;
        for (int k = -count; k <= count; k++) {
            const double m = centre + k * delta;
            if (fabs(m) > PHOTO_MAX_SLANT + 1e-9) continue;
            memset(profile, 0, (size_t)rows * sizeof *profile);
            for (int64_t u = 0; u < U; u++) shift[u] = (int32_t)(margin - lround(m * (double)u));
            for (int64_t i = 0; i < n; i++) profile[uv[2 * i + 1] + shift[uv[2 * i]]]++;
            double score = 0;
            for (int64_t i = 0; i < rows; i++) score += (double)profile[i] * profile[i];
            if (score > best) best = score, best_m = m;
        }
    }
    return best_m;
}

typedef struct {
    int64_t v0, first, last;
} Run;

/* The runs of ink at least `min_len` long along the sheared rows of slope m (row v0 is at
 * v0 + shift[u] at u), gaps of up to PHOTO_LINE_GAP of the frame bridged, into *runs (malloc'd).
 * row_ink[v0 + margin]: the ink on each sheared row, so rows that cannot hold a run are skipped. */
static int find_runs(Run **runs, int64_t *count, const Lines *l, int64_t U, int64_t V, const int32_t *shift,
                     int64_t margin, const int32_t *row_ink, int64_t min_len) {
    const int64_t gap = (int64_t)(PHOTO_LINE_GAP * (double)U) > 4 ? (int64_t)(PHOTO_LINE_GAP * (double)U) : 4;
    int64_t n = 0, cap = 16;
    Run *r = malloc((size_t)cap * sizeof *r);
    if (!r) return MN_ERR_NOMEM;
    for (int64_t v0 = -margin; v0 < V + margin; v0++) {
        if (row_ink[v0 + margin] < min_len / 4) continue; /* not enough ink for a line */
        int64_t first = -1, last = -1;
        for (int64_t u = 0; u <= U; u++) {
            const int64_t v = v0 + shift[u];
            const int ink = u < U && v >= 0 && v < V && l->mask[u * l->su + v * l->sv];
            if (ink && first >= 0 && u - last <= gap + 1) {
                last = u;
                continue;
            }
            if (first >= 0 && last - first + 1 >= min_len) {
                if (n == cap) {
                    Run *grown = realloc(r, (size_t)(cap *= 2) * sizeof *r);
                    if (!grown) {
                        free(r);
                        return MN_ERR_NOMEM;
                    }
                    r = grown;
                }
                r[n++] = (Run){v0, first, last};
            }
            first = last = ink ? u : -1;
        }
    }
    *runs = r;
    *count = n;
    return MN_OK;
}

/* Marks (2) the ink of a run, and the ink beside it: a thick line's edge rows hold shorter runs. */
static void mark_run(Lines *l, int64_t V, const int32_t *shift, const Run *run) {
    for (int64_t k = run->first; k <= run->last; k++) {
        const int64_t vk = run->v0 + shift[k];
        if (vk < 0 || vk >= V || !l->mask[k * l->su + vk * l->sv]) continue;
        for (int64_t d = -PHOTO_LINE_EDGE; d <= PHOTO_LINE_EDGE; d++)
            if (vk + d >= 0 && vk + d < V && l->mask[k * l->su + (vk + d) * l->sv])
                l->mask[k * l->su + (vk + d) * l->sv] = 2;
    }
}

/* Puts back the line pixels where a stroke crosses the line: strong ink off the lines on both
 * sides of it, across it, within two pixels. Walks the picture row by row; a stretch of line
 * pixels across the line is followed from its first pixel. */
static void restore_crossings(Lines *l, int64_t V) {
    const int64_t n = l->H * l->W, sv = l->sv;
    uint8_t *m = l->mask;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *next = memchr(m + i, 2, (size_t)(n - i)); /* line pixels are few: skip to one */
        if (!next) break;
        i = next - m;
        const int64_t v = l->vertical ? i % l->W : i / l->W;
        if (v > 0 && m[i - sv] == 2) continue; /* not the first of its stretch */
        int64_t end = v;
        while (end + 1 < V && m[i + (end + 1 - v) * sv] == 2) end++;
        int before = 0, after = 0;
        for (int64_t d = 1; d <= 2; d++) {
            if (v - d >= 0 && m[i - d * sv] == 1 && l->strong[i - d * sv]) before = 1;
            if (end + d < V && m[i + (end - v + d) * sv] == 1 && l->strong[i + (end - v + d) * sv]) after = 1;
        }
        if (before && after)
            for (int64_t k = 0; k <= end - v; k++) m[i + k * sv] = 3; /* kept, not re-tested */
    }
    for (int64_t i = 0; i < n; i++) m[i] = m[i] == 3 ? 1 : m[i];
}

/* The first x in [from, end) with row[x] != 0, or end: eight bytes at a time over the paper. */
static inline int64_t next_set(const uint8_t *row, int64_t from, int64_t end) {
    int64_t x = from;
    for (; x + 8 <= end; x += 8) {
        uint64_t word;
        memcpy(&word, row + x, 8);
        if (word) break;
    }
    while (x < end && !row[x]) x++;
    return x;
}

static int remove_lines(uint8_t *mask, const uint8_t *strong, int64_t H, int64_t W, int vertical) {
    Lines l = {mask, strong, H, W, vertical, vertical ? W : 1, vertical ? 1 : W};
    const int64_t U = vertical ? H : W, V = vertical ? W : H;
    const int64_t margin = (int64_t)ceil(PHOTO_MAX_SLANT * (double)U) + 1, rows = V + 2 * margin;
    int64_t ink = 0;
    for (int64_t i = 0; i < H * W; i++) ink += mask[i] != 0;
    const int64_t step = ink > 100000 ? ink / 100000 + 1 : 1, n = (ink + step - 1) / step; /* a sample is enough */
    int32_t *profile = malloc((size_t)rows * sizeof *profile), *uv = calloc((size_t)(2 * n + 2), sizeof *uv);
    int32_t *shift = malloc((size_t)(U + 1) * sizeof *shift);
    if (!profile || !uv || !shift) {
        free(profile), free(uv), free(shift);
        return MN_ERR_NOMEM;
    }
    int64_t seen = 0, kept = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = next_set(mask + y * W, 0, W); x < W; x = next_set(mask + y * W, x + 1, W))
            if (seen++ % step == 0 && kept < n) {
                uv[2 * kept] = (int32_t)(vertical ? y : x);
                uv[2 * kept + 1] = (int32_t)(vertical ? x : y);
                kept++;
            }
    const double m = line_slope(uv, kept, U, V, profile, shift);
    free(uv);
    /* the ink on each sheared row at that slope, every pixel counted */
    for (int64_t u = 0; u <= U; u++) shift[u] = (int32_t)lround(m * (double)u);
    memset(profile, 0, (size_t)rows * sizeof *profile);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = next_set(mask + y * W, 0, W); x < W; x = next_set(mask + y * W, x + 1, W)) {
            const int64_t u = vertical ? y : x, v = vertical ? x : y;
            profile[v - shift[u] + margin]++;
        }
    Run *runs = NULL;
    int64_t count = 0;
    int st = find_runs(&runs, &count, &l, U, V, shift, margin, profile, (int64_t)(PHOTO_LINE_FAMILY * (double)U));
    free(profile);
    if (st != MN_OK) {
        free(shift);
        return st;
    }
    int64_t groups = 0;
    for (int64_t k = 0; k < count; k++) groups += k == 0 || runs[k].v0 - runs[k - 1].v0 > 2;
    const int64_t single = (int64_t)(PHOTO_LINE_SINGLE * (double)U);
    for (int64_t k = 0; k < count; k++)
        if (groups >= 2 || runs[k].last - runs[k].first + 1 >= single) mark_run(&l, V, shift, &runs[k]);
    free(runs);
    free(shift);
    restore_crossings(&l, V);
    return MN_OK;
}

/* ---- blobs ------------------------------------------------------------------------------- */
typedef struct {
    int64_t area, top, bottom, left, right;
    int edge; /* touches the frame */
} Blob;

/* label (H, W) = 1-based blob of each ink pixel (8-connected), 0 elsewhere; *blobs malloc'd. */
static int find_blobs(int32_t *label, Blob **blobs, int64_t *count, const uint8_t *mask, int64_t H, int64_t W) {
    int64_t cap = 64, n = 0;
    Blob *b = malloc((size_t)cap * sizeof *b);
    int64_t *stack = mem_alloc_large((size_t)(H * W) * sizeof *stack);
    if (!b || !stack) {
        free(b);
        free(stack);
        return MN_ERR_NOMEM;
    }
    memset(label, 0, (size_t)(H * W) * sizeof *label);
    for (int64_t start = 0; start < H * W; start++) {
        if (mask[start] != 1 || label[start]) continue;
        if (n == cap) {
            Blob *grown = realloc(b, (size_t)(cap *= 2) * sizeof *b);
            if (!grown) {
                free(b);
                free(stack);
                return MN_ERR_NOMEM;
            }
            b = grown;
        }
        Blob *blob = &b[n++];
        *blob = (Blob){0, H, -1, W, -1, 0};
        int64_t top = 0;
        stack[top++] = start;
        label[start] = (int32_t)n;
        while (top) {
            const int64_t i = stack[--top], y = i / W, x = i % W;
            blob->area++;
            if (y < blob->top) blob->top = y;
            if (y > blob->bottom) blob->bottom = y;
            if (x < blob->left) blob->left = x;
            if (x > blob->right) blob->right = x;
            if (y == 0 || x == 0 || y == H - 1 || x == W - 1) blob->edge = 1;
            for (int64_t dy = -1; dy <= 1; dy++)
                for (int64_t dx = -1; dx <= 1; dx++) {
                    const int64_t ny = y + dy, nx = x + dx;
                    if (ny < 0 || nx < 0 || ny >= H || nx >= W) continue;
                    const int64_t j = ny * W + nx;
                    if (mask[j] == 1 && !label[j]) {
                        label[j] = (int32_t)n;
                        stack[top++] = j;
                    }
                }
        }
    }
    free(stack);
    *blobs = b;
    *count = n;
    return MN_OK;
}

/* Gap between two boxes (0 when they overlap), in pixels. */
static int64_t box_gap(const Blob *a, int64_t top, int64_t bottom, int64_t left, int64_t right) {
    const int64_t dy = a->top > bottom ? a->top - bottom : top > a->bottom ? top - a->bottom : 0;
    const int64_t dx = a->left > right ? a->left - right : left > a->right ? left - a->right : 0;
    return dy > dx ? dy : dx;
}

/* d (h, w) = chamfer (3-4) distance, in pixels, to the nearest pixel where `inside` is `target`
 * (0 there): with target 0, how deep into the ink each ink pixel lies (1 at its edge). */
static void chamfer(float *d, const uint8_t *inside, int64_t h, int64_t w, int target) {
    const int32_t far = INT32_MAX / 4;
    int32_t *c = (int32_t *)d; /* integer passes in place, converted at the end */
    for (int64_t i = 0; i < h * w; i++) c[i] = (inside[i] != 0) == (target != 0) ? 0 : far;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int32_t v = c[y * w + x];
            if (!v) continue;
            /* outside the picture counts as background for depth, as nothing for distance */
            const int32_t edge = target == 0 ? 3 : far;
            const int32_t up = y ? c[(y - 1) * w + x] + 3 : edge, left = x ? c[y * w + x - 1] + 3 : edge;
            const int32_t ul = y && x ? c[(y - 1) * w + x - 1] + 4 : edge + 1;
            const int32_t ur = y && x + 1 < w ? c[(y - 1) * w + x + 1] + 4 : edge + 1;
            v = up < v ? up : v, v = left < v ? left : v, v = ul < v ? ul : v, v = ur < v ? ur : v;
            c[y * w + x] = v;
        }
    for (int64_t y = h - 1; y >= 0; y--)
        for (int64_t x = w - 1; x >= 0; x--) {
            int32_t v = c[y * w + x];
            if (!v) continue;
            const int32_t edge = target == 0 ? 3 : far;
            const int32_t down = y + 1 < h ? c[(y + 1) * w + x] + 3 : edge;
            const int32_t right = x + 1 < w ? c[y * w + x + 1] + 3 : edge;
            const int32_t dr = y + 1 < h && x + 1 < w ? c[(y + 1) * w + x + 1] + 4 : edge + 1;
            const int32_t dl = y + 1 < h && x ? c[(y + 1) * w + x - 1] + 4 : edge + 1;
            v = down < v ? down : v, v = right < v ? right : v, v = dr < v ? dr : v, v = dl < v ? dl : v;
            c[y * w + x] = v;
        }
    for (int64_t i = 0; i < h * w; i++) d[i] = c[i] >= far ? 1e9f : (float)c[i] / 3.0f;
}

typedef struct {
    float *p, *ink;
    uint8_t *mask, *faint, *digit;
    Blob *blobs;
    float *depth, *dist;
} Work;

static void work_free(Work *w) {
    free(w->p), free(w->ink), free(w->mask), free(w->faint), free(w->digit), free(w->blobs);
    free(w->depth), free(w->dist);
}

static int clean(Work *wk, Tensor *out, const Tensor *gray, char *why, size_t why_size) {
    const int64_t H = gray->shape[0], W = gray->shape[1], n = H * W;
    /* the picture-sized buffers: on huge pages (sys/memory.h) */
    wk->p = mem_alloc_large((size_t)n * sizeof *wk->p);
    wk->ink = mem_alloc_large((size_t)n * sizeof *wk->ink);
    wk->mask = mem_alloc_large((size_t)n);
    if (!wk->p || !wk->ink || !wk->mask) return MN_ERR_NOMEM;
    float *p = wk->p, *ink = wk->ink;
    int64_t hist[256];
    if (gray->dtype == DTYPE_UINT8) {
        const uint8_t *g = tensor_u8(gray);
        for (int64_t i = 0; i < n; i++) p[i] = (float)g[i] / 255.0f;
        uint32_t part[4][256] = {{0}}; /* the bytes are the bins of histogram(p) */
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (int k = 0; k < 4; k++) part[k][g[i + k]]++;
        for (; i < n; i++) part[0][g[i]]++;
        for (int b = 0; b < 256; b++) hist[b] = (int64_t)part[0][b] + part[1][b] + part[2][b] + part[3][b];
    } else {
        memcpy(p, tensor_f32(gray), (size_t)n * sizeof *p);
        histogram(hist, p, n);
    }

    /* 1. polarity */
    const float median = quantile(hist, n, 0.5);
    int polarity, st = ink_polarity(&polarity, p, H, W);
    if (st != MN_OK) return st;
    const int light = polarity > 0 || (polarity == 0 && median > 0.5f);
    if (!light)
        for (int64_t i = 0; i < n; i++) p[i] = 1.0f - p[i];
    float darkest = 1;
    for (int64_t i = 0; i < n; i++) darkest = p[i] < darkest ? p[i] : darkest;
    const float page = light ? median : 1.0f - median;
    if (!(page - darkest >= IMAGE_BLANK_CONTRAST)) {
        image_blank_reason(why, why_size, light, page - darkest);
        return MN_ERR_FORMAT;
    }

    /* 2-3. flatten the light, binarise */
    st = flatten(ink, p, H, W);
    if (st != MN_OK) return st;
    float threshold = otsu(ink, n);
    threshold = threshold < PHOTO_MIN_INK ? PHOTO_MIN_INK : threshold;
    int64_t inked = 0;
    for (int64_t i = 0; i < n; i++) inked += wk->mask[i] = ink[i] > threshold;
    if (!inked) goto no_digit;

    /* 4. ruled and squared paper: the lines are found in fainter ink than the digit's (a light
     * ruling is only partly above the threshold) and taken out of the digit's ink */
    wk->faint = mem_alloc_large((size_t)n);
    if (!wk->faint) return MN_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) wk->faint[i] = ink[i] > PHOTO_LINE_INK * threshold;
    if ((st = remove_lines(wk->faint, wk->mask, H, W, 0)) != MN_OK) return st;
    if ((st = remove_lines(wk->faint, wk->mask, H, W, 1)) != MN_OK) return st;
    for (int64_t i = 0; i < n; i++) wk->mask[i] = wk->mask[i] && wk->faint[i] == 1 ? 1 : wk->faint[i] == 2 ? 2 : 0;

    /* 5. the digit's blobs */
    int64_t count;
    int32_t *label = (int32_t *)(void *)p; /* p is done with after flattening: its bytes hold the labels */
    if ((st = find_blobs(label, &wk->blobs, &count, wk->mask, H, W)) != MN_OK) return st;
    int64_t main = -1;
    double best = 0;
    for (int64_t b = 0; b < count; b++) {
        const double score = (double)wk->blobs[b].area * (wk->blobs[b].edge ? 0.3 : 1.0);
        if (score > best) best = score, main = b;
    }
    if (main < 0) goto no_digit;
    const Blob *m = &wk->blobs[main];
    const int64_t mh = m->bottom - m->top + 1, mw = m->right - m->left + 1, msize = mh > mw ? mh : mw;
    const int64_t side = H > W ? H : W, least = side / 50 > 8 ? side / 50 : 8;
    if (msize < least) {
        snprintf(why, why_size, "no digit-like ink: the largest mark is %lld x %lld pixels of a "
                 "%lld x %lld picture (specks, lines or shading only)", (long long)mh, (long long)mw,
                 (long long)H, (long long)W);
        return MN_ERR_FORMAT;
    }
    uint8_t *keep = calloc((size_t)count + 1, 1);
    if (!keep) return MN_ERR_NOMEM;
    int64_t top = m->top, bottom = m->bottom, left = m->left, right = m->right;
    keep[main + 1] = 1;
    for (int64_t b = 0; b < count; b++) {
        const Blob *o = &wk->blobs[b];
        if (b == main || (double)o->area < PHOTO_PART_AREA * (double)m->area || (o->edge && !m->edge)) continue;
        if ((double)box_gap(o, m->top, m->bottom, m->left, m->right) > PHOTO_PART_GAP * (double)msize) continue;
        keep[b + 1] = 1;
        top = o->top < top ? o->top : top, bottom = o->bottom > bottom ? o->bottom : bottom;
        left = o->left < left ? o->left : left, right = o->right > right ? o->right : right;
    }

    /* 6. stroke width, on a crop around the digit with room for thickening */
    const int64_t dh = bottom - top + 1, dw = right - left + 1, dsize = dh > dw ? dh : dw;
    const int64_t room = (int64_t)ceil(PHOTO_MNIST_STROKE * (double)dsize) + 3;
    const int64_t y0 = top - room < 0 ? 0 : top - room, x0 = left - room < 0 ? 0 : left - room;
    const int64_t y1 = bottom + room >= H ? H - 1 : bottom + room, x1 = right + room >= W ? W - 1 : right + room;
    const int64_t ch = y1 - y0 + 1, cw = x1 - x0 + 1;
    wk->digit = malloc((size_t)(ch * cw));
    wk->depth = malloc((size_t)(ch * cw) * sizeof *wk->depth);
    wk->dist = malloc((size_t)(ch * cw) * sizeof *wk->dist);
    if (!wk->digit || !wk->depth || !wk->dist) {
        free(keep);
        return MN_ERR_NOMEM;
    }
    int64_t area = 0, *stack = malloc((size_t)(ch * cw) * sizeof *stack), top_of_stack = 0;
    if (!stack) {
        free(keep);
        return MN_ERR_NOMEM;
    }
    for (int64_t y = 0; y < ch; y++)
        for (int64_t x = 0; x < cw; x++) {
            const int32_t b = label[(y0 + y) * W + x0 + x];
            wk->digit[y * cw + x] = b && keep[b];
            if (wk->digit[y * cw + x]) stack[top_of_stack++] = y * cw + x;
        }
    free(keep);
    /* hysteresis: the fainter ink joined to the digit's strokes is part of them (a thin, light
     * stretch of a stroke would otherwise cut the digit in pieces) */
    while (top_of_stack) {
        const int64_t i = stack[--top_of_stack], y = i / cw, x = i % cw;
        area++;
        for (int64_t dy = -1; dy <= 1; dy++)
            for (int64_t dx = -1; dx <= 1; dx++) {
                const int64_t ny = y + dy, nx = x + dx, j = ny * cw + nx, src = (y0 + ny) * W + x0 + nx;
                if (ny < 0 || nx < 0 || ny >= ch || nx >= cw || wk->digit[j]) continue;
                if (wk->faint[src] == 1 && ink[src] > PHOTO_HYSTERESIS * threshold) {
                    wk->digit[j] = 1;
                    stack[top_of_stack++] = j;
                }
            }
    }
    free(stack);
    chamfer(wk->depth, wk->digit, ch, cw, 0);
    double depth_sum = 0;
    for (int64_t i = 0; i < ch * cw; i++) depth_sum += wk->digit[i] ? wk->depth[i] : 0;
    const double stroke = 4.0 * depth_sum / (double)area - 2.0, want = PHOTO_MNIST_STROKE * (double)dsize;
    /* never more than to MNIST's width: a blob that is mostly thin lines must not swell */
    const double grow = stroke < PHOTO_THIN * want && stroke > 0 ? (want - stroke) / 2 : 0;

    /* the soft ink near the digit (its anti-aliased edges too), thickened when too thin */
    chamfer(wk->dist, wk->digit, ch, cw, 1);
    int64_t shape[2] = {ch, cw};
    if ((st = tensor_init(out, DTYPE_FLOAT32, 2, shape)) != MN_OK) return st;
    float *o = tensor_f32(out); // (ch, cw)
    for (int64_t y = 0; y < ch; y++)
        for (int64_t x = 0; x < cw; x++) {
            const int64_t i = y * cw + x, src = (y0 + y) * W + x0 + x;
            const float d = wk->dist[i];
            float v = d <= 2.0f && wk->mask[src] != 2 ? ink[src] : 0.0f;
            if (grow > 0) {
                const float thick = (float)(grow + 0.5 - d);
                v = thick > v ? thick : v;
            }
            o[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    return MN_OK;

no_digit:
    snprintf(why, why_size, "no digit-like ink: nothing but shading%s stands out from the %s page",
             inked ? ", ruled lines or specks" : "", light ? "light" : "dark");
    return MN_ERR_FORMAT;
}

int image_photo_clean(Tensor *out, const Tensor *gray, char *why, size_t why_size) {
    tensor_release(out);
    why[0] = '\0';
    if (!gray->storage) return MN_ERR_ARG;
    if (gray->ndim != 2 || (gray->dtype != DTYPE_UINT8 && gray->dtype != DTYPE_FLOAT32)) return MN_ERR_SHAPE;
    if (gray->shape[0] < 1 || gray->shape[1] < 1 || gray->shape[0] * gray->shape[1] > IMAGE_MAX_PIXELS) {
        snprintf(why, why_size, "a %lld x %lld image is too large or empty", (long long)gray->shape[0],
                 (long long)gray->shape[1]);
        return MN_ERR_SHAPE;
    }
    Work wk = {0};
    int st = clean(&wk, out, gray, why, why_size);
    work_free(&wk);
    if (st != MN_OK) tensor_release(out);
    return st;
}

int image_picture_to_mnist(float *out, const void *data, size_t len, int photo, char *why, size_t why_size) {
    Tensor gray = {0}, clean_ink = {0}, digit = {0};
    int st = image_decode_gray(&gray, data, len, IMAGE_WORK_SIDE, why, why_size);
    if (st == MN_OK && photo) st = image_photo_clean(&clean_ink, &gray, why, why_size);
    if (st == MN_OK) st = image_mnist_recipe(&digit, photo ? &clean_ink : &gray, why, why_size);
    if (st == MN_OK) memcpy(out, tensor_f32(&digit), IMAGE_MNIST_SIZE * IMAGE_MNIST_SIZE * sizeof *out);
    tensor_release(&gray);
    tensor_release(&clean_ink);
    tensor_release(&digit);
    return st;
}

typedef struct {
    float *out;
    int *status;
    char *why;
    size_t why_size;
    const void *const *data;
    const size_t *len;
    int photo;
} Batch;

static void batch_part(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    const Batch *b = ctx;
    for (int64_t i = lo; i < hi; i++)
        b->status[i] = image_picture_to_mnist(b->out + i * IMAGE_MNIST_SIZE * IMAGE_MNIST_SIZE, b->data[i],
                                              b->len[i], b->photo, b->why + i * b->why_size, b->why_size);
}

int image_pictures_to_mnist(Tensor *out, int *status, char *why, size_t why_size, const void *const *data,
                            const size_t *len, int64_t n, int photo) {
    int64_t shape[3] = {n, IMAGE_MNIST_SIZE, IMAGE_MNIST_SIZE};
    int st = tensor_init(out, DTYPE_FLOAT32, 3, shape);
    if (st != MN_OK) return st;
    for (int64_t i = 0; i < n; i++) why[i * why_size] = '\0';
    Batch b = {tensor_f32(out), status, why, why_size, data, len, photo};
    parallel_for(n, 1, batch_part, &b);
    return MN_OK;
}
