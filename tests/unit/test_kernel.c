/* test_kernel.c - unit tests of the fused kernel: known answers, finite differences in float32,
 * gathered rows vs copied rows, the AVX2 path vs the portable path, float32 vs float64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/kernel.h"
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

/* Bitwise equality of two doubles, printing both. */
#define assert_same(a, b)                                                                          \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (memcmp(&a_, &b_, sizeof a_) != 0) {                                                    \
            print_error("%s = %.17g, %s = %.17g differ\n", #a, a_, #b, b_);                        \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

typedef struct data {
    int64_t n, d, k;
    double *X, *y, *theta;
    float *X32;
} data;

/* Values on a float32 grid (multiples of 2^-10), so float64 and float32 storage hold the same X. */
static data make(mb_model_type type, int64_t n, int64_t d, int64_t k, uint64_t seed, int exact32) {
    data t = {n,
              d,
              k,
              malloc(sizeof(double) * (size_t)(n * d + 1)),
              malloc(sizeof(double) * (size_t)n),
              malloc(sizeof(double) * (size_t)(d * k + k)),
              malloc(sizeof(float) * (size_t)(n * d + 1))};
    assert_true(t.X && t.y && t.theta && t.X32);
    uint64_t c = 0;
    for (int64_t i = 0; i < n * d; i++) {
        double v = 4.0 * mb_rng_uniform(seed, 1, c++, 0) - 2.0;
        t.X[i] = exact32 ? round(v * 1024.0) / 1024.0 : v;
    }
    for (int64_t i = 0; i < n; i++) {
        double u = mb_rng_uniform(seed, 1, c++, 0);
        t.y[i] = type == MB_MODEL_LINEAR    ? 3.0 * u - 1.0
                 : type == MB_MODEL_SOFTMAX ? floor(u * (double)k)
                                            : (u < 0.5 ? 0.0 : 1.0);
    }
    for (int64_t j = 0; j < d * k + k; j++)
        t.theta[j] = 0.5 * mb_rng_uniform(seed, 1, c++, 0) - 0.25;
    mb_dtype_store(MB_DTYPE_F32, t.X, n * d, t.X32);
    return t;
}

static void drop(data *t) {
    free(t->X), free(t->y), free(t->theta), free(t->X32);
}

static double *work_for(int64_t d, int64_t k) {
    double *w = malloc(sizeof(double) * (size_t)mb_kernel_work_size(d, k));
    assert_non_null(w);
    return w;
}

/* A two-row logistic example worked by hand: x = (1, 2), (0, -1); w = (0.5, 0.25), b = -0.5.
 * z = 0.5 and -0.75; r = sigmoid(z) - y with y = 1, 0. */
static void test_logistic_by_hand(void **state) {
    (void)state;
    double X[] = {1, 2, 0, -1}, y[] = {1, 0}, theta[] = {0.5, 0.25, -0.5}, g[3] = {0};
    float X32[] = {1, 2, 0, -1};
    double *w = work_for(2, 1);
    double z0 = 0.5, z1 = -0.75;
    double r0 = 1 / (1 + exp(-z0)) - 1, r1 = 1 / (1 + exp(-z1));
    double loss = log1p(exp(z0)) - z0 + log1p(exp(z1));
    for (int f32 = 0; f32 < 2; f32++) {
        memset(g, 0, sizeof g);
        double l = mb_kernel_grad(MB_MODEL_LOGISTIC, f32 ? (void *)X32 : (void *)X,
                                  f32 ? MB_DTYPE_F32 : MB_DTYPE_F64, y, NULL, 2, 2, 1, theta, g, w);
        assert_close(l, loss, 1e-15);
        assert_close(g[0], r0 * 1 + r1 * 0, 1e-15);
        assert_close(g[1], r0 * 2 + r1 * -1, 1e-15);
        assert_close(g[2], r0 + r1, 1e-15);
    }
    free(w);
}

/* Linear regression, one row of 5 features (a partial group of four): r = x.w + b - y. */
static void test_linear_by_hand(void **state) {
    (void)state;
    double X[] = {1, -2, 3, 0.5, 4}, y[] = {2}, theta[] = {1, 1, 1, 2, 0.25, 0.5}, g[6] = {0};
    double *w = work_for(5, 1);
    double r = (1 - 2 + 3 + 1 + 1 + 0.5) - 2; /* 2.5 */
    double l = mb_kernel_grad(MB_MODEL_LINEAR, X, MB_DTYPE_F64, y, NULL, 1, 5, 1, theta, g, w);
    assert_close(l, 0.5 * r * r, 1e-15);
    for (int j = 0; j < 5; j++) assert_close(g[j], r * X[j], 1e-15);
    assert_close(g[5], r, 1e-15);
    free(w);
}

/* The fused kernel against mb_model_grad (BLAS chunks) on the same rows: the same sums up to
 * rounding, for the shapes that exercise every tail (rows % 4, d % 16, d % 4). */
static void test_matches_model_grad(void **state) {
    (void)state;
    int64_t ds[] = {1, 3, 4, 5, 15, 16, 17, 37, 64}, ns[] = {1, 2, 3, 5, 11, 300};
    mb_model_type types[] = {MB_MODEL_LINEAR, MB_MODEL_LOGISTIC, MB_MODEL_SOFTMAX};
    for (int ti = 0; ti < 3; ti++)
        for (size_t a = 0; a < sizeof ds / sizeof *ds; a++)
            for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
                int64_t d = ds[a], n = ns[b], k = types[ti] == MB_MODEL_SOFTMAX ? 3 : 1;
                data t = make(types[ti], n, d, k, 100 + a * 10 + b, 0);
                int64_t np = d * k + k;
                double *g1 = calloc((size_t)np, 8), *g2 = calloc((size_t)np, 8);
                double *w1 = work_for(d, k), *w2 = work_for(d, k);
                double l1 = mb_model_grad(types[ti], t.X, t.y, n, d, k, t.theta, g1, w1);
                double l2 = mb_kernel_grad(types[ti], t.X, MB_DTYPE_F64, t.y, NULL, n, d, k,
                                           t.theta, g2, w2);
                assert_close(l2, l1, 1e-12 * (1 + fabs(l1)));
                for (int64_t j = 0; j < np; j++) assert_close(g2[j], g1[j], 1e-12 * (double)n);
                free(g1), free(g2), free(w1), free(w2);
                drop(&t);
            }
}

/* Central differences of the kernel's own loss with float32 storage: the gradient is that of
 * the loss over the float32 rows, accumulated in float64. */
static void test_finite_differences_f32(void **state) {
    (void)state;
    mb_model_type types[] = {MB_MODEL_LINEAR, MB_MODEL_LOGISTIC, MB_MODEL_SOFTMAX};
    for (int ti = 0; ti < 3; ti++) {
        int64_t n = 23, d = 19, k = types[ti] == MB_MODEL_SOFTMAX ? 4 : 1, np = d * k + k;
        data t = make(types[ti], n, d, k, 7 + (uint64_t)ti, 0);
        double *g = calloc((size_t)np, 8), *scratch = calloc((size_t)np, 8), *w = work_for(d, k);
        mb_kernel_grad(types[ti], t.X32, MB_DTYPE_F32, t.y, NULL, n, d, k, t.theta, g, w);
        for (int64_t j = 0; j < np; j++) {
            double h = 1e-6, keep = t.theta[j];
            t.theta[j] = keep + h;
            double lp = mb_kernel_grad(types[ti], t.X32, MB_DTYPE_F32, t.y, NULL, n, d, k, t.theta,
                                       scratch, w);
            t.theta[j] = keep - h;
            double lm = mb_kernel_grad(types[ti], t.X32, MB_DTYPE_F32, t.y, NULL, n, d, k, t.theta,
                                       scratch, w);
            t.theta[j] = keep;
            assert_close(g[j], (lp - lm) / (2 * h), 1e-6 * (1 + fabs(g[j])));
        }
        free(g), free(scratch), free(w);
        drop(&t);
    }
}

/* Rows gathered by index give the same bits as the same rows copied into that order (the old
 * mini-batch path), in float64 and float32, for every model. */
static void test_gather_equals_copy(void **state) {
    (void)state;
    mb_model_type types[] = {MB_MODEL_LINEAR, MB_MODEL_LOGISTIC, MB_MODEL_SOFTMAX};
    for (int ti = 0; ti < 3; ti++)
        for (int f32 = 0; f32 < 2; f32++) {
            int64_t n = 1000, d = 21, k = types[ti] == MB_MODEL_SOFTMAX ? 3 : 1, np = d * k + k;
            int64_t m = 601; /* more than two chunks of MB_MODEL_CHUNK rows */
            data t = make(types[ti], n, d, k, 55 + (uint64_t)ti, 0);
            int64_t *idx = malloc(sizeof(int64_t) * (size_t)m);
            double *Xc = malloc(sizeof(double) * (size_t)(m * d)), *yc = malloc(8 * (size_t)m);
            float *Xc32 = malloc(sizeof(float) * (size_t)(m * d));
            double *g1 = calloc((size_t)np, 8), *g2 = calloc((size_t)np, 8), *w = work_for(d, k);
            for (int64_t i = 0; i < m; i++) {
                idx[i] = (int64_t)(mb_rng_uniform(3, (uint64_t)ti, (uint64_t)i, 0) * (double)n);
                memcpy(Xc + i * d, t.X + idx[i] * d, sizeof(double) * (size_t)d);
                memcpy(Xc32 + i * d, t.X32 + idx[i] * d, sizeof(float) * (size_t)d);
                yc[i] = t.y[idx[i]];
            }
            mb_dtype dt = f32 ? MB_DTYPE_F32 : MB_DTYPE_F64;
            double l1 = mb_kernel_grad(types[ti], f32 ? (void *)Xc32 : (void *)Xc, dt, yc, NULL, m,
                                       d, k, t.theta, g1, w);
            double l2 = mb_kernel_grad(types[ti], f32 ? (void *)t.X32 : (void *)t.X, dt, t.y, idx,
                                       m, d, k, t.theta, g2, w);
            assert_same(l1, l2);
            for (int64_t j = 0; j < np; j++) assert_same(g1[j], g2[j]);
            if (types[ti] == MB_MODEL_SOFTMAX && !f32) {
                /* The gather path of other models is mb_model_grad over the copied rows. */
                double *g3 = calloc((size_t)np, 8);
                double l3 = mb_model_grad(types[ti], Xc, yc, m, d, k, t.theta, g3, w);
                assert_same(l1, l3);
                for (int64_t j = 0; j < np; j++) assert_same(g1[j], g3[j]);
                free(g3);
            }
            free(idx), free(Xc), free(yc), free(Xc32), free(g1), free(g2), free(w);
            drop(&t);
        }
}

/* The AVX2 path and the portable path perform the same operations: the same bits, for row widths
 * around the vector widths and their tails, row counts that leave a short last block or a
 * short last pair of blocks (the AVX2 path takes two blocks of eight at a time), in place and
 * gathered. */
static void test_portable_same_bits(void **state) {
    (void)state;
    int64_t ds[] = {1, 5, 8, 9, 16, 17, 24, 30, 64, 71, 130},
            ns[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
                    15, 16, 17, 18, 20, 23, 24, 25, 31, 32, 33, 37, 41};
    for (size_t a = 0; a < sizeof ds / sizeof *ds; a++)
        for (int ti = 0; ti < 2; ti++)
            for (int f32 = 0; f32 < 2; f32++)
                for (int gathered = 0; gathered < 2; gathered++)
                    for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                        mb_model_type type = ti ? MB_MODEL_LOGISTIC : MB_MODEL_LINEAR;
                        int64_t n = ns[c], d = ds[a], np = d + 1;
                        data t = make(type, n, d, 1, 9 + a, 0);
                        int64_t idx[41];
                        for (int64_t i = 0; i < n; i++) idx[i] = (i * 11) % n;
                        double *g1 = calloc((size_t)np, 8), *g2 = calloc((size_t)np, 8);
                        double *w = work_for(d, 1);
                        mb_dtype dt = f32 ? MB_DTYPE_F32 : MB_DTYPE_F64;
                        const void *X = f32 ? (void *)t.X32 : (void *)t.X;
                        const int64_t *ix = gathered ? idx : NULL;
                        mb_kernel_set_path(MB_KERNEL_AUTO);
                        double l1 = mb_kernel_grad(type, X, dt, t.y, ix, n, d, 1, t.theta, g1, w);
                        mb_kernel_set_path(MB_KERNEL_PORTABLE);
                        double l2 = mb_kernel_grad(type, X, dt, t.y, ix, n, d, 1, t.theta, g2, w);
                        mb_kernel_set_path(MB_KERNEL_AUTO);
                        assert_same(l1, l2);
                        for (int64_t j = 0; j < np; j++) assert_same(g1[j], g2[j]);
                        free(g1), free(g2), free(w);
                        drop(&t);
                    }
}

/* mb_kernel_eval: the loss of mb_kernel_grad over the same rows, bit for bit (g not needed); the
 * metric of mb_model_eval (squared errors to rounding, the count of right classes exactly); the
 * same bits on both paths, float64 and float32, at row counts that leave blocks short. */
static void test_eval(void **state) {
    (void)state;
    int64_t ds[] = {0, 1, 7, 64, 130}, ns[] = {0, 1, 3, 8, 13, 16, 17, 37, 300};
    for (size_t a = 0; a < sizeof ds / sizeof *ds; a++)
        for (int ti = 0; ti < 2; ti++)
            for (int f32 = 0; f32 < 2; f32++)
                for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                    mb_model_type type = ti ? MB_MODEL_LOGISTIC : MB_MODEL_LINEAR;
                    int64_t n = ns[c], d = ds[a];
                    data t = make(type, n, d, 1, 40 + c, 0);
                    mb_dtype dt = f32 ? MB_DTYPE_F32 : MB_DTYPE_F64;
                    const void *X = f32 ? (void *)t.X32 : (void *)t.X;
                    double *g = calloc((size_t)d + 1, 8), *w = work_for(d, 1), m1 = -1, m2 = -1;
                    double lg = mb_kernel_grad(type, X, dt, t.y, NULL, n, d, 1, t.theta, g, w);
                    double l1 = mb_kernel_eval(type, X, dt, t.y, n, d, t.theta, &m1);
                    mb_kernel_set_path(MB_KERNEL_PORTABLE);
                    double l2 = mb_kernel_eval(type, X, dt, t.y, n, d, t.theta, &m2);
                    mb_kernel_set_path(MB_KERNEL_AUTO);
                    assert_same(l1, lg);
                    assert_same(l2, lg);
                    assert_same(m1, m2);
                    /* The metric from scores summed plainly. */
                    double want = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double z = t.theta[d];
                        for (int64_t j = 0; j < d; j++)
                            z += (f32 ? (double)t.X32[i * d + j] : t.X[i * d + j]) * t.theta[j];
                        want += type == MB_MODEL_LINEAR ? (z - t.y[i]) * (z - t.y[i])
                                                        : (double)((z >= 0) == (t.y[i] == 1.0));
                    }
                    assert_close(m1, want, 1e-12 * (1 + want));
                    free(g), free(w);
                    drop(&t);
                }
}

/* float32 storage of values that float32 holds exactly gives the float64 answer to rounding;
 * of arbitrary values, an answer within float32's precision of the inputs. */
static void test_f32_close_to_f64(void **state) {
    (void)state;
    for (int exact = 0; exact < 2; exact++) {
        int64_t n = 500, d = 64, np = d + 1;
        data t = make(MB_MODEL_LOGISTIC, n, d, 1, 77, exact);
        double *g1 = calloc((size_t)np, 8), *g2 = calloc((size_t)np, 8), *w = work_for(d, 1);
        double l1 = mb_kernel_grad(MB_MODEL_LOGISTIC, t.X, MB_DTYPE_F64, t.y, NULL, n, d, 1,
                                   t.theta, g1, w);
        double l2 = mb_kernel_grad(MB_MODEL_LOGISTIC, t.X32, MB_DTYPE_F32, t.y, NULL, n, d, 1,
                                   t.theta, g2, w);
        double tol = exact ? 0 : 1e-6;
        assert_close(l2, l1, tol * fabs(l1));
        for (int64_t j = 0; j < np; j++) assert_close(g2[j], g1[j], tol * (double)n);
        free(g1), free(g2), free(w);
        drop(&t);
    }
}

/* The kernel's own exp and log1p (the same bits in AVX2 lanes and in the portable path) against
 * libm over scores from -800 to 800, both labels: a few units in the last place. */
static void test_logistic_vs_libm(void **state) {
    (void)state;
    double *w = work_for(1, 1), worst_l = 0, worst_r = 0;
    for (int path = 0; path < 2; path++) {
        if (path) mb_kernel_set_path(MB_KERNEL_PORTABLE);
        for (int i = -80000; i <= 80000; i += 7)
            for (int lab = 0; lab < 2; lab++) {
                double z = i * 0.01 + (i % 3) * 1e-9, x = 1.0, y = lab, theta[2] = {z, 0.0};
                double g[2] = {0, 0};
                double l = mb_kernel_grad(MB_MODEL_LOGISTIC, &x, MB_DTYPE_F64, &y, NULL, 1, 1, 1,
                                          theta, g, w);
                double lref = fmax(z, 0.0) - y * z + log1p(exp(-fabs(z)));
                double pref = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
                /* Below 2^-1021 the kernel rounds e^-|z| to 0: an absolute 1e-300 there. */
                double el = fabs(l - lref) <= 1e-300 ? 0 : fabs(l - lref) / fabs(lref);
                double er = fabs(g[1] - (pref - y)) <= 1e-300 ? 0 : fabs(g[1] - (pref - y));
                if (el > worst_l) worst_l = el;
                if (er > worst_r) worst_r = er;
                if (!(el <= 2e-15 && er <= 4.5e-16)) {
                    print_error("z = %.17g, y = %g: loss %.17g vs %.17g, residual %.17g vs %.17g\n",
                                z, y, l, lref, g[1], pref - y);
                    fail();
                }
            }
        mb_kernel_set_path(MB_KERNEL_AUTO);
    }
    print_message("worst relative loss error %.3g, worst residual error %.3g\n", worst_l, worst_r);
    free(w);
}

/* w read from an aligned copy when the caller's is off a 32-byte boundary: the same bits at every
 * offset, with the copy (64 features) and without it (600, past the copy's 511). */
static void test_theta_alignment(void **state) {
    (void)state;
    int64_t ds[] = {64, 600};
    for (int a = 0; a < 2; a++)
        for (int f32 = 0; f32 < 2; f32++) {
            int64_t n = 29, d = ds[a], np = d + 1;
            data t = make(MB_MODEL_LOGISTIC, n, d, 1, 31 + a, 0);
            size_t bytes = (sizeof(double) * (size_t)(np + 8) + 63) / 64 * 64;
            double *buf = aligned_alloc(64, bytes), *w = work_for(d, 1);
            double *g0 = calloc((size_t)np, 8), *g1 = calloc((size_t)np, 8);
            assert_true(buf && g0 && g1);
            mb_dtype dt = f32 ? MB_DTYPE_F32 : MB_DTYPE_F64;
            const void *X = f32 ? (void *)t.X32 : (void *)t.X;
            memcpy(buf, t.theta, sizeof(double) * (size_t)np);
            double l0 = mb_kernel_grad(MB_MODEL_LOGISTIC, X, dt, t.y, NULL, n, d, 1, buf, g0, w);
            for (int off = 1; off < 8; off++) {
                memmove(buf + off, buf + off - 1, sizeof(double) * (size_t)np);
                memset(g1, 0, sizeof(double) * (size_t)np);
                double l1 =
                    mb_kernel_grad(MB_MODEL_LOGISTIC, X, dt, t.y, NULL, n, d, 1, buf + off, g1, w);
                assert_same(l1, l0);
                for (int64_t j = 0; j < np; j++) assert_same(g1[j], g0[j]);
            }
            free(buf), free(w), free(g0), free(g1);
            drop(&t);
        }
}

/* The loss summed over many rows (the kernel takes the rows' log(1 + e^-|z|) as one log of their
 * product) against a long double sum of libm's log1pl, scores from -40 to 40 and both labels,
 * for every row count up to 20 (short last blocks) and 300,000 rows, on both paths: within
 * 1e-13 relative, the rounding of the sum itself. */
static void test_logistic_loss_sum(void **state) {
    (void)state;
    enum { N = 300000 };
    double *X = malloc(sizeof(double) * N), *y = malloc(sizeof(double) * N), *w = work_for(1, 1);
    assert_true(X && y);
    for (int64_t i = 0; i < N; i++) {
        X[i] = 80.0 * mb_rng_uniform(5, 1, (uint64_t)i, 0) - 40.0;
        y[i] = mb_rng_uniform(5, 2, (uint64_t)i, 0) < 0.5 ? 0.0 : 1.0;
    }
    for (int path = 0; path < 2; path++) {
        if (path) mb_kernel_set_path(MB_KERNEL_PORTABLE);
        int64_t ns[21];
        for (int c = 0; c < 21; c++) ns[c] = c < 20 ? c + 1 : N;
        for (int c = 0; c < 21; c++) {
            int64_t n = ns[c];
            double theta[2] = {1.0, 0.125}, g[2] = {0, 0};
            long double ref = 0;
            for (int64_t i = 0; i < n; i++) {
                long double z = (long double)X[i] + 0.125L;
                ref += (z > 0 ? z : 0) - (long double)y[i] * z + log1pl(expl(-fabsl(z)));
            }
            double l =
                mb_kernel_grad(MB_MODEL_LOGISTIC, X, MB_DTYPE_F64, y, NULL, n, 1, 1, theta, g, w);
            assert_close(l, (double)ref, 1e-13 * (double)ref);
        }
        mb_kernel_set_path(MB_KERNEL_AUTO);
    }
    free(X), free(y), free(w);
}

/* mb_read_bytes: the wrap-around sum of the 64-bit words then the last bytes, at every length
 * around the 128-byte stride and at every alignment, and a known value. */
static void test_read_bytes(void **state) {
    (void)state;
    enum { CAP = 1200 };
    unsigned char *buf = malloc(CAP + 8);
    assert_non_null(buf);
    uint64_t s = 0x243f6a8885a308d3ull;
    for (int i = 0; i < CAP + 8; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        buf[i] = (unsigned char)(s >> 56);
    }
    for (int off = 0; off < 8; off++)
        for (int64_t n = 0; n <= CAP; n += n < 300 ? 1 : 97) {
            uint64_t ref = 0;
            int64_t i = 0;
            for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, buf + off + i, 8);
                ref += w;
            }
            for (; i < n; i++) ref += buf[off + i];
            if (mb_read_bytes(buf + off, n) != ref) {
                print_error("offset %d, %lld bytes: %llu, expected %llu\n", off, (long long)n,
                            (unsigned long long)mb_read_bytes(buf + off, n),
                            (unsigned long long)ref);
                fail();
            }
        }
    /* 150 words of all ones wrap around to 2^64 - 150; three bytes of 255 then make it 615. */
    memset(buf, 0xff, CAP + 3);
    assert_int_equal(mb_read_bytes(buf, CAP + 3), 615);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_bytes),
        cmocka_unit_test(test_logistic_by_hand),
        cmocka_unit_test(test_linear_by_hand),
        cmocka_unit_test(test_matches_model_grad),
        cmocka_unit_test(test_finite_differences_f32),
        cmocka_unit_test(test_gather_equals_copy),
        cmocka_unit_test(test_portable_same_bits),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_f32_close_to_f64),
        cmocka_unit_test(test_logistic_vs_libm),
        cmocka_unit_test(test_logistic_loss_sum),
        cmocka_unit_test(test_theta_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
