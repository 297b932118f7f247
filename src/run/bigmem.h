/* bigmem.h - allocation of the large row arrays (the training shard) on transparent huge pages. */
#pragma once

#include <stddef.h>

/* Like mb__alloc (records an error naming `what` on failure; free() releases it), but a block of
 * 32 MiB or more is 2 MiB aligned and advised for huge pages: a mini-batch gathers rows from all
 * over the shard, and with 4 KiB pages nearly every row would miss the TLB. Not collective. */
void *mb__alloc_rows(size_t bytes, const char *what);

/* The whole pages of p's bytes [used, total) go back to the system (they read as zeros after);
 * p stays one allocation for free(). For a shard whose tail is no longer used. Not collective. */
void mb__release_tail(void *p, size_t used, size_t total);
