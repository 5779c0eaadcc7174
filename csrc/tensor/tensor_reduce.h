/* tensor_reduce.h: reductions, scans and sorts of tensors of any strides, with Torch7's semantics.
 *
 * A reduction over `dim` (0-based here) writes one value per slice along that dim into `out`, whose
 * sizes are x's with dim's size 1 (Torch7 keeps the dim). Callers shape the outputs (the bindings
 * resize Torch7's res arguments); the functions check them (MN_ERR_SHAPE) and write through their
 * strides. An input that overlaps an output is read from a copy.
 *
 * Numbers: float32 inputs, accumulated in double (sum, mean, prod, var, std, norm, cumsum,
 * cumprod). Results are deterministic for a given thread count: every output value is computed
 * by one thread in a fixed order; a reduction over all elements combines per-part results in part
 * order. NaN: max and min return the first NaN (as Torch7 and NumPy); sort puts NaN after every
 * number (before them when descending). Indices are 0-based int64 here (1-based in Lua). */
#ifndef MNIST_TENSOR_REDUCE_H
#define MNIST_TENSOR_REDUCE_H

#include "tensor/tensor.h"

typedef enum {
    REDUCE_SUM,
    REDUCE_PROD,
    REDUCE_MEAN, /* NaN over no elements */
    REDUCE_VAR,  /* arg != 0: divided by n (biased, Torch7's flag), else by n - 1 */
    REDUCE_STD,  /* sqrt of REDUCE_VAR */
    REDUCE_NORM, /* arg = p: (sum |x|^p)^(1/p); p = 0 counts non-zeros, p = inf is max |x| */
    REDUCE_COUNT
} tensor_reduce_op;

/* The op's Torch7 name ("sum", ...), for error messages. */
const char *tensor_reduce_name(int op);

/* out (float32, x's sizes with dim's 1) = op of x over dim. */
int tensor_reduce_dim(Tensor *out, const Tensor *x, int dim, int op, double arg);
/* *result = op of all of x's elements (float32; uint8 and int64 too for REDUCE_SUM/MEAN). */
int tensor_reduce_all(double *result, const Tensor *x, int op, double arg);

/* values (float32), indices (int64), both x's sizes with dim's 1: the largest (want_min: smallest)
 * element of every slice along dim and its position, the first on ties, the first NaN if any.
 * MN_ERR_SHAPE when dim has size 0. */
int tensor_extreme_dim(Tensor *values, Tensor *indices, const Tensor *x, int dim, int want_min);
/* *value, *index: the same over all elements, index row-major. MN_ERR_SHAPE for no elements. */
int tensor_extreme_all(double *value, int64_t *index, const Tensor *x, int want_min);

/* out (float32, x's sizes): running sums (product: running products) along dim. */
int tensor_cumulate(Tensor *out, const Tensor *x, int dim, int product);

/* values, indices (x's sizes): every slice along dim sorted, stable (equal elements keep their
 * order), ascending or descending. */
int tensor_sort(Tensor *values, Tensor *indices, const Tensor *x, int dim, int descending);
/* values, indices (x's sizes with dim's k): the k largest (largest = 0: smallest) of every slice,
 * sorted, the earlier first among equals. MN_ERR_RANGE unless 0 <= k <= dim's size. */
int tensor_topk(Tensor *values, Tensor *indices, const Tensor *x, int dim, int64_t k, int largest);
/* values, indices (x's sizes with dim's 1): the k-th smallest (k 1-based) of every slice, in the
 * stable ascending order (the median is k = (n + 1) / 2, Torch7's lower median).
 * MN_ERR_RANGE unless 1 <= k <= dim's size. */
int tensor_kthvalue(Tensor *values, Tensor *indices, const Tensor *x, int dim, int64_t k);

/* values, indices (x's sizes with dim's 1): the most frequent value of every slice (the smallest
 * on ties) and the position of its first occurrence. MN_ERR_SHAPE when dim has size 0. */
int tensor_mode(Tensor *values, Tensor *indices, const Tensor *x, int dim);

/* *result = 1 when any (want_all: every) element of the uint8 tensor x is non-zero. */
int tensor_any_all(int *result, const Tensor *x, int want_all);

#endif
