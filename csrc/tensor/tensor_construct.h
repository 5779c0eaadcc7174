/* tensor_construct.h: the value patterns of Torch7's constructors (range, linspace, logspace, eye);
 * the shapes are made by the caller (tensor_init or tensor_resize), the values here. */
#ifndef MNIST_TENSOR_CONSTRUCT_H
#define MNIST_TENSOR_CONSTRUCT_H

#include "tensor/tensor.h"

/* t (any dtype, any strides): element i of t's row-major order = start + i * step, computed in
 * double (log10_scale: 10 to that power, logspace's), then stored as t's dtype (whole-number dtypes
 * truncate toward zero, as tensor_copy). MN_ERR_ARG when a value does not fit t's dtype. */
int tensor_fill_linear(Tensor *t, double start, double step, int log10_scale);

/* t (2-D, any dtype): 1 where row == column, 0 elsewhere (Torch7's eye). */
int tensor_eye(Tensor *t);

#endif
