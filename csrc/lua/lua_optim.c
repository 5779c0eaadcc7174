/* lua_optim.c: the optimizers' fused loops (csrc/nn/optim.h) behind lua/mnist/optim.lua. */
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

static const luaL_Reg optim_functions[] = {
    {"sgd_update", l_sgd_update},
    {"adam_update", l_adam_update},
    {"adadelta_update", l_adadelta_update},
    {NULL, NULL},
};

void register_optim(lua_State *L) { luaL_register(L, NULL, optim_functions); }
