/* idx.h: the IDX file format of MNIST and Fashion-MNIST, read with zlib (gzip or raw).
 *
 * An IDX file is a big-endian header, then the data:
 *   bytes 0-1   zero
 *   byte  2     element type (0x08 = unsigned byte, the only one MNIST uses)
 *   byte  3     rank r (1 for labels, 3 for images)
 *   r x u32     the dimensions, big-endian
 *   ...         product(dims) elements, row-major
 * so the images magic reads 0x00000803 and the labels magic 0x00000801.
 *
 * Every check happens before the data is allocated: magic, type, rank, each dimension, their
 * product against TENSOR_MAX_NUMEL, and the implied size against the file (its size when raw, the
 * gzip trailer's length and the largest deflate ratio when compressed). `why` receives a sentence
 * saying what is wrong, for the error message. */
#ifndef MNIST_IDX_H
#define MNIST_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "sys/status.h"
#include "tensor/tensor.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

/* out: a uint8 tensor with the file's dimensions (rank 1..TENSOR_MAX_DIMS), read from path
 * (gzip-compressed or raw). MN_ERR_IO (errno set) when unreadable, MN_ERR_FORMAT or MN_ERR_SHAPE
 * with a reason in why[why_size] when the content is not a well-formed IDX file. */
int idx_read(Tensor *out, const char *path, char *why, size_t why_size);

/* Checks that images (N, H, W) and labels (N) belong together: ranks, the same N, and every
 * label below num_classes. MN_ERR_SHAPE or MN_ERR_RANGE with a reason in why. */
int idx_check_pair(const Tensor *images, const Tensor *labels, int num_classes, char *why,
                   size_t why_size);

#endif
