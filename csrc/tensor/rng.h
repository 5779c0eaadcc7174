/* rng.h: the one seeded random number generator (xoshiro256**, seeded through splitmix64).
 * It drives weight initialisation, dropout, shuffling and augmentation, so the same seed gives the
 * same run. The state is plain data: copy it to checkpoint, copy it back to resume. */
#ifndef MNIST_RNG_H
#define MNIST_RNG_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct Rng {
    uint64_t s[4];
} Rng;

/* rng: seeded from any 64-bit seed (seed 0 is fine). */
void rng_seed(Rng *rng, uint64_t seed);
/* The next 64 random bits. */
uint64_t rng_next(Rng *rng);
/* A float uniform in [0, 1), 24 random bits. */
float rng_uniform(Rng *rng);
/* A double uniform in [0, 1), 53 random bits. */
double rng_uniform_double(Rng *rng);
/* An integer uniform in [0, n), unbiased (Lemire's method); n >= 1. */
uint64_t rng_below(Rng *rng, uint64_t n);
/* A standard normal draw (Box-Muller, one value per call). */
double rng_normal(Rng *rng);
/* perm[0..n): a uniform random permutation of 0..n-1 (Fisher-Yates: for i = n-1 down to 1, swap
 * i with rng_below(i + 1)). */
void rng_permutation(Rng *rng, int32_t *perm, int64_t n);

/* ---- tensor fills (Torch7's x:uniform(), x:normal(), x:bernoulli(), x:random(), ...) ----
 * t may have any strides: its elements are drawn one after the other in t's row-major order, on
 * the calling thread, so a seed gives the same values whatever the layout and the thread count,
 * and a fill of a view (x:t(), a column) draws exactly numel(view) values. Each element takes
 * the draws written after its function; nothing is drawn when an argument is refused. */

/* t (float32): lo + (hi - lo) * rng_uniform(), in float arithmetic. */
int rng_fill_uniform(Tensor *t, Rng *rng, float lo, float hi);
/* t (float32): mean + std * (float)rng_normal(). */
int rng_fill_normal(Tensor *t, Rng *rng, float mean, float std);
/* t (float32): -log(1 - u) / lambda with u = rng_uniform_double(); lambda > 0. */
int rng_fill_exponential(Tensor *t, Rng *rng, double lambda);
/* t (any dtype): 1 when rng_uniform_double() < p, else 0; p in [0, 1]. */
int rng_fill_bernoulli(Tensor *t, Rng *rng, double p);
/* t (any dtype): as rng_fill_bernoulli with element i's probability the float32 probs' element i
 * (same numel, any strides, each in [0, 1]; MN_ERR_ARG otherwise). */
int rng_fill_bernoulli_tensor(Tensor *t, Rng *rng, const Tensor *probs);
/* t (any dtype): lo + rng_below(hi - lo + 1), whole numbers in [lo, hi]; both bounds must fit t's
 * dtype exactly (uint8 0..255, float32 |v| <= 2^24, int64 |v| <= 2^53; MN_ERR_ARG otherwise). */
int rng_fill_random(Tensor *t, Rng *rng, int64_t lo, int64_t hi);
/* t (1-D, any dtype): 1..n in the order of rng_permutation (the same draws: element i is
 * perm[i] + 1); n must fit t's dtype. */
int rng_fill_permutation(Tensor *t, Rng *rng);

#endif
