/* lua_system.c: files (SHA-256, atomic writes, directories), the kernels' threads and BLAS,
 * signals, clocks and sleep. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lualib.h> /* LUA_FILEHANDLE: io.open's files */

#include "lua/lua_common.h"
#include "nn/activation.h"
#include "nn/conv_direct.h"
#include "nn/pool.h"
#include "sys/build_info.h"
#include "sys/fileio.h"
#include "sys/parallel.h"
#include "sys/process.h"
#include "tensor/gemm.h"

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
            if (!tensor_is_contiguous(t))
                raisef(L, fn, "chunk %d is a strided view (call :contiguous() first)", i + 1);
            (*chunks)[i] = (char *)t->storage->data + t->offset * dtype_size(t->dtype);
            (*lens)[i] = (size_t)t->numel * dtype_size(t->dtype);
        } else if (lua_type(L, -1) == LUA_TSTRING) {
            (*chunks)[i] = lua_tolstring(L, -1, &(*lens)[i]);
        } else {
            raisef(L, fn, "chunk %d must be a string or a tensor, got %s", i + 1, luaL_typename(L, -1));
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

/* core.read_tensors(file, offsets, tensors [, prefix]) -> 64 hex digits: reads each contiguous
 * tensor's bytes from the open Lua file (io.open's) at its byte offset (0-based, absolute),
 * and returns the SHA-256 of prefix (a string) followed by those bytes in order. A file that ends
 * early or cannot be read is an error; the tensors are then partly filled (the caller drops them). */
static int l_read_tensors(lua_State *L) {
    const char *fn = "read_tensors";
    FILE **fp = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (!*fp) raisef(L, fn, "the file is closed");
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    size_t prefix_len = 0;
    const char *prefix = luaL_optlstring(L, 4, "", &prefix_len);
    const int n = (int)lua_objlen(L, 3);
    if ((int)lua_objlen(L, 2) != n) raisef(L, fn, "%d offsets for %d tensors", (int)lua_objlen(L, 2), n);
    void **dst = lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof *dst);
    int64_t *offset = lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof *offset);
    size_t *len = lua_newuserdata(L, (size_t)(n ? n : 1) * sizeof *len);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 3, i + 1);
        Tensor *t = luaL_testudata(L, -1, TENSOR_MT);
        if (!t || !t->storage || !tensor_is_contiguous(t))
            raisef(L, fn, "tensors[%d] must be a contiguous tensor", i + 1);
        dst[i] = (char *)t->storage->data + t->offset * dtype_size(t->dtype);
        len[i] = (size_t)t->numel * dtype_size(t->dtype);
        lua_pop(L, 1);
        lua_rawgeti(L, 2, i + 1);
        const lua_Number at = lua_tonumber(L, -1);
        if (!(at >= 0 && at < 9007199254740992.0) || at != (lua_Number)(int64_t)at)
            raisef(L, fn, "offsets[%d] must be a whole number >= 0", i + 1);
        offset[i] = (int64_t)at;
        lua_pop(L, 1);
    }
    uint8_t digest[32];
    char hex[65];
    const int st = file_read_hashed(digest, fileno(*fp), prefix, prefix_len, dst, offset, len, n);
    if (st == MN_ERR_FORMAT) raisef(L, fn, "the file ends before the data does (truncated?)");
    if (st == MN_ERR_IO) raisef(L, fn, "cannot read: %s", strerror(errno));
    check_status(L, st, fn, NULL);
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

/* From OpenBLAS (openblas_config.h declares them; cblas.h may not on every Debian). */
extern char *openblas_get_corename(void);

/* core.blas_info() -> {core = "Zen", gemm = "avx512", conv_direct = "avx512", pool_2x2 = "avx512",
 * threads = 2}: OpenBLAS's kernel, the micro-kernel of our sgemm (csrc/tensor/gemm.h), the
 * instruction set of the direct convolutions (csrc/nn/conv_direct.h; "none": im2col) and of the
 * 2x2 max pooling (csrc/nn/pool.h), activations = the instruction set of tanh, sigmoid,
 * log-sigmoid and ELU (csrc/nn/activation.h), and the kernels' threads (csrc/sys/parallel.h). */
static int l_blas_info(lua_State *L) {
    lua_createtable(L, 0, 6);
    lua_pushstring(L, conv_direct_path());
    lua_setfield(L, -2, "conv_direct");
    lua_pushstring(L, maxpool_2x2_path());
    lua_setfield(L, -2, "pool_2x2");
    lua_pushstring(L, activation_path());
    lua_setfield(L, -2, "activations");
    lua_pushstring(L, gemm_kernel_name());
    lua_setfield(L, -2, "gemm");
    lua_pushstring(L, openblas_get_corename());
    lua_setfield(L, -2, "core");
    lua_pushinteger(L, parallel_threads());
    lua_setfield(L, -2, "threads");
    return 1;
}

/* core.build_info() -> {optimize_pragma = true, optimized = true, no_math_errno_macro = false,
 * math_errno = false, compiler = "12.2.0"}: how the core was compiled (sys/build_info.h), so the
 * specs can check that `make` and `luarocks make` built the same code. */
static int l_build_info(lua_State *L) {
    BuildInfo b;
    build_info(&b);
    lua_createtable(L, 0, 5);
    lua_pushboolean(L, b.optimize_pragma);
    lua_setfield(L, -2, "optimize_pragma");
    lua_pushboolean(L, b.optimized);
    lua_setfield(L, -2, "optimized");
    lua_pushboolean(L, b.no_math_errno_macro);
    lua_setfield(L, -2, "no_math_errno_macro");
    lua_pushboolean(L, b.math_errno);
    lua_setfield(L, -2, "math_errno");
    lua_pushstring(L, b.compiler);
    lua_setfield(L, -2, "compiler");
    return 1;
}

/* core.blas_set_threads(n): the threads of the kernels (sgemm included), 1..64. */
static int l_blas_set_threads(lua_State *L) {
    double n = luaL_checknumber(L, 1);
    if (n < 1 || n > PARALLEL_MAX_THREADS || n != floor(n))
        raisef(L, "set_num_threads", "threads must be 1..%d, got %g", PARALLEL_MAX_THREADS, n);
    parallel_set_threads((int)n);
    return 0;
}

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

/* core.sleep(seconds): waits (download back-off). */
static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    if (!(s >= 0 && s <= 3600)) raisef(L, "sleep", "seconds must be 0..3600, got %g", s);
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static const luaL_Reg system_functions[] = {
    {"sha256", l_sha256},
    {"sha256_file", l_sha256_file},
    {"read_tensors", l_read_tensors},
    {"write_atomic", l_write_atomic},
    {"mkdir_p", l_mkdir_p},
    {"blas_info", l_blas_info},
    {"build_info", l_build_info},
    {"blas_set_threads", l_blas_set_threads},
    {"trap_interrupt", l_trap_interrupt},
    {"interrupted", l_interrupted},
    {"ignore_file_size_signal", l_ignore_file_size_signal},
    {"cpu_count", l_cpu_count},
    {"wall_time", l_wall_time},
    {"sleep", l_sleep},
    {NULL, NULL},
};

void register_system(lua_State *L) { luaL_register(L, NULL, system_functions); }
