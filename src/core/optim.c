/* optim.c - SGD (momentum, Nesterov), Adam, AdamW, RMSProp and Adagrad updates, clipping, and
 * learning-rate schedules. */
#include "mbatch/optim.h"

#include <math.h>
#include <stdlib.h>

int mb_optim_init(mb_optim *opt, mb_optim_type type, int64_t n) {
    opt->type = type;
    opt->n = n;
    opt->momentum = 0;
    opt->nesterov = 0;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->t = 0;
    opt->m = NULL;
    opt->weight_decay = 0;
    /* One element at least, so that a NULL from calloc always means out of memory. */
    size_t count = n > 0 ? (size_t)n : 1;
    opt->v = calloc(count, sizeof *opt->v);
    if (!opt->v) return -1;
    if (type == MB_OPT_ADAM || type == MB_OPT_ADAMW) {
        opt->m = calloc(count, sizeof *opt->m);
        if (!opt->m) {
            mb_optim_free(opt);
            return -1;
        }
    }
    return 0;
}

void mb_optim_free(mb_optim *opt) {
    if (!opt) return;
    free(opt->v);
    free(opt->m);
    opt->v = NULL;
    opt->m = NULL;
}

void mb_optim_step(mb_optim *opt, double *theta, const double *g, double lr) {
    opt->t++;
    if (opt->type == MB_OPT_SGD) {
        double mu = opt->momentum;
        for (int64_t i = 0; i < opt->n; i++) {
            double v = mu * opt->v[i] + g[i];
            opt->v[i] = v;
            theta[i] -= lr * (opt->nesterov ? g[i] + mu * v : v);
        }
        return;
    }
    if (opt->type == MB_OPT_RMSPROP || opt->type == MB_OPT_ADAGRAD) {
        int rms = opt->type == MB_OPT_RMSPROP;
        double rho = opt->beta2;
        for (int64_t i = 0; i < opt->n; i++) {
            double v = rms ? rho * opt->v[i] + (1.0 - rho) * g[i] * g[i] : opt->v[i] + g[i] * g[i];
            opt->v[i] = v;
            theta[i] -= lr * g[i] / (sqrt(v) + opt->eps);
        }
        return;
    }
    /* AdamW decays the weights apart from the gradient's moments (Loshchilov and Hutter). */
    if (opt->type == MB_OPT_ADAMW)
        for (int64_t i = 0; i < opt->n; i++) theta[i] -= lr * opt->weight_decay * theta[i];
    double b1 = opt->beta1, b2 = opt->beta2;
    double bc1 = 1.0 - pow(b1, (double)opt->t), bc2 = 1.0 - pow(b2, (double)opt->t);
    for (int64_t i = 0; i < opt->n; i++) {
        double m = b1 * opt->m[i] + (1.0 - b1) * g[i];
        double v = b2 * opt->v[i] + (1.0 - b2) * g[i] * g[i];
        opt->m[i] = m;
        opt->v[i] = v;
        theta[i] -= lr * (m / bc1) / (sqrt(v / bc2) + opt->eps);
    }
}

double mb_clip_norm(double *g, int64_t n, double max_norm) {
    double sq = 0;
    for (int64_t i = 0; i < n; i++) sq += g[i] * g[i];
    double norm = sqrt(sq);
    if (max_norm > 0 && norm > max_norm) {
        double f = max_norm / norm;
        for (int64_t i = 0; i < n; i++) g[i] *= f;
    }
    return norm;
}

void mb_plateau_update(mb_schedule *s, double val_loss) {
    if (isfinite(val_loss) && val_loss < s->best * (1.0 - s->threshold)) {
        s->best = val_loss;
        s->bad = 0;
        return;
    }
    if (++s->bad >= (s->patience > 0 ? s->patience : 1)) {
        s->factor *= s->gamma;
        s->bad = 0;
    }
}

#define PI 3.141592653589793238462643383279

double mb_lr_at(const mb_schedule *s, double lr, int64_t epoch, int64_t total_epochs) {
    double w = s->warmup_epochs > 0 ? s->warmup_epochs : 0;
    if ((double)epoch < w) return lr * (double)(epoch + 1) / (w + 1.0);
    switch (s->type) {
    case MB_SCHED_CONSTANT:
        return lr;
    case MB_SCHED_STEP:
        if (s->step_epochs <= 0) return lr;
        return lr * pow(s->gamma, (double)(epoch / s->step_epochs));
    case MB_SCHED_COSINE: {
        /* The warm-up covers the epochs numbered below w, i.e. the first ceil(w) of them. */
        int64_t first = (int64_t)ceil(w);
        int64_t span = total_epochs - first;
        if (span <= 0) return lr;
        double e = (double)(epoch - first);
        return s->min_lr + (lr - s->min_lr) * (1.0 + cos(PI * e / (double)span)) / 2.0;
    }
    case MB_SCHED_EXPONENTIAL:
        return lr * pow(s->gamma, (double)epoch);
    case MB_SCHED_PLATEAU:
        return fmax(lr * s->factor, s->min_lr);
    }
    return lr;
}
