// Memory advice for the large buffers the core allocates once (see CKernelShims.h).
#include "CKernelShims.h"

#if defined(__linux__)
#include <stdint.h>
#include <sys/mman.h>
#endif

void voronoid_advise_huge_pages(void *p, long bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + (uintptr_t)bytes) & ~(huge - 1);
    // Advice only: a refusal (an old kernel, THP switched off) leaves ordinary pages.
    if (bytes > 0 && end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}
