/* test_mlp.c - unit tests of the MLP, the SVM/Huber losses, the new optimizers and schedules and
 * the classification metrics: finite differences and known answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/metrics_math.h"
#include "mbatch/mlp.h"
#include "mbatch/model.h"
#include "mbatch/optim.h"
#include "mbatch/rng.h"

#define assert_close(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            print_error("%s = %.17g, %s = %.17g, |diff| %.3g > %.3g\n", #a, a_, #b, b_,            \
                        fabs(a_ - b_), (double)(tol));                                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static double label_for(mb_model_type head, int64_t k, double u) {
    if (head == MB_MODEL_LINEAR || head == MB_MODEL_HUBER) return 4.0 * u - 2.0;
    if (head == MB_MODEL_SOFTMAX) return floor(u * (double)k);
    return u < 0.5 ? 0.0 : 1.0;
}

/* Class weights of the next checks (NULL: none). */
static const double *class_weights;

/* Central differences of the summed loss against mb_mlp_grad, every trainable parameter. */
static void mlp_check(int nh, const int64_t *hidden, mb_activation act, int bn, mb_model_type head,
                      int64_t k, uint64_t seed) {
    int64_t rows = 13, d = 4;
    mb_mlp m;
    assert_int_equal(mb_mlp_setup(&m, d, k, nh, hidden, act, bn, head), 0);
    m.class_weight = head == MB_MODEL_LINEAR ? NULL : class_weights;
    double *X = malloc(sizeof(double) * (size_t)(rows * d)), *y = malloc(sizeof(double) * rows);
    double *theta = malloc(sizeof(double) * (size_t)m.nparam);
    double *g = calloc((size_t)m.nparam, sizeof(double));
    double *g2 = calloc((size_t)m.nparam, sizeof(double));
    mb_mlp_pass *p = mb_mlp_pass_new(&m, rows);
    assert_non_null(p);
    for (int64_t i = 0; i < rows * d; i++)
        X[i] = 1.0 + mb_rng_normal(seed, MB_RNG_GEN, 1, (uint64_t)i);
    for (int64_t i = 0; i < rows; i++)
        y[i] = label_for(head, k, mb_rng_uniform(seed, MB_RNG_GEN, 3, (uint64_t)i));
    mb_mlp_init(&m, seed, theta);
    /* Move gamma and beta off their initial values so that their gradients matter. */
    for (int64_t j = 0; j < m.ntrain; j++)
        theta[j] += 0.3 * mb_rng_normal(seed, MB_RNG_GEN, 2, (uint64_t)j);
    mb_mlp_grad(&m, p, X, y, rows, theta, g, 0, NULL, NULL);
    double maxerr = 0;
    for (int64_t j = 0; j < m.ntrain; j++) {
        double h = 1e-6, save = theta[j];
        theta[j] = save + h;
        memset(g2, 0, sizeof(double) * (size_t)m.nparam);
        double lp = mb_mlp_grad(&m, p, X, y, rows, theta, g2, 0, NULL, NULL);
        theta[j] = save - h;
        memset(g2, 0, sizeof(double) * (size_t)m.nparam);
        double lm = mb_mlp_grad(&m, p, X, y, rows, theta, g2, 0, NULL, NULL);
        theta[j] = save;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - g[j]) / fmax(1.0, fabs(fd));
        if (err > maxerr) maxerr = err;
        if (err > 1e-6)
            print_error("param %lld: analytic %.12g, finite difference %.12g\n", (long long)j, g[j],
                        fd);
        assert_true(err <= 1e-6);
    }
    for (int64_t j = m.ntrain; j < m.nparam; j++) assert_true(g[j] == 0.0);
    print_message("mlp nh=%d act=%d bn=%d head=%d: %lld params, max rel err %.2e\n", nh, (int)act,
                  bn, (int)head, (long long)m.ntrain, maxerr);
    mb_mlp_pass_free(p);
    free(X);
    free(y);
    free(theta);
    free(g);
    free(g2);
}

static void test_mlp_gradients(void **state) {
    (void)state;
    int64_t h2[] = {5, 3}, h1[] = {6};
    mb_activation acts[] = {MB_ACT_TANH, MB_ACT_SIGMOID, MB_ACT_RELU};
    for (int a = 0; a < 3; a++)
        for (int bn = 0; bn < 2; bn++) {
            mlp_check(2, h2, acts[a], bn, MB_MODEL_SOFTMAX, 3, 11 + (uint64_t)a);
            mlp_check(1, h1, acts[a], bn, MB_MODEL_LOGISTIC, 1, 21 + (uint64_t)a);
            mlp_check(2, h2, acts[a], bn, MB_MODEL_LINEAR, 1, 31 + (uint64_t)a);
        }
    mlp_check(0, NULL, MB_ACT_TANH, 0, MB_MODEL_SOFTMAX, 3, 41);
    /* Class weights scale each row's loss and gradient, batch norm's sums included. */
    static const double cw[3] = {0.3, 2.5, 1.7};
    class_weights = cw;
    mlp_check(2, h2, MB_ACT_TANH, 1, MB_MODEL_SOFTMAX, 3, 51);
    mlp_check(1, h1, MB_ACT_SIGMOID, 1, MB_MODEL_LOGISTIC, 1, 52);
    class_weights = NULL;
}

/* Batch norm normalizes over the batch: with the running statistics set to the batch's own
 * (biased) mean and variance, inference gives the training pass's loss. */
static void test_mlp_bn_statistics(void **state) {
    (void)state;
    int64_t rows = 50, d = 3, hidden[] = {4};
    mb_mlp m;
    assert_int_equal(mb_mlp_setup(&m, d, 1, 1, hidden, MB_ACT_TANH, 1, MB_MODEL_LINEAR), 0);
    m.bn_momentum = 1.0;
    double X[150], y[50], theta[64], g[64], tl, tm;
    assert_true(m.nparam <= 64);
    for (int i = 0; i < 150; i++) X[i] = 3.0 + 2.0 * mb_rng_normal(5, MB_RNG_GEN, 1, (uint64_t)i);
    for (int i = 0; i < 50; i++) y[i] = mb_rng_normal(5, MB_RNG_GEN, 2, (uint64_t)i);
    mb_mlp_init(&m, 5, theta);
    mb_mlp_pass *p = mb_mlp_pass_new(&m, rows);
    memset(g, 0, sizeof g);
    double loss = mb_mlp_grad(&m, p, X, y, rows, theta, g, 1, NULL, NULL);
    /* The stored variance is unbiased; undo N / (N - 1) so inference sees the batch variance. */
    for (int64_t j = 0; j < 4; j++) theta[m.rvar[0] + j] *= (double)(rows - 1) / (double)rows;
    mb_mlp_eval(&m, p, X, y, rows, theta, &tl, &tm);
    assert_close(tl, loss, 1e-10 * fabs(loss));
    /* The mean of the running mean is the batch mean of X W. */
    double z0 = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t c = 0; c < d; c++) z0 += X[i * d + c] * theta[m.W[0] + c * 4];
    assert_close(theta[m.rmean[0]], z0 / (double)rows, 1e-12);
    mb_mlp_pass_free(p);
}

/* The penalty and the proximal step touch the weights W only. */
static void test_mlp_regularization(void **state) {
    (void)state;
    int64_t hidden[] = {2};
    mb_mlp m;
    assert_int_equal(mb_mlp_setup(&m, 2, 1, 1, hidden, MB_ACT_TANH, 1, MB_MODEL_LOGISTIC), 0);
    /* Layout: W0 [2][2], gamma [2], beta [2], W1 [2][1], b1 [1], running mean [2], var [2]. */
    assert_int_equal(m.ntrain, 4 + 4 + 2 + 1);
    assert_int_equal(m.nparam, 15);
    double th[15], g[15] = {0};
    for (int j = 0; j < 15; j++) th[j] = 0.1 * (j + 1);
    double sq = 0.01 * (1 + 4 + 9 + 16) + 0.01 * (81 + 100);
    assert_close(mb_mlp_penalty(&m, 2.0, th, g), sq, 1e-15);
    assert_close(g[3], 0.8, 1e-15);
    assert_close(g[4], 0.0, 0); /* gamma */
    assert_close(g[9], 2.0, 1e-15);
    assert_close(g[10], 0.0, 0); /* output bias */
    mb_mlp_prox_l1(&m, 1.0, 0.25, th);
    assert_close(th[0], 0.0, 0);
    assert_close(th[3], 0.15, 1e-15);
    assert_close(th[4], 0.5, 0);
    assert_close(th[9], 0.75, 1e-15);
    assert_close(th[14], 1.5, 0);
}

static void loss_check(mb_model_type type) {
    int64_t rows = 40, d = 3, k = 1, np = mb_model_nparam(d, k);
    double X[120], y[40], theta[4], g[4] = {0}, work[512], gp[4];
    for (int i = 0; i < 120; i++) X[i] = mb_rng_normal(7, MB_RNG_GEN, 1, (uint64_t)i);
    for (int i = 0; i < 40; i++) y[i] = label_for(type, k, mb_rng_uniform(7, MB_RNG_GEN, 2, i));
    for (int j = 0; j < 4; j++) theta[j] = 0.7 * mb_rng_normal(7, MB_RNG_GEN, 3, (uint64_t)j);
    mb_model_grad(type, X, y, rows, d, k, theta, g, work);
    for (int64_t j = 0; j < np; j++) {
        double h = 1e-7, save = theta[j], lp, lm, mt;
        theta[j] = save + h;
        mb_model_eval(type, X, y, rows, d, k, theta, work, &lp, &mt);
        theta[j] = save - h;
        mb_model_eval(type, X, y, rows, d, k, theta, work, &lm, &mt);
        theta[j] = save;
        memset(gp, 0, sizeof gp);
        double fd = (lp - lm) / (2 * h);
        assert_close(g[j], fd, 1e-6 * fmax(1.0, fabs(fd)));
    }
    double loss = mb_model_grad(type, X, y, rows, d, k, theta, gp, work), le, me;
    mb_model_eval(type, X, y, rows, d, k, theta, work, &le, &me);
    assert_close(loss, le, 1e-12 * fmax(1.0, fabs(le)));
}

static void test_losses(void **state) {
    (void)state;
    loss_check(MB_MODEL_HINGE);
    loss_check(MB_MODEL_SQUARED_HINGE);
    loss_check(MB_MODEL_HUBER);
    double work[512], l, mt, th[2] = {2.0, 0.0}, X[2] = {0.25, 3.0}, y[2] = {1.0, 0.0};
    /* Hinge known answers: s z = 0.5 -> 0.5; s z = -6 -> 7. */
    mb_model_eval(MB_MODEL_HINGE, X, y, 2, 1, 1, th, work, &l, &mt);
    assert_close(l, 7.5, 1e-15);
    assert_close(mt, 1.0, 0);
    mb_model_eval(MB_MODEL_SQUARED_HINGE, X, y, 2, 1, 1, th, work, &l, &mt);
    assert_close(l, 49.25, 1e-15);
    /* Huber: r = 0.5 -> 0.125; r = 6 -> 5.5. */
    mb_model_eval(MB_MODEL_HUBER, X, y, 2, 1, 1, th, work, &l, &mt);
    assert_close(l, 0.125 + 5.5, 1e-15);
    double w[3] = {0.5, -0.05, 0.2};
    mb_model_prox_l1(2, 1, 1.0, 0.1, w);
    assert_close(w[0], 0.4, 1e-15);
    assert_close(w[1], 0.0, 0);
    assert_close(w[2], 0.2, 0); /* the intercept is not shrunk */
}

static void test_optimizers(void **state) {
    (void)state;
    mb_optim o;
    double th[2] = {1.0, -2.0}, g[2] = {0.5, -1.0};
    assert_int_equal(mb_optim_init(&o, MB_OPT_ADAGRAD, 2), 0);
    o.eps = 0;
    mb_optim_step(&o, th, g, 0.1);
    assert_close(th[0], 0.9, 1e-15); /* g / |g| */
    assert_close(th[1], -1.9, 1e-15);
    mb_optim_step(&o, th, g, 0.1);
    assert_close(th[0], 0.9 - 0.1 / sqrt(2.0), 1e-15);
    mb_optim_free(&o);

    th[0] = 1.0;
    assert_int_equal(mb_optim_init(&o, MB_OPT_RMSPROP, 1), 0);
    o.beta2 = 0.9;
    o.eps = 0;
    mb_optim_step(&o, th, g, 0.01);
    assert_close(th[0], 1.0 - 0.01 * 0.5 / sqrt(0.1 * 0.25), 1e-15);
    mb_optim_free(&o);

    /* AdamW with a zero gradient only decays; Adam's first step is lr * sign(g). */
    th[0] = 2.0;
    double zero = 0.0;
    assert_int_equal(mb_optim_init(&o, MB_OPT_ADAMW, 1), 0);
    o.weight_decay = 0.1;
    mb_optim_step(&o, th, &zero, 0.5);
    assert_close(th[0], 2.0 * (1 - 0.05), 1e-15);
    mb_optim_step(&o, th, g, 0.5);
    /* Step 2: the moments saw one zero and one 0.5, bias-corrected with t = 2. */
    double mh = 0.1 * 0.5 / (1 - 0.81), vh = 0.001 * 0.25 / (1 - 0.998001);
    assert_close(th[0], 1.9 * 0.95 - 0.5 * mh / (sqrt(vh) + 1e-8), 1e-12);
    mb_optim_free(&o);

    double v[2] = {3.0, 4.0};
    assert_close(mb_clip_norm(v, 2, 1.0), 5.0, 1e-15);
    assert_close(v[0], 0.6, 1e-15);
    assert_close(v[1], 0.8, 1e-15);
    double before = v[0];
    assert_close(mb_clip_norm(v, 2, 10.0), 1.0, 1e-15);
    assert_close(v[0], before, 0); /* under the cap: untouched */
}

static void test_schedules(void **state) {
    (void)state;
    mb_schedule s;
    memset(&s, 0, sizeof s);
    s.type = MB_SCHED_EXPONENTIAL;
    s.gamma = 0.5;
    assert_close(mb_lr_at(&s, 0.8, 3, 10), 0.1, 1e-16);
    s.type = MB_SCHED_PLATEAU;
    s.factor = 1;
    s.best = INFINITY;
    s.patience = 2;
    s.threshold = 0.01;
    s.min_lr = 0.05;
    double losses[] = {1.0, 0.5, 0.499, 0.498, 0.3, 0.4, 0.4, 0.4, 0.4};
    double want[] = {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125};
    for (int e = 0; e < 9; e++) {
        mb_plateau_update(&s, losses[e]);
        assert_close(s.factor, want[e], 0);
    }
    assert_close(mb_lr_at(&s, 0.8, 9, 10), 0.1, 1e-16);
    s.factor = 0.01;
    assert_close(mb_lr_at(&s, 0.8, 9, 10), 0.05, 0);
}

static void test_classification_metrics(void **state) {
    (void)state;
    double y[] = {0, 0, 1, 1, 1, 2}, p[] = {0, 1, 1, 1, 0, 2}, conf[9] = {0};
    mb_confusion_add(y, p, 6, 3, conf);
    assert_close(conf[0], 1, 0);
    assert_close(conf[1], 1, 0);
    assert_close(conf[3], 1, 0);
    assert_close(conf[4], 2, 0);
    double pr[3], rc[3], f1[3];
    mb_prf_from_confusion(conf, 3, pr, rc, f1);
    assert_close(pr[1], 2.0 / 3.0, 1e-15);
    assert_close(rc[1], 2.0 / 3.0, 1e-15);
    assert_close(f1[0], 0.5, 1e-15);
    assert_close(f1[2], 1.0, 0);
    /* AUC with ties: positives {0.8, 0.4, 0.4}, negatives {0.4, 0.1}: wins 2 + 1.5 + 1.5 = 5
     * out of 6. */
    double pairs[] = {0.4, 1, 0.1, 0, 0.8, 1, 0.4, 0, 0.4, 1};
    assert_close(mb_roc_auc_pairs(pairs, 5), 5.0 / 6.0, 1e-15);
    double one[] = {0.3, 1, 0.2, 1};
    assert_true(isnan(mb_roc_auc_pairs(one, 2)));
}

/* The ready callback: every layer's slice once, output first, each just below the last, all of
 * [0, ntrain) covered, and each slice already holds its final values when announced. */
typedef struct {
    int64_t next_end, calls;
    const double *want;
} ready_log;

static void check_ready(void *ctx, double *g, int64_t off, int64_t n) {
    ready_log *r = ctx;
    assert_int_equal(off + n, r->next_end);
    assert_true(n > 0);
    for (int64_t j = off; j < off + n; j++) assert_true(g[j] == r->want[j]);
    r->next_end = off;
    r->calls++;
}

static void test_mlp_ready_slices(void **state) {
    (void)state;
    int64_t rows = 40, d = 5, hidden[] = {6, 4, 3};
    for (int bn = 0; bn < 2; bn++) {
        mb_mlp m;
        assert_int_equal(mb_mlp_setup(&m, d, 3, 3, hidden, MB_ACT_RELU, bn, MB_MODEL_SOFTMAX), 0);
        double X[200], y[40], theta[256], g[256], want[256];
        assert_true(m.nparam <= 256);
        for (int i = 0; i < 200; i++) X[i] = mb_rng_normal(9, MB_RNG_GEN, 1, (uint64_t)i);
        for (int i = 0; i < 40; i++) y[i] = (double)(i % 3);
        mb_mlp_init(&m, 9, theta);
        mb_mlp_pass *p = mb_mlp_pass_new(&m, rows);
        memset(want, 0, sizeof want);
        double l1 = mb_mlp_grad(&m, p, X, y, rows, theta, want, 0, NULL, NULL);
        ready_log r = {m.ntrain, 0, want};
        memset(g, 0, sizeof g);
        double l2 = mb_mlp_grad_ready(&m, p, X, y, rows, theta, g, 0, NULL, NULL, check_ready, &r);
        assert_true(l1 == l2);
        assert_int_equal(r.calls, 4);
        assert_int_equal(r.next_end, 0);
        assert_memory_equal(g, want, sizeof(double) * (size_t)m.ntrain);
        mb_mlp_pass_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_gradients),
        cmocka_unit_test(test_mlp_regularization),
        cmocka_unit_test(test_mlp_bn_statistics),
        cmocka_unit_test(test_mlp_ready_slices),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_classification_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
