/* lua_harness.h: fuzzing the Lua-side parsers (lua/mnist/weights.lua, config.lua, cli.lua) from a
 * libFuzzer target. One LuaJIT state per process, with the in-tree modules on package.path and the
 * C core (linked into the fuzzer, instrumented) as package.preload["mnist.core"].
 *
 * libFuzzer sees only C coverage, so the harness adds the Lua code's: a line hook (the JIT off, so
 * every line runs in the interpreter) bumps a counter per (previous line, line) edge in libFuzzer's
 * extra-counters section, and the mutator is guided through the Lua parsers' branches as through C.
 *
 * A target is a Lua file (fuzz/fuzz_<name>.lua, relative to the checkout) returning
 *   { suffix = function(data) -> the input file's name ending, check = function(path, data) }
 * where check raises only on a finding; the harness turns that into abort() (a crash libFuzzer
 * reports with the input). A clean rejection, caught inside check, is the normal outcome.
 * spec/hostile_files_spec.lua replays the inputs the fuzzers found through the same files. */
#ifndef MNIST_FUZZ_LUA_HARNESS_H
#define MNIST_FUZZ_LUA_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* Creates the state and loads the target file (a path relative to the checkout). */
lua_State *lua_harness_open(const char *target);

/* Runs the target's check on data, written to a file named with the target's suffix. Aborts with
 * the Lua traceback when it raises. */
void lua_harness_run(lua_State *L, const uint8_t *data, size_t size);

#endif
