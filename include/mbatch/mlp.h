/* mlp.h - multilayer perceptron kernels with batch normalization synchronized through a callback.
 *
 * A network maps d features through hidden layers of widths h_1..h_L (affine, optional batch
 * normalization, activation) to a head of k outputs that is one of the linear models' heads
 * (linear, logistic, softmax: mb_model_head_residual). Parameters live in one flat vector theta of
 * m->nparam doubles: for each hidden layer W_l [in][out] row-major, then gamma_l, beta_l [out] with
 * batch norm or b_l [out] without; then the output W [h_L][k] and b [k]; then, with batch norm,
 * the running means and running variances of every hidden layer (m->nstat doubles, not trained:
 * their gradient is 0 and the optimizer covers only the first m->ntrain values).
 *
 * Batch normalization of layer l over the GLOBAL mini-batch of N rows (spread over ranks):
 * mu = sum z / N, var = sum (z - mu)^2 / N, zhat = (z - mu) / sqrt(var + eps), y = gamma zhat +
 * beta. The kernels have no MPI: at each point that needs a sum over the global batch they call
 * reduce(ctx, buf, n), which must replace buf[0..n) by its sum over every rank (an allreduce;
 * NULL means one process). Every rank calls reduce the same number of times with the same n,
 * whatever its row count (0 rows included), so the collectives match. Per step with batch norm
 * that is 3 reductions per hidden layer: sums, squared deviations, and in the backward pass the
 * sums of dL/dy and dL/dy * zhat that every row's exact gradient needs.
 *
 * Example (one rank's share of a global batch; the caller then sums g over ranks):
 *     mb_mlp m; mb_mlp_setup(&m, d, k, 2, (int64_t[]){64, 64}, MB_ACT_RELU, 1, MB_MODEL_SOFTMAX);
 *     mb_mlp_pass *p = mb_mlp_pass_new(&m, max_rows);
 *     mb_mlp_init(&m, seed, theta);
 *     loss = mb_mlp_grad(&m, p, X, y, rows, theta, g, 1, allreduce_sum, comm);
 * Not collective except through reduce.
 */
#pragma once

#include <stdint.h>

#include "mbatch/model.h"

#define MB_MLP_MAX_HIDDEN 16

typedef enum { MB_ACT_RELU = 0, MB_ACT_TANH = 1, MB_ACT_SIGMOID = 2 } mb_activation;

typedef struct mb_mlp {
    int nh;                               /* hidden layers */
    int64_t width[MB_MLP_MAX_HIDDEN + 2]; /* width[0] = d, width[1..nh] hidden, width[nh+1] = k */
    mb_activation act;
    int bn;             /* batch normalization after every hidden affine layer */
    mb_model_type head; /* MB_MODEL_LINEAR, LOGISTIC or SOFTMAX */
    double bn_eps;      /* 1e-5 */
    double bn_momentum; /* running = (1 - m) running + m batch; 0.1 */
    /* Offsets into theta for layers 0..nh (layer nh is the output): b < 0 with batch norm. */
    int64_t W[MB_MLP_MAX_HIDDEN + 1], b[MB_MLP_MAX_HIDDEN + 1];
    int64_t gamma[MB_MLP_MAX_HIDDEN], beta[MB_MLP_MAX_HIDDEN];
    int64_t rmean[MB_MLP_MAX_HIDDEN], rvar[MB_MLP_MAX_HIDDEN];
    int64_t ntrain, nstat, nparam;
    /* Class weights for training (logistic: 2, softmax: k values; NULL: all 1): a row of class c
     * counts class_weight[c] times in the training loss and gradient. Set after mb_mlp_setup. */
    const double *class_weight;
} mb_mlp;

/* Lay out a network. Returns 0, or -1 if nh is out of [0, MB_MLP_MAX_HIDDEN], a width < 1,
 * d < 0, k < 1, or the head is not linear, logistic or softmax. */
int mb_mlp_setup(mb_mlp *m, int64_t d, int64_t k, int nh, const int64_t *hidden, mb_activation act,
                 int bn, mb_model_type head);

/* Initial parameters from the counter RNG: He normal (variance 2 / fan_in) for ReLU layers,
 * Xavier normal (variance 2 / (fan_in + fan_out)) for tanh/sigmoid layers and the output; biases
 * and beta 0, gamma 1, running means 0 and running variances 1. */
void mb_mlp_init(const mb_mlp *m, uint64_t seed, double *theta);

/* Buffers of one pass over up to max_rows rows (activations of every layer). NULL when out of
 * memory. Free with mb_mlp_pass_free (NULL-safe). */
typedef struct mb_mlp_pass mb_mlp_pass;
mb_mlp_pass *mb_mlp_pass_new(const mb_mlp *m, int64_t max_rows);
void mb_mlp_pass_free(mb_mlp_pass *p);

typedef void (*mb_reduce_fn)(void *ctx, double *buf, int64_t n);

/* Training step on this rank's rows (rows <= max_rows) of a global mini-batch: batch statistics
 * over the global batch (through reduce), g[0 .. ntrain) += this rank's share of the gradient of
 * the global batch's summed loss; returns this rank's summed loss. With update_stats, the running
 * statistics at the tail of theta move toward the batch's (variance unbiased: N / (N - 1)), the
 * same on every rank. Collective through reduce. */
double mb_mlp_grad(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y, int64_t rows,
                   double *theta, double *g, int update_stats, mb_reduce_fn reduce, void *ctx);

/* Called by mb_mlp_grad_ready as soon as a layer's share of the gradient is final:
 * g[off .. off + n) will not be touched again in this step, so the caller may start reducing it
 * while the backward pass goes on to the layers below. Layers come output first, each slice just
 * below the previous one: [W[nh], ntrain), then [W[nh-1], W[nh]), ..., down to [0, W[1]). */
typedef void (*mb_ready_fn)(void *ctx, double *g, int64_t off, int64_t n);

/* mb_mlp_grad that calls ready(ready_ctx, g, off, n) for each layer's slice of g as above. */
double mb_mlp_grad_ready(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y,
                         int64_t rows, double *theta, double *g, int update_stats,
                         mb_reduce_fn reduce, void *ctx, mb_ready_fn ready, void *ready_ctx);

/* 0.5 * l2 * (sum of squared weights W of every layer; biases, gamma, beta and statistics
 * excluded); if g is not NULL, g[W] += l2 * W. */
double mb_mlp_penalty(const mb_mlp *m, double l2, const double *theta, double *g);
/* Proximal step of l1 * ||W||_1 over the same weights: W = sign(W) max(|W| - lr l1, 0). */
void mb_mlp_prox_l1(const mb_mlp *m, double l1, double lr, double *theta);

/* Inference with the running statistics (no reduce): like mb_model_eval and mb_model_predict
 * (out[rows][k] for softmax, out[rows] otherwise). Rows are processed in blocks of the pass's
 * max_rows. Not collective. */
void mb_mlp_eval(const mb_mlp *m, mb_mlp_pass *p, const double *X, const double *y, int64_t rows,
                 const double *theta, double *loss_sum, double *metric_sum);
void mb_mlp_predict(const mb_mlp *m, mb_mlp_pass *p, const double *X, int64_t rows,
                    const double *theta, double *out);
