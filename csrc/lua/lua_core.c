/* lua_core.c: the module (luaopen_mnist_core) and the argument checks every binding file shares
 * (lua_common.h). The domains register themselves: lua_tensor.c, lua_random.c, lua_nn.c,
 * lua_optim.c, lua_data.c, lua_system.c. */
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

const char *dtype_name(int dtype) { return dtype == DTYPE_UINT8 ? "uint8" : "float32"; }

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

/* Reads a shape table {d1, ..., dn} at idx into shape; returns ndim. Raises on anything else. */
int check_shape_table(lua_State *L, int idx, const char *fn, int64_t *shape) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int ndim = (int)lua_objlen(L, idx);
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        raisef(L, fn, "shape must have 1 to %d dimensions, got %d", TENSOR_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            raisef(L, fn, "shape[%d] must be a number, got %s", i + 1, luaL_typename(L, -1));
        double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!(d >= 1 && d <= (double)TENSOR_MAX_NUMEL) || d != floor(d))
            raisef(L, fn, "shape[%d] must be a whole number from 1 to %lld, got %g", i + 1,
                  (long long)TENSOR_MAX_NUMEL, d);
        shape[i] = (int64_t)d;
    }
    int64_t numel;
    if (tensor_check_shape(ndim, shape, &numel) != MN_OK)
        raisef(L, fn, "shape has more than %lld elements", (long long)TENSOR_MAX_NUMEL);
    return ndim;
}

/* Reads shape from varargs numbers (view(2, 3)) or one table (view{2, 3}) starting at idx. */
int check_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape) {
    if (lua_istable(L, idx)) return check_shape_table(L, idx, fn, shape);
    int top = lua_gettop(L), ndim = top - idx + 1;
    lua_createtable(L, ndim > 0 ? ndim : 0, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushvalue(L, idx + i);
        lua_rawseti(L, -2, i + 1);
    }
    ndim = check_shape_table(L, lua_gettop(L), fn, shape);
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
    register_random(L);
    register_nn(L);
    register_optim(L);
    register_data(L);
    register_system(L);
    parallel_threads(); /* the kernels' default thread count; pins the library, stops OpenBLAS's pool */
    return 1;
}
