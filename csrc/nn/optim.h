/* optim.h: one step of torch.optim's SGD, Adam/AdamW and Adadelta, each a single fused loop over
 * a flat parameter vector (the arena of getParameters) and its gradient and moment buffers.
 *
 * Semantics are PyTorch 1.13's single-tensor implementations, element by element and in the same
 * order of float32 operations; hyper-parameters arrive as doubles and the derived scalars
 * (1 - beta, lr / bias correction, ...) are formed in double and rounded to float once, as
 * PyTorch does with Python floats. Buffers are in/out and come first; `grads` is read only.
 * Every function returns MN_OK, or MN_ERR_ARG for a NULL buffer, n < 0 or step < 1 (the Lua
 * layer checks the hyper-parameters' ranges with messages that name the config keys). */
#ifndef MNIST_OPTIM_H
#define MNIST_OPTIM_H

#include <stdint.h>

#include "sys/status.h"

/* torch.optim.SGD:  g = grad + weight_decay * p
 *                   buf = first_step ? g : momentum * buf + (1 - dampening) * g   (momentum != 0)
 *                   g = nesterov ? g + momentum * buf : buf                          (momentum != 0)
 *                   p -= lr * g
 * params       (n) parameters, updated in place
 * momentum_buf (n) momentum buffer, updated in place; may be NULL when momentum == 0
 * grads        (n) gradient of the loss at params
 * first_step   1 when momentum_buf holds no history yet (PyTorch's `buf is None`): it becomes g */
int sgd_update(float *params, float *momentum_buf, const float *grads, int64_t n, double lr,
               double momentum, double dampening, double weight_decay, int nesterov,
               int first_step);

/* torch.optim.Adam (decoupled = 0: L2 term added to the gradient) and torch.optim.AdamW
 * (decoupled = 1: p *= 1 - lr * weight_decay before the step):
 *     m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g * g
 *     p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * params     (n) parameters, updated in place
 * exp_avg    (n) first moment m, updated in place (zeros before step 1)
 * exp_avg_sq (n) second moment v, updated in place (zeros before step 1)
 * grads      (n) gradient of the loss at params
 * step       1-based number of this step (after counting it), for the bias corrections */
int adam_update(float *params, float *exp_avg, float *exp_avg_sq, const float *grads, int64_t n,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                int decoupled, int64_t step);

/* torch.optim.Adadelta:  g = grad + weight_decay * p
 *     square_avg = rho * square_avg + (1 - rho) * g * g
 *     delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
 *     acc_delta = rho * acc_delta + (1 - rho) * delta * delta
 *     p -= lr * delta
 * params     (n) parameters, updated in place
 * square_avg (n) running average of squared gradients, updated in place (zeros at first)
 * acc_delta  (n) running average of squared updates, updated in place (zeros at first)
 * grads      (n) gradient of the loss at params */
int adadelta_update(float *params, float *square_avg, float *acc_delta, const float *grads,
                    int64_t n, double lr, double rho, double eps, double weight_decay);

#endif
