#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor_reduce.h"

#include <math.h>
#include <stdlib.h>

#include "sys/parallel.h"
#include "tensor/strided.h"

/* Partial accumulators of a contiguous slice: independent lanes GCC vectorises without
 * reassociating, combined in a fixed order (so results never depend on the vector width). */
#define LANES 8
/* Outputs accumulated together when the slices' elements are further apart than the outputs
 * (sum(1) of a row-major matrix): whole rows are added into this many doubles at a time. */
#define ROW_BLOCK 1024

static const char *const reduce_names[REDUCE_COUNT] = {"sum", "prod", "mean", "var", "std", "norm"};

const char *tensor_reduce_name(int op) { return op >= 0 && op < REDUCE_COUNT ? reduce_names[op] : "?"; }

/* ---- shapes and operands ---- */

/* x with dim's size set to 1: the first element of every slice along dim, in output order. A
 * borrowed view (no reference taken): only read while x lives. */
static Tensor slice_base(const Tensor *x, int dim) {
    Tensor b = *x;
    b.shape[dim] = 1;
    b.numel = 1;
    for (int d = 0; d < b.ndim; d++) b.numel *= b.shape[d];
    return b;
}

static int check_input(const Tensor *x, int dim) {
    if (!x->storage) return MN_ERR_ARG;
    if (x->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    return dim >= 0 && dim < x->ndim ? MN_OK : MN_ERR_ARG;
}

/* out must have x's sizes with dim's `size`, and `dtype`. */
static int check_output(const Tensor *out, const Tensor *x, int dim, int64_t size, int dtype) {
    if (!out->storage) return MN_ERR_ARG;
    if (out->dtype != dtype) return MN_ERR_DTYPE;
    if (out->ndim != x->ndim) return MN_ERR_SHAPE;
    for (int d = 0; d < x->ndim; d++)
        if (out->shape[d] != (d == dim ? size : x->shape[d])) return MN_ERR_SHAPE;
    return MN_OK;
}

/* x, or a copy of it in `copy` when it overlaps one of the outputs (so no element is read after
 * it was written). */
static int unalias(const Tensor **x, const Tensor *out1, const Tensor *out2, Tensor *copy) {
    int st = tensor_unalias(x, out1, copy, 0);
    if (!st && *x != copy && out2) st = tensor_unalias(x, out2, copy, 0);
    return st;
}

/* Slices per thread that make STRIDED_GRAIN elements of work. */
static int64_t slice_grain(int64_t n) { return n > 0 && n < STRIDED_GRAIN ? STRIDED_GRAIN / n : 1; }

static inline int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

/* ---- folds: combine f(v) over a run of floats in double ---- */

typedef enum {
    FOLD_SUM,     /* + v */
    FOLD_PROD,    /* * v */
    FOLD_ABS_SUM, /* + |v| */
    FOLD_SQ_SUM,  /* + v^2 */
    FOLD_NONZERO, /* + (v != 0) */
    FOLD_ABS_MAX, /* max |v|, NaN wins */
    FOLD_POW_SUM, /* + |v|^p */
    FOLD_DEV_SUM, /* + (v - mean)^2 */
} fold_kind;

#define ADD(a, b) ((a) + (b))
#define MUL(a, b) ((a) * (b))
#define MAXNAN(a, b) ((b) > (a) || (b) != (b) ? (b) : (a))

static double fold_identity(int kind) { return kind == FOLD_PROD ? 1.0 : 0.0; }

static double fold_combine(int kind, double a, double b) {
    if (kind == FOLD_PROD) return MUL(a, b);
    if (kind == FOLD_ABS_MAX) return MAXNAN(a, b);
    return ADD(a, b);
}

/* acc = COMBINE over the n floats at p, s bytes apart, of F (an expression of v). */
#define FOLD_SLICE(F, COMBINE, INIT)                                                           \
    do {                                                                                       \
        double lane[LANES];                                                                    \
        for (int k = 0; k < LANES; k++) lane[k] = (INIT);                                      \
        int64_t i = 0;                                                                         \
        if (s == 4) {                                                                          \
            const float *x = (const float *)p;                                                 \
            for (; i + LANES <= n; i += LANES)                                                 \
                for (int k = 0; k < LANES; k++) {                                              \
                    double v = x[i + k];                                                       \
                    lane[k] = COMBINE(lane[k], (F));                                           \
                }                                                                              \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            double v = *(const float *)(p + i * s);                                            \
            lane[0] = COMBINE(lane[0], (F));                                                   \
        }                                                                                      \
        acc = lane[0];                                                                         \
        for (int k = 1; k < LANES; k++) acc = COMBINE(acc, lane[k]);                           \
    } while (0)

/* The fold of one slice: n floats at p, s bytes apart. `a` is p of FOLD_POW_SUM, the mean of
 * FOLD_DEV_SUM. */
static double fold_slice(int kind, double a, const char *p, int64_t n, int64_t s) {
    double acc = 0.0;
    switch (kind) {
    case FOLD_SUM: FOLD_SLICE(v, ADD, 0.0); break;
    case FOLD_PROD: FOLD_SLICE(v, MUL, 1.0); break;
    case FOLD_ABS_SUM: FOLD_SLICE(fabs(v), ADD, 0.0); break;
    case FOLD_SQ_SUM: FOLD_SLICE(v * v, ADD, 0.0); break;
    case FOLD_NONZERO: FOLD_SLICE((double)(v != 0.0), ADD, 0.0); break;
    case FOLD_ABS_MAX: FOLD_SLICE(fabs(v), MAXNAN, 0.0); break;
    case FOLD_POW_SUM: FOLD_SLICE(pow(fabs(v), a), ADD, 0.0); break;
    case FOLD_DEV_SUM: FOLD_SLICE((v - a) * (v - a), ADD, 0.0); break;
    }
    return acc;
}

/* acc[0..m) = COMBINE of F over n rows (s bytes apart) of m floats (sx bytes apart) at p: row by
 * row, so a row-major matrix is read in order and the inner loop is vectorised. */
#define FOLD_ROWS(F, COMBINE, INIT)                                                            \
    do {                                                                                       \
        for (int64_t j = 0; j < m; j++) acc[j] = (INIT);                                       \
        int64_t r = 0;                                                                         \
        if (sx == 4) /* four rows per pass over acc: the same order, a quarter of acc's traffic */ \
            for (; r + 4 <= n; r += 4) {                                                       \
                const float *x0 = (const float *)(p + r * s), *x1 = (const float *)(p + (r + 1) * s); \
                const float *x2 = (const float *)(p + (r + 2) * s), *x3 = (const float *)(p + (r + 3) * s); \
                for (int64_t j = 0; j < m; j++) {                                              \
                    double t = acc[j], v;                                                      \
                    v = x0[j], t = COMBINE(t, (F));                                            \
                    v = x1[j], t = COMBINE(t, (F));                                            \
                    v = x2[j], t = COMBINE(t, (F));                                            \
                    v = x3[j], t = COMBINE(t, (F));                                            \
                    acc[j] = t;                                                                \
                }                                                                              \
            }                                                                                  \
        for (; r < n; r++) {                                                                   \
            const char *row = p + r * s;                                                       \
            if (sx == 4) {                                                                     \
                const float *x = (const float *)row;                                           \
                for (int64_t j = 0; j < m; j++) {                                              \
                    double v = x[j];                                                           \
                    acc[j] = COMBINE(acc[j], (F));                                             \
                }                                                                              \
            } else {                                                                           \
                for (int64_t j = 0; j < m; j++) {                                              \
                    double v = *(const float *)(row + j * sx);                                 \
                    acc[j] = COMBINE(acc[j], (F));                                             \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* The folds of m slices at once; `mean` holds FOLD_DEV_SUM's per-slice means. */
static void fold_rows(double *restrict acc, int kind, double a, const double *mean, const char *p,
                      int64_t m, int64_t sx, int64_t n, int64_t s) {
    switch (kind) {
    case FOLD_SUM: FOLD_ROWS(v, ADD, 0.0); break;
    case FOLD_PROD: FOLD_ROWS(v, MUL, 1.0); break;
    case FOLD_ABS_SUM: FOLD_ROWS(fabs(v), ADD, 0.0); break;
    case FOLD_SQ_SUM: FOLD_ROWS(v * v, ADD, 0.0); break;
    case FOLD_NONZERO: FOLD_ROWS((double)(v != 0.0), ADD, 0.0); break;
    case FOLD_ABS_MAX: FOLD_ROWS(fabs(v), MAXNAN, 0.0); break;
    case FOLD_POW_SUM: FOLD_ROWS(pow(fabs(v), a), ADD, 0.0); break;
    case FOLD_DEV_SUM: FOLD_ROWS((v - mean[j]) * (v - mean[j]), ADD, 0.0); break;
    }
}

/* ---- sum, prod, mean, var, std, norm ---- */

static int fold_of(int op, double arg) {
    switch (op) {
    case REDUCE_PROD: return FOLD_PROD;
    case REDUCE_NORM:
        if (arg == 0.0) return FOLD_NONZERO;
        if (arg == 1.0) return FOLD_ABS_SUM;
        if (arg == 2.0) return FOLD_SQ_SUM;
        if (isinf(arg) && arg > 0) return FOLD_ABS_MAX;
        return FOLD_POW_SUM;
    default: return FOLD_SUM; /* sum, mean, and var's first pass */
    }
}

/* The op's value from its fold over n elements (var, std: the fold of the deviations). */
static double finish(int op, double arg, double acc, int64_t n) {
    switch (op) {
    case REDUCE_MEAN: return acc / (double)n;
    case REDUCE_VAR: return acc / (double)(arg != 0.0 ? n : n - 1);
    case REDUCE_STD: return sqrt(acc / (double)(arg != 0.0 ? n : n - 1));
    case REDUCE_NORM:
        if (arg == 2.0) return sqrt(acc);
        if (arg == 0.0 || arg == 1.0 || (isinf(arg) && arg > 0)) return acc;
        return pow(acc, 1.0 / arg);
    default: return acc;
    }
}

static int is_deviation(int op) { return op == REDUCE_VAR || op == REDUCE_STD; }

typedef struct {
    int op, kind;
    double arg;
    int64_t n, s; /* elements per slice, bytes between them */
} ReduceArgs;

/* ptr[0]: outputs, ptr[1]: the slices' first elements. */
static void reduce_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const ReduceArgs *r = ctx;
    char *ob = ptr[0];
    const char *xb = ptr[1];
    int64_t so = step[0], sx = step[1], n = r->n, s = r->s;
    if (abs64(sx) < abs64(s)) { /* neighbouring slices are closer than a slice's elements: by rows */
        double acc[ROW_BLOCK], mean[ROW_BLOCK];
        for (int64_t j0 = 0; j0 < count; j0 += ROW_BLOCK) {
            int64_t m = count - j0 < ROW_BLOCK ? count - j0 : ROW_BLOCK;
            const char *p = xb + j0 * sx;
            fold_rows(acc, r->kind, r->arg, NULL, p, m, sx, n, s);
            if (is_deviation(r->op)) {
                for (int64_t j = 0; j < m; j++) mean[j] = acc[j] / (double)n;
                fold_rows(acc, FOLD_DEV_SUM, 0.0, mean, p, m, sx, n, s);
            }
            for (int64_t j = 0; j < m; j++)
                *(float *)(ob + (j0 + j) * so) = (float)finish(r->op, r->arg, acc[j], n);
        }
        return;
    }
    for (int64_t i = 0; i < count; i++) {
        const char *p = xb + i * sx;
        double acc = fold_slice(r->kind, r->arg, p, n, s);
        if (is_deviation(r->op)) acc = fold_slice(FOLD_DEV_SUM, acc / (double)n, p, n, s);
        *(float *)(ob + i * so) = (float)finish(r->op, r->arg, acc, n);
    }
}

int tensor_reduce_dim(Tensor *out, const Tensor *x, int dim, int op, double arg) {
    if (op < 0 || op >= REDUCE_COUNT) return MN_ERR_ARG;
    int st = check_input(x, dim);
    if (!st) st = check_output(out, x, dim, 1, DTYPE_FLOAT32);
    Tensor copy = {0};
    if (!st) st = unalias(&x, out, NULL, &copy);
    if (st) return st;
    Tensor base = slice_base(x, dim);
    ReduceArgs r = {op, fold_of(op, arg), arg, x->shape[dim], x->stride[dim] * 4};
    const Tensor *ops[2] = {out, &base};
    strided_apply(2, ops, slice_grain(r.n), reduce_run, &r);
    tensor_release(&copy);
    return MN_OK;
}

typedef struct {
    int kind;
    double a;
    double part[PARALLEL_MAX_THREADS];
} AllArgs;

static void all_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    AllArgs *f = ctx;
    f->part[part] = fold_combine(f->kind, f->part[part], fold_slice(f->kind, f->a, ptr[0], count, step[0]));
}

/* The fold of all of x's elements: per-part folds combined in part order. */
static double fold_all(const Tensor *x, int kind, double a) {
    AllArgs f = {.kind = kind, .a = a};
    int parts = strided_parts(x->numel, STRIDED_GRAIN);
    for (int p = 0; p < parts; p++) f.part[p] = fold_identity(kind);
    const Tensor *ops[1] = {x};
    strided_apply(1, ops, STRIDED_GRAIN, all_run, &f);
    double acc = f.part[0];
    for (int p = 1; p < parts; p++) acc = fold_combine(kind, acc, f.part[p]);
    return acc;
}

/* Sum of a uint8 or int64 tensor (exact below 2^53). */
static double sum_integers(const Tensor *x) {
    Walk w;
    walk_init(&w, x);
    double acc = 0.0;
    for (int64_t left = x->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++)
            acc += x->dtype == DTYPE_UINT8 ? (double)*(const uint8_t *)(w.ptr + i * s)
                                           : (double)*(const int64_t *)(w.ptr + i * s);
        walk_advance(&w, n);
        left -= n;
    }
    return acc;
}

int tensor_reduce_all(double *result, const Tensor *x, int op, double arg) {
    if (op < 0 || op >= REDUCE_COUNT) return MN_ERR_ARG;
    if (!x->storage) return MN_ERR_ARG;
    if (x->dtype != DTYPE_FLOAT32) {
        if (op != REDUCE_SUM && op != REDUCE_MEAN) return MN_ERR_DTYPE;
        *result = finish(op, arg, sum_integers(x), x->numel);
        return MN_OK;
    }
    double acc = fold_all(x, fold_of(op, arg), arg);
    if (is_deviation(op)) acc = fold_all(x, FOLD_DEV_SUM, acc / (double)x->numel);
    *result = finish(op, arg, acc, x->numel);
    return MN_OK;
}

/* ---- max, min ---- */

/* The position of the largest (want_min: smallest) of n floats at p, s bytes apart (n >= 1): the
 * first on ties, the first NaN if any. */
static int64_t extreme_slice(const char *p, int64_t n, int64_t s, int want_min) {
    float best = *(const float *)p;
    int64_t at = 0;
    if (best != best) return 0;
    for (int64_t i = 1; i < n; i++) {
        float v = *(const float *)(p + i * s);
        if (v != v) return i;
        if (want_min ? v < best : v > best) best = v, at = i;
    }
    return at;
}

typedef struct {
    int64_t n, s;
    int want_min;
} ExtremeArgs;

/* The extremes of m slices at once, row by row (as fold_rows): best[j], at[j] for slice j. */
static void extreme_rows(float *best, int64_t *at, const char *p, int64_t m, int64_t sx, int64_t n,
                         int64_t s, int want_min) {
    for (int64_t j = 0; j < m; j++) best[j] = *(const float *)(p + j * sx), at[j] = 0;
    for (int64_t r = 1; r < n; r++) {
        const char *row = p + r * s;
        for (int64_t j = 0; j < m; j++) {
            float v = *(const float *)(row + j * sx), b = best[j];
            if (b == b && (v != v || (want_min ? v < b : v > b))) best[j] = v, at[j] = r;
        }
    }
}

/* ptr[0]: values, ptr[1]: indices, ptr[2]: the slices' first elements. */
static void extreme_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const ExtremeArgs *e = ctx;
    if (abs64(step[2]) < abs64(e->s)) { /* neighbouring slices are closer: by rows */
        float best[ROW_BLOCK];
        int64_t at[ROW_BLOCK];
        for (int64_t j0 = 0; j0 < count; j0 += ROW_BLOCK) {
            int64_t m = count - j0 < ROW_BLOCK ? count - j0 : ROW_BLOCK;
            extreme_rows(best, at, ptr[2] + j0 * step[2], m, step[2], e->n, e->s, e->want_min);
            for (int64_t j = 0; j < m; j++) {
                *(float *)(ptr[0] + (j0 + j) * step[0]) = best[j];
                *(int64_t *)(ptr[1] + (j0 + j) * step[1]) = at[j];
            }
        }
        return;
    }
    for (int64_t i = 0; i < count; i++) {
        const char *p = ptr[2] + i * step[2];
        int64_t at = extreme_slice(p, e->n, e->s, e->want_min);
        *(float *)(ptr[0] + i * step[0]) = *(const float *)(p + at * e->s);
        *(int64_t *)(ptr[1] + i * step[1]) = at;
    }
}

int tensor_extreme_dim(Tensor *values, Tensor *indices, const Tensor *x, int dim, int want_min) {
    int st = check_input(x, dim);
    if (!st) st = check_output(values, x, dim, 1, DTYPE_FLOAT32);
    if (!st) st = check_output(indices, x, dim, 1, DTYPE_INT64);
    if (!st && x->shape[dim] == 0) st = MN_ERR_SHAPE;
    Tensor copy = {0};
    if (!st) st = unalias(&x, values, indices, &copy);
    if (st) return st;
    Tensor base = slice_base(x, dim);
    ExtremeArgs e = {x->shape[dim], x->stride[dim] * 4, want_min};
    const Tensor *ops[3] = {values, indices, &base};
    strided_apply(3, ops, slice_grain(e.n), extreme_run, &e);
    tensor_release(&copy);
    return MN_OK;
}

typedef struct {
    int want_min, parts;
    int64_t numel;
    int64_t seen[PARALLEL_MAX_THREADS]; /* elements of the part walked so far */
    int64_t at[PARALLEL_MAX_THREADS];   /* row-major index of the part's best, -1: none yet */
    float best[PARALLEL_MAX_THREADS];
} ExtremeAll;

/* b beats a (at a later position): a NaN beats every number, else strictly better. */
static int beats(float b, float a, int want_min) {
    if (a != a) return 0;
    return b != b || (want_min ? b < a : b > a);
}

static void extreme_all_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    ExtremeAll *e = ctx;
    int64_t start = e->numel * part / e->parts + e->seen[part];
    e->seen[part] += count;
    if (e->at[part] >= 0 && e->best[part] != e->best[part]) return; /* a NaN was found */
    int64_t i = extreme_slice(ptr[0], count, step[0], e->want_min);
    float v = *(const float *)(ptr[0] + i * step[0]);
    if (e->at[part] < 0 || beats(v, e->best[part], e->want_min)) e->best[part] = v, e->at[part] = start + i;
}

int tensor_extreme_all(double *value, int64_t *index, const Tensor *x, int want_min) {
    if (!x->storage) return MN_ERR_ARG;
    if (x->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    if (x->numel == 0) return MN_ERR_SHAPE;
    ExtremeAll e = {.want_min = want_min, .numel = x->numel};
    e.parts = strided_parts(x->numel, STRIDED_GRAIN);
    for (int p = 0; p < e.parts; p++) e.seen[p] = 0, e.at[p] = -1;
    const Tensor *ops[1] = {x};
    strided_apply(1, ops, STRIDED_GRAIN, extreme_all_run, &e);
    int win = 0;
    for (int p = 1; p < e.parts; p++)
        if (e.at[p] >= 0 && beats(e.best[p], e.best[win], want_min)) win = p;
    *value = e.best[win];
    *index = e.at[win];
    return MN_OK;
}

/* ---- cumsum, cumprod ---- */

typedef struct {
    int product;
    int64_t n, s, os; /* elements per slice; bytes between them in x and in out */
} CumulateArgs;

/* ptr[0]: the outputs' slices, ptr[1]: x's. */
static void cumulate_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const CumulateArgs *c = ctx;
    int64_t so = step[0], sx = step[1], n = c->n, s = c->s, os = c->os;
    if (abs64(sx) < abs64(s)) { /* by rows, as reduce_run */
        double acc[ROW_BLOCK];
        for (int64_t j0 = 0; j0 < count; j0 += ROW_BLOCK) {
            int64_t m = count - j0 < ROW_BLOCK ? count - j0 : ROW_BLOCK;
            for (int64_t j = 0; j < m; j++) acc[j] = c->product ? 1.0 : 0.0;
            for (int64_t r = 0; r < n; r++) {
                const char *row = ptr[1] + j0 * sx + r * s;
                char *orow = ptr[0] + j0 * so + r * os;
                for (int64_t j = 0; j < m; j++) {
                    double v = *(const float *)(row + j * sx);
                    acc[j] = c->product ? acc[j] * v : acc[j] + v;
                    *(float *)(orow + j * so) = (float)acc[j];
                }
            }
        }
        return;
    }
    for (int64_t i = 0; i < count; i++) {
        const char *p = ptr[1] + i * sx;
        char *o = ptr[0] + i * so;
        double acc = c->product ? 1.0 : 0.0;
        for (int64_t r = 0; r < n; r++) {
            double v = *(const float *)(p + r * s);
            acc = c->product ? acc * v : acc + v;
            *(float *)(o + r * os) = (float)acc;
        }
    }
}

int tensor_cumulate(Tensor *out, const Tensor *x, int dim, int product) {
    int st = check_input(x, dim);
    if (!st) st = check_output(out, x, dim, x->shape[dim], DTYPE_FLOAT32);
    Tensor copy = {0};
    if (!st) st = unalias(&x, out, NULL, &copy);
    if (st) return st;
    Tensor base = slice_base(x, dim), obase = slice_base(out, dim);
    CumulateArgs c = {product, x->shape[dim], x->stride[dim] * 4, out->stride[dim] * 4};
    const Tensor *ops[2] = {&obase, &base};
    strided_apply(2, ops, slice_grain(c.n), cumulate_run, &c);
    tensor_release(&copy);
    return MN_OK;
}

/* ---- sort, topk, kthvalue ---- */

/* a goes before b: ascending with NaN last, or descending with NaN first. */
static inline int before(float a, float b, int descending) {
    if (descending) return a > b || (a != a && b == b);
    return a < b || (b != b && a == a);
}

/* Stable bottom-up merge sort of (key, idx)[0..n) with tmp room for n more; the result ends in
 * key/idx. */
static void merge_sort(float *key, int64_t *idx, float *tkey, int64_t *tidx, int64_t n, int descending) {
    float *src_k = key, *dst_k = tkey;
    int64_t *src_i = idx, *dst_i = tidx;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                int take_b = before(src_k[b], src_k[a], descending); /* equal: the left one first */
                int64_t from = take_b ? b++ : a++;
                dst_k[o] = src_k[from], dst_i[o++] = src_i[from];
            }
            while (a < mid) dst_k[o] = src_k[a], dst_i[o++] = src_i[a++];
            while (b < hi) dst_k[o] = src_k[b], dst_i[o++] = src_i[b++];
        }
        float *tk = src_k; src_k = dst_k; dst_k = tk;
        int64_t *ti = src_i; src_i = dst_i; dst_i = ti;
    }
    if (src_k != key)
        for (int64_t i = 0; i < n; i++) key[i] = src_k[i], idx[i] = src_i[i];
}

typedef struct {
    int64_t n, s;        /* elements per slice of x, bytes between them */
    int64_t first, count;/* the sorted positions written out */
    int64_t vs, is;      /* bytes between the written values, indices */
    int descending;
    int mode;            /* write the most frequent value instead (count 1) */
    char *scratch;       /* per part: n floats and int64s, twice */
} SortArgs;

/* The position in sorted key[0..n) of the most frequent value's first element: the longest run
 * of equal keys, the first (smallest) on ties. */
static int64_t mode_of(const float *key, int64_t n) {
    int64_t best = 0, best_len = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && key[j] == key[i]) j++;
        if (j - i > best_len) best = i, best_len = j - i;
        i = j;
    }
    return best;
}

/* ptr[0]: values, ptr[1]: indices, ptr[2]: x's slices. */
static void sort_run(void *ctx, int64_t count, char *const *ptr, const int64_t *step, int part) {
    const SortArgs *a = ctx;
    int64_t n = a->n;
    char *mine = a->scratch + (size_t)part * (size_t)n * 24;
    int64_t *idx = (int64_t *)mine, *tidx = idx + n;
    float *key = (float *)(tidx + n), *tkey = key + n;
    for (int64_t i = 0; i < count; i++) {
        const char *p = ptr[2] + i * step[2];
        for (int64_t r = 0; r < n; r++) key[r] = *(const float *)(p + r * a->s), idx[r] = r;
        merge_sort(key, idx, tkey, tidx, n, a->descending);
        char *vo = ptr[0] + i * step[0], *io = ptr[1] + i * step[1];
        if (a->mode) {
            int64_t at = mode_of(key, n);
            *(float *)vo = key[at];
            *(int64_t *)io = idx[at];
            continue;
        }
        for (int64_t r = 0; r < a->count; r++) {
            *(float *)(vo + r * a->vs) = key[a->first + r];
            *(int64_t *)(io + r * a->is) = idx[a->first + r];
        }
    }
}

/* values, indices (x's sizes with dim's `count`) = sorted positions [first, first + count) of
 * every slice along dim. */
static int sorted_slices(Tensor *values, Tensor *indices, const Tensor *x, int dim, int descending,
                         int64_t first, int64_t count, int mode) {
    int st = check_output(values, x, dim, count, DTYPE_FLOAT32);
    if (!st) st = check_output(indices, x, dim, count, DTYPE_INT64);
    Tensor copy = {0};
    if (!st) st = unalias(&x, values, indices, &copy);
    if (st) return st;
    Tensor base = slice_base(x, dim), vbase = slice_base(values, dim), ibase = slice_base(indices, dim);
    SortArgs a = {x->shape[dim], x->stride[dim] * 4, first, count, values->stride[dim] * 4,
                  indices->stride[dim] * 8, descending, mode, NULL};
    int64_t grain = slice_grain(a.n);
    if (a.n > 0 && count > 0 && base.numel > 0) {
        int parts = strided_parts(base.numel, grain);
        a.scratch = malloc((size_t)parts * (size_t)a.n * 24);
        if (!a.scratch) {
            tensor_release(&copy);
            return MN_ERR_NOMEM;
        }
        const Tensor *ops[3] = {&vbase, &ibase, &base};
        strided_apply(3, ops, grain, sort_run, &a);
        free(a.scratch);
    }
    tensor_release(&copy);
    return MN_OK;
}

int tensor_sort(Tensor *values, Tensor *indices, const Tensor *x, int dim, int descending) {
    int st = check_input(x, dim);
    if (st) return st;
    return sorted_slices(values, indices, x, dim, descending, 0, x->shape[dim], 0);
}

int tensor_topk(Tensor *values, Tensor *indices, const Tensor *x, int dim, int64_t k, int largest) {
    int st = check_input(x, dim);
    if (st) return st;
    if (k < 0 || k > x->shape[dim]) return MN_ERR_RANGE;
    return sorted_slices(values, indices, x, dim, largest, 0, k, 0);
}

int tensor_kthvalue(Tensor *values, Tensor *indices, const Tensor *x, int dim, int64_t k) {
    int st = check_input(x, dim);
    if (st) return st;
    if (k < 1 || k > x->shape[dim]) return MN_ERR_RANGE;
    return sorted_slices(values, indices, x, dim, 0, k - 1, 1, 0);
}

int tensor_mode(Tensor *values, Tensor *indices, const Tensor *x, int dim) {
    int st = check_input(x, dim);
    if (st) return st;
    if (x->shape[dim] == 0) return MN_ERR_SHAPE;
    return sorted_slices(values, indices, x, dim, 0, 0, 1, 1);
}

/* ---- any, all ---- */

int tensor_any_all(int *result, const Tensor *x, int want_all) {
    if (!x->storage) return MN_ERR_ARG;
    if (x->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    Walk w;
    walk_init(&w, x);
    int64_t nonzero = 0;
    for (int64_t left = x->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++) nonzero += w.ptr[i * s] != 0;
        walk_advance(&w, n);
        left -= n;
    }
    *result = want_all ? nonzero == x->numel : nonzero > 0;
    return MN_OK;
}
