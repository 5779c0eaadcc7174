/* lua_random.c: the seeded generator userdata (mnist.Rng, csrc/tensor/rng.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_common.h"


static uint64_t check_seed(lua_State *L, int idx, const char *fn) {
    double d = luaL_checknumber(L, idx);
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        raisef(L, fn, "seed must be a whole number from 0 to 2^53, got %g", d);
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
        raisef(L, "rng:random", "n must be a whole number >= 1, got %g", n);
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
        raisef(L, "rng:permutation", "n must be a whole number from 1 to %lld, got %g",
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
    Tensor *t = check_dense(L, 2, "rng:fill_uniform");
    float lo = check_float_arg(L, 3, "rng:fill_uniform", "lo");
    float hi = check_float_arg(L, 4, "rng:fill_uniform", "hi");
    check_status(L, rng_fill_uniform(t, r, lo, hi), "rng:fill_uniform", NULL);
    lua_settop(L, 2);
    return 1;
}

static int l_rng_fill_normal(lua_State *L) {
    Rng *r = check_rng(L, 1, "rng:fill_normal");
    Tensor *t = check_dense(L, 2, "rng:fill_normal");
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
    if (len != 32) raisef(L, "rng:set_state", "state must be 32 bytes, got %d", (int)len);
    uint64_t s[4] = {0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) s[i] |= (uint64_t)buf[i * 8 + b] << (8 * b);
    if (!(s[0] | s[1] | s[2] | s[3])) raisef(L, "rng:set_state", "an all-zero state is invalid");
    memcpy(r->s, s, sizeof s);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg rng_methods[] = {
    {"seed", l_rng_seed},           {"uniform", l_rng_uniform},
    {"random", l_rng_random},       {"normal", l_rng_normal},
    {"permutation", l_rng_permutation}, {"fill_uniform", l_rng_fill_uniform},
    {"fill_normal", l_rng_fill_normal}, {"state", l_rng_state},
    {"set_state", l_rng_set_state}, {NULL, NULL},
};

void register_random(lua_State *L) {
    lua_pushcfunction(L, l_rng_new);
    lua_setfield(L, -2, "rng");
    luaL_newmetatable(L, RNG_MT);
    lua_newtable(L);
    luaL_register(L, NULL, rng_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
