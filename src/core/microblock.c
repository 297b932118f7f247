/* microblock.c - rank-count-independent microblocks and the shards made of them. */
#include "mbatch/microblock.h"

#include "mbatch/partition.h"

int64_t mb_microblock_rows(int64_t n) {
    /* Few enough microblocks that each exact add covers many samples, enough to balance ranks. */
    int64_t per = (n + 127) / 128;
    per = (per + 63) / 64 * 64;
    return per < 64 ? 64 : per;
}

void mb_microblock_shard(int64_t n, int64_t rows, int rank, int nranks, int64_t *lo, int64_t *hi) {
    int64_t nmb = n > 0 ? (n + rows - 1) / rows : 0, b0, b1;
    mb_shard_bounds(nmb, rank, nranks, &b0, &b1);
    *lo = b0 * rows < n ? b0 * rows : n;
    *hi = b1 * rows < n ? b1 * rows : n;
}
