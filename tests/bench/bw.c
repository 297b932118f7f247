/* bw.c - the read-bandwidth floor: every MPI rank sums its own large array, timed together. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sum of n doubles with 16 independent accumulators, so that the adds never wait on each other
 * and the loop is limited by memory, not by the latency of one dependency chain. The compiler
 * vectorizes the fixed-width inner loop without reassociating anything. */
static double sum_array(const double *x, int64_t n) {
    double acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    for (; i < n; i++) acc[0] += x[i];
    double s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
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
    /* Per rank: the bytes of X a rank holds in the benchmark (default 512 MB / ranks), far more
     * than any cache. */
    double mb = argc > 1 ? atof(argv[1]) : 512.0 / size;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (mb <= 0 || reps < 1 || reps > 1000) {
        if (rank == 0) fprintf(stderr, "usage: mbatch_bw [MB_PER_RANK > 0] [REPS 1..1000]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int64_t n = (int64_t)(mb * 1048576.0 / sizeof(double));
    double *x = malloc(sizeof(double) * (size_t)n);
    double *gbs = malloc(sizeof(double) * (size_t)reps);
    if (!x || !gbs) {
        fprintf(stderr, "mbatch_bw: rank %d: out of memory for %.0f MB\n", rank, mb);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    for (int64_t i = 0; i < n; i++) x[i] = (double)(i & 1023); /* touch every page */
    volatile double sink = sum_array(x, n);                     /* warm the TLB and page tables */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        sink += sum_array(x, n);
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        gbs[r] = (double)n * sizeof(double) * size / dt / 1e9;
    }
    (void)sink;
    qsort(gbs, (size_t)reps, sizeof *gbs, cmp_double);
    if (rank == 0)
        printf("read bandwidth, %d process(es), %.0f MB each: median %.2f GB/s (min %.2f, max "
               "%.2f over %d reps)\n",
               size, mb, gbs[reps / 2], gbs[0], gbs[reps - 1], reps);
    free(x);
    free(gbs);
    MPI_Finalize();
    return 0;
}
