#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/batchnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_common.h"
#include "sys/parallel.h"

/* The channels are independent: they are split over the kernels' threads, each channel computed
 * exactly as on one thread. */
typedef struct {
    int64_t n, nc, s, m;
    const float *x, *dy, *g, *b;
    float *y, *dx, *mean, *invstd, *rmean, *rvar, *dg, *db;
    const float *cmean, *cinvstd;
    int training;
    float momentum, eps;
    /* synced (all processes') statistics, (C) each, or NULL: this batch's own. In the backward
     * pass, given_dy/given_dyx are the job's sums (for dinp) and local_dy/local_dyx this
     * process's share (for dweight and dbias, which the gradient all-reduce sums later). */
    const double *given_mu, *given_var, *given_dy, *given_dyx, *local_dy, *local_dyx;
} BatchNormJob;

/* *c, *s: channels and values per channel and sample of a (N, C, ...) tensor. */
static int channels(int64_t *c, int64_t *s, const Tensor *inp) {
    if (!nn_is_f32(inp)) return MN_ERR_DTYPE;
    if (inp->ndim < 2) return MN_ERR_SHAPE;
    *c = inp->shape[1];
    *s = inp->numel / (inp->shape[0] * inp->shape[1]);
    return MN_OK;
}

/* Channel sums: four 4-float vectors of lanes (16 independent adds in flight, which fit the
 * SSE registers of any x86-64; a single running double sum is one chain of dependent adds,
 * 4 cycles a value), flushed into a double every CHUNK values of a row so no float lane sums
 * more than CHUNK / 16 values. The order is fixed: results do not depend on the thread count. */
typedef float Vec4 __attribute__((vector_size(16)));
#define CHUNK 1024

/* v = p[0..4) (unaligned). */
#define LOAD4(v, p) memcpy(&(v), (p), sizeof(Vec4))

/* The sum of the 16 lanes of a[0..4), in a fixed order. */
static inline double lanes_total(const Vec4 *a) {
    Vec4 v = (a[0] + a[1]) + (a[2] + a[3]);
    return ((double)v[0] + v[1]) + ((double)v[2] + v[3]);
}

/* sum[0] += x, sum[1] += (x - mu)^2 over x[0..s) (the second only when squares is set). */
static inline void add_row(double *sum, const float *restrict x, int64_t s, float mu,
                           int squares) {
    for (int64_t k0 = 0; k0 < s; k0 += CHUNK) {
        const int64_t k1 = s - k0 < CHUNK ? s : k0 + CHUNK;
        Vec4 acc[4] = {{0}, {0}, {0}, {0}};
        int64_t k = k0;
        for (; k + 16 <= k1; k += 16)
            for (int l = 0; l < 4; l++) {
                Vec4 v;
                LOAD4(v, x + k + 4 * l);
                if (squares) v = (v - mu) * (v - mu);
                acc[l] += v;
            }
        double t = lanes_total(acc);
        for (; k < k1; k++) t += squares ? (double)(x[k] - mu) * (x[k] - mu) : (double)x[k];
        sum[squares] += t;
    }
}

/* sum_dy += dy, sum_dyx += dy * (x - mu) over [0..s). */
static inline void add_row_products(double *sum_dy, double *sum_dyx, const float *restrict dy,
                                    const float *restrict x, int64_t s, float mu) {
    for (int64_t k0 = 0; k0 < s; k0 += CHUNK) {
        const int64_t k1 = s - k0 < CHUNK ? s : k0 + CHUNK;
        Vec4 acc_dy[4] = {{0}, {0}, {0}, {0}}, acc_dyx[4] = {{0}, {0}, {0}, {0}};
        int64_t k = k0;
        for (; k + 16 <= k1; k += 16)
            for (int l = 0; l < 4; l++) {
                Vec4 g, v;
                LOAD4(g, dy + k + 4 * l);
                LOAD4(v, x + k + 4 * l);
                acc_dy[l] += g;
                acc_dyx[l] += g * (v - mu);
            }
        double t_dy = lanes_total(acc_dy), t_dyx = lanes_total(acc_dyx);
        for (; k < k1; k++) t_dy += dy[k], t_dyx += (double)dy[k] * (x[k] - mu);
        *sum_dy += t_dy;
        *sum_dyx += t_dyx;
    }
}

/* Channels are handled in blocks of up to COLUMNS: statistics first, then the normalization.
 * With one value per channel and sample ((N, C) inputs) a channel's values lie nc apart, so the
 * block's sums run along the rows, a channel a lane (in double: no long chains either). */
#define COLUMNS 64

/* mu[c - c0], var[c - c0]: the batch mean and biased variance of channels [c0, c1); two passes
 * (the mean, then the squared deviations): no cancellation. */
static void batch_statistics(double *mu, double *var, const BatchNormJob *j, int64_t c0,
                             int64_t c1) {
    const int64_t n = j->n, nc = j->nc, s = j->s, m = j->m, cb = c1 - c0;
    const float *x = j->x; /* (N, C, S) */
    if (s == 1) {
        double sum[COLUMNS] = {0}, sq[COLUMNS] = {0};
        for (int64_t i = 0; i < n; i++)
            for (int64_t l = 0; l < cb; l++) sum[l] += x[i * nc + c0 + l];
        for (int64_t l = 0; l < cb; l++) mu[l] = sum[l] / (double)m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t l = 0; l < cb; l++) {
                double d = x[i * nc + c0 + l] - mu[l];
                sq[l] += d * d;
            }
        for (int64_t l = 0; l < cb; l++) var[l] = sq[l] / (double)m;
        return;
    }
    for (int64_t c = c0; c < c1; c++) {
        double sum[2] = {0.0, 0.0}; /* values, squared deviations */
        for (int64_t i = 0; i < n; i++) add_row(sum, x + (i * nc + c) * s, s, 0.0f, 0);
        mu[c - c0] = sum[0] / (double)m;
        for (int64_t i = 0; i < n; i++)
            add_row(sum, x + (i * nc + c) * s, s, (float)mu[c - c0], 1);
        var[c - c0] = sum[1] / (double)m;
    }
}

static void forward_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const BatchNormJob *j = ctx;
    const int64_t n = j->n, nc = j->nc, s = j->s, m = j->m;
    const float *x = j->x, *g = j->g, *b = j->b; /* x (N, C, S) */
    float *y = j->y, *mean = j->mean, *invstd = j->invstd, *rmean = j->rmean, *rvar = j->rvar;
    const float momentum = j->momentum, eps = j->eps;
    (void)part;
    for (int64_t c0 = lo; c0 < hi; c0 += COLUMNS) {
        const int64_t c1 = hi - c0 < COLUMNS ? hi : c0 + COLUMNS;
        double mu[COLUMNS], var[COLUMNS];
        if (j->training && j->given_mu) {
            memcpy(mu, j->given_mu + c0, (size_t)(c1 - c0) * sizeof *mu);
            memcpy(var, j->given_var + c0, (size_t)(c1 - c0) * sizeof *var);
        } else if (j->training) {
            batch_statistics(mu, var, j, c0, c1);
        }
        for (int64_t c = c0; c < c1; c++) {
            if (j->training) {
                mean[c] = (float)mu[c - c0];
                invstd[c] = (float)(1.0 / sqrt(var[c - c0] + (double)eps));
                rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * mu[c - c0]);
                double unbiased = var[c - c0] * (double)m / (double)(m - 1);
                rvar[c] = (float)((1.0 - momentum) * rvar[c] + momentum * unbiased);
            } else {
                mean[c] = rmean[c];
                invstd[c] = (float)(1.0 / sqrt((double)rvar[c] + (double)eps));
            }
            /* y = x * scale + shift, folded per channel */
            float scale = invstd[c] * (g ? g[c] : 1.0f);
            float shift = (b ? b[c] : 0.0f) - mean[c] * scale;
            for (int64_t i = 0; i < n; i++) {
                const float *xc = x + (i * nc + c) * s;
                float *yc = y + (i * nc + c) * s;
                for (int64_t k = 0; k < s; k++) yc[k] = xc[k] * scale + shift;
            }
        }
    }
}

/* Channels per part: enough values (n*s per channel) that a thread is worth waking. */
static int64_t channel_grain(int64_t per_channel) {
    int64_t grain = ((int64_t)1 << 15) / (per_channel > 0 ? per_channel : 1);
    return grain < 1 ? 1 : grain;
}

int batchnorm_forward(Tensor *out, Tensor *save_mean, Tensor *save_invstd, Tensor *running_mean,
                      Tensor *running_var, const Tensor *inp, const Tensor *weight,
                      const Tensor *bias, int training, float momentum, float eps) {
    int64_t nc, s;
    int st = channels(&nc, &s, inp);
    if (st) return st;
    const int64_t n = inp->shape[0], m = n * s;
    if (!nn_same_shape(out, inp) || !nn_is_vector(save_mean, nc) ||
        !nn_is_vector(save_invstd, nc) || !nn_is_vector(running_mean, nc) ||
        !nn_is_vector(running_var, nc) || !nn_opt_vector(weight, nc) || !nn_opt_vector(bias, nc))
        return MN_ERR_SHAPE;
    if (training && m < 2) return MN_ERR_SHAPE;
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) return MN_ERR_ARG;
    if (tensor_overlaps(out, inp)) return MN_ERR_ARG;
    const float *x = tensor_f32(inp); /* (N, C, S) */
    float *y = tensor_f32(out);       /* (N, C, S) */
    float *mean = tensor_f32(save_mean), *invstd = tensor_f32(save_invstd); /* (C) */
    float *rmean = tensor_f32(running_mean), *rvar = tensor_f32(running_var); /* (C) */
    const float *g = weight ? tensor_f32(weight) : NULL, *b = bias ? tensor_f32(bias) : NULL;
    BatchNormJob job = {n, nc, s, m, x, NULL, g, b, y, NULL, mean, invstd, rmean, rvar, NULL, NULL,
                        NULL, NULL, training, momentum, eps, NULL, NULL, NULL, NULL, NULL, NULL};
    parallel_for(nc, channel_grain(n * s), forward_channels, &job);
    return MN_OK;
}

/* sum_dy[c - c0], sum_dyx[c - c0]: the sums of dy and dy * (x - mean) of channels [c0, c1). */
static void gradient_sums(double *sum_dy, double *sum_dyx, const BatchNormJob *j, int64_t c0,
                          int64_t c1) {
    const int64_t n = j->n, nc = j->nc, s = j->s, cb = c1 - c0;
    const float *x = j->x, *dy = j->dy, *mean = j->cmean; /* x, dy (N, C, S) */
    for (int64_t l = 0; l < cb; l++) sum_dy[l] = sum_dyx[l] = 0.0;
    if (s == 1) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t l = 0; l < cb; l++) {
                const int64_t at = i * nc + c0 + l;
                sum_dy[l] += dy[at];
                sum_dyx[l] += dy[at] * ((double)x[at] - mean[c0 + l]);
            }
        return;
    }
    for (int64_t c = c0; c < c1; c++)
        for (int64_t i = 0; i < n; i++) {
            const int64_t at = (i * nc + c) * s;
            add_row_products(&sum_dy[c - c0], &sum_dyx[c - c0], dy + at, x + at, s, mean[c]);
        }
}

static void backward_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const BatchNormJob *j = ctx;
    const int64_t n = j->n, nc = j->nc, s = j->s, m = j->m;
    const float *x = j->x, *dy = j->dy, *g = j->g, *mean = j->cmean, *invstd = j->cinvstd;
    float *dx = j->dx, *dg = j->dg, *db = j->db; /* x, dy, dx (N, C, S) */
    (void)part;
    for (int64_t c0 = lo; c0 < hi; c0 += COLUMNS) {
        const int64_t c1 = hi - c0 < COLUMNS ? hi : c0 + COLUMNS;
        double sums_dy[COLUMNS], sums_dyx[COLUMNS];
        if (j->given_dy) {
            memcpy(sums_dy, j->given_dy + c0, (size_t)(c1 - c0) * sizeof *sums_dy);
            memcpy(sums_dyx, j->given_dyx + c0, (size_t)(c1 - c0) * sizeof *sums_dyx);
        } else {
            gradient_sums(sums_dy, sums_dyx, j, c0, c1);
        }
        for (int64_t c = c0; c < c1; c++) {
            const double is = invstd[c], sum_dy = sums_dy[c - c0];
            const double sum_dy_xhat = sums_dyx[c - c0] * is;
            if (dg) dg[c] += (float)((j->local_dyx ? j->local_dyx[c] : sums_dyx[c - c0]) * is);
            if (db) db[c] += (float)(j->local_dy ? j->local_dy[c] : sum_dy);
            if (!dx) continue;
            const double gain = (g ? g[c] : 1.0) * is;
            /* dx = gain * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mean) * is, in
             * float as a * dy - bx * (x - mean) - cst (folded per channel in double); in
             * evaluation the running statistics are constants: dx = gain * dy. */
            const double mean_dy = sum_dy / (double)m, mean_dy_xhat = sum_dy_xhat / (double)m;
            const float a = (float)gain, mu = mean[c];
            const float bx = j->training ? (float)(gain * is * mean_dy_xhat) : 0.0f;
            const float cst = j->training ? (float)(gain * mean_dy) : 0.0f;
            for (int64_t i = 0; i < n; i++) {
                const int64_t at = (i * nc + c) * s;
                for (int64_t q = 0; q < s; q++)
                    dx[at + q] = a * dy[at + q] - bx * (x[at + q] - mu) - cst;
            }
        }
    }
}

int batchnorm_backward(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                       const Tensor *inp, const Tensor *weight, const Tensor *save_mean,
                       const Tensor *save_invstd, int training) {
    int64_t nc, s;
    int st = channels(&nc, &s, inp);
    if (st) return st;
    const int64_t n = inp->shape[0], m = n * s;
    if (!nn_same_shape(dout, inp) || (dinp && !nn_same_shape(dinp, inp)) ||
        !nn_is_vector(save_mean, nc) || !nn_is_vector(save_invstd, nc) ||
        !nn_opt_vector(weight, nc) || !nn_opt_vector(dweight, nc) || !nn_opt_vector(dbias, nc))
        return MN_ERR_SHAPE;
    if (dinp && (tensor_overlaps(dinp, inp) || tensor_overlaps(dinp, dout))) return MN_ERR_ARG;
    const float *x = tensor_f32(inp), *dy = tensor_f32(dout); /* (N, C, S) */
    float *dx = dinp ? tensor_f32(dinp) : NULL;               /* (N, C, S) */
    const float *mean = tensor_f32(save_mean), *invstd = tensor_f32(save_invstd); /* (C) */
    const float *g = weight ? tensor_f32(weight) : NULL;
    float *dg = dweight ? tensor_f32(dweight) : NULL, *db = dbias ? tensor_f32(dbias) : NULL;
    BatchNormJob job = {n, nc, s, m, x, dy, g, NULL, NULL, dx, NULL, NULL, NULL, NULL, dg, db,
                        mean, invstd, training, 0.0f, 0.0f, NULL, NULL, NULL, NULL, NULL, NULL};
    parallel_for(nc, channel_grain(n * s), backward_channels, &job);
    return MN_OK;
}

/* Synchronised batch norm (training only) ------------------------------------------------------
 * The same arithmetic as above, with every channel sum taken over all the processes' batches: the
 * reducer sums (C) doubles in place across processes between the passes, and the count of values
 * per channel travels with the first sum. */

/* sums[c] = sum of x (mu NULL) or of (x - mu[c])^2 over this process's values of channel c. */
typedef struct {
    const BatchNormJob *j;
    const double *mu;
    double *sums;
} SumsJob;

static void sums_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const SumsJob *sj = ctx;
    const BatchNormJob *j = sj->j;
    const int64_t n = j->n, nc = j->nc, s = j->s;
    const float *x = j->x; /* (N, C, S) */
    (void)part;
    for (int64_t c = lo; c < hi; c++) {
        double sum[2] = {0.0, 0.0};
        if (s == 1) { /* as batch_statistics' column sums: one double per channel */
            for (int64_t i = 0; i < n; i++) {
                double d = sj->mu ? x[i * nc + c] - sj->mu[c] : x[i * nc + c];
                sum[0] += sj->mu ? d * d : d;
            }
            sj->sums[c] = sum[0];
            continue;
        }
        for (int64_t i = 0; i < n; i++)
            add_row(sum, x + (i * nc + c) * s, s, sj->mu ? (float)sj->mu[c] : 0.0f, sj->mu != NULL);
        sj->sums[c] = sj->mu ? sum[1] : sum[0];
    }
}

static void gradient_sums_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const SumsJob *sj = ctx;
    const int64_t nc = sj->j->nc;
    (void)part;
    for (int64_t c0 = lo; c0 < hi; c0 += COLUMNS) {
        const int64_t c1 = hi - c0 < COLUMNS ? hi : c0 + COLUMNS;
        gradient_sums(sj->sums + c0, sj->sums + nc + c0, sj->j, c0, c1);
    }
}

static int reduce(const ChannelReducer *r, double *values, int64_t n) {
    return r->sum(r->ctx, values, n);
}

int batchnorm_forward_synced(Tensor *out, Tensor *save_mean, Tensor *save_invstd,
                             Tensor *running_mean, Tensor *running_var, const Tensor *inp,
                             const Tensor *weight, const Tensor *bias, float momentum, float eps,
                             const ChannelReducer *reducer) {
    int64_t nc, s;
    int st = channels(&nc, &s, inp);
    if (st) return st;
    const int64_t n = inp->shape[0];
    if (!reducer || !reducer->sum || !nn_same_shape(out, inp) || !nn_is_vector(save_mean, nc) ||
        !nn_is_vector(save_invstd, nc) || !nn_is_vector(running_mean, nc) ||
        !nn_is_vector(running_var, nc) || !nn_opt_vector(weight, nc) || !nn_opt_vector(bias, nc))
        return reducer && reducer->sum ? MN_ERR_SHAPE : MN_ERR_ARG;
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) return MN_ERR_ARG;
    if (tensor_overlaps(out, inp)) return MN_ERR_ARG;
    double *buf = malloc((size_t)(3 * nc + 1) * sizeof *buf);
    if (!buf) return MN_ERR_NOMEM;
    double *mu = buf, *var = buf + nc + 1, *sums = buf; /* sums (C + 1): the count rides last */
    BatchNormJob job = {n, nc, s, 0, tensor_f32(inp), NULL, weight ? tensor_f32(weight) : NULL,
                        bias ? tensor_f32(bias) : NULL, tensor_f32(out), NULL,
                        tensor_f32(save_mean), tensor_f32(save_invstd), tensor_f32(running_mean),
                        tensor_f32(running_var), NULL, NULL, NULL, NULL, 1, momentum, eps,
                        mu, var, NULL, NULL, NULL, NULL};
    SumsJob sj = {&job, NULL, sums};
    parallel_for(nc, channel_grain(n * s), sums_channels, &sj);
    sums[nc] = (double)(n * s);
    st = reduce(reducer, sums, nc + 1);
    if (!st && sums[nc] < 2) st = MN_ERR_SHAPE;
    if (!st) {
        job.m = (int64_t)sums[nc];
        for (int64_t c = 0; c < nc; c++) mu[c] = sums[c] / sums[nc];
        SumsJob squares = {&job, mu, var};
        parallel_for(nc, channel_grain(n * s), sums_channels, &squares);
        st = reduce(reducer, var, nc);
    }
    if (!st) {
        for (int64_t c = 0; c < nc; c++) var[c] /= (double)job.m;
        parallel_for(nc, channel_grain(n * s), forward_channels, &job);
    }
    free(buf);
    return st;
}

int batchnorm_backward_synced(Tensor *dinp, Tensor *dweight, Tensor *dbias, const Tensor *dout,
                              const Tensor *inp, const Tensor *weight, const Tensor *save_mean,
                              const Tensor *save_invstd, const ChannelReducer *reducer) {
    int64_t nc, s;
    int st = channels(&nc, &s, inp);
    if (st) return st;
    const int64_t n = inp->shape[0];
    if (!reducer || !reducer->sum) return MN_ERR_ARG;
    if (!nn_same_shape(dout, inp) || (dinp && !nn_same_shape(dinp, inp)) ||
        !nn_is_vector(save_mean, nc) || !nn_is_vector(save_invstd, nc) ||
        !nn_opt_vector(weight, nc) || !nn_opt_vector(dweight, nc) || !nn_opt_vector(dbias, nc))
        return MN_ERR_SHAPE;
    if (dinp && (tensor_overlaps(dinp, inp) || tensor_overlaps(dinp, dout))) return MN_ERR_ARG;
    double *buf = malloc((size_t)(4 * nc + 1) * sizeof *buf);
    if (!buf) return MN_ERR_NOMEM;
    double *local = buf, *global = buf + 2 * nc; /* each: sum dy (C), sum dy * (x - mean) (C) */
    BatchNormJob job = {n, nc, s, 0, tensor_f32(inp), tensor_f32(dout),
                        weight ? tensor_f32(weight) : NULL, NULL, NULL,
                        dinp ? tensor_f32(dinp) : NULL, NULL, NULL, NULL, NULL,
                        dweight ? tensor_f32(dweight) : NULL, dbias ? tensor_f32(dbias) : NULL,
                        tensor_f32(save_mean), tensor_f32(save_invstd), 1, 0.0f, 0.0f,
                        NULL, NULL, global, global + nc, local, local + nc};
    SumsJob sj = {&job, NULL, local};
    parallel_for(nc, channel_grain(n * s), gradient_sums_channels, &sj);
    memcpy(global, local, (size_t)(2 * nc) * sizeof *global);
    global[2 * nc] = (double)(n * s);
    st = reduce(reducer, global, 2 * nc + 1);
    if (!st) {
        job.m = (int64_t)global[2 * nc];
        parallel_for(nc, channel_grain(n * s), backward_channels, &job);
    }
    free(buf);
    return st;
}
