/* test_tree.c - known answers for the tree engine: bins, costs, split search, sampling, trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/metrics_math.h"
#include "mbatch/tree.h"

static const mb_tree_params GINI2 = {MB_CRIT_GINI, 2, 1, 1, 1, 0, 0};

static void test_edges_exact(void **state) {
    (void)state;
    double v[] = {3, 1, 2, 2, 1, -0.0, 0.0}, edges[8], values[8];
    int exact = 0;
    int nb = mb_tree_edges(v, 7, 256, edges, values, &exact);
    /* Distinct values 0 (both zeros), 1, 2, 3; edges at the midpoints. */
    assert_int_equal(nb, 4);
    assert_int_equal(exact, 1);
    assert_true(values[0] == 0 && values[1] == 1 && values[2] == 2 && values[3] == 3);
    assert_true(edges[0] == 0.5 && edges[1] == 1.5 && edges[2] == 2.5);
    assert_int_equal(mb_tree_bin_of(edges, 3, -5), 0);
    assert_int_equal(mb_tree_bin_of(edges, 3, 0.5), 0); /* x <= edge goes left */
    assert_int_equal(mb_tree_bin_of(edges, 3, 0.6), 1);
    assert_int_equal(mb_tree_bin_of(edges, 3, 2), 2);
    assert_int_equal(mb_tree_bin_of(edges, 3, 99), 3);
    assert_int_equal(mb_tree_bin_of(edges, 3, NAN), 3);
    /* No data at all: one bin. */
    assert_int_equal(mb_tree_edges(v, 0, 256, edges, values, &exact), 1);
}

static void test_edges_quantiles(void **state) {
    (void)state;
    int64_t n = 1000;
    double *v = malloc(sizeof(double) * (size_t)n), edges[255], values[256];
    for (int64_t i = 0; i < n; i++) v[i] = (double)((i * 7919) % n); /* 0..999 shuffled */
    int exact = 1;
    int nb = mb_tree_edges(v, n, 4, edges, values, &exact);
    print_message("quantile edges %g %g %g\n", edges[0], edges[1], edges[2]);
    assert_int_equal(exact, 0);
    assert_int_equal(nb, 4);
    assert_true(edges[0] == 249.5 && edges[1] == 499.5 && edges[2] == 749.5);
    /* 300 distinct values fit 256 bins only approximately; 200 exactly. */
    for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 300);
    nb = mb_tree_edges(v, n, 256, edges, values, &exact);
    print_message("300 distinct values in at most 256 bins: %d bins\n", nb);
    assert_true(nb > 200 && nb <= 256);
    assert_int_equal(exact, 0);
    for (int b = 1; b + 1 < nb; b++) assert_true(edges[b] > edges[b - 1]);
    for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 200);
    assert_int_equal(mb_tree_edges(v, n, 256, edges, values, &exact), 200);
    assert_int_equal(exact, 1);
    free(v);
}

static void test_midpoint(void **state) {
    (void)state;
    assert_true(mb_tree_midpoint(1, 3) == 2);
    double a = 1.0, b = nextafter(1.0, 2.0);
    /* The midpoint of neighbouring doubles rounds to b: scikit-learn then takes a. */
    assert_true(mb_tree_midpoint(a, b) == a);
}

static void test_costs(void **state) {
    (void)state;
    int64_t c31[] = {3, 1}, c22[] = {2, 2}, c40[] = {4, 0};
    assert_true(fabs(mb_tree_cost(&GINI2, c31) - 1.5) < 1e-15); /* 4 - (9 + 1) / 4 */
    assert_true(mb_tree_cost(&GINI2, c40) == 0);
    mb_tree_params ent = GINI2;
    ent.crit = MB_CRIT_ENTROPY;
    assert_true(fabs(mb_tree_cost(&ent, c22) - 4.0) < 1e-15); /* 4 samples x 1 bit */
    assert_true(mb_tree_pure(&GINI2, c40) && !mb_tree_pure(&GINI2, c31));
    double v[2];
    mb_tree_leaf_value(&GINI2, c31, v);
    assert_true(v[0] == 0.75 && v[1] == 0.25);
    /* Variance: y = {1, 3} at scale 4: sum y = 4, sum y^2 = 10 -> cost 10 - 16/2 = 2. */
    mb_tree_params var = {MB_CRIT_VARIANCE, 3, 4, 4, 1, 0, 0};
    int64_t sv[] = {2, 16, 40};
    assert_true(fabs(mb_tree_cost(&var, sv) - 2.0) < 1e-15);
    mb_tree_leaf_value(&var, sv, v);
    assert_true(v[0] == 2.0);
    /* Boosting: G = -1, H = 0.5, lambda = 0.5 -> value 1, cost -1. */
    mb_tree_params bst = {MB_CRIT_BOOST, 3, 1024, 1024, 1, 0.5, 1e-3};
    int64_t sb[] = {2, -1024, 512};
    mb_tree_leaf_value(&bst, sb, v);
    assert_true(v[0] == 1.0);
    assert_true(mb_tree_cost(&bst, sb) == -1.0);
}

static void test_best_split(void **state) {
    (void)state;
    /* One feature, three bins: {2,0} {0,2} {0,1}; the best cut is after bin 0. */
    int64_t hist[] = {2, 0, 0, 2, 0, 1}, total[] = {2, 3}, scr[4], left[2];
    int32_t feats[] = {0}, foff[] = {0, 3};
    mb_tree_split sp;
    assert_int_equal(mb_tree_best_split(&GINI2, hist, feats, 1, foff, total, scr, left, &sp), 1);
    assert_int_equal(sp.feature, 0);
    assert_int_equal(sp.bin, 0);
    assert_int_equal(sp.bin_right, 1);
    assert_true(left[0] == 2 && left[1] == 0);
    assert_true(fabs(sp.improvement - 2.4) < 1e-12); /* 5 - 13/5 - 0 - 0 */
    /* min_samples_leaf 3 leaves no valid cut. */
    mb_tree_params p = GINI2;
    p.min_samples_leaf = 3;
    assert_int_equal(mb_tree_best_split(&p, hist, feats, 1, foff, total, scr, left, &sp), 0);
    /* Empty bins between are skipped: {2,0} {0,0} {0,0} {0,3} -> cut after bin 0, right at 3. */
    int64_t h2[] = {2, 0, 0, 0, 0, 0, 0, 3};
    int32_t foff4[] = {0, 4};
    assert_int_equal(mb_tree_best_split(&GINI2, h2, feats, 1, foff4, total, scr, left, &sp), 1);
    assert_int_equal(sp.bin, 0);
    assert_int_equal(sp.bin_right, 3);
    /* Two features with the same histogram: the first in feats order wins. */
    int64_t h3[12];
    memcpy(h3, hist, sizeof hist);
    memcpy(h3 + 6, hist, sizeof hist);
    int32_t f2[] = {1, 4};
    int32_t foff2[] = {0, 3, 6};
    assert_int_equal(mb_tree_best_split(&GINI2, h3, f2, 2, foff2, total, scr, left, &sp), 1);
    assert_int_equal(sp.feature, 1);
}

static void test_hist(void **state) {
    (void)state;
    /* 3 rows x 2 features; stats are class weights. */
    uint8_t bins[] = {0, 1, 1, 1, 0, 0};
    int64_t rowstat[] = {1, 0, 0, 2, 3, 0}, rows[] = {0, 1, 2}, hist[2 * 2 * 2];
    int32_t feats[] = {0, 1}, foff[] = {0, 2, 4};
    memset(hist, 0, sizeof hist);
    mb_tree_hist(bins, 2, rows, 3, rowstat, 2, feats, 2, foff, hist);
    int64_t want[] = {4, 0, 0, 2, 3, 0, 1, 2};
    for (int i = 0; i < 8; i++) assert_int_equal(hist[i], want[i]);
    /* The general path (nstat 3) agrees. */
    int64_t rs3[] = {1, 0, 5, 0, 2, 6, 3, 0, 7}, h3[2 * 2 * 3];
    memset(h3, 0, sizeof h3);
    mb_tree_hist(bins, 2, rows, 3, rs3, 3, feats, 2, foff, h3);
    assert_int_equal(h3[0], 4);  /* feature 0, bin 0: rows 0 and 2 */
    assert_int_equal(h3[2], 12); /* 5 + 7 */
    assert_int_equal(h3[5], 6);  /* feature 0, bin 1: row 1 */
}

static void test_sampling(void **state) {
    (void)state;
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double k = (double)mb_tree_poisson1(9, 3, i);
        s += k;
        s2 += k * k;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    print_message("Poisson(1): mean %.4f var %.4f\n", mean, var);
    assert_true(fabs(mean - 1) < 0.01 && fabs(var - 1) < 0.02);
    assert_int_equal(mb_tree_poisson1(9, 3, 17), mb_tree_poisson1(9, 3, 17));
    int32_t a[5], b[5], cnt[20] = {0};
    mb_tree_pick_features(1, 2, 3, 20, 5, a);
    mb_tree_pick_features(1, 2, 3, 20, 5, b);
    for (int j = 0; j < 5; j++) {
        assert_int_equal(a[j], b[j]);
        assert_true(a[j] >= 0 && a[j] < 20);
        if (j) assert_true(a[j] > a[j - 1]); /* sorted and distinct */
    }
    /* Every feature is drawn about equally often over many nodes. */
    for (int node = 0; node < 4000; node++) {
        mb_tree_pick_features(1, 0, node, 20, 5, a);
        for (int j = 0; j < 5; j++) cnt[a[j]]++;
    }
    for (int j = 0; j < 20; j++) assert_true(cnt[j] > 850 && cnt[j] < 1150);
}

/* x0 <= 0.5 ? leaf 1 : (x1 <= 2 ? leaf 3 : leaf 4) */
static void build_tree(mb_tree *t) {
    memset(t, 0, sizeof *t);
    t->kv = 2;
    assert_int_equal(mb_tree_reserve(t, 5), 0);
    t->n = 5;
    int32_t feat[] = {0, -1, 1, -1, -1};
    double thr[] = {0.5, 0, 2, 0, 0}, imp[] = {0.5, 0, 0.5, 0, 0}, w[] = {10, 4, 6, 3, 3};
    int64_t l[] = {1, -1, 3, -1, -1}, r[] = {2, -1, 4, -1, -1};
    double val[] = {0.5, 0.5, 1, 0, 0.5, 0.5, 0, 1, 1, 0};
    memcpy(t->feature, feat, sizeof feat);
    memcpy(t->threshold, thr, sizeof thr);
    memcpy(t->left, l, sizeof l);
    memcpy(t->right, r, sizeof r);
    memcpy(t->impurity, imp, sizeof imp);
    memcpy(t->weight, w, sizeof w);
    memcpy(t->value, val, sizeof val);
}

static void test_tree_apply(void **state) {
    (void)state;
    mb_tree t;
    build_tree(&t);
    double x1[] = {0.5, 9}, x3[] = {1, 2}, x4[] = {1, 2.5};
    assert_int_equal(mb_tree_apply(&t, x1), 1);
    assert_int_equal(mb_tree_apply(&t, x3), 3);
    assert_int_equal(mb_tree_apply(&t, x4), 4);
    assert_int_equal(mb_tree_depth(&t), 2);
    assert_int_equal(mb_tree_check(&t, 2), 0);
    assert_int_not_equal(mb_tree_check(&t, 1), 0); /* feature 1 out of range */
    double imp[2] = {0, 0};
    mb_tree_importances(&t, 2, imp);
    assert_true(imp[0] == 5 - 3 && imp[1] == 3); /* 10*0.5 - 6*0.5; 6*0.5 - 0 */
    mb_tree_free(&t);
    mb_tree_free(NULL);
}

static void test_forest_predict(void **state) {
    (void)state;
    mb_forest f;
    memset(&f, 0, sizeof f);
    assert_int_equal(mb_forest_init(&f, 2, 1), 0);
    f.kind = MB_FOREST_RANDOM;
    f.classify = 1;
    f.k = f.kv = 2;
    f.per_round = 1;
    build_tree(mb_forest_add(&f));
    build_tree(mb_forest_add(&f));
    f.trees[1].value[3 * 2 + 1] = 0; /* tree 2's leaf 3: P(1) = 0 */
    double x[] = {1, 2, 0, 0}, out[2], work[2];
    mb_forest_predict(&f, x, 2, out, work);
    assert_true(out[0] == 0.5 && out[1] == 0); /* (1 + 0) / 2; (0 + 0) / 2 */
    /* Boosting: base 0.25 + leaf values, through the sigmoid. */
    f.kind = MB_FOREST_BOOSTED;
    f.kv = 1;
    f.base[0] = 0.25;
    for (int i = 0; i < 2; i++) {
        f.trees[i].kv = 1;
        for (int v = 0; v < 5; v++) f.trees[i].value[v] = 0.125 * v;
    }
    mb_forest_predict(&f, x, 2, out, work);
    assert_true(fabs(out[0] - 1 / (1 + exp(-(0.25 + 2 * 0.375)))) < 1e-15);
    assert_true(fabs(out[1] - 1 / (1 + exp(-(0.25 + 2 * 0.125)))) < 1e-15);
    mb_forest_free(&f);
}

/* mb_sort_doubles (the histograms' sort, shared) and mb_median: odd and even counts, runs past
 * the insertion-sort cut-off, duplicates, against a count of smaller and larger values. */
static void test_sort_median(void **state) {
    (void)state;
    assert_true(isnan(mb_median(NULL, 0)));
    double two[2] = {3.0, -1.0}, one[1] = {7.5};
    assert_true(mb_median(two, 2) == 1.0);
    assert_true(mb_median(one, 1) == 7.5);
    for (int64_t n = 1; n <= 300; n += 7) {
        double *v = malloc(sizeof(double) * (size_t)n);
        assert_non_null(v);
        uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)n;
        for (int64_t i = 0; i < n; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            v[i] = (double)(s % 50) - 20.0; /* duplicates on purpose */
        }
        double m = mb_median(v, n);
        for (int64_t i = 1; i < n; i++) assert_true(v[i - 1] <= v[i]);
        int64_t below = 0, above = 0;
        for (int64_t i = 0; i < n; i++) below += v[i]<m, above += v[i]> m;
        assert_true(below <= n / 2 && above <= n / 2);
        if (n % 2)
            assert_true(m == v[n / 2]);
        else
            assert_true(m == 0.5 * (v[n / 2 - 1] + v[n / 2]));
        free(v);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_exact),    cmocka_unit_test(test_edges_quantiles),
        cmocka_unit_test(test_midpoint),       cmocka_unit_test(test_costs),
        cmocka_unit_test(test_best_split),     cmocka_unit_test(test_hist),
        cmocka_unit_test(test_sampling),       cmocka_unit_test(test_tree_apply),
        cmocka_unit_test(test_forest_predict), cmocka_unit_test(test_sort_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
