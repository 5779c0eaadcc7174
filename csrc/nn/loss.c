#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/loss.h"

#include <math.h>
#include <string.h>

#include "nn/activation.h"
#include "nn/nn_common.h"

static double label_at(const Tensor *targets, int64_t i) {
    if (targets->dtype == DTYPE_UINT8) return tensor_u8(targets)[i];
    return tensor_f32(targets)[i];
}

int labels_check(int64_t *bad, const Tensor *targets, int64_t n, int64_t classes) {
    if (!targets || !targets->storage || targets->ndim != 1 || targets->shape[0] != n)
        return MN_ERR_SHAPE;
    *bad = -1;
    for (int64_t i = 0; i < n; i++) {
        double v = label_at(targets, i);
        if (!(v >= 0.0 && v < (double)classes) || v != floor(v)) {
            *bad = i;
            break;
        }
    }
    return MN_OK;
}

/* MN_OK when scores is a (N, D) float32 tensor and targets holds N labels in range. */
static int check_batch(const Tensor *scores, const Tensor *targets) {
    if (!nn_is_f32(scores)) return MN_ERR_DTYPE;
    if (scores->ndim != 2) return MN_ERR_SHAPE;
    int64_t bad;
    int st = labels_check(&bad, targets, scores->shape[0], scores->shape[1]);
    if (st) return st;
    return bad < 0 ? MN_OK : MN_ERR_RANGE;
}

int class_nll_forward(float *loss, float *total_weight, const Tensor *logp, const Tensor *targets,
                      const Tensor *weights, int size_average) {
    int st = check_batch(logp, targets);
    if (st) return st;
    const int64_t n = logp->shape[0], d = logp->shape[1];
    if (!nn_opt_vector(weights, d)) return MN_ERR_SHAPE;
    const float *lp = tensor_f32(logp); /* (N, D) */
    const float *w = weights ? tensor_f32(weights) : NULL;
    double sum = 0.0, total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = (int64_t)label_at(targets, i);
        const double wt = w ? w[t] : 1.0;
        sum += wt * lp[i * d + t];
        total += wt;
    }
    *total_weight = (float)total;
    *loss = (float)(size_average && total != 0.0 ? -sum / total : -sum);
    return MN_OK;
}

int class_nll_backward(Tensor *dlogp, const Tensor *targets, const Tensor *weights,
                       int size_average, float scale) {
    int st = check_batch(dlogp, targets);
    if (st) return st;
    const int64_t n = dlogp->shape[0], d = dlogp->shape[1];
    if (!nn_opt_vector(weights, d)) return MN_ERR_SHAPE;
    if (tensor_overlaps(dlogp, targets) || (weights && tensor_overlaps(dlogp, weights)))
        return MN_ERR_ARG;
    float *g = tensor_f32(dlogp); /* (N, D) */
    const float *w = weights ? tensor_f32(weights) : NULL;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) total += w ? w[(int64_t)label_at(targets, i)] : 1.0;
    const float per = size_average && total != 0.0 ? (float)(scale / total) : scale;
    memset(g, 0, (size_t)dlogp->numel * sizeof *g);
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = (int64_t)label_at(targets, i);
        g[i * d + t] = -per * (w ? w[t] : 1.0f);
    }
    return MN_OK;
}

int nll_forward(float *loss, const Tensor *logp, const Tensor *targets) {
    float total;
    return class_nll_forward(loss, &total, logp, targets, NULL, 1);
}

int nll_backward(Tensor *dlogp, const Tensor *targets, float scale) {
    if (!nn_is_f32(dlogp)) return MN_ERR_DTYPE;
    if (dlogp->ndim != 2) return MN_ERR_SHAPE;
    return class_nll_backward(dlogp, targets, NULL, 1, scale);
}

int cross_entropy_forward(float *loss, Tensor *logp, const Tensor *logits, const Tensor *targets) {
    int st = check_batch(logits, targets);
    if (!st) st = logsoftmax_forward(logp, logits);
    if (!st) st = nll_forward(loss, logp, targets);
    return st;
}

int cross_entropy_backward(Tensor *dlogits, const Tensor *logp, const Tensor *targets,
                           float scale) {
    int st = check_batch(logp, targets);
    if (st) return st;
    if (!nn_same_shape(dlogits, logp)) return MN_ERR_SHAPE;
    if (tensor_overlaps(dlogits, logp) || tensor_overlaps(dlogits, targets)) return MN_ERR_ARG;
    const int64_t n = logp->shape[0], d = logp->shape[1];
    const float *lp = tensor_f32(logp); /* (N, D) */
    float *g = tensor_f32(dlogits);     /* (N, D) */
    const float per_row = scale / (float)n;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = (int64_t)label_at(targets, i);
        for (int64_t j = 0; j < d; j++)
            g[i * d + j] = per_row * (expf(lp[i * d + j]) - (j == t ? 1.0f : 0.0f));
    }
    return MN_OK;
}

/* ---- elementwise losses ------------------------------------------------------------------------ */

#define BCE_EPS 1e-12 /* Torch7's BCECriterion: log(x + eps), log(1 - x + eps) */

/* MN_OK when inp and target are float32 of one shape and weights (optional) fit them. */
static int check_pointwise(const Tensor *inp, const Tensor *target, const Tensor *weights,
                           int kind) {
    if (!nn_is_f32(inp) || !nn_is_f32(target)) return MN_ERR_DTYPE;
    if (kind < 0 || kind >= LOSS_COUNT) return MN_ERR_ARG;
    if (!nn_same_shape(target, inp)) return MN_ERR_SHAPE;
    if (weights) {
        if (!nn_is_f32(weights)) return MN_ERR_DTYPE;
        if (weights->numel != inp->numel && weights->numel != inp->shape[inp->ndim - 1])
            return MN_ERR_SHAPE;
    }
    return MN_OK;
}

int pointwise_loss_forward(float *loss, const Tensor *inp, const Tensor *target,
                           const Tensor *weights, int kind, int size_average) {
    int st = check_pointwise(inp, target, weights, kind);
    if (st) return st;
    const float *x = tensor_f32(inp), *t = tensor_f32(target); /* (numel) */
    const float *w = weights ? tensor_f32(weights) : NULL;
    const int64_t n = inp->numel, wn = weights ? weights->numel : 1;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)x[i] - t[i], a = fabs(d);
        switch (kind) {
        case LOSS_MSE: sum += d * d; break;
        case LOSS_SMOOTH_L1: sum += a < 1.0 ? 0.5 * d * d : a - 0.5; break;
        case LOSS_BCE:
            sum -= (w ? w[i % wn] : 1.0) * (t[i] * log(x[i] + BCE_EPS) +
                                            (1.0 - t[i]) * log(1.0 - x[i] + BCE_EPS));
            break;
        default: sum += t[i] > 0.0f ? t[i] * (log((double)t[i]) - x[i]) : 0.0; break;
        }
    }
    *loss = (float)(size_average ? sum / (double)n : sum);
    return MN_OK;
}

int pointwise_loss_backward(Tensor *dinp, const Tensor *inp, const Tensor *target,
                            const Tensor *weights, int kind, int size_average, float scale) {
    int st = check_pointwise(inp, target, weights, kind);
    if (st) return st;
    if (!nn_same_shape(dinp, inp)) return MN_ERR_SHAPE;
    if (tensor_overlaps(dinp, inp) || tensor_overlaps(dinp, target) ||
        (weights && tensor_overlaps(dinp, weights)))
        return MN_ERR_ARG;
    const float *x = tensor_f32(inp), *t = tensor_f32(target);
    const float *w = weights ? tensor_f32(weights) : NULL;
    float *g = tensor_f32(dinp);
    const int64_t n = inp->numel, wn = weights ? weights->numel : 1;
    const double per = size_average ? (double)scale / (double)n : (double)scale;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)x[i] - t[i];
        double v;
        switch (kind) {
        case LOSS_MSE: v = 2.0 * d; break;
        case LOSS_SMOOTH_L1: v = d < -1.0 ? -1.0 : d > 1.0 ? 1.0 : d; break;
        case LOSS_BCE:
            v = -(w ? w[i % wn] : 1.0) * (t[i] - (double)x[i]) /
                ((1.0 - x[i] + BCE_EPS) * (x[i] + BCE_EPS));
            break;
        default: v = t[i] > 0.0f ? -(double)t[i] : 0.0; break;
        }
        g[i] = (float)(per * v);
    }
    return MN_OK;
}

/* ---- multi-class margin ---------------------------------------------------------------------------- */

static int check_margin(const Tensor *inp, const Tensor *targets, const Tensor *weights, int p) {
    int st = check_batch(inp, targets);
    if (st) return st;
    if (!nn_opt_vector(weights, inp->shape[1])) return MN_ERR_SHAPE;
    return p == 1 || p == 2 ? MN_OK : MN_ERR_ARG;
}

int multimargin_forward(float *loss, const Tensor *inp, const Tensor *targets,
                        const Tensor *weights, int p, float margin, int size_average) {
    int st = check_margin(inp, targets, weights, p);
    if (st) return st;
    const int64_t n = inp->shape[0], d = inp->shape[1];
    const float *x = tensor_f32(inp); /* (N, D) */
    const float *w = weights ? tensor_f32(weights) : NULL;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t y = (int64_t)label_at(targets, i);
        double row = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double z = (double)margin - x[i * d + y] + x[i * d + j];
            if (j != y && z > 0.0) row += p == 1 ? z : z * z;
        }
        sum += (w ? w[y] : 1.0) * row / (double)d;
    }
    *loss = (float)(size_average ? sum / (double)n : sum);
    return MN_OK;
}

int multimargin_backward(Tensor *dinp, const Tensor *inp, const Tensor *targets,
                         const Tensor *weights, int p, float margin, int size_average, float scale) {
    int st = check_margin(inp, targets, weights, p);
    if (st) return st;
    if (!nn_same_shape(dinp, inp)) return MN_ERR_SHAPE;
    if (tensor_overlaps(dinp, inp) || tensor_overlaps(dinp, targets) ||
        (weights && tensor_overlaps(dinp, weights)))
        return MN_ERR_ARG;
    const int64_t n = inp->shape[0], d = inp->shape[1];
    const float *x = tensor_f32(inp); /* (N, D) */
    const float *w = weights ? tensor_f32(weights) : NULL;
    float *g = tensor_f32(dinp); /* (N, D) */
    const double per = (size_average ? (double)scale / (double)n : (double)scale) / (double)d;
    for (int64_t i = 0; i < n; i++) {
        const int64_t y = (int64_t)label_at(targets, i);
        const double wy = per * (w ? w[y] : 1.0);
        double at_label = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double z = (double)margin - x[i * d + y] + x[i * d + j];
            const double h = j != y && z > 0.0 ? wy * (p == 1 ? 1.0 : 2.0 * z) : 0.0;
            g[i * d + j] = (float)h;
            at_label += h;
        }
        g[i * d + y] = (float)-at_label;
    }
    return MN_OK;
}
