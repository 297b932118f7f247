/* partition.c - shard bounds, the seeded train/validation split and per-epoch batch orders. */
#include "mbatch/partition.h"

#include <math.h>
#include <stddef.h>

#include "mbatch/rng.h"

void mb_shard_bounds(int64_t n, int rank, int nranks, int64_t *lo, int64_t *hi) {
    int64_t base = n / nranks, extra = n % nranks;
    int64_t r = rank;
    *lo = r * base + (r < extra ? r : extra);
    *hi = *lo + base + (r < extra ? 1 : 0);
}

int64_t mb_split_nval(int64_t n, double fraction) {
    /* The negated test also sends a NaN fraction to "no validation". */
    if (n <= 0 || !(fraction > 0)) return 0;
    if (fraction >= 1) return n - 1;
    int64_t v = llround((double)n * fraction);
    if (v < 0) v = 0;
    if (v > n - 1) v = n - 1;
    return v;
}

int mb_split_is_val(int64_t row, int64_t n, int64_t n_val, uint64_t seed) {
    mb_perm p;
    mb_perm_init(&p, (uint64_t)n, seed, MB_RNG_SPLIT, 0);
    return mb_perm_inv(&p, (uint64_t)row) < (uint64_t)n_val;
}

int64_t mb_split_train_before(int64_t row_end, int64_t n, int64_t n_val, uint64_t seed) {
    if (n_val <= 0) return row_end;
    mb_perm p;
    mb_perm_init(&p, (uint64_t)n, seed, MB_RNG_SPLIT, 0);
    int64_t train = 0;
    for (int64_t row = 0; row < row_end; row++)
        if (mb_perm_inv(&p, (uint64_t)row) >= (uint64_t)n_val) train++;
    return train;
}

int64_t mb_batch_count(int64_t n_train, int64_t batch) {
    if (batch <= 0 || batch >= n_train) return 1;
    return (n_train + batch - 1) / batch;
}

void mb_epoch_order(int64_t t_lo, int64_t t_hi, int64_t n_train, int64_t batch, int64_t block,
                    uint64_t seed, int64_t epoch, int64_t *order, int64_t *boff, int64_t *scratch) {
    int64_t m = t_hi - t_lo;
    if (m < 0) m = 0;
    int64_t nb = mb_batch_count(n_train, batch);
    if (nb == 1) {
        for (int64_t i = 0; i < m; i++) order[i] = i;
        boff[0] = 0;
        boff[1] = m;
        return;
    }

    /* Runs of local samples that go to one batch ("segments"): the batch id of segment s is
     * seg_q[s], its first local offset seg_at[s] (seg_at == NULL: segment s is sample s alone),
     * and it ends where the next one starts. */
    mb_perm p;
    int64_t *seg_q = scratch, *seg_at = NULL, ns = m;
    if (block <= 1) {
        mb_perm_init(&p, (uint64_t)n_train, seed, MB_RNG_SHUFFLE, (uint64_t)epoch);
        mb_perm_inv_range(&p, (uint64_t)t_lo, m, (uint64_t *)seg_q);
        /* pos / batch without a division per sample: the double quotient is off by at most
         * one (positions are far below 2^53), and one comparison each way corrects it. */
        double inv = 1.0 / (double)batch;
        for (int64_t i = 0; i < m; i++) {
            int64_t pos = seg_q[i], q = (int64_t)((double)pos * inv);
            q -= q * batch > pos;
            q += (q + 1) * batch <= pos;
            seg_q[i] = q;
        }
    } else {
        /* Block j lands at position pj of the block order and starts at sample position
         * pj * block, less the missing rows of the short last block when that one comes
         * earlier in the order; its rows take the positions after that one by one, cut into
         * segments where a batch boundary falls. */
        int64_t nblk = (n_train + block - 1) / block, short_by = nblk * block - n_train;
        mb_perm_init(&p, (uint64_t)nblk, seed, MB_RNG_SHUFFLE, (uint64_t)epoch);
        int64_t p_last = (int64_t)mb_perm_inv(&p, (uint64_t)(nblk - 1));
        seg_at = scratch + m;
        ns = 0;
        for (int64_t t = t_lo; t < t_hi;) {
            int64_t j = t / block, end = (j + 1) * block < t_hi ? (j + 1) * block : t_hi;
            int64_t pj = (int64_t)mb_perm_inv(&p, (uint64_t)j);
            int64_t pos = pj * block - (pj > p_last ? short_by : 0) + (t - j * block);
            while (t < end) {
                int64_t q = pos / batch, len = (q + 1) * batch - pos;
                if (len > end - t) len = end - t;
                seg_q[ns] = q, seg_at[ns++] = t - t_lo;
                t += len, pos += len;
            }
        }
    }

    /* Stable counting sort of the segments by batch id: O(m + nb), and within a batch the
     * local offsets stay ascending. boff[k + 1] first counts batch k's samples; the prefix sum
     * turns boff[k] into the start of batch k, which serves as its insertion cursor and ends up
     * as the start of batch k + 1, so one shift restores the starts. */
    for (int64_t k = 0; k <= nb; k++) boff[k] = 0;
    for (int64_t s = 0; s < ns; s++)
        boff[seg_q[s] + 1] += seg_at ? (s + 1 < ns ? seg_at[s + 1] : m) - seg_at[s] : 1;
    for (int64_t k = 0; k < nb; k++) boff[k + 1] += boff[k];
    if (!seg_at)
        for (int64_t i = 0; i < m; i++) order[boff[seg_q[i]]++] = i;
    else
        for (int64_t s = 0; s < ns; s++) {
            int64_t at = seg_at[s], end = s + 1 < ns ? seg_at[s + 1] : m,
                    *o = order + boff[seg_q[s]];
            boff[seg_q[s]] += end - at;
            for (int64_t i = at; i < end; i++) *o++ = i;
        }
    for (int64_t k = nb; k > 0; k--) boff[k] = boff[k - 1];
    boff[0] = 0;
}
