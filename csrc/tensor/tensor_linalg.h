/* tensor_linalg.h: matrix products of float32 tensors through the core's sgemm (gemm.h), Torch7's
 * mm, mv, addmm, addmv, addr, bmm, baddbmm, addbmm and dot.
 *
 * Operands may be strided: a matrix whose rows or whose columns are contiguous (a transposed view,
 * a narrowed block, a column of a matrix) is read in place, and so is every matrix of a batch that
 * shares one such layout; any other layout (an expanded operand, a strided step in both dims) goes
 * through one contiguous copy. An output that sgemm cannot write in place is computed into a
 * contiguous copy and copied back. Results do not depend on the layouts or the thread count. */
#ifndef MNIST_TENSOR_LINALG_H
#define MNIST_TENSOR_LINALG_H

#include "tensor/tensor.h"

/* c (m, n) = alpha * op(a) @ op(b) + beta * c, all 2-D float32; op transposes when trans_* is set.
 * c must already have shape (rows of op(a), cols of op(b)) and must not overlap a or b. */
int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta);

/* res = beta * m + alpha * a @ b (Torch7's addmm for 2-D a (M, K), b (K, N), res (M, N); baddbmm
 * for 3-D a (B, M, K), b (B, K, N), res (B, M, N), one product per matrix of the batch).
 * res has the result's shape already; m has it too (any strides, an expanded bias included), or
 * is NULL (or res itself) for res's own values. beta 0 never reads m (NaNs in it do not spread).
 * a, b or m may overlap res: they are read from copies then. */
int tensor_addmm(Tensor *res, float beta, const Tensor *m, float alpha, const Tensor *a,
                 const Tensor *b);

/* res (M, N) = beta * m + alpha * sum over i of a[i] @ b[i], a (B, M, K), b (B, K, N) (Torch7's
 * addbmm); m and res as tensor_addmm's. */
int tensor_addbmm(Tensor *res, float beta, const Tensor *m, float alpha, const Tensor *a,
                  const Tensor *b);

/* *out = sum of a[i] * b[i] over the elements of a and b in row-major order (float32, the same
 * numel, any shapes and strides), summed in double: per thread block, in block order, so the value
 * depends only on the thread count. */
int tensor_dot(double *out, const Tensor *a, const Tensor *b);

/* How many contiguous copies of operands or results the products have made since the library was
 * loaded (the specs check that transposed and narrowed views are read in place). */
int64_t tensor_linalg_copies(void);

#endif
