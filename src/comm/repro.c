/* repro.c - exact, rank-count-independent sums: accumulator words summed as integers. */
#include "mbatch/repro.h"

void mb_allreduce_superacc(const mb_comm *c, mb_superacc *a, int64_t n) {
    /* Normalized digits are below 2^32, so the integer sum of 2^31 ranks' words cannot overflow. */
    for (int64_t i = 0; i < n; i++) mb_sacc_normalize(&a[i]);
    if (c->size > 1 && n > 0) mb_allreduce_sum_i64(c, a[0].w, n * MB_SACC_WORDS);
    for (int64_t i = 0; i < n; i++) mb_sacc_normalize(&a[i]);
}

void mb_allreduce_exact(const mb_comm *c, mb_superacc *a, int64_t n, double *out) {
    mb_allreduce_superacc(c, a, n);
    mb_sacc_round_vec(a, n, out);
}
