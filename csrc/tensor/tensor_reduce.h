/* tensor_reduce.h: reductions of float32 tensors of any strides. */
#ifndef MNIST_TENSOR_REDUCE_H
#define MNIST_TENSOR_REDUCE_H

#include "tensor/tensor.h"

/* *sum: sum of all elements, accumulated in double. */
int tensor_sum_all(double *sum, const Tensor *t);
/* *max, *argmax: the largest element and its 0-based row-major index (first one on ties; NaN wins). */
int tensor_max_all(float *max, int64_t *argmax, const Tensor *t);
/* values (rows), indices[rows]: max over the last dim and its 0-based position (first on ties). */
int tensor_max_rows(Tensor *values, int64_t *indices, const Tensor *t);

#endif
