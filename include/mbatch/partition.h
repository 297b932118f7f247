/* partition.h - pure ownership arithmetic: shards, the train/validation split, epoch batches.
 *
 * The dataset's N rows are cut into one contiguous shard per rank (mb_shard_bounds). Inside
 * the dataset, a seeded bijection picks exactly n_val validation rows; the remaining rows are
 * the training samples, numbered 0..n_train-1 in file order ("global training index"), so a
 * rank's training samples form a contiguous range of that index. Each epoch e, a bijection
 * keyed on (seed, e) orders the training samples; global mini-batch k is positions
 * [k*B, min((k+1)*B, n_train)) of that order. Which samples form batch k therefore depends only
 * on (seed, epoch, n_train, B), never on the number of ranks. Not collective; no MPI.
 */
#pragma once

#include <stdint.h>

/* Rows [lo, hi) of n owned by rank of nranks: balanced, the first n % nranks ranks get one more.
 * A rank may own zero rows (n < nranks). */
void mb_shard_bounds(int64_t n, int rank, int nranks, int64_t *lo, int64_t *hi);

/* Number of validation rows: round(n * fraction) clamped to [0, n - 1], so at least one training
 * row remains; 0 when n <= 0 or fraction <= 0 (or NaN). */
int64_t mb_split_nval(int64_t n, double fraction);

/* Is file row `row` (0 <= row < n) a validation row? Exactly n_val rows of [0, n) are. */
int mb_split_is_val(int64_t row, int64_t n, int64_t n_val, uint64_t seed);

/* Number of training rows among file rows [0, row_end) (O(row_end) hashes). */
int64_t mb_split_train_before(int64_t row_end, int64_t n, int64_t n_val, uint64_t seed);

/* Number of global batches per epoch: ceil(n_train / batch); batch >= n_train (full batch) or
 * batch <= 0 means 1, also when n_train is 0. */
int64_t mb_batch_count(int64_t n_train, int64_t batch);

/* This rank's order for epoch `epoch`. With block > 1 the epoch's bijection orders blocks of
 * `block` consecutive global training indices (block j is [j*block, (j+1)*block), the last one
 * possibly shorter) and each block keeps its rows in order, so batches are made of whole runs of
 * rows (cut where a batch boundary falls); block <= 1 orders the samples one by one. Its training
 * samples are the global training indices
 * [t_lo, t_hi). Fills order[0 .. t_hi-t_lo) with local offsets (t - t_lo) grouped by global
 * batch, ascending local offset within a batch (a stable counting sort by batch id, O(m + nb)
 * for m = t_hi - t_lo), and boff[0 .. nb] (nb = mb_batch_count) with the start of each batch's
 * group in order[], so batch k is order[boff[k] .. boff[k+1]) (possibly empty on this rank).
 * The members of each batch are fixed by (seed, epoch, n_train, batch); only their order inside
 * a rank's group is local. When nb == 1 (full batch) the order is the identity and
 * boff = {0, m}. `scratch` holds at least 2 * (t_hi - t_lo) int64 values. No allocation. */
void mb_epoch_order(int64_t t_lo, int64_t t_hi, int64_t n_train, int64_t batch, int64_t block,
                    uint64_t seed, int64_t epoch, int64_t *order, int64_t *boff, int64_t *scratch);
