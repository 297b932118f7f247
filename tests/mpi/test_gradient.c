/* test_gradient.c - the distributed gradient (shard gradients + allreduce) equals the gradient of
 * all rows computed in one process, for every model and for mini-batches of the epoch plan. */
#include <stdlib.h>
#include <string.h>

#include "mbatch/model.h"
#include "mbatch/partition.h"
#include "mbatch/rng.h"
#include "mpitest.h"

enum { N = 1003, D = 9 };

static double X[N * D], Y[N];

static void make_data(mb_model_type t, int64_t k) {
    for (int64_t i = 0; i < N; i++) {
        for (int64_t j = 0; j < D; j++) X[i * D + j] = mb_rng_normal(7, MB_RNG_GEN, i, j);
        double u = mb_rng_uniform(7, MB_RNG_GEN, i, D);
        Y[i] = t == MB_MODEL_LINEAR ? 3 * u - 1 : (double)(int64_t)(u * (double)k);
    }
}

static void check_model(mb_model_type t, int64_t k) {
    int64_t kk = t == MB_MODEL_LOGISTIC ? 2 : k, np = mb_model_nparam(D, k);
    make_data(t, kk);
    double *theta = malloc(sizeof(double) * (size_t)np), *g = calloc((size_t)np + 1, 8),
           *ref = calloc((size_t)np + 1, 8), *work = malloc(8 * (size_t)mb_model_work_size(k));
    for (int64_t j = 0; j < np; j++) theta[j] = 0.3 * mb_rng_normal(9, MB_RNG_INIT, j, 0);
    int64_t lo, hi;
    mb_shard_bounds(N, mt_comm.rank, mt_comm.size, &lo, &hi);
    g[np] = mb_model_grad(t, X + lo * D, Y + lo, hi - lo, D, k, theta, g, work);
    mb_allreduce_sum(&mt_comm, g, np + 1);
    ref[np] = mb_model_grad(t, X, Y, N, D, k, theta, ref, work);
    double rel = mt_max_rel_diff(g, ref, np + 1);
    if (mt_comm.rank == 0)
        printf("model %d k %lld: distributed vs one-process gradient, max rel diff %.3g\n", (int)t,
               (long long)k, rel);
    MT_CHECK(rel < 1e-12);

    /* Mini-batches of the epoch plan: each global batch's gradient, summed over ranks, equals the
     * one-process gradient of exactly that batch's samples. */
    int64_t B = 100, nb = mb_batch_count(N, B), m = hi - lo;
    int64_t *order = malloc(8 * (size_t)(m + 1)), *boff = malloc(8 * (size_t)(nb + 1)),
            *scratch = malloc(16 * (size_t)(m + 1)), *all = malloc(8 * N);
    double *Xb = malloc(8 * (size_t)N * D), *Yb = malloc(8 * N);
    mb_epoch_order(lo, hi, N, B, 1, 5, 2, order, boff, scratch);
    mb_perm p;
    mb_perm_init(&p, N, 5, MB_RNG_SHUFFLE, 2);
    for (int64_t b = 0; b < nb; b++) {
        int64_t r = 0;
        for (int64_t i = boff[b]; i < boff[b + 1]; i++, r++) {
            memcpy(Xb + r * D, X + (lo + order[i]) * D, 8 * D);
            Yb[r] = Y[lo + order[i]];
        }
        memset(g, 0, 8 * (size_t)(np + 1));
        g[np] = mb_model_grad(t, Xb, Yb, r, D, k, theta, g, work);
        mb_allreduce_sum(&mt_comm, g, np + 1);
        int64_t n = 0;
        for (int64_t pos = b * B; pos < (b + 1) * B && pos < N; pos++) {
            int64_t s = (int64_t)mb_perm_fwd(&p, (uint64_t)pos);
            memcpy(Xb + n * D, X + s * D, 8 * D);
            Yb[n++] = Y[s];
        }
        memset(ref, 0, 8 * (size_t)(np + 1));
        ref[np] = mb_model_grad(t, Xb, Yb, n, D, k, theta, ref, work);
        MT_CHECK(mt_max_rel_diff(g, ref, np + 1) < 1e-12);
    }
    free(all);
    free(theta);
    free(g);
    free(ref);
    free(work);
    free(order);
    free(boff);
    free(scratch);
    free(Xb);
    free(Yb);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    check_model(MB_MODEL_LINEAR, 1);
    check_model(MB_MODEL_LOGISTIC, 1);
    check_model(MB_MODEL_SOFTMAX, 4);
    return mt_finish();
}
