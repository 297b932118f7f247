/* bigmem.c - huge-page allocation of the training shard. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "bigmem.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "shared.h"

void *mb__alloc_rows(size_t bytes, const char *what) {
    enum { HUGE = 2u << 20 };
    if (bytes < 16 * (size_t)HUGE) return mb__alloc(bytes, what);
    void *p = NULL;
    if (posix_memalign(&p, HUGE, bytes) != 0) return mb__alloc(bytes, what);
#ifdef MADV_HUGEPAGE
    /* Advice only: where transparent huge pages are off this does nothing, and that is fine. */
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}
