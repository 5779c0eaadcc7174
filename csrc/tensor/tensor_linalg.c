#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/tensor_linalg.h"

#include "sys/parallel.h"
#include "tensor/gemm.h"
#include "tensor/strided.h"
#include "tensor/tensor_math.h"

/* A product's smallest worth of a thread, as gemm's own split (flops). */
#define PRODUCT_MIN_PART_FLOPS ((int64_t)1 << 17)

static int64_t copies; /* tensor_linalg_copies (atomic) */

int64_t tensor_linalg_copies(void) { return __atomic_load_n(&copies, __ATOMIC_RELAXED); }

static void count_copy(void) { __atomic_fetch_add(&copies, 1, __ATOMIC_RELAXED); }

/* How sgemm reads one matrix of rows x cols elements srow and scol apart: its row stride `ld`
 * and whether it is stored transposed (columns contiguous). 0 when neither its rows nor its
 * columns are contiguous (or rows overlap). */
static int gemm_layout(int64_t rows, int64_t cols, int64_t srow, int64_t scol, int64_t *ld,
                       int *transposed) {
    if (scol == 1 || cols == 1) {
        *ld = rows > 1 ? srow : cols;
        *transposed = 0;
        if (*ld >= cols) return 1;
    }
    if (srow == 1 || rows == 1) {
        *ld = cols > 1 ? scol : rows;
        *transposed = 1;
        return *ld >= rows;
    }
    return 0;
}

/* A batch of matrices as sgemm reads them: the first one's data, the layout they share, and the
 * distance between two of them (floats). */
typedef struct {
    float *data;
    int64_t ld, batch_stride;
    int transposed;
} Operand;

/* t (B, rows, cols): 1 and its Operand when every matrix is read (or, with `written`, written)
 * in place; written also needs the matrices not to overlap one another. */
static int operand_of(const Tensor *t, int written, Operand *op) {
    int64_t batch = t->shape[0], rows = t->shape[1], cols = t->shape[2];
    op->data = tensor_f32(t);
    op->batch_stride = batch > 1 ? t->stride[0] : 0;
    if (!gemm_layout(rows, cols, t->stride[1], t->stride[2], &op->ld, &op->transposed)) return 0;
    if (!written || batch <= 1) return 1;
    int64_t span = (rows - 1) * t->stride[1] + (cols - 1) * t->stride[2] + 1; /* one matrix */
    return t->stride[0] >= span;
}

typedef struct {
    Operand a, b, c;
    int64_t m, n, k;
    float alpha, beta;
    int serial; /* each matrix on one thread (the split is over the batch) */
} Batch;

/* Matrix i of the batch: c = alpha * a @ b + beta * c. A c stored transposed takes
 * c^T (n, m) = b^T @ a^T. */
static void product(const Batch *j, int64_t i) {
    const float *a = j->a.data + i * j->a.batch_stride, *b = j->b.data + i * j->b.batch_stride;
    float *c = j->c.data + i * j->c.batch_stride;
    void (*run)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                int64_t, float, float *, int64_t) = j->serial ? gemm_serial : gemm;
    if (!j->c.transposed)
        run(j->a.transposed, j->b.transposed, j->m, j->n, j->k, j->alpha, a, j->a.ld, b, j->b.ld,
            j->beta, c, j->c.ld);
    else
        run(!j->b.transposed, !j->a.transposed, j->n, j->m, j->k, j->alpha, b, j->b.ld, a, j->a.ld,
            j->beta, c, j->c.ld);
}

static void batch_part(void *ctx, int64_t lo, int64_t hi, int part) {
    (void)part;
    for (int64_t i = lo; i < hi; i++) product(ctx, i);
}

/* c (B, M, N) = alpha * a (B, M, K) @ b (B, K, N) + beta * c; shapes checked, c overlaps neither
 * a nor b. Small matrices go one per thread over the batch; large ones use gemm's own split. */
static int batched_product(Tensor *c, const Tensor *a, const Tensor *b, float alpha, float beta) {
    int64_t batch = c->shape[0], m = c->shape[1], n = c->shape[2], k = a->shape[2];
    if (c->numel == 0) return MN_OK;
    if (k == 0) return beta == 0 ? tensor_fill(c, 0) : tensor_map(c, c, MAP_MUL, beta, 0);
    Tensor ca = {0}, cb = {0}, cc = {0};
    Batch j = {.m = m, .n = n, .k = k, .alpha = alpha, .beta = beta};
    int st = MN_OK;
    if (!operand_of(a, 0, &j.a)) {
        count_copy();
        if ((st = tensor_clone(&ca, a))) goto done;
        operand_of(&ca, 0, &j.a);
    }
    if (!operand_of(b, 0, &j.b)) {
        count_copy();
        if ((st = tensor_clone(&cb, b))) goto done;
        operand_of(&cb, 0, &j.b);
    }
    Tensor *out = c;
    if (!operand_of(c, 1, &j.c)) {
        count_copy();
        st = beta == 0 ? tensor_init_like(&cc, c, -1) : tensor_clone(&cc, c);
        if (st) goto done;
        out = &cc;
        operand_of(out, 1, &j.c);
    }
    int64_t flops = m * n * k;
    int64_t grain = (PRODUCT_MIN_PART_FLOPS + flops - 1) / flops;
    int threads = parallel_threads();
    j.serial = batch > 1 && parallel_parts(batch, grain) > 1 &&
               (batch >= 2 * threads || flops < 16 * PRODUCT_MIN_PART_FLOPS);
    if (j.serial) parallel_for(batch, grain, batch_part, &j);
    else
        for (int64_t i = 0; i < batch; i++) product(&j, i);
    if (out != c) st = tensor_copy(c, out);
done:
    tensor_release(&ca);
    tensor_release(&cb);
    tensor_release(&cc);
    return st;
}

/* A 2-D t seen as a batch of one (B = 1), optionally transposed: a struct copy that borrows t's
 * storage without a reference (never released; it lives no longer than t). */
static Tensor batch_of_one(const Tensor *t, int transposed) {
    Tensor v = *t;
    v.ndim = 3;
    v.shape[0] = 1;
    v.stride[0] = 0;
    v.shape[1] = t->shape[transposed ? 1 : 0];
    v.stride[1] = t->stride[transposed ? 1 : 0];
    v.shape[2] = t->shape[transposed ? 0 : 1];
    v.stride[2] = t->stride[transposed ? 0 : 1];
    return v;
}

/* 1 when a (B, M, K), b (B, K, N) and c (B, M, N) (3-D) agree. */
static int product_shapes(const Tensor *c, const Tensor *a, const Tensor *b) {
    return a->shape[0] == b->shape[0] && a->shape[0] == c->shape[0] && a->shape[2] == b->shape[1] &&
           c->shape[1] == a->shape[1] && c->shape[2] == b->shape[2];
}

static int check_floats(const Tensor *c, const Tensor *a, const Tensor *b) {
    if (!a->storage || !b->storage || !c->storage) return MN_ERR_ARG;
    if (a->dtype != DTYPE_FLOAT32 || b->dtype != DTYPE_FLOAT32 || c->dtype != DTYPE_FLOAT32)
        return MN_ERR_DTYPE;
    return MN_OK;
}

int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta) {
    int st = check_floats(c, a, b);
    if (st) return st;
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2) return MN_ERR_SHAPE;
    Tensor a3 = batch_of_one(a, trans_a), b3 = batch_of_one(b, trans_b), c3 = batch_of_one(c, 0);
    if (!product_shapes(&c3, &a3, &b3)) return MN_ERR_SHAPE;
    if (tensor_overlaps(c, a) || tensor_overlaps(c, b)) return MN_ERR_ARG;
    return batched_product(&c3, &a3, &b3, alpha, beta);
}

/* *in, or a copy of it in *copy when it overlaps out (reading it while out is written). */
static int unalias(const Tensor **in, const Tensor *out, Tensor *copy) {
    int st = tensor_unalias(in, out, copy, 0);
    if (*in == copy) count_copy();
    return st;
}

/* res = beta * m + alpha * (a @ b, or its sum over the batch when `reduce`). */
static int addmm(Tensor *res, float beta, const Tensor *m, float alpha, const Tensor *a,
                 const Tensor *b, int reduce) {
    int st = check_floats(res, a, b);
    if (st) return st;
    if (m && (!m->storage || m->dtype != DTYPE_FLOAT32)) return m->storage ? MN_ERR_DTYPE : MN_ERR_ARG;
    int batched = a->ndim == 3;
    if (a->ndim != b->ndim || (a->ndim != 2 && !batched) || res->ndim != (batched && !reduce ? 3 : 2))
        return MN_ERR_SHAPE;
    if (m && !tensor_same_shape(m, res)) return MN_ERR_SHAPE;
    Tensor a3 = batched ? *a : batch_of_one(a, 0), b3 = batched ? *b : batch_of_one(b, 0);
    Tensor c3 = res->ndim == 3 ? *res : batch_of_one(res, 0);
    if (a3.shape[0] != b3.shape[0] || a3.shape[2] != b3.shape[1] || c3.shape[1] != a3.shape[1] ||
        c3.shape[2] != b3.shape[2] || (!reduce && c3.shape[0] != a3.shape[0]))
        return MN_ERR_SHAPE;
    Tensor ca = {0}, cb = {0}, cm = {0};
    const Tensor *pa = &a3, *pb = &b3;
    /* copies of what overlaps res, made before res is written */
    if ((st = unalias(&pa, res, &ca)) || (st = unalias(&pb, res, &cb))) goto done;
    if (m && beta != 0 && !tensor_same_view(m, res)) {
        if ((st = unalias(&m, res, &cm)) || (st = tensor_copy(res, m))) goto done;
    }
    if (!reduce) {
        st = batched_product(&c3, pa, pb, alpha, beta);
    } else if (pa->shape[0] == 0) { /* an empty sum */
        st = beta == 0 ? tensor_fill(res, 0) : tensor_map(res, res, MAP_MUL, beta, 0);
    } else {
        for (int64_t i = 0; i < pa->shape[0] && st == MN_OK; i++) {
            Tensor ai = *pa, bi = *pb; /* matrix i as a batch of one, borrowed */
            ai.shape[0] = bi.shape[0] = 1;
            ai.offset += (size_t)(i * pa->stride[0]);
            bi.offset += (size_t)(i * pb->stride[0]);
            ai.numel = ai.shape[1] * ai.shape[2];
            bi.numel = bi.shape[1] * bi.shape[2];
            st = batched_product(&c3, &ai, &bi, alpha, i == 0 ? beta : 1.0f);
        }
    }
done:
    tensor_release(&ca);
    tensor_release(&cb);
    tensor_release(&cm);
    return st;
}

int tensor_addmm(Tensor *res, float beta, const Tensor *m, float alpha, const Tensor *a,
                 const Tensor *b) {
    return addmm(res, beta, m, alpha, a, b, 0);
}

int tensor_addbmm(Tensor *res, float beta, const Tensor *m, float alpha, const Tensor *a,
                  const Tensor *b) {
    if (a->ndim != 3) return MN_ERR_SHAPE;
    return addmm(res, beta, m, alpha, a, b, 1);
}

typedef struct {
    double sum[PARALLEL_MAX_THREADS];
} DotParts;

static void dot_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    DotParts *d = ctx;
    double s = 0;
    if (step[0] == sizeof(float) && step[1] == sizeof(float)) {
        const float *x = (const float *)ptr[0], *y = (const float *)ptr[1];
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            s += (double)*(const float *)(ptr[0] + i * step[0]) * *(const float *)(ptr[1] + i * step[1]);
    }
    d->sum[part] += s;
}

int tensor_dot(double *out, const Tensor *a, const Tensor *b) {
    if (!a->storage || !b->storage) return MN_ERR_ARG;
    if (a->dtype != DTYPE_FLOAT32 || b->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    if (a->numel != b->numel) return MN_ERR_SHAPE;
    DotParts d = {{0}};
    const Tensor *ops[2] = {a, b};
    strided_apply(2, ops, STRIDED_GRAIN, dot_run, &d);
    double s = 0;
    for (int p = 0; p < strided_parts(a->numel, STRIDED_GRAIN); p++) s += d.sum[p];
    *out = s;
    return MN_OK;
}
