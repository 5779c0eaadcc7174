#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/fileio.h"

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int record_write(uint8_t sha256[32], const char *path, const Tensor *images, const Tensor *labels) {
    if (!images->storage || !labels->storage) return MN_ERR_ARG;
    if (images->dtype != DTYPE_UINT8 || labels->dtype != DTYPE_UINT8) return MN_ERR_DTYPE;
    if (images->ndim != 3 || labels->ndim != 1 || images->shape[0] != labels->shape[0])
        return MN_ERR_SHAPE;
    const void *payload[2] = {tensor_u8(images), tensor_u8(labels)};
    size_t lens[2] = {(size_t)images->numel, (size_t)labels->numel};
    int st = sha256_chunks(sha256, payload, lens, 2);
    if (st) return st;
    unsigned char header[RECORD_HEADER_SIZE] = {0};
    memcpy(header, RECORD_MAGIC, 8);
    put_le32(header + 8, RECORD_VERSION);
    put_le32(header + 12, RECORD_HEADER_SIZE);
    put_le64(header + 16, (uint64_t)images->shape[0]);
    put_le32(header + 24, (uint32_t)images->shape[1]);
    put_le32(header + 28, (uint32_t)images->shape[2]);
    memcpy(header + 32, sha256, 32);
    const void *chunks[3] = {header, payload[0], payload[1]};
    size_t chunk_lens[3] = {sizeof header, lens[0], lens[1]};
    return file_write_atomic(path, chunks, chunk_lens, 3);
}

/* Checks the header against the file size; fills count and the image shape. */
static int check_header(const unsigned char *h, uint64_t file_size, int64_t *count, int64_t *height,
                        int64_t *width, char *why, size_t why_size) {
    if (memcmp(h, RECORD_MAGIC, 8) != 0) {
        snprintf(why, why_size, "not a record file (magic is not \"%s\")", RECORD_MAGIC);
        return MN_ERR_FORMAT;
    }
    uint32_t version = get_le32(h + 8), header_size = get_le32(h + 12);
    if (version != RECORD_VERSION || header_size != RECORD_HEADER_SIZE) {
        snprintf(why, why_size, "record format version %u (header %u bytes); this build reads "
                 "version %d (header %d bytes)", version, header_size, RECORD_VERSION,
                 RECORD_HEADER_SIZE);
        return MN_ERR_FORMAT;
    }
    uint64_t n = get_le64(h + 16);
    uint32_t hh = get_le32(h + 24), ww = get_le32(h + 28);
    /* each factor is bounded first, so the products below cannot overflow */
    if (n < 1 || hh < 1 || ww < 1 || n > (uint64_t)TENSOR_MAX_NUMEL || hh > 65536 || ww > 65536 ||
        n * hh * ww + n > (uint64_t)TENSOR_MAX_NUMEL) {
        snprintf(why, why_size, "absurd counts in the header: %llu images of %u x %u",
                 (unsigned long long)n, hh, ww);
        return MN_ERR_FORMAT;
    }
    uint64_t want = RECORD_HEADER_SIZE + n * hh * ww + n;
    if (want != file_size) {
        snprintf(why, why_size, "the header describes %llu images of %u x %u (%llu bytes) but the "
                 "file has %llu bytes", (unsigned long long)n, hh, ww, (unsigned long long)want,
                 (unsigned long long)file_size);
        return MN_ERR_FORMAT;
    }
    *count = (int64_t)n;
    *height = hh;
    *width = ww;
    return MN_OK;
}

int record_open(Tensor *images, Tensor *labels, uint8_t sha256[32], const char *path,
                int verify_payload, char *why, size_t why_size) {
    tensor_release(images);
    tensor_release(labels);
    why[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MN_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return MN_ERR_IO;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < RECORD_HEADER_SIZE) {
        close(fd);
        snprintf(why, why_size, "%llu bytes, shorter than the %d-byte header",
                 (unsigned long long)size, RECORD_HEADER_SIZE);
        return MN_ERR_FORMAT;
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        errno = saved;
        return MN_ERR_IO;
    }
    const unsigned char *h = map;
    int64_t n, height, width;
    int rc = check_header(h, size, &n, &height, &width, why, why_size);
    if (rc == MN_OK && verify_payload) {
        uint8_t digest[32];
        rc = sha256_buffer(digest, h + RECORD_HEADER_SIZE, (size_t)(size - RECORD_HEADER_SIZE));
        if (rc == MN_OK && memcmp(digest, h + 32, 32) != 0) {
            char got[65], want[65];
            sha256_hex(got, digest);
            sha256_hex(want, h + 32);
            snprintf(why, why_size, "payload SHA-256 is %s, the header says %s (the file is corrupt)",
                     got, want);
            rc = MN_ERR_FORMAT;
        }
    }
    if (rc != MN_OK) {
        munmap(map, (size_t)size);
        return rc;
    }
    memcpy(sha256, h + 32, 32);
    madvise(map, (size_t)size, MADV_WILLNEED); /* the loader reads it all every epoch */
    int64_t image_shape[3] = {n, height, width};
    int64_t pixels = n * height * width, payload_len = pixels + n;
    unsigned char *payload = (unsigned char *)map + RECORD_HEADER_SIZE;
    /* one Storage owns the mapping (one munmap); images and labels are views of it */
    Tensor flat = {0}, rows = {0};
    rc = tensor_wrap_mmap(&flat, DTYPE_UINT8, 1, &payload_len, payload, map, (size_t)size);
    if (rc != MN_OK) {
        munmap(map, (size_t)size);
        return rc;
    }
    rc = tensor_narrow(&rows, &flat, 0, 0, pixels);
    if (rc == MN_OK) rc = tensor_view(images, &rows, 3, image_shape);
    if (rc == MN_OK) rc = tensor_narrow(labels, &flat, 0, pixels, n);
    tensor_release(&rows);
    tensor_release(&flat);
    if (rc != MN_OK) {
        tensor_release(images);
        tensor_release(labels);
    }
    return rc;
}
