#define _GNU_SOURCE
#include "lua_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lauxlib.h>
#include <luajit.h>
#include <lualib.h>

#ifndef MNIST_SOURCE_DIR
#define MNIST_SOURCE_DIR "."
#endif

int luaopen_mnist_core(lua_State *L);

/* libFuzzer reads this section as extra coverage features (zeroed before every input). */
#define LUA_EDGES (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lua_edges[LUA_EDGES];
static uintptr_t previous_line;

static void line_hook(lua_State *L, lua_Debug *ar) {
    if (!lua_getinfo(L, "S", ar)) return;
    /* the chunk's source string is interned and lives as long as the module: its address names it */
    uintptr_t here = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline;
    here ^= here >> 17;
    here *= 0x9E3779B97F4A7C15ull;
    size_t edge = (size_t)((here ^ (previous_line >> 1)) >> 40) & (LUA_EDGES - 1);
    if (lua_edges[edge] < 255) lua_edges[edge]++;
    previous_line = here;
}

static int traceback(lua_State *L) {
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

static int target_ref = LUA_NOREF; /* the target's table {suffix, check} */

/* Lua's memory through malloc (LuaJIT's own allocator maps memory LeakSanitizer does not scan:
 * C objects reachable only from a Lua userdata would look leaked). */
static void *lua_alloc(void *ud, void *ptr, size_t old_size, size_t new_size) {
    (void)ud;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

lua_State *lua_harness_open(const char *target) {
    lua_State *L = lua_newstate(lua_alloc, NULL);
    if (!L) abort();
    luaL_openlibs(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF); /* hooks see every line */
    const char *dir = getenv("MNIST_SOURCE_DIR");
    if (!dir) dir = MNIST_SOURCE_DIR;
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_mnist_core);
    lua_setfield(L, -2, "mnist.core");
    lua_pop(L, 2);
    lua_pushcfunction(L, traceback);
    lua_pushfstring(L, "%s/%s", dir, target);
    if (luaL_loadfile(L, lua_tostring(L, -1)) != 0 || lua_pcall(L, 0, 1, -3) != 0 || !lua_istable(L, -1)) {
        fprintf(stderr, "lua_harness: %s: %s\n", target, lua_tostring(L, -1));
        abort();
    }
    target_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 2);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    return L;
}

static char input_dir[64];

static void remove_input_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", input_dir);
    if (system(cmd) != 0) {}
}

/* A memfd holding the input, reached through a symlink whose name ends in the suffix the parser
 * looks at (config files pick YAML or JSON by extension). */
static const char *input_file(const char *suffix, const uint8_t *data, size_t size) {
    static int fd = -1;
    static char target[64], path[128];
    char *dir = input_dir;
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        snprintf(input_dir, sizeof input_dir, "/tmp/mnist-fuzz-XXXXXX");
        if (fd < 0 || !mkdtemp(input_dir)) { perror("lua_harness"); abort(); }
        atexit(remove_input_dir);
        snprintf(target, sizeof target, "/proc/%d/fd/%d", (int)getpid(), fd);
    }
    snprintf(path, sizeof path, "%s/input%s", dir, suffix);
    if (access(path, F_OK) != 0 && symlink(target, path) != 0) { perror("symlink"); abort(); }
    if (ftruncate(fd, 0) != 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return path;
}

void lua_harness_run(lua_State *L, const uint8_t *data, size_t size) {
    previous_line = 0;
    int top = lua_gettop(L);
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, target_ref);
    lua_getfield(L, -1, "suffix");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, top + 1) != 0 || !lua_isstring(L, -1)) {
        fprintf(stderr, "lua_harness: suffix: %s\n", lua_tostring(L, -1));
        abort();
    }
    const char *path = input_file(lua_tostring(L, -1), data, size);
    lua_pop(L, 1);
    lua_getfield(L, -1, "check");
    lua_pushstring(L, path);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 2, 0, top + 1) != 0) {
        fprintf(stderr, "lua_harness: finding: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, top);
}
