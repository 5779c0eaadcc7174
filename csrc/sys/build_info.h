/* build_info.h: how this library was compiled, as far as the code itself can tell, so a spec can
 * check that `make` and `luarocks make` produce the same code (sys/optimize.h). */
#ifndef MNIST_BUILD_INFO_H
#define MNIST_BUILD_INFO_H

typedef struct {
    int optimize_pragma;      /* sys/optimize.h's pragma applied (-O3, no math errno) */
    int optimized;            /* __OPTIMIZE__: the command line asked for -O1 or more */
    int no_math_errno_macro;  /* __NO_MATH_ERRNO__ in build_info.c (-fno-math-errno, or the pragma: GCC updates it) */
    int math_errno;           /* measured: sqrtf(-1) set errno (the code was built with math errno) */
    const char *compiler;     /* __VERSION__ */
} BuildInfo;

void build_info(BuildInfo *out);

#endif
