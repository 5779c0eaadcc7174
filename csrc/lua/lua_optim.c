/* lua_optim.c: the optimizers' fused loops (csrc/nn/optim.h) behind lua/mnist/optim.lua. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_common.h"
#include "nn/optim.h"

/* The optimizer kernels (csrc/optim.h) behind lua/mnist/optim.lua, which checks the config and
 * feval; here only the vectors are checked: float32, all of params' element count, and no two
 * overlapping (a buffer sharing memory with the parameters would corrupt both). */
static void check_optim_vectors(lua_State *L, const char *fn, Tensor **vecs, const char **names,
                                int count) {
    char ba[64], bb[64];
    for (int i = 1; i < count; i++) {
        if (!vecs[i]) continue;
        if (vecs[i]->numel != vecs[0]->numel)
            raisef(L, fn, "%s has shape %s (%lld elements), params %s (%lld elements)", names[i],
                  shape_of(vecs[i], ba, sizeof ba), (long long)vecs[i]->numel,
                  shape_of(vecs[0], bb, sizeof bb), (long long)vecs[0]->numel);
    }
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (vecs[i] && vecs[j] && tensor_overlaps(vecs[i], vecs[j]))
                raisef(L, fn, "%s and %s share memory", names[i], names[j]);
}


/* core.sgd_update(params, momentum_buf|nil, grads, lr, momentum, dampening, weight_decay,
 *                 nesterov, first_step): one SGD step in place. */
static int l_sgd_update(lua_State *L) {
    const char *fn = "sgd_update";
    Tensor *vecs[3] = {check_dense(L, 1, fn), NULL, check_dense(L, 3, fn)};
    if (!lua_isnil(L, 2)) vecs[1] = check_dense(L, 2, fn);
    static const char *names[3] = {"params", "momentum_buf", "grads"};
    check_optim_vectors(L, fn, vecs, names, 3);
    double lr = check_number(L, 4, fn, "lr"), momentum = check_number(L, 5, fn, "momentum");
    double dampening = check_number(L, 6, fn, "dampening");
    double weight_decay = check_number(L, 7, fn, "weight_decay");
    int nesterov = lua_toboolean(L, 8), first_step = lua_toboolean(L, 9);
    if (momentum != 0 && !vecs[1]) raisef(L, fn, "momentum %g needs a momentum_buf", momentum);
    check_status(L, sgd_update(tensor_f32(vecs[0]), vecs[1] ? tensor_f32(vecs[1]) : NULL,
                               tensor_f32(vecs[2]), vecs[0]->numel, lr, momentum, dampening,
                               weight_decay, nesterov, first_step), fn, NULL);
    return 0;
}

/* core.adam_update(params, exp_avg, exp_avg_sq, grads, lr, beta1, beta2, eps, weight_decay,
 *                  decoupled, step): one Adam (decoupled false) or AdamW (true) step in place. */
static int l_adam_update(lua_State *L) {
    const char *fn = "adam_update";
    Tensor *vecs[4] = {check_dense(L, 1, fn), check_dense(L, 2, fn), check_dense(L, 3, fn),
                       check_dense(L, 4, fn)};
    static const char *names[4] = {"params", "exp_avg", "exp_avg_sq", "grads"};
    check_optim_vectors(L, fn, vecs, names, 4);
    double lr = check_number(L, 5, fn, "lr"), beta1 = check_number(L, 6, fn, "beta1");
    double beta2 = check_number(L, 7, fn, "beta2"), eps = check_number(L, 8, fn, "eps");
    double weight_decay = check_number(L, 9, fn, "weight_decay");
    int decoupled = lua_toboolean(L, 10);
    double step = check_number(L, 11, fn, "step");
    if (!(step >= 1 && step <= 9007199254740992.0) || step != floor(step))
        raisef(L, fn, "step must be a whole number >= 1, got %g", step);
    check_status(L, adam_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                                tensor_f32(vecs[3]), vecs[0]->numel, lr, beta1, beta2, eps,
                                weight_decay, decoupled, (int64_t)step), fn, NULL);
    return 0;
}

/* core.adadelta_update(params, square_avg, acc_delta, grads, lr, rho, eps, weight_decay):
 * one Adadelta step in place. */
static int l_adadelta_update(lua_State *L) {
    const char *fn = "adadelta_update";
    Tensor *vecs[4] = {check_dense(L, 1, fn), check_dense(L, 2, fn), check_dense(L, 3, fn),
                       check_dense(L, 4, fn)};
    static const char *names[4] = {"params", "square_avg", "acc_delta", "grads"};
    check_optim_vectors(L, fn, vecs, names, 4);
    double lr = check_number(L, 5, fn, "lr"), rho = check_number(L, 6, fn, "rho");
    double eps = check_number(L, 7, fn, "eps");
    double weight_decay = check_number(L, 8, fn, "weight_decay");
    check_status(L, adadelta_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                                    tensor_f32(vecs[3]), vecs[0]->numel, lr, rho, eps,
                                    weight_decay), fn, NULL);
    return 0;
}

/* core.adagrad_update(params, sum, grads, clr, eps, weight_decay): one Adagrad step in place
 * (clr: the learning rate after Torch7's learningRateDecay). */
static int l_adagrad_update(lua_State *L) {
    const char *fn = "adagrad_update";
    Tensor *vecs[3] = {check_float(L, 1, fn), check_float(L, 2, fn), check_float(L, 3, fn)};
    static const char *names[3] = {"params", "sum", "grads"};
    check_optim_vectors(L, fn, vecs, names, 3);
    double clr = check_number(L, 4, fn, "clr"), eps = check_number(L, 5, fn, "eps");
    double weight_decay = check_number(L, 6, fn, "weight_decay");
    check_status(L, adagrad_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                                   vecs[0]->numel, clr, eps, weight_decay), fn, NULL);
    return 0;
}

/* core.rmsprop_update(params, square_avg, grad_avg|nil, momentum_buf|nil, grads, lr, alpha, eps,
 *                     weight_decay, momentum): one RMSprop step in place (centered when
 *                     grad_avg is given). */
static int l_rmsprop_update(lua_State *L) {
    const char *fn = "rmsprop_update";
    Tensor *vecs[5] = {check_float(L, 1, fn), check_float(L, 2, fn), opt_float(L, 3, fn),
                       opt_float(L, 4, fn), check_float(L, 5, fn)};
    static const char *names[5] = {"params", "square_avg", "grad_avg", "momentum_buf", "grads"};
    check_optim_vectors(L, fn, vecs, names, 5);
    double lr = check_number(L, 6, fn, "lr"), alpha = check_number(L, 7, fn, "alpha");
    double eps = check_number(L, 8, fn, "eps");
    double weight_decay = check_number(L, 9, fn, "weight_decay");
    double momentum = check_number(L, 10, fn, "momentum");
    if (momentum != 0 && !vecs[3]) raisef(L, fn, "momentum %g needs a momentum_buf", momentum);
    check_status(L, rmsprop_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]),
                                   vecs[2] ? tensor_f32(vecs[2]) : NULL,
                                   vecs[3] ? tensor_f32(vecs[3]) : NULL, tensor_f32(vecs[4]),
                                   vecs[0]->numel, lr, alpha, eps, weight_decay, momentum),
                 fn, NULL);
    return 0;
}

/* core.nag_update(params, velocity, grads, clr, momentum, weight_decay, first_step): the update
 * half of one Torch7 NAG step, in place (the look-ahead move comes before feval). */
static int l_nag_update(lua_State *L) {
    const char *fn = "nag_update";
    Tensor *vecs[3] = {check_float(L, 1, fn), check_float(L, 2, fn), check_float(L, 3, fn)};
    static const char *names[3] = {"params", "velocity", "grads"};
    check_optim_vectors(L, fn, vecs, names, 3);
    double clr = check_number(L, 4, fn, "clr"), momentum = check_number(L, 5, fn, "momentum");
    double weight_decay = check_number(L, 6, fn, "weight_decay");
    int first_step = lua_toboolean(L, 7);
    check_status(L, nag_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                               vecs[0]->numel, clr, momentum, weight_decay, first_step), fn, NULL);
    return 0;
}

/* core.asgd_update(params, ax, grads, eta, lambda, mu): one averaged-SGD step in place. */
static int l_asgd_update(lua_State *L) {
    const char *fn = "asgd_update";
    Tensor *vecs[3] = {check_float(L, 1, fn), check_float(L, 2, fn), check_float(L, 3, fn)};
    static const char *names[3] = {"params", "ax", "grads"};
    check_optim_vectors(L, fn, vecs, names, 3);
    double eta = check_number(L, 4, fn, "eta"), lambda = check_number(L, 5, fn, "lambda");
    double mu = check_number(L, 6, fn, "mu");
    check_status(L, asgd_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                                vecs[0]->numel, eta, lambda, mu), fn, NULL);
    return 0;
}

/* Two float32 vectors of one element count (the line-search helpers). */
static void check_pair(lua_State *L, const char *fn, const Tensor *a, const Tensor *b) {
    char ba[64], bb[64];
    if (a->numel != b->numel)
        raisef(L, fn, "size mismatch: %s (%lld elements) vs %s (%lld elements)",
              shape_of(a, ba, sizeof ba), (long long)a->numel, shape_of(b, bb, sizeof bb),
              (long long)b->numel);
}

/* core.vec_dot(a, b) -> number: the dot product of two float32 vectors, summed in double. */
static int l_vec_dot(lua_State *L) {
    Tensor *a = check_float(L, 1, "vec_dot"), *b = check_float(L, 2, "vec_dot");
    check_pair(L, "vec_dot", a, b);
    lua_pushnumber(L, vec_dot(tensor_f32(a), tensor_f32(b), a->numel));
    return 1;
}

/* core.vec_abs_sum(a) -> sum of |a[i]|;  core.vec_abs_max(a) -> max of |a[i]| (0 when empty). */
static int l_vec_abs_sum(lua_State *L) {
    Tensor *a = check_float(L, 1, "vec_abs_sum");
    lua_pushnumber(L, vec_abs_sum(tensor_f32(a), a->numel));
    return 1;
}

static int l_vec_abs_max(lua_State *L) {
    Tensor *a = check_float(L, 1, "vec_abs_max");
    lua_pushnumber(L, vec_abs_max(tensor_f32(a), a->numel));
    return 1;
}

/* core.vec_axpby(y, alpha, x, beta): y = alpha * x + beta * y in place (beta 0: y = alpha * x,
 * y's old values unread). x may be y itself (a scaling). Returns y. */
static int l_vec_axpby(lua_State *L) {
    const char *fn = "vec_axpby";
    Tensor *y = check_float(L, 1, fn);
    double alpha = check_number(L, 2, fn, "alpha");
    Tensor *x = check_float(L, 3, fn);
    double beta = check_number(L, 4, fn, "beta");
    check_pair(L, fn, y, x);
    if (tensor_f32(x) != tensor_f32(y) && tensor_overlaps(x, y))
        raisef(L, fn, "x and y overlap without being the same vector");
    vec_axpby(tensor_f32(y), alpha, tensor_f32(x), beta, y->numel);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg optim_functions[] = {
    {"adagrad_update", l_adagrad_update},
    {"rmsprop_update", l_rmsprop_update},
    {"nag_update", l_nag_update},
    {"asgd_update", l_asgd_update},
    {"vec_dot", l_vec_dot},
    {"vec_abs_sum", l_vec_abs_sum},
    {"vec_abs_max", l_vec_abs_max},
    {"vec_axpby", l_vec_axpby},
    {"sgd_update", l_sgd_update},
    {"adam_update", l_adam_update},
    {"adadelta_update", l_adadelta_update},
    {NULL, NULL},
};

void register_optim(lua_State *L) { luaL_register(L, NULL, optim_functions); }
