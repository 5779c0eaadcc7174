/* lua_random.c: the seeded generator userdata (mnist.Rng, csrc/tensor/rng.h), its tensor fills
 * (Torch7's uniform, normal, bernoulli, random, exponential, randperm) and the value patterns of
 * the constructors (range, linspace, logspace, eye: csrc/tensor/tensor_construct.h). */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_common.h"
#include "tensor/tensor_construct.h"


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

/* ---- tensor fills: rng:fill_<kind>(t, ...) fills t (any strides) and returns it ----
 * The same C functions are registered twice: as generator methods (errors name
 * "rng:fill_uniform") and as core.tensor_<kind>(rng, t, ...), on which lua/mnist/tensor.lua builds
 * Torch7's x:uniform(...) with the default generator (errors name "uniform"). The function name
 * is upvalue 1. */

static const char *fill_name(lua_State *L) { return lua_tostring(L, lua_upvalueindex(1)); }

/* The tensor to fill (argument 2), float32 unless any dtype will do. */
static Tensor *check_fill_target(lua_State *L, const char *fn, int float_only) {
    Tensor *t = check_tensor(L, 2, fn);
    if (float_only && t->dtype != DTYPE_FLOAT32)
        raisef(L, fn, "expected a float32 tensor, got %s (random whole numbers: use random)",
               dtype_name(t->dtype));
    return t;
}

/* (rng, t [, lo [, hi]]): uniform in [lo, hi), default [0, 1). */
static int l_fill_uniform(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 1);
    float lo = lua_isnoneornil(L, 3) ? 0.0f : check_float_arg(L, 3, fn, "lower bound");
    float hi = lua_isnoneornil(L, 4) ? 1.0f : check_float_arg(L, 4, fn, "upper bound");
    if (!(lo <= hi)) raisef(L, fn, "lower bound %g is above the upper bound %g", lo, hi);
    check_status(L, rng_fill_uniform(t, r, lo, hi), fn, NULL);
    lua_settop(L, 2);
    return 1;
}

/* (rng, t [, mean [, std]]): normal, default mean 0, std 1. */
static int l_fill_normal(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 1);
    float mean = lua_isnoneornil(L, 3) ? 0.0f : check_float_arg(L, 3, fn, "mean");
    float std = lua_isnoneornil(L, 4) ? 1.0f : check_float_arg(L, 4, fn, "std");
    if (!(std >= 0)) raisef(L, fn, "std must be >= 0, got %g", std);
    check_status(L, rng_fill_normal(t, r, mean, std), fn, NULL);
    lua_settop(L, 2);
    return 1;
}

/* (rng, t [, lambda]): exponential with rate lambda (default 1). */
static int l_fill_exponential(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 1);
    double lambda = lua_isnoneornil(L, 3) ? 1.0 : check_number(L, 3, fn, "lambda");
    if (!(lambda > 0) || isinf(lambda)) raisef(L, fn, "lambda must be a positive number, got %g", lambda);
    check_status(L, rng_fill_exponential(t, r, lambda), fn, NULL);
    lua_settop(L, 2);
    return 1;
}

/* (rng, t [, p]): 1 with probability p (default 0.5), else 0; p a number or a float32 tensor of
 * probabilities with t's element count. Any dtype of t. */
static int l_fill_bernoulli(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 0);
    if (luaL_testudata(L, 3, TENSOR_MT)) {
        Tensor *p = check_tensor(L, 3, fn);
        char bt[64], bp[64];
        if (p->dtype != DTYPE_FLOAT32)
            raisef(L, fn, "probabilities must be a float32 tensor, got %s", dtype_name(p->dtype));
        if (p->numel != t->numel)
            raisef(L, fn, "probabilities %s have %lld elements, the tensor %s has %lld",
                   shape_of(p, bp, sizeof bp), (long long)p->numel, shape_of(t, bt, sizeof bt),
                   (long long)t->numel);
        check_status(L, rng_fill_bernoulli_tensor(t, r, p), fn,
                     "every probability must be in [0, 1]");
    } else {
        double p = lua_isnoneornil(L, 3) ? 0.5 : check_number(L, 3, fn, "p");
        if (!(p >= 0 && p <= 1)) raisef(L, fn, "p must be in [0, 1], got %g", p);
        check_status(L, rng_fill_bernoulli(t, r, p), fn, NULL);
    }
    lua_settop(L, 2);
    return 1;
}

/* A whole-number bound at idx, as a 64-bit integer (|v| <= 2^53, what a Lua number holds). */
static int64_t check_bound(lua_State *L, int idx, const char *fn, const char *what) {
    double d = check_number(L, idx, fn, what);
    if (d != floor(d) || fabs(d) > 9007199254740992.0)
        raisef(L, fn, "%s must be a whole number of at most 2^53 in magnitude, got %g", what, d);
    return (int64_t)d;
}

/* (rng, t [, a] [, b]): Torch7's random: whole numbers in [a, b], [1, b] with one bound, or with
 * none 0 .. the dtype's largest exact value (uint8 255, float32 2^24, int64 2^53). Any dtype. */
static int l_fill_random(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 0);
    int64_t lo = 0, hi;
    if (lua_isnoneornil(L, 3)) {
        hi = t->dtype == DTYPE_UINT8 ? 255 : t->dtype == DTYPE_FLOAT32 ? (int64_t)1 << 24 : (int64_t)1 << 53;
    } else if (lua_isnoneornil(L, 4)) {
        lo = 1;
        hi = check_bound(L, 3, fn, "upper bound");
    } else {
        lo = check_bound(L, 3, fn, "lower bound");
        hi = check_bound(L, 4, fn, "upper bound");
    }
    if (lo > hi) raisef(L, fn, "lower bound %lld is above the upper bound %lld", (long long)lo, (long long)hi);
    if (rng_fill_random(t, r, lo, hi) != MN_OK)
        raisef(L, fn, "bounds %lld..%lld do not fit a %s tensor (uint8 0..255, float32 and int64 "
               "whole numbers of at most 2^24 and 2^53)", (long long)lo, (long long)hi,
               dtype_name(t->dtype));
    lua_settop(L, 2);
    return 1;
}

/* (rng, t): 1-D t = 1..n shuffled (the draws of rng:permutation(n)). */
static int l_fill_permutation(lua_State *L) {
    const char *fn = fill_name(L);
    Rng *r = check_rng(L, 1, fn);
    Tensor *t = check_fill_target(L, fn, 0);
    char b[64];
    if (t->ndim != 1) raisef(L, fn, "expected a 1-D tensor, got %s", shape_of(t, b, sizeof b));
    if (rng_fill_permutation(t, r) != MN_OK)
        raisef(L, fn, "%lld does not fit a %s tensor", (long long)t->numel, dtype_name(t->dtype));
    lua_settop(L, 2);
    return 1;
}

/* ---- construction: values of Torch7's range, linspace, logspace and eye ---- */

/* core.tensor_fill_linear(t, start, step [, log10 [, fn]]): element i (row-major) = start + i * step
 * (10 to that power with log10); fn names the caller in errors. Returns t. */
static int l_tensor_fill_linear(lua_State *L) {
    const char *fn = luaL_optstring(L, 5, "fill_linear");
    Tensor *t = check_tensor(L, 1, fn);
    double start = check_number(L, 2, fn, "start"), step = check_number(L, 3, fn, "step");
    if (tensor_fill_linear(t, start, step, lua_toboolean(L, 4)) != MN_OK)
        raisef(L, fn, "values from %g by %g over %lld elements do not fit a %s tensor", start, step,
               (long long)t->numel, dtype_name(t->dtype));
    lua_settop(L, 1);
    return 1;
}

/* core.tensor_eye(t): 2-D t = the identity (ones on the diagonal). Returns t. */
static int l_tensor_eye(lua_State *L) {
    Tensor *t = check_tensor(L, 1, "eye");
    char b[64];
    if (t->ndim != 2) raisef(L, "eye", "expected a 2-D tensor, got %s", shape_of(t, b, sizeof b));
    check_status(L, tensor_eye(t), "eye", NULL);
    lua_settop(L, 1);
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
    {"permutation", l_rng_permutation}, {"state", l_rng_state},
    {"set_state", l_rng_set_state}, {NULL, NULL},
};

/* The fills: generator method "fill_<kind>" and core function "tensor_<kind>", the latter named
 * in errors by the Torch7 method built on it. */
static const struct {
    const char *kind, *torch_name;
    lua_CFunction func;
} fills[] = {
    {"uniform", "uniform", l_fill_uniform},
    {"normal", "normal", l_fill_normal},
    {"exponential", "exponential", l_fill_exponential},
    {"bernoulli", "bernoulli", l_fill_bernoulli},
    {"random", "random", l_fill_random},
    {"permutation", "randperm", l_fill_permutation},
};

/* Registers the fills into the table at the top of the stack: as generator methods
 * (rng:fill_uniform, errors naming "rng:fill_uniform") or as core.tensor_<kind>. */
static void register_fills(lua_State *L, int as_methods) {
    for (size_t i = 0; i < sizeof fills / sizeof *fills; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%s", as_methods ? "fill_" : "tensor_", fills[i].kind);
        if (as_methods) lua_pushfstring(L, "rng:fill_%s", fills[i].kind);
        else lua_pushstring(L, fills[i].torch_name);
        lua_pushcclosure(L, fills[i].func, 1);
        lua_setfield(L, -2, key);
    }
}

void register_random(lua_State *L) {
    lua_pushcfunction(L, l_rng_new);
    lua_setfield(L, -2, "rng");
    lua_pushcfunction(L, l_tensor_fill_linear);
    lua_setfield(L, -2, "tensor_fill_linear");
    lua_pushcfunction(L, l_tensor_eye);
    lua_setfield(L, -2, "tensor_eye");
    register_fills(L, 0); /* core.tensor_uniform(rng, t, ...), named "uniform" */
    luaL_newmetatable(L, RNG_MT);
    lua_newtable(L);
    luaL_register(L, NULL, rng_methods);
    register_fills(L, 1); /* rng:fill_uniform(t, ...) */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
