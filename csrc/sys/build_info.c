/* build_info.c: see build_info.h. */
#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "sys/build_info.h"

#include <errno.h>
#include <math.h>

/* With math errno, GCC follows an inline sqrtss whose result is NaN by a call to the library's
 * sqrtf, which sets errno to EDOM; without it, errno is never touched. The volatile keeps the
 * call from being folded at compile time. This is the effective flag of this file, which is
 * compiled like every other (each includes sys/optimize.h first; spec/build_spec.lua checks). */
static int sqrt_sets_errno(void) {
    volatile float minus_one = -1.0f;
    int saved = errno;
    errno = 0;
    volatile float r = sqrtf(minus_one);
    (void)r;
    int set = errno != 0;
    errno = saved;
    return set;
}

void build_info(BuildInfo *out) {
    out->optimize_pragma = MNIST_OPTIMIZE_PRAGMA;
#ifdef __OPTIMIZE__
    out->optimized = 1;
#else
    out->optimized = 0;
#endif
#ifdef __NO_MATH_ERRNO__
    out->no_math_errno_macro = 1;
#else
    out->no_math_errno_macro = 0;
#endif
    out->math_errno = sqrt_sets_errno();
    out->compiler = __VERSION__;
}
