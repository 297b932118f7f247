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

/* Append-only. SVM labels are 0/1 like logistic ones (class 1 is s = +1, class 0 is s = -1); hinge
 * loss max(0, 1 - s z), squared hinge max(0, 1 - s z)^2; Huber loss of r = z - y with delta 1:
 * r^2 / 2 for |r| <= 1, |r| - 1/2 beyond. MB_MODEL_MLP names a network (mbatch/mlp.h) in
 * checkpoints; the kernels here do not take it. */
typedef enum {
    MB_MODEL_LINEAR = 0,
    MB_MODEL_LOGISTIC = 1,
    MB_MODEL_SOFTMAX = 2,
    MB_MODEL_HINGE = 3,
    MB_MODEL_SQUARED_HINGE = 4,
    MB_MODEL_HUBER = 5,
    MB_MODEL_MLP = 6
} mb_model_type;

#define MB_MODEL_CHUNK 256 /* rows per cache block */

int64_t mb_model_nparam(int64_t d, int64_t k);
int64_t mb_model_work_size(int64_t k); /* MB_MODEL_CHUNK * k + k */

/* g[0 .. nparam) += sum over rows of d(loss)/d(theta); returns the summed loss. Every label must
 * pass mb_model_label_ok (a softmax label indexes the row's scores unchecked). */
double mb_model_grad(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                     int64_t k, const double *theta, double *g, double *work);

/* The metric of one row of a one-output model from its score z: the squared error (linear,
 * huber), or 1 when the predicted class (z >= 0, i.e. p >= 0.5) is the label (logistic, the
 * SVMs). mb_model_eval sums it; inline for the fused kernel's loop. */
static inline double mb_model_row_metric(mb_model_type type, double z, double y) {
    if (type == MB_MODEL_LINEAR || type == MB_MODEL_HUBER) return (z - y) * (z - y);
    return (z >= 0 ? 1.0 : 0.0) == y;
}

/* Sets *loss_sum and *metric_sum (does not add to them) to the summed loss and the summed metric
 * over rows: for linear the squared error (sum of r^2), for classifiers the number of correct
 * predictions (softmax: argmax, the first maximum on ties; logistic: p >= 0.5, i.e. z >= 0). */
void mb_model_eval(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                   int64_t k, const double *theta, double *work, double *loss_sum,
                   double *metric_sum);

/* out[rows][kout]: linear, Huber: the value (kout = 1); logistic: P(y = 1) (kout = 1);
 * softmax: class probabilities (kout = k); SVM: the decision value z (class 1 when z >= 0). */
void mb_model_predict(mb_model_type type, const double *X, int64_t rows, int64_t d, int64_t k,
                      const double *theta, double *out);

/* The head of a model applied to scores Z[c][k] (the rows of one chunk), shared with the MLP.
 * residual: Z becomes dLoss/dz in place; returns the summed loss. eval: adds to *loss and *metric
 * as mb_model_eval does. predict: Z becomes what mb_model_predict returns. Labels must pass
 * mb_model_label_ok. */
double mb_model_head_residual(mb_model_type type, double *Z, const double *y, int64_t c, int64_t k);
void mb_model_head_eval(mb_model_type type, const double *Z, const double *y, int64_t c, int64_t k,
                        double *loss, double *metric);
void mb_model_head_predict(mb_model_type type, double *Z, int64_t c, int64_t k);

/* Proximal step of l1 * ||W||_1 with step size lr (soft thresholding of the weights, intercepts
 * excluded): W = sign(W) * max(|W| - lr * l1, 0). Applied after the optimizer step. */
void mb_model_prox_l1(int64_t d, int64_t k, double l1, double lr, double *theta);

/* 0.5 * l2 * ||W||^2 (intercepts excluded); if g is not NULL, g[W] += l2 * W. */
double mb_model_penalty(int64_t d, int64_t k, double l2, const double *theta, double *g);

/* Validate a label for the model: finite; for classifiers whole-valued and in [0, k), where a
 * logistic model (k = 1) has the two classes {0, 1}. Returns 0 if valid, -1 if not. */
int mb_model_label_ok(mb_model_type type, int64_t k, double y);
