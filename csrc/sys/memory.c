#include "sys/optimize.h" /* first: the optimisation whatever the compiler flags */

#include "sys/memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

void *mem_alloc_large(size_t n) {
    if (n < MEM_LARGE) return malloc(n ? n : 1);
    const size_t rounded = (n + MEM_HUGE_PAGE - 1) / MEM_HUGE_PAGE * MEM_HUGE_PAGE;
    if (rounded < n) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, MEM_HUGE_PAGE, rounded) != 0) return NULL;
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice: a kernel without THP ignores it */
    return p;
}

void mem_advise_huge(void *p, size_t n) {
    const uintptr_t start = ((uintptr_t)p + MEM_HUGE_PAGE - 1) / MEM_HUGE_PAGE * MEM_HUGE_PAGE;
    const uintptr_t end = ((uintptr_t)p + n) / MEM_HUGE_PAGE * MEM_HUGE_PAGE;
    if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}
