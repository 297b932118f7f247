/* kernel.c - times the gradient kernels on in-memory data: BLAS chunks vs the fused kernel,
 * float64 vs float32, in place vs gathered mini-batches. No MPI, no I/O. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mbatch/kernel.h"
#include "mbatch/partition.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(getenv("BENCH_WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Large arrays on 2 MB pages where the kernel allows it, as mbatch allocates X. */
static void *big_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 2u << 20, bytes) != 0) return NULL;
    if (!getenv("BENCH_NOHUGE")) madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 1000000, d = argc > 2 ? atoll(argv[2]) : 64;
    int reps = argc > 3 ? atoi(argv[3]) : 7;
    /* BENCH_BLOCK=k: mini-batches of runs of k consecutive rows (batch.shuffle_block). */
    int64_t block = getenv("BENCH_BLOCK") ? atoll(getenv("BENCH_BLOCK")) : 1;
    if (n < 1 || d < 1 || reps < 1 || block < 1) {
        fprintf(stderr, "usage: mbatch_kernel_bench [ROWS] [COLS] [REPS] (env: BENCH_BLOCK=k, "
                        "BENCH_WALL, BENCH_NOHUGE, BENCH_LINEAR)\n");
        return 2;
    }
    double *X = big_alloc(sizeof(double) * (size_t)(n * d)),
           *y = malloc(sizeof(double) * (size_t)n);
    float *X32 = big_alloc(sizeof(float) * (size_t)(n * d));
    mb_model_type type = getenv("BENCH_LINEAR") ? MB_MODEL_LINEAR : MB_MODEL_LOGISTIC;
    double *theta = calloc((size_t)d + 1, sizeof(double)), *g = calloc((size_t)d + 1, 8);
    double *work = malloc(sizeof(double) * (size_t)mb_kernel_work_size(d, 1));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n), *scratch = malloc(16 * (size_t)n);
    int64_t *boff = malloc(sizeof(int64_t) * (size_t)(n / 256 + 2));
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!X || !y || !X32 || !theta || !g || !work || !order || !scratch || !boff || !t) return 3;
    uint64_t s = 88172645463325252ull;
    for (int64_t i = 0; i < n * d; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        X[i] = (double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    }
    for (int64_t i = 0; i < n; i++) y[i] = (double)(i & 1);
    for (int64_t j = 0; j < d; j++) theta[j] = 0.01 * (double)(j % 7);
    mb_dtype_store(MB_DTYPE_F32, X, n * d, X32);
    const char *names[] = {
        "blas chunks (mb_model_grad)", "fused float64",       "fused float32",
        "fused float64 B=4096",        "fused float64 B=256", "fused float32 B=4096",
        "fused float32 B=256"};
    for (int v = 0; v < 7; v++) {
        int64_t B = v == 3 || v == 5 ? 4096 : v == 4 || v == 6 ? 256 : n;
        int f32 = v == 2 || v >= 5;
        int64_t nb = mb_batch_count(n, B);
        mb_epoch_order(0, n, n, B, block, 1, 0, order, boff, scratch);
        for (int r = -1; r < reps; r++) {
            double t0 = now();
            for (int64_t b = 0; b < nb; b++) {
                memset(g, 0, sizeof(double) * (size_t)(d + 1));
                if (v == 0)
                    mb_model_grad(type, X, y, n, d, 1, theta, g, work);
                else
                    mb_kernel_grad(type, f32 ? (void *)X32 : (void *)X,
                                   f32 ? MB_DTYPE_F32 : MB_DTYPE_F64, y,
                                   nb > 1 ? order + boff[b] : NULL, boff[b + 1] - boff[b], d, 1,
                                   theta, g, work);
            }
            if (r >= 0) t[r] = now() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double bytes = (double)(n * d) * (f32 ? 4 : 8);
        printf("%-30s %8.2f ms/epoch (min %.2f max %.2f)  %6.2f GB/s of X  %6.1f M samples/s\n",
               names[v], 1e3 * t[reps / 2], 1e3 * t[0], 1e3 * t[reps - 1],
               bytes / t[reps / 2] / 1e9, (double)n / t[reps / 2] / 1e6);
    }
    free(X), free(y), free(X32), free(theta), free(g), free(work), free(order), free(scratch);
    free(boff), free(t);
    return 0;
}
