/* model.c - loss, gradient, evaluation and prediction kernels of the linear models and SVMs. */
#include "mbatch/model.h"

#include <cblas.h>
#include <math.h>

#include "mbatch/kernel.h"

int64_t mb_model_nparam(int64_t d, int64_t k) {
    return d * k + k;
}

int64_t mb_model_work_size(int64_t k) {
    return MB_MODEL_CHUNK * k + k;
}

/* Z[c][k] = X_c W + b for one chunk of c rows. BLAS rejects a leading dimension of 0, so a model
 * without features (d == 0) is just its intercepts. */
static void chunk_scores(const double *Xc, int64_t c, int64_t d, int64_t k, const double *theta,
                         double *Z) {
    const double *b = theta + d * k;
    for (int64_t i = 0; i < c; i++)
        for (int64_t j = 0; j < k; j++) Z[i * k + j] = b[j];
    if (d == 0) return;
    if (k == 1)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)c, (int)d, 1.0, Xc, (int)d, theta, 1, 1.0, Z,
                    1);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c, (int)k, (int)d, 1.0, Xc,
                    (int)d, theta, (int)k, 1.0, Z, (int)k);
}

/* log(1 + e^z) - y z, written so that neither exp overflows nor log1p loses the small tail. */
static double logistic_loss(double z, double y) {
    return fmax(z, 0.0) - y * z + log1p(exp(-fabs(z)));
}

/* 1 / (1 + e^-z) evaluated with a non-positive exponent only. */
static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* Softmax of one row of scores, in place; returns log(sum_j e^z_j). Subtracting the maximum keeps
 * every exponent <= 0, so the sum lies in [1, k] and neither overflows nor underflows to 0. */
static double softmax_row(double *z, int64_t k) {
    double zmax = z[0];
    for (int64_t j = 1; j < k; j++)
        if (z[j] > zmax) zmax = z[j];
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        z[j] = exp(z[j] - zmax);
        sum += z[j];
    }
    for (int64_t j = 0; j < k; j++) z[j] /= sum;
    return zmax + log(sum);
}

/* Huber loss with delta 1 and its derivative, the residual clipped to [-1, 1]. */
static double huber_loss(double r) {
    double a = fabs(r);
    return a <= 1.0 ? 0.5 * r * r : a - 0.5;
}

/* Turn one chunk's scores into dLoss/dz in place; returns the chunk's summed loss. */
double mb_model_head_residual(mb_model_type type, double *Z, const double *yc, int64_t c,
                              int64_t k) {
    double loss = 0;
    switch (type) {
    case MB_MODEL_LINEAR:
        for (int64_t i = 0; i < c; i++) {
            double r = Z[i] - yc[i];
            loss += 0.5 * r * r;
            Z[i] = r;
        }
        break;
    case MB_MODEL_LOGISTIC:
        for (int64_t i = 0; i < c; i++) {
            loss += logistic_loss(Z[i], yc[i]);
            Z[i] = sigmoid(Z[i]) - yc[i];
        }
        break;
    case MB_MODEL_SOFTMAX:
        for (int64_t i = 0; i < c; i++) {
            double *z = Z + i * k;
            int64_t label = (int64_t)yc[i];
            double zy = z[label];
            loss += softmax_row(z, k) - zy;
            z[label] -= 1.0;
        }
        break;
    case MB_MODEL_HINGE:
        for (int64_t i = 0; i < c; i++) {
            double sgn = 2.0 * yc[i] - 1.0, m = 1.0 - sgn * Z[i];
            loss += m > 0 ? m : 0.0;
            Z[i] = m > 0 ? -sgn : 0.0;
        }
        break;
    case MB_MODEL_SQUARED_HINGE:
        for (int64_t i = 0; i < c; i++) {
            double sgn = 2.0 * yc[i] - 1.0, m = 1.0 - sgn * Z[i];
            loss += m > 0 ? m * m : 0.0;
            Z[i] = m > 0 ? -2.0 * sgn * m : 0.0;
        }
        break;
    case MB_MODEL_HUBER:
        for (int64_t i = 0; i < c; i++) {
            double r = Z[i] - yc[i];
            loss += huber_loss(r);
            Z[i] = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
        }
        break;
    case MB_MODEL_MLP:
        break;
    }
    return loss;
}

void mb_model_head_eval(mb_model_type type, const double *Z, const double *yc, int64_t c, int64_t k,
                        double *loss_sum, double *metric_sum) {
    double loss = 0, metric = 0;
    for (int64_t i = 0; i < c; i++) {
        const double *z = Z + i * k;
        switch (type) {
        case MB_MODEL_LINEAR: {
            double r = z[0] - yc[i];
            loss += 0.5 * r * r;
            metric += mb_model_row_metric(type, z[0], yc[i]);
            break;
        }
        case MB_MODEL_HUBER: {
            double r = z[0] - yc[i];
            loss += huber_loss(r);
            metric += mb_model_row_metric(type, z[0], yc[i]);
            break;
        }
        case MB_MODEL_LOGISTIC:
            loss += logistic_loss(z[0], yc[i]);
            metric += mb_model_row_metric(type, z[0], yc[i]);
            break;
        case MB_MODEL_HINGE:
        case MB_MODEL_SQUARED_HINGE: {
            double m = 1.0 - (2.0 * yc[i] - 1.0) * z[0];
            loss += m > 0 ? (type == MB_MODEL_HINGE ? m : m * m) : 0.0;
            metric += mb_model_row_metric(type, z[0], yc[i]);
            break;
        }
        case MB_MODEL_SOFTMAX: {
            int64_t label = (int64_t)yc[i], best = 0;
            double zmax = z[0], sum = 0;
            for (int64_t j = 1; j < k; j++)
                if (z[j] > zmax) {
                    zmax = z[j];
                    best = j;
                }
            for (int64_t j = 0; j < k; j++) sum += exp(z[j] - zmax);
            loss += zmax + log(sum) - z[label];
            metric += best == label;
            break;
        }
        case MB_MODEL_MLP:
            break;
        }
    }
    *loss_sum += loss;
    *metric_sum += metric;
}

void mb_model_head_predict(mb_model_type type, double *Z, int64_t c, int64_t k) {
    if (type == MB_MODEL_LOGISTIC)
        for (int64_t i = 0; i < c; i++) Z[i] = sigmoid(Z[i]);
    else if (type == MB_MODEL_SOFTMAX)
        for (int64_t i = 0; i < c; i++) softmax_row(Z + i * k, k);
}

double mb_model_grad(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                     int64_t k, const double *theta, double *g, double *work) {
    double loss = 0;
    double *gb = g + d * k;
    for (int64_t r0 = 0; r0 < rows; r0 += MB_MODEL_CHUNK) {
        int64_t c = rows - r0 < MB_MODEL_CHUNK ? rows - r0 : MB_MODEL_CHUNK;
        const double *Xc = X + r0 * d;
        chunk_scores(Xc, c, d, k, theta, work);
        loss += mb_model_head_residual(type, work, y + r0, c, k);
        /* g_W += X_c^T R while this chunk of X is still in cache. */
        if (d > 0) {
            if (k == 1)
                cblas_dgemv(CblasRowMajor, CblasTrans, (int)c, (int)d, 1.0, Xc, (int)d, work, 1,
                            1.0, g, 1);
            else
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)k, (int)c, 1.0,
                            Xc, (int)d, work, (int)k, 1.0, g, (int)k);
        }
        for (int64_t i = 0; i < c; i++)
            for (int64_t j = 0; j < k; j++) gb[j] += work[i * k + j];
    }
    return loss;
}

void mb_model_eval(mb_model_type type, const double *X, const double *y, int64_t rows, int64_t d,
                   int64_t k, const double *theta, double *work, double *loss_sum,
                   double *metric_sum) {
    /* Linear and logistic: the fused kernel's loop without its gradient pass. 64 features from
     * memory: 20-22 ns a row, where dgemv and libm's exp and log1p row by row took 75-87. */
    if (k == 1 && (type == MB_MODEL_LINEAR || type == MB_MODEL_LOGISTIC)) {
        *loss_sum = mb_kernel_eval(type, X, MB_DTYPE_F64, y, rows, d, theta, metric_sum);
        return;
    }
    double loss = 0, metric = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += MB_MODEL_CHUNK) {
        int64_t c = rows - r0 < MB_MODEL_CHUNK ? rows - r0 : MB_MODEL_CHUNK;
        chunk_scores(X + r0 * d, c, d, k, theta, work);
        mb_model_head_eval(type, work, y + r0, c, k, &loss, &metric);
    }
    *loss_sum = loss;
    *metric_sum = metric;
}

void mb_model_predict(mb_model_type type, const double *X, int64_t rows, int64_t d, int64_t k,
                      const double *theta, double *out) {
    /* out has exactly the shape of the scores, so it doubles as their buffer. */
    for (int64_t r0 = 0; r0 < rows; r0 += MB_MODEL_CHUNK) {
        int64_t c = rows - r0 < MB_MODEL_CHUNK ? rows - r0 : MB_MODEL_CHUNK;
        double *Z = out + r0 * k;
        chunk_scores(X + r0 * d, c, d, k, theta, Z);
        mb_model_head_predict(type, Z, c, k);
    }
}

double mb_model_penalty(int64_t d, int64_t k, double l2, const double *theta, double *g) {
    double sq = 0;
    for (int64_t j = 0; j < d * k; j++) sq += theta[j] * theta[j];
    if (g)
        for (int64_t j = 0; j < d * k; j++) g[j] += l2 * theta[j];
    return 0.5 * l2 * sq;
}

void mb_model_prox_l1(int64_t d, int64_t k, double l1, double lr, double *theta) {
    double t = lr * l1;
    for (int64_t j = 0; j < d * k; j++) {
        double a = fabs(theta[j]) - t;
        theta[j] = a > 0 ? copysign(a, theta[j]) : 0.0;
    }
}

int mb_model_label_ok(mb_model_type type, int64_t k, double y) {
    if (!isfinite(y)) return -1;
    switch (type) {
    case MB_MODEL_LINEAR:
    case MB_MODEL_HUBER:
        return 0;
    case MB_MODEL_HINGE:
    case MB_MODEL_SQUARED_HINGE:
    case MB_MODEL_LOGISTIC:
        /* A logistic model has one output but two classes, whatever k says. */
        return y == 0.0 || y == 1.0 ? 0 : -1;
    case MB_MODEL_SOFTMAX:
        return y == floor(y) && y >= 0 && y < (double)k ? 0 : -1;
    case MB_MODEL_MLP:
        return -1;
    }
    return -1;
}
