/* bigmem.h - allocation of the large row arrays (the training shard) on transparent huge pages. */
#pragma once

#include <stddef.h>

/* Like mb__alloc (records an error naming `what` on failure; free() releases it), but a block of
 * 32 MiB or more is 2 MiB aligned and advised for huge pages: a mini-batch gathers rows from all
 * over the shard, and with 4 KiB pages nearly every row would miss the TLB. Not collective. */
void *mb__alloc_rows(size_t bytes, const char *what);
