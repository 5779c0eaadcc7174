/* tensor_linalg.h: matrix products of float32 tensors through the core's sgemm (gemm.h).
 * Operands may be strided: a matrix whose rows or whose columns are contiguous (a transposed
 * view, a narrowed block) is read in place; any other layout goes through a contiguous copy. */
#ifndef MNIST_TENSOR_LINALG_H
#define MNIST_TENSOR_LINALG_H

#include "tensor/tensor.h"

/* c (m, n) = alpha * op(a) @ op(b) + beta * c, all 2-D float32; op transposes when trans_* is set.
 * c must already have shape (rows of op(a), cols of op(b)) and must not overlap a or b. */
int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta);

#endif
