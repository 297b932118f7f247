/* rng.c - counter-based hashing, uniform and normal draws, and keyed Feistel permutations. */
#include "mbatch/rng.h"

#include <math.h>

/* The splitmix64 finalizer (Stafford's "mix13"): a bijection of 64-bit words in which every
 * input bit flips every output bit with probability close to 1/2. */
static uint64_t mix64(uint64_t z) {
    z ^= z >> 30;
    z *= UINT64_C(0xbf58476d1ce4e5b9);
    z ^= z >> 27;
    z *= UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return z;
}

#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)
/* M_PI is not in strict C11. */
#define TWO_PI 6.283185307179586476925286766559

uint64_t mb_rng_u64(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b) {
    /* Absorb one word at a time and remix, so that (seed, purpose, a, b) and any permutation of
     * the same words land on unrelated outputs; the distinct additive constants keep a zero word
     * from being a fixed point of the chain. */
    uint64_t h = mix64(seed + GOLDEN);
    h = mix64(h ^ (purpose + 2 * GOLDEN));
    h = mix64(h ^ (a + 3 * GOLDEN));
    h = mix64(h ^ (b + 4 * GOLDEN));
    return h;
}

static double to_unit(uint64_t h) {
    return (double)(h >> 11) * 0x1.0p-53;
}

double mb_rng_uniform(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b) {
    return to_unit(mb_rng_u64(seed, purpose, a, b));
}

double mb_rng_normal(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b) {
    uint64_t h = mb_rng_u64(seed, purpose, a, b);
    /* 1 - u lies in (0, 1], so the logarithm is finite. */
    double u1 = 1.0 - to_unit(h);
    double u2 = to_unit(mix64(h ^ GOLDEN));
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

void mb_perm_init(mb_perm *p, uint64_t n, uint64_t seed, uint64_t purpose, uint64_t round_key) {
    /* The Feistel domain is 2^(2h) >= n with the smallest h >= 1, so it is less than 4n (for
     * n > 1) and cycle walking needs fewer than four rounds of the network on average. */
    uint64_t half = 1;
    while (half < 32 && (n - 1) >> (2 * half) != 0) half++;
    if (n == 0) half = 1;
    p->n = n;
    p->half_bits = half;
    p->half_mask = half >= 32 ? UINT64_C(0xffffffff) : (UINT64_C(1) << half) - 1;
    for (uint64_t r = 0; r < 4; r++) p->keys[r] = mb_rng_u64(seed, purpose, round_key, r);
}

/* One finalizer per round: the round keys already carry (seed, purpose, round_key, round), and
 * mix64 of key ^ half is a different bijection of half for every key. The per-epoch order of a
 * million samples costs a fraction of an epoch this way (four chained hashes per round took
 * as long as the epoch's gradients). */
static uint64_t round_fn(const mb_perm *p, int r, uint64_t half) {
    return mix64(p->keys[r] ^ half) & p->half_mask;
}

static uint64_t feistel_fwd(const mb_perm *p, uint64_t x) {
    uint64_t l = x >> p->half_bits, r = x & p->half_mask;
    for (int k = 0; k < 4; k++) {
        uint64_t t = r;
        r = l ^ round_fn(p, k, r);
        l = t;
    }
    return (l << p->half_bits) | r;
}

static uint64_t feistel_inv(const mb_perm *p, uint64_t x) {
    uint64_t l = x >> p->half_bits, r = x & p->half_mask;
    for (int k = 3; k >= 0; k--) {
        uint64_t t = l;
        l = r ^ round_fn(p, k, l);
        r = t;
    }
    return (l << p->half_bits) | r;
}

/* Cycle walking: the network permutes the whole power-of-two domain, and following the cycle
 * of an element of [0, n) until it re-enters [0, n) restricts it to a bijection of [0, n). */
uint64_t mb_perm_fwd(const mb_perm *p, uint64_t i) {
    if (p->n <= 1) return i;
    uint64_t x = feistel_fwd(p, i);
    while (x >= p->n) x = feistel_fwd(p, x);
    return x;
}

uint64_t mb_perm_inv(const mb_perm *p, uint64_t x) {
    if (p->n <= 1) return x;
    uint64_t i = feistel_inv(p, x);
    while (i >= p->n) i = feistel_inv(p, i);
    return i;
}

/* The body of mb_perm_inv_range, compiled twice: where the CPU has AVX-512 (64-bit lane
 * multiplies) the eight networks run in one vector. */
__attribute__((always_inline)) static inline void
perm_inv_range_body(const mb_perm *p, uint64_t x0, int64_t count, uint64_t *out) {
    enum { W = 8 };
    int64_t i = 0;
    if (p->n > 1)
        for (; i + W <= count; i += W) {
            uint64_t l[W], r[W];
            for (int u = 0; u < W; u++) {
                l[u] = (x0 + (uint64_t)(i + u)) >> p->half_bits;
                r[u] = (x0 + (uint64_t)(i + u)) & p->half_mask;
            }
            for (int k = 3; k >= 0; k--)
                for (int u = 0; u < W; u++) {
                    uint64_t t = l[u];
                    l[u] = r[u] ^ round_fn(p, k, l[u]);
                    r[u] = t;
                }
            for (int u = 0; u < W; u++) {
                uint64_t v = (l[u] << p->half_bits) | r[u];
                while (v >= p->n) v = feistel_inv(p, v); /* the rare cycle walk, one at a time */
                out[i + u] = v;
            }
        }
    for (; i < count; i++) out[i] = mb_perm_inv(p, x0 + (uint64_t)i);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void
perm_inv_range_avx512(const mb_perm *p, uint64_t x0, int64_t count, uint64_t *out) {
    perm_inv_range_body(p, x0, count, out);
}
#endif

void mb_perm_inv_range(const mb_perm *p, uint64_t x0, int64_t count, uint64_t *out) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        perm_inv_range_avx512(p, x0, count, out);
        return;
    }
#endif
    perm_inv_range_body(p, x0, count, out);
}
