/* test_rng.c - unit tests of the counter-based generator and the keyed permutations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <math.h>

#include "mbatch/rng.h"

static void test_u64_deterministic_and_sensitive(void **state) {
    (void)state;
    uint64_t h = mb_rng_u64(42, MB_RNG_SHUFFLE, 7, 9);
    assert_int_equal(h, mb_rng_u64(42, MB_RNG_SHUFFLE, 7, 9));
    /* Changing any one input changes the output. */
    assert_int_not_equal(h, mb_rng_u64(43, MB_RNG_SHUFFLE, 7, 9));
    assert_int_not_equal(h, mb_rng_u64(42, MB_RNG_SPLIT, 7, 9));
    assert_int_not_equal(h, mb_rng_u64(42, MB_RNG_SHUFFLE, 8, 9));
    assert_int_not_equal(h, mb_rng_u64(42, MB_RNG_SHUFFLE, 7, 10));
    /* Swapping a and b is a different draw. */
    assert_int_not_equal(h, mb_rng_u64(42, MB_RNG_SHUFFLE, 9, 7));
    assert_int_not_equal(mb_rng_u64(0, 0, 0, 0), 0);
}

static void test_u64_avalanche(void **state) {
    (void)state;
    /* Flipping one input bit flips about half of the 64 output bits on average. */
    double flips = 0;
    int trials = 0;
    for (uint64_t a = 0; a < 200; a++)
        for (int bit = 0; bit < 64; bit++) {
            uint64_t x = mb_rng_u64(1, 2, a, 5) ^ mb_rng_u64(1, 2, a ^ (UINT64_C(1) << bit), 5);
            flips += __builtin_popcountll(x);
            trials++;
        }
    double mean = flips / trials;
    print_message("mean flipped bits %.3f (expect 32)\n", mean);
    assert_true(fabs(mean - 32.0) < 0.5);
}

static void test_uniform_moments(void **state) {
    (void)state;
    const int n = 100000;
    double sum = 0, sq = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = mb_rng_uniform(7, MB_RNG_GEN, (uint64_t)i, 3);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        sq += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    print_message("uniform mean %.5f var %.5f (expect 0.5, %.5f)\n", mean, var, 1.0 / 12);
    /* Standard error of the mean is 0.29/sqrt(1e5) ~ 0.0009: 5 sigma. */
    assert_true(fabs(mean - 0.5) < 0.0046);
    assert_true(fabs(var - 1.0 / 12) < 0.002);
    assert_true(lo < 1e-3 && hi > 1 - 1e-3);
}

static void test_normal_moments(void **state) {
    (void)state;
    const int n = 100000;
    double sum = 0, sq = 0, q = 0;
    for (int i = 0; i < n; i++) {
        double z = mb_rng_normal(11, MB_RNG_INIT, (uint64_t)i, 0);
        assert_true(isfinite(z));
        sum += z;
        sq += z * z;
        q += z * z * z * z;
    }
    double mean = sum / n, var = sq / n - mean * mean, kurt = q / n;
    print_message("normal mean %.5f var %.5f 4th moment %.4f (expect 0, 1, 3)\n", mean, var, kurt);
    assert_true(fabs(mean) < 0.016);
    assert_true(fabs(var - 1.0) < 0.03);
    assert_true(fabs(kurt - 3.0) < 0.15);
    assert_true(mb_rng_normal(11, MB_RNG_INIT, 5, 0) == mb_rng_normal(11, MB_RNG_INIT, 5, 0));
}

/* fwd is a bijection of [0, n) and inv undoes it; returns 1 if the order is not the identity. */
static int check_perm(uint64_t n, uint64_t seed, uint64_t key) {
    mb_perm p;
    mb_perm_init(&p, n, seed, MB_RNG_SHUFFLE, key);
    unsigned char *seen = calloc(n ? n : 1, 1);
    assert_non_null(seen);
    int moved = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = mb_perm_fwd(&p, i);
        assert_in_range(x, 0, n - 1);
        assert_int_equal(seen[x], 0);
        seen[x] = 1;
        assert_int_equal(mb_perm_inv(&p, x), i);
        moved |= x != i;
    }
    free(seen);
    return moved;
}

static void test_perm_bijection(void **state) {
    (void)state;
    int moved = 0;
    for (uint64_t n = 0; n <= 70; n++)
        for (uint64_t seed = 0; seed < 4; seed++) {
            int m = check_perm(n, seed, n);
            if (n >= 8) moved += m;
        }
    /* Every domain of 8 or more elements was actually shuffled for every seed. */
    assert_int_equal(moved, 63 * 4);
    const uint64_t big[] = {1000, 1023, 1024, 1025, 100003};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) assert_true(check_perm(big[i], 3, 1));
}

static void test_perm_small_and_huge(void **state) {
    (void)state;
    mb_perm p;
    mb_perm_init(&p, 1, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(mb_perm_fwd(&p, 0), 0);
    assert_int_equal(mb_perm_inv(&p, 0), 0);
    mb_perm_init(&p, 0, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.n, 0);
    /* The halves are at least one bit and at most 32. */
    mb_perm_init(&p, 2, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.half_bits, 1);
    mb_perm_init(&p, 5, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.half_bits, 2);
    mb_perm_init(&p, 16, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.half_bits, 2);
    mb_perm_init(&p, 17, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.half_bits, 3);
    uint64_t n = UINT64_C(1) << 62 | 12345;
    mb_perm_init(&p, n, 5, MB_RNG_SPLIT, 0);
    assert_int_equal(p.half_bits, 32);
    for (uint64_t i = n - 50; i < n; i++) {
        uint64_t x = mb_perm_fwd(&p, i);
        assert_true(x < n);
        assert_int_equal(mb_perm_inv(&p, x), i);
    }
}

static void test_perm_keys_differ(void **state) {
    (void)state;
    /* Different round keys (epochs) and purposes give different orders of the same domain. */
    mb_perm a, b, c;
    mb_perm_init(&a, 1000, 9, MB_RNG_SHUFFLE, 0);
    mb_perm_init(&b, 1000, 9, MB_RNG_SHUFFLE, 1);
    mb_perm_init(&c, 1000, 9, MB_RNG_SPLIT, 0);
    int same_ab = 0, same_ac = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        same_ab += mb_perm_fwd(&a, i) == mb_perm_fwd(&b, i);
        same_ac += mb_perm_fwd(&a, i) == mb_perm_fwd(&c, i);
    }
    print_message("coinciding positions %d, %d of 1000 (expect about 1)\n", same_ab, same_ac);
    assert_true(same_ab < 20 && same_ac < 20);
}

/* The batched inverse gives mb_perm_inv's values: every domain size from 0 to 70 and a few
 * larger ones (cycle walking at 2^(2h) + 1), ranges starting anywhere and of any length. */
static void test_perm_inv_range(void **state) {
    (void)state;
    const uint64_t big[] = {1025, 4097, 100003, UINT64_C(1) << 62 | 12345};
    uint64_t out[300];
    for (uint64_t n = 0; n <= 74; n++) {
        uint64_t dom = n <= 70 ? n : big[n - 71];
        mb_perm p;
        mb_perm_init(&p, dom, n + 11, MB_RNG_SHUFFLE, 7);
        for (uint64_t x0 = 0; x0 < 3; x0++)
            for (int64_t count = 0; count <= 37; count += 1 + count / 4) {
                uint64_t start = dom > 300 ? dom - 300 + x0 : x0;
                if (start + (uint64_t)count > dom) continue;
                mb_perm_inv_range(&p, start, count, out);
                for (int64_t i = 0; i < count; i++)
                    assert_int_equal(out[i], mb_perm_inv(&p, start + (uint64_t)i));
            }
        if (dom >= 300) {
            mb_perm_inv_range(&p, dom - 300, 300, out);
            for (int i = 0; i < 300; i++)
                assert_int_equal(out[i], mb_perm_inv(&p, dom - 300 + (uint64_t)i));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_deterministic_and_sensitive),
        cmocka_unit_test(test_u64_avalanche),
        cmocka_unit_test(test_uniform_moments),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_perm_bijection),
        cmocka_unit_test(test_perm_small_and_huge),
        cmocka_unit_test(test_perm_keys_differ),
        cmocka_unit_test(test_perm_inv_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
