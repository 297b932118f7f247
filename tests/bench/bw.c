/* bw.c - the read-bandwidth floor: every MPI rank reads its own large array, timed together,
 * with mb_read_bytes (kernel.h), the read that mbatch's probe_bandwidth times between epochs;
 * with a batch size, the rows are read in mini-batch order (the floor of gathered rows), as single
 * rows or as runs of consecutive rows (batch.shuffle_block). Both loops are compiled for AVX2 where
 * the CPU has it (target_clones), so the floor is not a portable build's instruction limit. */
#define _DEFAULT_SOURCE /* madvise */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mbatch/kernel.h"

/* Rows of 64 doubles in the order order[0 .. m), each row's lines prefetched 16 rows ahead unless
 * it continues a run of consecutive rows (the hardware prefetcher streams those), as the
 * mini-batch kernel reads them. */
__attribute__((target_clones("avx2", "default"))) static double
sum_rows(const double *x, const int64_t *order, int64_t m) {
    double acc[16] = {0};
    for (int64_t i = 0; i < m; i++) {
        if (i + 16 < m && order[i + 16] != order[i] + 16)
            for (int o = 0; o < 64; o += 8) __builtin_prefetch(x + order[i + 16] * 64 + o, 0, 2);
        const double *r = x + order[i] * 64;
        for (int k = 0; k < 64; k += 16)
            for (int j = 0; j < 16; j++) acc[j] += r[k + j];
    }
    double s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

/* The core's speed as a chain of dependent additions, about one a cycle on an idle core: how
 * many billion a second. A shared VM's core can run at a fraction of that for minutes (on the VM
 * this was written on, 2.0 instead of 3.6 with nothing else running in the guest); a
 * compute-bound epoch (float32) slows with it, a memory-bound one (float64) hardly, so the
 * benchmark reads this beside the epochs it compares. */
static double core_gadds(void) {
    enum { N = 100000000 };
    double t0 = MPI_Wtime();
    uint64_t x = 0;
    for (uint64_t i = 0; i < N; i++) {
        x += i;
        __asm__ volatile("" : "+r"(x)); /* one add after another, not folded or vectorized */
    }
    double dt = MPI_Wtime() - t0;
    return N / dt / 1e9;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc == 2 && strcmp(argv[1], "--core") == 0) {
        double g[9];
        for (int r = 0; r < 9; r++) g[r] = core_gadds();
        qsort(g, 9, sizeof *g, cmp_double);
        if (rank == 0)
            printf("core speed: median %.2f G dependent additions/s (min %.2f, max %.2f over 9)\n",
                   g[4], g[0], g[8]);
        MPI_Finalize();
        return 0;
    }
    /* Per rank: the bytes of X a rank holds in the benchmark (default 512 MB / ranks), far more
     * than any cache. */
    double mb = argc > 1 ? atof(argv[1]) : 512.0 / size;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    int64_t batch = argc > 3 ? atoll(argv[3]) : 0; /* 0: sequential */
    int64_t run = argc > 4 ? atoll(argv[4]) : 1;   /* rows kept together by the shuffle */
    if (mb <= 0 || reps < 1 || reps > 1000 || run < 1) {
        if (rank == 0)
            fprintf(stderr,
                    "usage: mbatch_bw [MB_PER_RANK > 0] [REPS 1..1000] [BATCH] [RUN >= 1]\n"
                    "       mbatch_bw --core   (the core's speed: dependent additions a second)\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int64_t n = (int64_t)(mb * 1048576.0 / sizeof(double));
    n -= n % 64;
    double *x = NULL;
    if (posix_memalign((void **)&x, 2u << 20, sizeof(double) * (size_t)n) != 0) x = NULL;
    if (x) madvise(x, sizeof(double) * (size_t)n, MADV_HUGEPAGE); /* as mbatch holds X */
    int64_t m = n / 64, *order = batch > 0 ? malloc(sizeof(int64_t) * (size_t)m) : NULL;
    if (batch > 0 && order) {
        /* A random permutation of the runs of `run` rows, cut into batches, ascending inside
         * each batch: the order in which an epoch of mini-batches reads a rank's rows. */
        uint64_t st = 0x9e3779b97f4a7c15ull + (uint64_t)rank;
        int64_t nrun = (m + run - 1) / run, *perm = malloc(sizeof(int64_t) * (size_t)nrun);
        if (!perm) {
            fprintf(stderr, "mbatch_bw: rank %d: out of memory\n", rank);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
        for (int64_t i = 0; i < nrun; i++) perm[i] = i;
        for (int64_t i = nrun - 1; i > 0; i--) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            int64_t j = (int64_t)(st % (uint64_t)(i + 1)), t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        int64_t q = 0;
        for (int64_t i = 0; i < nrun; i++)
            for (int64_t r = perm[i] * run; r < (perm[i] + 1) * run && r < m; r++) order[q++] = r;
        free(perm);
        for (int64_t a = 0; a < m; a += batch)
            qsort(order + a, (size_t)(m - a < batch ? m - a : batch), sizeof *order, cmp_i64);
    }
    double *gbs = malloc(sizeof(double) * (size_t)reps);
    if (!x || !gbs || (batch > 0 && !order)) {
        fprintf(stderr, "mbatch_bw: rank %d: out of memory for %.0f MB\n", rank, mb);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    for (int64_t i = 0; i < n; i++) x[i] = (double)(i & 1023);              /* touch every page */
    volatile uint64_t sink = mb_read_bytes(x, (int64_t)sizeof(double) * n); /* warm the TLB */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        sink += batch > 0 ? (uint64_t)sum_rows(x, order, m)
                          : mb_read_bytes(x, (int64_t)sizeof(double) * n);
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        gbs[r] = (double)n * sizeof(double) * size / dt / 1e9;
    }
    (void)sink;
    qsort(gbs, (size_t)reps, sizeof *gbs, cmp_double);
    if (rank == 0)
        printf("read bandwidth, %d process(es), %.0f MB each, %s: median %.2f GB/s (min %.2f, "
               "max %.2f over %d reps)\n",
               size, mb,
               batch > 0 ? (run > 1 ? "runs of 512-byte rows in mini-batch order"
                                    : "512-byte rows in mini-batch order")
                         : "sequential",
               gbs[reps / 2], gbs[0], gbs[reps - 1], reps);
    free(x);
    free(order);
    free(gbs);
    MPI_Finalize();
    return 0;
}
