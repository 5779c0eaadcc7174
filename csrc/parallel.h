/* parallel.h: the kernels' own threads (a small persistent pool), so both cores are busy in every
 * layer and OpenBLAS never runs threads of its own on top of ours (it is set to one thread: our
 * kernels split their sgemm calls themselves, see gemm.h).
 *
 * Work is split into `parts` contiguous ranges decided by the range and the thread count alone,
 * so a kernel that reduces per-part results in part order is bitwise deterministic for a given
 * thread count. Part 0 runs on the calling thread. A parallel_for called from inside a part, or
 * while another thread uses the pool, runs its parts one after the other on the caller. */
#ifndef MNIST_PARALLEL_H
#define MNIST_PARALLEL_H

#include <stdint.h>

#define PARALLEL_MAX_THREADS 64

/* Runs [lo, hi) of the work, as part number `part` of the split (0 <= part < parts). */
typedef void (*parallel_fn)(void *ctx, int64_t lo, int64_t hi, int part);

/* Threads the kernels use (1..PARALLEL_MAX_THREADS; default: the online CPUs). */
int parallel_threads(void);

/* Sets the kernels' thread count (clamped to 1..PARALLEL_MAX_THREADS) and OpenBLAS's to one. */
void parallel_set_threads(int n);

/* How many parts parallel_for(n, grain, ...) splits into: min(threads, ceil(n / grain)), >= 1. */
int parallel_parts(int64_t n, int64_t grain);

/* Calls fn(ctx, lo, hi, part) for the parallel_parts(n, grain) ranges that cover [0, n), part p
 * covering [n*p/parts, n*(p+1)/parts), concurrently, and returns when all are done. */
void parallel_for(int64_t n, int64_t grain, parallel_fn fn, void *ctx);

#endif
