/* test_repro.c - the reproducible reduction: exact sums over ranks equal the one-process exact sum
 * bit for bit however the values are dealt out, and whole-microblock shards read the right rows in
 * both I/O modes. */
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/dataset.h"
#include "mbatch/gen.h"
#include "mbatch/microblock.h"
#include "mbatch/partition.h"
#include "mbatch/repro.h"
#include "mpitest.h"

#define N 20000
#define K 8 /* accumulators per rank in the vector test */

/* Value i of an adversarial sequence: huge values that cancel, subnormals, mixed exponents. */
static double value(int64_t i) {
    uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15ULL + 12345;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 29;
    double m = 1.0 + (double)(z >> 11) / 9007199254740992.0;
    switch (i % 5) {
    case 0:
        return (z & 1 ? -1 : 1) * ldexp(m, 1000); /* huge */
    case 1:
        return (z & 2 ? -1 : 1) * ldexp(m, -1070); /* subnormal */
    case 2:
        return (z & 4 ? -1 : 1) * ldexp(m, (int)(z % 120) - 60);
    case 3:
        return -value(i - 3); /* cancels the huge one */
    default:
        return (z & 8 ? -1 : 1) * 0.1 * (double)(i % 97);
    }
}

static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_same_everywhere(double v) {
    double root = v;
    mb_bcast(&mt_comm, &root, sizeof root, 0);
    if (!same_bits(root, v)) fprintf(stderr, "rank %d: %a, rank 0 has %a\n", mt_comm.rank, v, root);
    MT_CHECK(same_bits(root, v));
}

static void test_exact_sum(void) {
    /* One process, all values, backwards: the reference. */
    mb_superacc ref;
    mb_sacc_zero(&ref, 1);
    for (int64_t i = N - 1; i >= 0; i--) mb_sacc_add(&ref, value(i));
    double want = mb_sacc_round(&ref);
    /* A naive double sum in index order is not it (the test data really is adversarial). */
    double naive = 0;
    for (int64_t i = 0; i < N; i++) naive += value(i);
    MT_CHECK(!same_bits(naive, want));

    /* Contiguous shards, then round-robin: the same bits. */
    int64_t lo, hi;
    mb_shard_bounds(N, mt_comm.rank, mt_comm.size, &lo, &hi);
    mb_superacc a;
    mb_sacc_zero(&a, 1);
    for (int64_t i = lo; i < hi; i++) mb_sacc_add(&a, value(i));
    double got;
    mb_allreduce_exact(&mt_comm, &a, 1, &got);
    if (!same_bits(got, want))
        fprintf(stderr, "rank %d: contiguous %a, one process %a\n", mt_comm.rank, got, want);
    MT_CHECK(same_bits(got, want));
    mb_sacc_zero(&a, 1);
    for (int64_t i = mt_comm.rank; i < N; i += mt_comm.size) mb_sacc_add(&a, value(i));
    mb_allreduce_exact(&mt_comm, &a, 1, &got);
    MT_CHECK(same_bits(got, want));
    check_same_everywhere(got);

    /* A vector: accumulator j sums value(i) * 2^j over a rank-dependent deal. */
    mb_superacc v[K], vref[K];
    double out[K];
    mb_sacc_zero(v, K);
    mb_sacc_zero(vref, K);
    for (int64_t i = 0; i < N; i++)
        for (int j = 0; j < K; j++) {
            double x = ldexp(value(i), j - K / 2);
            mb_sacc_add(&vref[j], x);
            if ((i * 7 + j) % mt_comm.size == mt_comm.rank) mb_sacc_add(&v[j], x);
        }
    mb_allreduce_exact(&mt_comm, v, K, out);
    for (int j = 0; j < K; j++) {
        MT_CHECK(same_bits(out[j], mb_sacc_round(&vref[j])));
        check_same_everywhere(out[j]);
    }

    /* Past the double range on the way, back inside at the end: every rank adds DBL_MAX and
     * rank 0 takes them all away again. */
    mb_sacc_zero(&a, 1);
    mb_sacc_add(&a, DBL_MAX);
    if (mt_comm.rank == 0) {
        for (int r = 0; r < mt_comm.size; r++) mb_sacc_add(&a, -DBL_MAX);
        mb_sacc_add(&a, 1.5);
    }
    mb_allreduce_exact(&mt_comm, &a, 1, &got);
    MT_CHECK(same_bits(got, 1.5));

    /* An infinity or a NaN on one rank reaches every rank; the other sums stay exact. */
    mb_superacc sp[3];
    double spv[3];
    mb_sacc_zero(sp, 3);
    for (int j = 0; j < 3; j++) mb_sacc_add(&sp[j], -0.25);
    if (mt_comm.rank == mt_comm.size - 1) {
        mb_sacc_add(&sp[0], INFINITY);
        mb_sacc_add(&sp[1], NAN);
    }
    mb_allreduce_exact(&mt_comm, sp, 3, spv);
    MT_CHECK(isinf(spv[0]) && spv[0] > 0);
    MT_CHECK(isnan(spv[1]));
    MT_CHECK(same_bits(spv[2], -0.25 * mt_comm.size));
    /* All zero everywhere. */
    mb_sacc_zero(sp, 3);
    mb_allreduce_exact(&mt_comm, sp, 3, spv);
    MT_CHECK(same_bits(spv[0], 0.0) && same_bits(spv[2], 0.0));
}

static void test_microblock_shards(void) {
    /* Whole microblocks, contiguous, covering every row, whatever the rank count. */
    int64_t sizes[] = {1, 63, 64, 65, 1000, 8191, 100001};
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        int64_t n = sizes[t], rows = mb_microblock_rows(n), prev = 0;
        MT_CHECK(rows % 64 == 0 && rows >= 64);
        for (int r = 0; r < mt_comm.size; r++) {
            int64_t lo, hi;
            mb_microblock_shard(n, rows, r, mt_comm.size, &lo, &hi);
            MT_CHECK_INT(lo, prev);
            MT_CHECK((lo % rows == 0 || lo == n) && (hi % rows == 0 || hi == n) && hi >= lo);
            prev = hi;
        }
        MT_CHECK_INT(prev, n);
    }
}

static void test_read_shards(void) {
    char file[64];
    snprintf(file, sizeof file, "test_repro_%d.h5", mt_comm.size);
    if (mt_comm.rank == 0) {
        mb_gen_opts o = {.kind = "linear", .rows = 777, .cols = 3, .seed = 5, .out = file};
        MT_CHECK_INT(mb_gen(&o), MB_OK);
    }
    mb_barrier(&mt_comm);
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/y"};
    mb_dataset *ds = NULL;
    MT_CHECK_INT(mb_dataset_open(&mt_comm, &spec, 1, &ds), MB_OK);
    int64_t n = mb_dataset_rows(ds), rows = mb_microblock_rows(n);
    double *all = malloc(sizeof(double) * (size_t)(n * 3)), *yall = malloc(sizeof(double) * n);
    MT_CHECK(all && yall);
    /* The whole file on every rank, through a one-rank-takes-all shard list. */
    int64_t *sh = calloc(2 * (size_t)mt_comm.size, sizeof *sh);
    for (int r = 0; r < mt_comm.size; r++) sh[2 * r] = sh[2 * r + 1] = n;
    sh[0] = 0;
    double *mine0 = mt_comm.rank == 0 ? all : NULL, *y0 = mt_comm.rank == 0 ? yall : NULL;
    MT_CHECK_INT(mb_dataset_read_shards(&mt_comm, ds, MB_IO_PARALLEL, sh, mine0, y0), MB_OK);
    mb_bcast(&mt_comm, all, sizeof(double) * (size_t)(n * 3), 0);
    mb_bcast(&mt_comm, yall, sizeof(double) * (size_t)n, 0);
    for (int r = 0; r < mt_comm.size; r++)
        mb_microblock_shard(n, rows, r, mt_comm.size, &sh[2 * r], &sh[2 * r + 1]);
    int64_t lo = sh[2 * mt_comm.rank], hi = sh[2 * mt_comm.rank + 1];
    for (int mode = 0; mode < 2; mode++) {
        double *raw = malloc(sizeof(double) * (size_t)((hi - lo) * 3 + 1));
        double *y = malloc(sizeof(double) * (size_t)(hi - lo + 1));
        MT_CHECK_INT(
            mb_dataset_read_shards(&mt_comm, ds, mode ? MB_IO_SCATTER : MB_IO_PARALLEL, sh, raw, y),
            MB_OK);
        MT_CHECK(memcmp(raw, all + lo * 3, sizeof(double) * (size_t)((hi - lo) * 3)) == 0);
        MT_CHECK(memcmp(y, yall + lo, sizeof(double) * (size_t)(hi - lo)) == 0);
        free(raw);
        free(y);
    }
    mb_dataset_close(ds);
    free(all);
    free(yall);
    free(sh);
    mb_barrier(&mt_comm);
    if (mt_comm.rank == 0) unlink(file);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    test_exact_sum();
    test_microblock_shards();
    test_read_shards();
    return mt_finish();
}
