#include "tensor/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(Rng *rng) { return (float)(rng_next(rng) >> 40) * 0x1.0p-24f; }

double rng_uniform_double(Rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t rng_below(Rng *rng, uint64_t n) {
    /* Lemire: multiply-shift, rejecting the few low products that would bias the result */
    unsigned __int128 m = (unsigned __int128)rng_next(rng) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)rng_next(rng) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rng_normal(Rng *rng) {
    double u1 = 1.0 - rng_uniform_double(rng); /* (0, 1]: log stays finite */
    double u2 = rng_uniform_double(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_permutation(Rng *rng, int32_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
        int32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

int rng_fill_uniform(Tensor *t, Rng *rng, float lo, float hi) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = lo + (hi - lo) * rng_uniform(rng);
    return MN_OK;
}

int rng_fill_normal(Tensor *t, Rng *rng, float mean, float std) {
    if (!t->storage) return MN_ERR_ARG;
    if (t->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = mean + std * (float)rng_normal(rng);
    return MN_OK;
}
