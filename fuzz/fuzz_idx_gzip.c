/* fuzz_idx_gzip: the same reader behind gzip. The mutator works on the IDX bytes, which are
 * gzip-compressed here (so the decompressor always gets a valid stream to start with); the first
 * byte then damages the stream: 0 keeps it, otherwise it cuts bytes off the end (a truncated
 * download) or flips a bit in the trailer or the body. */
#include "fuzz_idx.h"

#include <string.h>
#include <zlib.h>

/* gzip of src[0..n) into a malloc'd buffer; *out_len its length. NULL on failure. */
static unsigned char *gzip_bytes(const uint8_t *src, size_t n, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    unsigned char *out = malloc(cap);
    if (!out) { deflateEnd(&z); return NULL; }
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) { free(out); return NULL; }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t damage = data[0];
    size_t gz_len = 0;
    unsigned char *gz = gzip_bytes(data + 1, size - 1, &gz_len);
    if (!gz) return 0;
    if (damage >= 1 && damage < 128) { /* truncated: 1..127 bytes short */
        gz_len = damage >= gz_len ? 0 : gz_len - damage;
    } else if (damage >= 128 && gz_len > 0) { /* one flipped bit */
        size_t at = (size_t)(damage - 128) * 7919 % gz_len;
        gz[at] ^= (unsigned char)(1u << (damage & 7));
    }
    const char *path = fuzz_file(gz, gz_len);
    free(gz);
    fuzz_idx_file(path);
    return 0;
}
