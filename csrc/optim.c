/* optim.c: the optimizers' fused update loops (see optim.h for the formulas).
 *
 * Each loop mirrors PyTorch's sequence of tensor ops for one element, rounding to float where
 * PyTorch materialises a float32 tensor, so trajectories agree to float32 rounding (PyTorch may
 * use FMA in some ops; we do not rely on either). Scalars: PyTorch computes `1 - beta`,
 * `lr / bias_correction` etc. on Python floats (double) and the kernel casts them to float. */
#include "optim.h"

#include <math.h>
#include <stddef.h>

int sgd_update(float *params, float *momentum_buf, const float *grads, int64_t n, double lr,
               double momentum, double dampening, double weight_decay, int nesterov,
               int first_step) {
    if (!params || !grads || n < 0 || (momentum != 0 && !momentum_buf)) return MN_ERR_ARG;
    const float neg_lr = (float)-lr, mom = (float)momentum, wd = (float)weight_decay;
    const float keep_grad = (float)(1.0 - dampening); /* weight of the new gradient in the buffer */
    const int use_momentum = momentum != 0, use_wd = weight_decay != 0;
    for (int64_t i = 0; i < n; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_wd) g = g + wd * p; /* d_p = d_p.add(param, alpha=weight_decay) */
        if (use_momentum) {
            float buf = first_step ? g : momentum_buf[i] * mom + keep_grad * g;
            momentum_buf[i] = buf;
            g = nesterov ? g + mom * buf : buf;
        }
        params[i] = p + neg_lr * g;
    }
    return MN_OK;
}

int adam_update(float *params, float *exp_avg, float *exp_avg_sq, const float *grads, int64_t n,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                int decoupled, int64_t step) {
    if (!params || !exp_avg || !exp_avg_sq || !grads || n < 0 || step < 1) return MN_ERR_ARG;
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    const float neg_step_size = (float)-(lr / bias_correction1);
    const float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    const float b1 = (float)beta1, b2 = (float)beta2, e = (float)eps;
    const float one_minus_b1 = (float)(1.0 - beta1), one_minus_b2 = (float)(1.0 - beta2);
    const float wd = (float)weight_decay;
    const float shrink = (float)(1.0 - lr * weight_decay); /* AdamW's decoupled decay */
    const int use_l2 = !decoupled && weight_decay != 0;
    for (int64_t i = 0; i < n; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_l2) g = g + wd * p; /* Adam's L2 term */
        if (decoupled) p = p * shrink; /* AdamW: before the moments, on the old parameters */
        float m = exp_avg[i] * b1 + one_minus_b1 * g;
        float v = exp_avg_sq[i] * b2 + one_minus_b2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float denom = sqrtf(v) / bias_correction2_sqrt + e;
        params[i] = p + neg_step_size * m / denom; /* addcdiv: p + value * m / denom */
    }
    return MN_OK;
}

int adadelta_update(float *params, float *square_avg, float *acc_delta, const float *grads,
                    int64_t n, double lr, double rho, double eps, double weight_decay) {
    if (!params || !square_avg || !acc_delta || !grads || n < 0) return MN_ERR_ARG;
    const float neg_lr = (float)-lr, r = (float)rho, e = (float)eps, wd = (float)weight_decay;
    const float one_minus_rho = (float)(1.0 - rho);
    const int use_wd = weight_decay != 0;
    for (int64_t i = 0; i < n; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_wd) g = g + wd * p;
        float sq = square_avg[i] * r + one_minus_rho * g * g;
        square_avg[i] = sq;
        float std = sqrtf(sq + e);
        float delta = sqrtf(acc_delta[i] + e) / std * g;
        acc_delta[i] = acc_delta[i] * r + one_minus_rho * delta * delta;
        params[i] = p + neg_lr * delta;
    }
    return MN_OK;
}
