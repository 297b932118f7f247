/* test_model.c - unit tests of the model kernels: gradient checks, known answers, stability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/model.h"
#include "mbatch/rng.h"

/* Both sides are printed when a comparison fails, as cmocka does for integers. */
#define assert_close(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            print_error("%s = %.17g, %s = %.17g, |diff| %.3g > %.3g\n", #a, a_, #b, b_,            \
                        fabs(a_ - b_), (double)(tol));                                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static double *work_for(int64_t k) {
    double *w = malloc((size_t)mb_model_work_size(k) * sizeof *w);
    assert_non_null(w);
    return w;
}

static double loss_at(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                      int64_t k, const double *theta, double *work) {
    double loss, metric;
    mb_model_eval(type, X, y, rows, d, k, theta, work, &loss, &metric);
    return loss;
}

/* Random X, theta and labels; compares mb_model_grad with central differences of the loss. */
static void gradient_check(mb_model_type type, int64_t rows, int64_t d, int64_t k, uint64_t seed) {
    int64_t np = mb_model_nparam(d, k);
    double *X = malloc((size_t)(rows * d) * sizeof *X);
    double *y = malloc((size_t)rows * sizeof *y);
    double *theta = malloc((size_t)np * sizeof *theta);
    double *g = calloc((size_t)np, sizeof *g);
    double *work = work_for(k);
    assert_non_null(X);
    assert_non_null(y);
    assert_non_null(theta);
    assert_non_null(g);
    for (int64_t i = 0; i < rows * d; i++) X[i] = mb_rng_normal(seed, MB_RNG_GEN, 1, (uint64_t)i);
    for (int64_t j = 0; j < np; j++)
        theta[j] = 0.5 * mb_rng_normal(seed, MB_RNG_GEN, 2, (uint64_t)j);
    for (int64_t i = 0; i < rows; i++) {
        double u = mb_rng_uniform(seed, MB_RNG_GEN, 3, (uint64_t)i);
        if (type == MB_MODEL_LINEAR)
            y[i] = 4.0 * u - 2.0;
        else if (type == MB_MODEL_LOGISTIC)
            y[i] = u < 0.5 ? 0.0 : 1.0;
        else
            y[i] = floor(u * (double)k);
        assert_int_equal(mb_model_label_ok(type, k, y[i]), 0);
    }

    double loss = mb_model_grad(type, X, y, rows, d, k, theta, g, work);
    assert_close(loss, loss_at(type, X, y, rows, d, k, theta, work), 1e-9 * fabs(loss));
    const double h = 1e-5;
    for (int64_t j = 0; j < np; j++) {
        double keep = theta[j];
        theta[j] = keep + h;
        double up = loss_at(type, X, y, rows, d, k, theta, work);
        theta[j] = keep - h;
        double down = loss_at(type, X, y, rows, d, k, theta, work);
        theta[j] = keep;
        double fd = (up - down) / (2 * h);
        /* Relative to the larger side, and absolute below 1 where a relative error is noise. */
        double rel = fabs(fd - g[j]) / fmax(1.0, fmax(fabs(fd), fabs(g[j])));
        if (!(rel < 1e-6))
            print_error("type %d rows %lld d %lld k %lld param %lld: grad %.12g, fd %.12g\n",
                        (int)type, (long long)rows, (long long)d, (long long)k, (long long)j, g[j],
                        fd);
        assert_true(rel < 1e-6);
    }
    free(X);
    free(y);
    free(theta);
    free(g);
    free(work);
}

static const int64_t ROWS[] = {1, 5, 300, 513};
static const int64_t DIMS[] = {1, 3, 7};

static void test_grad_linear(void **state) {
    (void)state;
    for (size_t r = 0; r < 4; r++)
        for (size_t a = 0; a < 3; a++) gradient_check(MB_MODEL_LINEAR, ROWS[r], DIMS[a], 1, 11);
}

static void test_grad_logistic(void **state) {
    (void)state;
    for (size_t r = 0; r < 4; r++)
        for (size_t a = 0; a < 3; a++) gradient_check(MB_MODEL_LOGISTIC, ROWS[r], DIMS[a], 1, 12);
}

static void test_grad_softmax(void **state) {
    (void)state;
    const int64_t ks[] = {2, 3, 5};
    for (size_t r = 0; r < 4; r++)
        for (size_t a = 0; a < 3; a++)
            for (size_t c = 0; c < 3; c++)
                gradient_check(MB_MODEL_SOFTMAX, ROWS[r], DIMS[a], ks[c], 13);
}

static void test_grad_intercept_only(void **state) {
    (void)state;
    /* d = 0: no BLAS call, the intercepts still learn. */
    gradient_check(MB_MODEL_LINEAR, 7, 0, 1, 14);
    gradient_check(MB_MODEL_SOFTMAX, 7, 0, 3, 14);
}

static void test_linear_by_hand(void **state) {
    (void)state;
    /* z = x.(0.5, -1) + 2 = 0.5, -0.5, -1.5; r = z - y = -0.5 each. */
    const double X[] = {1, 2, 3, 4, 5, 6}, y[] = {1, 0, -1}, theta[] = {0.5, -1, 2};
    double g[3] = {100, 200, 300}, *work = work_for(1);
    double loss = mb_model_grad(MB_MODEL_LINEAR, X, y, 3, 2, 1, theta, g, work);
    assert_close(loss, 0.375, 1e-15);
    /* The gradient is added to what g held. */
    assert_close(g[0], 100 - 4.5, 1e-13);
    assert_close(g[1], 200 - 6.0, 1e-13);
    assert_close(g[2], 300 - 1.5, 1e-13);
    double l, m;
    mb_model_eval(MB_MODEL_LINEAR, X, y, 3, 2, 1, theta, work, &l, &m);
    assert_close(l, 0.375, 1e-15);
    assert_close(m, 0.75, 1e-15);
    double out[3];
    mb_model_predict(MB_MODEL_LINEAR, X, 3, 2, 1, theta, out);
    assert_close(out[0], 0.5, 1e-15);
    assert_close(out[1], -0.5, 1e-15);
    assert_close(out[2], -1.5, 1e-15);
    free(work);
}

static void test_logistic_at_zero(void **state) {
    (void)state;
    /* At theta = 0 every p is 1/2: loss = rows log 2, g_W = X^T (1/2 - y), g_b = sum(1/2 - y). */
    enum { ROWS_N = 600, D = 3 };
    double *X = malloc(ROWS_N * D * sizeof *X), y[ROWS_N], theta[D + 1] = {0}, g[D + 1] = {0};
    double want[D + 1] = {0}, *work = work_for(1);
    assert_non_null(X);
    for (int i = 0; i < ROWS_N; i++) {
        y[i] = i % 3 == 0;
        for (int j = 0; j < D; j++) {
            X[i * D + j] = (double)((i * 7 + j * 13) % 11) - 5.0;
            want[j] += X[i * D + j] * (0.5 - y[i]);
        }
        want[D] += 0.5 - y[i];
    }
    double loss = mb_model_grad(MB_MODEL_LOGISTIC, X, y, ROWS_N, D, 1, theta, g, work);
    assert_close(loss, ROWS_N * log(2.0), 1e-10);
    for (int j = 0; j <= D; j++) assert_close(g[j], want[j], 1e-10);
    double out[ROWS_N];
    mb_model_predict(MB_MODEL_LOGISTIC, X, ROWS_N, D, 1, theta, out);
    for (int i = 0; i < ROWS_N; i++) assert_close(out[i], 0.5, 0);
    free(X);
    free(work);
}

static void test_softmax_at_zero(void **state) {
    (void)state;
    const double X[] = {1, -2, 3, 0.5}, y[] = {0, 2, 1, 2};
    double theta[6] = {0}, *work = work_for(3), l, m, out[12];
    mb_model_eval(MB_MODEL_SOFTMAX, X, y, 4, 1, 3, theta, work, &l, &m);
    assert_close(l, 4 * log(3.0), 1e-14);
    /* All scores tie, so the first class is predicted: only the label-0 row is right. */
    assert_close(m, 1, 0);
    mb_model_predict(MB_MODEL_SOFTMAX, X, 4, 1, 3, theta, out);
    for (int i = 0; i < 12; i++) assert_close(out[i], 1.0 / 3, 1e-15);
    free(work);
}

static void test_eval_metric_by_hand(void **state) {
    (void)state;
    double *work = work_for(3), l, m;
    /* Logistic, w = 1, b = 0: z = x; predicted class 1 iff z >= 0 (-0.0 included). */
    const double xl[] = {-2, -0.0, 0, 3, -1}, yl[] = {0, 1, 1, 1, 1}, tl[] = {1, 0};
    mb_model_eval(MB_MODEL_LOGISTIC, xl, yl, 5, 1, 1, tl, work, &l, &m);
    assert_close(m, 4, 0);
    double want = log1p(exp(-2)) + 2 * log(2.0) + log1p(exp(-3)) + 1 + log1p(exp(-1));
    assert_close(l, want, 1e-14);
    /* Softmax, W = (1, 1, -1): x = 2 ties classes 0 and 1 (first wins), x = -1 picks class 2. */
    const double xs[] = {2, 2, -1, -1}, ys[] = {0, 1, 2, 0}, ts[] = {1, 1, -1, 0, 0, 0};
    mb_model_eval(MB_MODEL_SOFTMAX, xs, ys, 4, 1, 3, ts, work, &l, &m);
    assert_close(m, 2, 0);
    double lse2 = log(2 * exp(2.0) + exp(-2.0)), lse1 = log(2 * exp(-1.0) + exp(1.0));
    assert_close(l, 2 * (lse2 - 2) + (lse1 - 1) + (lse1 + 1), 1e-13);
    free(work);
}

static void test_extreme_scores(void **state) {
    (void)state;
    /* |z| = 800 overflows a naive exp; loss, gradient and probabilities stay finite. */
    double *work = work_for(3), l, m;
    const double x[] = {1, -1}, yl[] = {0, 1}, tl[] = {800, 0};
    double g[2] = {0};
    l = mb_model_grad(MB_MODEL_LOGISTIC, x, yl, 2, 1, 1, tl, g, work);
    assert_close(l, 1600, 1e-9);
    assert_close(g[0], 2, 1e-12); /* (1 - 0) * 1 + (0 - 1) * -1 */
    assert_close(g[1], 0, 1e-12);
    const double ts[] = {900, -900, 0, 0, 0, 0}, ys[] = {1, 0};
    double gs[6] = {0}, out[6];
    l = mb_model_grad(MB_MODEL_SOFTMAX, x, ys, 2, 1, 3, ts, gs, work);
    assert_close(l, 1800 + 1800, 1e-9);
    for (int j = 0; j < 6; j++) assert_true(isfinite(gs[j]));
    mb_model_eval(MB_MODEL_SOFTMAX, x, ys, 2, 1, 3, ts, work, &l, &m);
    assert_close(l, 3600, 1e-9);
    assert_close(m, 0, 0);
    mb_model_predict(MB_MODEL_SOFTMAX, x, 2, 1, 3, ts, out);
    assert_close(out[0], 1, 1e-15);
    assert_close(out[4], 1, 1e-15);
    free(work);
}

static void test_predict_sums_to_one(void **state) {
    (void)state;
    enum { ROWS_N = 300, D = 4, K = 5 };
    double *X = malloc(ROWS_N * D * sizeof *X), *out = malloc(ROWS_N * K * sizeof *out);
    double theta[D * K + K], p1[ROWS_N];
    assert_non_null(X);
    assert_non_null(out);
    for (int i = 0; i < ROWS_N * D; i++) X[i] = 3 * mb_rng_normal(5, MB_RNG_GEN, 0, (uint64_t)i);
    for (int j = 0; j < D * K + K; j++) theta[j] = mb_rng_normal(5, MB_RNG_GEN, 1, (uint64_t)j);
    mb_model_predict(MB_MODEL_SOFTMAX, X, ROWS_N, D, K, theta, out);
    for (int i = 0; i < ROWS_N; i++) {
        double s = 0;
        for (int j = 0; j < K; j++) {
            assert_true(out[i * K + j] >= 0 && out[i * K + j] <= 1);
            s += out[i * K + j];
        }
        assert_close(s, 1, 1e-14);
    }
    /* Logistic P(y = 1) is the sigmoid of the linear score. */
    mb_model_predict(MB_MODEL_LOGISTIC, X, ROWS_N, D, 1, theta, p1);
    for (int i = 0; i < ROWS_N; i++) {
        double z = theta[D];
        for (int j = 0; j < D; j++) z += X[i * D + j] * theta[j];
        assert_close(p1[i], 1 / (1 + exp(-z)), 1e-14);
    }
    free(X);
    free(out);
}

static void test_penalty(void **state) {
    (void)state;
    const double theta[] = {1, 2, 3, 4, 10, 20};
    double g[6] = {1, 1, 1, 1, 1, 1};
    /* 0.5 * 0.5 * (1 + 4 + 9 + 16); the intercepts 10, 20 are not penalized. */
    assert_close(mb_model_penalty(2, 2, 0.5, theta, g), 7.5, 1e-15);
    const double want[] = {1.5, 2, 2.5, 3, 1, 1};
    for (int j = 0; j < 6; j++) assert_close(g[j], want[j], 1e-15);
    assert_close(mb_model_penalty(2, 2, 0.5, theta, NULL), 7.5, 1e-15);
    assert_close(mb_model_penalty(2, 2, 0.0, theta, NULL), 0, 0);
}

static void test_label_ok(void **state) {
    (void)state;
    assert_int_equal(mb_model_label_ok(MB_MODEL_LINEAR, 1, -3.7), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_LINEAR, 1, NAN), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_LINEAR, 1, INFINITY), 0);
    assert_int_equal(mb_model_label_ok(MB_MODEL_LOGISTIC, 1, 0.0), 0);
    assert_int_equal(mb_model_label_ok(MB_MODEL_LOGISTIC, 1, 1.0), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_LOGISTIC, 1, 2.0), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_LOGISTIC, 1, 0.5), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_LOGISTIC, 1, -1.0), 0);
    assert_int_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, 2.0), 0);
    assert_int_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, 0.0), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, 3.0), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, 1.5), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, -1.0), 0);
    assert_int_not_equal(mb_model_label_ok(MB_MODEL_SOFTMAX, 3, NAN), 0);
}

static void test_sizes(void **state) {
    (void)state;
    assert_int_equal(mb_model_nparam(7, 1), 8);
    assert_int_equal(mb_model_nparam(7, 5), 40);
    assert_int_equal(mb_model_work_size(3), MB_MODEL_CHUNK * 3 + 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_linear),     cmocka_unit_test(test_grad_logistic),
        cmocka_unit_test(test_grad_softmax),    cmocka_unit_test(test_grad_intercept_only),
        cmocka_unit_test(test_linear_by_hand),  cmocka_unit_test(test_logistic_at_zero),
        cmocka_unit_test(test_softmax_at_zero), cmocka_unit_test(test_eval_metric_by_hand),
        cmocka_unit_test(test_extreme_scores),  cmocka_unit_test(test_predict_sums_to_one),
        cmocka_unit_test(test_penalty),         cmocka_unit_test(test_label_ok),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
