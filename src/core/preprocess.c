/* preprocess.c - one-hot expansion, column moments and standardization of feature rows. */
#include "mbatch/preprocess.h"

#include <math.h>
#include <string.h>

int64_t mb_pre_width(int64_t ncol, const int64_t *ncat) {
    int64_t w = 0;
    for (int64_t c = 0; c < ncol; c++) w += ncat && ncat[c] > 0 ? ncat[c] : 1;
    return w;
}

/* Position of code among the ascending cats[0 .. n), or -1. A value that is not a whole number
 * in int64 range cannot be a category code, so it is unknown rather than truncated into one. */
static int64_t find_category(double value, const int64_t *cats, int64_t n) {
    if (!(value >= -0x1p63 && value < 0x1p63) || value != floor(value)) return -1;
    int64_t code = (int64_t)value, lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cats[mid] < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && cats[lo] == code ? lo : -1;
}

void mb_pre_expand(const double *raw, int64_t rows, int64_t ncol, const int64_t *ncat,
                   const int64_t *const *cats, double *out) {
    int64_t width = mb_pre_width(ncol, ncat);
    for (int64_t i = 0; i < rows; i++) {
        const double *r = raw + i * ncol;
        double *o = out + i * width;
        for (int64_t c = 0; c < ncol; c++) {
            int64_t nc = ncat ? ncat[c] : 0;
            if (nc <= 0) {
                *o++ = r[c];
                continue;
            }
            memset(o, 0, (size_t)nc * sizeof *o);
            int64_t at = find_category(r[c], cats[c], nc);
            if (at >= 0) o[at] = 1.0;
            o += nc;
        }
    }
}

void mb_pre_colsum(const double *X, int64_t rows, int64_t d, double *acc) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) acc[j] += X[i * d + j];
}

void mb_pre_colsqdev(const double *X, int64_t rows, int64_t d, const double *mean, double *acc) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) {
            double dev = X[i * d + j] - mean[j];
            acc[j] += dev * dev;
        }
}

void mb_pre_finish(int64_t d, int64_t n, const unsigned char *onehot, double *mean, double *std,
                   const double *sqdev) {
    for (int64_t j = 0; j < d; j++) {
        /* With no samples there is nothing to scale by, as for a constant column. */
        std[j] = n > 0 ? sqrt(sqdev[j] / (double)n) : 0.0;
        if (std[j] == 0.0 || (onehot && onehot[j])) {
            mean[j] = 0.0;
            std[j] = 1.0;
        }
    }
}

void mb_pre_apply(double *X, int64_t rows, int64_t d, const double *mean, const double *std) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < d; j++) X[i * d + j] = (X[i * d + j] - mean[j]) / std[j];
}

int64_t mb_first_nonfinite(const double *X, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(X[i])) return i;
    return -1;
}
