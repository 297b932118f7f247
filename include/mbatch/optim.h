/* optim.h - optimizers and learning-rate schedules; identical arithmetic on every rank.
 * Not collective. mb_optim_init allocates; free with mb_optim_free (NULL-safe).
 */
#pragma once

#include <stdint.h>

typedef enum { MB_OPT_SGD = 0, MB_OPT_ADAM = 1 } mb_optim_type;

typedef struct mb_optim {
    mb_optim_type type;
    int64_t n;       /* parameters */
    double momentum; /* sgd */
    int nesterov;    /* sgd */
    double beta1, beta2, eps; /* adam */
    int64_t t;       /* steps taken (adam bias correction) */
    double *v;       /* sgd velocity / adam second moment, n doubles, zero-initialized */
    double *m;       /* adam first moment (NULL for sgd) */
} mb_optim;

int mb_optim_init(mb_optim *opt, mb_optim_type type, int64_t n); /* 0 or -1 (out of memory) */
void mb_optim_free(mb_optim *opt);

/* theta -= step computed from gradient g with learning rate lr.
 * SGD: v = momentum*v + g; theta -= lr * (nesterov ? g + momentum*v : v).
 * Adam: the usual bias-corrected update with (beta1, beta2, eps). */
void mb_optim_step(mb_optim *opt, double *theta, const double *g, double lr);

typedef enum { MB_SCHED_CONSTANT = 0, MB_SCHED_STEP = 1, MB_SCHED_COSINE = 2 } mb_sched_type;

typedef struct mb_schedule {
    mb_sched_type type;
    int64_t step_epochs; /* step: decay every step_epochs epochs */
    double gamma;        /* step: multiply by gamma */
    double min_lr;       /* cosine: floor */
    double warmup_epochs; /* linear warm-up from lr/10... see mb_lr_at */
} mb_schedule;

/* Learning rate for epoch (0-based) of total_epochs. Warm-up (any type): during the first
 * warmup_epochs epochs, lr * (epoch + 1) / (warmup_epochs + 1). Step: lr * gamma^(epoch /
 * step_epochs). Cosine: min_lr + (lr - min_lr) * (1 + cos(pi * e / E)) / 2 over the epochs after
 * warm-up. */
double mb_lr_at(const mb_schedule *s, double lr, int64_t epoch, int64_t total_epochs);
