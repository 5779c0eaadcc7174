/* nn_common.h: argument checks shared by the nn kernels (conv, pool, linear, batchnorm,
 * activation, loss). Internal to the C core: nothing here is part of the public API. */
#ifndef MNIST_NN_COMMON_H
#define MNIST_NN_COMMON_H

#include <stdint.h>

#include "tensor/tensor.h"

/* For the plain elementwise loops: one copy for x86-64-v3 CPUs (AVX2 and FMA: Haswell, Zen and
 * later) and a portable one, picked when the library loads (the build targets baseline x86-64).
 * Without trapping math GCC may turn a `?:` on floats into a vector blend; with it, the loop keeps
 * its branch and stays scalar. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NN_VEC_LOOP __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("no-trapping-math")))
/* The math such loops call: GCC inlines only functions with the same optimize options, and a loop
 * with a call left in it does not vectorize. */
#define NN_VEC_INLINE static inline __attribute__((always_inline, optimize("no-trapping-math")))
#else
#define NN_VEC_LOOP
#define NN_VEC_INLINE static inline
#endif

/* 1 when t is a live, contiguous float32 tensor (the kernels read tensor_f32(t) as numel floats). */
static inline int nn_is_f32(const Tensor *t) {
    return t && t->storage && t->dtype == DTYPE_FLOAT32 && tensor_is_contiguous(t);
}

/* 1 when t is a live float32 tensor of exactly `ndim` dims `shape`. */
static inline int nn_has_shape(const Tensor *t, int ndim, const int64_t *shape) {
    if (!nn_is_f32(t) || t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

/* 1 when t is a live float32 tensor with the same shape as ref. */
static inline int nn_same_shape(const Tensor *t, const Tensor *ref) {
    return nn_has_shape(t, ref->ndim, ref->shape);
}

/* 1 when t is a live float32 vector (1-D) of n elements. */
static inline int nn_is_vector(const Tensor *t, int64_t n) {
    return nn_is_f32(t) && t->ndim == 1 && t->shape[0] == n;
}

/* 1 when the optional tensor t is NULL or a float32 vector of n elements. */
static inline int nn_opt_vector(const Tensor *t, int64_t n) { return !t || nn_is_vector(t, n); }

#endif
