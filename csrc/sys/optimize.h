/* optimize.h: the optimisation every C file is compiled with, whoever runs the compiler. Each .c
 * file includes it first (before any other header, so inline functions of the headers get it too).
 *
 * Why in the source and not only in the Makefile: `luarocks make` / `luarocks install` (the
 * builtin backend) compile with luarocks' CFLAGS, "-O2 -fPIC", and a packager may use others. At
 * -O2 GCC 12 vectorises only the loops that need no epilogue or run-time check, and without
 * -fno-math-errno it cannot vectorise a loop that calls sqrtf (it must call the library to set
 * errno): the optimizer and element-wise loops then ran 4x slower (1,620 vs 3,500 images/s
 * training the default model). The pragma gives every function -O3 and no math errno (we never
 * read errno after a math call) in any optimised build, so both builds run the same code.
 *
 * Not applied: at -O0 (a debugging build keeps its flags), under clang (it ignores the pragma; its
 * -O2 vectorises these loops already) and when MNIST_FLAGS_AS_GIVEN is defined (the sanitizer
 * build, which wants its -O1 for readable reports). core.build_info() reports what applied. */
#ifndef MNIST_OPTIMIZE_H
#define MNIST_OPTIMIZE_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__) && !defined(MNIST_FLAGS_AS_GIVEN)
#pragma GCC optimize("O3", "no-math-errno")
#define MNIST_OPTIMIZE_PRAGMA 1
/* The pragma alone leaves sqrtf a call: GCC declares its math builtins once, from the command
 * line's errno setting, and a call that may set errno cannot be vectorised. Declaring sqrt and
 * sqrtf without side effects (what -fno-math-errno declares) makes them vector square roots.
 * (No header here: a file's feature macros, e.g. _GNU_SOURCE, must come before the first one.) */
float sqrtf(float) __attribute__((const, nothrow, leaf));
double sqrt(double) __attribute__((const, nothrow, leaf));
#else
#define MNIST_OPTIMIZE_PRAGMA 0
#endif

#endif
