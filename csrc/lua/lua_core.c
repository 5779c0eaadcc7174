/* lua_core.c: the module (luaopen_mnist_core) and the argument checks every binding file shares
 * (lua_common.h). The domains register themselves: lua_tensor.c, lua_random.c, lua_nn.c,
 * lua_optim.c, lua_data.c, lua_system.c. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lua/lua_common.h"
#include "sys/parallel.h"

/* Raises "fn: message" where message is printf-formatted. Never returns (lua_error longjmps). */
void raisef(lua_State *L, const char *fn, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    luaL_error(L, "%s: %s", fn, msg);
    __builtin_unreachable();
}

/* Raises "fn: <status phrase>: detail" when st is not MN_OK. */
void check_status(lua_State *L, int st, const char *fn, const char *detail) {
    if (st == MN_OK) return;
    if (detail && *detail) raisef(L, fn, "%s: %s", mn_status_str(st), detail);
    raisef(L, fn, "%s", mn_status_str(st));
}

const char *shape_of(const Tensor *t, char *buf, size_t size) {
    return tensor_shape_str(buf, size, t);
}

const char *dtype_name(int dtype) {
    return dtype == DTYPE_UINT8 ? "uint8" : dtype == DTYPE_INT64 ? "int64" : "float32";
}

/* The tensor at idx; raises a clear error for a non-tensor or a released one. */
Tensor *check_tensor(lua_State *L, int idx, const char *fn) {
    Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t) raisef(L, fn, "argument #%d: expected a tensor, got %s", idx, luaL_typename(L, idx));
    if (!t->storage) raisef(L, fn, "argument #%d: tensor has been released", idx);
    return t;
}

Tensor *check_float(lua_State *L, int idx, const char *fn) {
    Tensor *t = check_tensor(L, idx, fn);
    if (t->dtype != DTYPE_FLOAT32)
        raisef(L, fn, "argument #%d: expected a float32 tensor, got %s", idx, dtype_name(t->dtype));
    return t;
}

/* Pushes a new, empty tensor userdata; fill it with tensor_init & co. Its __gc releases it. */
Tensor *push_tensor(lua_State *L) {
    Tensor *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_getmetatable(L, TENSOR_MT);
    lua_setmetatable(L, -2);
    return t;
}

/* The collector sees a tensor userdata's few bytes, not its malloc'd storage: a new storage
 * pays a collector step of its size, as if Lua had allocated it, so garbage tensors (module
 * buffers, a parsed IDX file) are freed at the pace of their C memory instead of staying resident. */
void account_storage(lua_State *L, const Tensor *t) {
    size_t kb = (size_t)t->numel * dtype_size(t->dtype) >> 10;
    if (kb) lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

/* Reads a shape table {d1, ..., dn} at idx into shape; returns ndim (0 for {}: an empty tensor).
 * Sizes are whole numbers >= 0; with allow_infer one of them may be -1 (view's "the rest"). */
int check_shape_table(lua_State *L, int idx, const char *fn, int64_t *shape, int allow_infer) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int ndim = (int)lua_objlen(L, idx);
    if (ndim > TENSOR_MAX_DIMS)
        raisef(L, fn, "a shape has at most %d dimensions, got %d", TENSOR_MAX_DIMS, ndim);
    int inferred = 0;
    for (int i = 0; i < ndim; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            raisef(L, fn, "size %d must be a number, got %s", i + 1, luaL_typename(L, -1));
        double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (allow_infer && d == -1 && !inferred++) {
            shape[i] = -1;
            continue;
        }
        if (!(d >= 0 && d <= (double)TENSOR_MAX_NUMEL) || d != floor(d))
            raisef(L, fn, "size %d must be a whole number from 0 to %lld%s, got %g", i + 1,
                   (long long)TENSOR_MAX_NUMEL, allow_infer ? " (or one -1)" : "", d);
        shape[i] = (int64_t)d;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) continue;
        numel *= shape[i];
        if (numel > TENSOR_MAX_NUMEL)
            raisef(L, fn, "shape has more than %lld elements", (long long)TENSOR_MAX_NUMEL);
    }
    return ndim;
}

/* Reads a shape from numbers idx..top (view(2, 3)), one table (view{2, 3}) or a tensor of sizes
 * (a LongTensor, as Torch7's LongStorage) at idx. */
int check_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape, int allow_infer) {
    if (lua_istable(L, idx)) return check_shape_table(L, idx, fn, shape, allow_infer);
    Tensor *sizes = luaL_testudata(L, idx, TENSOR_MT);
    int top = lua_gettop(L), ndim = sizes ? (int)sizes->numel : top - idx + 1;
    if (ndim > TENSOR_MAX_DIMS)
        raisef(L, fn, "a shape has at most %d dimensions, got %d", TENSOR_MAX_DIMS, ndim);
    lua_createtable(L, ndim > 0 ? ndim : 0, 0);
    for (int i = 0; i < ndim; i++) {
        if (sizes) {
            if (sizes->ndim != 1) raisef(L, fn, "a tensor of sizes must be 1-D");
            lua_pushnumber(L, tensor_get_at(sizes, i * sizes->stride[0]));
        } else {
            lua_pushvalue(L, idx + i);
        }
        lua_rawseti(L, -2, i + 1);
    }
    ndim = check_shape_table(L, lua_gettop(L), fn, shape, allow_infer);
    lua_pop(L, 1);
    return ndim;
}

float check_float_arg(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    return (float)lua_tonumber(L, idx);
}

/* A 1-based Lua index at idx, checked against size; returns it 0-based. Negative counts from the end. */
int64_t check_index(lua_State *L, int idx, int64_t size, const char *fn, int dim) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "index %d must be a number, got %s", dim, luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    if (d != floor(d)) raisef(L, fn, "index %d must be a whole number, got %g", dim, d);
    if (d < 0) d += (double)size + 1;
    if (d < 1 || d > (double)size)
        raisef(L, fn, "index %g out of range for dimension %d of size %lld", lua_tonumber(L, idx),
              dim, (long long)size);
    return (int64_t)d - 1;
}

double check_number(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

Tensor *check_contiguous(lua_State *L, int idx, const char *fn) {
    Tensor *t = check_tensor(L, idx, fn);
    if (!tensor_is_contiguous(t)) {
        char b[64];
        raisef(L, fn, "argument #%d: expected a contiguous tensor, got a strided view of shape %s "
               "(call :contiguous() first)", idx, shape_of(t, b, sizeof b));
    }
    return t;
}

Tensor *check_dense(lua_State *L, int idx, const char *fn) {
    check_contiguous(L, idx, fn);
    return check_float(L, idx, fn);
}

Tensor *opt_dense(lua_State *L, int idx, const char *fn) {
    return lua_isnoneornil(L, idx) ? NULL : check_dense(L, idx, fn);
}

int check_dim(lua_State *L, int idx, int ndim, const char *fn, int extra) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raisef(L, fn, "dim must be a number, got %s", luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    int count = ndim + (extra ? 1 : 0);
    if (d != floor(d) || d == 0 || d > count || d < -count)
        raisef(L, fn, "dim %g out of range for a %d-D tensor (1..%d, or negative from the end)", d,
               ndim, count);
    return d > 0 ? (int)d - 1 : count + (int)d;
}

/* The float32 tensor at idx, or NULL when it is nil. */
Tensor *opt_float(lua_State *L, int idx, const char *fn) {
    return lua_isnoneornil(L, idx) ? NULL : check_float(L, idx, fn);
}

/* A whole number in [lo, hi] at idx. */
int check_int_arg(lua_State *L, int idx, const char *fn, const char *what, int lo, int hi) {
    double d = check_float_arg(L, idx, fn, what), f = floor(d);
    if (f != d || d < lo || d > hi)
        raisef(L, fn, "%s must be a whole number from %d to %d, got %g", what, lo, hi, d);
    return (int)d;
}

/* The generator at idx (an "mnist.Rng" userdata). C kernels that draw random numbers take it. */
Rng *check_rng(lua_State *L, int idx, const char *fn) {
    Rng *r = luaL_testudata(L, idx, RNG_MT);
    if (!r) raisef(L, fn, "argument #%d: expected a random generator, got %s", idx, luaL_typename(L, idx));
    return r;
}

int luaopen_mnist_core(lua_State *L) {
    lua_newtable(L); /* the module */
    register_tensor(L);
    register_tensor_reduce(L);
    register_tensor_index(L);
    register_tensor_linalg(L);
    register_random(L);
    register_nn(L);
    register_optim(L);
    register_data(L);
    register_system(L);
    parallel_threads(); /* the kernels' default thread count; pins the library, stops OpenBLAS's pool */
    return 1;
}
