/* bigmem.c - huge-page allocation of the training shard. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shared.h"

void *mb__alloc_rows(size_t bytes, const char *what) {
    enum { HUGE = 2u << 20, LINE = 64 };
    void *p = NULL;
    if (bytes < 16 * (size_t)HUGE) {
        /* On a cache line: malloc puts a block of this size 16 bytes past a page start, and
         * rows that straddle lines cost the kernel's loads (16,384 x 64 float64 in batches of
         * 64: 311 vs 272 us an epoch). */
        if (posix_memalign(&p, LINE, bytes ? bytes : 1) == 0) return p;
        return mb__alloc(bytes, what);
    }
    if (posix_memalign(&p, HUGE, bytes) != 0) return mb__alloc(bytes, what);
#ifdef MADV_HUGEPAGE
    /* Advice only: where transparent huge pages are off this does nothing, and that is fine. */
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void mb__release_tail(void *p, size_t used, size_t total) {
    long pg = sysconf(_SC_PAGESIZE);
    if (!p || pg <= 0 || used >= total) return;
    uintptr_t a = (uintptr_t)p + used, b = (uintptr_t)p + total, page = (uintptr_t)pg;
    a = (a + page - 1) / page * page;
    b = b / page * page;
    if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}
