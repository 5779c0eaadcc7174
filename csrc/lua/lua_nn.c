/* lua_nn.c: the nn kernels (csrc/nn/) behind lua/mnist/nn/. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include "lua/lua_common.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/nn_common.h"
#include "nn/pool.h"
#include "nn/shape.h"

/* The kernels behind lua/mnist/nn/. Outputs come first, as in the C headers; an optional
 * tensor is nil. The Lua modules check shapes first and raise errors that name the module, so
 * these checks are the safety net for direct calls. */



/* Raises "fn: <status>: name1 (shape), name2 (shape), ..." unless st is MN_OK; the variadic
 * arguments are `count` pairs of (const char *name, const Tensor *t), t possibly NULL. */
static void check_nn(lua_State *L, int st, const char *fn, int count, ...) {
    if (st == MN_OK) return;
    char detail[400] = "", shape[64];
    size_t used = 0;
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count && used < sizeof detail; i++) {
        const char *name = va_arg(ap, const char *);
        const Tensor *t = va_arg(ap, const Tensor *);
        if (!t) continue;
        used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s %s", used ? ", " : "",
                                 name, shape_of(t, shape, sizeof shape));
    }
    va_end(ap);
    check_status(L, st, fn, detail);
}

/* Reads strides and paddings (sh, sw, ph, pw) from idx .. idx+3. */
static void check_geometry(lua_State *L, int idx, const char *fn, int geo[4]) {
    static const char *const names[] = {"stride height", "stride width", "pad height", "pad width"};
    for (int i = 0; i < 4; i++)
        geo[i] = check_int_arg(L, idx + i, fn, names[i], i < 2 ? 1 : 0, 1 << 20);
}

/* core.conv2d_workspace_size(inp, weight, sh, sw, ph, pw) -> floats the conv kernels need. */
static int l_conv2d_workspace_size(lua_State *L) {
    const char *fn = "conv2d_workspace_size";
    Tensor *inp = check_dense(L, 1, fn), *weight = check_dense(L, 2, fn);
    int geo[4];
    check_geometry(L, 3, fn, geo);
    Conv2dShape g;
    check_nn(L, conv2d_shape(&g, inp, weight, geo[0], geo[1], geo[2], geo[3]), fn, 2, "input", inp,
             "weight", weight);
    lua_pushnumber(L, (lua_Number)conv2d_workspace_floats(&g));
    return 1;
}

/* core.conv2d_path(inp, weight, sh, sw, ph, pw) -> "direct rows", "direct channels", "winograd"
 * or "im2col": the kernels conv2d_forward would run (the forward; the input gradient of the
 * direct kinds is im2col's). */
static int l_conv2d_path(lua_State *L) {
    const char *fn = "conv2d_path";
    Tensor *inp = check_dense(L, 1, fn), *weight = check_dense(L, 2, fn);
    int geo[4];
    check_geometry(L, 3, fn, geo);
    Conv2dShape g;
    check_nn(L, conv2d_shape(&g, inp, weight, geo[0], geo[1], geo[2], geo[3]), fn, 2, "input", inp,
             "weight", weight);
    lua_pushstring(L, conv2d_path(&g));
    return 1;
}

/* core.conv2d_forward(out, workspace, inp, weight, bias|nil, sh, sw, ph, pw) -> out */
static int l_conv2d_forward(lua_State *L) {
    const char *fn = "conv2d_forward";
    Tensor *out = check_dense(L, 1, fn), *ws = check_dense(L, 2, fn), *inp = check_dense(L, 3, fn);
    Tensor *weight = check_dense(L, 4, fn), *bias = opt_dense(L, 5, fn);
    int geo[4];
    check_geometry(L, 6, fn, geo);
    check_nn(L, conv2d_forward(out, ws, inp, weight, bias, geo[0], geo[1], geo[2], geo[3]), fn, 5,
             "out", out, "workspace", ws, "input", inp, "weight", weight, "bias", bias);
    lua_settop(L, 1);
    return 1;
}

/* core.conv2d_backward(dinp|nil, dweight|nil, dbias|nil, workspace, dout, inp, weight,
 *                      sh, sw, ph, pw) */
static int l_conv2d_backward(lua_State *L) {
    const char *fn = "conv2d_backward";
    Tensor *dinp = opt_dense(L, 1, fn), *dweight = opt_dense(L, 2, fn),
           *dbias = opt_dense(L, 3, fn);
    Tensor *ws = check_dense(L, 4, fn), *dout = check_dense(L, 5, fn), *inp = check_dense(L, 6, fn);
    Tensor *weight = check_dense(L, 7, fn);
    int geo[4];
    check_geometry(L, 8, fn, geo);
    int st = conv2d_backward(dinp, dweight, dbias, ws, dout, inp, weight, geo[0], geo[1], geo[2],
                             geo[3]);
    check_nn(L, st, fn, 7, "dinp", dinp, "dweight", dweight, "dbias", dbias, "workspace", ws,
             "dout", dout, "input", inp, "weight", weight);
    return 0;
}

/* Reads the window (kh, kw) at idx, idx+1 and strides and paddings after them into geo[6]. */
static void check_window(lua_State *L, int idx, const char *fn, int geo[6]) {
    geo[0] = check_int_arg(L, idx, fn, "kernel height", 1, 1 << 20);
    geo[1] = check_int_arg(L, idx + 1, fn, "kernel width", 1, 1 << 20);
    check_geometry(L, idx + 2, fn, geo + 2);
}

/* core.maxpool2d_forward(out, indices, inp, kh, kw, sh, sw, ph, pw [, ceil]) -> out */
static int l_maxpool2d_forward(lua_State *L) {
    const char *fn = "maxpool2d_forward";
    Tensor *out = check_dense(L, 1, fn), *indices = check_dense(L, 2, fn),
           *inp = check_dense(L, 3, fn);
    int geo[6];
    check_window(L, 4, fn, geo);
    int ceil_mode = lua_toboolean(L, 10);
    check_nn(L, maxpool2d_forward(out, indices, inp, geo[0], geo[1], geo[2], geo[3], geo[4], geo[5],
                                  ceil_mode),
             fn, 3, "out", out, "indices", indices, "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.avgpool2d_forward(out, inp, kh, kw, sh, sw, ph, pw, ceil, count_include_pad) -> out */
static int l_avgpool2d_forward(lua_State *L) {
    const char *fn = "avgpool2d_forward";
    Tensor *out = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn);
    int geo[6];
    check_window(L, 3, fn, geo);
    int st = avgpool2d_forward(out, inp, geo[0], geo[1], geo[2], geo[3], geo[4], geo[5],
                               lua_toboolean(L, 9), lua_toboolean(L, 10));
    check_nn(L, st, fn, 2, "out", out, "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.avgpool2d_backward(dinp, dout, kh, kw, sh, sw, ph, pw, ceil, count_include_pad) -> dinp */
static int l_avgpool2d_backward(lua_State *L) {
    const char *fn = "avgpool2d_backward";
    Tensor *dinp = check_dense(L, 1, fn), *dout = check_dense(L, 2, fn);
    int geo[6];
    check_window(L, 3, fn, geo);
    int st = avgpool2d_backward(dinp, dout, geo[0], geo[1], geo[2], geo[3], geo[4], geo[5],
                                lua_toboolean(L, 9), lua_toboolean(L, 10));
    check_nn(L, st, fn, 2, "dinp", dinp, "dout", dout);
    lua_settop(L, 1);
    return 1;
}

/* core.maxpool2d_backward(dinp, dout, indices) -> dinp */
static int l_maxpool2d_backward(lua_State *L) {
    const char *fn = "maxpool2d_backward";
    Tensor *dinp = check_dense(L, 1, fn), *dout = check_dense(L, 2, fn),
           *indices = check_dense(L, 3, fn);
    check_nn(L, maxpool2d_backward(dinp, dout, indices), fn, 3, "dinp", dinp, "dout", dout,
             "indices", indices);
    lua_settop(L, 1);
    return 1;
}

/* core.linear_forward(out, inp, weight, bias|nil) -> out */
static int l_linear_forward(lua_State *L) {
    const char *fn = "linear_forward";
    Tensor *out = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn),
           *weight = check_dense(L, 3, fn);
    Tensor *bias = opt_dense(L, 4, fn);
    check_nn(L, linear_forward(out, inp, weight, bias), fn, 4, "out", out, "input", inp, "weight",
             weight, "bias", bias);
    lua_settop(L, 1);
    return 1;
}

/* core.linear_backward(dinp|nil, dweight|nil, dbias|nil, dout, inp, weight) */
static int l_linear_backward(lua_State *L) {
    const char *fn = "linear_backward";
    Tensor *dinp = opt_dense(L, 1, fn), *dweight = opt_dense(L, 2, fn),
           *dbias = opt_dense(L, 3, fn);
    Tensor *dout = check_dense(L, 4, fn), *inp = check_dense(L, 5, fn),
           *weight = check_dense(L, 6, fn);
    check_nn(L, linear_backward(dinp, dweight, dbias, dout, inp, weight), fn, 6, "dinp", dinp,
             "dweight", dweight, "dbias", dbias, "dout", dout, "input", inp, "weight", weight);
    return 0;
}

/* core.batchnorm_forward(out, save_mean, save_invstd, running_mean, running_var, inp,
 *                        weight|nil, bias|nil, training, momentum, eps) -> out */
static int l_batchnorm_forward(lua_State *L) {
    const char *fn = "batchnorm_forward";
    Tensor *out = check_dense(L, 1, fn), *mean = check_dense(L, 2, fn),
           *invstd = check_dense(L, 3, fn);
    Tensor *rmean = check_dense(L, 4, fn), *rvar = check_dense(L, 5, fn),
           *inp = check_dense(L, 6, fn);
    Tensor *weight = opt_dense(L, 7, fn), *bias = opt_dense(L, 8, fn);
    int training = lua_toboolean(L, 9);
    float momentum = check_float_arg(L, 10, fn, "momentum"),
          eps = check_float_arg(L, 11, fn, "eps");
    int st = batchnorm_forward(out, mean, invstd, rmean, rvar, inp, weight, bias, training,
                               momentum, eps);
    check_nn(L, st, fn, 8, "out", out, "save_mean", mean, "save_invstd", invstd, "running_mean",
             rmean, "running_var", rvar, "input", inp, "weight", weight, "bias", bias);
    lua_settop(L, 1);
    return 1;
}

/* The ChannelReducer userdata at idx (made by the MPI module, or core.local_reducer()). */
static const ChannelReducer *check_reducer(lua_State *L, int idx, const char *fn) {
    const ChannelReducer *r = luaL_testudata(L, idx, CHANNEL_REDUCER_MT);
    if (!r) raisef(L, fn, "argument #%d: expected a channel reducer, got %s", idx, luaL_typename(L, idx));
    return r;
}

/* core.batchnorm_forward_synced(out, save_mean, save_invstd, running_mean, running_var, inp,
 *                               weight|nil, bias|nil, momentum, eps, reducer) */
static int l_batchnorm_forward_synced(lua_State *L) {
    const char *fn = "batchnorm_forward_synced";
    Tensor *out = check_dense(L, 1, fn), *mean = check_dense(L, 2, fn),
           *invstd = check_dense(L, 3, fn);
    Tensor *rmean = check_dense(L, 4, fn), *rvar = check_dense(L, 5, fn),
           *inp = check_dense(L, 6, fn);
    Tensor *weight = opt_dense(L, 7, fn), *bias = opt_dense(L, 8, fn);
    float momentum = check_float_arg(L, 9, fn, "momentum"), eps = check_float_arg(L, 10, fn, "eps");
    const ChannelReducer *reducer = check_reducer(L, 11, fn);
    int st = batchnorm_forward_synced(out, mean, invstd, rmean, rvar, inp, weight, bias, momentum,
                                      eps, reducer);
    check_nn(L, st, fn, 8, "out", out, "save_mean", mean, "save_invstd", invstd, "running_mean",
             rmean, "running_var", rvar, "input", inp, "weight", weight, "bias", bias);
    lua_settop(L, 1);
    return 1;
}

/* core.batchnorm_backward_synced(dinp|nil, dweight|nil, dbias|nil, dout, inp, weight|nil,
 *                                save_mean, save_invstd, reducer) */
static int l_batchnorm_backward_synced(lua_State *L) {
    const char *fn = "batchnorm_backward_synced";
    Tensor *dinp = opt_dense(L, 1, fn), *dweight = opt_dense(L, 2, fn),
           *dbias = opt_dense(L, 3, fn);
    Tensor *dout = check_dense(L, 4, fn), *inp = check_dense(L, 5, fn),
           *weight = opt_dense(L, 6, fn);
    Tensor *mean = check_dense(L, 7, fn), *invstd = check_dense(L, 8, fn);
    const ChannelReducer *reducer = check_reducer(L, 9, fn);
    check_nn(L, batchnorm_backward_synced(dinp, dweight, dbias, dout, inp, weight, mean, invstd,
                                          reducer),
             fn, 8, "dinp", dinp, "dweight", dweight, "dbias", dbias, "dout", dout, "input", inp,
             "weight", weight, "save_mean", mean, "save_invstd", invstd);
    lua_settop(L, 1);
    return 1;
}

/* A reducer for one process: the sums are already the job's. */
static int sum_alone(void *ctx, double *values, int64_t n) {
    (void)ctx, (void)values, (void)n;
    return MN_OK;
}

/* core.local_reducer(): the ChannelReducer of a job of one process (the synced kernels then
 * compute what the plain ones do; the specs compare them). */
static int l_local_reducer(lua_State *L) {
    ChannelReducer *r = lua_newuserdata(L, sizeof *r);
    r->sum = sum_alone;
    r->ctx = NULL;
    luaL_newmetatable(L, CHANNEL_REDUCER_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* core.batchnorm_backward(dinp|nil, dweight|nil, dbias|nil, dout, inp, weight|nil, save_mean,
 *                         save_invstd, training) */
static int l_batchnorm_backward(lua_State *L) {
    const char *fn = "batchnorm_backward";
    Tensor *dinp = opt_dense(L, 1, fn), *dweight = opt_dense(L, 2, fn),
           *dbias = opt_dense(L, 3, fn);
    Tensor *dout = check_dense(L, 4, fn), *inp = check_dense(L, 5, fn),
           *weight = opt_dense(L, 6, fn);
    Tensor *mean = check_dense(L, 7, fn), *invstd = check_dense(L, 8, fn);
    int training = lua_toboolean(L, 9);
    check_nn(L, batchnorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, invstd, training),
             fn, 8, "dinp", dinp, "dweight", dweight, "dbias", dbias, "dout", dout, "input", inp,
             "weight", weight, "save_mean", mean, "save_invstd", invstd);
    return 0;
}

/* The elementwise pairs share one shape: (a, b, c) -> a. */
typedef int (*ternary_kernel)(Tensor *, const Tensor *, const Tensor *);
typedef int (*binary_kernel)(Tensor *, const Tensor *);

static int binary_call(lua_State *L, const char *fn, binary_kernel k, const char *n1,
                       const char *n2) {
    Tensor *a = check_dense(L, 1, fn), *b = check_dense(L, 2, fn);
    check_nn(L, k(a, b), fn, 2, n1, a, n2, b);
    lua_settop(L, 1);
    return 1;
}

static int ternary_call(lua_State *L, const char *fn, ternary_kernel k, const char *n1,
                        const char *n2, const char *n3) {
    Tensor *a = check_dense(L, 1, fn), *b = check_dense(L, 2, fn), *c = check_dense(L, 3, fn);
    check_nn(L, k(a, b, c), fn, 3, n1, a, n2, b, n3, c);
    lua_settop(L, 1);
    return 1;
}

/* core.relu_forward(out, inp) -> out;  core.relu_backward(dinp, dout, out) -> dinp */
static int l_relu_forward(lua_State *L) {
    return binary_call(L, "relu_forward", relu_forward, "out", "input");
}
static int l_relu_backward(lua_State *L) {
    return ternary_call(L, "relu_backward", relu_backward, "dinp", "dout", "out");
}

/* core.logsoftmax_forward(out, inp) -> out;  core.logsoftmax_backward(dinp, dout, out) -> dinp */
static int l_logsoftmax_forward(lua_State *L) {
    return binary_call(L, "logsoftmax_forward", logsoftmax_forward, "out", "input");
}
static int l_logsoftmax_backward(lua_State *L) {
    return ternary_call(L, "logsoftmax_backward", logsoftmax_backward, "dinp", "dout", "out");
}

/* core.dropout_forward(out, mask, inp, p, rng) -> out */
static int l_dropout_forward(lua_State *L) {
    const char *fn = "dropout_forward";
    Tensor *out = check_dense(L, 1, fn), *mask = check_dense(L, 2, fn),
           *inp = check_dense(L, 3, fn);
    float p = check_float_arg(L, 4, fn, "p");
    if (!(p >= 0.0f && p <= 1.0f)) raisef(L, fn, "p must be in [0, 1], got %g", (double)p);
    Rng *rng = check_rng(L, 5, fn);
    check_nn(L, dropout_forward(out, mask, inp, p, rng), fn, 3, "out", out, "mask", mask, "input",
             inp);
    lua_settop(L, 1);
    return 1;
}

/* core.dropout_backward(dinp, dout, mask) -> dinp */
static int l_dropout_backward(lua_State *L) {
    return ternary_call(L, "dropout_backward", dropout_backward, "dinp", "dout", "mask");
}

/* The labels tensor at idx: float32 or uint8. */
static Tensor *check_labels(lua_State *L, int idx, const char *fn) {
    return check_contiguous(L, idx, fn);
}

/* core.labels_check(targets, n, classes) -> nil when all n labels are whole numbers in
 * [0, classes), else the 1-based position and the value of the first bad one. */
static int l_labels_check(lua_State *L) {
    const char *fn = "labels_check";
    Tensor *t = check_labels(L, 1, fn);
    double n = luaL_checknumber(L, 2), classes = luaL_checknumber(L, 3);
    int64_t bad;
    check_nn(L, labels_check(&bad, t, (int64_t)n, (int64_t)classes), fn, 1, "labels", t);
    if (bad < 0) return 0;
    lua_pushnumber(L, (lua_Number)(bad + 1));
    push_element(L, t, bad);
    return 2;
}

/* core.nll_forward(logp, targets) -> loss */
static int l_nll_forward(lua_State *L) {
    const char *fn = "nll_forward";
    Tensor *logp = check_dense(L, 1, fn), *targets = check_labels(L, 2, fn);
    float loss;
    check_nn(L, nll_forward(&loss, logp, targets), fn, 2, "input", logp, "labels", targets);
    lua_pushnumber(L, loss);
    return 1;
}

/* core.nll_backward(dlogp, targets, scale) -> dlogp */
static int l_nll_backward(lua_State *L) {
    const char *fn = "nll_backward";
    Tensor *dlogp = check_dense(L, 1, fn), *targets = check_labels(L, 2, fn);
    float scale = lua_isnoneornil(L, 3) ? 1.0f : check_float_arg(L, 3, fn, "scale");
    check_nn(L, nll_backward(dlogp, targets, scale), fn, 2, "dinp", dlogp, "labels", targets);
    lua_settop(L, 1);
    return 1;
}

/* core.cross_entropy_forward(logp, logits, targets) -> loss (logp written) */
static int l_cross_entropy_forward(lua_State *L) {
    const char *fn = "cross_entropy_forward";
    Tensor *logp = check_dense(L, 1, fn), *logits = check_dense(L, 2, fn);
    Tensor *targets = check_labels(L, 3, fn);
    float loss;
    check_nn(L, cross_entropy_forward(&loss, logp, logits, targets), fn, 3, "logp", logp, "input",
             logits, "labels", targets);
    lua_pushnumber(L, loss);
    return 1;
}

/* core.cross_entropy_backward(dlogits, logp, targets, scale) -> dlogits */
static int l_cross_entropy_backward(lua_State *L) {
    const char *fn = "cross_entropy_backward";
    Tensor *dlogits = check_dense(L, 1, fn), *logp = check_dense(L, 2, fn);
    Tensor *targets = check_labels(L, 3, fn);
    float scale = lua_isnoneornil(L, 4) ? 1.0f : check_float_arg(L, 4, fn, "scale");
    check_nn(L, cross_entropy_backward(dlogits, logp, targets, scale), fn, 3, "dinp", dlogits,
             "logp", logp, "labels", targets);
    lua_settop(L, 1);
    return 1;
}


/* The names of ActivationKind, in its order. */
static const char *const activation_names[] = {"tanh", "sigmoid", "logsigmoid", "leaky_relu",
                                               "elu", "hardtanh", NULL};

/* The constant at idx (0 when nil). */
static float opt_constant(lua_State *L, int idx, const char *fn, const char *what) {
    return lua_isnoneornil(L, idx) ? 0.0f : check_float_arg(L, idx, fn, what);
}

/* core.activation_forward(out, inp, kind, a, b) -> out   (kind: "tanh", "sigmoid", ...) */
static int l_activation_forward(lua_State *L) {
    const char *fn = "activation_forward";
    Tensor *out = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn);
    int kind = luaL_checkoption(L, 3, NULL, activation_names);
    float a = opt_constant(L, 4, fn, "a"), b = opt_constant(L, 5, fn, "b");
    check_nn(L, activation_forward(out, inp, kind, a, b), fn, 2, "out", out, "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.activation_backward(dinp, dout, inp, out, kind, a, b) -> dinp */
static int l_activation_backward(lua_State *L) {
    const char *fn = "activation_backward";
    Tensor *dinp = check_dense(L, 1, fn), *dout = check_dense(L, 2, fn),
           *inp = check_dense(L, 3, fn), *out = check_dense(L, 4, fn);
    int kind = luaL_checkoption(L, 5, NULL, activation_names);
    float a = opt_constant(L, 6, fn, "a"), b = opt_constant(L, 7, fn, "b");
    check_nn(L, activation_backward(dinp, dout, inp, out, kind, a, b), fn, 4, "dinp", dinp, "dout",
             dout, "input", inp, "out", out);
    lua_settop(L, 1);
    return 1;
}

/* core.spatial_dropout_forward(out, mask, inp, p, scale, rng) -> out */
static int l_spatial_dropout_forward(lua_State *L) {
    const char *fn = "spatial_dropout_forward";
    Tensor *out = check_dense(L, 1, fn), *mask = check_dense(L, 2, fn),
           *inp = check_dense(L, 3, fn);
    float p = check_float_arg(L, 4, fn, "p"), scale = check_float_arg(L, 5, fn, "scale");
    if (!(p >= 0.0f && p <= 1.0f)) raisef(L, fn, "p must be in [0, 1], got %g", (double)p);
    Rng *rng = check_rng(L, 6, fn);
    check_nn(L, spatial_dropout_forward(out, mask, inp, p, scale, rng), fn, 3, "out", out, "mask",
             mask, "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.spatial_dropout_backward(dinp, dout, mask) -> dinp */
static int l_spatial_dropout_backward(lua_State *L) {
    return ternary_call(L, "spatial_dropout_backward", spatial_dropout_backward, "dinp", "dout",
                        "mask");
}

/* core.softmax_forward(out, inp, dim, log) -> out   (dim 1-based) */
static int l_softmax_forward(lua_State *L) {
    const char *fn = "softmax_forward";
    Tensor *out = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn);
    int dim = check_int_arg(L, 3, fn, "dim", 1, TENSOR_MAX_DIMS);
    check_nn(L, softmax_forward(out, inp, dim - 1, lua_toboolean(L, 4)), fn, 2, "out", out, "input",
             inp);
    lua_settop(L, 1);
    return 1;
}

/* core.softmax_backward(dinp, dout, out, dim, log) -> dinp */
static int l_softmax_backward(lua_State *L) {
    const char *fn = "softmax_backward";
    Tensor *dinp = check_dense(L, 1, fn), *dout = check_dense(L, 2, fn),
           *out = check_dense(L, 3, fn);
    int dim = check_int_arg(L, 4, fn, "dim", 1, TENSOR_MAX_DIMS);
    check_nn(L, softmax_backward(dinp, dout, out, dim - 1, lua_toboolean(L, 5)), fn, 3, "dinp",
             dinp, "dout", dout, "out", out);
    lua_settop(L, 1);
    return 1;
}

/* Reads the paddings l, r, t, b at idx .. idx+3 (negative: cropping). */
static void check_pads(lua_State *L, int idx, const char *fn, int pad[4]) {
    static const char *const names[] = {"pad left", "pad right", "pad top", "pad bottom"};
    for (int i = 0; i < 4; i++) pad[i] = check_int_arg(L, idx + i, fn, names[i], -(1 << 20), 1 << 20);
}

/* core.pad2d_forward(out, inp, l, r, t, b) -> out */
static int l_pad2d_forward(lua_State *L) {
    const char *fn = "pad2d_forward";
    Tensor *out = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn);
    int pad[4];
    check_pads(L, 3, fn, pad);
    check_nn(L, pad2d_forward(out, inp, pad[0], pad[1], pad[2], pad[3]), fn, 2, "out", out,
             "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.pad2d_backward(dinp, dout, l, r, t, b) -> dinp */
static int l_pad2d_backward(lua_State *L) {
    const char *fn = "pad2d_backward";
    Tensor *dinp = check_dense(L, 1, fn), *dout = check_dense(L, 2, fn);
    int pad[4];
    check_pads(L, 3, fn, pad);
    check_nn(L, pad2d_backward(dinp, dout, pad[0], pad[1], pad[2], pad[3]), fn, 2, "dinp", dinp,
             "dout", dout);
    lua_settop(L, 1);
    return 1;
}

/* core.concat_copy(big, part, dim, offset, into_big): dim 1-based, offset 0-based along dim. */
static int l_concat_copy(lua_State *L) {
    const char *fn = "concat_copy";
    Tensor *big = check_dense(L, 1, fn), *part = check_dense(L, 2, fn);
    int dim = check_int_arg(L, 3, fn, "dim", 1, TENSOR_MAX_DIMS);
    double offset = check_number(L, 4, fn, "offset");
    if (offset < 0 || offset != floor(offset) || offset > (double)TENSOR_MAX_NUMEL)
        raisef(L, fn, "offset must be a whole number >= 0, got %g", offset);
    check_nn(L, concat_copy(big, part, dim - 1, (int64_t)offset, lua_toboolean(L, 5)), fn, 2,
             "big", big, "part", part);
    return 0;
}

/* core.class_nll_forward(logp, targets, weights|nil, size_average) -> loss, total_weight */
static int l_class_nll_forward(lua_State *L) {
    const char *fn = "class_nll_forward";
    Tensor *logp = check_dense(L, 1, fn), *targets = check_labels(L, 2, fn),
           *weights = opt_dense(L, 3, fn);
    float loss, total;
    check_nn(L, class_nll_forward(&loss, &total, logp, targets, weights, lua_toboolean(L, 4)), fn,
             3, "input", logp, "labels", targets, "weights", weights);
    lua_pushnumber(L, loss);
    lua_pushnumber(L, total);
    return 2;
}

/* core.class_nll_backward(dlogp, targets, weights|nil, size_average, scale) -> dlogp */
static int l_class_nll_backward(lua_State *L) {
    const char *fn = "class_nll_backward";
    Tensor *dlogp = check_dense(L, 1, fn), *targets = check_labels(L, 2, fn),
           *weights = opt_dense(L, 3, fn);
    float scale = lua_isnoneornil(L, 5) ? 1.0f : check_float_arg(L, 5, fn, "scale");
    check_nn(L, class_nll_backward(dlogp, targets, weights, lua_toboolean(L, 4), scale), fn, 3,
             "dinp", dlogp, "labels", targets, "weights", weights);
    lua_settop(L, 1);
    return 1;
}

static const char *const pointwise_names[] = {"mse", "smooth_l1", "bce", "dist_kl_div", NULL};

/* core.pointwise_loss_forward(inp, target, weights|nil, kind, size_average) -> loss */
static int l_pointwise_loss_forward(lua_State *L) {
    const char *fn = "pointwise_loss_forward";
    Tensor *inp = check_dense(L, 1, fn), *target = check_dense(L, 2, fn),
           *weights = opt_dense(L, 3, fn);
    int kind = luaL_checkoption(L, 4, NULL, pointwise_names);
    float loss;
    check_nn(L, pointwise_loss_forward(&loss, inp, target, weights, kind, lua_toboolean(L, 5)), fn,
             3, "input", inp, "target", target, "weights", weights);
    lua_pushnumber(L, loss);
    return 1;
}

/* core.pointwise_loss_backward(dinp, inp, target, weights|nil, kind, size_average, scale) -> dinp */
static int l_pointwise_loss_backward(lua_State *L) {
    const char *fn = "pointwise_loss_backward";
    Tensor *dinp = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn),
           *target = check_dense(L, 3, fn), *weights = opt_dense(L, 4, fn);
    int kind = luaL_checkoption(L, 5, NULL, pointwise_names);
    float scale = lua_isnoneornil(L, 7) ? 1.0f : check_float_arg(L, 7, fn, "scale");
    int st = pointwise_loss_backward(dinp, inp, target, weights, kind, lua_toboolean(L, 6), scale);
    check_nn(L, st, fn, 4, "dinp", dinp, "input", inp, "target", target, "weights", weights);
    lua_settop(L, 1);
    return 1;
}

/* core.multimargin_forward(inp, targets, weights|nil, p, margin, size_average) -> loss */
static int l_multimargin_forward(lua_State *L) {
    const char *fn = "multimargin_forward";
    Tensor *inp = check_dense(L, 1, fn), *targets = check_labels(L, 2, fn),
           *weights = opt_dense(L, 3, fn);
    int p = check_int_arg(L, 4, fn, "p", 1, 2);
    float margin = check_float_arg(L, 5, fn, "margin"), loss;
    check_nn(L, multimargin_forward(&loss, inp, targets, weights, p, margin, lua_toboolean(L, 6)),
             fn, 3, "input", inp, "labels", targets, "weights", weights);
    lua_pushnumber(L, loss);
    return 1;
}

/* core.multimargin_backward(dinp, inp, targets, weights|nil, p, margin, size_average, scale) */
static int l_multimargin_backward(lua_State *L) {
    const char *fn = "multimargin_backward";
    Tensor *dinp = check_dense(L, 1, fn), *inp = check_dense(L, 2, fn),
           *targets = check_labels(L, 3, fn), *weights = opt_dense(L, 4, fn);
    int p = check_int_arg(L, 5, fn, "p", 1, 2);
    float margin = check_float_arg(L, 6, fn, "margin");
    float scale = lua_isnoneornil(L, 8) ? 1.0f : check_float_arg(L, 8, fn, "scale");
    int st = multimargin_backward(dinp, inp, targets, weights, p, margin, lua_toboolean(L, 7), scale);
    check_nn(L, st, fn, 4, "dinp", dinp, "input", inp, "labels", targets, "weights", weights);
    lua_settop(L, 1);
    return 1;
}

/* core.storage_offset(t) -> t's first element, counted in elements from the start of its storage
 * (0-based). With t:shares(arena) it tells whether a parameter still sits where getParameters
 * put it. */
static int l_storage_offset(lua_State *L) {
    lua_pushnumber(L, (lua_Number)check_tensor(L, 1, "storage_offset")->offset);
    return 1;
}

static const luaL_Reg nn_functions[] = {
    {"conv2d_workspace_size", l_conv2d_workspace_size},
    {"conv2d_path", l_conv2d_path},
    {"conv2d_forward", l_conv2d_forward},
    {"conv2d_backward", l_conv2d_backward},
    {"maxpool2d_forward", l_maxpool2d_forward},
    {"maxpool2d_backward", l_maxpool2d_backward},
    {"linear_forward", l_linear_forward},
    {"linear_backward", l_linear_backward},
    {"batchnorm_forward", l_batchnorm_forward},
    {"batchnorm_backward", l_batchnorm_backward},
    {"batchnorm_forward_synced", l_batchnorm_forward_synced},
    {"batchnorm_backward_synced", l_batchnorm_backward_synced},
    {"local_reducer", l_local_reducer},
    {"relu_forward", l_relu_forward},
    {"relu_backward", l_relu_backward},
    {"dropout_forward", l_dropout_forward},
    {"dropout_backward", l_dropout_backward},
    {"logsoftmax_forward", l_logsoftmax_forward},
    {"logsoftmax_backward", l_logsoftmax_backward},
    {"labels_check", l_labels_check},
    {"nll_forward", l_nll_forward},
    {"nll_backward", l_nll_backward},
    {"cross_entropy_forward", l_cross_entropy_forward},
    {"cross_entropy_backward", l_cross_entropy_backward},
    {"avgpool2d_forward", l_avgpool2d_forward},
    {"avgpool2d_backward", l_avgpool2d_backward},
    {"activation_forward", l_activation_forward},
    {"activation_backward", l_activation_backward},
    {"spatial_dropout_forward", l_spatial_dropout_forward},
    {"spatial_dropout_backward", l_spatial_dropout_backward},
    {"softmax_forward", l_softmax_forward},
    {"softmax_backward", l_softmax_backward},
    {"pad2d_forward", l_pad2d_forward},
    {"pad2d_backward", l_pad2d_backward},
    {"concat_copy", l_concat_copy},
    {"class_nll_forward", l_class_nll_forward},
    {"class_nll_backward", l_class_nll_backward},
    {"pointwise_loss_forward", l_pointwise_loss_forward},
    {"pointwise_loss_backward", l_pointwise_loss_backward},
    {"multimargin_forward", l_multimargin_forward},
    {"multimargin_backward", l_multimargin_backward},
    {"storage_offset", l_storage_offset},
    {NULL, NULL},
};
void register_nn(lua_State *L) { luaL_register(L, NULL, nn_functions); }
