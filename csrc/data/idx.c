#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "data/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* deflate never compresses better than about 1032:1, so a gzip file of c bytes holds at most
 * this many times c bytes: a header claiming more is a lie, refused before allocating. */
#define DEFLATE_MAX_RATIO 1032

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | (uint32_t)p[0];
}

/* What the file is on disk: its size, whether it is gzip, and (gzip) the trailer's length mod 2^32. */
typedef struct {
    uint64_t size;
    int gzip;
    uint32_t isize;
} FileFacts;

static int file_facts(FileFacts *facts, const char *path, char *why, size_t why_size) {
    FILE *f = fopen(path, "rb");
    if (!f) return MN_ERR_IO;
    struct stat st;
    int rc = MN_OK;
    unsigned char head[2] = {0, 0}, tail[4];
    if (fstat(fileno(f), &st) != 0) {
        rc = MN_ERR_IO;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "not a regular file");
        rc = MN_ERR_FORMAT;
    } else {
        facts->size = (uint64_t)st.st_size;
        facts->gzip = fread(head, 1, 2, f) == 2 && head[0] == 0x1f && head[1] == 0x8b;
        facts->isize = 0;
        if (facts->gzip) {
            if (facts->size < 18 || fseek(f, -4, SEEK_END) != 0 || fread(tail, 1, 4, f) != 4) {
                snprintf(why, why_size, "truncated gzip file (%llu bytes)", (unsigned long long)facts->size);
                rc = MN_ERR_FORMAT;
            } else {
                facts->isize = le32(tail);
            }
        }
    }
    int saved = errno;
    fclose(f);
    errno = saved;
    return rc;
}

/* Reads exactly len bytes; returns the count read (short on EOF or error). */
static uint64_t gz_read_all(gzFile gz, unsigned char *dst, uint64_t len) {
    uint64_t done = 0;
    while (done < len) {
        uint64_t want = len - done;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int got = gzread(gz, dst + done, chunk);
        if (got <= 0) break;
        done += (uint64_t)got;
    }
    return done;
}

/* The reason a short read stopped: the zlib error (without the path zlib puts in front), or
 * plain end of file. */
static const char *gz_reason(gzFile gz, const char *path) {
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);
    if (zerr == Z_ERRNO) return strerror(errno);
    if (zerr == Z_OK || !msg || !*msg) return "end of file";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return msg;
}

int idx_read(Tensor *out, const char *path, char *why, size_t why_size) {
    tensor_release(out);
    why[0] = '\0';
    FileFacts facts;
    int st = file_facts(&facts, path, why, why_size);
    if (st) return st;
    if (facts.size == 0) {
        snprintf(why, why_size, "empty file");
        return MN_ERR_FORMAT;
    }
    gzFile gz = gzopen(path, "rb");
    if (!gz) return errno ? MN_ERR_IO : MN_ERR_NOMEM;
    gzbuffer(gz, 1 << 17);
    unsigned char *data = NULL;
    unsigned char header[4 + 4 * 255];
    uint64_t got = gz_read_all(gz, header, 4);
    if (got < 4) {
        snprintf(why, why_size, "%llu bytes, too short for an IDX header (%s)",
                 (unsigned long long)got, gz_reason(gz, path));
        st = MN_ERR_FORMAT;
        goto done;
    }
    uint32_t magic = be32(header);
    int rank = header[3];
    if (header[0] != 0 || header[1] != 0 || header[2] != IDX_TYPE_UBYTE || rank < 1) {
        snprintf(why, why_size,
                 "bad magic 0x%08x: an IDX file of unsigned bytes starts with 0x000008NN "
                 "(0x%08x images, 0x%08x labels)",
                 magic, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC);
        st = MN_ERR_FORMAT;
        goto done;
    }
    if (rank > TENSOR_MAX_DIMS) {
        snprintf(why, why_size, "rank %d is more than the %d dimensions a tensor holds", rank,
                 TENSOR_MAX_DIMS);
        st = MN_ERR_FORMAT;
        goto done;
    }
    got = gz_read_all(gz, header + 4, 4 * (uint64_t)rank);
    if (got < 4 * (uint64_t)rank) {
        snprintf(why, why_size, "truncated header: %d dimensions need %d bytes, found %llu", rank,
                 4 * rank, (unsigned long long)got);
        st = MN_ERR_FORMAT;
        goto done;
    }
    int64_t shape[TENSOR_MAX_DIMS];
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        uint32_t d = be32(header + 4 + 4 * i);
        shape[i] = d;
        if (d == 0 || d > (uint32_t)INT32_MAX) {
            snprintf(why, why_size, "dimension %d is %u (must be 1 to %d)", i + 1, d, INT32_MAX);
            st = MN_ERR_SHAPE;
            goto done;
        }
        numel *= d; /* d < 2^31 and numel <= 2^31 below, so no overflow */
        if (numel > (uint64_t)TENSOR_MAX_NUMEL) {
            snprintf(why, why_size, "dimensions up to %d hold more than %lld elements", i + 1,
                     (long long)TENSOR_MAX_NUMEL);
            st = MN_ERR_SHAPE;
            goto done;
        }
    }
    uint64_t total = 4 + 4 * (uint64_t)rank + numel;
    if (!facts.gzip && total != facts.size) {
        snprintf(why, why_size, "the header implies %llu bytes but the file has %llu (%s)",
                 (unsigned long long)total, (unsigned long long)facts.size,
                 total > facts.size ? "truncated" : "trailing data");
        st = MN_ERR_FORMAT;
        goto done;
    }
    if (facts.gzip && (total > facts.size * DEFLATE_MAX_RATIO || (uint32_t)total != facts.isize)) {
        snprintf(why, why_size,
                 "the header implies %llu bytes but the gzip stream (%llu bytes) holds %u "
                 "(its trailer, mod 2^32)",
                 (unsigned long long)total, (unsigned long long)facts.size, facts.isize);
        st = MN_ERR_FORMAT;
        goto done;
    }
    data = malloc(numel);
    if (!data) {
        st = MN_ERR_NOMEM;
        goto done;
    }
    got = gz_read_all(gz, data, numel);
    if (got < numel) {
        snprintf(why, why_size, "truncated: %llu of %llu data bytes (%s)", (unsigned long long)got,
                 (unsigned long long)numel, gz_reason(gz, path));
        st = MN_ERR_FORMAT;
        goto done;
    }
    unsigned char extra;
    if (gzread(gz, &extra, 1) != 0) {
        snprintf(why, why_size, "data continues past the %llu bytes the header implies (%s)",
                 (unsigned long long)total, gzeof(gz) ? "end of file" : gz_reason(gz, path));
        st = MN_ERR_FORMAT;
        goto done;
    }
    st = tensor_wrap(out, DTYPE_UINT8, rank, shape, data, numel);
    if (st == MN_OK) data = NULL; /* the tensor owns it now */
done:
    free(data);
    gzclose(gz);
    return st;
}

int idx_check_pair(const Tensor *images, const Tensor *labels, int num_classes, char *why,
                   size_t why_size) {
    why[0] = '\0';
    if (images->dtype != DTYPE_UINT8 || labels->dtype != DTYPE_UINT8) {
        snprintf(why, why_size, "images and labels must be uint8 tensors");
        return MN_ERR_DTYPE;
    }
    if (images->ndim != 3 || labels->ndim != 1) {
        snprintf(why, why_size, "expected images of rank 3 and labels of rank 1, got ranks %d and %d",
                 images->ndim, labels->ndim);
        return MN_ERR_SHAPE;
    }
    if (images->shape[0] != labels->shape[0]) {
        snprintf(why, why_size, "%lld images but %lld labels", (long long)images->shape[0],
                 (long long)labels->shape[0]);
        return MN_ERR_SHAPE;
    }
    const uint8_t *y = tensor_u8(labels);
    for (int64_t i = 0; i < labels->numel; i++) {
        if (y[i] >= num_classes) {
            snprintf(why, why_size, "label %d of item %lld (1-based) is not a class 0..%d", y[i],
                     (long long)i + 1, num_classes - 1);
            return MN_ERR_RANGE;
        }
    }
    return MN_OK;
}
