/* lua_tensor_reduce.c: reductions of tensors (sum, mean, max, argmax). */
#include <math.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/tensor_reduce.h"

/* t:sum() / t:mean(): over all elements, a number. */
static int sum_or_mean(lua_State *L, const char *fn, int mean) {
    Tensor *t = check_float(L, 1, fn);
    if (!lua_isnoneornil(L, 2)) raisef(L, fn, "reductions over a dim are not built yet");
    double s;
    check_status(L, tensor_sum_all(&s, t), fn, NULL);
    lua_pushnumber(L, mean ? s / (double)t->numel : s);
    return 1;
}

static int l_tensor_sum(lua_State *L) { return sum_or_mean(L, "sum", 0); }
static int l_tensor_mean(lua_State *L) { return sum_or_mean(L, "mean", 1); }

/* t:max() -> value, 1-based row-major index. */
static int l_tensor_max(lua_State *L) {
    Tensor *t = check_float(L, 1, "max");
    if (!lua_isnoneornil(L, 2)) raisef(L, "max", "reductions over a dim are not built yet");
    float v;
    int64_t i;
    check_status(L, tensor_max_all(&v, &i, t), "max", "an empty tensor has no maximum");
    lua_pushnumber(L, v);
    lua_pushnumber(L, (lua_Number)(i + 1));
    return 2;
}

/* t:argmax(): over the last dim, 1-based, first on ties. A number for a 1-D tensor, else a table
 * with one index per row (the project's helper; Torch7's max(dim) gives indices as a tensor). */
static int l_tensor_argmax(lua_State *L) {
    const char *fn = "argmax";
    Tensor *t = check_float(L, 1, fn);
    lua_settop(L, 1);
    if (t->ndim == 0 || t->numel == 0) raisef(L, fn, "an empty tensor has no maximum");
    Tensor *dense = push_tensor(L);
    check_status(L, tensor_contiguous(dense, t), fn, NULL);
    int64_t cols = t->shape[t->ndim - 1], rows = t->numel / cols;
    Tensor *values = push_tensor(L);
    check_status(L, tensor_init(values, DTYPE_FLOAT32, 1, &rows), fn, NULL);
    int64_t *idx = lua_newuserdata(L, (size_t)rows * sizeof *idx);
    check_status(L, tensor_max_rows(values, idx, dense), fn, NULL);
    if (t->ndim == 1) {
        lua_pushnumber(L, (lua_Number)(idx[0] + 1));
        return 1;
    }
    lua_createtable(L, (int)rows, 0);
    for (int64_t r = 0; r < rows; r++) {
        lua_pushnumber(L, (lua_Number)(idx[r] + 1));
        lua_rawseti(L, -2, (int)r + 1);
    }
    return 1;
}

static const luaL_Reg reduce_methods[] = {
    {"sum", l_tensor_sum},
    {"mean", l_tensor_mean},
    {"max", l_tensor_max},
    {"argmax", l_tensor_argmax},
    {NULL, NULL},
};

void register_tensor_reduce(lua_State *L) {
    lua_getfield(L, -1, "tensor_methods");
    luaL_register(L, NULL, reduce_methods);
    lua_pop(L, 1);
}
