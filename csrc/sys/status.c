#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "sys/status.h"

const char *mn_status_str(int status) {
    switch (status) {
    case MN_OK: return "ok";
    case MN_ERR_NOMEM: return "out of memory";
    case MN_ERR_SHAPE: return "bad shape";
    case MN_ERR_ARG: return "bad argument";
    case MN_ERR_RANGE: return "index out of range";
    case MN_ERR_DTYPE: return "unsupported element type";
    case MN_ERR_IO: return "input/output error";
    case MN_ERR_FORMAT: return "bad format";
    case MN_ERR_LAYOUT: return "the tensor is not contiguous (call :contiguous() first)";
    case MN_ERR_COMM: return "a collective across the job's processes failed (a peer rank died or hangs)";
    default: return "unknown error";
    }
}
