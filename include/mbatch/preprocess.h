/* preprocess.h - pure feature preprocessing: moments, one-hot expansion, standardization.
 *
 * Raw rows come from io/ as a row-major [rows][ncol] double matrix, one column per job feature
 * (categorical columns hold whole-valued category codes). The expanded matrix has, per raw
 * column in order, one column (numeric) or one column per known category (categorical, one-hot).
 * Statistics are partial sums so that comm/ can allreduce them. Not collective; no MPI.
 */
#pragma once

#include <stdint.h>

/* Columns of the expanded matrix. ncat[c] is the number of categories of raw column c, or 0 for
 * a numeric column; ncat == NULL means all columns are numeric (also for mb_pre_expand). */
int64_t mb_pre_width(int64_t ncol, const int64_t *ncat);

/* Expand raw [rows][ncol] into out [rows][width]. cats[c] lists raw column c's category codes in
 * ascending order (ncat[c] of them); an unknown code (or a value that is not a whole number) gives
 * an all-zero one-hot block. */
void mb_pre_expand(const double *raw, int64_t rows, int64_t ncol, const int64_t *ncat,
                   const int64_t *const *cats, double *out);

/* acc[j] += sum over rows of X[i][j] (j < d). */
void mb_pre_colsum(const double *X, int64_t rows, int64_t d, double *acc);
/* acc[j] += sum over rows of (X[i][j] - mean[j])^2. */
void mb_pre_colsqdev(const double *X, int64_t rows, int64_t d, const double *mean, double *acc);
/* std[j] = sqrt(sqdev[j] / n); a zero (constant column, or n <= 0) or one-hot column std is set to
 * 1 and its mean to 0, so it passes through unchanged. onehot[j] != 0 marks one-hot columns (may
 * be NULL). */
void mb_pre_finish(int64_t d, int64_t n, const unsigned char *onehot, double *mean, double *std,
                   const double *sqdev);
/* X[i][j] = (X[i][j] - mean[j]) / std[j]. */
void mb_pre_apply(double *X, int64_t rows, int64_t d, const double *mean, const double *std);

/* Index of the first non-finite value among X[0 .. n) (n = rows * d for a matrix), or -1. */
int64_t mb_first_nonfinite(const double *X, int64_t n);
