/* test_lbfgs.c - L-BFGS two-loop recursion against the explicit BFGS update, the strong-Wolfe
 * line search's conditions, and convergence on known minima (quadratic, Rosenbrock). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbatch/lbfgs.h"

static double dotn(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One pair: H = (I - rho s y')(gamma I)(I - rho y s') + rho s s', gamma = s'y / y'y. */
static void test_two_loop_matches_bfgs(void **state) {
    (void)state;
    enum { N = 3 };
    double s[N] = {0.5, -1.0, 0.25}, y[N] = {1.0, -0.5, 0.75}, g[N] = {0.3, 0.2, -0.9};
    mb_lbfgs lb;
    assert_int_equal(mb_lbfgs_init(&lb, N, 4), 0);
    assert_int_equal(mb_lbfgs_push(&lb, s, y), 0);
    double d[N];
    mb_lbfgs_direction(&lb, g, d);
    double rho = 1.0 / dotn(s, y, N), gamma = dotn(s, y, N) / dotn(y, y, N), H[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int a = 0; a < N; a++) {
                double left = (i == a) - rho * s[i] * y[a];
                double right = (a == j) - rho * y[a] * s[j];
                acc += left * gamma * right;
            }
            H[i][j] = acc + rho * s[i] * s[j];
        }
    for (int i = 0; i < N; i++) {
        double ref = -dotn(H[i], g, N);
        printf("d[%d] = %.17g, explicit BFGS %.17g\n", i, d[i], ref);
        assert_true(fabs(d[i] - ref) < 1e-14);
    }
    /* No curvature: the pair is refused and the direction stays the same. */
    double yneg[N] = {-0.5, 1.0, -0.25};
    assert_int_equal(mb_lbfgs_push(&lb, s, yneg), 1);
    assert_int_equal(lb.count, 1);
    mb_lbfgs_free(&lb);
    mb_lbfgs_free(&lb); /* idempotent */
}

/* phi(a) = (a - 3)^2 - 9 along d = 1 from 0: phi'(0) = -6. */
static void quad1(double a, double *f, double *dg) {
    *f = (a - 3) * (a - 3) - 9;
    *dg = 2 * (a - 3);
}

static void check_wolfe_from(double alpha0) {
    mb_wolfe ls;
    double f, dg;
    quad1(0, &f, &dg);
    mb_wolfe_start(&ls, f, dg, alpha0);
    mb_ls_status st;
    do {
        quad1(ls.alpha, &f, &dg);
        st = mb_wolfe_next(&ls, f, dg);
    } while (st == MB_LS_EVAL);
    printf("start %g: alpha %.6g after %d evaluations\n", alpha0, ls.alpha, ls.evals);
    assert_int_equal(st, MB_LS_DONE);
    assert_true(f <= ls.f0 + ls.c1 * ls.alpha * ls.dg0);
    assert_true(fabs(dg) <= ls.c2 * fabs(ls.dg0));
}

static void test_wolfe_conditions(void **state) {
    (void)state;
    check_wolfe_from(1e-3); /* extrapolation */
    check_wolfe_from(1.0);  /* accepted at once */
    check_wolfe_from(100);  /* zoom: no sufficient decrease */
    check_wolfe_from(5.9);  /* zoom: sufficient decrease, wrong-sign slope */
    /* Not a descent direction: refused. */
    mb_wolfe ls;
    mb_wolfe_start(&ls, 0, 1.0, 1.0);
    assert_int_equal(mb_wolfe_next(&ls, 1, 1), MB_LS_FAIL);
}

typedef double (*objective)(const double *x, double *g, int n);

static double rosenbrock(const double *x, double *g, int n) {
    (void)n;
    double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
}

/* f = 0.5 sum_i i (x_i - 1)^2 for i = 1..n: condition number n. */
static double scaled_quadratic(const double *x, double *g, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) {
        g[i] = (i + 1) * (x[i] - 1);
        f += 0.5 * (i + 1) * (x[i] - 1) * (x[i] - 1);
    }
    return f;
}

/* The driver loop of lbfgs.h's overview; returns iterations taken to max|g| <= 1e-10. */
static int minimize(objective fn, double *x, int n, int m) {
    mb_lbfgs lb;
    assert_int_equal(mb_lbfgs_init(&lb, n, m), 0);
    double *g = calloc(n, sizeof *g), *gt = calloc(n, sizeof *gt), *d = calloc(n, sizeof *d);
    double *xt = calloc(n, sizeof *xt), *sv = calloc(n, sizeof *sv), *yv = calloc(n, sizeof *yv);
    double f = fn(x, g, n);
    int it;
    for (it = 0; it < 500; it++) {
        double gmax = 0;
        for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
        if (gmax <= 1e-10) break;
        mb_lbfgs_direction(&lb, g, d);
        mb_wolfe ls;
        double gn = sqrt(dotn(g, g, n));
        mb_wolfe_start(&ls, f, dotn(g, d, n), lb.count ? 1.0 : fmin(1.0, 1.0 / gn));
        mb_ls_status st;
        double ft;
        do {
            for (int i = 0; i < n; i++) xt[i] = x[i] + ls.alpha * d[i];
            ft = fn(xt, gt, n);
            st = mb_wolfe_next(&ls, ft, dotn(gt, d, n));
        } while (st == MB_LS_EVAL);
        assert_int_equal(st, MB_LS_DONE);
        for (int i = 0; i < n; i++) {
            sv[i] = xt[i] - x[i];
            yv[i] = gt[i] - g[i];
        }
        mb_lbfgs_push(&lb, sv, yv);
        memcpy(x, xt, sizeof(double) * n);
        memcpy(g, gt, sizeof(double) * n);
        f = ft;
    }
    free(g), free(gt), free(d), free(xt), free(sv), free(yv);
    mb_lbfgs_free(&lb);
    return it;
}

static void test_converges_rosenbrock(void **state) {
    (void)state;
    double x[2] = {-1.2, 1.0};
    int it = minimize(rosenbrock, x, 2, 5);
    printf("rosenbrock: x = (%.12g, %.12g) after %d iterations, expected (1, 1)\n", x[0], x[1], it);
    assert_true(it < 100);
    assert_true(fabs(x[0] - 1) < 1e-8 && fabs(x[1] - 1) < 1e-8);
}

static void test_converges_quadratic(void **state) {
    (void)state;
    enum { N = 100 };
    double x[N] = {0};
    int it = minimize(scaled_quadratic, x, N, 10);
    double err = 0;
    for (int i = 0; i < N; i++) err = fmax(err, fabs(x[i] - 1));
    printf("quadratic, condition 100: max |x - 1| = %.3g after %d iterations\n", err, it);
    assert_true(it < 150);
    assert_true(err < 1e-10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_loop_matches_bfgs),
        cmocka_unit_test(test_wolfe_conditions),
        cmocka_unit_test(test_converges_rosenbrock),
        cmocka_unit_test(test_converges_quadratic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
