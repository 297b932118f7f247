/* optim.h - optimizers and learning-rate schedules; identical arithmetic on every rank.
 * Not collective. mb_optim_init allocates; free with mb_optim_free (NULL-safe).
 */
#pragma once

#include <stdint.h>

typedef enum { MB_OPT_SGD = 0, MB_OPT_ADAM = 1 } mb_optim_type;

typedef struct mb_optim {
    mb_optim_type type;
    int64_t n;                /* parameters */
    double momentum;          /* sgd */
    int nesterov;             /* sgd */
    double beta1, beta2, eps; /* adam */
    int64_t t;                /* steps taken (adam bias correction) */
    double *v;                /* sgd velocity / adam second moment, n doubles, zero-initialized */
    double *m;                /* adam first moment (NULL for sgd) */
} mb_optim;

/* Zeroes the state and sets momentum 0, nesterov 0, beta1 0.9, beta2 0.999, eps 1e-8 (set the
 * fields afterwards to change them). Returns 0, or -1 when out of memory (nothing to free). */
int mb_optim_init(mb_optim *opt, mb_optim_type type, int64_t n);
void mb_optim_free(mb_optim *opt);

/* theta -= step computed from gradient g with learning rate lr; t += 1.
 * SGD: v = momentum*v + g; theta -= lr * (nesterov ? g + momentum*v : v).
 * Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
void mb_optim_step(mb_optim *opt, double *theta, const double *g, double lr);

typedef enum { MB_SCHED_CONSTANT = 0, MB_SCHED_STEP = 1, MB_SCHED_COSINE = 2 } mb_sched_type;

typedef struct mb_schedule {
    mb_sched_type type;
    int64_t step_epochs;  /* step: decay every step_epochs epochs */
    double gamma;         /* step: multiply by gamma */
    double min_lr;        /* cosine: floor */
    double warmup_epochs; /* linear warm-up from lr / (warmup_epochs + 1); see mb_lr_at */
} mb_schedule;

/* Learning rate for epoch (0-based) of total_epochs. Warm-up (any type): while
 * epoch < warmup_epochs, lr * (epoch + 1) / (warmup_epochs + 1). Step: lr * gamma^(epoch /
 * step_epochs) (integer division, counted from epoch 0; step_epochs <= 0 means no decay).
 * Cosine: min_lr + (lr - min_lr) * (1 + cos(pi * e / E)) / 2 with e = epoch - W and
 * E = total_epochs - W, W = ceil(warmup_epochs) the number of warm-up epochs (lr if E <= 0). */
double mb_lr_at(const mb_schedule *s, double lr, int64_t epoch, int64_t total_epochs);
