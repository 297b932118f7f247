/* test_mlp_sync.c - the MLP step with synchronized batch norm on shards of a batch (statistics and
 * backward sums through an allreduce callback) equals one process stepping on the whole batch:
 * gradient, loss and running statistics, for uneven shards and a rank with no rows. */
#include <stdlib.h>
#include <string.h>

#include "mbatch/mlp.h"
#include "mbatch/partition.h"
#include "mbatch/rng.h"
#include "mpitest.h"

enum { N = 517, D = 5 };

static double X[N * D], Y[N];

static void reduce(void *ctx, double *buf, int64_t n) {
    mb_allreduce_sum((const mb_comm *)ctx, buf, n);
}

static void check(mb_activation act, mb_model_type head, int64_t k, int empty_rank0) {
    int64_t hidden[] = {7, 4};
    mb_mlp m;
    MT_CHECK(mb_mlp_setup(&m, D, k, 2, hidden, act, 1, head) == 0);
    static const double cw[3] = {1.5, 0.5, 2.0};
    m.class_weight = head == MB_MODEL_LINEAR ? NULL : cw;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t j = 0; j < D; j++) X[i * D + j] = 2.0 + mb_rng_normal(3, MB_RNG_GEN, i, j);
        double u = mb_rng_uniform(3, MB_RNG_GEN, i, D);
        Y[i] = head == MB_MODEL_LINEAR ? 3 * u : (double)(int64_t)(u * (head == 2 ? k : 2));
    }
    double *theta = malloc(8 * (size_t)m.nparam), *ref_theta = malloc(8 * (size_t)m.nparam);
    double *g = calloc((size_t)m.nparam + 1, 8), *ref = calloc((size_t)m.nparam + 1, 8);
    mb_mlp_init(&m, 11, theta);
    for (int64_t j = 0; j < m.ntrain; j++) theta[j] += 0.2 * mb_rng_normal(12, MB_RNG_GEN, j, 0);
    memcpy(ref_theta, theta, 8 * (size_t)m.nparam);
    /* Shards of the batch; optionally rank 0 holds none (it must still join every reduction). */
    int64_t lo, hi;
    int parts = empty_rank0 && mt_comm.size > 1 ? mt_comm.size - 1 : mt_comm.size;
    int me = empty_rank0 && mt_comm.size > 1 ? mt_comm.rank - 1 : mt_comm.rank;
    if (me < 0) {
        lo = hi = 0;
    } else {
        mb_shard_bounds(N, me, parts, &lo, &hi);
    }
    mb_mlp_pass *p = mb_mlp_pass_new(&m, N), *q = mb_mlp_pass_new(&m, N);
    MT_CHECK(p && q);
    g[m.nparam] =
        mb_mlp_grad(&m, p, X + lo * D, Y + lo, hi - lo, theta, g, 1, reduce, (void *)&mt_comm);
    mb_allreduce_sum(&mt_comm, g, m.nparam + 1);
    ref[m.nparam] = mb_mlp_grad(&m, q, X, Y, N, ref_theta, ref, 1, NULL, NULL);
    double rel = mt_max_rel_diff(g, ref, m.nparam + 1);
    double st = mt_max_rel_diff(theta + m.ntrain, ref_theta + m.ntrain, m.nstat);
    if (mt_comm.rank == 0)
        printf("act %d head %d%s: %d ranks vs one process: gradient+loss max rel diff %.3g, "
               "running statistics %.3g\n",
               (int)act, (int)head, empty_rank0 ? " (rank 0 empty)" : "", mt_comm.size, rel, st);
    MT_CHECK(rel < 1e-10);
    MT_CHECK(st < 1e-12);
    mb_mlp_pass_free(p);
    mb_mlp_pass_free(q);
    free(theta);
    free(ref_theta);
    free(g);
    free(ref);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    check(MB_ACT_RELU, MB_MODEL_SOFTMAX, 3, 0);
    check(MB_ACT_TANH, MB_MODEL_LOGISTIC, 1, 0);
    check(MB_ACT_SIGMOID, MB_MODEL_LINEAR, 1, 1);
    check(MB_ACT_RELU, MB_MODEL_SOFTMAX, 3, 1);
    return mt_finish();
}
