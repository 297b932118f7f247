/* test_trees.c - distributed trees equal one-process trees: the histogram allreduce of sharded
 * rows is bit for bit the one-process histogram, and whole trained models (random forest,
 * regression forest, boosting) are the same bits as a one-rank run of the same job. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/gen.h"
#include "mbatch/partition.h"
#include "mbatch/rng.h"
#include "mbatch/run.h"
#include "mbatch/tree.h"
#include "mbatch/trees_io.h"
#include "mpitest.h"

/* Sharded histograms summed by allreduce = the histogram of all rows, and the same split. */
static void test_histogram_allreduce(void) {
    const int64_t n = 3001, d = 5;
    const int nstat = 3, nb = 17;
    uint8_t *bins = malloc((size_t)(n * d));
    int64_t *rowstat = malloc(sizeof(int64_t) * (size_t)(n * nstat)),
            *rows = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++)
            bins[i * d + j] = (uint8_t)(mb_rng_u64(5, 1, (uint64_t)i, (uint64_t)j) % nb);
        int64_t w = mb_tree_poisson1(5, 0, i);
        int cls = (int)(mb_rng_u64(5, 2, (uint64_t)i, 0) % 3);
        /* The class leans on feature 2's bin, so there is a best split to find. */
        if (bins[i * d + 2] < 6) cls = 0;
        memset(rowstat + i * nstat, 0, sizeof(int64_t) * nstat);
        rowstat[i * nstat + cls] = w;
        rows[i] = i;
    }
    int32_t feats[] = {0, 1, 2, 3, 4}, foff[6];
    for (int f = 0; f <= 5; f++) foff[f] = f * nb;
    int64_t len = (int64_t)foff[5] * nstat;
    int64_t *mine = calloc((size_t)len, sizeof *mine), *ref = calloc((size_t)len, sizeof *ref);
    int64_t lo, hi;
    mb_shard_bounds(n, mt_comm.rank, mt_comm.size, &lo, &hi);
    mb_tree_hist(bins, d, rows + lo, hi - lo, rowstat, nstat, feats, 5, foff, mine);
    mb_allreduce_sum_i64(&mt_comm, mine, len);
    mb_tree_hist(bins, d, rows, n, rowstat, nstat, feats, 5, foff, ref);
    MT_CHECK(memcmp(mine, ref, sizeof(int64_t) * (size_t)len) == 0);

    mb_tree_params p = {MB_CRIT_GINI, nstat, 1, 1, 1, 0, 0};
    int64_t total[3] = {0, 0, 0}, scr[6], left[3];
    for (int64_t i = 0; i < n; i++)
        for (int s = 0; s < nstat; s++) total[s] += rowstat[i * nstat + s];
    mb_tree_split a, b;
    MT_CHECK(mb_tree_best_split(&p, mine, feats, 5, foff, total, scr, left, &a) == 1);
    MT_CHECK(mb_tree_best_split(&p, ref, feats, 5, foff, total, scr, left, &b) == 1);
    MT_CHECK_INT(a.feature, b.feature);
    MT_CHECK_INT(a.bin, b.bin);
    MT_CHECK_INT(a.feature, 2);
    MT_CHECK(a.improvement == b.improvement);
    free(bins);
    free(rowstat);
    free(rows);
    free(mine);
    free(ref);
}

static void train(const mb_comm *c, const char *json) {
    mb_job *job = NULL;
    mb_err err = mb_job_load_text("test_trees.json", json, NULL, 0, &job);
    if (err) fprintf(stderr, "rank %d: %s\n", c->rank, mb_error_message());
    MT_CHECK(err == MB_OK);
    mb_train_opts o;
    memset(&o, 0, sizeof o);
    mb_train_result r;
    err = mb_train(c, job, &o, &r);
    if (err) fprintf(stderr, "rank %d: %s\n", c->rank, mb_error_message());
    MT_CHECK(err == MB_OK);
    mb_job_free(job);
}

/* Train the same job on all ranks and on rank 0 alone; the trees must be the same bits. */
static void test_same_model(const char *data, const char *tag, const char *model) {
    char json[2048], dir_all[256], dir_one[256];
    snprintf(dir_all, sizeof dir_all, "trees_np%d_all_%s", mt_comm.size, tag);
    snprintf(dir_one, sizeof dir_one, "trees_np%d_one_%s", mt_comm.size, tag);
    const char *fmt = "{\"name\": \"t\", \"run_dir\": \"%s\", \"dataset\": {\"path\": \"%s\"}, "
                      "\"model\": %s, \"seed\": 9, \"checkpoint\": {\"every_epochs\": 0}}";
    snprintf(json, sizeof json, fmt, dir_all, data, model);
    train(&mt_comm, json);
    if (mt_comm.rank == 0) {
        mb_comm self;
        MT_CHECK(mb_comm_from(MPI_COMM_SELF, &self) == MB_OK);
        snprintf(json, sizeof json, fmt, dir_one, data, model);
        train(&self, json);
        mb_comm_free(&self);
        char pa[512], po[512];
        snprintf(pa, sizeof pa, "%s/model.h5", dir_all);
        snprintf(po, sizeof po, "%s/model.h5", dir_one);
        mb_ckpt ca, co;
        mb_forest fa, fo;
        MT_CHECK(mb_trees_read(pa, &ca, &fa) == MB_OK);
        MT_CHECK(mb_trees_read(po, &co, &fo) == MB_OK);
        MT_CHECK_INT(fa.ntrees, fo.ntrees);
        MT_CHECK(fa.ntrees > 0);
        MT_CHECK(memcmp(fa.edges, fo.edges,
                        sizeof(double) * (size_t)(fa.d * (MB_TREE_MAX_BINS - 1))) == 0);
        MT_CHECK(memcmp(fa.base, fo.base, sizeof fa.base) == 0);
        int64_t nodes = 0;
        for (int64_t t = 0; t < fa.ntrees; t++) {
            const mb_tree *x = &fa.trees[t], *y = &fo.trees[t];
            MT_CHECK_INT(x->n, y->n);
            MT_CHECK(memcmp(x->feature, y->feature, sizeof(int32_t) * (size_t)x->n) == 0);
            MT_CHECK(memcmp(x->threshold, y->threshold, sizeof(double) * (size_t)x->n) == 0);
            MT_CHECK(memcmp(x->value, y->value, sizeof(double) * (size_t)(x->n * x->kv)) == 0);
            MT_CHECK(memcmp(x->weight, y->weight, sizeof(double) * (size_t)x->n) == 0);
            nodes += x->n;
        }
        printf("%s: %lld trees, %lld nodes: identical at %d ranks and at 1\n", tag,
               (long long)fa.ntrees, (long long)nodes, mt_comm.size);
        mb_ckpt_clear(&ca);
        mb_ckpt_clear(&co);
        mb_forest_free(&fa);
        mb_forest_free(&fo);
    }
    mb_barrier(&mt_comm);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    test_histogram_allreduce();
    char cls[128], reg[128];
    snprintf(cls, sizeof cls, "trees_np%d_cls.h5", mt_comm.size);
    snprintf(reg, sizeof reg, "trees_np%d_reg.h5", mt_comm.size);
    if (mt_comm.rank == 0) {
        mb_gen_opts o;
        memset(&o, 0, sizeof o);
        o.kind = "softmax";
        o.rows = 2500;
        o.cols = 5;
        o.classes = 3;
        o.layout = "matrix";
        o.seed = 4;
        o.out = cls;
        MT_CHECK(mb_gen(&o) == MB_OK);
        o.kind = "linear";
        o.noise = 0.3;
        o.out = reg;
        MT_CHECK(mb_gen(&o) == MB_OK);
    }
    mb_barrier(&mt_comm);
    test_same_model(cls, "rf_cls",
                    "{\"type\": \"random_forest\", \"n_trees\": 4, \"max_depth\": 7}");
    test_same_model(cls, "gb_cls",
                    "{\"type\": \"gradient_boosting\", \"n_trees\": 3, \"max_depth\": 3}");
    test_same_model(reg, "rf_reg",
                    "{\"type\": \"random_forest\", \"n_trees\": 3, \"max_depth\": 6}");
    test_same_model(reg, "gb_reg",
                    "{\"type\": \"gradient_boosting\", \"n_trees\": 4, \"max_depth\": 3, "
                    "\"learning_rate\": 0.3}");
    return mt_finish();
}
