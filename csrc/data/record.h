/* record.h: the record file, this project's TFRecord analogue: one split's images and labels,
 * parsed and verified once, then memory-mapped by every run.
 *
 * Layout (integers little-endian; 64-byte header, so the images start aligned):
 *   offset  size     field
 *    0      8        magic "MNISTREC"
 *    8      4        version (RECORD_VERSION)
 *   12      4        header size in bytes (64): where the payload starts
 *   16      8        count N
 *   24      4        height H
 *   28      4        width W
 *   32      32       SHA-256 of the payload (all bytes after the header)
 *   64      N*H*W    images, uint8, row-major (N, H, W)
 *   64+N*H*W  N      labels, uint8 (0-based classes)
 * The file is exactly 64 + N*H*W + N bytes. */
#ifndef MNIST_RECORD_H
#define MNIST_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"
#include "tensor/tensor.h"

#define RECORD_MAGIC "MNISTREC"
#define RECORD_VERSION 1
#define RECORD_HEADER_SIZE 64

/* Writes images (N, H, W) uint8 and labels (N) uint8 to path atomically (temp file, fsync,
 * rename). sha256: the payload's digest, as stored in the header. */
int record_write(uint8_t sha256[32], const char *path, const Tensor *images, const Tensor *labels);

/* images (N, H, W), labels (N): uint8 views of the memory-mapped file at path (read-only; the
 * mapping goes when the last view is released). Checks the magic, version, header size and the
 * file size against the counts; with verify_payload, also the payload's SHA-256 (a full read).
 * sha256: the header's payload digest. MN_ERR_IO (errno set) or MN_ERR_FORMAT with a reason in
 * why[why_size]. */
int record_open(Tensor *images, Tensor *labels, uint8_t sha256[32], const char *path,
                int verify_payload, char *why, size_t why_size);

#endif
