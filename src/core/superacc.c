/* superacc.c - exact summation of doubles in a base-2^32 fixed-point integer accumulator. */
#include "mbatch/superacc.h"

#include <math.h>
#include <string.h>

#define DIG_MASK  0xffffffffULL
#define RADIX     4294967296LL /* 2^32 */
#define LOW_SHIFT 1088         /* digit 0 weighs 2^-1088 */
#define PENDING   MB_SACC_DIGITS
#define POS_INF   (MB_SACC_DIGITS + 1)
#define NEG_INF   (MB_SACC_DIGITS + 2)
#define NOT_NUM   (MB_SACC_DIGITS + 3)
/* Adds between carry propagations: each moves a digit word by less than 2^32, so words stay
 * below 2^62 in magnitude. */
#define MAX_PENDING (1LL << 30)

void mb_sacc_zero(mb_superacc *a, int64_t n) {
    if (n > 0) memset(a, 0, sizeof *a * (size_t)n);
}

void mb_sacc_normalize(mb_superacc *a) {
    int64_t *w = a->w;
    for (int i = 0; i < MB_SACC_DIGITS - 1; i++) {
        /* Floor division by 2^32 without relying on the sign behaviour of >>. */
        int64_t low = (int64_t)((uint64_t)w[i] & DIG_MASK);
        int64_t carry = (w[i] - low) / RADIX;
        w[i] = low;
        w[i + 1] += carry;
    }
    w[PENDING] = 0;
}

void mb_sacc_balance(mb_superacc *a) {
    int64_t *w = a->w;
    int lo = 0, hi = MB_SACC_DIGITS - 1;
    while (lo < MB_SACC_DIGITS && w[lo] == 0) lo++;
    while (hi > lo && w[hi] == 0) hi--;
    /* Zero digits below lo stay zero; above hi, the carry chain ends at the first digit that is
     * already balanced. */
    for (int i = lo; i < MB_SACC_DIGITS - 1; i++) {
        int64_t low = (int64_t)((uint64_t)w[i] & DIG_MASK);
        if (low >= RADIX / 2) low -= RADIX;
        if (i > hi && low == w[i]) break;
        int64_t carry = (w[i] - low) / RADIX;
        w[i] = low;
        w[i + 1] += carry;
    }
    w[PENDING] = 0;
}

void mb_sacc_add(mb_superacc *a, double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int neg = (int)(bits >> 63);
    int ex = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    if (ex == 0x7ff) {
        a->w[m ? NOT_NUM : neg ? NEG_INF : POS_INF]++;
        return;
    }
    if (m == 0 && ex == 0) return; /* +-0 */
    int e;                         /* x = m * 2^e */
    if (ex == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = ex - 1075;
    }
    int p = e + LOW_SHIFT; /* >= 14 */
    int i = p >> 5, s = p & 31;
    int64_t d0 = (int64_t)((m << s) & DIG_MASK);
    uint64_t rest = m >> (32 - s);
    int64_t d1 = (int64_t)(rest & DIG_MASK), d2 = (int64_t)(rest >> 32);
    int64_t *w = a->w + i;
    if (neg) {
        w[0] -= d0;
        w[1] -= d1;
        w[2] -= d2;
    } else {
        w[0] += d0;
        w[1] += d1;
        w[2] += d2;
    }
    if (++a->w[PENDING] >= MAX_PENDING) mb_sacc_normalize(a);
}

void mb_sacc_add_vec(mb_superacc *a, const double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) mb_sacc_add(&a[i], x[i]);
}

void mb_sacc_merge(mb_superacc *a, const mb_superacc *b) {
    if (a->w[PENDING] + b->w[PENDING] + 1 >= MAX_PENDING) mb_sacc_normalize(a);
    /* b's words are below (pending + 1) * 2^32 and a's now below 2^62: no overflow. */
    for (int i = 0; i < MB_SACC_DIGITS; i++) a->w[i] += b->w[i];
    a->w[PENDING] += b->w[PENDING] + 1;
    for (int i = POS_INF; i <= NOT_NUM; i++) a->w[i] += b->w[i];
    if (a->w[PENDING] >= MAX_PENDING) mb_sacc_normalize(a);
}

/* Bits [pos, pos + 64) of the magnitude held in 32-bit digits dig[] (zero-padded above). */
static uint64_t window64(const uint64_t *dig, int pos) {
    int k = pos >> 5, s = pos & 31;
    uint64_t v = (dig[k] | dig[k + 1] << 32) >> s;
    if (s) v |= dig[k + 2] << (64 - s);
    return v;
}

/* Carry through t[0 .. n) so that t[0 .. n-1) are balanced digits in [-2^31, 2^31) (balanced)
 * or plain digits in [0, 2^32); t[n-1] takes the rest, signed. */
static void carry(int64_t *t, int n, int balanced) {
    for (int i = 0; i < n - 1; i++) {
        int64_t low = (int64_t)((uint64_t)t[i] & DIG_MASK);
        if (balanced && low >= RADIX / 2) low -= RADIX;
        int64_t c = (t[i] - low) / RADIX;
        t[i] = low;
        t[i + 1] += c;
    }
}

double mb_sacc_round(const mb_superacc *acc) {
    if (acc->w[NOT_NUM] || (acc->w[POS_INF] && acc->w[NEG_INF])) return NAN;
    if (acc->w[POS_INF]) return INFINITY;
    if (acc->w[NEG_INF]) return -INFINITY;
    /* Work on the nonzero digits only (a sum usually spans a few of the 68), two zero digits
     * below them and three above for carries: words below 2^62 carry less than 2^30 upwards. */
    int lo = 0, hi = MB_SACC_DIGITS - 1;
    while (lo < MB_SACC_DIGITS && acc->w[lo] == 0) lo++;
    if (lo == MB_SACC_DIGITS) return 0.0;
    while (acc->w[hi] == 0) hi--;
    int base = lo >= 2 ? lo - 2 : 0, n = hi - base + 4;
    int64_t t[MB_SACC_DIGITS + 8];
    for (int i = 0; i < n; i++) t[i] = i + base >= lo && i + base <= hi ? acc->w[i + base] : 0;
    /* Balanced digits: the sign is the sign of the highest nonzero one. */
    carry(t, n, 1);
    int h = n - 1;
    while (h >= 0 && t[h] == 0) h--;
    if (h < 0) return 0.0;
    int neg = t[h] < 0;
    if (neg)
        for (int i = 0; i < n; i++) t[i] = -t[i];
    carry(t, n, 0); /* a positive value: plain digits, the top one >= 0 and below 2^32 */
    /* The magnitude as plain 32-bit digits, zero-padded above for window reads. */
    uint64_t dig[MB_SACC_DIGITS + 8];
    for (int i = 0; i < n + 3; i++) dig[i] = i < n ? (uint64_t)t[i] : 0;
    h = n - 1;
    while (h >= 0 && dig[h] == 0) h--;
    if (h < 0) return 0.0;
    int lead = 31;
    while (!(dig[h] >> lead)) lead--;
    /* Bit positions below are counted from digit 0 of the accumulator (weight 2^-1088). */
    int off = 32 * base, t_bit = off + 32 * h + lead;                      /* the leading bit */
    int u = t_bit - 52 > LOW_SHIFT - 1074 ? t_bit - 52 : LOW_SHIFT - 1074; /* the last kept bit */
    int nbits = t_bit - u + 1;                                             /* <= 53 */
    /* u - off >= 11: the value's top bit is at or above digit lo, two digits above base. */
    uint64_t q = window64(dig, u - off) & ((1ULL << nbits) - 1);
    int r = u - 1 - off; /* the rounding bit, >= 10 */
    int half = (int)((dig[r >> 5] >> (r & 31)) & 1);
    int sticky = (dig[r >> 5] & ((1ULL << (r & 31)) - 1)) != 0;
    for (int i = 0; !sticky && i < (r >> 5); i++) sticky = dig[i] != 0;
    if (half && (sticky || (q & 1))) q++;
    double v = ldexp((double)q, u - LOW_SHIFT);
    return neg ? -v : v;
}

void mb_sacc_round_vec(const mb_superacc *a, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = mb_sacc_round(&a[i]);
}
