/* test_preprocess.c - unit tests of one-hot expansion, column moments and standardization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/preprocess.h"

#define assert_close(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            print_error("%s = %.17g, %s = %.17g, |diff| %.3g > %.3g\n", #a, a_, #b, b_,            \
                        fabs(a_ - b_), (double)(tol));                                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void test_width(void **state) {
    (void)state;
    const int64_t ncat[] = {0, 3, 0, 2};
    assert_int_equal(mb_pre_width(4, ncat), 7);
    assert_int_equal(mb_pre_width(4, NULL), 4);
    assert_int_equal(mb_pre_width(0, NULL), 0);
}

static void test_expand(void **state) {
    (void)state;
    /* Columns: numeric, categorical {2, 5, 9}, numeric, categorical {-1, 0}. */
    const int64_t ncat[] = {0, 3, 0, 2};
    const int64_t c1[] = {2, 5, 9}, c3[] = {-1, 0};
    const int64_t *const cats[] = {NULL, c1, NULL, c3};
    const double raw[] = {
        1.5,  9, -2, 0,  /* known codes */
        -0.5, 4, 3,  -1, /* 4 is unknown: zeros */
        7,    2, 0,  0.5 /* 0.5 is not a code: zeros */
    };
    double out[3 * 7];
    mb_pre_expand(raw, 3, 4, ncat, cats, out);
    const double want[] = {
        1.5,  0, 0, 1, -2, 0, 1, /* */
        -0.5, 0, 0, 0, 3,  1, 0, /* */
        7,    1, 0, 0, 0,  0, 0,
    };
    for (int i = 0; i < 21; i++) assert_close(out[i], want[i], 0);
    /* All numeric: a copy. */
    double copy[12];
    mb_pre_expand(raw, 3, 4, NULL, NULL, copy);
    for (int i = 0; i < 12; i++) assert_close(copy[i], raw[i], 0);
    /* Non-finite and out-of-range codes are unknown, never cast. */
    const double odd[] = {NAN, 1e300};
    const int64_t one[] = {1}, ncat1[] = {1, 1};
    const int64_t *const cats1[] = {one, one};
    double o2[2] = {5, 5};
    mb_pre_expand(odd, 1, 2, ncat1, cats1, o2);
    assert_close(o2[0], 0, 0);
    assert_close(o2[1], 0, 0);
}

static void test_moments(void **state) {
    (void)state;
    /* Column 0: 1, 2, 3, 4 (mean 2.5, squared deviations 5); column 1: 10, 10, 10, 30. */
    const double X[] = {1, 10, 2, 10, 3, 10, 4, 30};
    double sum[2] = {0, 0}, mean[2], sq[2] = {0, 0}, std[2];
    /* Accumulate in two parts, as two ranks would. */
    mb_pre_colsum(X, 1, 2, sum);
    mb_pre_colsum(X + 2, 3, 2, sum);
    assert_close(sum[0], 10, 0);
    assert_close(sum[1], 60, 0);
    mean[0] = sum[0] / 4;
    mean[1] = sum[1] / 4;
    mb_pre_colsqdev(X, 2, 2, mean, sq);
    mb_pre_colsqdev(X + 4, 2, 2, mean, sq);
    assert_close(sq[0], 5, 1e-15);
    assert_close(sq[1], 300, 1e-12);
    mb_pre_finish(2, 4, NULL, mean, std, sq);
    assert_close(mean[0], 2.5, 0);
    assert_close(std[0], sqrt(1.25), 1e-15);
    assert_close(std[1], sqrt(75.0), 1e-14);
    double Y[8];
    for (int i = 0; i < 8; i++) Y[i] = X[i];
    mb_pre_apply(Y, 4, 2, mean, std);
    assert_close(Y[0], -1.5 / sqrt(1.25), 1e-15);
    assert_close(Y[7], 15 / sqrt(75.0), 1e-14);
    /* Standardized columns have mean 0 and population variance 1. */
    for (int j = 0; j < 2; j++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < 4; i++) {
            s += Y[i * 2 + j];
            s2 += Y[i * 2 + j] * Y[i * 2 + j];
        }
        assert_close(s, 0, 1e-14);
        assert_close(s2 / 4, 1, 1e-14);
    }
}

static void test_finish_constant_and_onehot(void **state) {
    (void)state;
    /* Column 0 constant 7, column 1 one-hot, column 2 ordinary. */
    double mean[3] = {7, 0.25, 1}, std[3];
    const double sq[3] = {0, 0.75, 4};
    const unsigned char onehot[3] = {0, 1, 0};
    mb_pre_finish(3, 4, onehot, mean, std, sq);
    assert_close(mean[0], 0, 0);
    assert_close(std[0], 1, 0);
    assert_close(mean[1], 0, 0);
    assert_close(std[1], 1, 0);
    assert_close(mean[2], 1, 0);
    assert_close(std[2], 1, 0);
    /* The constant and one-hot columns pass through apply unchanged. */
    double X[3] = {7, 1, 3};
    mb_pre_apply(X, 1, 3, mean, std);
    assert_close(X[0], 7, 0);
    assert_close(X[1], 1, 0);
    assert_close(X[2], 2, 0);
    /* No samples at all: every column passes through. */
    double m0[1] = {3}, s0[1];
    const double q0[1] = {0};
    mb_pre_finish(1, 0, NULL, m0, s0, q0);
    assert_close(m0[0], 0, 0);
    assert_close(s0[0], 1, 0);
}

static void test_first_nonfinite(void **state) {
    (void)state;
    const double a[] = {1, 2, 3, 4};
    assert_int_equal(mb_first_nonfinite(a, 4), -1);
    assert_int_equal(mb_first_nonfinite(a, 0), -1);
    const double b[] = {1, 2, INFINITY, NAN};
    assert_int_equal(mb_first_nonfinite(b, 4), 2);
    assert_int_equal(mb_first_nonfinite(b, 2), -1);
    const double c[] = {NAN};
    assert_int_equal(mb_first_nonfinite(c, 1), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width),           cmocka_unit_test(test_expand),
        cmocka_unit_test(test_moments),         cmocka_unit_test(test_finish_constant_and_onehot),
        cmocka_unit_test(test_first_nonfinite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
