/* test_superacc.c - the exact accumulator against known answers, an __int128 fixed-point oracle
 * and Shewchuk's exactly rounded summation (the algorithm of Python's math.fsum), on adversarial
 * inputs, and its independence of the order and grouping of the adds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>

#include "mbatch/superacc.h"

__extension__ typedef __int128 i128;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t next_u64(void) { /* splitmix64: the test's own generator */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int64_t uniform_int(int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}
/* A random double with a full random mantissa, exponent in [emin, emax], random sign. */
static double random_double(int emin, int emax) {
    double m = (double)((next_u64() >> 11) | (1ULL << 52)) / 9007199254740992.0; /* [1, 2) */
    double v = ldexp(m, (int)uniform_int(emin, emax));
    return next_u64() & 1 ? -v : v;
}

static double sum_exact(const double *x, int64_t n) {
    mb_superacc a;
    mb_sacc_zero(&a, 1);
    mb_sacc_add_vec(&a, x, 0);
    for (int64_t i = 0; i < n; i++) mb_sacc_add(&a, x[i]);
    return mb_sacc_round(&a);
}

static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

#define ASSERT_SAME(got, want)                                                                     \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!same_bits(g_, w_)) {                                                                  \
            fprintf(stderr, "%s:%d: got %a (%.17g), want %a (%.17g)\n", __FILE__, __LINE__, g_,    \
                    g_, w_, w_);                                                                   \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Shewchuk's exactly rounded sum (CPython's math.fsum), for inputs whose partial sums stay
 * finite: an independent exact algorithm built on error-free two-sums. */
static double fsum_ref(const double *x, int64_t n) {
    double p[2200];
    int np = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        int k = 0;
        for (int j = 0; j < np; j++) {
            double y = p[j];
            if (fabs(v) < fabs(y)) {
                double t = v;
                v = y;
                y = t;
            }
            double hi = v + y, lo = y - (hi - v);
            if (lo != 0.0) p[k++] = lo;
            v = hi;
        }
        np = k;
        p[np++] = v;
        assert_true(np < 2200);
    }
    double hi = 0.0, lo = 0.0;
    if (np > 0) {
        hi = p[--np];
        while (np > 0) {
            double v = hi, y = p[--np];
            hi = v + y;
            double yr = hi - v;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        /* Half-way case: make the rounding follow the sign of the rest of the partials. */
        if (np > 0 && ((lo < 0.0 && p[np - 1] < 0.0) || (lo > 0.0 && p[np - 1] > 0.0))) {
            double y = lo * 2.0, v = hi + y, yr = v - hi;
            if (y == yr) hi = v;
        }
    }
    return hi;
}

static void test_known_answers(void **state) {
    (void)state;
    double tiny = 5e-324, x1[] = {1e308, 1e-300, -1e308};
    ASSERT_SAME(sum_exact(x1, 3), 1e-300);
    double x2[] = {1e308, 1e308, tiny, -1e308, -1e308};
    ASSERT_SAME(sum_exact(x2, 5), tiny);
    double x3[] = {DBL_MAX, DBL_MAX, -DBL_MAX}; /* the intermediate sum is past the double range */
    ASSERT_SAME(sum_exact(x3, 3), DBL_MAX);
    double x4[] = {DBL_MAX, DBL_MAX};
    ASSERT_SAME(sum_exact(x4, 2), INFINITY);
    double x4n[] = {-DBL_MAX, -DBL_MAX};
    ASSERT_SAME(sum_exact(x4n, 2), -INFINITY);
    /* DBL_MAX + half an ulp rounds to even: up to Inf; just below half an ulp stays. */
    double x5[] = {DBL_MAX, ldexp(1, 970)};
    ASSERT_SAME(sum_exact(x5, 2), INFINITY);
    double x6[] = {DBL_MAX, ldexp(1, 969)};
    ASSERT_SAME(sum_exact(x6, 2), DBL_MAX);
    /* Ties to even, and a sticky bit far below breaking the tie. */
    double x7[] = {1.0, ldexp(1, -53)};
    ASSERT_SAME(sum_exact(x7, 2), 1.0);
    double x8[] = {1.0, ldexp(1, -53), ldexp(1, -1074)};
    ASSERT_SAME(sum_exact(x8, 3), nextafter(1.0, 2.0));
    double x9[] = {nextafter(1.0, 2.0), ldexp(1, -53)};
    ASSERT_SAME(sum_exact(x9, 2), nextafter(nextafter(1.0, 2.0), 2.0));
    double x10[] = {-1.0, -ldexp(1, -53), -ldexp(1, -1074)};
    ASSERT_SAME(sum_exact(x10, 3), -nextafter(1.0, 2.0));
    /* Subnormals add exactly; the smallest normal is reached from below. */
    double x11[] = {tiny, tiny, tiny};
    ASSERT_SAME(sum_exact(x11, 3), 3 * tiny);
    double x12[] = {DBL_MIN - tiny, tiny};
    ASSERT_SAME(sum_exact(x12, 2), DBL_MIN);
    double x13[] = {DBL_MIN, -tiny, -tiny};
    ASSERT_SAME(sum_exact(x13, 3), DBL_MIN - 2 * tiny);
    /* Ten copies of 0.1 are exactly 1 + 5.55e-17: nearest double 1. A naive loop gives less. */
    double x14[10];
    for (int i = 0; i < 10; i++) x14[i] = 0.1;
    ASSERT_SAME(sum_exact(x14, 10), 1.0);
    /* Zeros and specials. */
    double x15[] = {-0.0, -0.0};
    ASSERT_SAME(sum_exact(x15, 2), 0.0);
    ASSERT_SAME(sum_exact(NULL, 0), 0.0);
    double x16[] = {1.0, INFINITY, 1e308};
    ASSERT_SAME(sum_exact(x16, 3), INFINITY);
    double x17[] = {1.0, -INFINITY};
    ASSERT_SAME(sum_exact(x17, 2), -INFINITY);
    double x18[] = {INFINITY, -INFINITY};
    assert_true(isnan(sum_exact(x18, 2)));
    double x19[] = {1.0, NAN};
    assert_true(isnan(sum_exact(x19, 2)));
    /* A value of a single add is returned unchanged across the whole range. */
    for (int i = 0; i < 20000; i++) {
        double v = random_double(-1074, 1023);
        if (!isfinite(v)) continue;
        ASSERT_SAME(sum_exact(&v, 1), v);
    }
}

/* Mixed exponents with cancellations against an exact __int128 sum: every value is m * 2^(e-52)
 * with e in [-59, 5], so value * 2^112 is an integer below 2^118 and 100 of them fit. */
static void test_int128_oracle(void **state) {
    (void)state;
    enum { N = 100 };
    double x[N];
    for (int trial = 0; trial < 3000; trial++) {
        int n = (int)uniform_int(1, N);
        for (int i = 0; i < n; i++) {
            /* An exponent in [-59, 5] with a 53-bit mantissa: value * 2^112 is an integer. */
            x[i] = random_double(-59, 5);
            if (trial % 3 == 0 && i > 0 && (next_u64() & 1)) x[i] = -x[i - 1]; /* cancellation */
        }
        i128 ref = 0;
        for (int i = 0; i < n; i++) ref += (i128)ldexp(x[i], 112);
        /* gcc converts __int128 to double with round-to-nearest-even; the scaling is exact. */
        double want = ldexp((double)ref, -112);
        ASSERT_SAME(sum_exact(x, n), want);
    }
}

/* The whole exponent range, subnormals included, against the fsum oracle. */
static void test_fsum_oracle(void **state) {
    (void)state;
    enum { N = 400 };
    double x[N];
    for (int trial = 0; trial < 1500; trial++) {
        int n = (int)uniform_int(1, N), mode = trial % 4;
        for (int i = 0; i < n; i++) {
            if (mode == 0) x[i] = random_double(-1074, 990);   /* anything */
            if (mode == 1) x[i] = random_double(-1074, -1000); /* subnormal territory */
            if (mode == 2) x[i] = random_double(-1074, -1022) * (i % 2 ? 1 : 1e300); /* mixed */
            if (mode == 3) x[i] = i % 2 ? -x[i - 1] * (1 + ldexp(1, -52)) : random_double(-60, 60);
        }
        ASSERT_SAME(sum_exact(x, n), fsum_ref(x, n));
    }
}

/* Millions of large adds, then their cancellation, leave the small remainder exactly. */
static void test_many_adds(void **state) {
    (void)state;
    mb_superacc a;
    mb_sacc_zero(&a, 1);
    for (int i = 0; i < 2000000; i++) mb_sacc_add(&a, 1.7e308);
    mb_sacc_add(&a, 1.5);
    assert_true(isinf(mb_sacc_round(&a)));
    for (int i = 0; i < 2000000; i++) mb_sacc_add(&a, -1.7e308);
    ASSERT_SAME(mb_sacc_round(&a), 1.5);
}

/* Any order, any split into accumulators, merged or summed word by word after normalization (what
 * an MPI integer allreduce does): the same bits. */
static void test_order_independence(void **state) {
    (void)state;
    enum { N = 5000, P = 7 };
    static double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = random_double(-1074, 1000) * (i % 5 ? 1e-10 : 1);
    for (int i = 1; i < N; i += 7) x[i] = -x[i - 1];
    double want = sum_exact(x, N);
    ASSERT_SAME(want, fsum_ref(x, N));
    for (int trial = 0; trial < 20; trial++) {
        memcpy(y, x, sizeof x);
        for (int i = N - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)uniform_int(0, i);
            double t = y[i];
            y[i] = y[j];
            y[j] = t;
        }
        ASSERT_SAME(sum_exact(y, N), want);
        mb_superacc part[P], merged, words;
        mb_sacc_zero(part, P);
        for (int i = 0; i < N; i++) mb_sacc_add(&part[uniform_int(0, P - 1)], y[i]);
        mb_sacc_zero(&merged, 1);
        for (int r = P - 1; r >= 0; r--) mb_sacc_merge(&merged, &part[r]);
        ASSERT_SAME(mb_sacc_round(&merged), want);
        mb_sacc_zero(&words, 1);
        for (int r = 0; r < P; r++) {
            if (r % 2) /* both carry forms sum word by word */
                mb_sacc_normalize(&part[r]);
            else
                mb_sacc_balance(&part[r]);
            for (int k = 0; k < MB_SACC_WORDS; k++) words.w[k] += part[r].w[k];
        }
        ASSERT_SAME(mb_sacc_round(&words), want);
    }
    /* Balanced digits: a small negative sum has few nonzero digits, and keeps its value. */
    mb_superacc b;
    mb_sacc_zero(&b, 1);
    mb_sacc_add(&b, -1.5);
    mb_sacc_add(&b, ldexp(1, -60));
    mb_sacc_balance(&b);
    int nonzero = 0;
    for (int k = 0; k < MB_SACC_DIGITS; k++) nonzero += b.w[k] != 0;
    assert_true(nonzero <= 3);
    ASSERT_SAME(mb_sacc_round(&b), -1.5 + ldexp(1, -60));
    /* The vector forms. */
    mb_superacc v[3];
    double in[3] = {1e308, -2.5, ldexp(1, -1074)}, out[3];
    mb_sacc_zero(v, 3);
    mb_sacc_add_vec(v, in, 3);
    mb_sacc_add_vec(v, in, 3);
    mb_sacc_round_vec(v, 3, out);
    ASSERT_SAME(out[0], INFINITY);
    ASSERT_SAME(out[1], -5.0);
    ASSERT_SAME(out[2], ldexp(1, -1073));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),      cmocka_unit_test(test_int128_oracle),
        cmocka_unit_test(test_fsum_oracle),        cmocka_unit_test(test_many_adds),
        cmocka_unit_test(test_order_independence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
