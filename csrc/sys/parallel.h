/* parallel.h: the kernels' own threads (a small persistent pool), so both cores are busy in every
 * layer and OpenBLAS never runs threads of its own on top of ours (it is set to one thread: our
 * kernels split their sgemm calls themselves, see gemm.h).
 *
 * Work is split into `parts` contiguous ranges (blocks) decided by the range and the thread count
 * alone, so a kernel that reduces per-part results in part order is bitwise deterministic for a
 * given thread count. The calling thread and the workers claim blocks as they come free: on a
 * busy machine a worker that is not scheduled in time leaves its block to the caller instead of
 * stalling it. Scratch memory is therefore per running thread (parallel_thread_index), results
 * per block. A parallel_for called from inside a block, or while another thread uses the pool,
 * runs its blocks one after the other on the caller. */
#ifndef MNIST_PARALLEL_H
#define MNIST_PARALLEL_H

#include <stdint.h>

#define PARALLEL_MAX_THREADS 64

/* Runs [lo, hi) of the work, as block number `part` of the split (0 <= part < parts). */
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

/* The running thread's index for per-thread scratch: 0 on a caller, k on worker k; inside
 * parallel_for(n, grain, ...) it is below parallel_parts(n, grain). */
int parallel_thread_index(void);

#endif
