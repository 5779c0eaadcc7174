/* optim.h: one step of torch.optim's SGD, Adam/AdamW, Adadelta, Adagrad, RMSprop, ASGD and
 * Torch7's NAG, each a single fused loop over a flat parameter vector (the arena of
 * getParameters) and its gradient and moment buffers; and the vector helpers of lbfgs and cg.
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

/* torch.optim.Adagrad and Torch7's optim.adagrad (the same formula; the learning-rate decay is
 * applied by the caller, clr = lr / (1 + (step - 1) * lr_decay)):
 *     g = grad + weight_decay * p,   sum += g * g,   p -= clr * g / (sqrt(sum) + eps)
 * params (n) parameters, updated in place
 * sum    (n) running sum of squared gradients (Torch7's paramVariance), updated in place
 * grads  (n) gradient of the loss at params */
int adagrad_update(float *params, float *sum, const float *grads, int64_t n, double clr,
                   double eps, double weight_decay);

/* torch.optim.RMSprop (Torch7's optim.rmsprop is the case centered = 0, momentum = 0):
 *     g = grad + weight_decay * p,   sq = alpha * sq + (1 - alpha) * g * g
 *     centered: ga = alpha * ga + (1 - alpha) * g,  avg = sqrt(sq - ga * ga) + eps
 *     else:     avg = sqrt(sq) + eps
 *     momentum: buf = momentum * buf + g / avg,  p -= lr * buf;   else p -= lr * g / avg
 * params       (n) parameters, updated in place
 * square_avg   (n) running mean of squared gradients, updated in place
 * grad_avg     (n) running mean of gradients (centered), or NULL for the plain variant
 * momentum_buf (n) updated in place when momentum != 0, else may be NULL
 * grads        (n) gradient of the loss at params */
int rmsprop_update(float *params, float *square_avg, float *grad_avg, float *momentum_buf,
                   const float *grads, int64_t n, double lr, double alpha, double eps,
                   double weight_decay, double momentum);

/* Torch7's optim.nag (Sutskever's Nesterov momentum), the half of the step after feval: the
 * caller has already moved params by momentum * velocity (the look-ahead) and evaluated grads
 * there.  g = grad + weight_decay * p,  velocity = momentum * velocity - clr * g,  p -= clr * g
 * params     (n) parameters (at the look-ahead point), updated in place
 * velocity   (n) Torch7's state.dfdx, updated in place
 * first_step 1 when velocity holds no history yet (it is taken as zero) */
int nag_update(float *params, float *velocity, const float *grads, int64_t n, double clr,
               double momentum, double weight_decay, int first_step);

/* Torch7's optim.asgd and torch.optim.ASGD (averaged SGD, Polyak-Juditsky):
 *     p = p * (1 - lambda * eta) - eta * grad
 *     ax = mu == 1 ? p : ax + mu * (p - ax)
 * params (n) parameters, updated in place
 * ax     (n) the running average of the parameters, updated in place
 * grads  (n) gradient of the loss at the old params */
int asgd_update(float *params, float *ax, const float *grads, int64_t n, double eta,
                double lambda, double mu);

/* Vector helpers of the line-search methods (lbfgs, cg), single pass, sums in double:
 * dot product, sum of |a[i]|, max of |a[i]| (0 for n == 0), y = alpha * x + beta * y
 * (beta == 0 overwrites y without reading it). */
double vec_dot(const float *a, const float *b, int64_t n);
double vec_abs_sum(const float *a, int64_t n);
double vec_abs_max(const float *a, int64_t n);
void vec_axpby(float *y, double alpha, const float *x, double beta, int64_t n);

#endif
