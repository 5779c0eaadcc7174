#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor_index.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/strided.h"

/* ---------------------------------------------------------------- helpers */

static int usable(const Tensor *t) { return t != NULL && t->storage != NULL; }

/* An input that shares elements with the output is read from a copy (an index op reads a source
 * element after other outputs were written, so even the same view is not safe). */
static int read_apart(const Tensor **in, const Tensor *out, Tensor *copy) {
    return tensor_unalias(in, out, copy, 0);
}

/* *elem: value as one element of dtype, converted by tensor_fill's rules (MN_ERR_ARG when it does
 * not fit the dtype). */
static int element_of(void *elem, int dtype, double value) {
    int64_t one = 1;
    Tensor t = {0};
    int st = tensor_init(&t, dtype, 1, &one);
    if (!st) st = tensor_fill(&t, value);
    if (!st) memcpy(elem, tensor_bytes(&t), dtype_size(dtype));
    tensor_release(&t);
    return st;
}

static void set_fault(IndexFault *fault, int64_t position, int64_t value, int64_t size) {
    if (!fault) return;
    fault->position = position;
    fault->value = value;
    fault->size = size;
}

/* Every entry of index (int64, any shape) is in [base, base + size). */
static int check_entries(const Tensor *index, int64_t base, int64_t size, IndexFault *fault) {
    Walk w;
    walk_init(&w, index);
    int64_t at = 0;
    for (int64_t left = index->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = *(const int64_t *)(w.ptr + i * s);
            if (v < base || v - base >= size) {
                set_fault(fault, at + i, v, size);
                return MN_ERR_RANGE;
            }
        }
        walk_advance(&w, n);
        left -= n;
        at += n;
    }
    return MN_OK;
}

/* A tensor of positions along one dim: int64, 1-D (or empty: no positions). */
static int check_index_vector(const Tensor *index) {
    if (!usable(index)) return MN_ERR_ARG;
    if (index->dtype != DTYPE_INT64) return MN_ERR_DTYPE;
    return index->ndim <= 1 ? MN_OK : MN_ERR_SHAPE;
}

/* a and b have the same ndim and sizes, except along dim where a has `along` (-1: any). */
static int same_but(const Tensor *a, const Tensor *b, int dim, int64_t along) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++) {
        if (d == dim) {
            if (along >= 0 && a->shape[d] != along) return 0;
        } else if (a->shape[d] != b->shape[d]) {
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- rows of a shape */

#define ROW_OPS 3

/* The rows (runs along the last dim) of a shape, in row-major order, with up to ROW_OPS operands
 * that each move by their own byte steps along every dim. The shape may leave out size-1 dims of
 * the operands: map[i] is the operands' dim that dim i of the shape walks. */
typedef struct {
    int ndim, nops;
    int map[TENSOR_MAX_DIMS];
    int64_t size[TENSOR_MAX_DIMS];
    int64_t pos[TENSOR_MAX_DIMS];
    char *ptr[ROW_OPS];                       /* each operand at the current row's first element */
    int64_t step[ROW_OPS][TENSOR_MAX_DIMS];   /* bytes */
} Rows;

/* r: the rows of shape (ndim dims); map NULL: dim i of the operands is dim i of the shape. */
static void rows_init(Rows *r, int ndim, const int64_t *size, const int *map) {
    memset(r, 0, sizeof *r);
    r->ndim = ndim;
    memcpy(r->size, size, (size_t)ndim * sizeof *size);
    for (int i = 0; i < ndim; i++) r->map[i] = map ? map[i] : i;
}

/* Operand k is t, which does not move along its dim `fixed` (-1: moves along every dim). */
static void rows_operand(Rows *r, int k, const Tensor *t, int fixed) {
    int64_t esize = (int64_t)dtype_size(t->dtype);
    if (k >= r->nops) r->nops = k + 1;
    r->ptr[k] = tensor_bytes(t);
    for (int i = 0; i < r->ndim; i++)
        r->step[k][i] = r->map[i] == fixed ? 0 : t->stride[r->map[i]] * esize;
}

/* Moves to the next row; 0 after the last one. */
static int rows_next(Rows *r) {
    for (int d = r->ndim - 2; d >= 0; d--) {
        if (++r->pos[d] < r->size[d]) {
            for (int k = 0; k < r->nops; k++) r->ptr[k] += r->step[k][d];
            return 1;
        }
        for (int k = 0; k < r->nops; k++) r->ptr[k] -= r->step[k][d] * (r->size[d] - 1);
        r->pos[d] = 0;
    }
    return 0;
}

static int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = ndim > 0;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* ---------------------------------------------------------------- element runs */

#define ASSIGN(a, b) ((a) = (b))
#define ACCUM(a, b) ((a) += (b))
#define ACCUM_U8(a, b) ((a) = (uint8_t)((a) + (b)))              /* wraps, as Torch7's bytes */
#define ACCUM_I64(a, b) ((a) = (int64_t)((uint64_t)(a) + (uint64_t)(b))) /* wraps, no UB */

/* d[j*sd] OP= s[j*ss] for j < n; contiguous runs are plain loops GCC vectorises. */
#define PLAIN(T, OP)                                                                           \
    do {                                                                                       \
        if (sd == (int64_t)sizeof(T) && ss == (int64_t)sizeof(T)) {                            \
            T *o = (T *)d;                                                                     \
            const T *in = (const T *)s;                                                        \
            for (int64_t j = 0; j < n; j++) OP(o[j], in[j]);                                   \
        } else {                                                                               \
            for (int64_t j = 0; j < n; j++) OP(*(T *)(d + j * sd), *(const T *)(s + j * ss));  \
        }                                                                                      \
    } while (0)

/* The same with one index per element: the indexed side (d when into, else s) also moves by
 * (index[j] - base) * ks bytes. */
#define INDEXED(T, OP)                                                                         \
    do {                                                                                       \
        for (int64_t j = 0; j < n; j++) {                                                      \
            int64_t k = *(const int64_t *)(ip + j * is) - base;                                \
            T *o = (T *)(d + j * sd + (into ? k * ks : 0));                                    \
            const T *in = (const T *)(s + j * ss + (into ? 0 : k * ks));                       \
            OP(*o, *in);                                                                       \
        }                                                                                      \
    } while (0)

static void run_plain(int add, int dtype, int64_t n, char *d, int64_t sd, const char *s, int64_t ss) {
    size_t esize = dtype_size(dtype);
    if (!add && sd == (int64_t)esize && ss == (int64_t)esize) {
        memcpy(d, s, (size_t)n * esize);
        return;
    }
    switch (dtype) {
    case DTYPE_FLOAT32: if (add) PLAIN(float, ACCUM); else PLAIN(float, ASSIGN); break;
    case DTYPE_UINT8: if (add) PLAIN(uint8_t, ACCUM_U8); else PLAIN(uint8_t, ASSIGN); break;
    default: if (add) PLAIN(int64_t, ACCUM_I64); else PLAIN(int64_t, ASSIGN); break;
    }
}

static void run_indexed(int add, int dtype, int64_t n, char *d, int64_t sd, const char *s, int64_t ss,
                        const char *ip, int64_t is, int64_t base, int into, int64_t ks) {
    switch (dtype) {
    case DTYPE_FLOAT32: if (add) INDEXED(float, ACCUM); else INDEXED(float, ASSIGN); break;
    case DTYPE_UINT8: if (add) INDEXED(uint8_t, ACCUM_U8); else INDEXED(uint8_t, ASSIGN); break;
    default: if (add) INDEXED(int64_t, ACCUM_I64); else INDEXED(int64_t, ASSIGN); break;
    }
}

/* ---------------------------------------------------------------- the indexed walk */

/* One pass of an index op over an iteration shape: at every position p, dst[p'] (+)= src[p''],
 * where the indexed side (dst when into, else src) has p[dim] replaced by the index entry (minus
 * base) and the other side is at p itself. The index is either 1-D along dim (each = 0: entry
 * p[dim]) or of the iteration's shape (each = 1: entry p). src NULL: the fill value instead. */
typedef struct {
    int add;
    int dim;
    int each;
    int into;
    int64_t base;
    Tensor *dst;
    const Tensor *src;
    const Tensor *index;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    unsigned char value[8]; /* one element of dst's dtype (src NULL) */
} IndexPass;

static void index_pass(const IndexPass *a) {
    if (shape_numel(a->ndim, a->shape) == 0) return;
    /* walk without the size-1 dims (dim too when every element has its index): a (n, 1) gather is
     * one run of n, not n runs of 1 */
    int map[TENSOR_MAX_DIMS], nd = 0, dim = -1;
    int64_t shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1 && (d != a->dim || a->each)) continue;
        if (d == a->dim) dim = nd;
        map[nd] = d;
        shape[nd++] = a->shape[d];
    }
    if (nd == 0) { /* a single position */
        dim = a->each ? -1 : 0;
        map[nd] = a->dim;
        shape[nd++] = 1;
    }
    const int last = nd - 1, dtype = a->dst->dtype;
    const int64_t esize = (int64_t)dtype_size(dtype);
    const Tensor *indexed = a->into ? a->dst : a->src;
    const int64_t ks = indexed->stride[a->dim] * esize;
    Rows r;
    rows_init(&r, nd, shape, map);
    rows_operand(&r, 0, a->dst, a->into ? a->dim : -1);
    if (a->src) {
        rows_operand(&r, 1, a->src, a->into ? -1 : a->dim);
    } else { /* the fill value: an operand that never moves */
        r.ptr[1] = (char *)a->value;
        r.nops = 2;
    }
    if (a->each) rows_operand(&r, 2, a->index, -1);
    const int64_t sd = r.step[0][last], ss = r.step[1][last];
    /* a 1-D index: entry i at along + i * along_step */
    const char *along = a->each ? NULL : tensor_bytes(a->index);
    const int64_t along_step = a->each ? 0 : a->index->stride[0] * 8;
    const int64_t n = shape[last];
    do {
        char *d = r.ptr[0];
        const char *s = r.ptr[1];
        if (!a->each && dim != last) { /* one index for the whole row */
            int64_t k = *(const int64_t *)(along + r.pos[dim] * along_step) - a->base;
            if (a->into) d += k * ks;
            else s += k * ks;
            run_plain(a->add, dtype, n, d, sd, s, ss);
        } else {
            const char *ip = a->each ? r.ptr[2] : along;
            int64_t is = a->each ? r.step[2][last] : along_step;
            run_indexed(a->add, dtype, n, d, sd, s, ss, ip, is, a->base, a->into, ks);
        }
    } while (rows_next(&r));
}

/* ---------------------------------------------------------------- joining */

/* t's size along d, 1 past its last dim (cat's rule). */
static int64_t size_or_one(const Tensor *t, int d) { return d < t->ndim ? t->shape[d] : 1; }

int tensor_cat_shape(int *ndim, int64_t *shape, const Tensor *const *inputs, int count, int dim,
                     int *bad) {
    *bad = -1;
    if (count < 1 || dim < 0 || dim >= TENSOR_MAX_DIMS) return MN_ERR_ARG;
    int nd = dim + 1, first = -1;
    for (int i = 0; i < count; i++) {
        if (!usable(inputs[i])) {
            *bad = i;
            return MN_ERR_ARG;
        }
        if (inputs[i]->ndim == 0) continue;
        if (inputs[i]->ndim > nd) nd = inputs[i]->ndim;
        if (first < 0) {
            first = i;
        } else if (inputs[i]->dtype != inputs[first]->dtype) {
            *bad = i;
            return MN_ERR_DTYPE;
        }
    }
    if (first < 0) {
        *ndim = 0;
        return MN_OK;
    }
    for (int d = 0; d < nd; d++) shape[d] = d == dim ? 0 : size_or_one(inputs[first], d);
    for (int i = first; i < count; i++) {
        if (inputs[i]->ndim == 0) continue;
        for (int d = 0; d < nd; d++) {
            int64_t s = size_or_one(inputs[i], d);
            if (d == dim) {
                shape[d] += s;
            } else if (s != shape[d]) {
                *bad = i;
                return MN_ERR_SHAPE;
            }
        }
    }
    int64_t numel;
    if (tensor_check_shape(nd, shape, &numel)) return MN_ERR_SHAPE;
    *ndim = nd;
    return MN_OK;
}

int tensor_cat(Tensor *out, const Tensor *const *inputs, int count, int dim) {
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim, bad;
    int st = tensor_cat_shape(&ndim, shape, inputs, count, dim, &bad);
    if (st) return st;
    if (!usable(out)) return MN_ERR_ARG;
    if (out->ndim != ndim || (ndim && memcmp(out->shape, shape, (size_t)ndim * sizeof *shape)))
        return MN_ERR_SHAPE;
    if (ndim == 0) return MN_OK;
    for (int i = 0; i < count; i++)
        if (inputs[i]->ndim && inputs[i]->dtype != out->dtype) return MN_ERR_DTYPE;
    /* inputs that share out's storage are copied first: a later input must not be overwritten */
    Tensor *copies = calloc((unsigned)count, sizeof *copies);
    if (!copies) return MN_ERR_NOMEM;
    int64_t at = 0;
    for (int i = 0; i < count && !st; i++) {
        const Tensor *in = inputs[i];
        if (in->ndim) st = read_apart(&in, out, &copies[i]);
    }
    Tensor part = {0};
    for (int i = 0; i < count && !st; i++) {
        const Tensor *in = copies[i].storage ? &copies[i] : inputs[i];
        if (in->ndim == 0) continue;
        int64_t len = size_or_one(in, dim);
        st = tensor_narrow(&part, out, dim, at, len);
        if (!st) st = tensor_copy(&part, in); /* same numel and row-major order */
        at += len;
    }
    tensor_release(&part);
    for (int i = 0; i < count; i++) tensor_release(&copies[i]);
    free(copies);
    return st;
}

int tensor_repeat(Tensor *out, const Tensor *src, int ndim, const int64_t *repeats) {
    if (!usable(out) || !usable(src) || src->ndim == 0) return MN_ERR_ARG;
    if (ndim < src->ndim || ndim > TENSOR_MAX_DIMS) return MN_ERR_ARG;
    if (out->dtype != src->dtype) return MN_ERR_DTYPE;
    int lead = ndim - src->ndim;
    int64_t padded[TENSOR_MAX_DIMS], pstep[TENSOR_MAX_DIMS];
    int64_t esize = (int64_t)dtype_size(src->dtype);
    for (int d = 0; d < ndim; d++) {
        if (repeats[d] < 0) return MN_ERR_ARG;
        padded[d] = d < lead ? 1 : src->shape[d - lead];
        pstep[d] = d < lead ? 0 : src->stride[d - lead] * esize;
        if (out->ndim != ndim || out->shape[d] != repeats[d] * padded[d]) return MN_ERR_SHAPE;
    }
    if (out->numel == 0) return MN_OK;
    Tensor copy = {0};
    int st = read_apart(&src, out, &copy);
    if (st) return st;
    /* every row of out reads src's row at (position mod src's size) in each dim */
    const int last = ndim - 1;
    Rows r;
    rows_init(&r, ndim, out->shape, NULL);
    rows_operand(&r, 0, out, -1);
    const int64_t sd = r.step[0][last], ss = pstep[last], n = padded[last];
    const char *first = tensor_bytes(src);
    do {
        const char *s = first;
        for (int d = 0; d < last; d++) s += (r.pos[d] % padded[d]) * pstep[d];
        for (int64_t c = 0; c < repeats[last]; c++)
            run_plain(0, src->dtype, n, r.ptr[0] + c * n * sd, sd, s, ss);
    } while (rows_next(&r));
    tensor_release(&copy);
    return MN_OK;
}

/* ---------------------------------------------------------------- one index along dim */

/* Runs pass a after reading the inputs that overlap a->dst from copies. */
static int run_pass(IndexPass *a) {
    Tensor src_copy = {0}, index_copy = {0};
    int st = MN_OK;
    if (a->src) st = read_apart(&a->src, a->dst, &src_copy);
    if (!st) st = read_apart(&a->index, a->dst, &index_copy);
    if (!st) index_pass(a);
    tensor_release(&src_copy);
    tensor_release(&index_copy);
    return st;
}

int tensor_index_select(Tensor *out, const Tensor *src, int dim, const Tensor *index, int64_t base,
                        IndexFault *fault) {
    if (!usable(out) || !usable(src) || dim < 0 || dim >= src->ndim) return MN_ERR_ARG;
    int st = check_index_vector(index);
    if (st) return st;
    if (out->dtype != src->dtype) return MN_ERR_DTYPE;
    if (!same_but(out, src, dim, index->numel)) return MN_ERR_SHAPE;
    if ((st = check_entries(index, base, src->shape[dim], fault))) return st;
    IndexPass a = {.dim = dim, .base = base, .dst = out, .src = src, .index = index, .ndim = out->ndim};
    memcpy(a.shape, out->shape, sizeof a.shape);
    return run_pass(&a);
}

/* index_copy and index_add: src has x's shape but numel(index) along dim. */
static int index_into(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                      IndexFault *fault, int add) {
    if (!usable(x) || !usable(src) || dim < 0 || dim >= x->ndim) return MN_ERR_ARG;
    int st = check_index_vector(index);
    if (st) return st;
    if (src->dtype != x->dtype) return MN_ERR_DTYPE;
    if (!same_but(src, x, dim, index->numel)) return MN_ERR_SHAPE;
    if ((st = check_entries(index, base, x->shape[dim], fault))) return st;
    IndexPass a = {.add = add, .dim = dim, .into = 1, .base = base, .dst = x, .src = src,
                   .index = index, .ndim = src->ndim};
    memcpy(a.shape, src->shape, sizeof a.shape);
    return run_pass(&a);
}

int tensor_index_copy(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                      IndexFault *fault) {
    return index_into(x, dim, index, src, base, fault, 0);
}

int tensor_index_add(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                     IndexFault *fault) {
    return index_into(x, dim, index, src, base, fault, 1);
}

int tensor_index_fill(Tensor *x, int dim, const Tensor *index, double value, int64_t base,
                      IndexFault *fault) {
    if (!usable(x) || dim < 0 || dim >= x->ndim) return MN_ERR_ARG;
    int st = check_index_vector(index);
    if (st) return st;
    IndexPass a = {.dim = dim, .into = 1, .base = base, .dst = x, .index = index, .ndim = x->ndim};
    if ((st = element_of(a.value, x->dtype, value))) return st;
    if ((st = check_entries(index, base, x->shape[dim], fault))) return st;
    memcpy(a.shape, x->shape, sizeof a.shape);
    a.shape[dim] = index->numel;
    return run_pass(&a);
}

/* ---------------------------------------------------------------- one index per element */

int tensor_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index, int64_t base,
                  IndexFault *fault) {
    if (!usable(out) || !usable(src) || !usable(index) || dim < 0 || dim >= src->ndim)
        return MN_ERR_ARG;
    if (index->dtype != DTYPE_INT64 || out->dtype != src->dtype) return MN_ERR_DTYPE;
    if (!same_but(index, src, dim, -1) || !tensor_same_shape(out, index)) return MN_ERR_SHAPE;
    int st = check_entries(index, base, src->shape[dim], fault);
    if (st) return st;
    IndexPass a = {.dim = dim, .each = 1, .base = base, .dst = out, .src = src, .index = index,
                   .ndim = index->ndim};
    memcpy(a.shape, index->shape, sizeof a.shape);
    return run_pass(&a);
}

/* scatter and scatter_fill (src NULL): index has x's sizes outside dim. */
static int scatter(Tensor *x, int dim, const Tensor *index, const Tensor *src, const void *value,
                   int64_t base, IndexFault *fault) {
    if (!usable(x) || !usable(index) || dim < 0 || dim >= x->ndim) return MN_ERR_ARG;
    if (index->dtype != DTYPE_INT64 || (src && src->dtype != x->dtype)) return MN_ERR_DTYPE;
    if (!same_but(index, x, dim, -1)) return MN_ERR_SHAPE;
    if (src && (!same_but(src, index, dim, -1) || src->shape[dim] < index->shape[dim]))
        return MN_ERR_SHAPE;
    int st = check_entries(index, base, x->shape[dim], fault);
    if (st) return st;
    IndexPass a = {.dim = dim, .each = 1, .into = 1, .base = base, .dst = x, .src = src,
                   .index = index, .ndim = index->ndim};
    memcpy(a.shape, index->shape, sizeof a.shape);
    if (value) memcpy(a.value, value, dtype_size(x->dtype));
    return run_pass(&a);
}

int tensor_scatter(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                   IndexFault *fault) {
    if (!usable(src)) return MN_ERR_ARG;
    return scatter(x, dim, index, src, NULL, base, fault);
}

int tensor_scatter_fill(Tensor *x, int dim, const Tensor *index, double value, int64_t base,
                        IndexFault *fault) {
    if (!usable(x)) return MN_ERR_ARG;
    unsigned char elem[8];
    int st = element_of(elem, x->dtype, value);
    if (st) return st;
    return scatter(x, dim, index, NULL, elem, base, fault);
}

/* ---------------------------------------------------------------- masks */

int tensor_mask_count(int64_t *ones, const Tensor *mask, IndexFault *fault) {
    if (!usable(mask)) return MN_ERR_ARG;
    if (mask->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    Walk w;
    walk_init(&w, mask);
    int64_t count = 0, at = 0;
    for (int64_t left = mask->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        unsigned above = 0;
        for (int64_t i = 0; i < n; i++) {
            uint8_t v = *(const uint8_t *)(w.ptr + i * s);
            count += v;
            above |= v > 1;
        }
        if (above) {
            for (int64_t i = 0; i < n; i++) {
                uint8_t v = *(const uint8_t *)(w.ptr + i * s);
                if (v > 1) {
                    set_fault(fault, at + i, v, 2);
                    return MN_ERR_RANGE;
                }
            }
        }
        walk_advance(&w, n);
        left -= n;
        at += n;
    }
    *ones = count;
    return MN_OK;
}

/* Checks mask against x (uint8, x's element count, 0s and 1s); *ones its count of 1s. */
static int check_mask(int64_t *ones, const Tensor *x, const Tensor *mask, IndexFault *fault) {
    if (!usable(x) || !usable(mask)) return MN_ERR_ARG;
    if (mask->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (mask->numel != x->numel) return MN_ERR_SHAPE;
    return tensor_mask_count(ones, mask, fault);
}

/* Masked runs: operand 0 is the tensor walked with the mask (operand 1); `other` is walked one
 * element per 1 of the mask (the source of maskedCopy, the result of maskedSelect). */
typedef struct {
    int esize;
    int into_first;     /* 1: write operand 0 from other (fill/copy); 0: write other from operand 0 */
    Walk other;         /* unused for a fill */
    int fill;
    unsigned char value[8];
} MaskRun;

static void mask_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    MaskRun *m = ctx;
    for (int64_t i = 0; i < n; i++) {
        if (!*(const uint8_t *)(ptr[1] + i * step[1])) continue;
        char *x = ptr[0] + i * step[0];
        if (m->fill) {
            memcpy(x, m->value, (size_t)m->esize);
        } else {
            if (m->into_first) memcpy(x, m->other.ptr, (size_t)m->esize);
            else memcpy(m->other.ptr, x, (size_t)m->esize);
            walk_advance(&m->other, 1);
        }
    }
}

/* Walks x and mask together in order on the calling thread (the other walk is sequential). */
static int mask_apply(Tensor *x, const Tensor *mask, MaskRun *m, const Tensor *other) {
    Tensor mask_copy = {0}, other_copy = {0};
    int st = read_apart(&mask, x, &mask_copy);
    if (!st && other && m->into_first) st = read_apart(&other, x, &other_copy);
    if (!st) {
        m->esize = (int)dtype_size(x->dtype);
        if (other) walk_init(&m->other, other);
        const Tensor *ops[2] = {x, mask};
        strided_apply(2, ops, 0, mask_run, m);
    }
    tensor_release(&mask_copy);
    tensor_release(&other_copy);
    return st;
}

int tensor_masked_fill(Tensor *x, const Tensor *mask, double value, IndexFault *fault) {
    int64_t ones;
    int st = check_mask(&ones, x, mask, fault);
    if (st) return st;
    MaskRun m = {.fill = 1};
    if ((st = element_of(m.value, x->dtype, value))) return st;
    return mask_apply(x, mask, &m, NULL);
}

int tensor_masked_copy(Tensor *x, const Tensor *mask, const Tensor *src, IndexFault *fault) {
    if (!usable(src)) return MN_ERR_ARG;
    int64_t ones;
    int st = check_mask(&ones, x, mask, fault);
    if (st) return st;
    if (src->dtype != x->dtype) return MN_ERR_DTYPE;
    if (src->numel < ones) return MN_ERR_SHAPE;
    MaskRun m = {.into_first = 1};
    return mask_apply(x, mask, &m, src);
}

int tensor_masked_select(Tensor *out, const Tensor *src, const Tensor *mask, IndexFault *fault) {
    if (!usable(out)) return MN_ERR_ARG;
    int64_t ones;
    int st = check_mask(&ones, src, mask, fault);
    if (st) return st;
    if (out->dtype != src->dtype) return MN_ERR_DTYPE;
    if (out->ndim != 1 || out->numel != ones) return MN_ERR_SHAPE;
    /* out is written while src and mask are read: both must be apart from out */
    Tensor src_copy = {0}, mask_copy = {0};
    if (!(st = read_apart(&src, out, &src_copy)) && !(st = read_apart(&mask, out, &mask_copy))) {
        MaskRun m = {.esize = (int)dtype_size(src->dtype)};
        walk_init(&m.other, out);
        const Tensor *ops[2] = {src, mask};
        strided_apply(2, ops, 0, mask_run, &m);
    }
    tensor_release(&src_copy);
    tensor_release(&mask_copy);
    return st;
}

/* ---------------------------------------------------------------- nonzero */

static inline int is_nonzero(const char *p, int dtype) {
    switch (dtype) {
    case DTYPE_FLOAT32: return *(const float *)p != 0.0f; /* NaN is not 0 */
    case DTYPE_UINT8: return *(const uint8_t *)p != 0;
    default: return *(const int64_t *)p != 0;
    }
}

int tensor_count_nonzero(int64_t *count, const Tensor *src) {
    if (!usable(src)) return MN_ERR_ARG;
    Walk w;
    walk_init(&w, src);
    int64_t c = 0;
    for (int64_t left = src->numel; left > 0;) {
        int64_t n = walk_run(&w), s = walk_step(&w);
        if (n > left) n = left;
        for (int64_t i = 0; i < n; i++) c += is_nonzero(w.ptr + i * s, src->dtype);
        walk_advance(&w, n);
        left -= n;
    }
    *count = c;
    return MN_OK;
}

int tensor_nonzero(Tensor *out, const Tensor *src, int64_t base) {
    int64_t count;
    int st = tensor_count_nonzero(&count, src);
    if (st) return st;
    if (!usable(out)) return MN_ERR_ARG;
    if (out->dtype != DTYPE_INT64) return MN_ERR_DTYPE;
    if (out->ndim != 2 || out->shape[0] != count || out->shape[1] != src->ndim) return MN_ERR_SHAPE;
    if (count == 0) return MN_OK;
    Tensor copy = {0};
    if ((st = read_apart(&src, out, &copy))) return st;
    const int last = src->ndim - 1;
    const int64_t n = src->shape[last];
    int64_t *o = tensor_i64(out), row = 0;
    const int64_t rs = out->stride[0], cs = out->stride[1];
    Rows r;
    rows_init(&r, src->ndim, src->shape, NULL);
    rows_operand(&r, 0, src, -1);
    const int64_t s = r.step[0][last];
    do {
        for (int64_t j = 0; j < n; j++) {
            if (!is_nonzero(r.ptr[0] + j * s, src->dtype)) continue;
            int64_t *at = o + row++ * rs;
            for (int d = 0; d < last; d++) at[d * cs] = r.pos[d] + base;
            at[last * cs] = j + base;
        }
    } while (rows_next(&r));
    tensor_release(&copy);
    return MN_OK;
}
