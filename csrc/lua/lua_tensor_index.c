/* lua_tensor_index.c: indexing and joining (cat, index, indexCopy, indexFill, indexAdd, gather,
 * scatter, maskedFill, maskedCopy, maskedSelect, nonzero, repeatTensor) as tensor methods, in
 * Torch7's call forms: x:f(...) returns a new tensor (or modifies x, for the in-place ones) and
 * res:f(x, ...) writes into res, resized to the result's shape. Indices are Torch7's 1-based int64
 * (LongTensor) values; masks are uint8 (ByteTensor) 0s and 1s. lua/mnist/tensor.lua adds split and
 * chunk; lua/mnist/torch.lua the torch.* forms. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <stdio.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/tensor_index.h"

#define TORCH_BASE 1 /* Torch7's index tensors count from 1 */

/* ---------------------------------------------------------------- argument checks */

/* The int64 index tensor at idx (any shape when any_shape, else 1-D or empty). */
static Tensor *check_indices(lua_State *L, int idx, const char *fn, int any_shape) {
    Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t || !t->storage)
        raisef(L, fn, "argument #%d: indices must be a torch.LongTensor, got %s", idx,
               t ? "a released tensor" : luaL_typename(L, idx));
    if (t->dtype != DTYPE_INT64)
        raisef(L, fn, "argument #%d: indices must be a torch.LongTensor (int64), got %s "
               "(convert with :long())", idx, dtype_name(t->dtype));
    if (!any_shape && t->ndim > 1) {
        char b[64];
        raisef(L, fn, "argument #%d: indices must be a 1-D torch.LongTensor, got shape %s", idx,
               shape_of(t, b, sizeof b));
    }
    return t;
}

/* The uint8 mask at idx, with x's element count. */
static Tensor *check_mask(lua_State *L, int idx, const Tensor *x, const char *fn) {
    Tensor *m = luaL_testudata(L, idx, TENSOR_MT);
    if (!m || !m->storage)
        raisef(L, fn, "argument #%d: the mask must be a torch.ByteTensor, got %s", idx,
               m ? "a released tensor" : luaL_typename(L, idx));
    if (m->dtype != DTYPE_UINT8)
        raisef(L, fn, "argument #%d: the mask must be a torch.ByteTensor (uint8), got %s "
               "(comparisons such as x:gt(0) make one)", idx, dtype_name(m->dtype));
    if (m->numel != x->numel) {
        char a[64], b[64];
        raisef(L, fn, "the mask %s has %lld elements but the tensor %s has %lld",
               shape_of(m, a, sizeof a), (long long)m->numel, shape_of(x, b, sizeof b),
               (long long)x->numel);
    }
    return m;
}

/* "(2, 1)": the 1-based position of entry `linear` of t in row-major order; "3" for a 1-D t. */
static const char *position_of(const Tensor *t, int64_t linear, char *buf, size_t size) {
    if (t->ndim <= 1) {
        snprintf(buf, size, "%lld", (long long)linear + 1);
        return buf;
    }
    int64_t pos[TENSOR_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        pos[d] = t->shape[d] ? linear % t->shape[d] : 0;
        linear = t->shape[d] ? linear / t->shape[d] : 0;
    }
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)pos[d] + 1);
    if (n < size) snprintf(buf + n, size - n, ")");
    return buf;
}

/* Raises the error for a failed index op: a bad index entry (fault) names its position, value and
 * the size it must fit; other statuses the function alone. */
static void check_index_status(lua_State *L, int st, const char *fn, const IndexFault *fault,
                               const Tensor *index, int dim) {
    if (st == MN_ERR_RANGE) {
        char p[96];
        raisef(L, fn, "index %lld at position %s is out of range for dim %d of size %lld "
               "(indices run from 1 to %lld)", (long long)fault->value,
               position_of(index, fault->position, p, sizeof p), dim + 1, (long long)fault->size,
               (long long)fault->size);
    }
    check_status(L, st, fn, NULL);
}

static void check_mask_status(lua_State *L, int st, const char *fn, const IndexFault *fault,
                              const Tensor *mask) {
    if (st == MN_ERR_RANGE) {
        char p[96];
        raisef(L, fn, "the mask holds %lld at position %s; a mask holds only 0 and 1",
               (long long)fault->value, position_of(mask, fault->position, p, sizeof p));
    }
    check_status(L, st, fn, NULL);
}

/* Raises for a fill value that does not fit x's dtype (the core's MN_ERR_ARG, once every other
 * argument was checked here). */
static void check_value_status(lua_State *L, int st, const char *fn, double value, const Tensor *x) {
    if (st == MN_ERR_ARG) raisef(L, fn, "value %g does not fit a %s tensor", value, dtype_name(x->dtype));
}

/* Raises unless a has b's dtype (what names a). */
static void check_same_dtype(lua_State *L, const Tensor *a, const Tensor *b, const char *fn,
                             const char *what) {
    if (a->dtype != b->dtype)
        raisef(L, fn, "%s is %s but the tensor is %s (convert with :type(x:type()))", what,
               dtype_name(a->dtype), dtype_name(b->dtype));
}

/* "(2, 3)" for the shape of t with `along` at dim. */
static const char *shape_with(const Tensor *t, int dim, int64_t along, char *buf, size_t size) {
    Tensor want = *t;
    want.shape[dim] = along;
    return tensor_shape_str(buf, size, &want);
}

/* ---------------------------------------------------------------- results */

/* The tensor an out-of-place op writes: res (Torch7's res form) resized to shape, or a new tensor.
 * When res shares storage with an input, the op writes a new tensor that finish_result copies into
 * res (Torch7 would read inputs it had already overwritten). Pushes what it returns. */
static Tensor *begin_result(lua_State *L, Tensor *res, int res_idx, int dtype, int ndim,
                            const int64_t *shape, const Tensor *const *inputs, int ninputs,
                            const char *fn) {
    int fresh = res == NULL;
    if (res) {
        if (res->dtype != dtype)
            raisef(L, fn, "the result tensor is %s but the result is %s", dtype_name(res->dtype),
                   dtype_name(dtype));
        for (int i = 0; i < ninputs; i++)
            if (tensor_shares_storage(res, inputs[i])) fresh = 1;
    }
    if (fresh) {
        Tensor *out = push_tensor(L);
        check_status(L, tensor_init(out, dtype, ndim, shape), fn, NULL);
        account_storage(L, out);
        return out;
    }
    if (res->ndim != ndim || memcmp(res->shape, shape, (size_t)ndim * sizeof *shape)) {
        Storage *old = res->storage;
        check_status(L, tensor_resize(res, ndim, shape), fn, NULL);
        if (res->storage != old) account_storage(L, res);
    }
    lua_pushvalue(L, res_idx);
    return res;
}

/* Leaves res (or the new result) on the stack top. */
static void finish_result(lua_State *L, Tensor *res, int res_idx, Tensor *out, const char *fn) {
    if (!res || out == res) return;
    if (res->ndim != out->ndim || memcmp(res->shape, out->shape, (size_t)out->ndim * sizeof *out->shape)) {
        Storage *old = res->storage;
        check_status(L, tensor_resize(res, out->ndim, out->shape), fn, NULL);
        if (res->storage != old) account_storage(L, res);
    }
    check_status(L, tensor_copy(res, out), fn, NULL);
    lua_pushvalue(L, res_idx);
}

/* ---------------------------------------------------------------- cat */

/* Torch7's forms: cat(x1, x2 [, dim]), cat({x1, x2, ...} [, dim]), cat(res, x1, x2 [, dim]),
 * cat(res, {x1, ...} [, dim]); as methods x1:cat(x2) and res:cat(x1, x2) (Torch7's argument
 * matching). dim defaults to the last dim (of the input with the most dims). */
static int l_tensor_cat(lua_State *L) {
    const char *fn = "cat";
    int res_idx = 0, list_idx = 0, dim_idx, first_tensor = 0, count;
    int is_t1 = luaL_testudata(L, 1, TENSOR_MT) != NULL, is_t2 = luaL_testudata(L, 2, TENSOR_MT) != NULL;
    if (lua_istable(L, 1) && !is_t1) {
        list_idx = 1, dim_idx = 2;
    } else if (is_t1 && lua_istable(L, 2) && !is_t2) {
        res_idx = 1, list_idx = 2, dim_idx = 3;
    } else if (is_t1 && is_t2 && luaL_testudata(L, 3, TENSOR_MT)) {
        res_idx = 1, first_tensor = 2, dim_idx = 4;
    } else if (is_t1 && is_t2) {
        first_tensor = 1, dim_idx = 3;
    } else {
        raisef(L, fn, "expected ([res,] x1, x2 [, dim]) or ([res,] {x1, x2, ...} [, dim]), got %s "
               "and %s", luaL_typename(L, 1), luaL_typename(L, 2));
    }
    lua_settop(L, dim_idx); /* what is pushed next never reads as the dim */
    count = list_idx ? (int)lua_objlen(L, list_idx) : 2;
    if (count < 1) raisef(L, fn, "the list of tensors is empty");
    const Tensor **inputs = lua_newuserdata(L, (size_t)count * sizeof *inputs);
    int max_ndim = 0;
    for (int i = 0; i < count; i++) {
        if (list_idx) {
            lua_rawgeti(L, list_idx, i + 1);
            Tensor *t = luaL_testudata(L, -1, TENSOR_MT);
            if (!t || !t->storage)
                raisef(L, fn, "element %d of the list is %s, expected a tensor", i + 1,
                       t ? "a released tensor" : luaL_typename(L, -1));
            inputs[i] = t;
            lua_pop(L, 1); /* the list keeps it alive */
        } else {
            inputs[i] = check_tensor(L, first_tensor + i, fn);
        }
        if (inputs[i]->ndim > max_ndim) max_ndim = inputs[i]->ndim;
    }
    int dim = max_ndim ? max_ndim - 1 : 0;
    if (!lua_isnoneornil(L, dim_idx)) {
        double d = check_number(L, dim_idx, fn, "dim");
        if (d != (double)(int)d || d == 0 || d > TENSOR_MAX_DIMS || d < -(double)max_ndim)
            raisef(L, fn, "dim %g out of range (1..%d, or negative from the end of the %d-D inputs)",
                   d, TENSOR_MAX_DIMS, max_ndim);
        dim = d > 0 ? (int)d - 1 : max_ndim + (int)d;
    }
    int64_t shape[TENSOR_MAX_DIMS];
    int ndim, bad, first = 0;
    while (first < count && inputs[first]->ndim == 0) first++;
    int st = tensor_cat_shape(&ndim, shape, inputs, count, dim, &bad);
    if (st == MN_ERR_DTYPE)
        raisef(L, fn, "tensor %d is %s but tensor %d is %s", bad + 1, dtype_name(inputs[bad]->dtype),
               first + 1, dtype_name(inputs[first]->dtype));
    if (st == MN_ERR_SHAPE && bad >= 0) {
        char a[64], b[64];
        raisef(L, fn, "tensor %d has shape %s but tensor %d has %s: sizes must match except along "
               "dim %d", bad + 1, shape_of(inputs[bad], a, sizeof a), first + 1,
               shape_of(inputs[first], b, sizeof b), dim + 1);
    }
    check_status(L, st, fn, "the result is too large");
    int dtype = first < count ? inputs[first]->dtype : DTYPE_FLOAT32;
    Tensor *res = res_idx ? check_tensor(L, res_idx, fn) : NULL;
    if (res && first == count) dtype = res->dtype;
    Tensor *out = begin_result(L, res, res_idx, dtype, ndim, shape, (const Tensor *const *)inputs,
                               count, fn);
    check_status(L, tensor_cat(out, (const Tensor *const *)inputs, count, dim), fn, NULL);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* ---------------------------------------------------------------- repeatTensor */

/* x:repeatTensor(sizes...) -> a new tensor; res:repeatTensor(x, sizes...) into res. sizes: numbers,
 * a table or a LongTensor, at least one per dim of x (more add leading dims). */
static int l_tensor_repeat(lua_State *L) {
    const char *fn = "repeatTensor";
    Tensor *res = NULL, *src = check_tensor(L, 1, fn);
    int res_idx = 0, sizes_idx = 2;
    if (luaL_testudata(L, 2, TENSOR_MT) && !lua_isnoneornil(L, 3)) {
        res = src, res_idx = 1, sizes_idx = 3;
        src = check_tensor(L, 2, fn);
    }
    if (src->ndim == 0) raisef(L, fn, "cannot repeat an empty tensor");
    int64_t repeats[TENSOR_MAX_DIMS], shape[TENSOR_MAX_DIMS];
    int ndim = check_shape_args(L, sizes_idx, fn, repeats, 0);
    if (ndim < src->ndim) {
        char b[64];
        raisef(L, fn, "%d repeat counts for a tensor of shape %s (give at least one per dim)", ndim,
               shape_of(src, b, sizeof b));
    }
    int lead = ndim - src->ndim;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        shape[d] = repeats[d] * (d < lead ? 1 : src->shape[d - lead]);
        if (shape[d] && numel > TENSOR_MAX_NUMEL / shape[d])
            raisef(L, fn, "the result has more than %lld elements", (long long)TENSOR_MAX_NUMEL);
        numel *= shape[d];
    }
    Tensor *out = begin_result(L, res, res_idx, src->dtype, ndim, shape, (const Tensor *const *)&src,
                               1, fn);
    check_status(L, tensor_repeat(out, src, ndim, repeats), fn, NULL);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* ---------------------------------------------------------------- index family */

/* x:index(dim, indices) -> a new tensor; res:index(x, dim, indices) into res. */
static int l_tensor_index_select(lua_State *L) {
    const char *fn = "index";
    Tensor *res = NULL, *src = check_tensor(L, 1, fn);
    int res_idx = 0, a = 2;
    if (luaL_testudata(L, 2, TENSOR_MT)) {
        res = src, res_idx = 1, a = 3;
        src = check_tensor(L, 2, fn);
    }
    int dim = check_dim(L, a, src->ndim, fn, 0);
    Tensor *index = check_indices(L, a + 1, fn, 0);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[dim] = index->numel;
    const Tensor *inputs[2] = {src, index};
    Tensor *out = begin_result(L, res, res_idx, src->dtype, src->ndim, shape, inputs, 2, fn);
    IndexFault fault;
    check_index_status(L, tensor_index_select(out, src, dim, index, TORCH_BASE, &fault), fn, &fault,
                       index, dim);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* x:indexCopy(dim, indices, src) and x:indexAdd(dim, indices, src): in place, returns x. */
static int index_into(lua_State *L, const char *fn, int add) {
    Tensor *x = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, x->ndim, fn, 0);
    Tensor *index = check_indices(L, 3, fn, 0);
    Tensor *src = check_tensor(L, 4, fn);
    check_same_dtype(L, src, x, fn, "the source");
    int ok = src->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = src->shape[d] == (d == dim ? index->numel : x->shape[d]);
    if (!ok) {
        char a[64], b[64], c[64];
        raisef(L, fn, "the source has shape %s; %lld indices along dim %d of a %s tensor need %s",
               shape_of(src, a, sizeof a), (long long)index->numel, dim + 1,
               shape_of(x, b, sizeof b), shape_with(x, dim, index->numel, c, sizeof c));
    }
    IndexFault fault;
    int st = add ? tensor_index_add(x, dim, index, src, TORCH_BASE, &fault)
                 : tensor_index_copy(x, dim, index, src, TORCH_BASE, &fault);
    check_index_status(L, st, fn, &fault, index, dim);
    lua_settop(L, 1);
    return 1;
}

static int l_tensor_index_copy(lua_State *L) { return index_into(L, "indexCopy", 0); }
static int l_tensor_index_add(lua_State *L) { return index_into(L, "indexAdd", 1); }

/* x:indexFill(dim, indices, value): in place, returns x. */
static int l_tensor_index_fill(lua_State *L) {
    const char *fn = "indexFill";
    Tensor *x = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, x->ndim, fn, 0);
    Tensor *index = check_indices(L, 3, fn, 0);
    double value = check_number(L, 4, fn, "value");
    IndexFault fault;
    int st = tensor_index_fill(x, dim, index, value, TORCH_BASE, &fault);
    check_value_status(L, st, fn, value, x);
    check_index_status(L, st, fn, &fault, index, dim);
    lua_settop(L, 1);
    return 1;
}

/* Raises unless index (one entry per element) has x's ndim and sizes outside dim (Torch7's rule
 * for gather and scatter). */
static void check_elementwise_index(lua_State *L, const Tensor *index, const Tensor *x, int dim,
                                    const char *fn) {
    char a[64], b[64];
    if (index->ndim != x->ndim)
        raisef(L, fn, "index %s has %d dims but the tensor %s has %d", shape_of(index, a, sizeof a),
               index->ndim, shape_of(x, b, sizeof b), x->ndim);
    for (int d = 0; d < x->ndim; d++)
        if (d != dim && index->shape[d] != x->shape[d])
            raisef(L, fn, "index %s and the tensor %s differ along dim %d (%lld vs %lld); they may "
                   "differ only along dim %d", shape_of(index, a, sizeof a), shape_of(x, b, sizeof b),
                   d + 1, (long long)index->shape[d], (long long)x->shape[d], dim + 1);
}

/* x:gather(dim, index) -> a new tensor of index's shape; res:gather(x, dim, index) into res. */
static int l_tensor_gather(lua_State *L) {
    const char *fn = "gather";
    Tensor *res = NULL, *src = check_tensor(L, 1, fn);
    int res_idx = 0, a = 2;
    if (luaL_testudata(L, 2, TENSOR_MT)) {
        res = src, res_idx = 1, a = 3;
        src = check_tensor(L, 2, fn);
    }
    int dim = check_dim(L, a, src->ndim, fn, 0);
    Tensor *index = check_indices(L, a + 1, fn, 1);
    check_elementwise_index(L, index, src, dim, fn);
    const Tensor *inputs[2] = {src, index};
    Tensor *out = begin_result(L, res, res_idx, src->dtype, index->ndim, index->shape, inputs, 2, fn);
    IndexFault fault;
    check_index_status(L, tensor_gather(out, src, dim, index, TORCH_BASE, &fault), fn, &fault, index,
                       dim);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* x:scatter(dim, index, src | value): in place, returns x. Where index repeats a position along
 * dim, the last entry along dim wins. */
static int l_tensor_scatter(lua_State *L) {
    const char *fn = "scatter";
    Tensor *x = check_tensor(L, 1, fn);
    int dim = check_dim(L, 2, x->ndim, fn, 0);
    Tensor *index = check_indices(L, 3, fn, 1);
    check_elementwise_index(L, index, x, dim, fn);
    IndexFault fault;
    int st;
    if (lua_type(L, 4) == LUA_TNUMBER) {
        double value = lua_tonumber(L, 4);
        st = tensor_scatter_fill(x, dim, index, value, TORCH_BASE, &fault);
        check_value_status(L, st, fn, value, x);
    } else {
        Tensor *src = check_tensor(L, 4, fn);
        check_same_dtype(L, src, x, fn, "the source");
        int ok = src->ndim == index->ndim;
        for (int d = 0; ok && d < index->ndim; d++)
            ok = d == dim ? src->shape[d] >= index->shape[d] : src->shape[d] == index->shape[d];
        if (!ok) {
            char a[64], b[64];
            raisef(L, fn, "the source %s must have index %s's sizes, or more along dim %d",
                   shape_of(src, a, sizeof a), shape_of(index, b, sizeof b), dim + 1);
        }
        st = tensor_scatter(x, dim, index, src, TORCH_BASE, &fault);
    }
    check_index_status(L, st, fn, &fault, index, dim);
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- masks */

/* x:maskedFill(mask, value): in place, returns x (t[mask] = value). */
static int l_tensor_masked_fill(lua_State *L) {
    const char *fn = "maskedFill";
    Tensor *x = check_tensor(L, 1, fn);
    Tensor *mask = check_mask(L, 2, x, fn);
    double value = check_number(L, 3, fn, "value");
    IndexFault fault;
    int st = tensor_masked_fill(x, mask, value, &fault);
    check_value_status(L, st, fn, value, x);
    check_mask_status(L, st, fn, &fault, mask);
    lua_settop(L, 1);
    return 1;
}

/* x:maskedCopy(mask, src): x's elements under the mask's 1s take src's first elements in order
 * (t[mask] = tensor); returns x. */
static int l_tensor_masked_copy(lua_State *L) {
    const char *fn = "maskedCopy";
    Tensor *x = check_tensor(L, 1, fn);
    Tensor *mask = check_mask(L, 2, x, fn);
    Tensor *src = check_tensor(L, 3, fn);
    check_same_dtype(L, src, x, fn, "the source");
    int64_t ones;
    IndexFault fault;
    check_mask_status(L, tensor_mask_count(&ones, mask, &fault), fn, &fault, mask);
    if (src->numel < ones) {
        char b[64];
        raisef(L, fn, "the source %s has %lld elements but the mask has %lld ones",
               shape_of(src, b, sizeof b), (long long)src->numel, (long long)ones);
    }
    check_mask_status(L, tensor_masked_copy(x, mask, src, &fault), fn, &fault, mask);
    lua_settop(L, 1);
    return 1;
}

/* x:maskedSelect(mask) -> a new 1-D tensor (t[mask]); res:maskedSelect(x, mask) into res. */
static int l_tensor_masked_select(lua_State *L) {
    const char *fn = "maskedSelect";
    Tensor *res = NULL, *src = check_tensor(L, 1, fn);
    int res_idx = 0, a = 2;
    if (!lua_isnoneornil(L, 3)) {
        res = src, res_idx = 1, a = 3;
        src = check_tensor(L, 2, fn);
    }
    Tensor *mask = check_mask(L, a, src, fn);
    int64_t ones;
    IndexFault fault;
    check_mask_status(L, tensor_mask_count(&ones, mask, &fault), fn, &fault, mask);
    const Tensor *inputs[2] = {src, mask};
    Tensor *out = begin_result(L, res, res_idx, src->dtype, 1, &ones, inputs, 2, fn);
    check_mask_status(L, tensor_masked_select(out, src, mask, &fault), fn, &fault, mask);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* x:nonzero() -> an int64 (n, x:dim()) tensor of the 1-based positions of x's non-zero elements in
 * row-major order (Torch7's); res:nonzero(x) into res (a LongTensor). */
static int l_tensor_nonzero(lua_State *L) {
    const char *fn = "nonzero";
    Tensor *res = NULL, *src = check_tensor(L, 1, fn);
    int res_idx = 0;
    if (!lua_isnoneornil(L, 2)) {
        res = src, res_idx = 1;
        src = check_tensor(L, 2, fn);
    }
    int64_t shape[2];
    check_status(L, tensor_count_nonzero(&shape[0], src), fn, NULL);
    shape[1] = src->ndim;
    Tensor *out = begin_result(L, res, res_idx, DTYPE_INT64, 2, shape, (const Tensor *const *)&src,
                               1, fn);
    check_status(L, tensor_nonzero(out, src, TORCH_BASE), fn, NULL);
    finish_result(L, res, res_idx, out, fn);
    return 1;
}

/* ---------------------------------------------------------------- registration */

static const luaL_Reg index_methods[] = {
    {"cat", l_tensor_cat},
    {"repeatTensor", l_tensor_repeat},
    {"index", l_tensor_index_select},
    {"indexCopy", l_tensor_index_copy},
    {"indexAdd", l_tensor_index_add},
    {"indexFill", l_tensor_index_fill},
    {"gather", l_tensor_gather},
    {"scatter", l_tensor_scatter},
    {"maskedFill", l_tensor_masked_fill},
    {"maskedCopy", l_tensor_masked_copy},
    {"maskedSelect", l_tensor_masked_select},
    {"nonzero", l_tensor_nonzero},
    {NULL, NULL},
};

void register_tensor_index(lua_State *L) {
    lua_getfield(L, -1, "tensor_methods");
    luaL_register(L, NULL, index_methods);
    lua_pop(L, 1);
}
