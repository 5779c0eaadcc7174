#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/strided.h"

#include "sys/parallel.h"

void walk_init(Walk *w, const Tensor *t) {
    int64_t esize = (int64_t)dtype_size(t->dtype);
    int n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 1) continue; /* a size-1 dim never moves */
        int64_t step = t->stride[d] * esize;
        if (n > 0 && w->step[n - 1] == step * t->shape[d]) { /* the outer one steps over this one */
            w->size[n - 1] *= t->shape[d];
            w->step[n - 1] = step;
        } else {
            w->size[n] = t->shape[d];
            w->step[n] = step;
            n++;
        }
    }
    if (n == 0) { /* a single element, or none */
        w->size[0] = t->numel;
        w->step[0] = esize;
        n = 1;
    }
    w->ndim = n;
    for (int d = 0; d < n; d++) w->index[d] = 0;
    w->ptr = t->numel ? tensor_bytes(t) : NULL;
}

void walk_seek(Walk *w, int64_t linear) {
    for (int d = w->ndim - 1; d >= 0; d--) {
        int64_t i = w->size[d] ? linear % w->size[d] : 0;
        linear = w->size[d] ? linear / w->size[d] : 0;
        w->ptr += (i - w->index[d]) * w->step[d];
        w->index[d] = i;
    }
}

void walk_advance(Walk *w, int64_t n) {
    int last = w->ndim - 1;
    w->index[last] += n;
    w->ptr += n * w->step[last];
    if (w->index[last] < w->size[last]) return;
    /* the run is over: carry into the outer dims */
    for (int d = last; d >= 0; d--) {
        if (w->index[d] < w->size[d]) return;
        w->ptr -= w->index[d] * w->step[d];
        w->index[d] = 0;
        if (d == 0) return; /* past the last element: stays at the first (never read) */
        w->index[d - 1]++;
        w->ptr += w->step[d - 1];
    }
}

typedef struct {
    int nops;
    const Tensor *const *ops;
    strided_fn fn;
    void *ctx;
} Apply;

static void apply_range(void *arg, int64_t lo, int64_t hi, int part) {
    const Apply *a = arg;
    Walk w[STRIDED_MAX_OPS];
    char *ptr[STRIDED_MAX_OPS];
    int64_t step[STRIDED_MAX_OPS];
    for (int k = 0; k < a->nops; k++) {
        walk_init(&w[k], a->ops[k]);
        walk_seek(&w[k], lo);
    }
    for (int64_t left = hi - lo; left > 0;) {
        int64_t n = left;
        for (int k = 0; k < a->nops; k++) {
            int64_t run = walk_run(&w[k]);
            if (run < n) n = run;
            ptr[k] = w[k].ptr;
            step[k] = walk_step(&w[k]);
        }
        a->fn(a->ctx, n, ptr, step, part);
        for (int k = 0; k < a->nops; k++) walk_advance(&w[k], n);
        left -= n;
    }
}

int strided_parts(int64_t numel, int64_t grain) {
    return grain > 0 ? parallel_parts(numel, grain) : 1;
}

/* sorted: ops with their dims in the first operand's memory order (strides largest first), when
 * every operand has the same shape and that order is not row-major already; returns 0 otherwise. */
static int memory_order(int nops, const Tensor *const *ops, Tensor *sorted) {
    for (int k = 1; k < nops; k++)
        if (!tensor_same_shape(ops[k], ops[0])) return 0;
    int n = ops[0]->ndim, perm[TENSOR_MAX_DIMS], moved = 0;
    for (int d = 0; d < n; d++) perm[d] = d;
    const int64_t *stride = ops[0]->stride;
    for (int i = 1; i < n; i++) /* insertion sort: stable, n <= 8 */
        for (int j = i; j > 0 && stride[perm[j - 1]] < stride[perm[j]]; j--) {
            int t = perm[j];
            perm[j] = perm[j - 1];
            perm[j - 1] = t;
            moved = 1;
        }
    if (!moved) return 0;
    for (int k = 0; k < nops; k++) {
        sorted[k] = *ops[k];
        for (int d = 0; d < n; d++) {
            sorted[k].shape[d] = ops[k]->shape[perm[d]];
            sorted[k].stride[d] = ops[k]->stride[perm[d]];
        }
    }
    return 1;
}

void strided_apply(int nops, const Tensor *const *ops, int64_t grain, strided_fn fn, void *ctx) {
    int64_t numel = ops[0]->numel;
    if (numel == 0) return;
    Apply a = {nops, ops, fn, ctx};
    if (grain <= 0) {
        apply_range(&a, 0, numel, 0);
        return;
    }
    parallel_for(numel, grain, apply_range, &a);
}

void strided_map(int nops, const Tensor *const *ops, int64_t grain, strided_fn fn, void *ctx) {
    Tensor sorted[STRIDED_MAX_OPS];
    const Tensor *sorted_ops[STRIDED_MAX_OPS];
    if (ops[0]->numel && memory_order(nops, ops, sorted)) {
        for (int k = 0; k < nops; k++) sorted_ops[k] = &sorted[k];
        ops = sorted_ops;
    }
    strided_apply(nops, ops, grain, fn, ctx);
}
