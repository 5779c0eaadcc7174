/* lua_tensor.c: the tensor userdata (mnist.Tensor): construction, element access, views, copies,
 * element-wise math, reductions and matrix products (lua/mnist/tensor.lua adds the Lua side). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/gemm.h"

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
    if (depth >= TENSOR_MAX_DIMS) raisef(L, "tensor", "nested table is deeper than %d", TENSOR_MAX_DIMS);
    if (n == 0) raisef(L, "tensor", "empty table at depth %d", depth + 1);
    if (depth == *ndim) {
        *ndim = depth + 1;
        shape[depth] = n;
    } else if (shape[depth] != n) {
        raisef(L, "tensor", "ragged table: a row at depth %d has %lld elements, expected %lld",
              depth + 1, (long long)n, (long long)shape[depth]);
    }
    lua_rawgeti(L, idx, 1);
    int nested = lua_istable(L, -1);
    lua_pop(L, 1);
    if (!nested) {
        if (depth + 1 != *ndim)
            raisef(L, "tensor", "ragged table: a number at depth %d, expected a table", depth + 1);
        return;
    }
    for (int64_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (!lua_istable(L, -1))
            raisef(L, "tensor", "ragged table: element %lld at depth %d is a %s, expected a table",
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
                raisef(L, "tensor", "element %d at depth %d is a %s, expected a number", i,
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
        raisef(L, fn, "%lld bytes do not fill a tensor of %lld elements", (long long)len,
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
        raisef(L, fn, "%lld bytes do not hold %lld float32 values", (long long)len, (long long)numel);
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

void push_element(lua_State *L, const Tensor *t, int64_t off) {
    if (t->dtype == DTYPE_UINT8) lua_pushinteger(L, tensor_u8(t)[off]);
    else lua_pushnumber(L, tensor_f32(t)[off]);
}

static void store_element(lua_State *L, Tensor *t, int64_t off, int idx, const char *fn) {
    check_float_arg(L, idx, fn, "value");
    double v = lua_tonumber(L, idx);
    if (t->dtype == DTYPE_UINT8) {
        if (!(v >= 0 && v <= 255) || v != floor(v))
            raisef(L, fn, "value %g does not fit a uint8 tensor", v);
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
        raisef(L, "get", "tensor of shape %s needs %d indices, got %d", shape_of(t, b, sizeof b),
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
        raisef(L, "set", "tensor of shape %s needs %d indices and a value, got %d arguments",
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
        raisef(L, "narrow", "length %g from row %lld does not fit shape %s", len,
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
        raisef(L, "[]=", "tensors take numeric indices only, got %s", luaL_typename(L, 2));
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
    raisef(L, fn, "size mismatch: %s (%lld elements) vs %s (%lld elements)", shape_of(a, ba, sizeof ba),
          (long long)a->numel, shape_of(b, bb, sizeof bb), (long long)b->numel);
}

/* dst:copy(src): same element count; uint8 -> float32 converts. Returns dst. */
static int l_tensor_copy(lua_State *L) {
    Tensor *dst = check_tensor(L, 1, "copy");
    Tensor *src = check_tensor(L, 2, "copy");
    check_same_numel(L, dst, src, "copy");
    if (dst->dtype == DTYPE_UINT8 && src->dtype != DTYPE_UINT8)
        raisef(L, "copy", "cannot copy float32 into uint8 (it would truncate)");
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
        raisef(L, "view", "cannot view %s (%lld elements) as %s", shape_of(t, b, sizeof b),
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
    if (off < 0 || off != floor(off)) raisef(L, "set_storage", "offset must be a whole number >= 0");
    char ba[64], bb[64];
    if (tensor_set_storage(t, src, (size_t)off) != MN_OK)
        raisef(L, "set_storage", "%s at offset %.0f does not fit in %s", shape_of(t, ba, sizeof ba),
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
        raisef(L, fn, "reduces over all elements or over the last dim (-1 or %d), got %g", t->ndim, d);
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

/* t:tobytes() -> the raw little-endian bytes of t's elements. */
static int l_tensor_tobytes(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "tobytes");
    lua_pushlstring(L, (const char *)t->storage->data + t->offset * dtype_size(t->dtype),
                    (size_t)t->numel * dtype_size(t->dtype));
    return 1;
}

/* core.matmul(c, a, b, trans_a, trans_b, alpha, beta): c = alpha*op(a)@op(b) + beta*c. */
static int l_matmul(lua_State *L) {
    const char *fn = "matmul";
    Tensor *c = check_float(L, 1, fn), *a = check_float(L, 2, fn), *b = check_float(L, 3, fn);
    int ta = lua_toboolean(L, 4), tb = lua_toboolean(L, 5);
    float alpha = lua_isnoneornil(L, 6) ? 1.0f : check_float_arg(L, 6, fn, "alpha");
    float beta = lua_isnoneornil(L, 7) ? 0.0f : check_float_arg(L, 7, fn, "beta");
    char bc[64], ba[64], bb[64];
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2)
        raisef(L, fn, "expected 2-D tensors, got a %s, b %s, out %s", shape_of(a, ba, sizeof ba),
              shape_of(b, bb, sizeof bb), shape_of(c, bc, sizeof bc));
    int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
    int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (k != kb)
        raisef(L, fn, "inner sizes differ: a%s %s b%s %s (%lld vs %lld)", ta ? "^T" : "",
              shape_of(a, ba, sizeof ba), tb ? "^T" : "", shape_of(b, bb, sizeof bb), (long long)k,
              (long long)kb);
    if (c->shape[0] != m || c->shape[1] != n)
        raisef(L, fn, "output has shape %s, expected (%lld, %lld)", shape_of(c, bc, sizeof bc),
              (long long)m, (long long)n);
    check_status(L, tensor_matmul(c, a, b, ta, tb, alpha, beta), fn,
                 "the output must not overlap an input");
    lua_settop(L, 1);
    return 1;
}

/* core.gemm_packed_a_floats(m, k) -> floats our sgemm packs an (m, k) left operand into (the
 * micro-kernel's row blocks round m up): what the Winograd filters and workspaces are sized by. */
static int l_gemm_packed_a_floats(lua_State *L) {
    int m = check_int_arg(L, 1, "gemm_packed_a_floats", "m", 1, INT32_MAX);
    int k = check_int_arg(L, 2, "gemm_packed_a_floats", "k", 1, INT32_MAX);
    lua_pushnumber(L, (lua_Number)gemm_packed_a_floats(m, k));
    return 1;
}

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

static const luaL_Reg tensor_functions[] = {
    {"tensor", l_tensor_new},
    {"tensor_from_table", l_tensor_from_table},
    {"tensor_from_bytes", l_tensor_from_bytes},
    {"tensor_from_raw", l_tensor_from_raw},
    {"matmul", l_matmul},
    {"gemm_packed_a_floats", l_gemm_packed_a_floats},
    {NULL, NULL},
};

void register_tensor(lua_State *L) {
    luaL_register(L, NULL, tensor_functions);
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
}
