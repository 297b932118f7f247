/* lbfgs.c - the L-BFGS two-loop recursion and the strong-Wolfe line search of lbfgs.h. */
#include "mbatch/lbfgs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

int mb_lbfgs_init(mb_lbfgs *lb, int64_t n, int m) {
    memset(lb, 0, sizeof *lb);
    if (n < 1 || m < 1) return -1;
    lb->n = n;
    lb->m = m;
    lb->s = malloc(sizeof(double) * (size_t)n * (size_t)m);
    lb->y = malloc(sizeof(double) * (size_t)n * (size_t)m);
    lb->rho = malloc(sizeof(double) * (size_t)m);
    lb->alpha = malloc(sizeof(double) * (size_t)m);
    if (!lb->s || !lb->y || !lb->rho || !lb->alpha) {
        mb_lbfgs_free(lb);
        return -1;
    }
    return 0;
}

void mb_lbfgs_free(mb_lbfgs *lb) {
    if (!lb) return;
    free(lb->s);
    free(lb->y);
    free(lb->rho);
    free(lb->alpha);
    memset(lb, 0, sizeof *lb);
}

void mb_lbfgs_reset(mb_lbfgs *lb) {
    lb->count = 0;
    lb->head = 0;
}

void mb_lbfgs_direction(mb_lbfgs *lb, const double *g, double *d) {
    int64_t n = lb->n;
    for (int64_t i = 0; i < n; i++) d[i] = -g[i];
    /* Newest to oldest. */
    for (int k = 0; k < lb->count; k++) {
        int j = (lb->head - 1 - k + lb->m) % lb->m;
        const double *s = lb->s + (size_t)j * (size_t)n, *y = lb->y + (size_t)j * (size_t)n;
        double a = lb->rho[j] * dot(s, d, n);
        lb->alpha[j] = a;
        for (int64_t i = 0; i < n; i++) d[i] -= a * y[i];
    }
    if (lb->count > 0) {
        int j = (lb->head - 1 + lb->m) % lb->m;
        const double *y = lb->y + (size_t)j * (size_t)n;
        double gamma = 1.0 / (lb->rho[j] * dot(y, y, n));
        for (int64_t i = 0; i < n; i++) d[i] *= gamma;
    }
    /* Oldest to newest. */
    for (int k = lb->count - 1; k >= 0; k--) {
        int j = (lb->head - 1 - k + lb->m) % lb->m;
        const double *s = lb->s + (size_t)j * (size_t)n, *y = lb->y + (size_t)j * (size_t)n;
        double b = lb->rho[j] * dot(y, d, n);
        for (int64_t i = 0; i < n; i++) d[i] += (lb->alpha[j] - b) * s[i];
    }
}

int mb_lbfgs_push(mb_lbfgs *lb, const double *s, const double *y) {
    int64_t n = lb->n;
    double sy = dot(s, y, n), ss = dot(s, s, n), yy = dot(y, y, n);
    if (!(sy > 1e-12 * sqrt(ss * yy)) || !isfinite(sy)) return 1;
    int j = lb->head;
    memcpy(lb->s + (size_t)j * (size_t)n, s, sizeof(double) * (size_t)n);
    memcpy(lb->y + (size_t)j * (size_t)n, y, sizeof(double) * (size_t)n);
    lb->rho[j] = 1.0 / sy;
    lb->head = (j + 1) % lb->m;
    if (lb->count < lb->m) lb->count++;
    return 0;
}

void mb_wolfe_start(mb_wolfe *ls, double f0, double dg0, double alpha0) {
    memset(ls, 0, sizeof *ls);
    ls->c1 = 1e-4;
    ls->c2 = 0.9;
    ls->f0 = f0;
    ls->dg0 = dg0;
    ls->alpha = alpha0;
    ls->a_prev = 0;
    ls->f_prev = f0;
    ls->dg_prev = dg0;
    ls->max_evals = 40;
}

/* The minimizer of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle 80% of
 * the interval; bisection when the cubic has no usable minimizer. */
static double cubic_step(double a, double fa, double da, double b, double fb, double db) {
    double lo = a < b ? a : b, hi = a < b ? b : a, w = hi - lo, mid = 0.5 * (a + b);
    double d1 = da + db - 3 * (fa - fb) / (a - b);
    double disc = d1 * d1 - da * db;
    if (!(disc >= 0)) return mid;
    double d2 = (b > a ? 1.0 : -1.0) * sqrt(disc);
    double den = db - da + 2 * d2;
    if (den == 0) return mid;
    double t = b - (b - a) * (db + d2 - d1) / den;
    if (!isfinite(t)) return mid;
    if (t < lo + 0.1 * w) t = lo + 0.1 * w;
    if (t > hi - 0.1 * w) t = hi - 0.1 * w;
    return t;
}

static mb_ls_status zoom_next(mb_wolfe *ls) {
    double w = fabs(ls->a_hi - ls->a_lo);
    if (w <= 1e-16 * fabs(ls->a_lo) || w == 0) return MB_LS_FAIL;
    ls->alpha = cubic_step(ls->a_lo, ls->f_lo, ls->dg_lo, ls->a_hi, ls->f_hi, ls->dg_hi);
    return MB_LS_EVAL;
}

mb_ls_status mb_wolfe_next(mb_wolfe *ls, double f, double dg) {
    double a = ls->alpha;
    ls->evals++;
    if (!(ls->dg0 < 0) || !isfinite(ls->f0)) return MB_LS_FAIL;
    if (!isfinite(f) || !isfinite(dg)) {
        /* Overshot into overflow: step back towards the last good point. */
        if (ls->evals >= ls->max_evals) return MB_LS_FAIL;
        double lo = ls->zoom ? ls->a_lo : ls->a_prev;
        ls->alpha = lo + 0.1 * (a - lo);
        if (ls->zoom) ls->a_hi = a, ls->f_hi = INFINITY, ls->dg_hi = 0;
        return ls->alpha > lo ? MB_LS_EVAL : MB_LS_FAIL;
    }
    int armijo = f <= ls->f0 + ls->c1 * a * ls->dg0;
    int curvature = fabs(dg) <= -ls->c2 * ls->dg0;
    if (!ls->zoom) {
        if (!armijo || (ls->evals > 1 && f >= ls->f_prev)) {
            ls->zoom = 1;
            ls->a_lo = ls->a_prev, ls->f_lo = ls->f_prev, ls->dg_lo = ls->dg_prev;
            ls->a_hi = a, ls->f_hi = f, ls->dg_hi = dg;
        } else if (curvature) {
            return MB_LS_DONE;
        } else if (dg >= 0) {
            ls->zoom = 1;
            ls->a_lo = a, ls->f_lo = f, ls->dg_lo = dg;
            ls->a_hi = ls->a_prev, ls->f_hi = ls->f_prev, ls->dg_hi = ls->dg_prev;
        } else {
            if (ls->evals >= ls->max_evals) return MB_LS_FAIL;
            ls->a_prev = a, ls->f_prev = f, ls->dg_prev = dg;
            ls->alpha = 4 * a; /* still descending with sufficient decrease: extrapolate */
            return MB_LS_EVAL;
        }
    } else {
        if (!armijo || f >= ls->f_lo) {
            ls->a_hi = a, ls->f_hi = f, ls->dg_hi = dg;
        } else {
            if (curvature) return MB_LS_DONE;
            if (dg * (ls->a_hi - ls->a_lo) >= 0)
                ls->a_hi = ls->a_lo, ls->f_hi = ls->f_lo, ls->dg_hi = ls->dg_lo;
            ls->a_lo = a, ls->f_lo = f, ls->dg_lo = dg;
        }
    }
    if (ls->evals >= ls->max_evals) return MB_LS_FAIL;
    return zoom_next(ls);
}
