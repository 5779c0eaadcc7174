/* optim.c: the optimizers' fused update loops (see optim.h for the formulas).
 *
 * Each loop mirrors PyTorch's sequence of tensor ops for one element, rounding to float where
 * PyTorch materialises a float32 tensor, so trajectories agree to float32 rounding (PyTorch may
 * use FMA in some ops; we do not rely on either). Scalars: PyTorch computes `1 - beta`,
 * `lr / bias_correction` etc. on Python floats (double) and the kernel casts them to float. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "nn/optim.h"

#include <math.h>
#include <stddef.h>

#include "sys/parallel.h"

/* Every update is elementwise: the vector is split over the kernels' threads in ranges of at
 * least this many parameters, each element updated exactly as on one thread. */
#define OPTIM_GRAIN ((int64_t)1 << 16)

/* The arguments of one update, for the range functions. */
typedef struct {
    float *params, *buf1, *buf2, *buf3;
    const float *grads;
    float f[10];
    int flags[4];
} Update;

static void sgd_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *momentum_buf = u->buf1;
    const float *grads = u->grads;
    const float neg_lr = u->f[0], mom = u->f[1], wd = u->f[2], keep_grad = u->f[3];
    const int use_momentum = u->flags[0], use_wd = u->flags[1], nesterov = u->flags[2];
    const int first_step = u->flags[3];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
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
}

int sgd_update(float *params, float *momentum_buf, const float *grads, int64_t n, double lr,
               double momentum, double dampening, double weight_decay, int nesterov,
               int first_step) {
    if (!params || !grads || n < 0 || (momentum != 0 && !momentum_buf)) return MN_ERR_ARG;
    Update u = {params, momentum_buf, NULL, NULL, grads,
                {(float)-lr, (float)momentum, (float)weight_decay,
                 (float)(1.0 - dampening) /* weight of the new gradient in the buffer */},
                {momentum != 0, weight_decay != 0, nesterov, first_step}};
    parallel_for(n, OPTIM_GRAIN, sgd_range, &u);
    return MN_OK;
}

static void adam_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *exp_avg = u->buf1, *exp_avg_sq = u->buf2;
    const float *grads = u->grads;
    const float neg_step_size = u->f[0], bias_correction2_sqrt = u->f[1], b1 = u->f[2];
    const float b2 = u->f[3], e = u->f[4], one_minus_b1 = u->f[5], one_minus_b2 = u->f[6];
    const float wd = u->f[7], shrink = u->f[8];
    const int use_l2 = u->flags[0], decoupled = u->flags[1];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
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
}

int adam_update(float *params, float *exp_avg, float *exp_avg_sq, const float *grads, int64_t n,
                double lr, double beta1, double beta2, double eps, double weight_decay,
                int decoupled, int64_t step) {
    if (!params || !exp_avg || !exp_avg_sq || !grads || n < 0 || step < 1) return MN_ERR_ARG;
    const double bias_correction1 = 1.0 - pow(beta1, (double)step);
    const double bias_correction2 = 1.0 - pow(beta2, (double)step);
    Update u = {params, exp_avg, exp_avg_sq, NULL, grads,
                {(float)-(lr / bias_correction1), (float)sqrt(bias_correction2), (float)beta1,
                 (float)beta2, (float)eps, (float)(1.0 - beta1), (float)(1.0 - beta2),
                 (float)weight_decay,
                 (float)(1.0 - lr * weight_decay) /* AdamW's decoupled decay */},
                {!decoupled && weight_decay != 0, decoupled, 0, 0}};
    parallel_for(n, OPTIM_GRAIN, adam_range, &u);
    return MN_OK;
}

static void adadelta_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *square_avg = u->buf1, *acc_delta = u->buf2;
    const float *grads = u->grads;
    const float neg_lr = u->f[0], r = u->f[1], e = u->f[2], wd = u->f[3], one_minus_rho = u->f[4];
    const int use_wd = u->flags[0];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
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
}

int adadelta_update(float *params, float *square_avg, float *acc_delta, const float *grads,
                    int64_t n, double lr, double rho, double eps, double weight_decay) {
    if (!params || !square_avg || !acc_delta || !grads || n < 0) return MN_ERR_ARG;
    Update u = {params, square_avg, acc_delta, NULL, grads,
                {(float)-lr, (float)rho, (float)eps, (float)weight_decay, (float)(1.0 - rho)},
                {weight_decay != 0, 0, 0, 0}};
    parallel_for(n, OPTIM_GRAIN, adadelta_range, &u);
    return MN_OK;
}

static void adagrad_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *sum = u->buf1;
    const float *grads = u->grads;
    const float neg_clr = u->f[0], e = u->f[1], wd = u->f[2];
    const int use_wd = u->flags[0];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_wd) g = g + wd * p;
        float s = sum[i] + g * g; /* state_sum.addcmul_(grad, grad) */
        sum[i] = s;
        float std = sqrtf(s) + e; /* epsilon outside the root, as both Torch7 and PyTorch */
        params[i] = p + neg_clr * g / std;
    }
}

int adagrad_update(float *params, float *sum, const float *grads, int64_t n, double clr,
                   double eps, double weight_decay) {
    if (!params || !sum || !grads || n < 0) return MN_ERR_ARG;
    Update u = {params, sum, NULL, NULL, grads, {(float)-clr, (float)eps, (float)weight_decay},
                {weight_decay != 0, 0, 0, 0}};
    parallel_for(n, OPTIM_GRAIN, adagrad_range, &u);
    return MN_OK;
}

static void rmsprop_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *square_avg = u->buf1, *grad_avg = u->buf2, *mbuf = u->buf3;
    const float *grads = u->grads;
    const float neg_lr = u->f[0], a = u->f[1], one_minus_a = u->f[2], e = u->f[3];
    const float wd = u->f[4], mom = u->f[5];
    const int use_wd = u->flags[0], centered = u->flags[1], use_momentum = u->flags[2];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_wd) g = g + wd * p;
        float sq = square_avg[i] * a + one_minus_a * g * g;
        square_avg[i] = sq;
        float avg;
        if (centered) {
            float ga = grad_avg[i] * a + one_minus_a * g;
            grad_avg[i] = ga;
            avg = sqrtf(sq - ga * ga) + e;
        } else {
            avg = sqrtf(sq) + e;
        }
        if (use_momentum) {
            float b = mbuf[i] * mom + g / avg;
            mbuf[i] = b;
            params[i] = p + neg_lr * b;
        } else {
            params[i] = p + neg_lr * g / avg;
        }
    }
}

int rmsprop_update(float *params, float *square_avg, float *grad_avg, float *momentum_buf,
                   const float *grads, int64_t n, double lr, double alpha, double eps,
                   double weight_decay, double momentum) {
    if (!params || !square_avg || !grads || n < 0 || (momentum != 0 && !momentum_buf))
        return MN_ERR_ARG;
    Update u = {params, square_avg, grad_avg, momentum_buf, grads,
                {(float)-lr, (float)alpha, (float)(1.0 - alpha), (float)eps, (float)weight_decay,
                 (float)momentum},
                {weight_decay != 0, grad_avg != NULL, momentum != 0, 0}};
    parallel_for(n, OPTIM_GRAIN, rmsprop_range, &u);
    return MN_OK;
}

static void nag_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *velocity = u->buf1;
    const float *grads = u->grads;
    const float neg_clr = u->f[0], mom = u->f[1], wd = u->f[2];
    const int use_wd = u->flags[0], first_step = u->flags[1];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
        float p = params[i];
        float g = grads[i];
        if (use_wd) g = g + wd * p;
        float v = first_step ? 0.0f : velocity[i] * mom;
        velocity[i] = v + neg_clr * g;
        params[i] = p + neg_clr * g;
    }
}

int nag_update(float *params, float *velocity, const float *grads, int64_t n, double clr,
               double momentum, double weight_decay, int first_step) {
    if (!params || !velocity || !grads || n < 0) return MN_ERR_ARG;
    Update u = {params, velocity, NULL, NULL, grads,
                {(float)-clr, (float)momentum, (float)weight_decay},
                {weight_decay != 0, first_step, 0, 0}};
    parallel_for(n, OPTIM_GRAIN, nag_range, &u);
    return MN_OK;
}

static void asgd_range(void *ctx, int64_t lo, int64_t hi, int part) {
    const Update *u = ctx;
    float *params = u->params, *ax = u->buf1;
    const float *grads = u->grads;
    const float shrink = u->f[0], neg_eta = u->f[1], mu = u->f[2];
    const int copy_average = u->flags[0];
    (void)part;
    for (int64_t i = lo; i < hi; i++) {
        float p = params[i] * shrink + neg_eta * grads[i];
        params[i] = p;
        ax[i] = copy_average ? p : ax[i] + (p - ax[i]) * mu;
    }
}

int asgd_update(float *params, float *ax, const float *grads, int64_t n, double eta,
                double lambda, double mu) {
    if (!params || !ax || !grads || n < 0) return MN_ERR_ARG;
    Update u = {params, ax, NULL, NULL, grads,
                {(float)(1.0 - lambda * eta), (float)-eta, (float)mu}, {mu == 1.0, 0, 0, 0}};
    parallel_for(n, OPTIM_GRAIN, asgd_range, &u);
    return MN_OK;
}

/* Vector helpers of the line-search methods (lbfgs, cg): one pass each, sums in double. */

double vec_dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

double vec_abs_sum(const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)a[i]);
    return s;
}

double vec_abs_max(const float *a, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i]));
    return m;
}

void vec_axpby(float *y, double alpha, const float *x, double beta, int64_t n) {
    const float a = (float)alpha, b = (float)beta;
    if (b == 0.0f) {
        for (int64_t i = 0; i < n; i++) y[i] = a * x[i]; /* y's old values may be NaN */
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
    }
}
