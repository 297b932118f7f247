/* mlp.c - forward and exact backward passes of a multilayer perceptron with synchronized batch
 * norm. */
#include "mbatch/mlp.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/rng.h"

struct mb_mlp_pass {
    int64_t max_rows;
    double *Z[MB_MLP_MAX_HIDDEN + 1]; /* affine outputs of hidden layers 1..nh */
    double *H[MB_MLP_MAX_HIDDEN + 1]; /* normalized zhat (batch norm only) */
    double *A[MB_MLP_MAX_HIDDEN + 1]; /* activations; A[0] unused (the input is X) */
    double *out;                      /* scores, then dLoss/dscores [rows][k] */
    double *dA, *dZ;                  /* backward buffers [rows][max width] */
    double *mean, *inv, *buf;         /* per layer statistics and the reduce buffer */
};

int mb_mlp_setup(mb_mlp *m, int64_t d, int64_t k, int nh, const int64_t *hidden, mb_activation act,
                 int bn, mb_model_type head) {
    memset(m, 0, sizeof *m);
    if (nh < 0 || nh > MB_MLP_MAX_HIDDEN || d < 1 || k < 1) return -1;
    if (head != MB_MODEL_LINEAR && head != MB_MODEL_LOGISTIC && head != MB_MODEL_SOFTMAX) return -1;
    if (head != MB_MODEL_SOFTMAX && k != 1) return -1;
    if (act != MB_ACT_RELU && act != MB_ACT_TANH && act != MB_ACT_SIGMOID) return -1;
    m->nh = nh;
    m->act = act;
    m->bn = bn != 0;
    m->head = head;
    m->bn_eps = 1e-5;
    m->bn_momentum = 0.1;
    m->width[0] = d;
    for (int l = 0; l < nh; l++) {
        if (hidden[l] < 1) return -1;
        m->width[l + 1] = hidden[l];
    }
    m->width[nh + 1] = k;
    int64_t off = 0;
    for (int l = 0; l <= nh; l++) {
        int64_t in = m->width[l], out = m->width[l + 1];
        m->W[l] = off;
        off += in * out;
        if (l < nh && m->bn) {
            m->b[l] = -1;
            m->gamma[l] = off;
            m->beta[l] = off + out;
            off += 2 * out;
        } else {
            m->b[l] = off;
            off += out;
        }
    }
    m->ntrain = off;
    if (m->bn)
        for (int l = 0; l < nh; l++) {
            m->rmean[l] = off;
            m->rvar[l] = off + m->width[l + 1];
            off += 2 * m->width[l + 1];
        }
    m->nstat = off - m->ntrain;
    m->nparam = off;
    return 0;
}

void mb_mlp_init(const mb_mlp *m, uint64_t seed, double *theta) {
    memset(theta, 0, sizeof(double) * (size_t)m->nparam);
    for (int l = 0; l <= m->nh; l++) {
        int64_t in = m->width[l], out = m->width[l + 1];
        int he = l < m->nh && m->act == MB_ACT_RELU;
        double sd = he ? sqrt(2.0 / (double)in) : sqrt(2.0 / (double)(in + out));
        for (int64_t j = 0; j < in * out; j++)
            theta[m->W[l] + j] = sd * mb_rng_normal(seed, MB_RNG_INIT, (uint64_t)l, (uint64_t)j);
        if (l < m->nh && m->bn)
            for (int64_t j = 0; j < out; j++) {
                theta[m->gamma[l] + j] = 1.0;
                theta[m->rvar[l] + j] = 1.0;
            }
    }
}

void mb_mlp_pass_free(mb_mlp_pass *p) {
    if (!p) return;
    for (int l = 0; l <= MB_MLP_MAX_HIDDEN; l++) {
        free(p->Z[l]);
        free(p->H[l]);
        free(p->A[l]);
    }
    free(p->out);
    free(p->dA);
    free(p->dZ);
    free(p->mean);
    free(p->inv);
    free(p->buf);
    free(p);
}

static double *alloc_doubles(int64_t n) {
    return malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
}

mb_mlp_pass *mb_mlp_pass_new(const mb_mlp *m, int64_t max_rows) {
    mb_mlp_pass *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (max_rows < 1) max_rows = 1;
    p->max_rows = max_rows;
    int64_t wmax = 1, wsum = 0;
    int ok = 1;
    for (int l = 1; l <= m->nh; l++) {
        int64_t w = m->width[l];
        wmax = w > wmax ? w : wmax;
        wsum += w;
        p->Z[l] = alloc_doubles(max_rows * w);
        p->A[l] = alloc_doubles(max_rows * w);
        if (m->bn) p->H[l] = alloc_doubles(max_rows * w);
        ok = ok && p->Z[l] && p->A[l] && (!m->bn || p->H[l]);
    }
    int64_t k = m->width[m->nh + 1];
    wmax = k > wmax ? k : wmax;
    p->out = alloc_doubles(max_rows * k);
    p->dA = alloc_doubles(max_rows * wmax);
    p->dZ = alloc_doubles(max_rows * wmax);
    p->mean = alloc_doubles(wsum);
    p->inv = alloc_doubles(wsum);
    p->buf = alloc_doubles(2 * wmax + 1);
    if (!ok || !p->out || !p->dA || !p->dZ || !p->mean || !p->inv || !p->buf) {
        mb_mlp_pass_free(p);
        return NULL;
    }
    return p;
}

static double activate(mb_activation act, double y) {
    switch (act) {
    case MB_ACT_RELU:
        return y > 0 ? y : 0.0;
    case MB_ACT_TANH:
        return tanh(y);
    case MB_ACT_SIGMOID:
        return y >= 0 ? 1.0 / (1.0 + exp(-y)) : exp(y) / (1.0 + exp(y));
    }
    return y;
}

/* d activation / dy written in terms of the activation's value a. */
static double activate_grad(mb_activation act, double a) {
    switch (act) {
    case MB_ACT_RELU:
        return a > 0 ? 1.0 : 0.0;
    case MB_ACT_TANH:
        return 1.0 - a * a;
    case MB_ACT_SIGMOID:
        return a * (1.0 - a);
    }
    return 1.0;
}

/* C[rows][out] = A[rows][in] W[in][out] (+ bias row when b != NULL). */
static void affine(const double *A, int64_t rows, int64_t in, int64_t out, const double *W,
                   const double *b, double *C) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < out; j++) C[i * out + j] = b ? b[j] : 0.0;
    if (rows == 0) return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)out, (int)in, 1.0, A,
                (int)in, W, (int)out, 1.0, C, (int)out);
}

static void reduce_or_keep(mb_reduce_fn reduce, void *ctx, double *buf, int64_t n) {
    if (reduce) reduce(ctx, buf, n);
}

/* Forward through every layer. train: batch statistics over the global batch (reduced), else the
 * running statistics. Leaves the head's scores in p->out; returns the global batch size N (train)
 * or rows. */
static double forward(const mb_mlp *m, mb_mlp_pass *p, const double *X, int64_t rows, double *theta,
                      int train, int update_stats, mb_reduce_fn reduce, void *ctx) {
    const double *prev = X;
    double N = (double)rows;
    int64_t soff = 0;
    for (int l = 0; l < m->nh; l++) {
        int64_t in = m->width[l], w = m->width[l + 1];
        double *Z = p->Z[l + 1], *A = p->A[l + 1], *mean = p->mean + soff, *inv = p->inv + soff;
        affine(prev, rows, in, w, theta + m->W[l], m->bn ? NULL : theta + m->b[l], Z);
        if (!m->bn) {
            for (int64_t i = 0; i < rows * w; i++) A[i] = activate(m->act, Z[i]);
        } else {
            double *H = p->H[l + 1], *buf = p->buf;
            const double *gam = theta + m->gamma[l], *bet = theta + m->beta[l];
            if (train) {
                /* Two passes (mean, then squared deviations) keep the variance accurate when
                 * |mean| >> std; the row count rides with the first sums. */
                for (int64_t j = 0; j < w; j++) buf[j] = 0;
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < w; j++) buf[j] += Z[i * w + j];
                buf[w] = (double)rows;
                reduce_or_keep(reduce, ctx, buf, w + 1);
                N = buf[w];
                for (int64_t j = 0; j < w; j++) mean[j] = buf[j] / N;
                for (int64_t j = 0; j < w; j++) buf[j] = 0;
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < w; j++) {
                        double c = Z[i * w + j] - mean[j];
                        buf[j] += c * c;
                    }
                reduce_or_keep(reduce, ctx, buf, w);
                for (int64_t j = 0; j < w; j++) {
                    double var = buf[j] / N;
                    inv[j] = 1.0 / sqrt(var + m->bn_eps);
                    if (update_stats) {
                        double mo = m->bn_momentum, unbiased = N > 1 ? var * N / (N - 1) : var;
                        theta[m->rmean[l] + j] = (1 - mo) * theta[m->rmean[l] + j] + mo * mean[j];
                        theta[m->rvar[l] + j] = (1 - mo) * theta[m->rvar[l] + j] + mo * unbiased;
                    }
                }
            } else {
                for (int64_t j = 0; j < w; j++) {
                    mean[j] = theta[m->rmean[l] + j];
                    inv[j] = 1.0 / sqrt(theta[m->rvar[l] + j] + m->bn_eps);
                }
            }
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < w; j++) {
                    double h = (Z[i * w + j] - mean[j]) * inv[j];
                    H[i * w + j] = h;
                    A[i * w + j] = activate(m->act, gam[j] * h + bet[j]);
                }
        }
        prev = A;
        soff += w;
    }
    int64_t hin = m->width[m->nh], k = m->width[m->nh + 1];
    affine(prev, rows, hin, k, theta + m->W[m->nh], theta + m->b[m->nh], p->out);
    return N;
}

/* g[W] += A^T D, g[b] += column sums of D. */
static void accumulate(const double *A, const double *D, int64_t rows, int64_t in, int64_t out,
                       double *gW, double *gb) {
    if (rows > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in, (int)out, (int)rows, 1.0, A,
                    (int)in, D, (int)out, 1.0, gW, (int)out);
    if (gb)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < out; j++) gb[j] += D[i * out + j];
}

double mb_mlp_grad(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y, int64_t rows,
                   double *theta, double *g, int update_stats, mb_reduce_fn reduce, void *ctx) {
    return mb_mlp_grad_ready(m, p, X, y, rows, theta, g, update_stats, reduce, ctx, NULL, NULL);
}

double mb_mlp_grad_ready(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y,
                         int64_t rows, double *theta, double *g, int update_stats,
                         mb_reduce_fn reduce, void *ctx, mb_ready_fn ready, void *ready_ctx) {
    double N = forward(m, p, X, rows, theta, 1, update_stats, reduce, ctx);
    int64_t k = m->width[m->nh + 1];
    double loss = 0;
    if (!m->class_weight) {
        loss = mb_model_head_residual(m->head, p->out, y, rows, k);
    } else {
        for (int64_t i = 0; i < rows; i++) {
            double w = m->class_weight[(int64_t)y[i]];
            loss += w * mb_model_head_residual(m->head, p->out + i * k, y + i, 1, k);
            for (int64_t j = 0; j < k; j++) p->out[i * k + j] *= w;
        }
    }
    /* Output layer, then back through the hidden layers; dA holds dL/d(activation). */
    int nh = m->nh;
    const double *prev = nh > 0 ? p->A[nh] : X;
    accumulate(prev, p->out, rows, m->width[nh], k, g + m->W[nh], g + m->b[nh]);
    if (ready) ready(ready_ctx, g, m->W[nh], m->ntrain - m->W[nh]);
    if (nh == 0) return loss;
    int64_t wl = m->width[nh];
    if (rows > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)wl, (int)k, 1.0,
                    p->out, (int)k, theta + m->W[nh], (int)k, 0.0, p->dA, (int)wl);
    int64_t soff = 0;
    for (int l = 0; l < nh; l++) soff += m->width[l + 1];
    for (int l = nh - 1; l >= 0; l--) {
        int64_t in = m->width[l], w = m->width[l + 1];
        soff -= w;
        const double *A = p->A[l + 1];
        double *dZ = p->dZ, *dA = p->dA;
        /* dL/dy through the activation. */
        for (int64_t i = 0; i < rows * w; i++) dZ[i] = dA[i] * activate_grad(m->act, A[i]);
        if (m->bn) {
            /* y = gamma zhat + beta: with S1 = sum dL/dy and S2 = sum dL/dy zhat over the global
             * batch, dL/dz = gamma inv (dL/dy - S1 / N - zhat S2 / N) for every row. */
            const double *H = p->H[l + 1], *gam = theta + m->gamma[l];
            const double *inv = p->inv + soff;
            double *buf = p->buf, *gg = g + m->gamma[l], *gbt = g + m->beta[l];
            for (int64_t j = 0; j < 2 * w; j++) buf[j] = 0;
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < w; j++) {
                    buf[j] += dZ[i * w + j];
                    buf[w + j] += dZ[i * w + j] * H[i * w + j];
                }
            for (int64_t j = 0; j < w; j++) {
                gbt[j] += buf[j];
                gg[j] += buf[w + j];
            }
            reduce_or_keep(reduce, ctx, buf, 2 * w);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < w; j++) {
                    double dy = dZ[i * w + j];
                    dZ[i * w + j] =
                        gam[j] * inv[j] * (dy - buf[j] / N - H[i * w + j] * buf[w + j] / N);
                }
        }
        const double *prevA = l > 0 ? p->A[l] : X;
        accumulate(prevA, dZ, rows, in, w, g + m->W[l], m->bn ? NULL : g + m->b[l]);
        if (ready) ready(ready_ctx, g, m->W[l], m->W[l + 1] - m->W[l]);
        if (l > 0 && rows > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)in, (int)w, 1.0,
                        dZ, (int)w, theta + m->W[l], (int)w, 0.0, dA, (int)in);
    }
    return loss;
}

double mb_mlp_penalty(const mb_mlp *m, double l2, const double *theta, double *g) {
    double sq = 0;
    for (int l = 0; l <= m->nh; l++) {
        int64_t n = m->width[l] * m->width[l + 1];
        const double *W = theta + m->W[l];
        for (int64_t j = 0; j < n; j++) sq += W[j] * W[j];
        if (g)
            for (int64_t j = 0; j < n; j++) g[m->W[l] + j] += l2 * W[j];
    }
    return 0.5 * l2 * sq;
}

void mb_mlp_prox_l1(const mb_mlp *m, double l1, double lr, double *theta) {
    double t = lr * l1;
    for (int l = 0; l <= m->nh; l++) {
        double *W = theta + m->W[l];
        for (int64_t j = 0; j < m->width[l] * m->width[l + 1]; j++) {
            double a = fabs(W[j]) - t;
            W[j] = a > 0 ? copysign(a, W[j]) : 0.0;
        }
    }
}

void mb_mlp_eval(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y, int64_t rows,
                 const double *theta, double *loss_sum, double *metric_sum) {
    double loss = 0, metric = 0;
    int64_t d = m->width[0], k = m->width[m->nh + 1];
    for (int64_t r0 = 0; r0 < rows; r0 += p->max_rows) {
        int64_t c = rows - r0 < p->max_rows ? rows - r0 : p->max_rows;
        /* Inference mode reads theta only. */
        forward(m, p, X + r0 * d, c, (double *)theta, 0, 0, NULL, NULL);
        mb_model_head_eval(m->head, p->out, y + r0, c, k, &loss, &metric);
    }
    *loss_sum = loss;
    *metric_sum = metric;
}

void mb_mlp_predict(const mb_mlp *m, mb_mlp_pass *p, const double *X, int64_t rows,
                    const double *theta, double *out) {
    int64_t d = m->width[0], k = m->width[m->nh + 1];
    for (int64_t r0 = 0; r0 < rows; r0 += p->max_rows) {
        int64_t c = rows - r0 < p->max_rows ? rows - r0 : p->max_rows;
        forward(m, p, X + r0 * d, c, (double *)theta, 0, 0, NULL, NULL);
        mb_model_head_predict(m->head, p->out, c, k);
        memcpy(out + r0 * k, p->out, sizeof(double) * (size_t)(c * k));
    }
}
