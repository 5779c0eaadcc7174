/* memory.h: large working buffers on transparent huge pages.
 *
 * A fresh 4 KB page costs a page fault on first touch, and on these virtual machines a fault costs
 * about 2.5 us: the 11 MB of working buffers of one photo's clean-up (1000x750 floats, masks,
 * labels) and the 4.8 MB of the default model's weights took more page faults than arithmetic in a
 * one-shot `mnist.lua predict`. A 2 MB huge page is one fault. The kernel gives huge pages to the
 * regions a program asks for (madvise) when transparent_hugepage is "madvise", as on Debian;
 * "never" makes these plain allocations. */
#ifndef MNIST_MEMORY_H
#define MNIST_MEMORY_H

#include <stddef.h>

#define MEM_HUGE_PAGE ((size_t)2 << 20)
/* From this size on, zeroing a whole huge page costs less than the faults of 4 KB pages. */
#define MEM_LARGE ((size_t)512 << 10)

/* n bytes, uninitialised, freed with free(); NULL when out of memory. A block of MEM_LARGE bytes
 * or more is aligned to MEM_HUGE_PAGE and rounded up to whole huge pages, all asked for as huge. */
void *mem_alloc_large(size_t n);

/* Asks for huge pages for the whole 2 MB pages inside p[0..n) (a block from calloc or malloc:
 * what lies outside it is left alone). */
void mem_advise_huge(void *p, size_t n);

#endif
