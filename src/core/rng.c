/* rng.c - counter-based hashing, uniform and normal draws, and keyed Feistel permutations. */
#include "mbatch/rng.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

/* The splitmix64 finalizer (Stafford's "mix13"): a bijection of 64-bit words in which every
 * input bit flips every output bit with probability close to 1/2. */
#define MIX_M1 UINT64_C(0xbf58476d1ce4e5b9)
#define MIX_M2 UINT64_C(0x94d049bb133111eb)
static uint64_t mix64(uint64_t z) {
    z ^= z >> 30;
    z *= MIX_M1;
    z ^= z >> 27;
    z *= MIX_M2;
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

/* mb_perm_inv_range without AVX-512: eight networks side by side, which the compiler may
 * vectorize. */
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
/* round_fn of eight halves in one vector: mix64 lane by lane. */
__attribute__((target("avx512f,avx512dq,avx512vl"), always_inline)) static inline __m512i
round_fn8(__m512i key, __m512i half, __m512i mask) {
    __m512i z = _mm512_xor_si512(key, half);
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)MIX_M1));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)MIX_M2));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_and_si512(z, mask);
}

/* Where the CPU has AVX-512 (64-bit lane multiplies): eight networks in one vector, written as
 * vector operations (compiled with AVX-512 the body above stayed mostly scalar: 6.8 ns an
 * element over 900,000 elements, this 4.3). */
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void
perm_inv_range_avx512(const mb_perm *p, uint64_t x0, int64_t count, uint64_t *out) {
    int64_t i = 0;
    if (p->n > 1) {
        const __m512i mask = _mm512_set1_epi64((long long)p->half_mask),
                      n = _mm512_set1_epi64((long long)p->n),
                      lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        const __m128i bits = _mm_cvtsi64_si128((long long)p->half_bits);
        __m512i key[4];
        for (int k = 0; k < 4; k++) key[k] = _mm512_set1_epi64((long long)p->keys[k]);
        for (; i + 8 <= count; i += 8) {
            __m512i v = _mm512_add_epi64(_mm512_set1_epi64((long long)(x0 + (uint64_t)i)), lane);
            /* The network, then again on the lanes still outside [0, n) (the cycle walk). */
            for (__mmask8 m = 0xff; m; m = _mm512_cmpge_epu64_mask(v, n)) {
                __m512i l = _mm512_srl_epi64(v, bits), r = _mm512_and_si512(v, mask);
                for (int k = 3; k >= 0; k--) {
                    __m512i t = l;
                    l = _mm512_xor_si512(r, round_fn8(key[k], l, mask));
                    r = t;
                }
                v = _mm512_mask_mov_epi64(v, m, _mm512_or_si512(_mm512_sll_epi64(l, bits), r));
            }
            _mm512_storeu_si512((void *)(out + i), v);
        }
    }
    for (; i < count; i++) out[i] = mb_perm_inv(p, x0 + (uint64_t)i);
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
