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

int nll_forward(float *loss, const Tensor *logp, const Tensor *targets) {
    int st = check_batch(logp, targets);
    if (st) return st;
    const int64_t n = logp->shape[0], d = logp->shape[1];
    const float *lp = tensor_f32(logp); /* (N, D) */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += lp[i * d + (int64_t)label_at(targets, i)];
    *loss = (float)(-sum / (double)n);
    return MN_OK;
}

int nll_backward(Tensor *dlogp, const Tensor *targets, float scale) {
    int st = check_batch(dlogp, targets);
    if (st) return st;
    if (tensor_overlaps(dlogp, targets)) return MN_ERR_ARG;
    const int64_t n = dlogp->shape[0], d = dlogp->shape[1];
    float *g = tensor_f32(dlogp); /* (N, D) */
    memset(g, 0, (size_t)dlogp->numel * sizeof *g);
    for (int64_t i = 0; i < n; i++) g[i * d + (int64_t)label_at(targets, i)] = -scale / (float)n;
    return MN_OK;
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
