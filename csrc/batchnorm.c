#include "batchnorm.h"

#include <math.h>

#include "nn_common.h"
#include "parallel.h"

/* The channels are independent: they are split over the kernels' threads, each channel computed
 * exactly as on one thread. */
typedef struct {
    int64_t n, nc, s, m;
    const float *x, *dy, *g, *b;
    float *y, *dx, *mean, *invstd, *rmean, *rvar, *dg, *db;
    const float *cmean, *cinvstd;
    int training;
    float momentum, eps;
} BatchNormJob;

/* *c, *s: channels and values per channel and sample of a (N, C, ...) tensor. */
static int channels(int64_t *c, int64_t *s, const Tensor *inp) {
    if (!nn_is_f32(inp)) return MN_ERR_DTYPE;
    if (inp->ndim < 2) return MN_ERR_SHAPE;
    *c = inp->shape[1];
    *s = inp->numel / (inp->shape[0] * inp->shape[1]);
    return MN_OK;
}

static void forward_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const BatchNormJob *j = ctx;
    const int64_t n = j->n, nc = j->nc, s = j->s, m = j->m;
    const float *x = j->x, *g = j->g, *b = j->b;
    float *y = j->y, *mean = j->mean, *invstd = j->invstd, *rmean = j->rmean, *rvar = j->rvar;
    const int training = j->training;
    const float momentum = j->momentum, eps = j->eps;
    (void)part;
    for (int64_t c = lo; c < hi; c++) {
        if (training) {
            double sum = 0.0, sq = 0.0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < s; k++) sum += x[(i * nc + c) * s + k];
            double mu = sum / (double)m;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < s; k++) {
                    double d = x[(i * nc + c) * s + k] - mu;
                    sq += d * d;
                }
            double var = sq / (double)m;
            mean[c] = (float)mu;
            invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
            rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * mu);
            double unbiased = var * (double)m / (double)(m - 1);
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
                        NULL, NULL, training, momentum, eps};
    parallel_for(nc, channel_grain(n * s), forward_channels, &job);
    return MN_OK;
}

static void backward_channels(void *ctx, int64_t lo, int64_t hi, int part) {
    const BatchNormJob *j = ctx;
    const int64_t n = j->n, nc = j->nc, s = j->s, m = j->m;
    const float *x = j->x, *dy = j->dy, *g = j->g, *mean = j->cmean, *invstd = j->cinvstd;
    float *dx = j->dx, *dg = j->dg, *db = j->db;
    const int training = j->training;
    (void)part;
    for (int64_t c = lo; c < hi; c++) {
        const double mu = mean[c], is = invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * nc + c) * s + k;
                sum_dy += dy[at];
                sum_dy_xhat += dy[at] * (x[at] - mu) * is;
            }
        if (dg) dg[c] += (float)sum_dy_xhat;
        if (db) db[c] += (float)sum_dy;
        if (!dx) continue;
        const double gain = (g ? g[c] : 1.0) * is;
        if (!training) { /* the running statistics are constants */
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < s; k++) {
                    int64_t at = (i * nc + c) * s + k;
                    dx[at] = (float)(dy[at] * gain);
                }
            continue;
        }
        /* dx = gain * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        const double mean_dy = sum_dy / (double)m, mean_dy_xhat = sum_dy_xhat / (double)m;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < s; k++) {
                int64_t at = (i * nc + c) * s + k;
                double xhat = (x[at] - mu) * is;
                dx[at] = (float)(gain * (dy[at] - mean_dy - xhat * mean_dy_xhat));
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
                        mean, invstd, training, 0.0f, 0.0f};
    parallel_for(nc, channel_grain(n * s), backward_channels, &job);
    return MN_OK;
}
