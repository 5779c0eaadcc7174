/* fuzz_record: record_open (the training record format, memory-mapped) with and without the
 * payload hash check. A file that opens must map every byte its views claim. */
#include "fuzz_file.h"

#include "data/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    for (int verify = 0; verify <= 1; verify++) {
        Tensor images = {0}, labels = {0};
        uint8_t digest[32];
        char why[256];
        int st = record_open(&images, &labels, digest, path, verify, why, sizeof why);
        if (st == MN_OK) {
            if (images.ndim != 3 || labels.ndim != 1 || images.shape[0] != labels.shape[0]) abort();
            fuzz_touch(&images);
            fuzz_touch(&labels);
        } else if (st == MN_ERR_FORMAT && why[0] == '\0') {
            abort();
        }
        tensor_release(&images);
        tensor_release(&labels);
    }
    return 0;
}
