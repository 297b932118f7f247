/* superacc.h - an exact fixed-point accumulator of doubles (a "superaccumulator").
 *
 * One mb_superacc holds the exact sum of any number of doubles, with no rounding: the sum is kept
 * as a fixed-point integer in base 2^32 digits stored in signed 64-bit words, whose lowest digit
 * weighs 2^-1088 (below the smallest subnormal, 2^-1074) and whose top word reaches past DBL_MAX.
 * Adding a double touches three words; each word has 31 bits of carry-save slack, so 2^30 adds
 * go between carry propagations (done automatically), and carried accumulators (mb_sacc_normalize
 * or mb_sacc_balance) of up to 2^31 ranks can be summed word by word with integer additions
 * (MPI_INT64_T, MPI_SUM) without overflow. Because integer addition is associative, the sum
 * does not depend on the order of the adds or on how they were split among accumulators;
 * mb_sacc_round then rounds the exact sum once to the nearest double (ties to even). Infinities
 * and NaNs are counted apart: a sum with a NaN, or with both infinities, rounds to NaN; with one
 * kind of infinity, to that infinity.
 *
 *     mb_superacc a;
 *     mb_sacc_zero(&a, 1);
 *     mb_sacc_add(&a, 1e308); mb_sacc_add(&a, 1e-300); mb_sacc_add(&a, -1e308);
 *     double s = mb_sacc_round(&a);          // exactly 1e-300
 *
 * Not collective; no allocation; no MPI (src/comm/repro.c sums accumulators across ranks).
 */
#pragma once

#include <stdint.h>

#define MB_SACC_DIGITS 68                   /* base-2^32 digits, the last one signed */
#define MB_SACC_WORDS  (MB_SACC_DIGITS + 4) /* + pending adds, +Inf, -Inf and NaN counts */

typedef struct mb_superacc {
    int64_t w[MB_SACC_WORDS];
} mb_superacc;

/* Set n accumulators to exact zero. */
void mb_sacc_zero(mb_superacc *a, int64_t n);
/* *a += x, exactly. */
void mb_sacc_add(mb_superacc *a, double x);
/* a[i] += x[i] for i < n, exactly. */
void mb_sacc_add_vec(mb_superacc *a, const double *x, int64_t n);
/* *a += *b, exactly. */
void mb_sacc_merge(mb_superacc *a, const mb_superacc *b);
/* Propagate carries: every digit but the top one in [0, 2^32); the value is unchanged. Needed
 * before summing accumulators word by word (src/comm/repro.c does it). */
void mb_sacc_normalize(mb_superacc *a);
/* The same with balanced digits: every digit but the top in [-2^31, 2^31), so that a small sum,
 * negative or not, has only a few nonzero digits (src/comm/repro.c sends just those). The sums of
 * balanced accumulators of up to 2^31 ranks cannot overflow either. */
void mb_sacc_balance(mb_superacc *a);
/* The exact sum rounded to the nearest double, ties to even (+0 for an exact zero; +-Inf past
 * the double range). */
double mb_sacc_round(const mb_superacc *a);
/* out[i] = mb_sacc_round(&a[i]) for i < n. */
void mb_sacc_round_vec(const mb_superacc *a, int64_t n, double *out);
