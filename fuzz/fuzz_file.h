/* fuzz_file.h: the fuzz input as a file, for parsers that take a path (idx_read, record_open,
 * the Lua readers). One memfd per process, rewritten for every input: no disk traffic, and
 * "/proc/self/fd/N" opens it as a fresh regular file each time. */
#ifndef MNIST_FUZZ_FILE_H
#define MNIST_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tensor/tensor.h"

/* The path of a regular file holding exactly data[0..size). Aborts (a harness bug, not a finding)
 * when the memfd cannot be made. */
static const char *fuzz_file(const void *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        if (fd < 0) { perror("memfd_create"); abort(); }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) { perror("ftruncate"); abort(); }
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, (const char *)data + done, size - done, (off_t)done);
        if (w <= 0) { perror("pwrite"); abort(); }
        done += (size_t)w;
    }
    return path;
}

/* Reads every byte of t, so ASan sees an access past what its storage holds. */
static volatile unsigned fuzz_sink;
static void fuzz_touch(const Tensor *t) {
    const uint8_t *p = tensor_u8(t);
    unsigned sum = 0;
    for (int64_t i = 0; i < t->numel; i++) sum += p[i];
    fuzz_sink = sum;
}

#endif
