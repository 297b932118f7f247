/* gap.h - the optimality gap table /gap of metrics.h5: per epoch, the training objective, the
 * optimum (computed once by an exact or Newton solve) and their difference.
 *
 * A separate table next to /epochs, so that readers of /epochs rows are unchanged. Rank 0 only
 * (Not Collective); each call opens, writes, flushes and closes the file, like metrics.h.
 */
#pragma once

#include <stdint.h>

#include "mbatch/error.h"

typedef struct mb_gap_row {
    int64_t epoch;
    double objective; /* mean training loss + (l2/2)|W|^2 at the end of the epoch */
    double optimum;   /* its minimum */
    double gap;       /* objective - optimum */
} mb_gap_row;

/* Create /gap in the existing metrics file path if absent; otherwise drop its rows with
 * epoch >= keep_from (a resumed run continues the table). */
mb_err mb_gap_init(const char *path, int64_t keep_from);
mb_err mb_gap_append(const char *path, const mb_gap_row *row);
/* Read back /gap: *rows malloc'd (NULL when empty). */
mb_err mb_gap_read(const char *path, mb_gap_row **rows, int64_t *n);
