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

#endif
