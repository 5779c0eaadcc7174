#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "tensor/rng.h"

#include <math.h>
#include <string.h>

#include "tensor/strided.h"

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

/* xoshiro256**, inlined into the fills (rng_next, exported, is called through the PLT). */
static inline uint64_t next_bits(Rng *rng) {
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

uint64_t rng_next(Rng *rng) { return next_bits(rng); }

static inline float uniform_float(Rng *rng) { return (float)(next_bits(rng) >> 40) * 0x1.0p-24f; }

float rng_uniform(Rng *rng) { return uniform_float(rng); }

double rng_uniform_double(Rng *rng) { return (double)(next_bits(rng) >> 11) * 0x1.0p-53; }

uint64_t rng_below(Rng *rng, uint64_t n) {
    /* Lemire: multiply-shift, rejecting the few low products that would bias the result */
    unsigned __int128 m = (unsigned __int128)next_bits(rng) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)next_bits(rng) * n;
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

/* Fisher-Yates over n elements of esize bytes, `step` bytes apart: the one shuffle of the rock
 * (rng_permutation's index arrays and rng_fill_permutation's tensors draw the same values). */
static void shuffle(Rng *rng, char *base, int64_t n, int64_t step, size_t esize) {
    char tmp[8];
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
        memcpy(tmp, base + i * step, esize);
        memcpy(base + i * step, base + j * step, esize);
        memcpy(base + j * step, tmp, esize);
    }
}

void rng_permutation(Rng *rng, int32_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    shuffle(rng, (char *)perm, n, (int64_t)sizeof *perm, sizeof *perm);
}

/* ---- tensor fills ---- */

enum { DRAW_UNIFORM, DRAW_NORMAL, DRAW_EXPONENTIAL, DRAW_BERNOULLI, DRAW_RANDOM };

typedef struct {
    Rng *rng;
    int kind, dtype;
    double a, b;     /* the distribution's parameters */
    uint64_t span;   /* DRAW_RANDOM: hi - lo + 1 */
    int per_element; /* DRAW_BERNOULLI: the probabilities are a second operand */
} Draw;

/* The next value of d's distribution (p: bernoulli's probability for this element). */
static inline double draw(const Draw *d, double p) {
    switch (d->kind) {
    case DRAW_UNIFORM: return (float)d->a + ((float)d->b - (float)d->a) * rng_uniform(d->rng);
    case DRAW_NORMAL: return (float)d->a + (float)d->b * (float)rng_normal(d->rng);
    case DRAW_EXPONENTIAL: return -log(1.0 - rng_uniform_double(d->rng)) / d->a;
    case DRAW_BERNOULLI: return rng_uniform_double(d->rng) < p ? 1.0 : 0.0;
    default: return (double)((int64_t)d->a + (int64_t)rng_below(d->rng, d->span));
    }
}

/* ptr[0]: the run of t; ptr[1] (bernoulli with a tensor): the probabilities. Values are whole or
 * in range by construction, so the stores convert without checks. */
static void fill_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    const Draw *d = ctx;
    if (d->kind == DRAW_UNIFORM) { /* weight initialisation: millions of draws, one tight loop */
        const float lo = (float)d->a, span = (float)d->b - (float)d->a;
        char *q = ptr[0];
        for (int64_t i = 0; i < n; i++, q += step[0]) *(float *)q = lo + span * uniform_float(d->rng);
        return;
    }
    int probs = d->kind == DRAW_BERNOULLI && d->per_element;
    char *p = ptr[0];
    for (int64_t i = 0; i < n; i++, p += step[0]) {
        double prob = d->kind != DRAW_BERNOULLI ? 0 : probs ? *(const float *)(ptr[1] + i * step[1]) : d->a;
        double v = draw(d, prob);
        switch (d->dtype) {
        case DTYPE_FLOAT32: *(float *)p = (float)v; break;
        case DTYPE_UINT8: *(uint8_t *)p = (uint8_t)v; break;
        default: *(int64_t *)p = (int64_t)v; break;
        }
    }
}

static int fill(Tensor *t, const Tensor *probs, const Draw *d) {
    const Tensor *ops[2] = {t, probs};
    strided_apply(probs ? 2 : 1, ops, 0, fill_run, (void *)d); /* grain 0: in order, one thread */
    return MN_OK;
}

static int check_fill(const Tensor *t, int float_only) {
    if (!t || !t->storage) return MN_ERR_ARG;
    if (float_only && t->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    return MN_OK;
}

int rng_fill_uniform(Tensor *t, Rng *rng, float lo, float hi) {
    int st = check_fill(t, 1);
    if (st) return st;
    Draw d = {rng, DRAW_UNIFORM, t->dtype, lo, hi, 0, 0};
    return fill(t, NULL, &d);
}

int rng_fill_normal(Tensor *t, Rng *rng, float mean, float std) {
    int st = check_fill(t, 1);
    if (st) return st;
    Draw d = {rng, DRAW_NORMAL, t->dtype, mean, std, 0, 0};
    return fill(t, NULL, &d);
}

int rng_fill_exponential(Tensor *t, Rng *rng, double lambda) {
    int st = check_fill(t, 1);
    if (st) return st;
    if (!(lambda > 0) || isinf(lambda)) return MN_ERR_ARG;
    Draw d = {rng, DRAW_EXPONENTIAL, t->dtype, lambda, 0, 0, 0};
    return fill(t, NULL, &d);
}

int rng_fill_bernoulli(Tensor *t, Rng *rng, double p) {
    int st = check_fill(t, 0);
    if (st) return st;
    if (!(p >= 0 && p <= 1)) return MN_ERR_ARG;
    Draw d = {rng, DRAW_BERNOULLI, t->dtype, p, 0, 0, 0};
    return fill(t, NULL, &d);
}

/* Sets *ok to 0 when a probability is outside [0, 1] (or NaN). */
static void check_probs_run(void *ctx, int64_t n, char *const *ptr, const int64_t *step, int part) {
    (void)part;
    int *ok = ctx;
    for (int64_t i = 0; i < n; i++) {
        float p = *(const float *)(ptr[0] + i * step[0]);
        if (!(p >= 0 && p <= 1)) *ok = 0;
    }
}

int rng_fill_bernoulli_tensor(Tensor *t, Rng *rng, const Tensor *probs) {
    int st = check_fill(t, 0);
    if (st) return st;
    if (!probs || !probs->storage) return MN_ERR_ARG;
    if (probs->dtype != DTYPE_FLOAT32) return MN_ERR_DTYPE;
    if (probs->numel != t->numel) return MN_ERR_SHAPE;
    int ok = 1;
    const Tensor *ops[1] = {probs};
    strided_apply(1, ops, 0, check_probs_run, &ok);
    if (!ok) return MN_ERR_ARG;
    Tensor copy = {0}; /* probabilities that t's writes would change as they are read */
    if (tensor_overlaps(probs, t) && !tensor_same_view(probs, t)) {
        if ((st = tensor_clone(&copy, probs))) return st;
        probs = &copy;
    }
    Draw d = {rng, DRAW_BERNOULLI, t->dtype, 0, 0, 0, 1};
    st = fill(t, probs, &d);
    tensor_release(&copy);
    return st;
}

/* The largest magnitude whole numbers of each dtype hold exactly (int64: what a double holds,
 * so every value reaches Lua unchanged). */
static int64_t whole_limit(int dtype, int64_t *lo) {
    if (dtype == DTYPE_UINT8) {
        *lo = 0;
        return 255;
    }
    int64_t m = dtype == DTYPE_FLOAT32 ? (int64_t)1 << 24 : (int64_t)1 << 53;
    *lo = -m;
    return m;
}

int rng_fill_random(Tensor *t, Rng *rng, int64_t lo, int64_t hi) {
    int st = check_fill(t, 0);
    if (st) return st;
    int64_t min, max = whole_limit(t->dtype, &min);
    if (lo > hi || lo < min || hi > max) return MN_ERR_ARG;
    Draw d = {rng, DRAW_RANDOM, t->dtype, (double)lo, (double)hi, (uint64_t)(hi - lo) + 1, 0};
    return fill(t, NULL, &d);
}

int rng_fill_permutation(Tensor *t, Rng *rng) {
    int st = check_fill(t, 0);
    if (st) return st;
    if (t->ndim != 1) return MN_ERR_SHAPE;
    int64_t min, n = t->shape[0];
    if (n > whole_limit(t->dtype, &min)) return MN_ERR_ARG;
    for (int64_t i = 0; i < n; i++)
        if ((st = tensor_set_at(t, i * t->stride[0], (double)(i + 1)))) return st;
    shuffle(rng, tensor_bytes(t), n, t->stride[0] * (int64_t)dtype_size(t->dtype), dtype_size(t->dtype));
    return MN_OK;
}
