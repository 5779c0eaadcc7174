/* strided.h: walking tensors of any strides in row-major order (internal to csrc/tensor/).
 *
 * A Walk collapses a tensor's dims to the fewest that describe it (dims of size 1 dropped,
 * neighbours merged where one steps exactly over the other), so a contiguous tensor, or a
 * narrowed block of contiguous rows, is one long run. strided_apply walks up to 4 tensors of the
 * same element count together, each in its own row-major order, and hands the kernel runs of
 * elements along which every operand advances by a constant step: the kernel's inner loop is
 * a plain strided loop, vectorisable when every step is one element. */
#ifndef MNIST_STRIDED_H
#define MNIST_STRIDED_H

#include <stdint.h>

#include "tensor/tensor.h"

#define STRIDED_MAX_OPS 4
/* Elements per thread below which the work stays on the calling thread. */
#define STRIDED_GRAIN (1 << 16)

typedef struct {
    char *ptr;                       /* the current element */
    int ndim;                        /* collapsed dims, >= 1 */
    int64_t size[TENSOR_MAX_DIMS];   /* collapsed sizes */
    int64_t step[TENSOR_MAX_DIMS];   /* collapsed strides, in bytes */
    int64_t index[TENSOR_MAX_DIMS];  /* position along each collapsed dim */
} Walk;

/* w: t's elements in row-major order, at the first one. */
void walk_init(Walk *w, const Tensor *t);
/* Moves w to the element of row-major index `linear`, from the first element. */
void walk_seek(Walk *w, int64_t linear);
/* Moves w on by n elements (n <= walk_run(w)). */
void walk_advance(Walk *w, int64_t n);
/* Elements left in w's current run (its innermost dim). */
static inline int64_t walk_run(const Walk *w) {
    return w->size[w->ndim - 1] - w->index[w->ndim - 1];
}
/* Bytes between two elements of a run. */
static inline int64_t walk_step(const Walk *w) { return w->step[w->ndim - 1]; }

/* Called with n elements of every operand: operand k's first at ptr[k], the next step[k] bytes on.
 * `part` is the block of the parallel split the run belongs to (for per-part results). */
typedef void (*strided_fn)(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part);

/* Walks ops[0..nops) (same numel) together, each in its own row-major order, and calls fn on
 * every run, the element range split over the kernels' threads when it exceeds grain per thread
 * (grain <= 0: on the calling thread only, in order). */
void strided_apply(int nops, const Tensor *const *ops, int64_t grain, strided_fn fn, void *ctx);

/* The same for element-wise work, where the order does not matter: operands of one shape are
 * walked in the first one's memory order (its dims sorted by stride), so x:t():add(y:t()) runs
 * along contiguous memory too. fn must not depend on the elements' row-major positions. */
void strided_map(int nops, const Tensor *const *ops, int64_t grain, strided_fn fn, void *ctx);

/* How many parts strided_apply(…, grain, …) splits n elements into (per-part result slots). */
int strided_parts(int64_t numel, int64_t grain);

#endif
