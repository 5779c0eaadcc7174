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
/* perm[0..n): a uniform random permutation of 0..n-1 (Fisher-Yates). */
void rng_permutation(Rng *rng, int32_t *perm, int64_t n);
/* t (float32): each element uniform in [lo, hi). */
int rng_fill_uniform(Tensor *t, Rng *rng, float lo, float hi);
/* t (float32): each element normal with the given mean and std. */
int rng_fill_normal(Tensor *t, Rng *rng, float mean, float std);

#endif
