/* tensor.h: contiguous row-major tensors of float32 (or uint8, for raw image data), up to 4 dims.
 *
 * A Tensor is a small struct (shape + a pointer into a refcounted Storage). Views (view, select,
 * narrow, set_storage) share storage explicitly; nothing aliases silently. Every function returns
 * an mn_status and leaves its outputs untouched (released) on failure. Outputs come first. */
#ifndef MNIST_TENSOR_H
#define MNIST_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"

/* Raw tensor bytes are written to files (weights, records) as little-endian float32/uint8. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mnist stores tensors as little-endian bytes; this target is big-endian"
#endif

#define TENSOR_MAX_DIMS 4
/* Largest element count of one tensor: keeps every index inside a signed 32-bit int for kernels
 * and turns an absurd shape into an error instead of a huge lazy allocation. */
#define TENSOR_MAX_NUMEL ((int64_t)INT32_MAX)

typedef enum { DTYPE_FLOAT32 = 0, DTYPE_UINT8 = 1 } tensor_dtype;

typedef struct Storage {
    void *data;      /* malloc'd (or mmap'd when unmap_len > 0) */
    size_t nbytes;   /* usable bytes at data */
    size_t unmap_len;/* > 0: data came from mmap of this many bytes */
    int refcount;    /* atomic; the storage is freed when it drops to 0 */
} Storage;

typedef struct Tensor {
    Storage *storage;                  /* NULL: an empty, released tensor */
    size_t offset;                     /* first element, in elements from storage->data */
    int dtype;                         /* tensor_dtype */
    int ndim;                          /* 0 (empty) .. TENSOR_MAX_DIMS */
    int64_t shape[TENSOR_MAX_DIMS];    /* row-major; unused dims are 1 */
    int64_t numel;                     /* product of shape[0..ndim) */
} Tensor;

static inline float *tensor_f32(const Tensor *t) { return (float *)t->storage->data + t->offset; }
static inline uint8_t *tensor_u8(const Tensor *t) { return (uint8_t *)t->storage->data + t->offset; }
static inline size_t dtype_size(int dtype) { return dtype == DTYPE_UINT8 ? 1 : 4; }

/* ---- life cycle ---- */
/* out: a new zero-filled tensor of `dtype` with `ndim` dims `shape`. */
int tensor_init(Tensor *out, int dtype, int ndim, const int64_t *shape);
/* Drops t's reference to its storage and empties t. Safe on an empty tensor. */
void tensor_release(Tensor *t);
/* out: a new tensor that takes `data` (malloc'd, nbytes long) as its storage; on failure the caller
 * still owns data. */
int tensor_wrap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data, size_t nbytes);
/* out: a new tensor over an mmap'd region (munmap'd with unmap_len when the last view goes);
 * `data` points inside the region. */
int tensor_wrap_mmap(Tensor *out, int dtype, int ndim, const int64_t *shape, void *data,
                     void *map, size_t unmap_len);
/* Checks a shape: 1..TENSOR_MAX_DIMS dims, each >= 1, product <= TENSOR_MAX_NUMEL. */
int tensor_check_shape(int ndim, const int64_t *shape, int64_t *numel);

/* ---- views (share src's storage; out must be empty or is released first) ---- */
/* out: src's elements with another shape of the same numel. */
int tensor_view(Tensor *out, const Tensor *src, int ndim, const int64_t *shape);
/* out: src[index] along the first dim (0-based index), one dim fewer (a 1-D src gives shape {1}). */
int tensor_select(Tensor *out, const Tensor *src, int64_t index);
/* out: rows [start, start+length) of src along the first dim (0-based start). */
int tensor_narrow(Tensor *out, const Tensor *src, int64_t start, int64_t length);
/* t: re-pointed at `numel(t)` elements of src's storage from element `offset` (the flat parameter
 * arena). Keeps t's shape. */
int tensor_set_storage(Tensor *t, const Tensor *src, size_t offset);
/* 1 when a and b share a storage. */
int tensor_shares_storage(const Tensor *a, const Tensor *b);
/* 1 when a and b share a storage and their element ranges overlap. */
int tensor_overlaps(const Tensor *a, const Tensor *b);

/* ---- copies ---- */
/* out: a fresh copy of src (same dtype and shape). */
int tensor_clone(Tensor *out, const Tensor *src);
/* dst = src elementwise (same numel; shapes may differ). uint8 -> float32 converts. */
int tensor_copy(Tensor *dst, const Tensor *src);
/* dst (float32) = src (uint8) * scale + shift, same numel. */
int tensor_bytes_to_float(Tensor *dst, const Tensor *src, float scale, float shift);

/* ---- elementwise, in place on float32 ---- */
int tensor_fill(Tensor *t, float value);
int tensor_add(Tensor *t, const Tensor *x);             /* t += x (same numel) */
int tensor_add_scalar(Tensor *t, float value);          /* t += value */
int tensor_mul(Tensor *t, const Tensor *x);             /* t *= x (elementwise, same numel) */
int tensor_scale(Tensor *t, float s);                   /* t *= s */
int tensor_axpy(Tensor *y, float alpha, const Tensor *x);/* y += alpha * x */
int tensor_exp(Tensor *t);                              /* t = exp(t) */

/* ---- reductions ---- */
/* *sum: sum of all elements, accumulated in double. */
int tensor_sum_all(double *sum, const Tensor *t);
/* *max, *argmax: the largest element and its flat 0-based index (first one on ties; NaN wins). */
int tensor_max_all(float *max, int64_t *argmax, const Tensor *t);
/* out (rows): sums over the last dim; rows = numel / last dim. */
int tensor_sum_rows(Tensor *out, const Tensor *t);
/* values (rows), indices[rows]: max over the last dim and its 0-based position (first on ties). */
int tensor_max_rows(Tensor *values, int64_t *indices, const Tensor *t);

/* ---- linear algebra ---- */
/* c = alpha * op(a) @ op(b) + beta * c, all 2-D float32; op transposes when trans_* is set.
 * c must already have shape (rows of op(a), cols of op(b)) and must not overlap a or b. */
int tensor_matmul(Tensor *c, const Tensor *a, const Tensor *b, int trans_a, int trans_b,
                  float alpha, float beta);

/* Writes "(2, 3)" (or "()" for an empty tensor) into buf. Returns buf. */
char *tensor_shape_str(char *buf, size_t size, const Tensor *t);

#endif
