/* fuzz_config: config files and --set values through the CLI's validation path (lua/mnist/cli.lua,
 * config.lua) under libFuzzer; the check itself is fuzz/fuzz_config.lua. */
#include "lua_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static lua_State *L;
    if (!L) L = lua_harness_open("fuzz/fuzz_config.lua");
    lua_harness_run(L, data, size);
    return 0;
}
