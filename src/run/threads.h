/* threads.h - threads inside a rank that split each step's rows the way more ranks would. */
#pragma once

#include <stdint.h>

#include "mbatch/kernel.h"
#include "state.h"

typedef struct mb__pool mb__pool;

/* Start nthreads - 1 worker threads (the caller is thread 0). Thread t of rank r takes the rows
 * that rank r * nthreads + t would hold in a run on size * nthreads ranks, clipped to this rank's
 * shard; on one rank the pieces are exactly those ranks' shards. Needs s after mb__load (lo, hi,
 * mt, n, n_val) and job->seed. Not collective; on failure records an error and returns NULL. */
mb__pool *mb__pool_create(const mb__state *s, const mb_comm *c, uint64_t seed, int nthreads);

/* g[0 .. nparam) = the gradient sum over the step's rows (idx[0 .. rows), ascending local
 * training offsets, or 0 .. rows-1 when idx is NULL), returns the summed loss. Each thread sums
 * its piece with mb_kernel_grad from zero; the pieces are then added in thread order, as an
 * allreduce over ranks adds the ranks' sums. Not collective. */
double mb__pool_grad(mb__pool *p, mb_model_type type, const void *X, mb_dtype dt, const double *y,
                     const int64_t *idx, int64_t rows, int64_t d, int64_t k, const double *theta,
                     double *g);

void mb__pool_free(mb__pool *p); /* joins the workers; NULL-safe */

/* The next epoch's mini-batch order, computed by a helper thread while this epoch trains (the
 * order of a large shard costs a few hashes per row). Not collective. */
typedef struct mb__ahead mb__ahead;

/* For mb_epoch_order(t_lo, t_lo + m, n_train, batch, block, seed, ., ., ., .); NULL with an error
 * recorded if out of memory. */
mb__ahead *mb__ahead_create(int64_t t_lo, int64_t m, int64_t n_train, int64_t batch, int64_t block,
                            uint64_t seed);

/* Make *order and *boff (arrays of m and nb + 1 values, swapped with the helper's) epoch e's
 * order, exactly as mb_epoch_order computes it, then start epoch e + 1 (if below epochs) in the
 * background. Returns 0, or -1 when no thread could start (the order is then computed here). */
int mb__ahead_order(mb__ahead *a, int64_t e, int64_t epochs, int64_t **order, int64_t **boff,
                    int64_t *scratch);

void mb__ahead_free(mb__ahead *a); /* waits for the helper; NULL-safe */
