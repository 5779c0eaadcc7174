/* lua_common.h: what the binding files (csrc/lua/lua_*.c, the only C files that include lua.h)
 * share: the metatable names, argument checks and error raising.
 *
 * Rules (lua-cjson's): check every argument before allocating; allocate C memory only inside a
 * userdata that already owns it (its __gc frees it), so raising a Lua error never leaks; turn every
 * mn_status into an error message that names the function and the shapes involved.
 * Each binding file registers its domain's functions with a register_<domain>(L) call that adds
 * them to the module table at the top of the stack (lua_core.c: luaopen_mnist_core). */
#ifndef MNIST_LUA_COMMON_H
#define MNIST_LUA_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "tensor/rng.h"
#include "tensor/tensor.h"

#pragma GCC visibility push(hidden) /* only luaopen_mnist_core leaves the shared object */

#define TENSOR_MT "mnist.Tensor"
#define RNG_MT "mnist.Rng"
/* A ChannelReducer (nn/batchnorm.h) in a full userdata: the MPI module (csrc/lua/lua_mpi.c) makes
 * them, the synced batch-norm kernels take them. */
#define CHANNEL_REDUCER_MT "mnist.ChannelReducer"

/* Raises "fn: message" where message is printf-formatted. Never returns (lua_error longjmps). */
__attribute__((noreturn, format(printf, 3, 4)))
void raisef(lua_State *L, const char *fn, const char *fmt, ...);
/* Raises "fn: <status phrase>: detail" when st is not MN_OK. */
void check_status(lua_State *L, int st, const char *fn, const char *detail);
/* "(2, 3)" into buf; returns buf. */
const char *shape_of(const Tensor *t, char *buf, size_t size);
const char *dtype_name(int dtype);

/* The tensor at idx; raises a clear error for a non-tensor or a released one. */
Tensor *check_tensor(lua_State *L, int idx, const char *fn);
/* The same, and it must be float32. */
Tensor *check_float(lua_State *L, int idx, const char *fn);
/* The float32 tensor at idx, or NULL when it is nil. */
Tensor *opt_float(lua_State *L, int idx, const char *fn);
/* Pushes a new, empty tensor userdata; fill it with tensor_init & co. Its __gc releases it. */
Tensor *push_tensor(lua_State *L);
/* Pushes t's element at `off` elements from its first (strides applied) as a Lua number. */
void push_element(lua_State *L, const Tensor *t, int64_t off);
/* The tensor at idx (any dtype), contiguous (what C kernels and files take): a clear error
 * naming :contiguous() otherwise. */
Tensor *check_contiguous(lua_State *L, int idx, const char *fn);
/* The float32 tensor at idx, contiguous (the nn kernels' inputs): a clear error otherwise. */
Tensor *check_dense(lua_State *L, int idx, const char *fn);
/* The same, or NULL when nil. */
Tensor *opt_dense(lua_State *L, int idx, const char *fn);
/* A dim argument at idx: 1-based (negative counts from the end), checked against ndim;
 * returns it 0-based. `extra` allows one past the last (unsqueeze's position). */
int check_dim(lua_State *L, int idx, int ndim, const char *fn, int extra);
/* Lets the collector pace itself by a new storage's C memory. */
void account_storage(lua_State *L, const Tensor *t);
/* A shape from a table {d1, ..., dn} at idx, or from numbers idx..top (or a 1-D tensor of sizes);
 * returns ndim (0: empty). Sizes >= 0; with allow_infer, one may be -1. */
int check_shape_table(lua_State *L, int idx, const char *fn, int64_t *shape, int allow_infer);
int check_shape_args(lua_State *L, int idx, const char *fn, int64_t *shape, int allow_infer);
/* A 1-based Lua index at idx, checked against size; returns it 0-based. Negative counts from the end. */
int64_t check_index(lua_State *L, int idx, int64_t size, const char *fn, int dim);

/* Numbers: any (what names it in the error), float, or a whole number in [lo, hi]. */
double check_number(lua_State *L, int idx, const char *fn, const char *what);
float check_float_arg(lua_State *L, int idx, const char *fn, const char *what);
int check_int_arg(lua_State *L, int idx, const char *fn, const char *what, int lo, int hi);
/* The generator at idx (an "mnist.Rng" userdata). C kernels that draw random numbers take it. */
Rng *check_rng(lua_State *L, int idx, const char *fn);

/* Each adds its domain's functions (and metatables) to the module table at the stack top. */
void register_tensor(lua_State *L);
void register_tensor_reduce(lua_State *L); /* after register_tensor: adds methods */
void register_tensor_index(lua_State *L);  /* after register_tensor: adds methods */
void register_tensor_linalg(lua_State *L); /* likewise */
void register_random(lua_State *L);
void register_nn(lua_State *L);
void register_optim(lua_State *L);
void register_data(lua_State *L);
void register_system(lua_State *L);

#pragma GCC visibility pop

#endif
