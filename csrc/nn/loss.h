/* loss.h: classification losses over a batch, averaged over the batch (PyTorch's 'mean').
 *
 * Labels (targets) are 0-based class indices 0..D-1 held in a float32 or uint8 tensor of shape
 * (N): the digit itself for MNIST. A label that is not a whole number in range is MN_ERR_RANGE.
 *
 *     nll:            loss = -1/N * sum_i logp[i, target_i]
 *     cross entropy:  loss = nll(log_softmax(logits)), fused: dlogits = (softmax - onehot) / N */
#ifndef MNIST_LOSS_H
#define MNIST_LOSS_H

#include <stdint.h>

#include "tensor/tensor.h"

/* *bad: the 0-based position of the first label that is not a whole number in [0, classes), or
 * -1 when all are good. MN_ERR_SHAPE unless targets is a float32 or uint8 tensor of shape (n).
 *   targets  (N) labels
 *   n        expected number of labels (the batch size)
 *   classes  number of classes D */
int labels_check(int64_t *bad, const Tensor *targets, int64_t n, int64_t classes);

/* *loss = -mean_i logp[i, target_i].
 *   loss     written
 *   logp     (N, D) log-probabilities (LogSoftMax's output)
 *   targets  (N) labels 0..D-1 */
int nll_forward(float *loss, const Tensor *logp, const Tensor *targets);

/* dlogp = d(loss)/d(logp) * scale: -scale/N at each target, 0 elsewhere (OVERWRITES dlogp).
 *   dlogp    (N, D) written
 *   targets  (N) labels 0..D-1
 *   scale    gradient of the final objective w.r.t. the loss (1 for a plain loss) */
int nll_backward(Tensor *dlogp, const Tensor *targets, float scale);

/* *loss = nll(log_softmax(logits)); logp keeps the log-probabilities for the backward pass.
 *   loss     written
 *   logp     (N, D) written: log_softmax(logits)
 *   logits   (N, D) unnormalized scores
 *   targets  (N) labels 0..D-1 */
int cross_entropy_forward(float *loss, Tensor *logp, const Tensor *logits, const Tensor *targets);

/* dlogits = scale * (exp(logp) - onehot(targets)) / N (OVERWRITES dlogits).
 *   dlogits  (N, D) written
 *   logp     (N, D) from cross_entropy_forward
 *   targets  (N) labels 0..D-1
 *   scale    gradient of the final objective w.r.t. the loss (1 for a plain loss) */
int cross_entropy_backward(Tensor *dlogits, const Tensor *logp, const Tensor *targets, float scale);

/* As nll_forward with class weights and Torch7's sizeAverage:
 *   loss = -sum_i w[t_i] logp[i, t_i] / (size_average ? sum_i w[t_i] : 1)
 *   loss          written
 *   total_weight  written: sum_i w[t_i] (N without weights)
 *   logp          (N, D) log-probabilities
 *   targets       (N) labels 0..D-1
 *   weights       (D) per-class weights, or NULL for all 1
 *   size_average  1: divide by the total weight (when it is not 0), 0: the plain sum */
int class_nll_forward(float *loss, float *total_weight, const Tensor *logp, const Tensor *targets,
                      const Tensor *weights, int size_average);

/* dlogp = scale * d(loss)/d(logp) of class_nll_forward (OVERWRITES dlogp): -scale w[t_i] at each
 * label, divided by the batch's total weight when size_average, 0 elsewhere.
 *   dlogp  (N, D) written
 *   the rest as in class_nll_forward; scale as in nll_backward */
int class_nll_backward(Tensor *dlogp, const Tensor *targets, const Tensor *weights,
                       int size_average, float scale);

/* The elementwise losses of pointwise_loss_*: input x and target t of the same shape (any rank),
 * summed over every element and divided by their number when size_average (Torch7's sizeAverage,
 * PyTorch's reduction 'mean'; 'sum' otherwise). */
typedef enum {
    LOSS_MSE = 0,       /* (x - t)^2 */
    LOSS_SMOOTH_L1 = 1, /* |x - t| < 1 ? (x - t)^2 / 2 : |x - t| - 1/2 (Huber, delta 1) */
    LOSS_BCE = 2,       /* -w (t log(x + eps) + (1 - t) log(1 - x + eps)), eps = 1e-12 (Torch7) */
    LOSS_DIST_KL_DIV = 3, /* t > 0 ? t (log t - x) : 0, x log-probabilities (Torch7's DistKLDiv) */
    LOSS_COUNT = 4
} PointwiseLoss;

/* *loss: the summed (or averaged) elementwise loss `kind` of inp against target.
 *   inp, target   same shape, float32
 *   weights       LOSS_BCE only, or NULL: each element's weight w, numel(inp) of them or one per
 *                 entry of the last dim (repeated over the rows)
 *   size_average  1: the mean, 0: the sum */
int pointwise_loss_forward(float *loss, const Tensor *inp, const Tensor *target,
                           const Tensor *weights, int kind, int size_average);

/* dinp = scale * d(loss)/d(inp) (OVERWRITES dinp; inp's shape). The rest as in the forward. */
int pointwise_loss_backward(Tensor *dinp, const Tensor *inp, const Tensor *target,
                            const Tensor *weights, int kind, int size_average, float scale);

/* Torch7's MultiMarginCriterion (PyTorch's MultiMarginLoss): for sample i with label y,
 *   loss_i = w[y] / D * sum_{j != y} max(0, margin - x[i, y] + x[i, j])^p
 * summed over the batch and divided by N when size_average.
 *   loss     written
 *   inp      (N, D) scores
 *   targets  (N) labels 0..D-1
 *   weights  (D) per-class weights or NULL
 *   p        1 or 2 */
int multimargin_forward(float *loss, const Tensor *inp, const Tensor *targets,
                        const Tensor *weights, int p, float margin, int size_average);

/* dinp = scale * d(loss)/d(inp) (OVERWRITES dinp). The rest as in the forward. */
int multimargin_backward(Tensor *dinp, const Tensor *inp, const Tensor *targets,
                         const Tensor *weights, int p, float margin, int size_average, float scale);

#endif
