/* status.h: the error codes every function of the C core returns.
 * The core never exits, aborts or longjmps; the binding turns a status into a Lua error. */
#ifndef MNIST_STATUS_H
#define MNIST_STATUS_H

typedef enum {
    MN_OK = 0,
    MN_ERR_NOMEM,   /* an allocation failed */
    MN_ERR_SHAPE,   /* shapes do not agree, or a dimension is negative or too large */
    MN_ERR_ARG,     /* an argument is out of its domain (bad flag, bad count) */
    MN_ERR_RANGE,   /* an index is out of range */
    MN_ERR_DTYPE,   /* the operation does not support this element type */
    MN_ERR_IO,      /* a read or write failed (errno holds the cause) */
    MN_ERR_FORMAT,  /* a file or buffer is not in the expected format */
    MN_ERR_LAYOUT,  /* a tensor's strides do not allow it: make it contiguous first */
    MN_ERR_COMM,    /* a collective across processes failed or timed out (csrc/mpi) */
} mn_status;

/* A short human phrase for a status ("out of memory", ...). Never NULL. */
const char *mn_status_str(int status);

#endif
