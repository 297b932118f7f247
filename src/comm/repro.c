/* repro.c - exact, rank-count-independent sums: accumulator words summed as integers. */
#include "mbatch/repro.h"

#define DIGITS MB_SACC_DIGITS
#define WORDS  MB_SACC_WORDS

/* Lowest and highest digit of a that is not zero (lo > hi when a is zero). */
static void digit_range(const mb_superacc *a, int64_t *lo, int64_t *hi) {
    *lo = DIGITS;
    *hi = -1;
    for (int64_t k = 0; k < DIGITS; k++)
        if (a->w[k]) {
            *lo = k;
            break;
        }
    for (int64_t k = DIGITS - 1; k >= *lo; k--)
        if (a->w[k]) {
            *hi = k;
            break;
        }
}

void mb_allreduce_superacc(const mb_comm *c, mb_superacc *a, int64_t n) {
    if (c->size == 1 || n <= 0) return;
    /* Balanced digits are at most 2^31 in magnitude, so the integer sum of 2^31 ranks' words
     * cannot overflow, and a small sum of either sign occupies only a few words. */
    for (int64_t i = 0; i < n; i++) mb_sacc_balance(&a[i]);
    /* A sum's digits usually span a handful of the 68 words: agree on the span of all of them
     * (one small allreduce) and send only that, unless infinities or NaNs are about. */
    int64_t span[3] = {DIGITS, 0, 0}; /* lowest digit, -highest digit, -(specials seen) */
    for (int64_t i = 0; i < n; i++) {
        int64_t lo, hi;
        digit_range(&a[i], &lo, &hi);
        if (lo < span[0]) span[0] = lo;
        if (-hi < span[1]) span[1] = -hi;
        if (a[i].w[DIGITS + 1] || a[i].w[DIGITS + 2] || a[i].w[DIGITS + 3]) span[2] = -1;
    }
    mb_allreduce_min_i64(c, span, 3);
    int64_t lo = span[0], hi = -span[1], width = hi - lo + 1;
    if (width <= 0 && span[2] == 0) return; /* zero everywhere */
    /* The accumulators as one array of words (the struct is nothing but words). */
    int64_t *flat = (int64_t *)(void *)a;
    if (span[2] != 0 || width >= DIGITS) {
        mb_allreduce_sum_i64(c, flat, n * WORDS);
    } else {
        /* Pack digits lo..hi of each accumulator to the front, in place: a destination index
         * never passes its source, so the forward copy reads every word before it is written.
         * Every other word is zero on every rank (pending adds too, after balancing). */
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < width; k++) flat[i * width + k] = flat[i * WORDS + lo + k];
        mb_allreduce_sum_i64(c, flat, n * width);
        for (int64_t i = n - 1; i >= 0; i--)
            for (int64_t k = width - 1; k >= 0; k--) flat[i * WORDS + lo + k] = flat[i * width + k];
        for (int64_t i = 0; i < n; i++) {
            for (int64_t k = 0; k < lo; k++) a[i].w[k] = 0;
            for (int64_t k = hi + 1; k < WORDS; k++) a[i].w[k] = 0;
        }
    }
}

void mb_allreduce_exact(const mb_comm *c, mb_superacc *a, int64_t n, double *out) {
    mb_allreduce_superacc(c, a, n);
    mb_sacc_round_vec(a, n, out);
}
