/* test_partition.c - unit tests of shard bounds, the validation split and epoch batch orders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbatch/partition.h"
#include "mbatch/rng.h"

static void test_shard_bounds(void **state) {
    (void)state;
    int64_t lo, hi;
    mb_shard_bounds(10, 0, 3, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 4);
    mb_shard_bounds(10, 1, 3, &lo, &hi);
    assert_int_equal(lo, 4);
    assert_int_equal(hi, 7);
    mb_shard_bounds(10, 2, 3, &lo, &hi);
    assert_int_equal(lo, 7);
    assert_int_equal(hi, 10);
    mb_shard_bounds(10, 0, 1, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 10);
    /* Fewer rows than ranks: the first n ranks own one row, the others none. */
    mb_shard_bounds(2, 1, 4, &lo, &hi);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 2);
    mb_shard_bounds(2, 2, 4, &lo, &hi);
    assert_int_equal(lo, 2);
    assert_int_equal(hi, 2);
    mb_shard_bounds(2, 3, 4, &lo, &hi);
    assert_int_equal(lo, 2);
    assert_int_equal(hi, 2);
    mb_shard_bounds(0, 0, 2, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
}

static void test_shard_bounds_tile(void **state) {
    (void)state;
    for (int64_t n = 0; n < 40; n++)
        for (int p = 1; p <= 9; p++) {
            int64_t prev = 0;
            for (int r = 0; r < p; r++) {
                int64_t lo, hi;
                mb_shard_bounds(n, r, p, &lo, &hi);
                assert_int_equal(lo, prev);
                assert_int_equal(hi - lo, n / p + (r < n % p));
                prev = hi;
            }
            assert_int_equal(prev, n);
        }
}

static void test_split_nval(void **state) {
    (void)state;
    assert_int_equal(mb_split_nval(100, 0.1), 10);
    assert_int_equal(mb_split_nval(10, 0.25), 3); /* 2.5 rounds away from zero */
    assert_int_equal(mb_split_nval(100, 0.0), 0);
    assert_int_equal(mb_split_nval(100, -0.5), 0);
    assert_int_equal(mb_split_nval(100, 0.999), 99);
    assert_int_equal(mb_split_nval(100, 1.0), 99);
    assert_int_equal(mb_split_nval(100, 5.0), 99);
    assert_int_equal(mb_split_nval(1, 0.5), 0);
    assert_int_equal(mb_split_nval(0, 0.5), 0);
    assert_int_equal(mb_split_nval(3, 0.01), 0);
}

static void test_split_membership(void **state) {
    (void)state;
    const int64_t ns[] = {1, 2, 7, 100, 1001};
    const double fr[] = {0.0, 0.1, 0.5, 0.9};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof fr / sizeof fr[0]; b++) {
            int64_t n = ns[a], n_val = mb_split_nval(n, fr[b]), count = 0;
            for (int64_t row = 0; row < n; row++) {
                assert_int_equal(mb_split_train_before(row, n, n_val, 42), row - count);
                count += mb_split_is_val(row, n, n_val, 42) != 0;
            }
            assert_int_equal(count, n_val);
            assert_int_equal(mb_split_train_before(n, n, n_val, 42), n - n_val);
        }
    /* The validation rows are spread over the file, not the first n_val rows. */
    int64_t first_half = 0;
    for (int64_t row = 0; row < 500; row++) first_half += mb_split_is_val(row, 1000, 100, 1);
    print_message("validation rows in the first half: %lld of 100\n", (long long)first_half);
    assert_true(first_half > 25 && first_half < 75);
}

static void test_batch_count(void **state) {
    (void)state;
    assert_int_equal(mb_batch_count(10, 3), 4);
    assert_int_equal(mb_batch_count(9, 3), 3);
    assert_int_equal(mb_batch_count(10, 10), 1);
    assert_int_equal(mb_batch_count(10, 15), 1);
    assert_int_equal(mb_batch_count(10, 1), 10);
    assert_int_equal(mb_batch_count(0, 4), 1);
}

/* Rows shuffled together by epoch_batches (1: each row on its own). */
static int64_t g_block = 1;

/* Batch id of every training sample for (n, batch, seed, epoch), simulating all p ranks; checks
 * the per-rank output's invariants on the way. */
static void epoch_batches(int64_t n, int64_t batch, int p, uint64_t seed, int64_t epoch,
                          int64_t *bid) {
    int64_t nb = mb_batch_count(n, batch);
    int64_t *order = malloc((size_t)(n + 1) * sizeof *order);
    int64_t *scratch = malloc((size_t)(2 * n + 1) * sizeof *scratch);
    int64_t *boff = malloc((size_t)(nb + 1) * sizeof *boff);
    assert_non_null(order);
    assert_non_null(scratch);
    assert_non_null(boff);
    for (int64_t t = 0; t < n; t++) bid[t] = -1;
    for (int r = 0; r < p; r++) {
        int64_t lo, hi;
        mb_shard_bounds(n, r, p, &lo, &hi);
        mb_epoch_order(lo, hi, n, batch, g_block, seed, epoch, order, boff, scratch);
        assert_int_equal(boff[0], 0);
        assert_int_equal(boff[nb], hi - lo);
        for (int64_t k = 0; k < nb; k++) {
            assert_true(boff[k] <= boff[k + 1]);
            for (int64_t q = boff[k]; q < boff[k + 1]; q++) {
                int64_t off = order[q];
                assert_in_range(off, 0, hi - lo - 1);
                /* Ascending local offset within a batch. */
                if (q > boff[k]) assert_true(order[q - 1] < off);
                /* Each sample appears once in the epoch. */
                assert_int_equal(bid[lo + off], -1);
                bid[lo + off] = k;
            }
        }
    }
    for (int64_t t = 0; t < n; t++) assert_int_not_equal(bid[t], -1);
    free(order);
    free(scratch);
    free(boff);
}

static void test_epoch_order_invariants(void **state) {
    (void)state;
    const int64_t ns[] = {1, 2, 3, 5, 17, 100, 1000};
    const int64_t blocks[] = {1, 4, 7, 64};
    int64_t configs = 0;
    for (size_t c = 0; c < sizeof blocks / sizeof blocks[0]; c++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
            g_block = blocks[c];
            int64_t n = ns[a];
            const int64_t bs[] = {1, 2, 3, 7, n - 1, n, n + 5};
            int64_t *ref = malloc((size_t)n * sizeof *ref);
            int64_t *bid = malloc((size_t)n * sizeof *bid);
            int64_t *prev = malloc((size_t)n * sizeof *prev);
            int64_t *size = malloc((size_t)(n + 1) * sizeof *size);
            assert_non_null(ref);
            assert_non_null(bid);
            assert_non_null(prev);
            assert_non_null(size);
            for (size_t b = 0; b < sizeof bs / sizeof bs[0]; b++) {
                int64_t batch = bs[b];
                if (batch < 1) continue;
                int64_t nb = mb_batch_count(n, batch);
                for (int64_t epoch = 0; epoch < 3; epoch++) {
                    epoch_batches(n, batch, 1, 42, epoch, ref);
                    /* Batch k holds min(B, n - kB) samples. */
                    for (int64_t k = 0; k < nb; k++) size[k] = 0;
                    for (int64_t t = 0; t < n; t++) size[ref[t]]++;
                    for (int64_t k = 0; k < nb; k++) {
                        int64_t want = n - k * batch < batch ? n - k * batch : batch;
                        assert_int_equal(size[k], want);
                    }
                    /* The same member sets for every rank count, including more ranks than rows. */
                    for (int p = 2; p <= 9; p++) {
                        epoch_batches(n, batch, p, 42, epoch, bid);
                        assert_memory_equal(bid, ref, (size_t)n * sizeof *bid);
                        configs++;
                    }
                    /* Recomputing the same (seed, epoch) gives the same order. */
                    epoch_batches(n, batch, 3, 42, epoch, bid);
                    assert_memory_equal(bid, ref, (size_t)n * sizeof *bid);
                    if (epoch > 0 && (n + g_block - 1) / g_block >= 17 && batch < n)
                        assert_memory_not_equal(prev, ref, (size_t)n * sizeof *ref);
                    memcpy(prev, ref, (size_t)n * sizeof *ref);
                }
            }
            free(ref);
            free(bid);
            free(prev);
            free(size);
        }
    g_block = 1;
    print_message("%lld (N, B, block, P, epoch) configurations checked\n", (long long)configs);
}

static void test_epoch_order_known(void **state) {
    (void)state;
    int64_t order[10], boff[11], scratch[20];
    /* Full batch: identity. */
    mb_epoch_order(3, 7, 10, 10, 1, 1, 0, order, boff, scratch);
    for (int64_t i = 0; i < 4; i++) assert_int_equal(order[i], i);
    assert_int_equal(boff[0], 0);
    assert_int_equal(boff[1], 4);
    /* A rank without samples: every batch is empty. */
    mb_epoch_order(5, 5, 10, 3, 1, 1, 0, order, boff, scratch);
    for (int64_t k = 0; k <= 4; k++) assert_int_equal(boff[k], 0);
    /* The seed changes the order. */
    int64_t a[10], b[10];
    epoch_batches(10, 1, 1, 1, 0, a);
    epoch_batches(10, 1, 1, 2, 0, b);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_epoch_order_definition(void **state) {
    (void)state;
    /* Batch k is positions [kB, (k+1)B) of the epoch's bijection, position -> sample. */
    int64_t bid[100];
    mb_perm p;
    for (int64_t epoch = 0; epoch < 3; epoch++) {
        epoch_batches(100, 7, 4, 9, epoch, bid);
        mb_perm_init(&p, 100, 9, MB_RNG_SHUFFLE, (uint64_t)epoch);
        for (uint64_t pos = 0; pos < 100; pos++)
            assert_int_equal(bid[mb_perm_fwd(&p, pos)], pos / 7);
    }
}

/* With blocks: the epoch's bijection orders the blocks (position -> block), each block's rows
 * follow one another in file order, and batch k is positions [kB, (k+1)B) of that sequence. */
static void test_epoch_order_blocks_definition(void **state) {
    (void)state;
    const int64_t ns[] = {10, 64, 100, 1003}, blocks[] = {2, 7, 64}, bs[] = {1, 5, 64, 100};
    int64_t bid[1003], want[1003];
    for (size_t a = 0; a < 4; a++)
        for (size_t c = 0; c < 3; c++)
            for (size_t b = 0; b < 4; b++)
                for (int64_t epoch = 0; epoch < 2; epoch++) {
                    int64_t n = ns[a], block = blocks[c], batch = bs[b];
                    int64_t nblk = (n + block - 1) / block, pos = 0;
                    mb_perm p;
                    mb_perm_init(&p, (uint64_t)nblk, 11, MB_RNG_SHUFFLE, (uint64_t)epoch);
                    for (int64_t q = 0; q < nblk; q++) {
                        int64_t j = (int64_t)mb_perm_fwd(&p, (uint64_t)q);
                        for (int64_t t = j * block; t < (j + 1) * block && t < n; t++)
                            want[t] = batch >= n ? 0 : pos++ / batch;
                    }
                    g_block = block;
                    epoch_batches(n, batch, 3, 11, epoch, bid);
                    g_block = 1;
                    assert_memory_equal(bid, want, (size_t)n * sizeof *bid);
                }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_bounds),
        cmocka_unit_test(test_shard_bounds_tile),
        cmocka_unit_test(test_split_nval),
        cmocka_unit_test(test_split_membership),
        cmocka_unit_test(test_batch_count),
        cmocka_unit_test(test_epoch_order_invariants),
        cmocka_unit_test(test_epoch_order_known),
        cmocka_unit_test(test_epoch_order_definition),
        cmocka_unit_test(test_epoch_order_blocks_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
