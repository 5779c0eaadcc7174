/* lua_tensor.c: the tensor userdata (mnist.Tensor): construction, types, element access, views,
 * Torch7 indexing, copies and element-wise math. lua/mnist/tensor.lua builds Torch7's method forms
 * (x:f(), res:f(x), torch.f(x)) on the core.tensor_* calls registered here. Indices and dims are
 * 1-based at this boundary and 0-based below it. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/gemm.h"
#include "tensor/tensor_linalg.h"
#include "tensor/tensor_math.h"

static const char *const dtype_names[] = {"float32", "uint8", "int64", NULL};

/* ---------------------------------------------------------------- construction */

/* core.tensor(dtype, shape): zeros ({} gives an empty tensor). */
static int l_tensor_new(lua_State *L) {
    const char *fn = "tensor";
    int dtype = luaL_checkoption(L, 1, "float32", dtype_names);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape, 0);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, dtype, ndim, shape), fn, NULL);
    account_storage(L, t);
    return 1;
}

/* Walks a nested table at idx: fills shape on the first descent, then checks every row. */
static void table_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape) {
    int64_t n = (int64_t)lua_objlen(L, idx);
    if (depth >= TENSOR_MAX_DIMS) raisef(L, "tensor", "nested table is deeper than %d", TENSOR_MAX_DIMS);
    if (n == 0) {
        if (depth == 0) return; /* {}: an empty tensor */
        raisef(L, "tensor", "empty table at depth %d", depth + 1);
    }
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

static void table_fill(lua_State *L, int idx, int depth, int ndim, Tensor *t, int64_t *off) {
    int n = (int)lua_objlen(L, idx);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (depth + 1 < ndim) {
            table_fill(L, lua_gettop(L), depth + 1, ndim, t, off);
        } else {
            if (lua_type(L, -1) != LUA_TNUMBER)
                raisef(L, "tensor", "element %d at depth %d is a %s, expected a number", i,
                       depth + 1, luaL_typename(L, -1));
            if (tensor_set_at(t, (*off)++, lua_tonumber(L, -1)) != MN_OK)
                raisef(L, "tensor", "element %d at depth %d (%g) does not fit a %s tensor", i,
                       depth + 1, lua_tonumber(L, -1), dtype_name(t->dtype));
        }
        lua_pop(L, 1);
    }
}

/* core.tensor_from_table(nested [, dtype]). */
static int l_tensor_from_table(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int dtype = luaL_checkoption(L, 2, "float32", dtype_names);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = 0;
    table_shape(L, 1, 0, &ndim, shape);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, dtype, ndim, shape), "tensor", NULL);
    int64_t off = 0;
    table_fill(L, 1, 0, ndim, t, &off);
    return 1;
}

/* core.tensor_from_bytes(s, shape [, scale [, shift]]): uint8 tensor, or float32 = byte*scale+shift. */
static int l_tensor_from_bytes(lua_State *L) {
    const char *fn = "tensor.frombytes";
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape, 0);
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

/* core.tensor_from_raw(s, shape [, dtype [, offset]]): a tensor from raw little-endian bytes (the
 * inverse of t:tobytes()): all of s, or with offset (0-based) the bytes of s from there on that
 * the shape needs (a file's tensors read from the file's bytes without a substring each). */
static int l_tensor_from_raw(lua_State *L) {
    const char *fn = "tensor.fromraw";
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_table(L, 2, fn, shape, 0);
    int dtype = luaL_checkoption(L, 3, "float32", dtype_names);
    int whole = lua_isnoneornil(L, 4);
    lua_Number offset = whole ? 0 : luaL_checknumber(L, 4);
    int64_t numel;
    tensor_check_shape(ndim, shape, &numel);
    size_t esize = dtype_size(dtype);
    if (!(offset >= 0 && offset <= (lua_Number)len) || offset != (lua_Number)(int64_t)offset)
        raisef(L, fn, "offset %g is not a whole number within the %lld bytes", (double)offset,
               (long long)len);
    size_t left = len - (size_t)offset;
    if (whole ? (int64_t)left != numel * (int64_t)esize : (int64_t)left < numel * (int64_t)esize)
        raisef(L, fn, "%lld bytes do not hold %lld %s values", (long long)left, (long long)numel,
               dtype_names[dtype]);
    Tensor *t = push_tensor(L);
    check_status(L, tensor_init(t, dtype, ndim, shape), fn, NULL);
    memcpy(tensor_bytes(t), s + (size_t)offset, (size_t)(numel * (int64_t)esize));
    return 1;
}

static int l_tensor_gc(lua_State *L) {
    Tensor *t = luaL_checkudata(L, 1, TENSOR_MT);
    tensor_release(t);
    return 0;
}

/* ---------------------------------------------------------------- shape and layout */

/* Pushes a table of n numbers (sizes or strides). */
static void push_dims(lua_State *L, const int64_t *v, int n) {
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, (lua_Number)v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* t:size() -> {sizes}; t:size(dim) -> a number. */
static int l_tensor_size(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "size");
    if (!lua_isnoneornil(L, 2)) {
        lua_pushnumber(L, (lua_Number)t->shape[check_dim(L, 2, t->ndim, "size", 0)]);
        return 1;
    }
    push_dims(L, t->shape, t->ndim);
    return 1;
}

/* t:stride() -> {strides in elements}; t:stride(dim) -> a number. */
static int l_tensor_stride(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "stride");
    if (!lua_isnoneornil(L, 2)) {
        lua_pushnumber(L, (lua_Number)t->stride[check_dim(L, 2, t->ndim, "stride", 0)]);
        return 1;
    }
    push_dims(L, t->stride, t->ndim);
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

/* t:dtype() -> "float32", "uint8" or "int64". */
static int l_tensor_dtype(lua_State *L) {
    lua_pushstring(L, dtype_name(check_tensor(L, 1, "dtype")->dtype));
    return 1;
}

/* t:storageOffset(): 1-based, as Torch7's. */
static int l_tensor_storage_offset(lua_State *L) {
    lua_pushnumber(L, (lua_Number)check_tensor(L, 1, "storageOffset")->offset + 1);
    return 1;
}

static int l_tensor_is_contiguous(lua_State *L) {
    lua_pushboolean(L, tensor_is_contiguous(check_tensor(L, 1, "isContiguous")));
    return 1;
}

static int l_tensor_len(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "#");
    lua_pushnumber(L, t->ndim ? (lua_Number)t->shape[0] : 0);
    return 1;
}

/* ---------------------------------------------------------------- element access */

void push_element(lua_State *L, const Tensor *t, int64_t off) {
    if (t->dtype == DTYPE_UINT8) lua_pushinteger(L, tensor_u8(t)[off]);
    else if (t->dtype == DTYPE_INT64) lua_pushnumber(L, (lua_Number)tensor_i64(t)[off]);
    else lua_pushnumber(L, tensor_f32(t)[off]);
}

/* Element offset of the 1-based indices in args [first, first + ndim). */
static int64_t element_offset(lua_State *L, const Tensor *t, int first, const char *fn) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++)
        off += check_index(L, first + d, t->shape[d], fn, d + 1) * t->stride[d];
    return off;
}

static void store_element(lua_State *L, Tensor *t, int64_t off, int idx, const char *fn) {
    double v = check_number(L, idx, fn, "value");
    if (tensor_set_at(t, off, v) != MN_OK)
        raisef(L, fn, "value %g does not fit a %s tensor", v, dtype_name(t->dtype));
}

/* t:get(i, j, ...) with one 1-based index per dim. */
static int l_tensor_get(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "get");
    if (lua_gettop(L) - 1 != t->ndim || t->ndim == 0) {
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
    if (lua_gettop(L) - 2 != t->ndim || t->ndim == 0) {
        char b[64];
        raisef(L, "set", "tensor of shape %s needs %d indices and a value, got %d arguments",
               shape_of(t, b, sizeof b), t->ndim, lua_gettop(L) - 1);
    }
    int64_t off = element_offset(L, t, 2, "set");
    store_element(L, t, off, lua_gettop(L), "set");
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- views */

/* A size or index argument: a whole number in [lo, hi]. */
static int64_t check_count(lua_State *L, int idx, const char *fn, const char *what, int64_t lo,
                           int64_t hi) {
    double d = check_number(L, idx, fn, what);
    if (d != floor(d) || d < (double)lo || d > (double)hi)
        raisef(L, fn, "%s must be a whole number from %lld to %lld, got %g", what, (long long)lo,
               (long long)hi, d);
    return (int64_t)d;
}

/* t:select(dim, index): the slice at index along dim, one dim fewer (a number for a 1-D t, as
 * Torch7's select of a vector). */
static int l_tensor_select(lua_State *L) {
    const char *fn = "select";
    Tensor *t = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, t->ndim, fn, 0);
    int64_t i = check_index(L, 3, t->shape[dim], fn, dim + 1);
    if (t->ndim == 1) {
        push_element(L, t, i * t->stride[0]);
        return 1;
    }
    Tensor *out = push_tensor(L);
    check_status(L, tensor_select(out, t, dim, i), fn, NULL);
    return 1;
}

/* t:narrow(dim, index, size): elements index .. index+size-1 along dim (a view). */
static int l_tensor_narrow(lua_State *L) {
    const char *fn = "narrow";
    Tensor *t = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, t->ndim, fn, 0);
    int64_t n = t->shape[dim];
    int64_t start = check_count(L, 3, fn, "index", 1, n + 1) - 1;
    int64_t size = check_count(L, 4, fn, "size", 0, TENSOR_MAX_NUMEL);
    if (size > n - start) {
        char b[64];
        raisef(L, fn, "index %lld and size %lld do not fit dim %d of size %lld (shape %s)",
               (long long)start + 1, (long long)size, dim + 1, (long long)n, shape_of(t, b, sizeof b));
    }
    Tensor *out = push_tensor(L);
    check_status(L, tensor_narrow(out, t, dim, start, size), fn, NULL);
    return 1;
}

/* t:transpose(d1, d2); t:t() for 2-D (and 1-D, unchanged). */
static int l_tensor_transpose(lua_State *L) {
    const char *fn = "transpose";
    Tensor *t = check_tensor(L, 1, fn);
    int d1 = check_dim(L, 2, t->ndim, fn, 0), d2 = check_dim(L, 3, t->ndim, fn, 0);
    Tensor *out = push_tensor(L);
    check_status(L, tensor_transpose(out, t, d1, d2), fn, NULL);
    return 1;
}

static int l_tensor_t(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "t");
    if (t->ndim != 1 && t->ndim != 2) {
        char b[64];
        raisef(L, "t", "expects a 1-D or 2-D tensor, got shape %s (use transpose(d1, d2))",
               shape_of(t, b, sizeof b));
    }
    Tensor *out = push_tensor(L);
    check_status(L, t->ndim == 2 ? tensor_transpose(out, t, 0, 1) : tensor_view(out, t, 1, t->shape),
                 "t", NULL);
    return 1;
}

/* t:expand(sizes...): size-1 dims (and new leading ones) repeat without a copy (stride 0). */
static int l_tensor_expand(lua_State *L) {
    const char *fn = "expand";
    Tensor *t = check_tensor(L, 1, fn);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim;
    Tensor *like = luaL_testudata(L, 2, TENSOR_MT);
    if (like) { /* expandAs */
        ndim = like->ndim;
        memcpy(shape, like->shape, sizeof shape);
    } else {
        ndim = check_shape_args(L, 2, fn, shape, 0);
    }
    Tensor *out = push_tensor(L);
    if (tensor_expand(out, t, ndim, shape) != MN_OK) {
        char a[64], b[64];
        Tensor want = {0};
        want.ndim = ndim;
        memcpy(want.shape, shape, sizeof shape);
        raisef(L, fn, "cannot expand %s to %s (only size-1 dims repeat, and new dims go first)",
               shape_of(t, a, sizeof a), shape_of(&want, b, sizeof b));
    }
    return 1;
}

/* t:unfold(dim, size, step): every size-long slice along dim, step apart, in a new last dim. */
static int l_tensor_unfold(lua_State *L) {
    const char *fn = "unfold";
    Tensor *t = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, t->ndim, fn, 0);
    int64_t size = check_count(L, 3, fn, "size", 0, t->shape[dim]);
    int64_t step = check_count(L, 4, fn, "step", 1, TENSOR_MAX_NUMEL);
    Tensor *out = push_tensor(L);
    check_status(L, tensor_unfold(out, t, dim, size, step), fn, NULL);
    return 1;
}

/* t:view(sizes...) (one may be -1) or t:view(other) (viewAs): the same storage, another shape. */
static int l_tensor_view(lua_State *L) {
    const char *fn = "view";
    Tensor *t = check_tensor(L, 1, fn);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim;
    Tensor *like = luaL_testudata(L, 2, TENSOR_MT);
    if (like && like->ndim >= 1 && lua_gettop(L) == 2 && like->dtype != DTYPE_INT64) {
        ndim = like->ndim; /* viewAs */
        memcpy(shape, like->shape, sizeof shape);
    } else {
        ndim = check_shape_args(L, 2, fn, shape, 1);
    }
    Tensor *out = push_tensor(L);
    int st = tensor_view(out, t, ndim, shape);
    if (st != MN_OK) {
        char b[64], w[64];
        Tensor want = {0};
        want.ndim = ndim;
        memcpy(want.shape, shape, sizeof shape);
        if (st == MN_ERR_LAYOUT)
            raisef(L, fn, "cannot view a strided %s as %s without a copy (call :contiguous() first)",
                   shape_of(t, b, sizeof b), tensor_shape_str(w, sizeof w, &want));
        raisef(L, fn, "cannot view %s (%lld elements) as %s", shape_of(t, b, sizeof b),
               (long long)t->numel, tensor_shape_str(w, sizeof w, &want));
    }
    return 1;
}

/* t:squeeze([dim]): without size-1 dims (or without dim when its size is 1). */
static int l_tensor_squeeze(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "squeeze");
    int dim = lua_isnoneornil(L, 2) ? -1 : check_dim(L, 2, t->ndim, "squeeze", 0);
    Tensor *out = push_tensor(L);
    check_status(L, tensor_squeeze(out, t, dim), "squeeze", NULL);
    return 1;
}

/* t:unsqueeze(dim): a new size-1 dim at dim (1 .. t:dim() + 1). */
static int l_tensor_unsqueeze(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "unsqueeze");
    int dim = check_dim(L, 2, t->ndim, "unsqueeze", 1);
    Tensor *out = push_tensor(L);
    if (tensor_unsqueeze(out, t, dim) != MN_OK)
        raisef(L, "unsqueeze", "a tensor has at most %d dims", TENSOR_MAX_DIMS);
    return 1;
}

/* t:contiguous(): t itself when contiguous, else a contiguous copy. */
static int l_tensor_contiguous(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "contiguous");
    if (tensor_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    Tensor *out = push_tensor(L);
    check_status(L, tensor_clone(out, t), "contiguous", NULL);
    account_storage(L, out);
    return 1;
}

/* t:resize(sizes...) or t:resize(other) (resizeAs): in place, keeping the storage when it is large
 * enough (the values are then not cleared, as Torch7's). Returns t. */
static int l_tensor_resize(lua_State *L) {
    const char *fn = "resize";
    Tensor *t = check_tensor(L, 1, fn);
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim;
    Tensor *like = luaL_testudata(L, 2, TENSOR_MT);
    if (like && lua_gettop(L) == 2 && (like->dtype != DTYPE_INT64 || like->ndim != 1)) {
        ndim = like->ndim;
        memcpy(shape, like->shape, sizeof shape);
    } else {
        ndim = check_shape_args(L, 2, fn, shape, 0);
    }
    size_t before = t->storage->nbytes;
    Storage *old = t->storage;
    check_status(L, tensor_resize(t, ndim, shape), fn, NULL);
    if (t->storage != old || t->storage->nbytes != before) account_storage(L, t);
    lua_settop(L, 1);
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
        raisef(L, "set_storage", "%s at offset %.0f does not fit in %s (a contiguous %s)",
               shape_of(t, ba, sizeof ba), off, shape_of(src, bb, sizeof bb), dtype_name(t->dtype));
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_shares(lua_State *L) {
    Tensor *a = check_tensor(L, 1, "shares");
    Tensor *b = check_tensor(L, 2, "shares");
    lua_pushboolean(L, tensor_shares_storage(a, b));
    return 1;
}

/* ---------------------------------------------------------------- Torch7 indexing */

/* A view of t for an index table {i, {a, b}, {}, ...} (Torch7's t[{...}]): a number selects
 * (removing the dim), {a, b} narrows to a..b inclusive, {a} to a alone, {} keeps the dim; negative
 * numbers count from the end. Pushes the view; returns 1 when every dim was selected by a number
 * (then the view is a single element: *off is its offset and nothing is pushed). */
static int index_view(lua_State *L, Tensor *t, int key, const char *fn, int64_t *off) {
    int n = (int)lua_objlen(L, key);
    if (n > t->ndim) {
        char b[64];
        raisef(L, fn, "%d indices for a tensor of shape %s", n, shape_of(t, b, sizeof b));
    }
    int all_numbers = n == t->ndim && n > 0;
    for (int i = 1; i <= n && all_numbers; i++) {
        lua_rawgeti(L, key, i);
        all_numbers = lua_type(L, -1) == LUA_TNUMBER;
        lua_pop(L, 1);
    }
    if (all_numbers) {
        *off = 0;
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, key, i + 1);
            *off += check_index(L, lua_gettop(L), t->shape[i], fn, i + 1) * t->stride[i];
            lua_pop(L, 1);
        }
        return 1;
    }
    Tensor *view = push_tensor(L);
    check_status(L, tensor_view(view, t, t->ndim, t->shape), fn, NULL);
    int dim = 0; /* the dim of view that index i refers to */
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, key, i);
        int e = lua_gettop(L);
        if (lua_type(L, e) == LUA_TNUMBER) {
            int64_t at = check_index(L, e, view->shape[dim], fn, i);
            check_status(L, tensor_select(view, view, dim, at), fn, NULL);
        } else if (lua_istable(L, e)) {
            int parts = (int)lua_objlen(L, e);
            int64_t size = view->shape[dim], first = 0, last = size - 1;
            if (parts > 2) raisef(L, fn, "index %d: a range is {first, last}, got %d numbers", i, parts);
            if (parts >= 1) {
                lua_rawgeti(L, e, 1);
                first = check_index(L, lua_gettop(L), size, fn, i);
                lua_pop(L, 1);
                last = first;
            }
            if (parts == 2) {
                lua_rawgeti(L, e, 2);
                last = check_index(L, lua_gettop(L), size, fn, i);
                lua_pop(L, 1);
            }
            if (last < first)
                raisef(L, fn, "index %d: range {%lld, %lld} is empty", i, (long long)first + 1,
                       (long long)last + 1);
            check_status(L, tensor_narrow(view, view, dim, first, last - first + 1), fn, NULL);
            dim++;
        } else {
            raisef(L, fn, "index %d must be a number or a table {first, last}, got %s", i,
                   luaL_typename(L, e));
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* __index: t[i] selects along the first dim (a number for a 1-D tensor); t[{...}] is Torch7's
 * multi-dim indexing; t[mask] (uint8) is maskedSelect, t[indices] (int64) index(1, indices);
 * names find methods. */
static int l_tensor_index(lua_State *L) {
    int kind = lua_type(L, 2);
    if (kind == LUA_TNUMBER) {
        Tensor *t = check_tensor(L, 1, "[]");
        if (t->ndim == 0) raisef(L, "[]", "cannot index an empty tensor");
        int64_t i = check_index(L, 2, t->shape[0], "[]", 1);
        if (t->ndim == 1) {
            push_element(L, t, i * t->stride[0]);
            return 1;
        }
        Tensor *out = push_tensor(L);
        check_status(L, tensor_select(out, t, 0, i), "[]", NULL);
        return 1;
    }
    if (kind == LUA_TTABLE) {
        Tensor *t = check_tensor(L, 1, "[]");
        int64_t off;
        if (index_view(L, t, 2, "[]", &off)) push_element(L, t, off);
        return 1;
    }
    Tensor *key = kind == LUA_TUSERDATA ? luaL_testudata(L, 2, TENSOR_MT) : NULL;
    if (key && key->dtype == DTYPE_INT64) { /* t[indices]: Torch7's index(1, indices) */
        lua_getfield(L, lua_upvalueindex(1), "index");
        lua_pushvalue(L, 1);
        lua_pushinteger(L, 1);
        lua_pushvalue(L, 2);
        lua_call(L, 3, 1);
        return 1;
    }
    if (key) { /* t[mask] */
        lua_getfield(L, lua_upvalueindex(1), "maskedSelect");
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* Fills view with the number at idx, or copies the tensor at idx into it. */
static void assign(lua_State *L, Tensor *view, int idx, const char *fn) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (tensor_fill(view, v) != MN_OK)
            raisef(L, fn, "value %g does not fit a %s tensor", v, dtype_name(view->dtype));
        return;
    }
    Tensor *src = luaL_testudata(L, idx, TENSOR_MT);
    if (!src || !src->storage) raisef(L, fn, "assigns a number or a tensor, got %s", luaL_typename(L, idx));
    if (src->numel != view->numel) {
        char a[64], b[64];
        raisef(L, fn, "cannot assign a %s tensor to a %s slice", shape_of(src, a, sizeof a),
               shape_of(view, b, sizeof b));
    }
    check_status(L, tensor_copy(view, src), fn, NULL);
}

/* __newindex: t[i] = v, t[{...}] = number | tensor (into the view), t[mask] = number | tensor,
 * t[indices] = number | tensor (along dim 1). */
static int l_tensor_newindex(lua_State *L) {
    const char *fn = "[]=";
    Tensor *t = check_tensor(L, 1, fn);
    int kind = lua_type(L, 2);
    if (kind == LUA_TNUMBER) {
        if (t->ndim == 0) raisef(L, fn, "cannot index an empty tensor");
        int64_t i = check_index(L, 2, t->shape[0], fn, 1);
        if (t->ndim == 1) {
            store_element(L, t, i * t->stride[0], 3, fn);
            return 0;
        }
        Tensor *row = push_tensor(L);
        check_status(L, tensor_select(row, t, 0, i), fn, NULL);
        assign(L, row, 3, fn);
        return 0;
    }
    if (kind == LUA_TTABLE) {
        int64_t off;
        if (index_view(L, t, 2, fn, &off)) {
            store_element(L, t, off, 3, fn);
            return 0;
        }
        assign(L, check_tensor(L, -1, fn), 3, fn);
        return 0;
    }
    Tensor *key = kind == LUA_TUSERDATA ? luaL_testudata(L, 2, TENSOR_MT) : NULL;
    if (key) { /* t[indices] = v: indexFill/indexCopy along dim 1; t[mask] = v: maskedFill/Copy */
        int number = lua_type(L, 3) == LUA_TNUMBER, by_index = key->dtype == DTYPE_INT64;
        lua_getfield(L, lua_upvalueindex(1), by_index ? (number ? "indexFill" : "indexCopy")
                                                      : (number ? "maskedFill" : "maskedCopy"));
        lua_pushvalue(L, 1);
        if (by_index) lua_pushinteger(L, 1);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        lua_call(L, by_index ? 4 : 3, 0);
        return 0;
    }
    raisef(L, fn, "tensors take numbers, index tables or masks as keys, got %s", luaL_typename(L, 2));
}

/* ---------------------------------------------------------------- copies and types */

static int l_tensor_fill(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "fill");
    double v = check_number(L, 2, "fill", "value");
    if (tensor_fill(t, v) != MN_OK)
        raisef(L, "fill", "value %g does not fit a %s tensor", v, dtype_name(t->dtype));
    lua_settop(L, 1);
    return 1;
}

/* dst:copy(src): same element count, any shapes, strides and dtypes. Returns dst. */
static int l_tensor_copy(lua_State *L) {
    Tensor *dst = check_tensor(L, 1, "copy");
    Tensor *src = check_tensor(L, 2, "copy");
    if (dst->numel != src->numel) {
        char ba[64], bb[64];
        raisef(L, "copy", "size mismatch: %s (%lld elements) vs %s (%lld elements)",
               shape_of(dst, ba, sizeof ba), (long long)dst->numel, shape_of(src, bb, sizeof bb),
               (long long)src->numel);
    }
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

/* t:to(dtype): t itself when it already is of that dtype, else a converted copy (Torch7's
 * :float(), :byte(), :long(), :type(name) build on it). */
static int l_tensor_to(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "type");
    int dtype = luaL_checkoption(L, 2, NULL, dtype_names);
    if (dtype == t->dtype) {
        lua_settop(L, 1);
        return 1;
    }
    Tensor *out = push_tensor(L);
    check_status(L, tensor_init_like(out, t, dtype), "type", NULL);
    check_status(L, tensor_copy(out, t), "type", NULL);
    account_storage(L, out);
    return 1;
}

/* t:float(scale [, shift]): a new float32 copy, value * scale + shift (bytes to [0, 1] and the
 * MNIST normalisation in one pass). */
static int l_tensor_scaled_float(lua_State *L) {
    const char *fn = "float";
    Tensor *t = check_tensor(L, 1, fn);
    float scale = check_float_arg(L, 2, fn, "scale");
    float shift = lua_isnoneornil(L, 3) ? 0.0f : check_float_arg(L, 3, fn, "shift");
    Tensor *out = push_tensor(L);
    check_status(L, tensor_init_like(out, t, DTYPE_FLOAT32), fn, NULL);
    if (t->dtype == DTYPE_UINT8 && tensor_is_contiguous(t)) {
        check_status(L, tensor_bytes_to_float(out, t, scale, shift), fn, NULL);
    } else {
        check_status(L, tensor_copy(out, t), fn, NULL);
        check_status(L, tensor_map(out, out, MAP_MUL, scale, 0), fn, NULL);
        check_status(L, tensor_map(out, out, MAP_ADD, shift, 0), fn, NULL);
    }
    account_storage(L, out);
    return 1;
}

static void push_table(lua_State *L, const Tensor *t, int dim, int64_t off) {
    lua_createtable(L, (int)t->shape[dim], 0);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        if (dim + 1 < t->ndim) push_table(L, t, dim + 1, off + i * t->stride[dim]);
        else push_element(L, t, off + i * t->stride[dim]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static int l_tensor_totable(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "totable");
    if (t->ndim == 0) lua_newtable(L);
    else push_table(L, t, 0, 0);
    return 1;
}

/* t:tobytes() -> the raw little-endian bytes of t's elements in row-major order. */
static int l_tensor_tobytes(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "tobytes");
    if (tensor_is_contiguous(t)) {
        lua_pushlstring(L, t->numel ? tensor_bytes(t) : "", (size_t)t->numel * dtype_size(t->dtype));
        return 1;
    }
    Tensor *dense = push_tensor(L);
    check_status(L, tensor_clone(dense, t), "tobytes", NULL);
    lua_pushlstring(L, tensor_bytes(dense), (size_t)dense->numel * dtype_size(dense->dtype));
    return 1;
}

/* ---------------------------------------------------------------- element-wise math */

/* The enum value of the op name at idx in names[0..count). */
static int check_op(lua_State *L, int idx, const char *const *names, int count, const char *fn) {
    const char *name = luaL_checkstring(L, idx);
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0) return i;
    raisef(L, fn, "unknown operation '%s'", name);
}

static const char *const map_ops[MAP_COUNT] = {
    "abs", "sign", "sqrt", "rsqrt", "exp", "log", "log1p", "tanh", "sigmoid", "floor", "ceil",
    "round", "trunc", "frac", "neg", "square", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
    "cosh", "expm1", "cinv", "add", "mul", "div", "pow", "rpow", "clamp", "fmod", "remainder",
};
static const char *const zip_ops[ZIP_COUNT] = {"add", "cmul", "cdiv", "cpow", "lerp", "cmax", "cmin", "atan2"};
static const char *const zip3_ops[] = {"addcmul", "addcdiv"};
static const char *const cmp_ops[] = {"eq", "ne", "gt", "lt", "ge", "le"};

/* Raises a clear error unless x is float32 with n elements (argument #arg of Torch7 name fn). */
static void check_math_operand(lua_State *L, const Tensor *x, int64_t n, const char *fn, int arg) {
    if (x->dtype != DTYPE_FLOAT32)
        raisef(L, fn, "argument #%d: expected a float32 tensor, got %s (convert it with :float())",
               arg, dtype_name(x->dtype));
    if (x->numel != n) {
        char b[64];
        raisef(L, fn, "argument #%d has %lld elements (shape %s), expected %lld (no broadcasting: "
               "use expand)", arg, (long long)x->numel, shape_of(x, b, sizeof b), (long long)n);
    }
}

/* core.tensor_map(out, x, op [, a [, b]]) -> out = op(x, a, b). */
static int l_tensor_map(lua_State *L) {
    int op = check_op(L, 3, map_ops, MAP_COUNT, "tensor_map");
    const char *fn = map_ops[op];
    Tensor *out = check_tensor(L, 1, fn), *x = check_tensor(L, 2, fn);
    check_math_operand(L, x, x->numel, fn, 1);
    check_math_operand(L, out, x->numel, fn, 0);
    float a = lua_isnoneornil(L, 4) ? 0.0f : check_float_arg(L, 4, fn, "value");
    float b = lua_isnoneornil(L, 5) ? 0.0f : check_float_arg(L, 5, fn, "value");
    check_status(L, tensor_map(out, x, op, a, b), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* core.tensor_zip(out, x, y, op [, alpha]) -> out = op(x, y). */
static int l_tensor_zip(lua_State *L) {
    int op = check_op(L, 4, zip_ops, ZIP_COUNT, "tensor_zip");
    const char *fn = zip_ops[op];
    Tensor *out = check_tensor(L, 1, fn), *x = check_tensor(L, 2, fn), *y = check_tensor(L, 3, fn);
    check_math_operand(L, x, x->numel, fn, 1);
    check_math_operand(L, y, x->numel, fn, 2);
    check_math_operand(L, out, x->numel, fn, 0);
    float alpha = lua_isnoneornil(L, 5) ? 1.0f : check_float_arg(L, 5, fn, "value");
    check_status(L, tensor_zip(out, x, y, op, alpha), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* core.tensor_zip3(out, x, y, z, op, alpha) -> out = x + alpha * y (* or /) z. */
static int l_tensor_zip3(lua_State *L) {
    int op = check_op(L, 5, zip3_ops, 2, "tensor_zip3");
    const char *fn = zip3_ops[op];
    Tensor *out = check_tensor(L, 1, fn), *x = check_tensor(L, 2, fn);
    Tensor *y = check_tensor(L, 3, fn), *z = check_tensor(L, 4, fn);
    check_math_operand(L, x, x->numel, fn, 1);
    check_math_operand(L, y, x->numel, fn, 2);
    check_math_operand(L, z, x->numel, fn, 3);
    check_math_operand(L, out, x->numel, fn, 0);
    float alpha = lua_isnoneornil(L, 6) ? 1.0f : check_float_arg(L, 6, fn, "value");
    check_status(L, tensor_zip3(out, x, y, z, op, alpha), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* core.tensor_compare(out, x, y_or_number, op) -> out (uint8) = x op y. */
static int l_tensor_compare(lua_State *L) {
    int op = check_op(L, 4, cmp_ops, 6, "tensor_compare");
    const char *fn = cmp_ops[op];
    Tensor *out = check_tensor(L, 1, fn), *x = check_tensor(L, 2, fn);
    Tensor *y = lua_type(L, 3) == LUA_TNUMBER ? NULL : check_tensor(L, 3, fn);
    double value = y ? 0 : lua_tonumber(L, 3);
    char a[64], b[64];
    if (y && y->numel != x->numel)
        raisef(L, fn, "size mismatch: %s vs %s (no broadcasting: use expand)", shape_of(x, a, sizeof a),
               shape_of(y, b, sizeof b));
    if (out->dtype != DTYPE_UINT8 || out->numel != x->numel)
        raisef(L, fn, "the result must be a uint8 tensor of %lld elements, got %s %s",
               (long long)x->numel, dtype_name(out->dtype), shape_of(out, a, sizeof a));
    check_status(L, tensor_compare(out, x, y, value, op), fn, NULL);
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- matrix products */

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

/* ---------------------------------------------------------------- registration */

static const luaL_Reg tensor_methods[] = {
    {"size", l_tensor_size},
    {"stride", l_tensor_stride},
    {"dim", l_tensor_dim},
    {"numel", l_tensor_numel},
    {"dtype", l_tensor_dtype},
    {"storageOffset", l_tensor_storage_offset},
    {"isContiguous", l_tensor_is_contiguous},
    {"get", l_tensor_get},
    {"set", l_tensor_set},
    {"select", l_tensor_select},
    {"narrow", l_tensor_narrow},
    {"transpose", l_tensor_transpose},
    {"t", l_tensor_t},
    {"expand", l_tensor_expand},
    {"unfold", l_tensor_unfold},
    {"view", l_tensor_view},
    {"squeeze", l_tensor_squeeze},
    {"unsqueeze", l_tensor_unsqueeze},
    {"contiguous", l_tensor_contiguous},
    {"resize", l_tensor_resize},
    {"set_storage", l_tensor_set_storage},
    {"shares", l_tensor_shares},
    {"fill", l_tensor_fill},
    {"copy", l_tensor_copy},
    {"clone", l_tensor_clone},
    {"to", l_tensor_to},
    {"scaled_float", l_tensor_scaled_float},
    {"totable", l_tensor_totable},
    {"tobytes", l_tensor_tobytes},
    {NULL, NULL},
};

static const luaL_Reg tensor_functions[] = {
    {"tensor", l_tensor_new},
    {"tensor_from_table", l_tensor_from_table},
    {"tensor_from_bytes", l_tensor_from_bytes},
    {"tensor_from_raw", l_tensor_from_raw},
    {"tensor_map", l_tensor_map},
    {"tensor_zip", l_tensor_zip},
    {"tensor_zip3", l_tensor_zip3},
    {"tensor_compare", l_tensor_compare},
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
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_tensor_index, 1);    /* both see the methods as their upvalue */
    lua_setfield(L, -3, "__index");
    lua_pushcclosure(L, l_tensor_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, l_tensor_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_tensor_len);
    lua_setfield(L, -2, "__len");
    lua_setfield(L, -2, "tensor_metatable");
}
