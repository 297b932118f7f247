/* kernel.c - fused gradient kernel over float64 or float32 rows, in place or gathered by index. */
#include "mbatch/kernel.h"

#include <math.h>
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

/* Loss of one row given its score; *r receives dLoss/dz. One exp and one log1p per logistic row:
 * e = e^-|z| serves both log(1 + e^z) = max(z, 0) + log1p(e) and the sigmoid. */
static inline double row_residual(mb_model_type type, double z, double y, double *r) {
    if (type == MB_MODEL_LINEAR) {
        double diff = z - y;
        *r = diff;
        return 0.5 * diff * diff;
    }
    double e = exp(-fabs(z));
    double p = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    *r = p - y;
    return fmax(z, 0.0) - y * z + log1p(e);
}

static inline const void *row_ptr(const void *X, int f32, int64_t row, int64_t d) {
    return f32 ? (const void *)((const float *)X + row * d) : (const void *)((const double *)X + row * d);
}

static inline double elem(const void *x, int f32, int64_t j) {
    return f32 ? (double)((const float *)x)[j] : ((const double *)x)[j];
}

/* The portable path: exactly the operations of the AVX2 path, lane by lane. */
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
    return (v[0] + v[2]) + (v[1] + v[3]);
}

static double grad_k1_portable(mb_model_type type, const void *X, int f32, const double *y,
                               const int64_t *idx, int64_t rows, int64_t d, const double *theta,
                               double *g) {
    double loss = 0, b = theta[d];
    for (int64_t i = 0; i < rows; i++) {
        int64_t row = idx ? idx[i] : i;
        const void *x = row_ptr(X, f32, row, d);
        double r, z = dot_portable(x, f32, theta, d) + b;
        loss += row_residual(type, z, y[row], &r);
        for (int64_t j = 0; j < d; j++) g[j] = fma(r, elem(x, f32, j), g[j]);
        g[d] += r;
    }
    return loss;
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

MB_AVX2 double dot_avx2(const void *x, int f32, const double *w, int64_t d) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 16 <= d; j += 16) {
        a0 = _mm256_fmadd_pd(load4(x, f32, j), _mm256_loadu_pd(w + j), a0);
        a1 = _mm256_fmadd_pd(load4(x, f32, j + 4), _mm256_loadu_pd(w + j + 4), a1);
        a2 = _mm256_fmadd_pd(load4(x, f32, j + 8), _mm256_loadu_pd(w + j + 8), a2);
        a3 = _mm256_fmadd_pd(load4(x, f32, j + 12), _mm256_loadu_pd(w + j + 12), a3);
    }
    /* Groups of four after the last full sixteen go to accumulators 0, 1, 2, 3 in turn. */
    __m256d *acc[4] = {&a0, &a1, &a2, &a3};
    for (int u = 0; j < d; j += 4, u++) {
        __m256d xv, wv;
        if (j + 4 <= d) {
            xv = load4(x, f32, j);
            wv = _mm256_loadu_pd(w + j);
        } else {
            xv = load_part(x, f32, j, d - j);
            wv = load_part(w, 0, j, d - j);
        }
        *acc[u] = _mm256_fmadd_pd(xv, wv, *acc[u]);
    }
    __m256d v = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* g[j] += r0 x0[j] + r1 x1[j] + ... in row order, one fused multiply-add per row and element. */
MB_AVX2 void axpy_rows(const void *const *xs, const double *r, int nr, int f32, int64_t d,
                       double *g) {
    int64_t j = 0;
    for (; j + 4 <= d; j += 4) {
        __m256d acc = _mm256_loadu_pd(g + j);
        for (int q = 0; q < nr; q++)
            acc = _mm256_fmadd_pd(_mm256_set1_pd(r[q]), load4(xs[q], f32, j), acc);
        _mm256_storeu_pd(g + j, acc);
    }
    for (; j < d; j++)
        for (int q = 0; q < nr; q++) g[j] = fma(r[q], elem(xs[q], f32, j), g[j]);
}

MB_AVX2 void prefetch_row(const void *x, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)x + o, _MM_HINT_T0);
}

MB_AVX2 double grad_k1_avx2_body(mb_model_type type, const void *X, int f32, const double *y,
                                 const int64_t *idx, int64_t rows, int64_t d, const double *theta,
                                 double *g) {
    double loss = 0, b = theta[d], gb = g[d];
    int64_t rowbytes = d * (f32 ? 4 : 8);
    enum { AHEAD = 8 }; /* gathered rows fetched ahead: one block's worth of DRAM latency */
    if (idx)
        for (int64_t i = 0; i < rows && i < AHEAD; i++) {
            prefetch_row(row_ptr(X, f32, idx[i], d), rowbytes);
            _mm_prefetch((const char *)(y + idx[i]), _MM_HINT_T0);
        }
    for (int64_t i0 = 0; i0 < rows; i0 += 4) {
        int nr = rows - i0 < 4 ? (int)(rows - i0) : 4;
        const void *xs[4];
        double r[4];
        for (int q = 0; q < nr; q++) {
            int64_t row = idx ? idx[i0 + q] : i0 + q;
            if (idx && i0 + q + AHEAD < rows) {
                prefetch_row(row_ptr(X, f32, idx[i0 + q + AHEAD], d), rowbytes);
                _mm_prefetch((const char *)(y + idx[i0 + q + AHEAD]), _MM_HINT_T0);
            }
            xs[q] = row_ptr(X, f32, row, d);
            double z = dot_avx2(xs[q], f32, theta, d) + b;
            loss += row_residual(type, z, y[row], &r[q]);
        }
        axpy_rows(xs, r, nr, f32, d, g);
        for (int q = 0; q < nr; q++) gb += r[q];
    }
    g[d] = gb;
    return loss;
}

__attribute__((target("avx2,fma"))) static double grad_k1_avx2(mb_model_type type, const void *X,
                                                               int f32, const double *y,
                                                               const int64_t *idx, int64_t rows,
                                                               int64_t d, const double *theta,
                                                               double *g) {
    /* Two instantiations, so the storage type is a constant inside the loops. */
    if (f32) return grad_k1_avx2_body(type, X, 1, y, idx, rows, d, theta, g);
    return grad_k1_avx2_body(type, X, 0, y, idx, rows, d, theta, g);
}

/* MBATCH_KERNEL=portable forces the portable path, so tests can compare the two on one machine. */
static int use_avx2(void) {
    const char *env = getenv("MBATCH_KERNEL");
    if (env && strcmp(env, "portable") == 0) return 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

double mb_kernel_grad(mb_model_type type, const void *X, mb_dtype dt, const double *y,
                      const int64_t *idx, int64_t rows, int64_t d, int64_t k, const double *theta,
                      double *g, double *work) {
    int f32 = dt == MB_DTYPE_F32;
    if ((type == MB_MODEL_LINEAR || type == MB_MODEL_LOGISTIC) && k == 1) {
#ifdef MB_HAVE_AVX2_PATH
        if (use_avx2()) return grad_k1_avx2(type, X, f32, y, idx, rows, d, theta, g);
#endif
        return grad_k1_portable(type, X, f32, y, idx, rows, d, theta, g);
    }
    if (!f32 && !idx) return mb_model_grad(type, X, y, rows, d, k, theta, g, work);
    /* Other models: gather (and widen) MB_MODEL_CHUNK rows into L2-sized blocks; mb_model_grad
     * cuts the same chunks, so the sums equal those over the rows copied into this order. */
    double *Xc = work, *yc = work + MB_MODEL_CHUNK * d, *w = yc + MB_MODEL_CHUNK, loss = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += MB_MODEL_CHUNK) {
        int64_t c = rows - r0 < MB_MODEL_CHUNK ? rows - r0 : MB_MODEL_CHUNK;
        for (int64_t i = 0; i < c; i++) {
            int64_t row = idx ? idx[r0 + i] : r0 + i;
            const void *x = row_ptr(X, f32, row, d);
            if (f32)
                for (int64_t j = 0; j < d; j++) Xc[i * d + j] = ((const float *)x)[j];
            else
                memcpy(Xc + i * d, x, sizeof(double) * (size_t)d);
            yc[i] = y[row];
        }
        loss += mb_model_grad(type, Xc, yc, c, d, k, theta, g, w);
    }
    return loss;
}
