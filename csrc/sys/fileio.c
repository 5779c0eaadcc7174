#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "sys/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int sha256_buffer(uint8_t out[32], const void *data, size_t len) {
    unsigned int n = 0;
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 ? MN_OK : MN_ERR_NOMEM;
}

int sha256_file(uint8_t out[32], const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return MN_ERR_IO;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return MN_ERR_NOMEM;
    }
    unsigned char buf[1 << 16];
    size_t got;
    int st = MN_OK;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, got);
    if (ferror(f)) st = MN_ERR_IO;
    unsigned int n = 0;
    if (st == MN_OK && EVP_DigestFinal_ex(ctx, out, &n) != 1) st = MN_ERR_NOMEM;
    int saved = errno;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    errno = saved;
    return st;
}

int file_read_hashed(uint8_t out[32], int fd, const void *prefix, size_t prefix_len, void *const *dst,
                     const int64_t *offset, const size_t *len, int n) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        (prefix_len && EVP_DigestUpdate(ctx, prefix, prefix_len) != 1)) {
        EVP_MD_CTX_free(ctx);
        return MN_ERR_NOMEM;
    }
    const size_t part = (size_t)1 << 20; /* hashed while it is still in the cache */
    int st = MN_OK;
    for (int i = 0; st == MN_OK && i < n; i++) {
        for (size_t done = 0; st == MN_OK && done < len[i];) {
            const size_t want = len[i] - done < part ? len[i] - done : part;
            const ssize_t got = pread(fd, (char *)dst[i] + done, want, (off_t)(offset[i] + (int64_t)done));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) st = MN_ERR_IO;
            else if (got == 0) st = MN_ERR_FORMAT;
            else if (EVP_DigestUpdate(ctx, (char *)dst[i] + done, (size_t)got) != 1) st = MN_ERR_NOMEM;
            else done += (size_t)got;
        }
    }
    unsigned int digest_len = 0;
    if (st == MN_OK && EVP_DigestFinal_ex(ctx, out, &digest_len) != 1) st = MN_ERR_NOMEM;
    const int saved = errno;
    EVP_MD_CTX_free(ctx);
    errno = saved;
    return st;
}

int sha256_chunks(uint8_t out[32], const void *const *chunks, const size_t *lens, int n) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (int i = 0; ok && i < n; i++) ok = EVP_DigestUpdate(ctx, chunks[i], lens[i]) == 1;
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? MN_OK : MN_ERR_NOMEM;
}

int sha256_file_gunzip(uint8_t out[32], uint64_t *content_len, const char *path) {
    gzFile gz = gzopen(path, "rb"); /* zlib reads a non-gzip file through unchanged */
    if (!gz) return errno ? MN_ERR_IO : MN_ERR_NOMEM;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        gzclose(gz);
        return MN_ERR_NOMEM;
    }
    gzbuffer(gz, 1 << 17);
    static const size_t chunk = 1 << 16;
    unsigned char *buf = malloc(chunk);
    int st = buf ? MN_OK : MN_ERR_NOMEM;
    uint64_t total = 0;
    int got;
    while (st == MN_OK && (got = gzread(gz, buf, (unsigned)chunk)) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t)got);
        total += (uint64_t)got;
    }
    if (st == MN_OK) {
        int zerr;
        gzerror(gz, &zerr);
        if (zerr == Z_ERRNO) st = MN_ERR_IO;
        else if (zerr != Z_OK) st = MN_ERR_FORMAT; /* corrupt data or unexpected end of file */
    }
    unsigned int n = 0;
    if (st == MN_OK && EVP_DigestFinal_ex(ctx, out, &n) != 1) st = MN_ERR_NOMEM;
    int saved = errno;
    free(buf);
    EVP_MD_CTX_free(ctx);
    gzclose(gz);
    errno = saved;
    *content_len = total;
    return st;
}

void sha256_hex(char hex[65], const uint8_t digest[32]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding path, so the rename itself survives a crash. */
static void sync_parent(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Test hook of the crash specs (spec/crash_spec.lua): MNIST_SLOW_WRITES=ms pauses that long after
 * each chunk and after the rename, so that kills sent at random moments land inside writes. */
static void slow_write_pause(void) {
    const char *ms = getenv("MNIST_SLOW_WRITES");
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v <= 0 || v > 10000) return;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int file_write_atomic(const char *path, const void *const *chunks, const size_t *lens, int n) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return MN_ERR_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12); /* mkstemp: a name nobody else is writing */
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return MN_ERR_IO;
    }
    int failed = fchmod(fd, 0644) != 0;
    for (int i = 0; i < n && !failed; i++) {
        failed = write_all(fd, chunks[i], lens[i]) != 0;
        slow_write_pause();
    }
    if (!failed) failed = fsync(fd) != 0;
    if (close(fd) != 0) failed = 1;
    if (!failed) failed = rename(tmp, path) != 0;
    if (failed) {
        int saved = errno;
        unlink(tmp);
        free(tmp);
        errno = saved;
        return MN_ERR_IO;
    }
    free(tmp);
    sync_parent(path);
    slow_write_pause();
    return MN_OK;
}

int file_mkdir_p(const char *path) {
    size_t len = strlen(path);
    if (len == 0) {
        errno = ENOENT;
        return MN_ERR_IO;
    }
    char *buf = malloc(len + 1);
    if (!buf) return MN_ERR_NOMEM;
    memcpy(buf, path, len + 1);
    int st = MN_OK;
    for (size_t i = 1; i <= len && st == MN_OK; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat sb;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) st = MN_ERR_IO;
        else if (stat(buf, &sb) != 0) st = MN_ERR_IO;
        else if (!S_ISDIR(sb.st_mode)) {
            errno = ENOTDIR;
            st = MN_ERR_IO;
        }
        buf[i] = saved;
    }
    int saved_errno = errno;
    free(buf);
    errno = saved_errno;
    return st;
}
