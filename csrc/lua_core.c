/* lua_core.c: the one binding file between Lua and the C core (luaopen_mnist_core).
 *
 * Rules (lua-cjson's): check every argument before allocating; allocate C memory only inside a
 * userdata that already owns it (its __gc frees it), so raising a Lua error never leaks; turn every
 * mn_status into an error message that names the function and the shapes involved.
 * Sections: helpers, tensor, BLAS, module table. Later concepts (nn kernels, optim, data) add a
 * section each and a luaL_Reg table registered in luaopen_mnist_core. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "activation.h"
#include "batchnorm.h"
#include "conv.h"
#include "fileio.h"
#include "gemm.h"
#include "idx.h"
#include "image.h"
#include "linear.h"
#include "loader.h"
#include "loss.h"
#include "optim.h"
#include "parallel.h"
#include "pool.h"
#include "process.h"
#include "record.h"
#include "rng.h"
#include "tensor.h"

#define TENSOR_MT "mnist.Tensor"
#define RNG_MT "mnist.Rng"

/* ======================================================================== helpers */

/* Raises "fn: message" where message is printf-formatted. Never returns (lua_error longjmps). */
__attribute__((noreturn, format(printf, 3, 4)))
static void raise(lua_State *L, const char *fn, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    luaL_error(L, "%s: %s", fn, msg);
    __builtin_unreachable();
}

/* Raises "fn: <status phrase>: detail" when st is not MN_OK. */
static void check_status(lua_State *L, int st, const char *fn, const char *detail) {
    if (st == MN_OK) return;
    if (detail && *detail) raise(L, fn, "%s: %s", mn_status_str(st), detail);
    raise(L, fn, "%s", mn_status_str(st));
}

static const char *shape_of(const Tensor *t, char *buf, size_t size) {
    return tensor_shape_str(buf, size, t);
}

static const char *dtype_name(int dtype) { return dtype == DTYPE_UINT8 ? "uint8" : "float32"; }

/* The tensor at idx; raises a clear error for a non-tensor or a released one. */
static Tensor *check_tensor(lua_State *L, int idx, const char *fn) {
    Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t) raise(L, fn, "argument #%d: expected a tensor, got %s", idx, luaL_typename(L, idx));
    if (!t->storage) raise(L, fn, "argument #%d: tensor has been released", idx);
    return t;
}

static Tensor *check_float(lua_State *L, int idx, const char *fn) {
    Tensor *t = check_tensor(L, idx, fn);
    if (t->dtype != DTYPE_FLOAT32)
        raise(L, fn, "argument #%d: expected a float32 tensor, got %s", idx, dtype_name(t->dtype));
    return t;
}

/* Pushes a new, empty tensor userdata; fill it with tensor_init & co. Its __gc releases it. */
static Tensor *push_tensor(lua_State *L) {
    Tensor *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    luaL_getmetatable(L, TENSOR_MT);
    lua_setmetatable(L, -2);
    return t;
}

/* The collector sees a tensor userdata's few bytes, not its malloc'd storage: a new storage
 * pays a collector step of its size, as if Lua had allocated it, so garbage tensors (module
 * buffers, a parsed IDX file) are freed at the pace of their C memory instead of staying resident. */
static void account_storage(lua_State *L, const Tensor *t) {
    size_t kb = (size_t)t->numel * dtype_size(t->dtype) >> 10;
    if (kb) lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

/* Reads a shape table {d1, ..., dn} at idx into shape; returns ndim. Raises on anything else. */
static int check_shape_table(lua_State *L, int idx, const char *fn, int64_t *shape) {
    luaL_checktype(L, idx, LUA_TTABLE);
    int ndim = (int)lua_objlen(L, idx);
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        raise(L, fn, "shape must have 1 to %d dimensions, got %d", TENSOR_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            raise(L, fn, "shape[%d] must be a number, got %s", i + 1, luaL_typename(L, -1));
        double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        if (!(d >= 1 && d <= (double)TENSOR_MAX_NUMEL) || d != floor(d))
            raise(L, fn, "shape[%d] must be a whole number from 1 to %lld, got %g", i + 1,
                  (long long)TENSOR_MAX_NUMEL, d);
        shape[i] = (int64_t)d;
    }
    int64_t numel;
    if (tensor_check_shape(ndim, shape, &numel) != MN_OK)
        raise(L, fn, "shape has more than %lld elements", (long long)TENSOR_MAX_NUMEL);
    return ndim;
}

/* Reads shape from varargs numbers (view(2, 3)) or one table (view{2, 3}) starting at idx. */
static int check_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape) {
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

static float check_float_arg(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    return (float)lua_tonumber(L, idx);
}

/* A 1-based Lua index at idx, checked against size; returns it 0-based. Negative counts from the end. */
static int64_t check_index(lua_State *L, int idx, int64_t size, const char *fn, int dim) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise(L, fn, "index %d must be a number, got %s", dim, luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    if (d != floor(d)) raise(L, fn, "index %d must be a whole number, got %g", dim, d);
    if (d < 0) d += (double)size + 1;
    if (d < 1 || d > (double)size)
        raise(L, fn, "index %g out of range for dimension %d of size %lld", lua_tonumber(L, idx),
              dim, (long long)size);
    return (int64_t)d - 1;
}

/* ======================================================================== tensor */

static int l_tensor_new(lua_State *L) {
    const char *fn = "tensor";
    static const char *const dtypes[] = {"float32", "uint8", NULL};
    int dtype = luaL_checkoption(L, 1, "float32", dtypes);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, dtype, ndim, shape), fn, NULL);
    account_storage(L, t);
    return 1;
}

/* Walks a nested table at idx: fills shape on the first descent, then checks every row. */
static void table_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape) {
    int64_t n = (int64_t)lua_objlen(L, idx);
    if (depth >= TENSOR_MAX_DIMS) raise(L, "tensor", "nested table is deeper than %d", TENSOR_MAX_DIMS);
    if (n == 0) raise(L, "tensor", "empty table at depth %d", depth + 1);
    if (depth == *ndim) {
        *ndim = depth + 1;
        shape[depth] = n;
    } else if (shape[depth] != n) {
        raise(L, "tensor", "ragged table: a row at depth %d has %lld elements, expected %lld",
              depth + 1, (long long)n, (long long)shape[depth]);
    }
    lua_rawgeti(L, idx, 1);
    int nested = lua_istable(L, -1);
    lua_pop(L, 1);
    if (!nested) {
        if (depth + 1 != *ndim)
            raise(L, "tensor", "ragged table: a number at depth %d, expected a table", depth + 1);
        return;
    }
    for (int64_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (!lua_istable(L, -1))
            raise(L, "tensor", "ragged table: element %lld at depth %d is a %s, expected a table",
                  (long long)i, depth + 1, luaL_typename(L, -1));
        table_shape(L, lua_gettop(L), depth + 1, ndim, shape);
        lua_pop(L, 1);
    }
}

static void table_fill(lua_State *L, int idx, int depth, int ndim, float **out) {
    int n = (int)lua_objlen(L, idx);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (depth + 1 < ndim) {
            table_fill(L, lua_gettop(L), depth + 1, ndim, out);
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER)
                raise(L, "tensor", "element %d at depth %d is a %s, expected a number", i,
                      depth + 1, luaL_typename(L, -1));
            *(*out)++ = (float)lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
}

static int l_tensor_from_table(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = 0;
    table_shape(L, 1, 0, &ndim, shape);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, DTYPE_FLOAT32, ndim, shape), "tensor", NULL);
    float *p = tensor_f32(t);
    table_fill(L, 1, 0, ndim, &p);
    return 1;
}

/* core.tensor_from_bytes(s, shape [, scale [, shift]]): uint8 tensor, or float32 = byte*scale+shift. */
static int l_tensor_from_bytes(lua_State *L) {
    const char *fn = "tensor.frombytes";
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape);
    int64_t numel;
    tensor_check_shape(ndim, shape, &numel);
    if ((int64_t)len != numel)
        raise(L, fn, "%lld bytes do not fill a tensor of %lld elements", (long long)len,
              (long long)numel);
    int as_bytes = lua_isnoneornil(L, 3);
    float scale = as_bytes ? 1.0f : check_float_arg(L, 3, fn, "scale");
    float shift = lua_isnoneornil(L, 4) ? 0.0f : check_float_arg(L, 4, fn, "shift");
    Tensor *t = push_tensor(L);
    if (as_bytes) {
        check_status(L, tensor_init(t, DTYPE_UINT8, ndim, shape), fn, NULL);
        memcpy(tensor_u8(t), s, len);
        return 1;
    }
    check_status(L, tensor_init(t, DTYPE_FLOAT32, ndim, shape), fn, NULL);
    float *p = tensor_f32(t);
    for (size_t i = 0; i < len; i++) p[i] = (float)(unsigned char)s[i] * scale + shift;
    return 1;
}

/* core.tensor_from_raw(s, shape): float32 tensor from raw little-endian float32 bytes (the inverse
 * of t:tobytes() for float tensors). */
static int l_tensor_from_raw(lua_State *L) {
    const char *fn = "tensor.fromraw";
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape);
    int64_t numel;
    tensor_check_shape(ndim, shape, &numel);
    if ((int64_t)len != numel * 4)
        raise(L, fn, "%lld bytes do not hold %lld float32 values", (long long)len, (long long)numel);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, DTYPE_FLOAT32, ndim, shape), fn, NULL);
    memcpy(tensor_f32(t), s, len);
    return 1;
}

static int l_tensor_gc(lua_State *L) {
    Tensor *t = luaL_checkudata(L, 1, TENSOR_MT);
    tensor_release(t);
    return 0;
}

static int l_tensor_size(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "size");
    if (!lua_isnoneornil(L, 2)) {
        int64_t d = check_index(L, 2, t->ndim, "size", 1);
        lua_pushnumber(L, (lua_Number)t->shape[d]);
        return 1;
    }
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushnumber(L, (lua_Number)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_tensor_dim(lua_State *L) {
    lua_pushinteger(L, check_tensor(L, 1, "dim")->ndim);
    return 1;
}

static int l_tensor_numel(lua_State *L) {
    lua_pushnumber(L, (lua_Number)check_tensor(L, 1, "numel")->numel);
    return 1;
}

static int l_tensor_type(lua_State *L) {
    lua_pushstring(L, dtype_name(check_tensor(L, 1, "type")->dtype));
    return 1;
}

static int l_tensor_len(lua_State *L) {
    lua_pushnumber(L, (lua_Number)check_tensor(L, 1, "#")->shape[0]);
    return 1;
}

/* Flat 0-based offset of the element at 1-based indices in args [first, first + ndim). */
static int64_t element_offset(lua_State *L, const Tensor *t, int first, const char *fn) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off = off * t->shape[d] + check_index(L, first + d, t->shape[d], fn, d + 1);
    return off;
}

static void push_element(lua_State *L, const Tensor *t, int64_t off) {
    if (t->dtype == DTYPE_UINT8) lua_pushinteger(L, tensor_u8(t)[off]);
    else lua_pushnumber(L, tensor_f32(t)[off]);
}

static void store_element(lua_State *L, Tensor *t, int64_t off, int idx, const char *fn) {
    check_float_arg(L, idx, fn, "value");
    double v = lua_tonumber(L, idx);
    if (t->dtype == DTYPE_UINT8) {
        if (!(v >= 0 && v <= 255) || v != floor(v))
            raise(L, fn, "value %g does not fit a uint8 tensor", v);
        tensor_u8(t)[off] = (uint8_t)v;
    } else {
        tensor_f32(t)[off] = (float)v;
    }
}

/* t:get(i, j, ...) with one 1-based index per dim. */
static int l_tensor_get(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "get");
    if (lua_gettop(L) - 1 != t->ndim) {
        char b[64];
        raise(L, "get", "tensor of shape %s needs %d indices, got %d", shape_of(t, b, sizeof b),
              t->ndim, lua_gettop(L) - 1);
    }
    push_element(L, t, element_offset(L, t, 2, "get"));
    return 1;
}

/* t:set(i, j, ..., value) with one 1-based index per dim. Returns t. */
static int l_tensor_set(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "set");
    if (lua_gettop(L) - 2 != t->ndim) {
        char b[64];
        raise(L, "set", "tensor of shape %s needs %d indices and a value, got %d arguments",
              shape_of(t, b, sizeof b), t->ndim, lua_gettop(L) - 1);
    }
    int64_t off = element_offset(L, t, 2, "set");
    store_element(L, t, off, lua_gettop(L), "set");
    lua_settop(L, 1);
    return 1;
}

/* t:select(i): view of t[i] along the first dim (1-based). */
static int l_tensor_select(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "select");
    int64_t i = check_index(L, 2, t->shape[0], "select", 1);
    Tensor *out = push_tensor(L);
    check_status(L, tensor_select(out, t, i), "select", NULL);
    return 1;
}

/* t:narrow(start, length): view of rows start..start+length-1 along the first dim (1-based). */
static int l_tensor_narrow(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "narrow");
    int64_t start = check_index(L, 2, t->shape[0], "narrow", 1);
    double len = luaL_checknumber(L, 3);
    if (len != floor(len) || len < 1 || len > (double)(t->shape[0] - start)) {
        char b[64];
        raise(L, "narrow", "length %g from row %lld does not fit shape %s", len,
              (long long)start + 1, shape_of(t, b, sizeof b));
    }
    Tensor *out = push_tensor(L);
    check_status(L, tensor_narrow(out, t, start, (int64_t)len), "narrow", NULL);
    return 1;
}

/* __index: t[i] selects along the first dim (a number for a 1-D tensor); names find methods. */
static int l_tensor_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TNUMBER) {
        Tensor *t = check_tensor(L, 1, "[]");
        int64_t i = check_index(L, 2, t->shape[0], "[]", 1);
        if (t->ndim == 1) {
            push_element(L, t, i);
            return 1;
        }
        Tensor *out = push_tensor(L);
        check_status(L, tensor_select(out, t, i), "[]", NULL);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* __newindex: t[i] = v for a 1-D tensor; t[i] = x copies a tensor or fills a number into row i. */
static int l_tensor_newindex(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "[]=");
    if (lua_type(L, 2) != LUA_TNUMBER)
        raise(L, "[]=", "tensors take numeric indices only, got %s", luaL_typename(L, 2));
    int64_t i = check_index(L, 2, t->shape[0], "[]=", 1);
    if (t->ndim == 1) {
        store_element(L, t, i, 3, "[]=");
        return 0;
    }
    Tensor row = {0};
    check_status(L, tensor_select(&row, t, i), "[]=", NULL);
    int st;
    if (lua_type(L, 3) == LUA_TNUMBER) {
        st = tensor_fill(&row, (float)lua_tonumber(L, 3));
    } else {
        Tensor *src = luaL_testudata(L, 3, TENSOR_MT);
        st = src && src->storage ? tensor_copy(&row, src) : MN_ERR_ARG;
    }
    tensor_release(&row);
    check_status(L, st, "[]=", "row assignment takes a number or a tensor of the row's size");
    return 0;
}

static int l_tensor_fill(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "fill");
    float v = check_float_arg(L, 2, "fill", "value");
    check_status(L, tensor_fill(t, v), "fill",
                 t->dtype == DTYPE_UINT8 ? "a uint8 tensor takes whole numbers 0..255" : NULL);
    lua_settop(L, 1);
    return 1;
}

static void check_same_numel(lua_State *L, const Tensor *a, const Tensor *b, const char *fn) {
    if (a->numel == b->numel) return;
    char ba[64], bb[64];
    raise(L, fn, "size mismatch: %s (%lld elements) vs %s (%lld elements)", shape_of(a, ba, sizeof ba),
          (long long)a->numel, shape_of(b, bb, sizeof bb), (long long)b->numel);
}

/* dst:copy(src): same element count; uint8 -> float32 converts. Returns dst. */
static int l_tensor_copy(lua_State *L) {
    Tensor *dst = check_tensor(L, 1, "copy");
    Tensor *src = check_tensor(L, 2, "copy");
    check_same_numel(L, dst, src, "copy");
    if (dst->dtype == DTYPE_UINT8 && src->dtype != DTYPE_UINT8)
        raise(L, "copy", "cannot copy float32 into uint8 (it would truncate)");
    check_status(L, tensor_copy(dst, src), "copy", NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_clone(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "clone");
    Tensor *out = push_tensor(L);
    check_status(L, tensor_clone(out, t), "clone", NULL);
    account_storage(L, out);
    return 1;
}

/* t:view(d1, ...) or t:view{d1, ...}: same storage, another shape of the same element count. */
static int l_tensor_view(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "view");
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_args(L, 2, "view", shape);
    Tensor *out = push_tensor(L);
    if (tensor_view(out, t, ndim, shape) != MN_OK) {
        char b[64];
        Tensor want = {0};
        want.ndim = ndim;
        memcpy(want.shape, shape, sizeof shape);
        char w[64];
        raise(L, "view", "cannot view %s (%lld elements) as %s", shape_of(t, b, sizeof b),
              (long long)t->numel, tensor_shape_str(w, sizeof w, &want));
    }
    return 1;
}

/* t:set_storage(arena, offset): t's elements now live in arena at element `offset` (0-based).
 * Used by getParameters to move parameters into one flat arena. Returns t. */
static int l_tensor_set_storage(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "set_storage");
    Tensor *src = check_tensor(L, 2, "set_storage");
    double off = luaL_checknumber(L, 3);
    if (off < 0 || off != floor(off)) raise(L, "set_storage", "offset must be a whole number >= 0");
    char ba[64], bb[64];
    if (tensor_set_storage(t, src, (size_t)off) != MN_OK)
        raise(L, "set_storage", "%s at offset %.0f does not fit in %s", shape_of(t, ba, sizeof ba),
              off, shape_of(src, bb, sizeof bb));
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_shares(lua_State *L) {
    Tensor *a = check_tensor(L, 1, "shares");
    Tensor *b = check_tensor(L, 2, "shares");
    lua_pushboolean(L, tensor_shares_storage(a, b));
    return 1;
}

/* t:add(x) with a tensor or a number; t:mul(x) likewise (elementwise); in place, return t. */
static int elementwise(lua_State *L, const char *fn, int is_mul) {
    Tensor *t = check_float(L, 1, fn);
    int st;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        float v = (float)lua_tonumber(L, 2);
        st = is_mul ? tensor_scale(t, v) : tensor_add_scalar(t, v);
    } else {
        Tensor *x = check_float(L, 2, fn);
        check_same_numel(L, t, x, fn);
        st = is_mul ? tensor_mul(t, x) : tensor_add(t, x);
    }
    check_status(L, st, fn, NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_add(lua_State *L) { return elementwise(L, "add", 0); }
static int l_tensor_mul(lua_State *L) { return elementwise(L, "mul", 1); }

static int l_tensor_scale(lua_State *L) {
    Tensor *t = check_float(L, 1, "scale");
    check_status(L, tensor_scale(t, check_float_arg(L, 2, "scale", "factor")), "scale", NULL);
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_exp(lua_State *L) {
    check_status(L, tensor_exp(check_float(L, 1, "exp")), "exp", NULL);
    lua_settop(L, 1);
    return 1;
}

/* y:axpy(alpha, x): y += alpha * x. Returns y. */
static int l_tensor_axpy(lua_State *L) {
    Tensor *y = check_float(L, 1, "axpy");
    float alpha = check_float_arg(L, 2, "axpy", "alpha");
    Tensor *x = check_float(L, 3, "axpy");
    check_same_numel(L, y, x, "axpy");
    check_status(L, tensor_axpy(y, alpha, x), "axpy", NULL);
    lua_settop(L, 1);
    return 1;
}

/* Reductions take no dim (over everything) or the last dim (-1 or t:dim()), per row. */
static int reduce_rows_arg(lua_State *L, const Tensor *t, const char *fn) {
    if (lua_isnoneornil(L, 2)) return 0;
    double d = luaL_checknumber(L, 2);
    if (d != -1 && d != t->ndim)
        raise(L, fn, "reduces over all elements or over the last dim (-1 or %d), got %g", t->ndim, d);
    return 1;
}

/* A new float tensor of t's shape without its last dim ((1) for a 1-D t). */
static Tensor *push_rows_tensor(lua_State *L, const Tensor *t, const char *fn) {
    int64_t shape[TENSOR_MAX_DIMS] = {1, 1, 1, 1};
    int ndim = t->ndim > 1 ? t->ndim - 1 : 1;
    for (int i = 0; i + 1 < t->ndim; i++) shape[i] = t->shape[i];
    Tensor *out = push_tensor(L);
    check_status(L, tensor_init(out, DTYPE_FLOAT32, ndim, shape), fn, NULL);
    return out;
}

static int sum_or_mean(lua_State *L, const char *fn, int mean) {
    Tensor *t = check_float(L, 1, fn);
    if (!reduce_rows_arg(L, t, fn)) {
        double s;
        check_status(L, tensor_sum_all(&s, t), fn, NULL);
        lua_pushnumber(L, mean ? s / (double)t->numel : s);
        return 1;
    }
    Tensor *out = push_rows_tensor(L, t, fn);
    check_status(L, tensor_sum_rows(out, t), fn, NULL);
    if (mean) tensor_scale(out, 1.0f / (float)t->shape[t->ndim - 1]);
    return 1;
}

static int l_tensor_sum(lua_State *L) { return sum_or_mean(L, "sum", 0); }
static int l_tensor_mean(lua_State *L) { return sum_or_mean(L, "mean", 1); }

/* Pushes a table of 1-based row argmax indices; the index buffer lives in a userdata (no leak). */
static int64_t *row_indices(lua_State *L, const Tensor *t, const char *fn, Tensor **values) {
    *values = push_rows_tensor(L, t, fn);
    int64_t rows = (*values)->numel;
    int64_t *idx = lua_newuserdata(L, (size_t)rows * sizeof *idx);
    check_status(L, tensor_max_rows(*values, idx, t), fn, NULL);
    return idx;
}

static void push_index_table(lua_State *L, const int64_t *idx, int64_t rows) {
    lua_createtable(L, (int)rows, 0);
    for (int64_t r = 0; r < rows; r++) {
        lua_pushnumber(L, (lua_Number)(idx[r] + 1));
        lua_rawseti(L, -2, (int)r + 1);
    }
}

/* t:max() -> value, flat 1-based index; t:max(-1) -> row maxima (tensor), row argmax (table). */
static int l_tensor_max(lua_State *L) {
    Tensor *t = check_float(L, 1, "max");
    if (!reduce_rows_arg(L, t, "max")) {
        float v;
        int64_t i;
        check_status(L, tensor_max_all(&v, &i, t), "max", NULL);
        lua_pushnumber(L, v);
        lua_pushnumber(L, (lua_Number)(i + 1));
        return 2;
    }
    Tensor *values;
    int64_t *idx = row_indices(L, t, "max", &values);
    push_index_table(L, idx, values->numel);
    lua_remove(L, -2); /* the index buffer, kept alive until the table was built */
    return 2;
}

/* t:argmax(): over the last dim, 1-based, first on ties. A number for a 1-D tensor, else a table
 * with one index per row. */
static int l_tensor_argmax(lua_State *L) {
    Tensor *t = check_float(L, 1, "argmax");
    lua_settop(L, 1);
    Tensor *values;
    int64_t *idx = row_indices(L, t, "argmax", &values);
    if (t->ndim == 1) {
        lua_pushnumber(L, (lua_Number)(idx[0] + 1));
        return 1;
    }
    push_index_table(L, idx, values->numel);
    return 1;
}

static void push_table(lua_State *L, const Tensor *t, int dim, int64_t *off) {
    lua_createtable(L, (int)t->shape[dim], 0);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        if (dim + 1 < t->ndim && dim + 1 < TENSOR_MAX_DIMS) push_table(L, t, dim + 1, off);
        else push_element(L, t, (*off)++);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static int l_tensor_totable(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "totable");
    int64_t off = 0;
    push_table(L, t, 0, &off);
    return 1;
}

/* t:float([scale [, shift]]): a new float32 copy; uint8 values become byte * scale + shift. */
static int l_tensor_float(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "float");
    float scale = lua_isnoneornil(L, 2) ? 1.0f : check_float_arg(L, 2, "float", "scale");
    float shift = lua_isnoneornil(L, 3) ? 0.0f : check_float_arg(L, 3, "float", "shift");
    Tensor *out = push_tensor(L);
    check_status(L, tensor_init(out, DTYPE_FLOAT32, t->ndim, t->shape), "float", NULL);
    if (t->dtype == DTYPE_UINT8) {
        check_status(L, tensor_bytes_to_float(out, t, scale, shift), "float", NULL);
    } else {
        check_status(L, tensor_copy(out, t), "float", NULL);
        if (scale != 1.0f) tensor_scale(out, scale);
        if (shift != 0.0f) tensor_add_scalar(out, shift);
    }
    return 1;
}

/* ======================================================================== rng */

/* The generator at idx (an "mnist.Rng" userdata). C kernels that draw random numbers take it. */
static Rng *check_rng(lua_State *L, int idx, const char *fn) {
    Rng *r = luaL_testudata(L, idx, RNG_MT);
    if (!r) raise(L, fn, "argument #%d: expected a random generator, got %s", idx, luaL_typename(L, idx));
    return r;
}

static uint64_t check_seed(lua_State *L, int idx, const char *fn) {
    double d = luaL_checknumber(L, idx);
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        raise(L, fn, "seed must be a whole number from 0 to 2^53, got %g", d);
    return (uint64_t)d;
}

/* core.rng(seed) -> a new generator. */
static int l_rng_new(lua_State *L) {
    uint64_t seed = check_seed(L, 1, "rng");
    Rng *r = lua_newuserdata(L, sizeof *r);
    rng_seed(r, seed);
    luaL_getmetatable(L, RNG_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int l_rng_seed(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:seed");
    rng_seed(r, check_seed(L, 2, "rng:seed"));
    lua_settop(L, 1);
    return 1;
}

/* rng:uniform([lo, hi]) -> a number in [lo, hi), default [0, 1). */
static int l_rng_uniform(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:uniform");
    double lo = luaL_optnumber(L, 2, 0), hi = luaL_optnumber(L, 3, 1);
    lua_pushnumber(L, lo + (hi - lo) * rng_uniform_double(r));
    return 1;
}

/* rng:random(n) -> an integer uniform in 1..n, like math.random(n). */
static int l_rng_random(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:random");
    double n = luaL_checknumber(L, 2);
    if (!(n >= 1 && n <= 9007199254740992.0) || n != floor(n))
        raise(L, "rng:random", "n must be a whole number >= 1, got %g", n);
    lua_pushnumber(L, (lua_Number)(rng_below(r, (uint64_t)n) + 1));
    return 1;
}

static int l_rng_normal(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:normal");
    double mean = luaL_optnumber(L, 2, 0), std = luaL_optnumber(L, 3, 1);
    lua_pushnumber(L, mean + std * rng_normal(r));
    return 1;
}

/* rng:permutation(n) -> a table holding 1..n in random order. */
static int l_rng_permutation(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:permutation");
    double n = luaL_checknumber(L, 2);
    if (!(n >= 1 && n <= (double)TENSOR_MAX_NUMEL) || n != floor(n))
        raise(L, "rng:permutation", "n must be a whole number from 1 to %lld, got %g",
              (long long)TENSOR_MAX_NUMEL, n);
    int32_t *perm = lua_newuserdata(L, (size_t)n * sizeof *perm); /* collected, never leaked */
    rng_permutation(r, perm, (int64_t)n);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < (int64_t)n; i++) {
        lua_pushnumber(L, perm[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* rng:fill_uniform(t, lo, hi) / rng:fill_normal(t, mean, std): fill a float tensor; return it. */
static int l_rng_fill_uniform(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:fill_uniform");
    Tensor *t = check_float(L, 2, "rng:fill_uniform");
    float lo = check_float_arg(L, 3, "rng:fill_uniform", "lo");
    float hi = check_float_arg(L, 4, "rng:fill_uniform", "hi");
    check_status(L, rng_fill_uniform(t, r, lo, hi), "rng:fill_uniform", NULL);
    lua_settop(L, 2);
    return 1;
}

static int l_rng_fill_normal(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:fill_normal");
    Tensor *t = check_float(L, 2, "rng:fill_normal");
    float mean = check_float_arg(L, 3, "rng:fill_normal", "mean");
    float std = check_float_arg(L, 4, "rng:fill_normal", "std");
    check_status(L, rng_fill_normal(t, r, mean, std), "rng:fill_normal", NULL);
    lua_settop(L, 2);
    return 1;
}

/* rng:state() -> 32-byte string; rng:set_state(s) restores it (checkpoints). */
static int l_rng_state(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:state");
    unsigned char buf[32];
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) buf[i * 8 + b] = (unsigned char)(r->s[i] >> (8 * b));
    lua_pushlstring(L, (const char *)buf, sizeof buf);
    return 1;
}

static int l_rng_set_state(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:set_state");
    size_t len;
    const unsigned char *buf = (const unsigned char *)luaL_checklstring(L, 2, &len);
    if (len != 32) raise(L, "rng:set_state", "state must be 32 bytes, got %d", (int)len);
    uint64_t s[4] = {0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) s[i] |= (uint64_t)buf[i * 8 + b] << (8 * b);
    if (!(s[0] | s[1] | s[2] | s[3])) raise(L, "rng:set_state", "an all-zero state is invalid");
    memcpy(r->s, s, sizeof s);
    lua_settop(L, 1);
    return 1;
}

/* ======================================================================== files */

/* The byte chunks of argument arg: a string, a tensor (its raw little-endian bytes) or a list of
 * them, as (pointers, lengths) in userdata on the stack; returns their count. The chunks stay
 * referenced by the argument, so they are not collected while C reads them. */
static int check_chunks(lua_State *L, int arg, const char *fn, const void ***chunks, size_t **lens) {
    int single = !lua_istable(L, arg);
    int n = single ? 1 : (int)lua_objlen(L, arg);
    *chunks = lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof **chunks);
    *lens = lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof **lens);
    for (int i = 0; i < n; i++) {
        if (single) lua_pushvalue(L, arg);
        else lua_rawgeti(L, arg, i + 1);
        Tensor *t = luaL_testudata(L, -1, TENSOR_MT);
        if (t && t->storage) {
            (*chunks)[i] = (char *)t->storage->data + t->offset * dtype_size(t->dtype);
            (*lens)[i] = (size_t)t->numel * dtype_size(t->dtype);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            (*chunks)[i] = lua_tolstring(L, -1, &(*lens)[i]);
        } else {
            raise(L, fn, "chunk %d must be a string or a tensor, got %s", i + 1, luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    return n;
}

/* core.sha256(chunks) -> 64 hex digits of the bytes of a string, a tensor or a list of them
 * (hashed in place: no concatenated copy). */
static int l_sha256(lua_State *L) {
    const void **chunks;
    size_t *lens;
    luaL_checkany(L, 1);
    int n = check_chunks(L, 1, "sha256", &chunks, &lens);
    uint8_t digest[32];
    char hex[65];
    check_status(L, sha256_chunks(digest, chunks, lens, n), "sha256", NULL);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 1;
}

/* core.sha256_file(path) -> 64 hex digits, or nil and "path: reason". */
static int l_sha256_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    uint8_t digest[32];
    char hex[65];
    if (sha256_file(digest, path) != MN_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 1;
}

/* core.write_atomic(path, chunks): chunks is a string, a tensor, or a list of them (a tensor
 * contributes its raw little-endian bytes). Returns true, or nil and "path: reason"; the previous
 * file at path is untouched on failure. */
static int l_write_atomic(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const void **chunks;
    size_t *lens;
    int n = check_chunks(L, 2, "write_atomic", &chunks, &lens);
    if (file_write_atomic(path, chunks, lens, n) != MN_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.mkdir_p(path) -> true, or nil and "path: reason". */
static int l_mkdir_p(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (file_mkdir_p(path) != MN_OK) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* t:tobytes() -> the raw little-endian bytes of t's elements. */
static int l_tensor_tobytes(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "tobytes");
    lua_pushlstring(L, (const char *)t->storage->data + t->offset * dtype_size(t->dtype),
                    (size_t)t->numel * dtype_size(t->dtype));
    return 1;
}

/* ======================================================================== BLAS */

/* core.matmul(c, a, b, trans_a, trans_b, alpha, beta): c = alpha*op(a)@op(b) + beta*c. */
static int l_matmul(lua_State *L) {
    const char *fn = "matmul";
    Tensor *c = check_float(L, 1, fn), *a = check_float(L, 2, fn), *b = check_float(L, 3, fn);
    int ta = lua_toboolean(L, 4), tb = lua_toboolean(L, 5);
    float alpha = lua_isnoneornil(L, 6) ? 1.0f : check_float_arg(L, 6, fn, "alpha");
    float beta = lua_isnoneornil(L, 7) ? 0.0f : check_float_arg(L, 7, fn, "beta");
    char bc[64], ba[64], bb[64];
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2)
        raise(L, fn, "expected 2-D tensors, got a %s, b %s, out %s", shape_of(a, ba, sizeof ba),
              shape_of(b, bb, sizeof bb), shape_of(c, bc, sizeof bc));
    int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
    int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (k != kb)
        raise(L, fn, "inner sizes differ: a%s %s b%s %s (%lld vs %lld)", ta ? "^T" : "",
              shape_of(a, ba, sizeof ba), tb ? "^T" : "", shape_of(b, bb, sizeof bb), (long long)k,
              (long long)kb);
    if (c->shape[0] != m || c->shape[1] != n)
        raise(L, fn, "output has shape %s, expected (%lld, %lld)", shape_of(c, bc, sizeof bc),
              (long long)m, (long long)n);
    check_status(L, tensor_matmul(c, a, b, ta, tb, alpha, beta), fn,
                 "the output must not overlap an input");
    lua_settop(L, 1);
    return 1;
}

/* From OpenBLAS (openblas_config.h declares them; cblas.h may not on every Debian). */
extern char *openblas_get_corename(void);

/* core.blas_info() -> {core = "Zen", gemm = "avx512", threads = 2}: OpenBLAS's kernel, the
 * micro-kernel of our sgemm (csrc/gemm.h) and the kernels' threads (csrc/parallel.h). */
static int l_blas_info(lua_State *L) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, gemm_kernel_name());
    lua_setfield(L, -2, "gemm");
    lua_pushstring(L, openblas_get_corename());
    lua_setfield(L, -2, "core");
    lua_pushinteger(L, parallel_threads());
    lua_setfield(L, -2, "threads");
    return 1;
}

/* core.blas_set_threads(n): the threads of the kernels (sgemm included), 1..64. */
static int l_blas_set_threads(lua_State *L) {
    double n = luaL_checknumber(L, 1);
    if (n < 1 || n > PARALLEL_MAX_THREADS || n != floor(n))
        raise(L, "set_num_threads", "threads must be 1..%d, got %g", PARALLEL_MAX_THREADS, n);
    parallel_set_threads((int)n);
    return 0;
}

/* ======================================================================== process */

/* core.trap_interrupt(on): Ctrl-C (and SIGTERM) only set a flag that core.interrupted() reads, so
 * training can checkpoint and exit cleanly; false restores the defaults. */
static int l_trap_interrupt(lua_State *L) {
    check_status(L, process_trap_interrupt(lua_toboolean(L, 1)), "trap_interrupt", NULL);
    return 0;
}

/* core.interrupted() -> true once a trapped SIGINT/SIGTERM arrived. */
static int l_interrupted(lua_State *L) {
    lua_pushboolean(L, process_interrupted());
    return 1;
}

/* core.ignore_file_size_signal(): writes past `ulimit -f` fail with an error (EFBIG) instead of
 * killing the process (the command line sets this once at start). */
static int l_ignore_file_size_signal(lua_State *L) {
    check_status(L, process_ignore_file_size_signal(), "ignore_file_size_signal", NULL);
    return 0;
}

/* core.wall_time() -> seconds on a monotonic clock. */
static int l_wall_time(lua_State *L) {
    lua_pushnumber(L, process_wall_time());
    return 1;
}

/* core.cpu_count() -> online CPUs. */
static int l_cpu_count(lua_State *L) {
    lua_pushinteger(L, process_cpu_count());
    return 1;
}

/* ======================================================================== optim */

/* The optimizer kernels (csrc/optim.h) behind lua/mnist/optim.lua, which checks the config and
 * feval; here only the vectors are checked: float32, all of params' element count, and no two
 * overlapping (a buffer sharing memory with the parameters would corrupt both). */
static void check_optim_vectors(lua_State *L, const char *fn, Tensor **vecs, const char **names,
                                int count) {
    char ba[64], bb[64];
    for (int i = 1; i < count; i++) {
        if (!vecs[i]) continue;
        if (vecs[i]->numel != vecs[0]->numel)
            raise(L, fn, "%s has shape %s (%lld elements), params %s (%lld elements)", names[i],
                  shape_of(vecs[i], ba, sizeof ba), (long long)vecs[i]->numel,
                  shape_of(vecs[0], bb, sizeof bb), (long long)vecs[0]->numel);
    }
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (vecs[i] && vecs[j] && tensor_overlaps(vecs[i], vecs[j]))
                raise(L, fn, "%s and %s share memory", names[i], names[j]);
}

static double check_number(lua_State *L, int idx, const char *fn, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    return lua_tonumber(L, idx);
}

/* core.sgd_update(params, momentum_buf|nil, grads, lr, momentum, dampening, weight_decay,
 *                 nesterov, first_step): one SGD step in place. */
static int l_sgd_update(lua_State *L) {
    const char *fn = "sgd_update";
    Tensor *vecs[3] = {check_float(L, 1, fn), NULL, check_float(L, 3, fn)};
    if (!lua_isnil(L, 2)) vecs[1] = check_float(L, 2, fn);
    static const char *names[3] = {"params", "momentum_buf", "grads"};
    check_optim_vectors(L, fn, vecs, names, 3);
    double lr = check_number(L, 4, fn, "lr"), momentum = check_number(L, 5, fn, "momentum");
    double dampening = check_number(L, 6, fn, "dampening");
    double weight_decay = check_number(L, 7, fn, "weight_decay");
    int nesterov = lua_toboolean(L, 8), first_step = lua_toboolean(L, 9);
    if (momentum != 0 && !vecs[1]) raise(L, fn, "momentum %g needs a momentum_buf", momentum);
    check_status(L, sgd_update(tensor_f32(vecs[0]), vecs[1] ? tensor_f32(vecs[1]) : NULL,
                               tensor_f32(vecs[2]), vecs[0]->numel, lr, momentum, dampening,
                               weight_decay, nesterov, first_step), fn, NULL);
    return 0;
}

/* core.adam_update(params, exp_avg, exp_avg_sq, grads, lr, beta1, beta2, eps, weight_decay,
 *                  decoupled, step): one Adam (decoupled false) or AdamW (true) step in place. */
static int l_adam_update(lua_State *L) {
    const char *fn = "adam_update";
    Tensor *vecs[4] = {check_float(L, 1, fn), check_float(L, 2, fn), check_float(L, 3, fn),
                       check_float(L, 4, fn)};
    static const char *names[4] = {"params", "exp_avg", "exp_avg_sq", "grads"};
    check_optim_vectors(L, fn, vecs, names, 4);
    double lr = check_number(L, 5, fn, "lr"), beta1 = check_number(L, 6, fn, "beta1");
    double beta2 = check_number(L, 7, fn, "beta2"), eps = check_number(L, 8, fn, "eps");
    double weight_decay = check_number(L, 9, fn, "weight_decay");
    int decoupled = lua_toboolean(L, 10);
    double step = check_number(L, 11, fn, "step");
    if (!(step >= 1 && step <= 9007199254740992.0) || step != floor(step))
        raise(L, fn, "step must be a whole number >= 1, got %g", step);
    check_status(L, adam_update(tensor_f32(vecs[0]), tensor_f32(vecs[1]), tensor_f32(vecs[2]),
                                tensor_f32(vecs[3]), vecs[0]->numel, lr, beta1, beta2, eps,
                                weight_decay, decoupled, (int64_t)step), fn, NULL);
    return 0;
}

/* core.adadelta_update(params, square_avg, acc_delta, grads, lr, rho, eps, weight_decay):
 * one Adadelta step in place. */
static int l_adadelta_update(lua_State *L) {
    const char *fn = "adadelta_update";
    Tensor *vecs[4] = {check_float(L, 1, fn), check_float(L, 2, fn), check_float(L, 3, fn),
                       check_float(L, 4, fn)};
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

/* ======================================================================== nn */

/* The kernels behind lua/mnist/nn/. Outputs come first, as in the C headers; an optional
 * tensor is nil. The Lua modules check shapes first and raise errors that name the module, so
 * these checks are the safety net for direct calls. */

/* The float32 tensor at idx, or NULL when it is nil. */
static Tensor *opt_float(lua_State *L, int idx, const char *fn) {
    return lua_isnoneornil(L, idx) ? NULL : check_float(L, idx, fn);
}

/* A whole number in [lo, hi] at idx. */
static int check_int_arg(lua_State *L, int idx, const char *fn, const char *what, int lo, int hi) {
    double d = check_float_arg(L, idx, fn, what), f = floor(d);
    if (f != d || d < lo || d > hi)
        raise(L, fn, "%s must be a whole number from %d to %d, got %g", what, lo, hi, d);
    return (int)d;
}

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
    Tensor *inp = check_float(L, 1, fn), *weight = check_float(L, 2, fn);
    int geo[4];
    check_geometry(L, 3, fn, geo);
    Conv2dShape g;
    check_nn(L, conv2d_shape(&g, inp, weight, geo[0], geo[1], geo[2], geo[3]), fn, 2, "input", inp,
             "weight", weight);
    lua_pushnumber(L, (lua_Number)conv2d_workspace_floats(&g));
    return 1;
}

/* core.conv2d_forward(out, workspace, inp, weight, bias|nil, sh, sw, ph, pw) -> out */
static int l_conv2d_forward(lua_State *L) {
    const char *fn = "conv2d_forward";
    Tensor *out = check_float(L, 1, fn), *ws = check_float(L, 2, fn), *inp = check_float(L, 3, fn);
    Tensor *weight = check_float(L, 4, fn), *bias = opt_float(L, 5, fn);
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
    Tensor *dinp = opt_float(L, 1, fn), *dweight = opt_float(L, 2, fn),
           *dbias = opt_float(L, 3, fn);
    Tensor *ws = check_float(L, 4, fn), *dout = check_float(L, 5, fn), *inp = check_float(L, 6, fn);
    Tensor *weight = check_float(L, 7, fn);
    int geo[4];
    check_geometry(L, 8, fn, geo);
    int st = conv2d_backward(dinp, dweight, dbias, ws, dout, inp, weight, geo[0], geo[1], geo[2],
                             geo[3]);
    check_nn(L, st, fn, 7, "dinp", dinp, "dweight", dweight, "dbias", dbias, "workspace", ws,
             "dout", dout, "input", inp, "weight", weight);
    return 0;
}

/* core.maxpool2d_forward(out, indices, inp, kh, kw, sh, sw, ph, pw) -> out */
static int l_maxpool2d_forward(lua_State *L) {
    const char *fn = "maxpool2d_forward";
    Tensor *out = check_float(L, 1, fn), *indices = check_float(L, 2, fn),
           *inp = check_float(L, 3, fn);
    int kh = check_int_arg(L, 4, fn, "kernel height", 1, 1 << 20);
    int kw = check_int_arg(L, 5, fn, "kernel width", 1, 1 << 20);
    int geo[4];
    check_geometry(L, 6, fn, geo);
    check_nn(L, maxpool2d_forward(out, indices, inp, kh, kw, geo[0], geo[1], geo[2], geo[3]), fn, 3,
             "out", out, "indices", indices, "input", inp);
    lua_settop(L, 1);
    return 1;
}

/* core.maxpool2d_backward(dinp, dout, indices) -> dinp */
static int l_maxpool2d_backward(lua_State *L) {
    const char *fn = "maxpool2d_backward";
    Tensor *dinp = check_float(L, 1, fn), *dout = check_float(L, 2, fn),
           *indices = check_float(L, 3, fn);
    check_nn(L, maxpool2d_backward(dinp, dout, indices), fn, 3, "dinp", dinp, "dout", dout,
             "indices", indices);
    lua_settop(L, 1);
    return 1;
}

/* core.linear_forward(out, inp, weight, bias|nil) -> out */
static int l_linear_forward(lua_State *L) {
    const char *fn = "linear_forward";
    Tensor *out = check_float(L, 1, fn), *inp = check_float(L, 2, fn),
           *weight = check_float(L, 3, fn);
    Tensor *bias = opt_float(L, 4, fn);
    check_nn(L, linear_forward(out, inp, weight, bias), fn, 4, "out", out, "input", inp, "weight",
             weight, "bias", bias);
    lua_settop(L, 1);
    return 1;
}

/* core.linear_backward(dinp|nil, dweight|nil, dbias|nil, dout, inp, weight) */
static int l_linear_backward(lua_State *L) {
    const char *fn = "linear_backward";
    Tensor *dinp = opt_float(L, 1, fn), *dweight = opt_float(L, 2, fn),
           *dbias = opt_float(L, 3, fn);
    Tensor *dout = check_float(L, 4, fn), *inp = check_float(L, 5, fn),
           *weight = check_float(L, 6, fn);
    check_nn(L, linear_backward(dinp, dweight, dbias, dout, inp, weight), fn, 6, "dinp", dinp,
             "dweight", dweight, "dbias", dbias, "dout", dout, "input", inp, "weight", weight);
    return 0;
}

/* core.batchnorm_forward(out, save_mean, save_invstd, running_mean, running_var, inp,
 *                        weight|nil, bias|nil, training, momentum, eps) -> out */
static int l_batchnorm_forward(lua_State *L) {
    const char *fn = "batchnorm_forward";
    Tensor *out = check_float(L, 1, fn), *mean = check_float(L, 2, fn),
           *invstd = check_float(L, 3, fn);
    Tensor *rmean = check_float(L, 4, fn), *rvar = check_float(L, 5, fn),
           *inp = check_float(L, 6, fn);
    Tensor *weight = opt_float(L, 7, fn), *bias = opt_float(L, 8, fn);
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

/* core.batchnorm_backward(dinp|nil, dweight|nil, dbias|nil, dout, inp, weight|nil, save_mean,
 *                         save_invstd, training) */
static int l_batchnorm_backward(lua_State *L) {
    const char *fn = "batchnorm_backward";
    Tensor *dinp = opt_float(L, 1, fn), *dweight = opt_float(L, 2, fn),
           *dbias = opt_float(L, 3, fn);
    Tensor *dout = check_float(L, 4, fn), *inp = check_float(L, 5, fn),
           *weight = opt_float(L, 6, fn);
    Tensor *mean = check_float(L, 7, fn), *invstd = check_float(L, 8, fn);
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
    Tensor *a = check_float(L, 1, fn), *b = check_float(L, 2, fn);
    check_nn(L, k(a, b), fn, 2, n1, a, n2, b);
    lua_settop(L, 1);
    return 1;
}

static int ternary_call(lua_State *L, const char *fn, ternary_kernel k, const char *n1,
                        const char *n2, const char *n3) {
    Tensor *a = check_float(L, 1, fn), *b = check_float(L, 2, fn), *c = check_float(L, 3, fn);
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
    Tensor *out = check_float(L, 1, fn), *mask = check_float(L, 2, fn),
           *inp = check_float(L, 3, fn);
    float p = check_float_arg(L, 4, fn, "p");
    if (!(p >= 0.0f && p <= 1.0f)) raise(L, fn, "p must be in [0, 1], got %g", (double)p);
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
    return check_tensor(L, idx, fn);
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
    Tensor *logp = check_float(L, 1, fn), *targets = check_labels(L, 2, fn);
    float loss;
    check_nn(L, nll_forward(&loss, logp, targets), fn, 2, "input", logp, "labels", targets);
    lua_pushnumber(L, loss);
    return 1;
}

/* core.nll_backward(dlogp, targets, scale) -> dlogp */
static int l_nll_backward(lua_State *L) {
    const char *fn = "nll_backward";
    Tensor *dlogp = check_float(L, 1, fn), *targets = check_labels(L, 2, fn);
    float scale = lua_isnoneornil(L, 3) ? 1.0f : check_float_arg(L, 3, fn, "scale");
    check_nn(L, nll_backward(dlogp, targets, scale), fn, 2, "dinp", dlogp, "labels", targets);
    lua_settop(L, 1);
    return 1;
}

/* core.cross_entropy_forward(logp, logits, targets) -> loss (logp written) */
static int l_cross_entropy_forward(lua_State *L) {
    const char *fn = "cross_entropy_forward";
    Tensor *logp = check_float(L, 1, fn), *logits = check_float(L, 2, fn);
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
    Tensor *dlogits = check_float(L, 1, fn), *logp = check_float(L, 2, fn);
    Tensor *targets = check_labels(L, 3, fn);
    float scale = lua_isnoneornil(L, 4) ? 1.0f : check_float_arg(L, 4, fn, "scale");
    check_nn(L, cross_entropy_backward(dlogits, logp, targets, scale), fn, 3, "dinp", dlogits,
             "logp", logp, "labels", targets);
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
    {"conv2d_forward", l_conv2d_forward},
    {"conv2d_backward", l_conv2d_backward},
    {"maxpool2d_forward", l_maxpool2d_forward},
    {"maxpool2d_backward", l_maxpool2d_backward},
    {"linear_forward", l_linear_forward},
    {"linear_backward", l_linear_backward},
    {"batchnorm_forward", l_batchnorm_forward},
    {"batchnorm_backward", l_batchnorm_backward},
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
    {"storage_offset", l_storage_offset},
    {NULL, NULL},
};
/* ======================================================================== data */
/* IDX files, record files, the batch loader, image decoding and the MNIST recipe
 * (lua/mnist/dataset.lua, download.lua and preprocessing.lua build on these). */

#define LOADER_MT "mnist.Loader"
#define OWNED_MT "mnist.OwnedBuffer"

/* A userdata owning one malloc'd pointer (freed by __gc): C results of unknown size are parked in
 * it before anything that may raise. */
static void **push_owned(lua_State *L) {
    void **box = lua_newuserdata(L, sizeof *box);
    *box = NULL;
    luaL_getmetatable(L, OWNED_MT);
    lua_setmetatable(L, -2);
    return box;
}

static int l_owned_gc(lua_State *L) {
    void **box = luaL_checkudata(L, 1, OWNED_MT);
    free(*box);
    *box = NULL;
    return 0;
}

/* Pushes nil and "path: reason" (the reason from why, or errno for an I/O error); returns 2. */
static int push_file_error(lua_State *L, const char *path, int st, const char *why) {
    lua_pushnil(L);
    if (why && *why) lua_pushfstring(L, "%s: %s", path, why);
    else if (st == MN_ERR_IO) lua_pushfstring(L, "%s: %s", path, strerror(errno));
    else lua_pushfstring(L, "%s: %s", path, mn_status_str(st));
    return 2;
}

/* core.idx_read(path) -> uint8 tensor with the file's dims, or nil and "path: reason". */
static int l_idx_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char why[256];
    Tensor *t = push_tensor(L);
    int st = idx_read(t, path, why, sizeof why);
    if (st != MN_OK) return push_file_error(L, path, st, why);
    account_storage(L, t);
    return 1;
}

/* core.idx_check_pair(images, labels, num_classes): raises unless they belong together. */
static int l_idx_check_pair(lua_State *L) {
    const char *fn = "idx_check_pair";
    Tensor *images = check_tensor(L, 1, fn), *labels = check_tensor(L, 2, fn);
    int classes = (int)luaL_checkinteger(L, 3);
    char why[256];
    int st = idx_check_pair(images, labels, classes, why, sizeof why);
    if (st != MN_OK) raise(L, fn, "%s", why);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.sha256_gunzip(path) -> hex digest of the content after gunzip, content length; or nil and
 * "path: reason". */
static int l_sha256_gunzip(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    uint8_t digest[32];
    uint64_t len = 0;
    char hex[65];
    int st = sha256_file_gunzip(digest, &len, path);
    if (st != MN_OK)
        return push_file_error(L, path, st, st == MN_ERR_FORMAT ? "corrupt or truncated gzip data" : NULL);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    lua_pushnumber(L, (lua_Number)len);
    return 2;
}

/* core.record_write(path, images, labels) -> payload SHA-256 (hex), or nil and "path: reason". */
static int l_record_write(lua_State *L) {
    const char *fn = "record_write";
    const char *path = luaL_checkstring(L, 1);
    Tensor *images = check_tensor(L, 2, fn), *labels = check_tensor(L, 3, fn);
    char why[256];
    if (idx_check_pair(images, labels, 256, why, sizeof why) != MN_OK) raise(L, fn, "%s", why);
    uint8_t digest[32];
    char hex[65];
    int st = record_write(digest, path, images, labels);
    if (st != MN_OK) return push_file_error(L, path, st, NULL);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 1;
}

/* core.record_open(path [, verify]) -> images (N, H, W), labels (N) (uint8 views of the mapped
 * file), payload SHA-256 (hex); or nil and "path: reason". verify (default true) re-hashes the
 * payload. */
static int l_record_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int verify = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    Tensor *images = push_tensor(L);
    Tensor *labels = push_tensor(L);
    uint8_t digest[32];
    char why[256], hex[65];
    int st = record_open(images, labels, digest, path, verify, why, sizeof why);
    if (st != MN_OK) return push_file_error(L, path, st, why);
    sha256_hex(hex, digest);
    lua_pushstring(L, hex);
    return 3;
}

/* A whole number in [lo, hi] at idx (or `def` when absent), named `what` in errors. */
static double check_whole(lua_State *L, int idx, const char *fn, const char *what, double lo,
                          double hi, double def) {
    if (lua_isnoneornil(L, idx)) return def;
    if (lua_type(L, idx) != LUA_TNUMBER)
        raise(L, fn, "%s must be a number, got %s", what, luaL_typename(L, idx));
    double d = lua_tonumber(L, idx);
    if (d != floor(d) || d < lo || d > hi)
        raise(L, fn, "%s must be a whole number from %.0f to %.0f, got %g", what, lo, hi, d);
    return d;
}

/* Reads opts[key] (a number or boolean field) onto the stack top and returns its index. */
static int opt_field(lua_State *L, int opts, const char *key) {
    lua_getfield(L, opts, key);
    return lua_gettop(L);
}

static Loader *check_loader(lua_State *L, int idx, const char *fn) {
    Loader *ld = luaL_testudata(L, idx, LOADER_MT);
    if (!ld) raise(L, fn, "argument #%d: expected a loader, got %s", idx, luaL_typename(L, idx));
    if (!ld->sync_ready) raise(L, fn, "the loader is closed");
    return ld;
}

/* core.loader(images, labels, rows, opts) -> loader. rows: a table of 1-based rows of images
 * (nil: all, in order); opts: batch_size, drop_last, shuffle, augment_shift, mean, std, seed,
 * prefetch. */
static int l_loader_new(lua_State *L) {
    const char *fn = "loader";
    Tensor *images = check_tensor(L, 1, fn), *labels = check_tensor(L, 2, fn);
    if (images->dtype != DTYPE_UINT8 || labels->dtype != DTYPE_UINT8 || images->ndim != 3 ||
        labels->ndim != 1 || images->shape[0] != labels->shape[0]) {
        char bi[64], bl[64];
        raise(L, fn, "expected uint8 images (N, H, W) and uint8 labels (N), got %s %s and %s %s",
              dtype_name(images->dtype), shape_of(images, bi, sizeof bi), dtype_name(labels->dtype),
              shape_of(labels, bl, sizeof bl));
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    const int64_t N = images->shape[0];
    LoaderOptions opt;
    opt.batch_size = (int64_t)check_whole(L, opt_field(L, 4, "batch_size"), fn, "batch_size", 1,
                                          (double)TENSOR_MAX_NUMEL, 64);
    opt.prefetch = (int)check_whole(L, opt_field(L, 4, "prefetch"), fn, "prefetch", 0,
                                    LOADER_MAX_PREFETCH, 2);
    opt.augment_shift = (int)check_whole(L, opt_field(L, 4, "augment_shift"), fn, "augment_shift",
                                         0, (double)(images->shape[1] < images->shape[2]
                                                         ? images->shape[1] - 1 : images->shape[2] - 1), 0);
    opt.seed = (uint64_t)check_whole(L, opt_field(L, 4, "seed"), fn, "seed", 0, 9007199254740992.0, 1);
    opt.drop_last = lua_toboolean(L, opt_field(L, 4, "drop_last"));
    opt.shuffle = lua_toboolean(L, opt_field(L, 4, "shuffle"));
    int mean_idx = opt_field(L, 4, "mean"), std_idx = opt_field(L, 4, "std");
    opt.mean = lua_isnil(L, mean_idx) ? 0.0f : check_float_arg(L, mean_idx, fn, "mean");
    opt.std = lua_isnil(L, std_idx) ? 1.0f : check_float_arg(L, std_idx, fn, "std");
    if (!(opt.std > 0) || !isfinite(opt.mean) || !isfinite(opt.std))
        raise(L, fn, "need a finite mean and a std > 0, got mean %g, std %g", opt.mean, opt.std);
    lua_settop(L, 4); /* drop the option values read above */
    int64_t n = N;
    int32_t *rows;
    if (lua_isnoneornil(L, 3)) {
        rows = lua_newuserdata(L, (size_t)N * sizeof *rows); /* collected, never leaked */
        for (int64_t i = 0; i < N; i++) rows[i] = (int32_t)i;
    } else {
        luaL_checktype(L, 3, LUA_TTABLE);
        n = (int64_t)lua_objlen(L, 3);
        if (n < 1) raise(L, fn, "rows: an empty list");
        rows = lua_newuserdata(L, (size_t)n * sizeof *rows);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, 3, (int)i + 1);
            double d = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || d != floor(d) || d < 1 || d > (double)N)
                raise(L, fn, "rows[%lld] must be a row number from 1 to %lld, got %s",
                      (long long)i + 1, (long long)N, lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
            rows[i] = (int32_t)d - 1;
            lua_pop(L, 1);
        }
    }
    const int64_t steps = opt.drop_last ? n / opt.batch_size : (n + opt.batch_size - 1) / opt.batch_size;
    if (steps < 1)
        raise(L, fn, "a batch of %lld is larger than the %lld images and drop_last leaves no batch",
              (long long)opt.batch_size, (long long)n);
    Loader *ld = lua_newuserdata(L, sizeof *ld);
    memset(ld, 0, sizeof *ld);
    luaL_getmetatable(L, LOADER_MT);
    lua_setmetatable(L, -2);
    check_status(L, loader_init(ld, images, labels, rows, n, &opt), fn, NULL);
    return 1;
}

static int l_loader_gc(lua_State *L) {
    Loader *ld = luaL_checkudata(L, 1, LOADER_MT);
    loader_destroy(ld);
    return 0;
}

/* loader:close(): stops the thread and frees the buffers now (batches already taken stay valid). */
static int l_loader_close(lua_State *L) { return l_loader_gc(L); }

/* loader:start(epoch [, first_step]): epoch >= 0; first_step 1-based (default 1). */
static int l_loader_start(lua_State *L) {
    const char *fn = "loader:start";
    Loader *ld = check_loader(L, 1, fn);
    double epoch = check_whole(L, 2, fn, "epoch", 0, 9007199254740992.0, 0);
    double first = check_whole(L, 3, fn, "first step", 1, (double)ld->steps + 1, 1);
    check_status(L, loader_start_epoch(ld, (int64_t)epoch, (int64_t)first - 1), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* loader:next() -> slot (1-based), rows in the batch, step (1-based); nil at the end of the epoch. */
static int l_loader_next(lua_State *L) {
    const char *fn = "loader:next";
    Loader *ld = check_loader(L, 1, fn);
    int slot;
    int64_t count, step;
    check_status(L, loader_next(ld, &slot, &count, &step), fn, "no epoch started (call start first)");
    if (slot < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, slot + 1);
    lua_pushnumber(L, (lua_Number)count);
    lua_pushnumber(L, (lua_Number)step + 1);
    return 3;
}

/* loader:slot(i) -> images (B, 1, H, W), labels (B): tensors sharing slot i's buffers. */
static int l_loader_slot(lua_State *L) {
    const char *fn = "loader:slot";
    Loader *ld = check_loader(L, 1, fn);
    int i = (int)check_whole(L, 2, fn, "slot", 1, ld->slots, 1) - 1;
    Tensor *images = push_tensor(L);
    check_status(L, tensor_view(images, &ld->slot_images[i], 4, ld->slot_images[i].shape), fn, NULL);
    Tensor *labels = push_tensor(L);
    check_status(L, tensor_view(labels, &ld->slot_labels[i], 1, ld->slot_labels[i].shape), fn, NULL);
    return 2;
}

/* loader:order(epoch) -> table of the 1-based rows in the order the epoch visits them. */
static int l_loader_order(lua_State *L) {
    const char *fn = "loader:order";
    Loader *ld = check_loader(L, 1, fn);
    double epoch = check_whole(L, 2, fn, "epoch", 0, 9007199254740992.0, 0);
    int32_t *order = lua_newuserdata(L, (size_t)ld->n * sizeof *order);
    loader_order(ld, (int64_t)epoch, order);
    lua_createtable(L, (int)ld->n, 0);
    for (int64_t i = 0; i < ld->n; i++) {
        lua_pushnumber(L, order[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* loader:info() -> {size, steps, batch_size, slots, prefetch, threaded} */
static int l_loader_info(lua_State *L) {
    Loader *ld = check_loader(L, 1, "loader:info");
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, (lua_Number)ld->n);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)ld->steps);
    lua_setfield(L, -2, "steps");
    lua_pushnumber(L, (lua_Number)ld->opt.batch_size);
    lua_setfield(L, -2, "batch_size");
    lua_pushinteger(L, ld->slots);
    lua_setfield(L, -2, "slots");
    lua_pushinteger(L, ld->opt.prefetch);
    lua_setfield(L, -2, "prefetch");
    lua_pushboolean(L, ld->has_thread);
    lua_setfield(L, -2, "threaded");
    return 1;
}

/* core.split_indices(n_total, n_validation, seed) -> train rows, validation rows (tables of 1-based
 * rows, ascending). */
static int l_split_indices(lua_State *L) {
    const char *fn = "split_indices";
    int64_t total = (int64_t)check_whole(L, 1, fn, "n_total", 1, (double)INT32_MAX, 1);
    int64_t held = (int64_t)check_whole(L, 2, fn, "n_validation", 0, (double)total, 0);
    uint64_t seed = (uint64_t)check_whole(L, 3, fn, "seed", 0, 9007199254740992.0, 1);
    int32_t *train = lua_newuserdata(L, (size_t)(total - held + 1) * sizeof *train);
    int32_t *validation = lua_newuserdata(L, (size_t)(held + 1) * sizeof *validation);
    check_status(L, loader_split(train, validation, total, held, seed), fn, NULL);
    lua_createtable(L, (int)(total - held), 0);
    for (int64_t i = 0; i < total - held; i++) {
        lua_pushnumber(L, train[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_createtable(L, (int)held, 0);
    for (int64_t i = 0; i < held; i++) {
        lua_pushnumber(L, validation[i] + 1);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 2;
}

/* core.image_decode(bytes) -> uint8 (H, W) grayscale, or nil and the reason. */
static int l_image_decode(lua_State *L) {
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    char why[256];
    Tensor *t = push_tensor(L);
    if (image_decode_gray(t, data, len, why, sizeof why) != MN_OK) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    return 1;
}

/* core.image_mnist(gray) -> float32 (28, 28) in [0, 1] (the MNIST recipe), or nil and the reason
 * (a blank picture). gray: (H, W) uint8, or float32 in [0, 1]. */
static int l_image_mnist(lua_State *L) {
    const char *fn = "image_mnist";
    Tensor *gray = check_tensor(L, 1, fn);
    if (gray->ndim != 2) {
        char b[64];
        raise(L, fn, "expected a (H, W) image, got %s", shape_of(gray, b, sizeof b));
    }
    char why[256];
    Tensor *out = push_tensor(L);
    int st = image_mnist_recipe(out, gray, why, sizeof why);
    if (st == MN_ERR_FORMAT) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    check_status(L, st, fn, why);
    return 1;
}

/* core.image_encode(img, format [, quality]) -> bytes. img: (H, W) or (H, W, C) uint8;
 * format: "png", "bmp" or "jpg" (quality 1..100, default 95). */
static int l_image_encode(lua_State *L) {
    const char *fn = "image_encode";
    Tensor *img = check_tensor(L, 1, fn);
    static const char *const formats[] = {"png", "bmp", "jpg", NULL};
    int format = luaL_checkoption(L, 2, NULL, formats);
    int quality = (int)check_whole(L, 3, fn, "quality", 1, 100, 95);
    char b[64];
    if (img->dtype != DTYPE_UINT8 || (img->ndim != 2 && img->ndim != 3) ||
        (img->ndim == 3 && img->shape[2] != 1 && img->shape[2] != 3 && img->shape[2] != 4))
        raise(L, fn, "expected a uint8 (H, W) or (H, W, C) image with C = 1, 3 or 4, got %s %s",
              dtype_name(img->dtype), shape_of(img, b, sizeof b));
    void **box = push_owned(L);
    size_t len;
    check_status(L, image_encode(box, &len, img, formats[format], quality), fn,
                 "the image is too large to encode");
    lua_pushlstring(L, *box, len);
    return 1;
}

/* core.sleep(seconds): waits (download back-off). */
static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    if (!(s >= 0 && s <= 3600)) raise(L, "sleep", "seconds must be 0..3600, got %g", s);
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static const luaL_Reg loader_methods[] = {
    {"start", l_loader_start}, {"next", l_loader_next}, {"slot", l_loader_slot},
    {"order", l_loader_order}, {"info", l_loader_info}, {"close", l_loader_close},
    {NULL, NULL},
};

static const luaL_Reg data_functions[] = {
    {"idx_read", l_idx_read},
    {"idx_check_pair", l_idx_check_pair},
    {"sha256_gunzip", l_sha256_gunzip},
    {"record_write", l_record_write},
    {"record_open", l_record_open},
    {"loader", l_loader_new},
    {"split_indices", l_split_indices},
    {"image_decode", l_image_decode},
    {"image_mnist", l_image_mnist},
    {"image_encode", l_image_encode},
    {"sleep", l_sleep},
    {NULL, NULL},
};

/* Adds the data functions to the module table at the stack top, and the loader's metatable. */
static void register_data(lua_State *L) {
    luaL_register(L, NULL, data_functions);
    luaL_newmetatable(L, LOADER_MT);
    lua_newtable(L);
    luaL_register(L, NULL, loader_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_loader_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, OWNED_MT);
    lua_pushcfunction(L, l_owned_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

/* ======================================================================== module */

static const luaL_Reg tensor_methods[] = {
    {"size", l_tensor_size},       {"dim", l_tensor_dim},       {"numel", l_tensor_numel},
    {"type", l_tensor_type},       {"get", l_tensor_get},       {"set", l_tensor_set},
    {"select", l_tensor_select},   {"narrow", l_tensor_narrow}, {"fill", l_tensor_fill},
    {"copy", l_tensor_copy},       {"clone", l_tensor_clone},   {"view", l_tensor_view},
    {"set_storage", l_tensor_set_storage}, {"shares", l_tensor_shares},
    {"add", l_tensor_add},         {"mul", l_tensor_mul},       {"scale", l_tensor_scale},
    {"axpy", l_tensor_axpy},       {"exp", l_tensor_exp},       {"sum", l_tensor_sum},       {"mean", l_tensor_mean},
    {"max", l_tensor_max},         {"argmax", l_tensor_argmax}, {"totable", l_tensor_totable},
    {"float", l_tensor_float},     {"tobytes", l_tensor_tobytes}, {NULL, NULL},
};

static const luaL_Reg rng_methods[] = {
    {"seed", l_rng_seed},           {"uniform", l_rng_uniform},
    {"random", l_rng_random},       {"normal", l_rng_normal},
    {"permutation", l_rng_permutation}, {"fill_uniform", l_rng_fill_uniform},
    {"fill_normal", l_rng_fill_normal}, {"state", l_rng_state},
    {"set_state", l_rng_set_state}, {NULL, NULL},
};

static const luaL_Reg core_functions[] = {
    {"rng", l_rng_new},
    {"tensor", l_tensor_new},
    {"tensor_from_table", l_tensor_from_table},
    {"tensor_from_bytes", l_tensor_from_bytes},
    {"tensor_from_raw", l_tensor_from_raw},
    {"matmul", l_matmul},
    {"sha256", l_sha256},
    {"sha256_file", l_sha256_file},
    {"write_atomic", l_write_atomic},
    {"blas_info", l_blas_info},
    {"blas_set_threads", l_blas_set_threads},
    {"trap_interrupt", l_trap_interrupt},
    {"interrupted", l_interrupted},
    {"ignore_file_size_signal", l_ignore_file_size_signal},
    {"cpu_count", l_cpu_count},
    {"wall_time", l_wall_time},
    {"mkdir_p", l_mkdir_p},
    {NULL, NULL},
};

int luaopen_mnist_core(lua_State *L) {
    lua_newtable(L); /* the module */
    luaL_register(L, NULL, core_functions);
    luaL_register(L, NULL, optim_functions);
    luaL_register(L, NULL, nn_functions);
    register_data(L);

    luaL_newmetatable(L, TENSOR_MT);
    lua_newtable(L); /* methods, shared with Lua (lua/mnist/tensor.lua adds more) */
    luaL_register(L, NULL, tensor_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "tensor_methods");
    lua_pushcclosure(L, l_tensor_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_tensor_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_tensor_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_tensor_len);
    lua_setfield(L, -2, "__len");
    lua_setfield(L, -2, "tensor_metatable");

    luaL_newmetatable(L, RNG_MT);
    lua_newtable(L);
    luaL_register(L, NULL, rng_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    parallel_threads(); /* the kernels' default thread count; pins the library, stops OpenBLAS's pool */
    return 1;
}
