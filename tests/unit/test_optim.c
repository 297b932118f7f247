/* test_optim.c - unit tests of the optimizer steps and learning-rate schedules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/optim.h"

#define assert_close(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            print_error("%s = %.17g, %s = %.17g, |diff| %.3g > %.3g\n", #a, a_, #b, b_,            \
                        fabs(a_ - b_), (double)(tol));                                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void test_init_defaults(void **state) {
    (void)state;
    mb_optim o;
    assert_int_equal(mb_optim_init(&o, MB_OPT_ADAM, 3), 0);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.t, 0);
    assert_close(o.beta1, 0.9, 0);
    assert_close(o.beta2, 0.999, 0);
    assert_close(o.eps, 1e-8, 0);
    assert_close(o.momentum, 0, 0);
    assert_int_equal(o.nesterov, 0);
    assert_non_null(o.m);
    for (int i = 0; i < 3; i++) {
        assert_close(o.v[i], 0, 0);
        assert_close(o.m[i], 0, 0);
    }
    mb_optim_free(&o);
    assert_null(o.v);
    assert_null(o.m);
    mb_optim_free(&o); /* twice is harmless */
    mb_optim_free(NULL);
    assert_int_equal(mb_optim_init(&o, MB_OPT_SGD, 0), 0);
    assert_null(o.m);
    mb_optim_free(&o);
}

static void test_sgd_plain(void **state) {
    (void)state;
    mb_optim o;
    assert_int_equal(mb_optim_init(&o, MB_OPT_SGD, 2), 0);
    double theta[2] = {1, -1};
    const double g[2] = {0.5, -2};
    mb_optim_step(&o, theta, g, 0.1);
    assert_close(theta[0], 0.95, 1e-15);
    assert_close(theta[1], -0.8, 1e-15);
    mb_optim_step(&o, theta, g, 0.1);
    assert_close(theta[0], 0.9, 1e-15);
    assert_close(theta[1], -0.6, 1e-15);
    assert_int_equal(o.t, 2);
    mb_optim_free(&o);
}

static void test_sgd_momentum(void **state) {
    (void)state;
    /* mu = 0.9, lr = 0.1, g = 1 then 2: v = 1, then 0.9 + 2 = 2.9; theta = 1 - 0.1 - 0.29. */
    mb_optim o;
    assert_int_equal(mb_optim_init(&o, MB_OPT_SGD, 1), 0);
    o.momentum = 0.9;
    double theta = 1, g = 1;
    mb_optim_step(&o, &theta, &g, 0.1);
    assert_close(o.v[0], 1, 1e-15);
    assert_close(theta, 0.9, 1e-15);
    g = 2;
    mb_optim_step(&o, &theta, &g, 0.1);
    assert_close(o.v[0], 2.9, 1e-15);
    assert_close(theta, 0.61, 1e-15);
    mb_optim_free(&o);
}

static void test_sgd_nesterov(void **state) {
    (void)state;
    /* Step 1: v = 1, theta -= 0.1 * (1 + 0.9 * 1) -> 0.81.
     * Step 2: v = 2.9, theta -= 0.1 * (2 + 0.9 * 2.9) = 0.461 -> 0.349. */
    mb_optim o;
    assert_int_equal(mb_optim_init(&o, MB_OPT_SGD, 1), 0);
    o.momentum = 0.9;
    o.nesterov = 1;
    double theta = 1, g = 1;
    mb_optim_step(&o, &theta, &g, 0.1);
    assert_close(theta, 0.81, 1e-15);
    g = 2;
    mb_optim_step(&o, &theta, &g, 0.1);
    assert_close(o.v[0], 2.9, 1e-15);
    assert_close(theta, 0.349, 1e-15);
    mb_optim_free(&o);
}

static void test_adam(void **state) {
    (void)state;
    mb_optim o;
    assert_int_equal(mb_optim_init(&o, MB_OPT_ADAM, 2), 0);
    double theta[2] = {1, 1};
    /* Step 1: the bias-corrected moments are g and g^2, so each coordinate moves by
     * lr * g / (|g| + eps) = lr * sign(g), up to eps. */
    const double g1[2] = {0.3, -4};
    mb_optim_step(&o, theta, g1, 0.01);
    assert_close(theta[0], 1 - 0.01 * 0.3 / (0.3 + 1e-8), 1e-15);
    assert_close(theta[1], 1 + 0.01 * 4 / (4 + 1e-8), 1e-15);
    assert_close(o.m[0], 0.03, 1e-15);
    assert_close(o.v[0], 0.001 * 0.09, 1e-18);
    /* Step 2 with g = 0.1 on coordinate 0: m = 0.9*0.03 + 0.01 = 0.037, v = 0.999*9e-5 + 1e-5;
     * corrections 1 - 0.81 = 0.19 and 1 - 0.998001 = 0.001999. */
    const double g2[2] = {0.1, 0};
    double before = theta[0];
    mb_optim_step(&o, theta, g2, 0.01);
    double m = 0.037, v = 0.999 * 9e-5 + 0.001 * 0.01;
    double want = before - 0.01 * (m / 0.19) / (sqrt(v / 0.001999) + 1e-8);
    assert_close(o.m[0], m, 1e-15);
    assert_close(o.v[0], v, 1e-18);
    assert_close(theta[0], want, 1e-15);
    assert_int_equal(o.t, 2);
    mb_optim_free(&o);
}

static void test_schedule_constant_and_warmup(void **state) {
    (void)state;
    mb_schedule s = {.type = MB_SCHED_CONSTANT};
    for (int64_t e = 0; e < 5; e++) assert_close(mb_lr_at(&s, 0.1, e, 5), 0.1, 0);
    /* Two warm-up epochs: lr/3, 2lr/3, then lr. */
    s.warmup_epochs = 2;
    assert_close(mb_lr_at(&s, 0.3, 0, 5), 0.1, 1e-15);
    assert_close(mb_lr_at(&s, 0.3, 1, 5), 0.2, 1e-15);
    assert_close(mb_lr_at(&s, 0.3, 2, 5), 0.3, 0);
    /* A fractional warm-up covers the epochs below it. */
    s.warmup_epochs = 1.5;
    assert_close(mb_lr_at(&s, 0.5, 0, 5), 0.2, 1e-15);
    assert_close(mb_lr_at(&s, 0.5, 1, 5), 0.4, 1e-15);
    assert_close(mb_lr_at(&s, 0.5, 2, 5), 0.5, 0);
}

static void test_schedule_step(void **state) {
    (void)state;
    mb_schedule s = {.type = MB_SCHED_STEP, .step_epochs = 3, .gamma = 0.5};
    const double want[] = {1, 1, 1, 0.5, 0.5, 0.5, 0.25};
    for (int64_t e = 0; e < 7; e++) assert_close(mb_lr_at(&s, 1.0, e, 7), want[e], 1e-15);
    /* Warm-up first, then the decay counted from epoch 0. */
    s.warmup_epochs = 1;
    assert_close(mb_lr_at(&s, 1.0, 0, 7), 0.5, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 4, 7), 0.5, 1e-15);
    s.step_epochs = 0;
    assert_close(mb_lr_at(&s, 1.0, 4, 7), 1.0, 0);
}

static void test_schedule_cosine(void **state) {
    (void)state;
    mb_schedule s = {.type = MB_SCHED_COSINE, .min_lr = 0.1};
    /* E = 4: lr at e = 0..3 is 0.1 + 0.9 (1 + cos(pi e / 4)) / 2. */
    assert_close(mb_lr_at(&s, 1.0, 0, 4), 1.0, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 1, 4), 0.1 + 0.9 * (1 + sqrt(0.5)) / 2, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 2, 4), 0.55, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 3, 4), 0.1 + 0.9 * (1 - sqrt(0.5)) / 2, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 4, 4), 0.1, 1e-15);
    /* One warm-up epoch of 5: epoch 0 is lr/2, then the cosine runs over e = epoch - 1, E = 4. */
    s.warmup_epochs = 1;
    assert_close(mb_lr_at(&s, 1.0, 0, 5), 0.5, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 1, 5), 1.0, 1e-15);
    assert_close(mb_lr_at(&s, 1.0, 3, 5), 0.55, 1e-15);
    /* Warm-up covering every epoch leaves nothing to anneal. */
    s.warmup_epochs = 5;
    assert_close(mb_lr_at(&s, 1.0, 5, 5), 1.0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults), cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),  cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_adam),          cmocka_unit_test(test_schedule_constant_and_warmup),
        cmocka_unit_test(test_schedule_step), cmocka_unit_test(test_schedule_cosine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
