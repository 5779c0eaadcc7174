#include "tensor/tensor_linalg.h"

#include "tensor/gemm.h"

/* How sgemm reads a 2-D tensor in place: its data, row stride and whether it is stored transposed
 * (columns contiguous). 0 when neither its rows nor its columns are contiguous. */
static int gemm_operand(const Tensor *t, const float **data, int64_t *ld, int *transposed) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    *data = tensor_f32(t);
    if (t->stride[1] == 1 || cols == 1) {
        *ld = rows > 1 ? t->stride[0] : cols;
        *transposed = 0;
        return *ld >= cols;
    }
    if (t->stride[0] == 1 || rows == 1) {
        *ld = cols > 1 ? t->stride[1] : rows;
        *transposed = 1;
        return *ld >= rows;
    }
    return 0;
}

int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta) {
    if (!a->storage || !b->storage || !c->storage) return MN_ERR_ARG;
    if (a->dtype != DTYPE_FLOAT32 || b->dtype != DTYPE_FLOAT32 || c->dtype != DTYPE_FLOAT32)
        return MN_ERR_DTYPE;
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2) return MN_ERR_SHAPE;
    int64_t m = trans_a ? a->shape[1] : a->shape[0];
    int64_t k = trans_a ? a->shape[0] : a->shape[1];
    int64_t kb = trans_b ? b->shape[1] : b->shape[0];
    int64_t n = trans_b ? b->shape[0] : b->shape[1];
    if (k != kb || c->shape[0] != m || c->shape[1] != n) return MN_ERR_SHAPE;
    if (tensor_overlaps(c, a) || tensor_overlaps(c, b)) return MN_ERR_ARG;
    if (m == 0 || n == 0) return MN_OK;
    Tensor ca = {0}, cb = {0}, cc = {0};
    const float *pa, *pb;
    int64_t lda = 0, ldb = 0, ldc = c->stride[0];
    int ta = 0, tb = 0, st = MN_OK;
    if (!gemm_operand(a, &pa, &lda, &ta)) {
        if ((st = tensor_clone(&ca, a))) goto done;
        gemm_operand(&ca, &pa, &lda, &ta);
    }
    if (!gemm_operand(b, &pb, &ldb, &tb)) {
        if ((st = tensor_clone(&cb, b))) goto done;
        gemm_operand(&cb, &pb, &ldb, &tb);
    }
    int c_rows = c->stride[1] == 1 || n == 1, c_cols = c->stride[0] == 1 || m == 1;
    if (c_rows && (m == 1 || c->stride[0] >= n)) {
        ldc = m > 1 ? c->stride[0] : n;
        gemm(trans_a ^ ta, trans_b ^ tb, m, n, k, alpha, pa, lda, pb, ldb, beta, tensor_f32(c), ldc);
    } else if (c_cols && (n == 1 || c->stride[1] >= m)) {
        /* c stored transposed: c^T (n, m) = op(b)^T @ op(a)^T */
        ldc = n > 1 ? c->stride[1] : m;
        gemm(!(trans_b ^ tb), !(trans_a ^ ta), n, m, k, alpha, pb, ldb, pa, lda, beta, tensor_f32(c), ldc);
    } else { /* any other c: compute into a contiguous copy, then copy back */
        if ((st = tensor_clone(&cc, c))) goto done;
        gemm(trans_a ^ ta, trans_b ^ tb, m, n, k, alpha, pa, lda, pb, ldb, beta, tensor_f32(&cc), n);
        st = tensor_copy(c, &cc);
    }
done:
    tensor_release(&ca);
    tensor_release(&cb);
    tensor_release(&cc);
    return st;
}
