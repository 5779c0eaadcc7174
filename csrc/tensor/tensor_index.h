/* tensor_index.h: indexing and joining of tensors of any strides and of every dtype, with Torch7's
 * semantics: cat, index (index_select), indexCopy, indexFill, indexAdd, gather, scatter,
 * maskedFill, maskedCopy, maskedSelect, nonzero, repeatTensor.
 *
 * Dims are 0-based. Index tensors are int64 and hold positions counted from `base` (1 for Torch7's
 * LongTensors, 0 for C callers). Masks are uint8 tensors of 0s and 1s with as many elements as the
 * tensor they mask (walked in row-major order, whatever their shape). Every index and mask value is
 * checked before anything is written: on MN_ERR_RANGE *fault (when not NULL) names the bad entry and
 * no output has changed.
 *
 * Outputs come first. An output that is not modified in place must already have the result's shape
 * and dtype (MN_ERR_SHAPE / MN_ERR_DTYPE otherwise). An input that overlaps the output is read from
 * a copy. Where several positions write to one element (repeated indices, an expanded output) the
 * writes happen in row-major order of the iteration, so the last one along `dim` wins (scatter,
 * indexCopy, indexFill) or they all add up (indexAdd). */
#ifndef MNIST_TENSOR_INDEX_H
#define MNIST_TENSOR_INDEX_H

#include "tensor/tensor.h"

/* The first bad entry of an index or mask tensor. */
typedef struct {
    int64_t position; /* row-major position of the entry in its tensor (0-based) */
    int64_t value;    /* the entry as stored */
    int64_t size;     /* indices must be in [base, base + size); a mask's entries below size (2) */
} IndexFault;

/* ---- joining ---- */
/* *ndim, shape: the shape of cat(inputs[0..count), dim). Inputs of 0 dims (empty) are skipped; an
 * input's missing trailing dims count as size 1 (Torch7's cat of vectors along dim 2 makes columns),
 * so the result has max(max ndim, dim + 1) dims, or 0 when every input is empty. Every non-empty
 * input must have the same dtype (MN_ERR_DTYPE) and the same sizes outside dim (MN_ERR_SHAPE); *bad
 * is then the input at fault. */
int tensor_cat_shape(int *ndim, int64_t *shape, const Tensor *const *inputs, int count, int dim,
                     int *bad);
/* out (the shape above) = the inputs one after the other along dim. */
int tensor_cat(Tensor *out, const Tensor *const *inputs, int count, int dim);
/* out = src repeated repeats[d] times along each dim d (Torch7's repeatTensor): src's shape is
 * padded with leading 1s to ndim (>= src's) dims, out has size repeats[d] * padded[d]. */
int tensor_repeat(Tensor *out, const Tensor *src, int ndim, const int64_t *repeats);

/* ---- one index per position along dim (index: 1-D int64, or empty for none) ---- */
/* out (src's shape with numel(index) along dim) = src's slices index[0], index[1], ... along dim. */
int tensor_index_select(Tensor *out, const Tensor *src, int dim, const Tensor *index, int64_t base,
                        IndexFault *fault);
/* x's slice index[i] along dim = src's slice i (src: x's shape with numel(index) along dim). */
int tensor_index_copy(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                      IndexFault *fault);
/* x's slice index[i] along dim += src's slice i (same src shape as index_copy; uint8 wraps). */
int tensor_index_add(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                     IndexFault *fault);
/* x's slices index[i] along dim = value (MN_ERR_ARG when value does not fit x's dtype). */
int tensor_index_fill(Tensor *x, int dim, const Tensor *index, double value, int64_t base,
                      IndexFault *fault);

/* ---- one index per element (index: int64 of src's/x's ndim, equal sizes outside dim) ---- */
/* out (index's shape)[p] = src[p with p[dim] = index[p]]. */
int tensor_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index, int64_t base,
                  IndexFault *fault);
/* x[p with p[dim] = index[p]] = src[p] for every p of index (src: index's sizes outside dim, at
 * least index's along dim). */
int tensor_scatter(Tensor *x, int dim, const Tensor *index, const Tensor *src, int64_t base,
                   IndexFault *fault);
/* x[p with p[dim] = index[p]] = value. */
int tensor_scatter_fill(Tensor *x, int dim, const Tensor *index, double value, int64_t base,
                        IndexFault *fault);

/* ---- masks ---- */
/* *ones: how many entries of mask are 1 (MN_ERR_RANGE with *fault for an entry above 1). */
int tensor_mask_count(int64_t *ones, const Tensor *mask, IndexFault *fault);
/* x's elements where mask is 1 = value. */
int tensor_masked_fill(Tensor *x, const Tensor *mask, double value, IndexFault *fault);
/* x's elements where mask is 1 = src's first elements in row-major order (src has at least as many
 * elements as mask has ones: MN_ERR_SHAPE otherwise). */
int tensor_masked_copy(Tensor *x, const Tensor *mask, const Tensor *src, IndexFault *fault);
/* out (1-D, as many elements as mask has ones) = src's elements where mask is 1, in row-major order. */
int tensor_masked_select(Tensor *out, const Tensor *src, const Tensor *mask, IndexFault *fault);

/* ---- nonzero ---- */
/* *count: how many elements of src are not 0 (NaN counts as not 0). */
int tensor_count_nonzero(int64_t *count, const Tensor *src);
/* out (int64, (count, src's ndim)) = the positions (counted from base) of src's non-zero elements,
 * in row-major order. */
int tensor_nonzero(Tensor *out, const Tensor *src, int64_t base);

#endif
