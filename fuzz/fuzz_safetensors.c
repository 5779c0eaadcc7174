/* fuzz_safetensors: the safetensors and checkpoint readers (lua/mnist/weights.lua,
 * checkpoint.lua) under libFuzzer; the check itself is fuzz/fuzz_safetensors.lua. */
#include "lua_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static lua_State *L;
    if (!L) L = lua_harness_open("fuzz/fuzz_safetensors.lua");
    lua_harness_run(L, data, size);
    return 0;
}
