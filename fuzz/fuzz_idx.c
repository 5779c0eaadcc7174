/* fuzz_idx: the IDX reader and the download check on the raw fuzz input (fuzz_idx.h). */
#include "fuzz_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_idx_file(fuzz_file(data, size));
    return 0;
}
