/* solve_run.h - training with the exact and second-order solvers (optimizer exact, newton, lbfgs)
 * and the optimality gap (report_gap) for every trainer. */
#pragma once

#include "mbatch/run.h"
#include "state.h"

/* Does job->optimizer.type ask for one of the solvers of solve_run.c? Not collective. */
int mb__solve_wanted(const mb_job *job);

/* The whole training job for optimizer exact/newton/lbfgs, from a loaded state (mb__load done,
 * resume checked): model set-up, iterations with one metrics row each, checkpoints, model.h5 and
 * the KPIs (mb__finish). Collective. */
mb_err mb__solve_train(const mb_comm *c, const mb_job *job, const mb_train_opts *o, mb__state *s,
                       int resumed, double t_start, mb_train_result *res);

/* report_gap for a gradient run: compute the optimum of the training objective once (exact for
 * linear, Newton otherwise) into *fopt and create (or trim, from keep_from) /gap in
 * metrics_path. Collective. */
mb_err mb__gap_setup(const mb_comm *c, const mb_job *job, const mb__state *s,
                     const char *metrics_path, int64_t keep_from, double *fopt);
/* The full training objective at theta (one pass and one allreduce); rank 0 appends the row
 * {epoch, objective, fopt, objective - fopt} to /gap. Collective. */
mb_err mb__gap_record(const mb_comm *c, const mb_job *job, const mb__state *s,
                      const char *metrics_path, int64_t epoch, double fopt, const double *theta);
