/* repro_run.h - reproducible mode ("reproducible": true) in the training loop: whole-microblock
 * shards, and every sum over samples (gradient, loss, validation metrics, preprocessing moments)
 * computed in floating point one microblock at a time, in ascending sample order, then added
 * exactly and reduced with integer sums (include/mbatch/repro.h), so that the results are the
 * same bits on any number of ranks and across a resume on another rank count. */
#pragma once

#include <stdint.h>

#include "mbatch/model.h"
#include "mbatch/kernel.h"
#include "state.h"

/* This rank's file rows [lo, hi) in reproducible mode: whole microblocks. Not collective. */
void mb__repro_bounds(const mb_comm *c, int64_t n, int64_t *lo, int64_t *hi);
/* Read the whole-microblock shards (mb_dataset_read_shards). Collective. */
mb_err mb__repro_read(const mb_comm *c, mb__state *s, mb_io_mode mode, double *raw, double *y);
/* Where each local microblock starts among this rank's training rows (s->tmb) and validation
 * rows (s->vmb), from isval[0 .. hi - lo) (1 for a validation row). Rank-local; the caller
 * agrees on the error. */
mb_err mb__repro_layout(mb__state *s, const unsigned char *isval);
/* acc[j] = sum over all ranks' training rows of X[i][j] (j < d), exactly summed per microblock
 * (Xtr must be filled). Collective. */
mb_err mb__repro_colsum(const mb_comm *c, mb__state *s, double *acc);
/* acc[j] = sum over all training rows of (X[i][j] - mean[j])^2, the same way. Collective. */
mb_err mb__repro_colsqdev(const mb_comm *c, mb__state *s, const double *mean, double *acc);
/* The accumulators and the gradient scratch of the training loop for packets of n values
 * (gradient, loss, count and any per-step flags). Not collective; records an error on failure. */
mb_err mb__repro_alloc(mb__state *s, int64_t n);
/* Local part of one step: positions r0 .. r1 of the local training rows X (dt storage) and Y,
 * taken as rows order[i] (or i when order is NULL, ascending), cut at microblock boundaries;
 * each piece's gradient, loss and row count added exactly into s->sacc[0 .. nparam + 2). Not
 * collective. s->work holds mb_kernel_work_size(d, k) doubles. */
void mb__repro_grad(mb__state *s, mb_model_type t, const void *X, mb_dtype dt, const double *Y,
                    int64_t r0, int64_t r1, const int64_t *order, const double *theta);
/* g[0 .. n) = the exact sums over ranks of s->sacc[0 .. nexact) and of g[nexact .. n) (per-step
 * flags, added exactly too), each rounded once. Collective. */
void mb__repro_reduce(const mb_comm *c, mb__state *s, double *g, int64_t nexact, int64_t n);
/* Local part of the validation: s->sacc[0 .. 3) = the validation loss sum, metric sum and row
 * count of this rank's rows, per microblock, added exactly (reduce with mb__repro_reduce). Not
 * collective. */
void mb__repro_eval(mb__state *s, mb_model_type t, const double *theta);
