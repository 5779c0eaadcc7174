/* lua_tensor_reduce.c: reductions, scans and sorts (csrc/tensor/tensor_reduce.h) for Lua.
 *
 * The core functions take explicit arguments: results (nil: new tensors), the input, then
 * 1-based dims (negative from the end). lua/mnist/tensor.lua turns Torch7's call forms (x:sum(2),
 * res:sum(x, 2), x:max(), torch.max(resval, resind, x, 2), ...) into these calls. A result
 * tensor is resized to the result's shape unless it has it already (then written through its
 * strides, so a view can take it). Indices are returned 1-based (int64 tensors). */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <math.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/tensor_reduce.h"

/* The input at idx: a float32 tensor (any strides). */
static Tensor *check_input(lua_State *L, int idx, const char *fn) {
    Tensor *x = luaL_testudata(L, idx, TENSOR_MT);
    if (!x) raisef(L, fn, "expected a tensor, got %s", luaL_typename(L, idx));
    if (!x->storage) raisef(L, fn, "the tensor has been released");
    if (x->dtype != DTYPE_FLOAT32)
        raisef(L, fn, "expected a float32 tensor, got %s (convert it with :float())", dtype_name(x->dtype));
    return x;
}

/* x's sizes with dim's size `size`, into shape. */
static void reduced_shape(int64_t *shape, const Tensor *x, int dim, int64_t size) {
    for (int d = 0; d < x->ndim; d++) shape[d] = d == dim ? size : x->shape[d];
}

/* Pushes the result tensor: the one at idx (`what` names it) resized to shape unless it has it,
 * or a new one when idx holds nil. */
static Tensor *push_result(lua_State *L, int idx, const char *fn, const char *what, int dtype,
                           int ndim, const int64_t *shape) {
    if (lua_isnoneornil(L, idx)) {
        Tensor *t = push_tensor(L);
        check_status(L, tensor_init(t, dtype, ndim, shape), fn, NULL);
        account_storage(L, t);
        return t;
    }
    Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t || !t->storage) raisef(L, fn, "%s: expected a tensor, got %s", what, luaL_typename(L, idx));
    if (t->dtype != dtype)
        raisef(L, fn, "%s must be %s, got %s", what, dtype_name(dtype), dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        check_status(L, tensor_resize(t, ndim, shape), fn, what);
        account_storage(L, t);
    }
    lua_pushvalue(L, idx);
    return t;
}

/* x, or a copy of it (pushed) when the result at idx shares its storage: resizing the result
 * (torch.sum(x, x, 1)) would otherwise change or overwrite the input before it is read. */
static Tensor *apart_from(lua_State *L, Tensor *x, int idx, const char *fn) {
    Tensor *res = luaL_testudata(L, idx, TENSOR_MT);
    if (!res || !res->storage || !tensor_shares_storage(res, x)) return x;
    Tensor *copy = push_tensor(L);
    check_status(L, tensor_clone(copy, x), fn, NULL);
    return copy;
}

/* Turns a result's 0-based indices into Torch7's 1-based ones. */
static void one_based(Tensor *indices) {
    if (indices->numel == 0) return;
    if (tensor_is_contiguous(indices)) {
        int64_t *p = tensor_i64(indices);
        for (int64_t i = 0; i < indices->numel; i++) p[i] += 1;
        return;
    }
    /* a strided result view: element by element */
    int64_t index[TENSOR_MAX_DIMS] = {0};
    for (int64_t i = 0; i < indices->numel; i++) {
        int64_t *p = tensor_i64(indices) + tensor_element_offset(indices, index);
        *p += 1;
        for (int d = indices->ndim - 1; d >= 0; d--) {
            if (++index[d] < indices->shape[d]) break;
            index[d] = 0;
        }
    }
}

static const char *const reduce_ops[REDUCE_COUNT + 1] = {"sum", "prod", "mean", "var", "std", "norm", NULL};

/* core.tensor_reduce(res, x, op, dim, arg): dim nil -> a number over all elements; else res (or a
 * new tensor) = op over dim, which keeps size 1. arg: norm's p, var/std's biased flag. */
static int l_tensor_reduce(lua_State *L) {
    int op = luaL_checkoption(L, 3, NULL, reduce_ops);
    const char *fn = reduce_ops[op];
    double arg = op == REDUCE_NORM ? (lua_isnoneornil(L, 5) ? 2.0 : check_number(L, 5, fn, "p"))
                                   : (double)lua_toboolean(L, 5);
    if (lua_isnoneornil(L, 4)) {
        Tensor *x = luaL_testudata(L, 2, TENSOR_MT);
        if (!x || !x->storage) raisef(L, fn, "expected a tensor, got %s", luaL_typename(L, 2));
        if (x->dtype != DTYPE_FLOAT32 && op != REDUCE_SUM && op != REDUCE_MEAN)
            check_input(L, 2, fn); /* raises: only sum and mean count masks and indices */
        double result;
        check_status(L, tensor_reduce_all(&result, x, op, arg), fn, NULL);
        lua_pushnumber(L, result);
        return 1;
    }
    Tensor *x = check_input(L, 2, fn);
    int dim = check_dim(L, 4, x->ndim, fn, 0);
    int64_t shape[TENSOR_MAX_DIMS];
    reduced_shape(shape, x, dim, 1);
    x = apart_from(L, x, 1, fn);
    Tensor *out = push_result(L, 1, fn, "the result", DTYPE_FLOAT32, x->ndim, shape);
    check_status(L, tensor_reduce_dim(out, x, dim, op, arg), fn, NULL);
    return 1;
}

/* core.tensor_extreme(resval, resind, x, "max" | "min", dim): dim nil -> value, 1-based row-major
 * index over all elements; else values, indices (int64, 1-based) over dim. */
static int l_tensor_extreme(lua_State *L) {
    static const char *const names[] = {"max", "min", NULL};
    int want_min = luaL_checkoption(L, 4, NULL, names);
    const char *fn = names[want_min];
    Tensor *x = check_input(L, 3, fn);
    char b[64];
    if (lua_isnoneornil(L, 5)) {
        if (x->numel == 0) raisef(L, fn, "the tensor %s has no elements", shape_of(x, b, sizeof b));
        double v;
        int64_t i;
        check_status(L, tensor_extreme_all(&v, &i, x, want_min), fn, NULL);
        lua_pushnumber(L, v);
        lua_pushnumber(L, (lua_Number)(i + 1));
        return 2;
    }
    int dim = check_dim(L, 5, x->ndim, fn, 0);
    if (x->shape[dim] == 0)
        raisef(L, fn, "dim %d of %s has size 0: no %s", dim + 1, shape_of(x, b, sizeof b),
               want_min ? "minimum" : "maximum");
    int64_t shape[TENSOR_MAX_DIMS];
    reduced_shape(shape, x, dim, 1);
    x = apart_from(L, apart_from(L, x, 1, fn), 2, fn);
    Tensor *values = push_result(L, 1, fn, "the values", DTYPE_FLOAT32, x->ndim, shape);
    Tensor *indices = push_result(L, 2, fn, "the indices", DTYPE_INT64, x->ndim, shape);
    check_status(L, tensor_extreme_dim(values, indices, x, dim, want_min), fn, NULL);
    one_based(indices);
    return 2;
}

/* core.tensor_cumulate(res, x, "cumsum" | "cumprod", dim) -> res (or a new tensor). */
static int l_tensor_cumulate(lua_State *L) {
    static const char *const names[] = {"cumsum", "cumprod", NULL};
    int product = luaL_checkoption(L, 3, NULL, names);
    const char *fn = names[product];
    Tensor *x = check_input(L, 2, fn);
    int dim = check_dim(L, 4, x->ndim, fn, 0);
    x = apart_from(L, x, 1, fn);
    Tensor *out = push_result(L, 1, fn, "the result", DTYPE_FLOAT32, x->ndim, x->shape);
    check_status(L, tensor_cumulate(out, x, dim, product), fn, NULL);
    return 1;
}

/* core.tensor_sort(resval, resind, x, dim, descending) -> values, indices (1-based). */
static int l_tensor_sort(lua_State *L) {
    const char *fn = "sort";
    Tensor *x = check_input(L, 3, fn);
    int dim = check_dim(L, 4, x->ndim, fn, 0);
    int descending = lua_toboolean(L, 5);
    x = apart_from(L, apart_from(L, x, 1, fn), 2, fn);
    Tensor *values = push_result(L, 1, fn, "the values", DTYPE_FLOAT32, x->ndim, x->shape);
    Tensor *indices = push_result(L, 2, fn, "the indices", DTYPE_INT64, x->ndim, x->shape);
    check_status(L, tensor_sort(values, indices, x, dim, descending), fn, NULL);
    one_based(indices);
    return 2;
}

/* The whole number k at idx, 1..n (topk: 0..n). */
static int64_t check_k(lua_State *L, int idx, const char *fn, const Tensor *x, int dim, int64_t lo) {
    char b[64];
    if (lua_type(L, idx) != LUA_TNUMBER) raisef(L, fn, "k must be a number, got %s", luaL_typename(L, idx));
    double k = lua_tonumber(L, idx);
    if (k != floor(k) || k < (double)lo || k > (double)x->shape[dim])
        raisef(L, fn, "k = %g is out of range for dim %d of %s (%lld..%lld)", k, dim + 1,
               shape_of(x, b, sizeof b), (long long)lo, (long long)x->shape[dim]);
    return (int64_t)k;
}

/* core.tensor_topk(resval, resind, x, k, dim, largest) -> values, indices (1-based), sorted. */
static int l_tensor_topk(lua_State *L) {
    const char *fn = "topk";
    Tensor *x = check_input(L, 3, fn);
    int dim = check_dim(L, 5, x->ndim, fn, 0);
    int64_t k = check_k(L, 4, fn, x, dim, 0);
    int largest = lua_toboolean(L, 6);
    int64_t shape[TENSOR_MAX_DIMS];
    reduced_shape(shape, x, dim, k);
    x = apart_from(L, apart_from(L, x, 1, fn), 2, fn);
    Tensor *values = push_result(L, 1, fn, "the values", DTYPE_FLOAT32, x->ndim, shape);
    Tensor *indices = push_result(L, 2, fn, "the indices", DTYPE_INT64, x->ndim, shape);
    check_status(L, tensor_topk(values, indices, x, dim, k, largest), fn, NULL);
    one_based(indices);
    return 2;
}

/* core.tensor_kthvalue(resval, resind, x, k, dim, fn) -> values, indices (1-based); k nil: the
 * lower median ("median"). */
static int l_tensor_kthvalue(lua_State *L) {
    const char *fn = luaL_optstring(L, 6, "kthvalue");
    Tensor *x = check_input(L, 3, fn);
    int dim = check_dim(L, 5, x->ndim, fn, 0);
    char b[64];
    if (x->shape[dim] == 0)
        raisef(L, fn, "dim %d of %s has size 0: no %s", dim + 1, shape_of(x, b, sizeof b),
               lua_isnoneornil(L, 4) ? "median" : "k-th value");
    int64_t k = lua_isnoneornil(L, 4) ? (x->shape[dim] + 1) / 2 : check_k(L, 4, fn, x, dim, 1);
    int64_t shape[TENSOR_MAX_DIMS];
    reduced_shape(shape, x, dim, 1);
    x = apart_from(L, apart_from(L, x, 1, fn), 2, fn);
    Tensor *values = push_result(L, 1, fn, "the values", DTYPE_FLOAT32, x->ndim, shape);
    Tensor *indices = push_result(L, 2, fn, "the indices", DTYPE_INT64, x->ndim, shape);
    check_status(L, tensor_kthvalue(values, indices, x, dim, k), fn, NULL);
    one_based(indices);
    return 2;
}

/* core.tensor_mode(resval, resind, x, dim) -> values, indices (1-based). */
static int l_tensor_mode(lua_State *L) {
    const char *fn = "mode";
    Tensor *x = check_input(L, 3, fn);
    int dim = check_dim(L, 4, x->ndim, fn, 0);
    char b[64];
    if (x->shape[dim] == 0)
        raisef(L, fn, "dim %d of %s has size 0: no mode", dim + 1, shape_of(x, b, sizeof b));
    int64_t shape[TENSOR_MAX_DIMS];
    reduced_shape(shape, x, dim, 1);
    x = apart_from(L, apart_from(L, x, 1, fn), 2, fn);
    Tensor *values = push_result(L, 1, fn, "the values", DTYPE_FLOAT32, x->ndim, shape);
    Tensor *indices = push_result(L, 2, fn, "the indices", DTYPE_INT64, x->ndim, shape);
    check_status(L, tensor_mode(values, indices, x, dim), fn, NULL);
    one_based(indices);
    return 2;
}

/* core.tensor_any_all(mask, "any" | "all") -> boolean. */
static int l_tensor_any_all(lua_State *L) {
    static const char *const names[] = {"any", "all", NULL};
    int want_all = luaL_checkoption(L, 2, NULL, names);
    const char *fn = names[want_all];
    Tensor *x = luaL_testudata(L, 1, TENSOR_MT);
    if (!x || !x->storage) raisef(L, fn, "expected a tensor, got %s", luaL_typename(L, 1));
    if (x->dtype != DTYPE_UINT8)
        raisef(L, fn, "expected a uint8 mask (as x:gt(0) gives), got %s", dtype_name(x->dtype));
    int result;
    check_status(L, tensor_any_all(&result, x, want_all), fn, NULL);
    lua_pushboolean(L, result);
    return 1;
}

static const luaL_Reg reduce_functions[] = {
    {"tensor_reduce", l_tensor_reduce},
    {"tensor_extreme", l_tensor_extreme},
    {"tensor_cumulate", l_tensor_cumulate},
    {"tensor_sort", l_tensor_sort},
    {"tensor_topk", l_tensor_topk},
    {"tensor_kthvalue", l_tensor_kthvalue},
    {"tensor_mode", l_tensor_mode},
    {"tensor_any_all", l_tensor_any_all},
    {NULL, NULL},
};

void register_tensor_reduce(lua_State *L) { luaL_register(L, NULL, reduce_functions); }
