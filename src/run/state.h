/* state.h - what one rank holds for a training job, and the steps every trainer shares:
 * load the shard and fit the preprocessing, resume from a checkpoint, save a checkpoint. */
#pragma once

#include <stdint.h>

#include "mbatch/checkpoint.h"
#include "mbatch/comm.h"
#include "mbatch/dataset.h"
#include "mbatch/job.h"
#include "mbatch/metrics.h"
#include "mbatch/optim.h"
#include "mbatch/run.h"
#include "mbatch/trace.h"

/* Everything one rank holds for a job; one owner, freed by state_free. */
typedef struct mb__state {
    mb_dataset *ds;
    int64_t n, ncol, d, k, nparam;
    int64_t lo, hi;         /* this rank's file rows */
    int64_t n_train, n_val; /* global */
    int64_t mt, mv, t_lo;   /* local training/validation rows, first global training index */
    double *Xtr, *ytr, *Xva, *yva;
    double *Xperm, *yperm; /* mlp: a step's rows, gathered in batch order */
    int64_t *order, *boff, *scratch;
    double *work, *pkt; /* model workspace; gradient + loss + count */
    mb_ckpt ck;         /* model, optimizer state and preprocessing: what checkpoints hold */
    mb_optim opt;
    mb_trace *trace;             /* NULL unless the job has "trace": true (made by mb__load) */
    double comm_total, io_total; /* this rank's seconds in collectives and file I/O, for /ranks */
    int raw_features;      /* set before mb__load: keep features unstandardized (tree models) */
    int64_t ckpt_failures; /* checkpoint writes that failed under checkpoint.on_error = "warn" */
    int64_t skipped_steps; /* steps skipped for a non-finite loss (on_nonfinite = "skip") */
    /* Reproducible mode (repro_run.h): local microblock j starts at training row tmb[j] and
     * validation row vmb[j] (j <= nmb); nsacc exact accumulators and a microblock's gradient. */
    int64_t nmb, *tmb, *vmb, nsacc;
    struct mb_superacc *sacc;
    double *gpart;
    /* Streaming (stream.h): set by mb__load when the data exceeds io.memory_budget; then Xtr and
     * ytr stay NULL and epochs read the standardized copy (mb__train_rows) or, without one,
     * take the full-batch gradient from mb__stream_grad. */
    struct mb__stream *stream;
} mb__state;

void mb__state_free(mb__state *s);
/* Open and read the shard, check labels, split, fit (have_prep == 0) or reuse (have_prep: from a
 * resumed checkpoint in s->ck) the preprocessing, and build the standardized Xtr/Xva. Collective.
 */
mb_err mb__load(const mb_comm *c, const mb_job *job, mb__state *s, int have_prep);
/* Rank 0 reads the newest complete checkpoint of job's run_dir (refusing another job's) into s->ck
 * and broadcasts it; *resumed says whether there was one. Collective. */
mb_err mb__try_resume(const mb_comm *c, const mb_job *job, mb__state *s, int *resumed);
/* Rank 0: is s->ds the dataset the checkpoint in s->ck was trained on? Not collective. */
mb_err mb__check_same_data(const mb__state *s);
/* Rank 0 writes s->ck as run_dir/checkpoints/<name> (pruned to keep) or, with is_model, as
 * run_dir/<name>; every rank agrees on the outcome. Collective. */
mb_err mb__save(const mb_comm *c, const mb_job *job, mb__state *s, const char *name, int is_model,
                int keep);
/* End of epoch e (0-based): write checkpoints/ckpt-<step>.h5 when checkpoint.every_epochs says so,
 * after the last epoch, or when `force` (an early stop or a pending signal); *saved says whether
 * it did. Collective. */
mb_err mb__epoch_checkpoint(const mb_comm *c, const mb_job *job, mb__state *s, int64_t e, int force,
                            int *saved);
/* The metrics row of epoch e (0-based) after `step` steps: the training loss from loss_acc summed
 * over `seen` samples, the validation loss and metric (accuracy, or RMSE when !classify) from the
 * reduced sums ev = {loss, metric, rows}, and the epoch's other figures as given. The epoch's
 * timings and throughput (epoch_s, io_s, samples_per_s) are the caller's. Not collective. */
void mb__epoch_row(mb_epoch_row *row, int64_t e, int64_t step, double loss_acc, int64_t seen,
                   const double ev[3], int classify, double lr, int64_t batch, double grad_norm,
                   double compute_s, double comm_s, double imbalance);
/* Early stopping after epoch e with metrics row: a validation loss below *best_val by more than
 * early_stopping.min_delta makes row and theta[0..nparam) the best (into *best_row, best_theta);
 * otherwise one more epoch without a gain, and 1 (stop) once patience such epochs have passed
 * before the last epoch. Not collective. */
int mb__early_update(const mb_job *job, int64_t e, const mb_epoch_row *row, const double *theta,
                     int64_t nparam, double *best_val, mb_epoch_row *best_row, double *best_theta,
                     int64_t *since_best);
/* Fill s->ck's model and provenance (a fresh zero model unless resumed) and the canonical job.
 * Needs s->d and s->k from mb__load. Not collective. */
mb_err mb__init_model(const mb_comm *c, const mb_job *job, mb__state *s, int resumed);
/* Write model.h5, the per-rank table and the KPIs of metrics.h5, and fill res's totals from
 * s->ck (res's final losses are the caller's). Collective. */
mb_err mb__finish(const mb_comm *c, const mb_job *job, mb__state *s, double compute_s,
                  double t_start, mb_train_result *res);
