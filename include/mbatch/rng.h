/* rng.h - counter-based randomness: every draw is a pure function of (seed, counters).
 *
 * Nothing here keeps state between calls, so the shuffle of any epoch, the train/validation
 * split or a generated dataset row can be recomputed anywhere (any rank, after a resume)
 * without replaying earlier draws. Not collective; no allocation.
 */
#pragma once

#include <stdint.h>

/* Purposes keep streams with the same seed independent. Append-only. */
enum { MB_RNG_SPLIT = 1, MB_RNG_SHUFFLE = 2, MB_RNG_GEN = 3, MB_RNG_INIT = 4, MB_RNG_SWEEP = 5 };

/* A 64-bit hash of (seed, purpose, a, b) with full avalanche. */
uint64_t mb_rng_u64(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
/* Uniform in [0, 1), 53 random bits. */
double mb_rng_uniform(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
/* Standard normal (Box-Muller on two derived uniforms). */
double mb_rng_normal(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);

/* A pseudo-random bijection of [0, n) (Feistel network with cycle walking), keyed on
 * (seed, purpose, round_key). Forward and inverse are O(1) expected, no memory. */
typedef struct mb_perm {
    uint64_t n;         /* domain size */
    uint64_t half_bits; /* bits per Feistel half */
    uint64_t half_mask;
    uint64_t keys[4];
} mb_perm;

void mb_perm_init(mb_perm *p, uint64_t n, uint64_t seed, uint64_t purpose, uint64_t round_key);
uint64_t mb_perm_fwd(const mb_perm *p, uint64_t i); /* position -> element */
uint64_t mb_perm_inv(const mb_perm *p, uint64_t x); /* element -> position */
/* out[i] = mb_perm_inv(p, x0 + i) for i in [0, count): the same values, eight networks at a
 * time so their multiply chains overlap (about five times the rate of single calls). */
void mb_perm_inv_range(const mb_perm *p, uint64_t x0, int64_t count, uint64_t *out);
