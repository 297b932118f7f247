/* kernel.c - fused gradient kernel over float64 or float32 rows, in place or gathered by index. */
#include "mbatch/kernel.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MB_HAVE_AVX2_PATH 1
#endif

int64_t mb_dtype_size(mb_dtype dt) {
    return dt == MB_DTYPE_F32 ? (int64_t)sizeof(float) : (int64_t)sizeof(double);
}

int64_t mb_kernel_work_size(int64_t d, int64_t k) {
    /* A gathered chunk of rows and its labels, then mb_model_grad's own workspace. */
    return MB_MODEL_CHUNK * d + MB_MODEL_CHUNK + mb_model_work_size(k);
}

void mb_dtype_store(mb_dtype dt, const double *src, int64_t n, void *dst) {
    if (dt == MB_DTYPE_F32) {
        float *f = dst;
        for (int64_t i = 0; i < n; i++) f[i] = (float)src[i];
    } else {
        memcpy(dst, src, sizeof(double) * (size_t)n);
    }
}

/* Every 64-byte line of [x, x + bytes) requested into L2 (prefetcht1) or into L1 (prefetcht0). */
static inline void prefetch_l2(const void *x, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch((const char *)x + o, 0, 2);
}
static inline void prefetch_l1(const void *x, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch((const char *)x + o, 0, 3);
}

/* Whether gathered row idx[k] continues a run of consecutive rows: the hardware prefetcher's,
 * which streams it faster than requests do. */
static inline int continues_run(const int64_t *idx, int64_t k) {
    return k > 0 && idx[k] == idx[k - 1] + 1;
}

/* How many rows ahead mb_gather_rows requests a scattered row, into L2 (prefetcht1): 1M x 64
 * float64, rows shuffled one by one, B = 256: 150 ns a row without, 54-58 with (into L1,
 * prefetcht0: 96-114). */
enum { GATHER_AHEAD = 8 };

void mb_gather_rows(const void *X, mb_dtype dt, const double *y, const int64_t *idx, int64_t n,
                    int64_t d, double *out, double *yout) {
    int f32 = dt == MB_DTYPE_F32;
    int64_t rowbytes = d * mb_dtype_size(dt);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i + GATHER_AHEAD;
        if (k < n && !continues_run(idx, k)) {
            prefetch_l2((const char *)X + idx[k] * rowbytes, rowbytes);
            if (y) __builtin_prefetch(y + idx[k], 0, 3);
        }
        double *o = out + i * d;
        if (f32) {
            const float *x = (const float *)X + idx[i] * d;
            for (int64_t j = 0; j < d; j++) o[j] = x[j];
        } else {
            memcpy(o, (const double *)X + idx[i] * d, sizeof(double) * (size_t)d);
        }
        if (y) yout[i] = y[idx[i]];
    }
}

/* The logistic residual and loss of one row, written as a fixed sequence of IEEE operations
 * (no libm) so that four rows at a time in AVX2 lanes give exactly the same bits:
 * e = e^-|z| (2^k times a degree-13 polynomial, e = 0 below 2^-1021, where it no longer shows
 * in any sum), then the sigmoid from e, and log(1 + e^z) = max(z, 0) + log1p(e) with log1p as
 * log(1 + e) plus the rounding correction of 1 + e. The log(1 + e) of the rows are not taken
 * one by one: 1 + e is in [1, 2], so their product is kept instead (struct log_prod), and one
 * log at the end of a call gives their sum, log by 2 atanh((f - 1) / (f + 1)). Both agree with
 * libm to a few units in the last place. */
#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
#define LOG2E  0x1.71547652b82fep0
static const double EXP_C[14] = {1.0,
                                 1.0,
                                 1.0 / 2,
                                 1.0 / 6,
                                 1.0 / 24,
                                 1.0 / 120,
                                 1.0 / 720,
                                 1.0 / 5040,
                                 1.0 / 40320,
                                 1.0 / 362880,
                                 1.0 / 3628800,
                                 1.0 / 39916800,
                                 1.0 / 479001600,
                                 1.0 / 6227020800};
static const double ATANH_C[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                   1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};

/* c[0] + c[1] x + ... + c[n-1] x^(n-1) (n <= 16) by Estrin's scheme: pairs fma(c[2i+1], x, c[2i]),
 * then pairs of those in x^2, then in x^4, ..., an odd one out moving up a level as it is. The
 * dependency chains are short, so the lanes' exp and log overlap the kernel's other work. */
__attribute__((always_inline)) static inline double estrin(const double *c, int n, double x) {
    double a[8];
    int m = (n + 1) / 2;
#pragma GCC unroll 8
    for (int i = 0; i < m; i++) a[i] = 2 * i + 1 < n ? fma(c[2 * i + 1], x, c[2 * i]) : c[2 * i];
#pragma GCC unroll 4
    for (double p = x * x; m > 1; p *= p) {
        int k = 0;
#pragma GCC unroll 4
        for (int i = 0; i + 1 < m; i += 2) a[k++] = fma(a[i + 1], p, a[i]);
        if (m % 2) a[k++] = a[m - 1];
        m = k;
    }
    return a[0];
}

/* The sum of log(d) over factors d in [1, 2], as a product in four lanes (row q of a block of
 * eight goes to lane q % 4, rows 0-3 before rows 4-7): p in [1, 2) after each block, its
 * exponent moved to k. Rounding adds about an ulp of p per factor, so the sum is off by about
 * 1e-16 per row, less than summing the rows' losses already is; and the loop spends no log, no
 * division and no series per row (64 features in L2: 46 cycles a row instead of 50-51). */
typedef struct {
    double p[4];
    int64_t k[4];
} log_prod;

static void log_prod_init(log_prod *lp) {
    for (int l = 0; l < 4; l++) lp->p[l] = 1.0, lp->k[l] = 0;
}

/* Each lane's exponent into k, its p back to [1, 2) (a lane's p is in [1, 8) here). */
static void log_prod_normalize(log_prod *lp) {
    for (int l = 0; l < 4; l++) {
        uint64_t bits;
        memcpy(&bits, &lp->p[l], sizeof bits);
        lp->k[l] += (int64_t)(bits >> 52) - 1023;
        bits = (bits & 0xfffffffffffffull) | 0x3ff0000000000000ull;
        memcpy(&lp->p[l], &bits, sizeof bits);
    }
}

/* The sum of the logs of every factor: log(p) + k log 2 in each lane, the lanes as
 * (l0 + l1) + (l2 + l3). */
__attribute__((always_inline)) static inline double log_prod_sum(const log_prod *lp) {
    double v[4];
    for (int l = 0; l < 4; l++) {
        double f = lp->p[l], k = (double)lp->k[l];
        if (f > 0x1.6a09e667f3bcdp0) f *= 0.5, k += 1.0; /* sqrt(2) */
        double sv = (f - 1.0) / (f + 1.0);
        double q = estrin(ATANH_C, 12, sv * sv);
        v[l] = fma(k, LN2_HI, fma(k, LN2_LO, (sv + sv) * q));
    }
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* A row's residual into *r and 1 + e into *den; returns its loss less log(1 + e). */
static double logistic_row(double z, double y, double *r, double *den_out) {
    double a = fabs(z), x = -a;
    double kf = nearbyint(x * LOG2E);
    double rr = fma(kf, -LN2_HI, x);
    rr = fma(kf, -LN2_LO, rr);
    double p = estrin(EXP_C, 14, rr);
    int64_t k = isnan(kf) ? 0 : (int64_t)kf;
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double e = a > 708.0 ? 0.0 : p * scale;
    double den = 1.0 + e, inv = 1.0 / den;
    *r = (z >= 0 ? 1.0 : e) * inv - y;
    double c = (e - (den - 1.0)) * inv;
    double zp = z > 0 ? z : 0.0;
    *den_out = den;
    return (zp - y * z) + c;
}

/* Loss of one row given its score (logistic: less log(1 + e), which goes into lp at lane);
 * *r receives dLoss/dz. */
static inline double row_residual(mb_model_type type, double z, double y, double *r, log_prod *lp,
                                  int lane) {
    if (type == MB_MODEL_LINEAR) {
        double diff = z - y;
        *r = diff;
        return 0.5 * diff * diff;
    }
    double den, rest = logistic_row(z, y, r, &den);
    lp->p[lane] *= den;
    return rest;
}

static inline const void *row_ptr(const void *X, int f32, int64_t row, int64_t d) {
    return f32 ? (const void *)((const float *)X + row * d)
               : (const void *)((const double *)X + row * d);
}

static inline double elem(const void *x, int f32, int64_t j) {
    return f32 ? (double)((const float *)x)[j] : ((const double *)x)[j];
}

/* The portable path: exactly the operations of the AVX2 path, lane by lane.
 *
 * Rows go eight to a block. The dot of a row sums element j into lane j % 4 of accumulator
 * (j / 4) % 4 (a partial last group of four padded with zeros), adds the accumulators lane by
 * lane as (a0 + a1) + (a2 + a3) and the lanes as (l0 + l1) + (l2 + l3), then the bias. A block
 * updates g in one pass: g[j] + (p + s), p = r0 x0[j] then three fused multiply-adds of rows
 * 1-3, s likewise over rows 4-7. A short block is padded with its first row and a residual of 0. */
enum { BLK = 8 };

static double dot_portable(const void *x, int f32, const double *w, int64_t d) {
    double a[4][4] = {{0}};
    for (int64_t j = 0; j < d; j += 4) {
        int u = (int)((j / 4) % 4);
        for (int l = 0; l < 4; l++) {
            double xv = j + l < d ? elem(x, f32, j + l) : 0.0;
            double wv = j + l < d ? w[j + l] : 0.0;
            a[u][l] = fma(xv, wv, a[u][l]);
        }
    }
    double v[4];
    for (int l = 0; l < 4; l++) v[l] = (a[0][l] + a[1][l]) + (a[2][l] + a[3][l]);
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* Element j of a pass's update: g[j] + (p + s). */
static double pass_elem(const void *const *xs, const double *r, int f32, int64_t j, double gj) {
    double p = r[0] * elem(xs[0], f32, j), s = r[4] * elem(xs[4], f32, j);
    for (int q = 1; q < 4; q++) {
        p = fma(r[q], elem(xs[q], f32, j), p);
        s = fma(r[4 + q], elem(xs[4 + q], f32, j), s);
    }
    return gj + (p + s);
}

static double grad_k1_portable(mb_model_type type, const void *X, int f32, const double *y,
                               const int64_t *idx, int64_t rows, int64_t d, const double *theta,
                               double *g, double *metric) {
    double loss = 0, b = theta[d];
    log_prod lp;
    log_prod_init(&lp);
    for (int64_t i0 = 0; i0 < rows; i0 += BLK) {
        int nr = rows - i0 < BLK ? (int)(rows - i0) : BLK;
        const void *xs[BLK];
        double r[BLK] = {0};
        for (int q = 0; q < BLK; q++) {
            int64_t row = q < nr ? (idx ? idx[i0 + q] : i0 + q) : -1;
            xs[q] = q < nr ? row_ptr(X, f32, row, d) : xs[0];
            if (q < nr) {
                double z = dot_portable(xs[q], f32, theta, d) + b;
                loss += row_residual(type, z, y[row], &r[q], &lp, q % 4);
                if (metric) *metric += mb_model_row_metric(type, z, y[row]);
            }
        }
        if (type == MB_MODEL_LOGISTIC) log_prod_normalize(&lp);
        if (metric) continue; /* an evaluation: no gradient */
        for (int64_t j = 0; j < d; j++) g[j] = pass_elem(xs, r, f32, j, g[j]);
        for (int q = 0; q < nr; q++) g[d] += r[q];
    }
    return type == MB_MODEL_LOGISTIC ? loss + log_prod_sum(&lp) : loss;
}

#ifdef MB_HAVE_AVX2_PATH
#define MB_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

/* Four elements of a row, widened to double. */
MB_AVX2 __m256d load4(const void *x, int f32, int64_t j) {
    if (f32) return _mm256_cvtps_pd(_mm_loadu_ps((const float *)x + j));
    return _mm256_loadu_pd((const double *)x + j);
}

/* The first n (< 4) elements at j, the rest 0. */
MB_AVX2 __m256d load_part(const void *x, int f32, int64_t j, int64_t n) {
    __m256i m64 = _mm256_setr_epi64x(n > 0 ? -1 : 0, n > 1 ? -1 : 0, n > 2 ? -1 : 0, 0);
    if (f32) {
        __m128i m32 = _mm_setr_epi32(n > 0 ? -1 : 0, n > 1 ? -1 : 0, n > 2 ? -1 : 0, 0);
        return _mm256_cvtps_pd(_mm_maskload_ps((const float *)x + j, m32));
    }
    return _mm256_maskload_pd((const double *)x + j, m64);
}

/* acc + the group of four at j (a part at the row's end padded with 0s; none past the end). */
MB_AVX2 __m256d dot_group(const void *x, int f32, const double *w, int64_t j, int64_t d,
                          __m256d acc) {
    if (j >= d) return acc;
    int64_t n = d - j < 4 ? d - j : 4;
    return _mm256_fmadd_pd(n == 4 ? load4(x, f32, j) : load_part(x, f32, j, n),
                           n == 4 ? _mm256_loadu_pd(w + j) : load_part(w, 0, j, n), acc);
}

/* The four lanes of one row's dot, as dot_portable before its last two additions. The row is
 * read from start to end: the hardware prefetcher streams such reads from memory at full speed,
 * and loses its way when two or more rows are read side by side (measured: 3 times slower per
 * row from memory). Four accumulators keep each dependency chain a quarter of the row long. */
MB_AVX2 __m256d dot_lanes(const void *x, int f32, const double *w, int64_t d) {
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
    int64_t j = 0;
    for (; j + 16 <= d; j += 16) {
        a[0] = _mm256_fmadd_pd(load4(x, f32, j), _mm256_loadu_pd(w + j), a[0]);
        a[1] = _mm256_fmadd_pd(load4(x, f32, j + 4), _mm256_loadu_pd(w + j + 4), a[1]);
        a[2] = _mm256_fmadd_pd(load4(x, f32, j + 8), _mm256_loadu_pd(w + j + 8), a[2]);
        a[3] = _mm256_fmadd_pd(load4(x, f32, j + 12), _mm256_loadu_pd(w + j + 12), a[3]);
    }
    /* What is left: up to three groups of four and a part, into accumulators 0, 1, 2, 3. */
    if (j < d) {
        a[0] = dot_group(x, f32, w, j, d, a[0]);
        a[1] = dot_group(x, f32, w, j + 4, d, a[1]);
        a[2] = dot_group(x, f32, w, j + 8, d, a[2]);
        a[3] = dot_group(x, f32, w, j + 12, d, a[3]);
    }
    return _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3]));
}

/* The dots of four rows from their lanes: (l0 + l1) + (l2 + l3) each, plus the bias. */
MB_AVX2 __m256d dots4(__m256d v0, __m256d v1, __m256d v2, __m256d v3, __m256d b) {
    __m256d h01 = _mm256_hadd_pd(v0, v1), h23 = _mm256_hadd_pd(v2, v3); /* l0+l1 and l2+l3 */
    return _mm256_add_pd(_mm256_add_pd(_mm256_permute2f128_pd(h01, h23, 0x20),
                                       _mm256_permute2f128_pd(h01, h23, 0x31)),
                         b);
}

/* A block's pass over g: g[j] + (p + s) as in pass_elem. */
MB_AVX2 void pass8_avx2(const void *const *xs, const double *r, int f32, int64_t d, double *g) {
    const void *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    const void *x4 = xs[4], *x5 = xs[5], *x6 = xs[6], *x7 = xs[7];
    __m256d r0 = _mm256_set1_pd(r[0]), r1 = _mm256_set1_pd(r[1]), r2 = _mm256_set1_pd(r[2]),
            r3 = _mm256_set1_pd(r[3]), r4 = _mm256_set1_pd(r[4]), r5 = _mm256_set1_pd(r[5]),
            r6 = _mm256_set1_pd(r[6]), r7 = _mm256_set1_pd(r[7]);
    int64_t j = 0;
    for (; j + 4 <= d; j += 4) {
        __m256d p = _mm256_mul_pd(r0, load4(x0, f32, j)), s = _mm256_mul_pd(r4, load4(x4, f32, j));
        p = _mm256_fmadd_pd(r1, load4(x1, f32, j), p);
        s = _mm256_fmadd_pd(r5, load4(x5, f32, j), s);
        p = _mm256_fmadd_pd(r2, load4(x2, f32, j), p);
        s = _mm256_fmadd_pd(r6, load4(x6, f32, j), s);
        p = _mm256_fmadd_pd(r3, load4(x3, f32, j), p);
        s = _mm256_fmadd_pd(r7, load4(x7, f32, j), s);
        _mm256_storeu_pd(g + j, _mm256_add_pd(_mm256_loadu_pd(g + j), _mm256_add_pd(p, s)));
    }
    if (j < d) { /* the last 1-3 columns, lane by lane the same operations */
        int64_t n = d - j;
        __m256i m = _mm256_setr_epi64x(-1, n > 1 ? -1 : 0, n > 2 ? -1 : 0, 0);
        __m256d p = _mm256_mul_pd(r0, load_part(x0, f32, j, n)),
                s = _mm256_mul_pd(r4, load_part(x4, f32, j, n));
        p = _mm256_fmadd_pd(r1, load_part(x1, f32, j, n), p);
        s = _mm256_fmadd_pd(r5, load_part(x5, f32, j, n), s);
        p = _mm256_fmadd_pd(r2, load_part(x2, f32, j, n), p);
        s = _mm256_fmadd_pd(r6, load_part(x6, f32, j, n), s);
        p = _mm256_fmadd_pd(r3, load_part(x3, f32, j, n), p);
        s = _mm256_fmadd_pd(r7, load_part(x7, f32, j, n), s);
        _mm256_maskstore_pd(g + j, m,
                            _mm256_add_pd(_mm256_maskload_pd(g + j, m), _mm256_add_pd(p, s)));
    }
}

/* estrin in four lanes. */
MB_AVX2 __m256d estrin_avx2(const double *c, int n, __m256d x) {
    __m256d a[8];
    int m = (n + 1) / 2;
    for (int i = 0; i < m; i++)
        a[i] = 2 * i + 1 < n
                   ? _mm256_fmadd_pd(_mm256_set1_pd(c[2 * i + 1]), x, _mm256_set1_pd(c[2 * i]))
                   : _mm256_set1_pd(c[2 * i]);
#pragma GCC unroll 4
    for (__m256d p = _mm256_mul_pd(x, x); m > 1; p = _mm256_mul_pd(p, p)) {
        int k = 0;
#pragma GCC unroll 4
        for (int i = 0; i + 1 < m; i += 2) a[k++] = _mm256_fmadd_pd(a[i + 1], p, a[i]);
        if (m % 2) a[k++] = a[m - 1];
        m = k;
    }
    return a[0];
}

/* logistic_row in four lanes, operation for operation. */
MB_AVX2 __m256d logistic_avx2(__m256d z, __m256d y, __m256d *r, __m256d *den_out) {
    const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    __m256d a = _mm256_andnot_pd(_mm256_set1_pd(-0.0), z), x = _mm256_sub_pd(zero, a);
    __m256d kf = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(LOG2E)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d rr = _mm256_fmadd_pd(kf, _mm256_set1_pd(-LN2_HI), x);
    rr = _mm256_fmadd_pd(kf, _mm256_set1_pd(-LN2_LO), rr);
    __m256d p = estrin_avx2(EXP_C, 14, rr);
    /* kf is a whole number in [-1022, 0]: adding 1.5 * 2^52 leaves it in the low mantissa bits. */
    const __m256d magic = _mm256_set1_pd(0x1.8p52);
    __m256i k =
        _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(kf, magic)), _mm256_castpd_si256(magic));
    __m256d scale =
        _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(k, _mm256_set1_epi64x(1023)), 52));
    __m256d big = _mm256_cmp_pd(a, _mm256_set1_pd(708.0), _CMP_GT_OQ);
    __m256d e = _mm256_andnot_pd(big, _mm256_mul_pd(p, scale));
    __m256d den = _mm256_add_pd(one, e), inv = _mm256_div_pd(one, den);
    __m256d pos = _mm256_cmp_pd(z, zero, _CMP_GE_OQ);
    *r = _mm256_sub_pd(_mm256_mul_pd(_mm256_blendv_pd(e, one, pos), inv), y);
    __m256d c = _mm256_mul_pd(_mm256_sub_pd(e, _mm256_sub_pd(den, one)), inv);
    __m256d zp = _mm256_and_pd(_mm256_cmp_pd(z, zero, _CMP_GT_OQ), z);
    *den_out = den;
    return _mm256_add_pd(_mm256_sub_pd(zp, _mm256_mul_pd(y, z)), c);
}

/* log_prod_normalize on lanes p (p) and k (k). */
MB_AVX2 void log_prod_normalize_avx2(__m256d *p, __m256i *k) {
    __m256i bits = _mm256_castpd_si256(*p);
    *k = _mm256_add_epi64(*k,
                          _mm256_sub_epi64(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(1023)));
    *p = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0xfffffffffffffll)),
                        _mm256_set1_epi64x(0x3ff0000000000000ll)));
}

/* log_prod_sum with fma() as one instruction instead of a call into libm for each of its 60 or
 * so (the same bits: fma rounds once either way). It runs once a call, so once a batch: 1024
 * rows in L2 in batches of 256, 13.9 -> 13.6 us float64, 13.1 -> 12.5 us float32. */
__attribute__((target("avx2,fma"))) static double log_prod_sum_fma(const log_prod *lp) {
    return log_prod_sum(lp);
}

/* Rows idx[k0 .. k0 + PF_GROUP) (those before `rows`) into L2 and their labels into L1, except
 * the rows that are PF_GROUP or more rows into a run of consecutive rows. */
enum { PF_GROUP = 16 };
MB_AVX2 void prefetch_group(const void *X, int f32, const double *y, const int64_t *idx, int64_t k0,
                            int64_t rows, int64_t d, int64_t rowbytes) {
    for (int64_t k = k0; k < k0 + PF_GROUP && k < rows; k++) {
        if (k >= PF_GROUP && idx[k] == idx[k - PF_GROUP] + PF_GROUP) continue;
        prefetch_l2(row_ptr(X, f32, idx[k], d), rowbytes);
        __builtin_prefetch(y + idx[k], 0, 3);
    }
}

/* Gathered row idx[k], a block ahead, from L2 into L1, unless it continues a run (requesting
 * those too costs runs a third). */
MB_AVX2 void prefetch_next_block_row(const void *X, int f32, const int64_t *idx, int64_t k,
                                     int64_t rows, int64_t d, int64_t rowbytes) {
    if (k < rows && !continues_run(idx, k)) prefetch_l1(row_ptr(X, f32, idx[k], d), rowbytes);
}

MB_AVX2 double grad_k1_avx2_body(mb_model_type type, const void *X, int f32, int gathered, int sb,
                                 const double *y, const int64_t *idx, int64_t rows, int64_t d,
                                 const double *theta, double *g, double *metric) {
    /* metric non-NULL: an evaluation (mb_kernel_eval), no gradient: g is not touched. */
    double loss = 0, b = theta[d], gb = metric ? 0.0 : g[d];
    int64_t rowbytes = d * (f32 ? 4 : 8);
    __m256d lp = _mm256_set1_pd(1.0); /* log_prod's p and k in lanes */
    __m256i lk = _mm256_setzero_si256();
    /* Gathered rows are fetched into L2 sixteen at a time, a group ahead: at every sixteenth
     * row the next sixteen (a burst of misses keeps more of them in flight than one row at a
     * time: 70 vs 78-81 ns a row float64, 42 vs 50-53 float32 for scattered rows on this VM).
     * Rows that continue a run of consecutive rows (batch.shuffle_block) past its first sixteen
     * are left to the hardware prefetcher, which streams them faster. Each scattered row is
     * also moved on into L1 a block (eight rows) before its dot, so that the dot's loads do not
     * wait on L2 (scattered rows, 1M x 64: float64 62-64 -> 54-59 ns a row, float32 42 -> 34). */
    if (gathered) prefetch_group(X, f32, y, idx, 0, rows, d, rowbytes);
    /* sb rows (one or two blocks of eight) at a time: their dots (each row read start to end,
     * into L1), their residuals as sb / 4 independent vectors, then g updated block by block in
     * one pass each while the rows are still in L1. g, the loss, the bias and the log product
     * see the rows and blocks in order, as in the portable path, whatever sb.
     * float64 (sb = 8): a block's pass runs after the next block's residuals are started, so
     * the exp and log chains overlap the pass's multiply-adds. float32 (sb = 16 up to 128
     * features): the pass right after, and two blocks at once, whose four exp and log chains
     * overlap each other: 1M x 64 from memory, 12.0 instead of 13.3 ms a full-batch epoch, in
     * L2 38 cycles a row instead of 44. Measured and not taken: two blocks at once for float64
     * (with the pass deferred, 19 -> 33 ms from memory though 2-3 cycles faster in L2; without,
     * no faster), and deferring float32's pass (21 ms). */
    enum { SB = 2 * BLK }; /* sb: SB or BLK rows at a time */
    const void *xs[2][SB];
    double r[2][SB];
    int prev_nr = 0;
    for (int64_t i0 = 0; i0 < rows; i0 += sb) {
        int nr = rows - i0 < sb ? (int)(rows - i0) : sb, cur = (int)((i0 / sb) & 1);
        if (gathered && i0 % PF_GROUP == 0)
            prefetch_group(X, f32, y, idx, i0 + PF_GROUP, rows, d, rowbytes);
        const void **xc = xs[cur];
        double *rc = r[cur], ys[SB], ls[SB];
        __m256d v[SB];
        /* Labels of a full run of rows in place are read where they lie, not copied to ys
         * first (in L2, 64 features: float32 38.1 cycles a row instead of 39.7). */
        const double *yl = !gathered && nr == sb ? y + i0 : ys;
        /* The bound written so that full runs get a loop of constant length (1 cycle a row). */
        for (int q = 0; q < (nr == sb ? sb : nr); q++) {
            int64_t row = gathered ? idx[i0 + q] : i0 + q;
            if (gathered) prefetch_next_block_row(X, f32, idx, i0 + q + BLK, rows, d, rowbytes);
            xc[q] = row_ptr(X, f32, row, d);
            if (gathered || nr < sb) ys[q] = y[row];
            v[q] = dot_lanes(xc[q], f32, theta, d);
        }
        for (int q = nr; q < sb; q++) { /* padding of a short block (its first row, as the
                                         * portable path pads): four-lane residuals read it */
            xc[q] = xc[q < BLK || nr <= BLK ? 0 : BLK];
            ys[q] = 0.0;
            v[q] = _mm256_setzero_pd();
        }
        __m256d bv = _mm256_set1_pd(b);
        __m256d z4[SB / 4];
        for (int h = 0; h < sb / 4; h++)
            z4[h] = dots4(v[4 * h], v[4 * h + 1], v[4 * h + 2], v[4 * h + 3], bv);
        if (type == MB_MODEL_LOGISTIC) {
            for (int q = 0; q < nr; q += 4) {
                __m256d rv, den;
                _mm256_storeu_pd(ls + q,
                                 logistic_avx2(z4[q / 4], _mm256_loadu_pd(yl + q), &rv, &den));
                _mm256_storeu_pd(rc + q, rv);
                if (nr - q < 4) { /* a short block's padding lanes multiply by 1 */
                    __m256d pad = _mm256_cmp_pd(_mm256_setr_pd(0, 1, 2, 3),
                                                _mm256_set1_pd((double)(nr - q)), _CMP_GE_OQ);
                    den = _mm256_blendv_pd(den, _mm256_set1_pd(1.0), pad);
                }
                lp = _mm256_mul_pd(lp, den);
                /* After each block's factors, as the portable path does. */
                if (q % BLK == BLK - 4 || q + 4 >= nr) log_prod_normalize_avx2(&lp, &lk);
            }
        } else {
            double zs[SB];
            for (int h = 0; h < sb / 4; h++) _mm256_storeu_pd(zs + 4 * h, z4[h]);
            for (int q = 0; q < nr; q++) ls[q] = row_residual(type, zs[q], yl[q], &rc[q], NULL, 0);
        }
        if (metric) { /* an evaluation: the loss and the metric in row order, no gradient */
            for (int q = 0; q < nr && q < sb; q++) { /* q < sb: nr <= sb, for the compiler */
                loss += ls[q];
                *metric += mb_model_row_metric(type, z4[q / 4][q % 4], yl[q]);
            }
            continue;
        }
        for (int q = nr; q < sb; q++) rc[q] = 0.0;
        if (f32)
            for (int q = 0; q < nr; q += BLK) pass8_avx2(xc + q, rc + q, f32, d, g);
        else
            for (int q = 0; q < prev_nr; q += BLK) pass8_avx2(xs[!cur] + q, r[!cur] + q, f32, d, g);
        prev_nr = nr;
        for (int q = 0; q < nr; q++) loss += ls[q];
        for (int q = 0; q < nr; q++) gb += rc[q];
    }
    if (!metric && !f32 && rows > 0) {
        int last = (int)(((rows - 1) / sb) & 1);
        for (int q = 0; q < prev_nr; q += BLK) pass8_avx2(xs[last] + q, r[last] + q, f32, d, g);
    }
    if (!metric) g[d] = gb;
    if (type != MB_MODEL_LOGISTIC) return loss;
    log_prod sums;
    _mm256_storeu_pd(sums.p, lp);
    _mm256_storeu_si256((__m256i *)sums.k, lk);
    return loss + log_prod_sum_fma(&sums);
}

/* Every row's dot loads all of w: with w off a 32-byte boundary some of those loads straddle two
 * cache lines (64 features in L2: 47-48 cycles a row instead of 45), so a w that is not aligned is
 * read from an aligned copy in wa (up to 511 features; the same values, the same bits). */
enum { WA_MAX = 512 };
static const double *aligned_w(const double *theta, int64_t d, double *wa) {
    if (((uintptr_t)theta & 31) == 0 || d + 1 > WA_MAX) return theta;
    memcpy(wa, theta, sizeof(double) * (size_t)(d + 1));
    return wa;
}

__attribute__((target("avx2,fma"))) static double
grad_k1_avx2(mb_model_type type, const void *X, int f32, const double *y, const int64_t *idx,
             int64_t rows, int64_t d, const double *theta, double *g) {
    _Alignas(64) double wa[WA_MAX];
    theta = aligned_w(theta, d, wa);
    /* Six instantiations, so the storage type, whether rows are gathered and the rows taken at
     * a time are constants inside the loops (in L2, 64 features: 42 cycles a row instead of 45,
     * 141 instructions a row instead of 165 by callgrind, with four). */
    if (f32 && d <= 128)
        return idx ? grad_k1_avx2_body(type, X, 1, 1, 16, y, idx, rows, d, theta, g, NULL)
                   : grad_k1_avx2_body(type, X, 1, 0, 16, y, idx, rows, d, theta, g, NULL);
    if (f32)
        return idx ? grad_k1_avx2_body(type, X, 1, 1, 8, y, idx, rows, d, theta, g, NULL)
                   : grad_k1_avx2_body(type, X, 1, 0, 8, y, idx, rows, d, theta, g, NULL);
    return idx ? grad_k1_avx2_body(type, X, 0, 1, 8, y, idx, rows, d, theta, g, NULL)
               : grad_k1_avx2_body(type, X, 0, 0, 8, y, idx, rows, d, theta, g, NULL);
}

/* mb_kernel_eval's loop: rows in place, no gradient (a function of its own, so that the
 * gradient's instantiations compile as before: 1.3 cycles a row faster in L2 than beside these). */
__attribute__((target("avx2,fma"))) static double
eval_k1_avx2(mb_model_type type, const void *X, int f32, const double *y, int64_t rows, int64_t d,
             const double *theta, double *metric) {
    _Alignas(64) double wa[WA_MAX];
    theta = aligned_w(theta, d, wa);
    if (f32 && d <= 128)
        return grad_k1_avx2_body(type, X, 1, 0, 16, y, NULL, rows, d, theta, NULL, metric);
    return f32 ? grad_k1_avx2_body(type, X, 1, 0, 8, y, NULL, rows, d, theta, NULL, metric)
               : grad_k1_avx2_body(type, X, 0, 0, 8, y, NULL, rows, d, theta, NULL, metric);
}

/* The path: -1 until chosen, then 1 for AVX2, 0 for portable. Chosen once, not at every call:
 * getenv scans the whole environment (under mpirun a hundred variables or more), and a
 * mini-batch epoch calls the kernel once a batch (1M rows at B = 256: 0.5-1 ms an epoch). */
static _Atomic int kernel_path = -1;

static int cpu_has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int use_avx2(void) {
    int p = atomic_load_explicit(&kernel_path, memory_order_relaxed);
    if (p < 0) {
        const char *env = getenv("MBATCH_KERNEL");
        p = env && strcmp(env, "portable") == 0 ? 0 : cpu_has_avx2();
        atomic_store_explicit(&kernel_path, p, memory_order_relaxed);
    }
    return p;
}
#endif

void mb_kernel_set_path(mb_kernel_path path) {
#ifdef MB_HAVE_AVX2_PATH
    atomic_store_explicit(&kernel_path, path == MB_KERNEL_PORTABLE ? 0 : cpu_has_avx2(),
                          memory_order_relaxed);
#else
    (void)path; /* only the portable path is built */
#endif
}

double mb_kernel_grad(mb_model_type type, const void *X, mb_dtype dt, const double *y,
                      const int64_t *idx, int64_t rows, int64_t d, int64_t k, const double *theta,
                      double *g, double *work) {
    int f32 = dt == MB_DTYPE_F32;
    if ((type == MB_MODEL_LINEAR || type == MB_MODEL_LOGISTIC) && k == 1) {
#ifdef MB_HAVE_AVX2_PATH
        if (use_avx2()) return grad_k1_avx2(type, X, f32, y, idx, rows, d, theta, g);
#endif
        return grad_k1_portable(type, X, f32, y, idx, rows, d, theta, g, NULL);
    }
    if (!f32 && !idx) return mb_model_grad(type, X, y, rows, d, k, theta, g, work);
    /* Other models: gather (and widen) MB_MODEL_CHUNK rows into L2-sized blocks; mb_model_grad
     * cuts the same chunks, so the sums equal those over the rows copied into this order. */
    double *Xc = work, *yc = work + MB_MODEL_CHUNK * d, *w = yc + MB_MODEL_CHUNK, loss = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += MB_MODEL_CHUNK) {
        int64_t c = rows - r0 < MB_MODEL_CHUNK ? rows - r0 : MB_MODEL_CHUNK;
        if (idx) {
            mb_gather_rows(X, dt, y, idx + r0, c, d, Xc, yc);
        } else { /* float32 rows in place (float64 ones went to mb_model_grad above) */
            const float *x = (const float *)X + r0 * d;
            for (int64_t j = 0; j < c * d; j++) Xc[j] = x[j];
            memcpy(yc, y + r0, sizeof(double) * (size_t)c);
        }
        loss += mb_model_grad(type, Xc, yc, c, d, k, theta, g, w);
    }
    return loss;
}

double mb_kernel_eval(mb_model_type type, const void *X, mb_dtype dt, const double *y, int64_t rows,
                      int64_t d, const double *theta, double *metric_sum) {
    int f32 = dt == MB_DTYPE_F32;
    *metric_sum = 0;
#ifdef MB_HAVE_AVX2_PATH
    if (use_avx2()) return eval_k1_avx2(type, X, f32, y, rows, d, theta, metric_sum);
#endif
    return grad_k1_portable(type, X, f32, y, NULL, rows, d, theta, NULL, metric_sum);
}

/* Two lines an iteration into sixteen sums; compiled for AVX2 as well where the CPU has it
 * (target_clones), so that the floor is memory's, not a portable build's instruction limit. */
__attribute__((target_clones("avx2", "default"))) uint64_t mb_read_bytes(const void *p,
                                                                         int64_t bytes) {
    const unsigned char *b = p;
    uint64_t acc[16] = {0};
    int64_t i = 0;
    for (; i + 128 <= bytes; i += 128)
        for (int j = 0; j < 16; j++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * j, sizeof w); /* any alignment; compiled to one load */
            acc[j] += w;
        }
    uint64_t s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, sizeof w);
        s += w;
    }
    for (; i < bytes; i++) s += b[i];
    return s;
}
