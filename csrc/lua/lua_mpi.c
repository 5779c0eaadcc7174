/* lua_mpi.c: the optional module mnist.mpi (build/mnist/mpi.so), the binding of csrc/mpi/comm.h.
 * Built only where mpi.h is found (the Makefile's MPI test), loaded only under an MPI launcher
 * (lua/mnist/distributed.lua); core.so never links MPI. It shares the core's tensor userdata
 * through the registry's metatable (TENSOR_MT) and the Tensor layout of tensor/tensor.h, so it
 * needs none of core.so's symbols. */
#define _GNU_SOURCE /* dladdr */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "lua/lua_common.h"
#include "mpi/comm.h"
#include "nn/batchnorm.h"
/* of lua_common.h, only the metatable names and the Tensor type: its functions live in core.so */

#define MAX_STATS 4096

/* Raises "mpi.fn: <the failure's message>" unless st is MN_OK. */
static void check(lua_State *L, int st, const char *fn) {
    if (st == MN_OK) return;
    const char *why = comm_error();
    luaL_error(L, "mpi.%s: %s", fn, why[0] ? why : "bad call (MPI not started?)");
}

/* The contiguous float32 tensor at idx, as (data, n). */
static float *check_floats(lua_State *L, int idx, const char *fn, int64_t *n) {
    const Tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t || !t->storage) luaL_error(L, "mpi.%s: argument #%d: expected a tensor", fn, idx);
    if (t->dtype != DTYPE_FLOAT32) luaL_error(L, "mpi.%s: argument #%d: expected a float32 tensor", fn, idx);
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want)
            luaL_error(L, "mpi.%s: argument #%d: the tensor is not contiguous", fn, idx);
        want *= t->shape[d];
    }
    *n = t->numel;
    return tensor_f32(t);
}

/* Lua table of numbers at idx -> values[0..*k). */
static void check_stats(lua_State *L, int idx, const char *fn, double *values, int64_t *k) {
    luaL_checktype(L, idx, LUA_TTABLE);
    *k = (int64_t)lua_objlen(L, idx);
    if (*k > MAX_STATS) luaL_error(L, "mpi.%s: at most %d numbers, got %d", fn, MAX_STATS, (int)*k);
    for (int64_t i = 0; i < *k; i++) {
        lua_rawgeti(L, idx, (int)i + 1);
        if (!lua_isnumber(L, -1)) luaL_error(L, "mpi.%s: item %d is not a number", fn, (int)i + 1);
        values[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
}

static void push_stats(lua_State *L, const double *values, int64_t k) {
    lua_createtable(L, (int)k, 0);
    for (int64_t i = 0; i < k; i++) {
        lua_pushnumber(L, values[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* mpi.init(timeout_seconds) -> rank (0-based), size */
static int l_init(lua_State *L) {
    int rank = 0, size = 1;
    check(L, comm_init(luaL_checknumber(L, 1), &rank, &size), "init");
    lua_pushinteger(L, rank);
    lua_pushinteger(L, size);
    return 2;
}

/* mpi.allreduce_step(grad, {numbers}) -> {sums}, seconds of the gradient's sum, seconds of the
 * numbers' sum (the wait for the slowest rank): the numbers summed, then the gradient in place. */
static int l_allreduce_step(lua_State *L) {
    int64_t n, k;
    float *grad = check_floats(L, 1, "allreduce_step", &n);
    double stats[MAX_STATS], seconds[2] = {0, 0};
    check_stats(L, 2, "allreduce_step", stats, &k);
    check(L, comm_allreduce_step(grad, n, stats, k, seconds), "allreduce_step");
    push_stats(L, stats, k);
    lua_pushnumber(L, seconds[1]);
    lua_pushnumber(L, seconds[0]);
    return 3;
}

/* mpi.allreduce(tensor) -> tensor: a float32 tensor summed in place. */
static int l_allreduce(lua_State *L) {
    int64_t n;
    float *data = check_floats(L, 1, "allreduce", &n);
    check(L, comm_allreduce_f32(data, n), "allreduce");
    lua_settop(L, 1);
    return 1;
}

/* mpi.allreduce_numbers({numbers}) -> {sums} */
static int l_allreduce_numbers(lua_State *L) {
    double stats[MAX_STATS];
    int64_t k;
    check_stats(L, 1, "allreduce_numbers", stats, &k);
    check(L, comm_allreduce_f64(stats, k), "allreduce_numbers");
    push_stats(L, stats, k);
    return 1;
}

/* mpi.broadcast(text) -> rank 0's text on every rank (the others pass anything, or nil). */
static int l_broadcast(lua_State *L) {
    if (!comm_active()) return luaL_error(L, "mpi.broadcast: MPI is not started (mpi.init)");
    const int rank = comm_rank();
    size_t len = 0;
    const char *text = rank == 0 ? luaL_checklstring(L, 1, &len) : NULL;
    double n = (double)len;
    check(L, comm_broadcast((char *)&n, sizeof n, 0), "broadcast");
    char *buf = malloc((size_t)n + 1);
    if (!buf) return luaL_error(L, "mpi.broadcast: out of memory");
    if (rank == 0) memcpy(buf, text, len);
    int st = comm_broadcast(buf, (int64_t)n, 0);
    if (st == MN_OK) lua_pushlstring(L, buf, (size_t)n);
    free(buf);
    check(L, st, "broadcast");
    return 1;
}

static int l_barrier(lua_State *L) {
    check(L, comm_barrier(), "barrier");
    return 0;
}

/* mpi.reducer() -> the ChannelReducer userdata the synced batch-norm kernels take. */
static int l_reducer(lua_State *L) {
    ChannelReducer *r = lua_newuserdata(L, sizeof *r);
    r->sum = comm_sum_doubles;
    r->ctx = NULL;
    luaL_newmetatable(L, CHANNEL_REDUCER_MT);
    lua_setmetatable(L, -2);
    return 1;
}

/* mpi.abort(code): ends every process of the job with exit code `code`. */
static int l_abort(lua_State *L) {
    comm_abort((int)luaL_optinteger(L, 1, 2));
    return 0;
}

static int l_finalize(lua_State *L) {
    check(L, comm_finalize(), "finalize");
    return 0;
}

static int l_active(lua_State *L) {
    lua_pushboolean(L, comm_active());
    return 1;
}

static int l_library(lua_State *L) {
    char buf[256];
    lua_pushstring(L, comm_library(buf, sizeof buf));
    return 1;
}

static const luaL_Reg mpi_functions[] = {
    {"init", l_init},
    {"allreduce_step", l_allreduce_step},
    {"allreduce", l_allreduce},
    {"allreduce_numbers", l_allreduce_numbers},
    {"broadcast", l_broadcast},
    {"barrier", l_barrier},
    {"reducer", l_reducer},
    {"abort", l_abort},
    {"finalize", l_finalize},
    {"active", l_active},
    {"library", l_library},
    {NULL, NULL},
};

int luaopen_mnist_mpi(lua_State *L) {
    /* require loads this module with RTLD_LOCAL; Open MPI's plugins (dlopen'ed at MPI_Init) need
     * libmpi's symbols global: promote the already loaded library. */
    Dl_info info;
    if (dladdr((void *)MPI_Init, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    lua_newtable(L);
    luaL_register(L, NULL, mpi_functions);
    return 1;
}
