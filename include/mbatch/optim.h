/* optim.h - optimizers and learning-rate schedules; identical arithmetic on every rank.
 * Not collective. mb_optim_init allocates; free with mb_optim_free (NULL-safe).
 */
#pragma once

#include <stdint.h>

/* Append-only (checkpoints store the number). */
typedef enum {
    MB_OPT_SGD = 0,
    MB_OPT_ADAM = 1,
    MB_OPT_ADAMW = 2,
    MB_OPT_RMSPROP = 3,
    MB_OPT_ADAGRAD = 4
} mb_optim_type;

typedef struct mb_optim {
    mb_optim_type type;
    int64_t n;                /* parameters */
    double momentum;          /* sgd */
    int nesterov;             /* sgd */
    double beta1, beta2, eps; /* adam, adamw; rmsprop decay = beta2; eps also rmsprop, adagrad */
    int64_t t;                /* steps taken (adam bias correction) */
    double *v;                /* sgd velocity / adam second moment, n doubles, zero-initialized */
    double *m;                /* adam first moment (NULL for sgd) */
    double weight_decay;      /* adamw: decoupled decay, theta -= lr * weight_decay * theta */
} mb_optim;

/* Zeroes the state and sets momentum 0, nesterov 0, beta1 0.9, beta2 0.999, eps 1e-8 (set the
 * fields afterwards to change them). Returns 0, or -1 when out of memory (nothing to free). */
int mb_optim_init(mb_optim *opt, mb_optim_type type, int64_t n);
void mb_optim_free(mb_optim *opt);

/* theta -= step computed from gradient g with learning rate lr; t += 1.
 * SGD: v = momentum*v + g; theta -= lr * (nesterov ? g + momentum*v : v).
 * Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
 * AdamW: theta -= lr * weight_decay * theta, then the Adam step.
 * RMSProp: v = b2*v + (1-b2)*g^2; theta -= lr * g / (sqrt(v) + eps).
 * Adagrad: v += g^2; theta -= lr * g / (sqrt(v) + eps). */
void mb_optim_step(mb_optim *opt, double *theta, const double *g, double lr);

/* Clipping by global norm: if ||g||_2 > max_norm > 0, g *= max_norm / ||g||. Returns ||g|| before
 * clipping. */
double mb_clip_norm(double *g, int64_t n, double max_norm);

typedef enum {
    MB_SCHED_CONSTANT = 0,
    MB_SCHED_STEP = 1,
    MB_SCHED_COSINE = 2,
    MB_SCHED_EXPONENTIAL = 3, /* lr * gamma^epoch */
    MB_SCHED_PLATEAU = 4      /* lr times the factor kept by mb_plateau_update */
} mb_sched_type;

typedef struct mb_schedule {
    mb_sched_type type;
    int64_t step_epochs;  /* step: decay every step_epochs epochs */
    double gamma;         /* step: multiply by gamma */
    double min_lr;        /* cosine: floor */
    double warmup_epochs; /* linear warm-up from lr / (warmup_epochs + 1); see mb_lr_at */
    /* plateau: the state of reduce-on-plateau (mb_plateau_update), a pure function of the
     * validation losses seen, so every rank holds the same. */
    double factor;    /* current multiplier of lr, starts at 1 */
    double best;      /* best validation loss so far (INFINITY at first) */
    int64_t patience; /* epochs without improvement before factor *= gamma */
    int64_t bad;      /* epochs since the best */
    double threshold; /* an improvement is a loss below best * (1 - threshold) */
} mb_schedule;

/* Reduce on plateau: feed the epoch's validation loss; after `patience` epochs without a loss
 * below best * (1 - threshold), factor *= gamma (not below min_lr / lr: see mb_lr_at) and the
 * count restarts. A non-finite loss counts as no improvement. */
void mb_plateau_update(mb_schedule *s, double val_loss);

/* Learning rate for epoch (0-based) of total_epochs. Warm-up (any type): while
 * epoch < warmup_epochs, lr * (epoch + 1) / (warmup_epochs + 1). Step: lr * gamma^(epoch /
 * step_epochs) (integer division, counted from epoch 0; step_epochs <= 0 means no decay).
 * Cosine: min_lr + (lr - min_lr) * (1 + cos(pi * e / E)) / 2 with e = epoch - W and
 * E = total_epochs - W, W = ceil(warmup_epochs) the number of warm-up epochs (lr if E <= 0).
 * Exponential: lr * gamma^epoch. Plateau: max(lr * factor, min_lr). */
double mb_lr_at(const mb_schedule *s, double lr, int64_t epoch, int64_t total_epochs);
