/* solve_run.c - training with optimizer exact (least squares), newton (IRLS) or lbfgs, on every
 * rank's shard, with the linear algebra distributed by ScaLAPACK (src/solve). */
#include "solve_run.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/gap.h"
#include "mbatch/lbfgs.h"
#include "mbatch/metrics.h"
#include "mbatch/kernel.h"
#include "mbatch/model.h"
#include "mbatch/solve.h"
#include "lock.h"
#include "shared.h"
#include "signals.h"
#include "stream.h"

/* One solver run over a loaded state: the objective is the mean training loss plus
 * (l2/2)|W|^2, evaluated over every rank's rows with one allreduce. */
typedef struct solver {
    const mb_comm *c;
    const mb_job *job;
    const mb__state *s;
    mb_model_type t;
    int64_t d, k, p1, np; /* features, outputs, d + 1, parameters (d + 1) * k */
    double n, l2;
    double *pkt, *work;  /* gradient + loss for the allreduce; model workspace */
    const double *X, *y; /* the training rows: the shard, or a streamed shard's float64 copy */
    char **names;        /* parameter names for error messages, built on demand */
    int64_t evals;
    double compute_s, comm_s;
    mb_grid grid;
} solver;

int mb__solve_wanted(const mb_job *job) {
    const char *t = job->optimizer.type;
    return !strcmp(t, "exact") || !strcmp(t, "newton") || !strcmp(t, "lbfgs");
}

static void solver_free(solver *v) {
    free(v->pkt);
    free(v->work);
    if (v->names)
        for (int64_t j = 0; j < v->np; j++) free(v->names[j]);
    free(v->names);
    mb_grid_free(&v->grid);
}

/* Collective. */
static mb_err solver_init(solver *v, const mb_comm *c, const mb_job *job, const mb__state *s) {
    memset(v, 0, sizeof *v);
    v->c = c;
    v->job = job;
    v->s = s;
    v->t = mb__job_model_type(job);
    v->d = s->d;
    v->k = s->k;
    v->p1 = s->d + 1;
    v->np = mb_model_nparam(s->d, s->k);
    v->n = (double)s->n_train;
    v->l2 = job->model.l2;
    v->grid.ctxt = -1;
    v->X = mb__train_rows(s, &v->y);
    v->pkt = mb__alloc(sizeof(double) * (size_t)(v->np + 1), "the gradient");
    v->work = mb__alloc(sizeof(double) * (size_t)mb_model_work_size(v->k), "the model workspace");
    mb_err err = mb_agree(c, mb_error_code(), NULL);
    if (!err && s->n_train < 1)
        err = mb_error_set(MB_EDATA, "%s: no training rows (validation_fraction %g)",
                           job->dataset.path, job->dataset.validation_fraction);
    if (!err) err = mb_grid_init(c, &v->grid);
    return err;
}

/* Parameter names for messages: w[<feature>] (with the class for softmax) and the intercepts. */
static const char *const *param_names(solver *v) {
    if (v->names) return (const char *const *)v->names;
    v->names = calloc((size_t)v->np, sizeof(char *));
    if (!v->names) return NULL;
    int named = v->s->ncol == v->d && v->s->ds;
    for (int64_t j = 0; j < v->p1; j++)
        for (int64_t a = 0; a < v->k; a++) {
            char buf[256], cls[32] = "";
            if (v->k > 1) snprintf(cls, sizeof cls, ", class %lld", (long long)a);
            if (j == v->d)
                snprintf(buf, sizeof buf, "intercept%s", cls);
            else if (named)
                snprintf(buf, sizeof buf, "w[%s%s]", mb_dataset_colname(v->s->ds, j), cls);
            else
                snprintf(buf, sizeof buf, "w[%lld%s]", (long long)j, cls);
            v->names[j * v->k + a] = strdup(buf);
        }
    return (const char *const *)v->names;
}

/* The objective at theta and its gradient g (np): one pass over the shard, one allreduce. */
static double evaluate(solver *v, const double *theta, double *g) {
    const mb__state *s = v->s;
    double t0 = mb_wtime();
    memset(v->pkt, 0, sizeof(double) * (size_t)(v->np + 1));
    /* The fused kernel (one read of each row); for softmax it is mb_model_grad itself. */
    v->pkt[v->np] = mb_kernel_grad(v->t, v->X, MB_DTYPE_F64, v->y, NULL, s->mt, v->d, v->k, theta,
                                   v->pkt, v->work);
    double t1 = mb_wtime();
    mb_allreduce_sum(v->c, v->pkt, v->np + 1);
    double t2 = mb_wtime();
    for (int64_t j = 0; j < v->np; j++) g[j] = v->pkt[j] / v->n;
    double f = v->pkt[v->np] / v->n + mb_model_penalty(v->d, v->k, v->l2, theta, g);
    v->evals++;
    v->compute_s += (t1 - t0) + (mb_wtime() - t2);
    v->comm_s += t2 - t1;
    return f;
}

static double max_abs(const double *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Rows per block of the Hessian's rank-R updates: large enough that dsyrk runs near peak, small
 * enough that the two row buffers stay near 16 MB for wide data. */
#define HESS_CHUNK 2048
#define HESS_BUF   (1 << 21)

/* H (np x np, column-major, full) = the Hessian of the objective at theta:
 * (1/n) sum_i x~_i x~_i^T (x) (diag(p_i) - p_i p_i^T) plus l2 on W, x~ = [x, 1]. Each rank sums
 * its rows block by block (k(k+1)/2 blocks of (d+1)^2 with BLAS), one allreduce adds them.
 * Softmax: with every class's intercepts (and, without l2, weights) free, a shift of all classes
 * leaves the loss unchanged, so H is singular along those directions; the gradient has no
 * component there, and adding the projector onto them makes H definite without changing the
 * Newton step elsewhere. */
static mb_err hessian(solver *v, const double *theta, double *H) {
    const mb__state *s = v->s;
    int64_t d = v->d, k = v->k, p1 = v->p1, np = v->np, nblk = k * (k + 1) / 2;
    int64_t R = HESS_BUF / p1 < 64 ? 64 : HESS_BUF / p1 > HESS_CHUNK ? HESS_CHUNK : HESS_BUF / p1;
    mb_err err = MB_OK;
    double t0 = mb_wtime();
    /* k = 1: the single block is H itself. */
    double *B = k == 1 ? H : calloc((size_t)(nblk * p1 * p1), sizeof(double));
    double *X1 = malloc(sizeof(double) * (size_t)(R * p1));
    double *T = malloc(sizeof(double) * (size_t)(R * p1));
    double *P = malloc(sizeof(double) * (size_t)(R * k));
    if (!B || !X1 || !T || !P)
        err = mb_error_set(MB_EENV, "out of memory for the %lld x %lld Hessian", (long long)np,
                           (long long)np);
    MB_TRY(mb_agree(v->c, err, NULL));
    if (k == 1) memset(H, 0, sizeof(double) * (size_t)(np * np));
    for (int64_t r0 = 0; r0 < s->mt; r0 += R) {
        int64_t r = s->mt - r0 < R ? s->mt - r0 : R;
        const double *Xc = v->X + r0 * d;
        for (int64_t i = 0; i < r; i++) {
            memcpy(X1 + i * p1, Xc + i * d, sizeof(double) * (size_t)d);
            X1[i * p1 + d] = 1.0;
        }
        /* Scores z = X W + b, then probabilities. */
        for (int64_t i = 0; i < r; i++)
            memcpy(P + i * k, theta + d * k, sizeof(double) * (size_t)k);
        if (d > 0)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)k, (int)d, 1.0, Xc,
                        (int)d, theta, (int)k, 1.0, P, (int)k);
        for (int64_t i = 0; i < r; i++) {
            double *z = P + i * k;
            if (v->t == MB_MODEL_LINEAR) {
                z[0] = 1.0; /* weight 1: X'X */
            } else if (v->t == MB_MODEL_LOGISTIC) {
                double q = 1.0 / (1.0 + exp(-z[0]));
                z[0] = q; /* weight p(1 - p) below */
            } else {
                double mx = z[0], sum = 0;
                for (int64_t a = 1; a < k; a++) mx = z[a] > mx ? z[a] : mx;
                for (int64_t a = 0; a < k; a++) sum += (z[a] = exp(z[a] - mx));
                for (int64_t a = 0; a < k; a++) z[a] /= sum;
            }
        }
        int64_t blk = 0;
        for (int64_t a = 0; a < k; a++)
            for (int64_t b = a; b < k; b++, blk++) {
                double *Bab = B + blk * p1 * p1;
                int unit = v->t == MB_MODEL_LINEAR; /* weights 1: X~'X~ directly */
                for (int64_t i = 0; i < r && !unit; i++) {
                    double pa = P[i * k + a], w;
                    if (v->t == MB_MODEL_LINEAR)
                        w = 1.0;
                    else if (v->t == MB_MODEL_LOGISTIC)
                        w = pa * (1.0 - pa);
                    else
                        w = pa * ((a == b) - P[i * k + b]);
                    /* Diagonal blocks have w >= 0: a symmetric rank-r update of sqrt(w) x~. */
                    double sc = a == b ? sqrt(w > 0 ? w : 0) : w;
                    for (int64_t j = 0; j < p1; j++) T[i * p1 + j] = sc * X1[i * p1 + j];
                }
                if (a == b)
                    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p1, (int)r, 1.0,
                                unit ? X1 : T, (int)p1, 1.0, Bab, (int)p1);
                else
                    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)p1, (int)p1, (int)r,
                                1.0, X1, (int)p1, T, (int)p1, 1.0, Bab, (int)p1);
            }
    }
    double t1 = mb_wtime();
    mb_allreduce_sum(v->c, B, nblk * p1 * p1);
    double t2 = mb_wtime();
    double inv = 1.0 / v->n;
    if (k == 1) {
        for (int64_t l = 0; l < p1; l++)
            for (int64_t j = 0; j <= l; j++) {
                double x = H[j + l * np] * inv;
                H[j + l * np] = H[l + j * np] = x;
            }
    } else {
        int64_t blk2 = 0;
        for (int64_t a = 0; a < k; a++)
            for (int64_t b = a; b < k; b++, blk2++) {
                const double *Bab = B + blk2 * p1 * p1;
                for (int64_t l = 0; l < p1; l++)
                    for (int64_t j = 0; j < p1; j++) {
                        if (a == b && j > l) continue;
                        double x = Bab[j + l * p1] * inv;
                        int64_t r1 = j * k + a, c1 = l * k + b, r2 = l * k + a, c2 = j * k + b;
                        H[r1 + c1 * np] = H[c1 + r1 * np] = x;
                        H[r2 + c2 * np] = H[c2 + r2 * np] = x;
                    }
            }
        for (int64_t j = 0; j < p1; j++) {
            if (j < d && v->l2 > 0) continue;
            for (int64_t a = 0; a < k; a++)
                for (int64_t b = 0; b < k; b++)
                    H[(j * k + a) + (j * k + b) * np] += 1.0 / (double)k;
        }
    }
    for (int64_t j = 0; j < d * k; j++) H[j + j * np] += v->l2;
    v->compute_s += (t1 - t0) + (mb_wtime() - t2);
    v->comm_s += t2 - t1;
out:
    if (B != H) free(B);
    free(X1);
    free(T);
    free(P);
    return err;
}

/* Refuse systems whose Hessian would not fit before allocating it on every rank. */
static mb_err check_dense(const solver *v, const char *what) {
    double bytes = (double)v->np * (double)v->np * 8.0 * (v->k == 1 ? 1.0 : 1.5);
    if (v->np > 46340 || bytes > 16e9)
        return mb_error_set(MB_EUSAGE,
                            "%s needs a dense %lld x %lld matrix (%.3g GB on every rank); use "
                            "optimizer.type=lbfgs for this many parameters",
                            what, (long long)v->np, (long long)v->np, bytes / 1e9);
    return MB_OK;
}

/* Validation loss and metric of theta over every rank's validation rows. Collective. */
static void validation(solver *v, const double *theta, double *loss, double *metric) {
    const mb__state *s = v->s;
    double ev[3] = {0, 0, (double)s->mv};
    if (s->mv > 0)
        mb_model_eval(v->t, s->Xva, s->yva, s->mv, v->d, v->k, theta, v->work, &ev[0], &ev[1]);
    mb_allreduce_sum(v->c, ev, 3);
    *loss = ev[2] > 0 ? ev[0] / ev[2] : NAN;
    int regress = v->t == MB_MODEL_LINEAR || v->t == MB_MODEL_HUBER; /* metric: RMSE */
    *metric = ev[2] > 0 ? (regress ? sqrt(ev[1] / ev[2]) : ev[1] / ev[2]) : NAN;
}

/* Exact least squares for the linear model into theta. Cholesky: the normal equations
 * (X~'X~/n + l2 I_W) theta = X~'y/n, i.e. one Newton step from 0 on the quadratic objective.
 * QR: min |A theta - b| with A = [X~; sqrt(n l2) I_W] over all ranks' rows. Collective. */
static mb_err exact_solve(solver *v, double *theta, int verbose) {
    mb_err err = MB_OK;
    int64_t np = v->np, p1 = v->p1, d = v->d;
    double *g = NULL, *H = NULL, *A = NULL, *b = NULL;
    if (strcmp(v->job->optimizer.solver, "qr") == 0) {
        const mb__state *s = v->s;
        int ridge = v->l2 > 0 && v->c->rank == 0;
        int64_t m = s->mt + (ridge ? d : 0);
        A = calloc((size_t)(m > 0 ? m : 1) * (size_t)p1, sizeof(double));
        b = calloc((size_t)(m > 0 ? m : 1), sizeof(double));
        err = A && b ? MB_OK
                     : mb_error_set(MB_EENV, "out of memory for the %lld x %lld least-squares rows",
                                    (long long)m, (long long)p1);
        MB_TRY(mb_agree(v->c, err, NULL));
        double t0 = mb_wtime();
        for (int64_t i = 0; i < s->mt; i++) {
            for (int64_t j = 0; j < d; j++) A[i + j * m] = s->Xtr[i * d + j];
            A[i + d * m] = 1.0;
            b[i] = s->ytr[i];
        }
        if (ridge)
            for (int64_t j = 0; j < d; j++) A[s->mt + j + j * m] = sqrt(v->n * v->l2);
        v->compute_s += mb_wtime() - t0;
        err = mb_solve_lstsq(&v->grid, m, p1, A, b, theta, "the least-squares problem [X, 1]",
                             param_names(v));
        v->evals++;
        goto out;
    }
    MB_TRY(check_dense(v, "optimizer 'exact' (cholesky)"));
    g = malloc(sizeof(double) * (size_t)np);
    H = malloc(sizeof(double) * (size_t)np * (size_t)np);
    err = g && H ? MB_OK : mb_error_set(MB_EENV, "out of memory for the normal equations");
    MB_TRY(mb_agree(v->c, err, NULL));
    memset(theta, 0, sizeof(double) * (size_t)np);
    evaluate(v, theta, g);
    MB_TRY(hessian(v, theta, H));
    for (int64_t j = 0; j < np; j++) g[j] = -g[j];
    double rcond = 0;
    err =
        mb_solve_spd(&v->grid, np, H, g, theta, &rcond,
                     v->l2 > 0 ? "the normal equations X'X/n + l2*I" : "the normal equations X'X/n",
                     param_names(v));
    if (!err && verbose && v->c->rank == 0 && rcond < 1e-12)
        fprintf(stderr,
                "mbatch: warning: the normal equations are ill-conditioned (condition number about "
                "%.3g): the solution may have lost up to %.0f digits; use optimizer.solver=qr or "
                "model.l2 > 0\n",
                1.0 / rcond, log10(1.0 / rcond));
out:
    free(g);
    free(H);
    free(A);
    free(b);
    return err;
}

/* Per-iteration bookkeeping shared by newton and lbfgs: a metrics row, checkpoints, progress. */
typedef struct recorder {
    int on;
    const char *metrics_path;
    mb__state *s;
    double t_iter, compute0, comm0;
    int gap;           /* report_gap: a /gap row per iteration */
    double fopt;       /* the optimum when known beforehand (lbfgs), else NAN */
    double *objective; /* per iteration while the optimum is not known yet (exact, newton) */
    int64_t nobj;
    double val_loss, val_metric;
    int progress;
} recorder;

static mb_err record(solver *v, recorder *rc, int64_t it, double f, const double *g, double step,
                     const double *theta, int64_t evals) {
    mb_err err = MB_OK;
    if (!rc->on) return MB_OK;
    mb__state *s = rc->s;
    const mb_job *job = v->job;
    mb_epoch_row row;
    memset(&row, 0, sizeof row);
    double tv = mb_wtime();
    validation(v, theta, &rc->val_loss, &rc->val_metric);
    double comp = v->compute_s - rc->compute0 + (mb_wtime() - tv);
    double tm[2] = {comp, comp};
    mb_allreduce_max_double(v->c, tm, 1);
    mb_allreduce_sum(v->c, &tm[1], 1);
    s->ck.epoch = it + 1;
    s->ck.step = it + 1;
    s->ck.samples_seen += evals * s->n_train;
    s->ck.lr = step;
    row.epoch = it;
    row.step = it + 1;
    row.train_loss = f;
    row.val_loss = rc->val_loss;
    row.val_metric = rc->val_metric;
    row.lr = step;
    row.batch_size = s->n_train;
    row.grad_norm = sqrt(dot(g, g, v->np));
    row.compute_s = comp;
    row.comm_s = v->comm_s - rc->comm0;
    row.imbalance = tm[1] > 0 ? tm[0] / (tm[1] / v->c->size) : 1.0;
    double ts = mb_wtime();
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)s->ck.step);
    int saved = job->checkpoint.every_epochs > 0 && (it + 1) % job->checkpoint.every_epochs == 0;
    if (saved) MB_TRY(mb__save(v->c, job, s, name, 0, (int)job->checkpoint.keep));
    row.io_s = mb_wtime() - ts;
    row.epoch_s = mb_wtime() - rc->t_iter;
    row.samples_per_s = row.epoch_s > 0 ? (double)(evals * s->n_train) / row.epoch_s : 0;
    if (v->c->rank == 0) {
        err = mb_metrics_append(rc->metrics_path, &row);
        if (rc->progress) {
            char val[64] = "";
            if (!isnan(rc->val_loss)) snprintf(val, sizeof val, "  val %.6g", rc->val_loss);
            printf("%s %lld  objective %.15g  max|g| %.3g  step %.3g%s\n", job->optimizer.type,
                   (long long)(it + 1), f, max_abs(g, v->np), step, val);
            fflush(stdout);
        }
    }
    MB_TRY(mb_agree(v->c, err, NULL));
    if (rc->gap && isfinite(rc->fopt)) {
        if (v->c->rank == 0) {
            mb_gap_row gr = {it, f, rc->fopt, f - rc->fopt};
            err = mb_gap_append(rc->metrics_path, &gr);
        }
        MB_TRY(mb_agree(v->c, err, NULL));
    } else if (rc->gap) {
        rc->objective[rc->nobj++] = f;
    }
    /* Preemption (SIGUSR1/SIGTERM on any rank): checkpoint this iteration and stop with exit 75,
     * as the gradient trainer does at a step boundary. */
    int64_t signo = mb__signal_pending();
    mb_allreduce_max_i64(v->c, &signo, 1);
    if (signo) {
        if (!saved) MB_TRY(mb__save(v->c, job, s, name, 0, (int)job->checkpoint.keep));
        err =
            mb_error_set(MB_EPREEMPTED,
                         "stopped by signal %lld at iteration %lld; checkpoint %s/checkpoints/%s; "
                         "resume with --resume",
                         (long long)signo, (long long)(it + 1), job->run_dir, name);
        goto out;
    }
    rc->t_iter = mb_wtime();
    rc->compute0 = v->compute_s;
    rc->comm0 = v->comm_s;
out:
    return err;
}

/* Newton / IRLS with a backtracking (Armijo) line search on the exact objective, from theta.
 * Stops when max |g| <= tol or when the Newton decrement is at the rounding level of f.
 * Collective. */
static mb_err newton_solve(solver *v, double *theta, recorder *rc, int64_t start, int64_t max_iter,
                           double tol, int64_t *iters, double *fout, int *converged) {
    mb_err err = MB_OK;
    int64_t np = v->np, it = start;
    int flat = 0;
    MB_TRY(check_dense(v, "optimizer 'newton'"));
    double *g = malloc(sizeof(double) * (size_t)np), *gt = malloc(sizeof(double) * (size_t)np);
    double *dx = malloc(sizeof(double) * (size_t)np), *xt = malloc(sizeof(double) * (size_t)np);
    double *H = malloc(sizeof(double) * (size_t)np * (size_t)np);
    err = g && gt && dx && xt && H ? MB_OK : mb_error_set(MB_EENV, "out of memory for Newton");
    if (mb_agree(v->c, err, NULL)) goto done;
    double f = evaluate(v, theta, g);
    for (; it < max_iter; it++) {
        if (!isfinite(f)) {
            err = mb_error_set(MB_ENUMERIC, "newton: the objective is %g at iteration %lld", f,
                               (long long)it);
            break;
        }
        if (max_abs(g, np) <= tol) break;
        int64_t e0 = v->evals;
        if ((err = hessian(v, theta, H))) break;
        for (int64_t j = 0; j < np; j++) dx[j] = -g[j];
        err = mb_solve_spd(&v->grid, np, H, dx, dx, NULL, "the Newton system (Hessian)",
                           param_names(v));
        if (err) break;
        double dec = -dot(g, dx, np), step = 1, ft = NAN;
        int ok = 0;
        for (int h = 0; h < 60 && !ok; h++, step *= 0.5) {
            for (int64_t j = 0; j < np; j++) xt[j] = theta[j] + step * dx[j];
            ft = evaluate(v, xt, gt);
            ok = isfinite(ft) && ft <= f - 1e-4 * step * dec;
            if (ok) break;
        }
        flat = dec <= 1e-15 * (1 + fabs(f));
        if (!ok) {
            if (flat) break; /* the step is below rounding: this is the optimum */
            err = mb_error_set(MB_ENUMERIC,
                               "newton: no decrease of the objective %.17g along the Newton "
                               "direction (decrement %.3g) at iteration %lld; the problem may be "
                               "separable without L2: set model.l2 > 0",
                               f, dec, (long long)(it + 1));
            break;
        }
        memcpy(theta, xt, sizeof(double) * (size_t)np);
        memcpy(g, gt, sizeof(double) * (size_t)np);
        f = ft;
        if ((err = record(v, rc, it, f, g, step, theta, v->evals - e0))) break;
        if (flat) {
            it++;
            break;
        }
    }
    *converged = flat || max_abs(g, np) <= tol;
    if (!err && !*converged && rc->on && v->c->rank == 0)
        fprintf(stderr,
                "mbatch: warning: newton stopped after optimizer.max_iter = %lld iterations with "
                "max |gradient| %.3g > optimizer.tol %g\n",
                (long long)max_iter, max_abs(g, np), tol);
    if (!err && flat && max_abs(g, np) > tol && rc->on && v->c->rank == 0)
        fprintf(stderr,
                "mbatch: warning: newton stopped at iteration %lld: the Newton step no longer "
                "changes the objective %.6g measurably, but max |gradient| is %.3g > "
                "optimizer.tol %g; with model.l2 = %g the classes may be separable (the optimum "
                "is at infinite weights): set model.l2 > 0\n",
                (long long)it, f, max_abs(g, np), tol, v->l2);
    *iters = it;
    *fout = f;
done:
    err = mb_agree(v->c, err, NULL);
    free(g);
    free(gt);
    free(dx);
    free(xt);
    free(H);
out:
    return err;
}

/* Full-batch L-BFGS with a strong-Wolfe line search, from theta. Collective. */
static mb_err lbfgs_solve(solver *v, double *theta, recorder *rc, int64_t start, int64_t *iters,
                          double *fout) {
    mb_err err = MB_OK;
    int64_t np = v->np, it = start;
    double tol = v->job->optimizer.tol;
    mb_lbfgs lb;
    int lbok = mb_lbfgs_init(&lb, np, (int)v->job->optimizer.history) == 0;
    double *g = malloc(sizeof(double) * (size_t)np), *gt = malloc(sizeof(double) * (size_t)np);
    double *dv = malloc(sizeof(double) * (size_t)np), *xt = malloc(sizeof(double) * (size_t)np);
    double *sv = malloc(sizeof(double) * (size_t)np);
    err = lbok && g && gt && dv && xt && sv ? MB_OK
                                            : mb_error_set(MB_EENV, "out of memory for L-BFGS");
    if (mb_agree(v->c, err, NULL)) goto done;
    double f = evaluate(v, theta, g);
    int retried = 0;
    for (; it < v->job->optimizer.max_iter; it++) {
        if (!isfinite(f)) {
            err = mb_error_set(MB_ENUMERIC, "lbfgs: the objective is %g at iteration %lld", f,
                               (long long)it);
            break;
        }
        if (max_abs(g, np) <= tol) break;
        int64_t e0 = v->evals;
        mb_lbfgs_direction(&lb, g, dv);
        double dg = dot(g, dv, np);
        if (!(dg < 0)) {
            mb_lbfgs_reset(&lb);
            for (int64_t j = 0; j < np; j++) dv[j] = -g[j];
            dg = dot(g, dv, np);
        }
        double gn = sqrt(dot(g, g, np));
        mb_wolfe ls;
        mb_wolfe_start(&ls, f, dg, lb.count == 0 ? (gn > 1 ? 1.0 / gn : 1.0) : 1.0);
        mb_ls_status st;
        double ft;
        do {
            for (int64_t j = 0; j < np; j++) xt[j] = theta[j] + ls.alpha * dv[j];
            ft = evaluate(v, xt, gt);
            st = mb_wolfe_next(&ls, ft, dot(gt, dv, np));
        } while (st == MB_LS_EVAL);
        if (st == MB_LS_FAIL) {
            if (lb.count > 0 && !retried) {
                /* A stale curvature model: start over from steepest descent once. */
                mb_lbfgs_reset(&lb);
                retried = 1;
                it--;
                continue;
            }
            /* No step decreases f measurably: f is flat to rounding here. */
            if (v->c->rank == 0 && rc->progress)
                printf("lbfgs: the line search found no decrease below rounding at iteration "
                       "%lld (max |gradient| %.3g): stopping\n",
                       (long long)(it + 1), max_abs(g, np));
            break;
        }
        retried = 0;
        for (int64_t j = 0; j < np; j++) {
            sv[j] = xt[j] - theta[j];
            dv[j] = gt[j] - g[j];
        }
        mb_lbfgs_push(&lb, sv, dv);
        memcpy(theta, xt, sizeof(double) * (size_t)np);
        memcpy(g, gt, sizeof(double) * (size_t)np);
        f = ft;
        if ((err = record(v, rc, it, f, g, ls.alpha, theta, v->evals - e0))) break;
    }
    if (!err && it >= v->job->optimizer.max_iter && max_abs(g, np) > tol && v->c->rank == 0)
        fprintf(stderr,
                "mbatch: warning: lbfgs stopped after optimizer.max_iter = %lld iterations with "
                "max |gradient| %.3g > optimizer.tol %g\n",
                (long long)v->job->optimizer.max_iter, max_abs(g, np), tol);
    *iters = it;
    *fout = f;
done:
    err = mb_agree(v->c, err, NULL);
    mb_lbfgs_free(&lb);
    free(g);
    free(gt);
    free(dv);
    free(xt);
    free(sv);
    return err;
}

/* The optimum of the training objective: exact for linear, Newton otherwise. Collective. */
static mb_err optimum(solver *v, double *fopt) {
    mb_err err = MB_OK;
    double *theta = calloc((size_t)v->np, sizeof(double)),
           *g = malloc(sizeof(double) * (size_t)v->np);
    recorder off;
    memset(&off, 0, sizeof off);
    err = theta && g ? MB_OK : mb_error_set(MB_EENV, "out of memory for the optimum");
    MB_TRY(mb_agree(v->c, err, NULL));
    if (v->t == MB_MODEL_LINEAR) {
        MB_TRY(exact_solve(v, theta, 0));
        *fopt = evaluate(v, theta, g);
    } else {
        /* Its own limits: the optimum must be converged whatever the run's optimizer settings. */
        int64_t iters = 0;
        int conv = 0;
        double tol = v->job->optimizer.tol < 1e-10 ? v->job->optimizer.tol : 1e-10;
        MB_TRY(newton_solve(v, theta, &off, 0, 100, tol, &iters, fopt, &conv));
    }
out:
    free(theta);
    free(g);
    return err;
}

mb_err mb__gap_setup(const mb_comm *c, const mb_job *job, const mb__state *s,
                     const char *metrics_path, int64_t keep_from, double *fopt) {
    solver v;
    mb_err err = solver_init(&v, c, job, s);
    double t0 = mb_wtime();
    if (!err) err = optimum(&v, fopt);
    if (!err) {
        /* Everything above was collective and agreed; only rank 0 writes the table. */
        if (c->rank == 0) {
            err = mb_gap_init(metrics_path, keep_from);
            printf("mbatch: report_gap: the optimum of the training objective is %.15g (%s, "
                   "%.3g s)\n",
                   *fopt, v.t == MB_MODEL_LINEAR ? "exact" : "newton", mb_wtime() - t0);
        }
        err = mb_agree(c, err, NULL);
    }
    solver_free(&v);
    return err;
}

mb_err mb__gap_record(const mb_comm *c, const mb_job *job, const mb__state *s,
                      const char *metrics_path, int64_t epoch, double fopt, const double *theta) {
    solver v;
    mb_err err = MB_OK;
    double *g = NULL;
    memset(&v, 0, sizeof v);
    v.c = c;
    v.job = job;
    v.s = s;
    v.X = mb__train_rows(s, &v.y);
    v.t = mb__job_model_type(job);
    v.d = s->d;
    v.k = s->k;
    v.np = mb_model_nparam(s->d, s->k);
    v.n = (double)s->n_train;
    v.l2 = job->model.l2;
    v.pkt = mb__alloc(sizeof(double) * (size_t)(v.np + 1), "the gradient");
    v.work = mb__alloc(sizeof(double) * (size_t)mb_model_work_size(v.k), "the model workspace");
    g = mb__alloc(sizeof(double) * (size_t)v.np, "the gradient");
    MB_TRY(mb_agree(c, mb_error_code(), NULL));
    double f = evaluate(&v, theta, g);
    if (c->rank == 0) {
        mb_gap_row row = {epoch, f, fopt, f - fopt};
        err = mb_gap_append(metrics_path, &row);
    }
    MB_TRY(mb_agree(c, err, NULL));
out:
    free(v.pkt);
    free(v.work);
    free(g);
    return err;
}

mb_err mb__solve_train(const mb_comm *c, const mb_job *job, const mb_train_opts *o, mb__state *s,
                       int resumed, double t_start, mb_train_result *res) {
    mb_err err = MB_OK;
    solver v;
    memset(&v, 0, sizeof v);
    v.grid.ctxt = -1;
    recorder rc;
    memset(&rc, 0, sizeof rc);
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.h5", job->run_dir);
    const char *ot = job->optimizer.type;
    int exact = !strcmp(ot, "exact"), newton = !strcmp(ot, "newton");

    MB_TRY(solver_init(&v, c, job, s));
    s->nparam = v.np;
    MB_TRY(mb__init_model(c, job, s, resumed));
    s->ck.batch_size = s->n_train;
    if (exact) s->ck.epoch = s->ck.step = 0; /* exact ignores a resumed model: it solves anew */
    int64_t start = s->ck.epoch;
    /* One writer per run directory, as for the gradient trainer. */
    if (c->rank == 0) err = mb__lock_run_dir(job->run_dir);
    if (c->rank == 0 && !err) err = mb_metrics_init(metrics_path, start);
    if (c->rank == 0 && !err && job->report_gap) err = mb_gap_init(metrics_path, start);
    MB_TRY(mb_agree(c, err, NULL));
    if (c->rank == 0)
        printf("mbatch: %s: %s regression, %lld rows (%lld train, %lld validation) x %lld "
               "features, %lld ranks, optimizer %s%s%s on a %d x %d BLACS grid\n",
               job->name, mb__model_name(v.t), (long long)s->n, (long long)s->n_train,
               (long long)s->n_val, (long long)s->d, (long long)c->size, ot, exact ? " " : "",
               exact ? job->optimizer.solver : "", v.grid.nprow, v.grid.npcol);

    double fopt = NAN;
    if (job->report_gap && !exact && !newton) {
        double t0 = mb_wtime();
        MB_TRY(optimum(&v, &fopt));
        if (c->rank == 0)
            printf("mbatch: report_gap: the optimum of the training objective is %.15g (%.3g s)\n",
                   fopt, mb_wtime() - t0);
        v.compute_s = v.comm_s = 0;
        v.evals = 0;
    }

    rc.on = 1;
    rc.metrics_path = metrics_path;
    rc.s = s;
    rc.t_iter = mb_wtime();
    rc.progress = o->progress && c->rank == 0;
    rc.gap = job->report_gap;
    rc.fopt = fopt;
    if (job->report_gap) {
        rc.objective = malloc(sizeof(double) * (size_t)(job->optimizer.max_iter + 1));
        err = rc.objective ? MB_OK : mb_error_set(MB_EENV, "out of memory for the gap table");
        MB_TRY(mb_agree(c, err, NULL));
    }
    double *theta = s->ck.theta, f = NAN;
    int64_t iters = 0;
    int converged = 1;
    if (exact) {
        double *g = mb__alloc(sizeof(double) * (size_t)v.np, "the gradient");
        MB_TRY(mb_agree(c, mb_error_code(), NULL));
        err = exact_solve(&v, theta, 1);
        if (!err) {
            f = evaluate(&v, theta, g);
            err = record(&v, &rc, 0, f, g, 1.0, theta, v.evals);
        }
        free(g);
        MB_TRY(err);
        iters = 1;
    } else if (newton) {
        MB_TRY(newton_solve(&v, theta, &rc, start, job->optimizer.max_iter, job->optimizer.tol,
                            &iters, &f, &converged));
    } else {
        MB_TRY(lbfgs_solve(&v, theta, &rc, start, &iters, &f));
    }
    if (!isfinite(rc.val_loss) && s->n_val > 0) validation(&v, theta, &rc.val_loss, &rc.val_metric);
    if (c->rank == 0 && o->progress)
        printf("mbatch: %s: %s finished after %lld iteration(s): training objective %.15g\n",
               job->name, ot, (long long)iters, f);
    if (job->report_gap && (exact || newton)) {
        /* The run itself computed the optimum, unless it stopped short of it. */
        fopt = f;
        if (!converged) MB_TRY(optimum(&v, &fopt));
        if (c->rank == 0) {
            for (int64_t i = 0; !err && i < rc.nobj; i++) {
                mb_gap_row row = {start + i, rc.objective[i], fopt, rc.objective[i] - fopt};
                err = mb_gap_append(metrics_path, &row);
            }
        }
        MB_TRY(mb_agree(c, err, NULL));
    }
    s->ck.epoch = iters;
    s->ck.step = iters;
    res->train_loss = f;
    res->val_loss = rc.val_loss;
    res->val_metric = rc.val_metric;
    MB_TRY(mb__finish(c, job, s, v.compute_s, t_start, res));
out:
    free(rc.objective);
    solver_free(&v);
    return err;
}
