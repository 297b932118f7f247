/* microblock.h - the fixed microblocks of reproducible mode: file rows grouped independently of
 * the rank count, and rank shards made of whole microblocks.
 *
 * In reproducible mode every sum over samples is cut at microblock boundaries: the floating-point
 * part of a sum never crosses a microblock, and the parts are added exactly (superacc.h). Since a
 * microblock depends only on the dataset's row count, and every rank owns whole microblocks, each
 * floating-point part is the same computation whatever the number of ranks. Not collective; no MPI.
 */
#pragma once

#include <stdint.h>

/* File rows per microblock for an n-row dataset: about n / 128 rounded up to a multiple of 64
 * (at least 64), so there are at most about 128 microblocks. Depends on n only. */
int64_t mb_microblock_rows(int64_t n);

/* Rows [lo, hi) of n owned by rank of nranks when ranks own whole microblocks of `rows` rows:
 * the ceil(n / rows) microblocks are dealt out as mb_shard_bounds deals rows. */
void mb_microblock_shard(int64_t n, int64_t rows, int rank, int nranks, int64_t *lo, int64_t *hi);
