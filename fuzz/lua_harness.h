/* lua_harness.h: fuzzing the Lua-side parsers (lua/mnist/weights.lua, config.lua, cli.lua) from a
 * libFuzzer target. One LuaJIT state per process, with the in-tree modules on package.path and the
 * C core (linked into the fuzzer, instrumented) as package.preload["mnist.core"].
 *
 * libFuzzer sees only C coverage, so the harness adds the Lua code's: a line hook (the JIT off, so
 * every line runs in the interpreter) bumps a counter per (previous line, line) edge in libFuzzer's
 * extra-counters section, and the mutator is guided through the Lua parsers' branches as through C.
 *
 * The target's Lua chunk returns a function f(path, data) that raises only on a finding; the
 * harness turns that into abort() (a crash libFuzzer reports with the input). A Lua error that the
 * function catches as a clean rejection ("weights: <path>: ...") is the normal outcome. */
#ifndef MNIST_FUZZ_LUA_HARNESS_H
#define MNIST_FUZZ_LUA_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* Creates the state (once), runs `chunk` (Lua source that returns the per-input function) and
 * keeps its result. `name` names the chunk in tracebacks. */
lua_State *lua_harness_open(const char *name, const char *chunk);

/* Calls the per-input function with (path, data): path is a file holding data whose name ends in
 * `suffix` (e.g. ".json"; "" for none). Aborts with the Lua traceback when it raises. */
void lua_harness_run(lua_State *L, const char *suffix, const uint8_t *data, size_t size);

#endif
