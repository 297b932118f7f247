/* model.h - the models' pure kernels: loss, gradient, prediction over a block of rows.
 *
 * Parameters are one flat vector theta of mb_model_nparam(d, k) doubles: the weights W as a
 * row-major [d][k] matrix, then the intercepts b[k]. k = 1 for linear and logistic models,
 * k = number of classes for softmax. X is row-major [rows][d] (standardized features), y holds
 * the target (a value for linear, 0/1 for logistic, a class id 0..k-1 for softmax).
 *
 * Losses per sample: linear 0.5*(x.w + b - y)^2; logistic log(1 + e^z) - y*z; softmax
 * cross-entropy. Kernels sum over rows (no division, no penalty: the caller adds l2). They
 * process rows in cache-sized chunks with BLAS (gemv/gemm), so X is streamed once.
 * Not collective; no allocation: `work` holds at least mb_model_work_size(k) doubles.
 */
#pragma once

#include <stdint.h>

typedef enum { MB_MODEL_LINEAR = 0, MB_MODEL_LOGISTIC = 1, MB_MODEL_SOFTMAX = 2 } mb_model_type;

#define MB_MODEL_CHUNK 256 /* rows per cache block */

int64_t mb_model_nparam(int64_t d, int64_t k);
int64_t mb_model_work_size(int64_t k); /* MB_MODEL_CHUNK * k + k */

/* g[0 .. nparam) += sum over rows of d(loss)/d(theta); returns the summed loss. Every label must
 * pass mb_model_label_ok (a softmax label indexes the row's scores unchecked). */
double mb_model_grad(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                     int64_t k, const double *theta, double *g, double *work);

/* Sets *loss_sum and *metric_sum (does not add to them) to the summed loss and the summed metric
 * over rows: for linear the squared error (sum of r^2), for classifiers the number of correct
 * predictions (softmax: argmax, the first maximum on ties; logistic: p >= 0.5, i.e. z >= 0). */
void mb_model_eval(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                   int64_t k, const double *theta, double *work, double *loss_sum,
                   double *metric_sum);

/* out[rows][kout]: linear: the value (kout = 1); logistic: P(y = 1) (kout = 1);
 * softmax: class probabilities (kout = k). */
void mb_model_predict(mb_model_type type, const double *X, int64_t rows, int64_t d, int64_t k,
                      const double *theta, double *out);

/* 0.5 * l2 * ||W||^2 (intercepts excluded); if g is not NULL, g[W] += l2 * W. */
double mb_model_penalty(int64_t d, int64_t k, double l2, const double *theta, double *g);

/* Validate a label for the model: finite; for classifiers whole-valued and in [0, k), where a
 * logistic model (k = 1) has the two classes {0, 1}. Returns 0 if valid, -1 if not. */
int mb_model_label_ok(mb_model_type type, int64_t k, double y);
