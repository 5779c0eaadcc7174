/* tensor.h: strided tensors of float32, uint8 (raw pixels, masks) or int64 (indices, labels), up
 * to TENSOR_MAX_DIMS dims, with Torch7's semantics.
 *
 * A Tensor is a small struct: a refcounted Storage plus an offset, sizes and strides (in
 * elements). Views (select, narrow, transpose, expand, unfold, view, squeeze) share the storage;
 * nothing aliases silently. A tensor is contiguous when its strides are those of a row-major array
 * of its sizes: the nn kernels take only contiguous tensors (tensor_f32() points at the first of
 * numel consecutive elements), the element-wise, reduction and indexing functions take any strides.
 * An empty tensor (Torch7's torch.Tensor()) has 0 dims and no elements; a dim of size 0 is allowed.
 * Every function returns an mn_status and leaves its outputs untouched (or released) on failure.
 * Outputs come first. */
#ifndef MNIST_TENSOR_H
#define MNIST_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"

/* Raw tensor bytes are written to files (weights, records) as little-endian values. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mnist stores tensors as little-endian bytes; this target is big-endian"
#endif

#define TENSOR_MAX_DIMS 8
/* Largest element count of one tensor: keeps every index inside a signed 32-bit int for kernels
 * and turns an absurd shape into an error instead of a huge lazy allocation. */
#define TENSOR_MAX_NUMEL ((int64_t)INT32_MAX)

typedef enum { DTYPE_FLOAT32 = 0, DTYPE_UINT8 = 1, DTYPE_INT64 = 2 } tensor_dtype;

typedef struct Storage {
    void *data;      /* malloc'd (or mmap'd when unmap_len > 0) */
    size_t nbytes;   /* usable bytes at data */
    size_t unmap_len;/* > 0: data came from mmap of this many bytes */
    int refcount;    /* atomic; the storage is freed when it drops to 0 */
} Storage;

typedef struct Tensor {
    Storage *storage;                  /* NULL: a released tensor */
    size_t offset;                     /* first element, in elements from storage->data */
    int dtype;                         /* tensor_dtype */
    int ndim;                          /* 0 (empty) .. TENSOR_MAX_DIMS */
    int64_t shape[TENSOR_MAX_DIMS];    /* unused dims are 1 */
    int64_t stride[TENSOR_MAX_DIMS];   /* in elements; 0 along an expanded dim; unused dims 1 */
    int64_t numel;                     /* product of shape[0..ndim); 0 for an empty tensor */
} Tensor;

static inline size_t dtype_size(int dtype) {
    return dtype == DTYPE_UINT8 ? 1 : dtype == DTYPE_INT64 ? 8 : 4;
}
static inline char *tensor_bytes(const Tensor *t) {
    return (char *)t->storage->data + t->offset * dtype_size(t->dtype);
}
static inline float *tensor_f32(const Tensor *t) { return (float *)t->storage->data + t->offset; }
static inline uint8_t *tensor_u8(const Tensor *t) { return (uint8_t *)t->storage->data + t->offset; }
static inline int64_t *tensor_i64(const Tensor *t) { return (int64_t *)t->storage->data + t->offset; }

/* ---- life cycle ---- */
/* out: a new zero-filled contiguous tensor of `dtype` with `ndim` dims `shape` (ndim 0: empty). */
int tensor_init(Tensor *out, int dtype, int ndim, const int64_t *shape);
/* out: a new zero-filled contiguous tensor of src's dtype (or `dtype` when >= 0) and shape. */
int tensor_init_like(Tensor *out, const Tensor *src, int dtype);
/* Drops t's reference to its storage and empties t. Safe on a released tensor. */
void tensor_release(Tensor *t);
/* out: a new tensor that takes `data` (malloc'd, nbytes long) as its storage; on failure the caller
 * still owns data. */
int tensor_wrap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data, size_t nbytes);
/* out: a new tensor over an mmap'd region (munmap'd with unmap_len when the last view goes);
 * `data` points inside the region. */
int tensor_wrap_mmap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data,
                     void *map, size_t unmap_len);
/* Checks a shape: 0..TENSOR_MAX_DIMS dims, each >= 0, product <= TENSOR_MAX_NUMEL. */
int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel);
/* t: resized in place to `shape` (Torch7's resize): keeps its storage when the storage holds the
 * new size from t's offset and t is contiguous, else takes a new zeroed one (views of the old
 * storage keep it). The values of a kept storage are not cleared. */
int tensor_resize(Tensor *t, int ndim, const int64_t *shape);

/* ---- layout ---- */
/* 1 when t's strides are row-major for its sizes (dims of size 1 may have any stride). */
int tensor_is_contiguous(const Tensor *t);
/* 1 when a and b have the same ndim and sizes. */
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Writes "(2, 3)" (or "()" for an empty tensor) into buf. Returns buf. */
char *tensor_shape_str(char *buf, size_t size, const Tensor *t);

/* ---- views (share src's storage; out may be src itself, or is released first) ---- */
/* out: src's elements with another shape of the same numel; one size may be -1 (inferred). src's
 * layout must allow it without a copy (MN_ERR_LAYOUT otherwise: call tensor_contiguous first). */
int tensor_view(Tensor *out, const Tensor *src, int ndim, const int64_t *shape);
/* out: src with dim `dim` fixed at `index` (0-based), one dim fewer (0 dims for a 1-D src). */
int tensor_select(Tensor *out, const Tensor *src, int dim, int64_t index);
/* out: [start, start + length) of src along dim (0-based start, length >= 0). */
int tensor_narrow(Tensor *out, const Tensor *src, int dim, int64_t start, int64_t length);
/* out: src with dims d1 and d2 swapped. */
int tensor_transpose(Tensor *out, const Tensor *src, int d1, int d2);
/* out: src with sizes `shape` (ndim >= src's): size-1 dims (and new leading dims) repeat by a 0
 * stride. */
int tensor_expand(Tensor *out, const Tensor *src, int ndim, const int64_t *shape);
/* out: every slice of `size` elements along dim, `step` apart, as a new last dim (Torch7's unfold). */
int tensor_unfold(Tensor *out, const Tensor *src, int dim, int64_t size, int64_t step);
/* out: src without its size-1 dims (dim < 0), or without dim `dim` when its size is 1. */
int tensor_squeeze(Tensor *out, const Tensor *src, int dim);
/* out: src with a new size-1 dim at `dim` (0..ndim). */
int tensor_unsqueeze(Tensor *out, const Tensor *src, int dim);
/* out: src itself (another reference) when contiguous, else a contiguous copy. */
int tensor_contiguous(Tensor *out, const Tensor *src);
/* t: re-pointed at `numel(t)` elements of src's storage from element `offset` of src (the flat
 * parameter arena), contiguous with t's shape. src must be contiguous. */
int tensor_set_storage(Tensor *t, const Tensor *src, size_t offset);
/* 1 when a and b share a storage. */
int tensor_shares_storage(const Tensor *a, const Tensor *b);
/* 1 when a and b share a storage and their element ranges (first to last element) overlap. */
int tensor_overlaps(const Tensor *a, const Tensor *b);
/* 1 when a and b view exactly the same elements in the same order (an in-place operation). */
int tensor_same_view(const Tensor *a, const Tensor *b);
/* *in, or a fresh copy of it (in *copy, which the caller releases) when it overlaps out, so that no
 * element is read after it was written; with in_place_ok the very same view as out is read as it is
 * (an element-wise op in place). */
int tensor_unalias(const Tensor **in, const Tensor *out, Tensor *copy, int in_place_ok);

/* ---- copies ---- */
/* out: a fresh contiguous copy of src (same dtype and shape). */
int tensor_clone(Tensor *out, const Tensor *src);
/* dst = src element by element in row-major order (same numel; shapes and strides may differ);
 * converts between dtypes as Torch7's copy does (float -> uint8/int64 truncates toward zero). */
int tensor_copy(Tensor *dst, const Tensor *src);
/* dst (float32) = src (uint8) * scale + shift, same numel. */
int tensor_bytes_to_float(Tensor *dst, const Tensor *src, float scale, float shift);
/* Every element of t = value (which must fit t's dtype). */
int tensor_fill(Tensor *t, double value);

/* ---- element access (0-based indices, one per dim) ---- */
/* Element offset from t's first element, in elements. */
int64_t tensor_element_offset(const Tensor *t, const int64_t *index);
/* The element at `off` elements from t's first, as a double. */
double tensor_get_at(const Tensor *t, int64_t off);
/* Stores value at `off`; MN_ERR_ARG when it does not fit t's dtype (uint8 0..255 whole, int64 whole). */
int tensor_set_at(Tensor *t, int64_t off, double value);

#endif
