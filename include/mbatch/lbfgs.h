/* lbfgs.h - limited-memory BFGS: the two-loop recursion and a strong-Wolfe line search.
 *
 * Both are pure state machines (no MPI, no allocation after init): the caller evaluates the
 * objective and its gradient itself, which in mbatch is a pass over every rank's shard plus one
 * allreduce, and feeds the results back. One iteration:
 *
 *     mb_lbfgs_direction(&lb, g, d);                     // d = -H g
 *     mb_wolfe_start(&ls, f, dot(g, d), alpha0);
 *     do { x_t = x + ls.alpha * d; f_t, g_t = evaluate(x_t); }
 *     while ((st = mb_wolfe_next(&ls, f_t, dot(g_t, d))) == MB_LS_EVAL);
 *     if (st == MB_LS_DONE) { mb_lbfgs_push(&lb, x_t - x, g_t - g); x = x_t; g = g_t; }
 *
 * Not collective; every rank runs the same arithmetic on the same reduced values.
 */
#pragma once

#include <stdint.h>

typedef struct mb_lbfgs {
    int64_t n;     /* parameters */
    int m;         /* memory: pairs kept */
    int count;     /* pairs held (<= m) */
    int head;      /* slot of the next pair */
    double *s, *y; /* m x n: steps and gradient differences, a ring */
    double *rho;   /* 1 / (y.s) */
    double *alpha; /* two-loop scratch */
} mb_lbfgs;

/* Returns 0, or -1 when out of memory (nothing to free). m >= 1. */
int mb_lbfgs_init(mb_lbfgs *lb, int64_t n, int m);
void mb_lbfgs_free(mb_lbfgs *lb);  /* NULL-safe, idempotent */
void mb_lbfgs_reset(mb_lbfgs *lb); /* forget every pair */

/* d = -H g with H the L-BFGS inverse Hessian of the stored pairs, H0 = (s.y / y.y) I of the
 * newest pair (I when there is none). d must not alias g. */
void mb_lbfgs_direction(mb_lbfgs *lb, const double *g, double *d);

/* Store the pair s = x_new - x_old, y = g_new - g_old, evicting the oldest beyond m. A pair with
 * s.y <= 1e-12 |s| |y| (no positive curvature) is skipped: returns 1; stored: 0. */
int mb_lbfgs_push(mb_lbfgs *lb, const double *s, const double *y);

typedef enum { MB_LS_EVAL = 0, MB_LS_DONE = 1, MB_LS_FAIL = 2 } mb_ls_status;

/* Strong Wolfe line search along a descent direction (Nocedal & Wright, algorithms 3.5 and 3.6,
 * with safeguarded cubic interpolation): accepts alpha with
 *   f(alpha) <= f0 + c1 alpha dg0  and  |dg(alpha)| <= c2 |dg0|. */
typedef struct mb_wolfe {
    double c1, c2;  /* 1e-4 and 0.9 unless changed after mb_wolfe_start */
    double f0, dg0; /* at alpha = 0 */
    double alpha;   /* the step to evaluate next: read it after start and after MB_LS_EVAL */
    double a_prev, f_prev, dg_prev;
    double a_lo, f_lo, dg_lo, a_hi, f_hi, dg_hi;
    int zoom;      /* 0: bracketing, 1: zooming in [a_lo, a_hi] */
    int evals;     /* evaluations so far */
    int max_evals; /* 40 unless changed */
} mb_wolfe;

/* Start a search from f0 and dg0 = g.d (< 0) with the first trial step alpha0 > 0. */
void mb_wolfe_start(mb_wolfe *ls, double f0, double dg0, double alpha0);
/* Feed f and dg = g.d at ls->alpha. MB_LS_EVAL: evaluate again at the new ls->alpha;
 * MB_LS_DONE: ls->alpha (the point just fed) satisfies the Wolfe conditions; MB_LS_FAIL: no
 * such step found (not a descent direction, non-finite values, the bracket collapsed to
 * rounding, or max_evals reached). */
mb_ls_status mb_wolfe_next(mb_wolfe *ls, double f, double dg);
