/* fileio.h: SHA-256 (OpenSSL's libcrypto; no hand-written crypto) and atomic file writes.
 * A file written here is either the complete new content or absent under its final name: the
 * bytes go to a temp file in the same directory, are fsync'ed, then renamed over the target. */
#ifndef MNIST_FILEIO_H
#define MNIST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"

/* out: the SHA-256 of data[0..len). */
int sha256_buffer(uint8_t out[32], const void *data, size_t len);
/* out: the SHA-256 of the file at path, streamed. MN_ERR_IO (errno set) when unreadable. */
int sha256_file(uint8_t out[32], const char *path);
/* out: the SHA-256 of the n chunks (chunks[i], lens[i]) taken as one byte string. */
int sha256_chunks(uint8_t out[32], const void *const *chunks, const size_t *lens, int n);
/* out: the SHA-256 of the file's content after gunzip (a file that is not gzip is hashed as is);
 * *content_len: the content's length. MN_ERR_IO (errno set) when unreadable, MN_ERR_FORMAT when
 * the gzip stream is corrupt or truncated. */
int sha256_file_gunzip(uint8_t out[32], uint64_t *content_len, const char *path);
/* Reads n pieces of the open file fd, dst[i][0..len[i]) from byte offset[i] (pread: fd's position
 * is left alone), and out: the SHA-256 of prefix[0..prefix_len) then the pieces in order, each
 * part hashed as it arrives (one pass over the file and no copy of it in memory). MN_ERR_IO (errno
 * set) when a read fails, MN_ERR_FORMAT when the file ends before a piece does. */
int file_read_hashed(uint8_t out[32], int fd, const void *prefix, size_t prefix_len, void *const *dst,
                     const int64_t *offset, const size_t *len, int n);
/* hex: 64 lowercase hex digits and a NUL, from a 32-byte digest. */
void sha256_hex(char hex[65], const uint8_t digest[32]);

/* Writes the n chunks (chunks[i], lens[i]) to path atomically (temp file, fsync, rename, fsync of
 * the directory). On failure the previous file at path is untouched, the temp file is removed,
 * and MN_ERR_IO is returned with errno set. */
int file_write_atomic(const char *path, const void *const *chunks, const size_t *lens, int n);

/* Creates directory path and its missing parents (mode 0755), like `mkdir -p`. MN_ERR_IO with
 * errno set when a component cannot be created or is not a directory. */
int file_mkdir_p(const char *path);

#endif
