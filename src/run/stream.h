/* stream.h - gradient training on data larger than io.memory_budget: every epoch each rank reads
 * its training rows block by block, a reader thread filling block k+1 while the kernel runs on
 * block k, with the same preprocessing and the same sums as the in-memory shard; or, by default,
 * the rows are standardized once into a mapped copy that full-batch epochs read in one kernel
 * call and mini-batches gather from, as from the in-memory shard.
 *
 * mb__load calls mb__stream_check after opening the dataset; when the data exceeds the budget
 * and the job can stream, mb__stream_load takes the place of the shard read: s->Xtr and s->ytr
 * stay NULL, the validation rows are read into s->Xva/s->yva as before, and s->stream does the
 * epoch's gradient (train.c). Blocks hold a multiple of 16 training rows (256 for softmax), so the
 * kernel's sums, carried from block to block, are bitwise those of one call over the whole shard.
 */
#pragma once

#include <stdint.h>

#include "mbatch/kernel.h"
#include "state.h"

typedef struct mb__stream mb__stream;

/* After mb_dataset_open: does the data exceed io.memory_budget (rank 0's count, as guard.c)? If
 * not, *streaming = 0. If it does and the job is gradient training of a linear model (mini-batches
 * only with the standardized copy), *streaming = 1;
 * otherwise the refusal (MB_EDATA) says what streaming covers and what to change. Collective. */
mb_err mb__stream_check(const mb_comm *c, const mb_job *job, const mb__state *s, int *streaming);

/* mb__load's work for a streamed shard: split, fit the standardization with two passes over the
 * blocks (unless have_prep), read the validation rows, size the blocks from the rank's share of
 * the budget (MB_EDATA naming the minimum when even two 16-row blocks do not fit), and start the
 * reader thread. Collective. */
mb_err mb__stream_load(const mb_comm *c, const mb_job *job, mb__state *s, int have_prep);

/* Without a standardized copy (mb__train_rows gives NULL): g[0 .. nparam) += the gradient over
 * all of this rank's training rows, block by block (stored as the job's dtype); *loss = the summed
 * loss. A read error on this rank is returned (the caller agrees on it). Not collective. */
mb_err mb__stream_grad(mb__stream *st, mb_model_type t, const double *theta, double *g,
                       double *work, double *loss);

/* The rank's training rows ([mt][d], in order) and *y their labels: the in-memory shard (float64),
 * or for a streamed shard its standardized copy (the job's dtype; float64 for the solvers and the
 * mlp). NULL for a streamed shard without a copy, which only full-batch gradient jobs may be:
 * mb__stream_load refuses the others. */
const void *mb__train_rows(const mb__state *s, const double **y);

void mb__stream_free(mb__stream *st); /* NULL-safe; stops and joins the reader thread */
