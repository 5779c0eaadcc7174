/* fuzz_idx.h: what both IDX fuzzers check on the file at path: idx_read (raw or gzip, detected by
 * the file's first bytes) and the download check's sha256_file_gunzip on the same bytes. A
 * rejection is fine; a crash, leak, hang or sanitizer report is a bug, and so is a format
 * rejection that does not say why. */
#ifndef MNIST_FUZZ_IDX_H
#define MNIST_FUZZ_IDX_H

#include "fuzz_file.h"

#include "sys/fileio.h"
#include "data/idx.h"

static void fuzz_idx_file(const char *path) {
    char why[256];
    Tensor t = {0};
    int st = idx_read(&t, path, why, sizeof why);
    if (st == MN_OK) {
        fuzz_touch(&t);
    } else if ((st == MN_ERR_FORMAT || st == MN_ERR_SHAPE) && why[0] == '\0') {
        abort(); /* the user would get an error without a reason */
    }
    tensor_release(&t);
    uint8_t digest[32];
    uint64_t len = 0;
    sha256_file_gunzip(digest, &len, path);
}

#endif
