/* repro.h - the reproducible reduction: exact sums across ranks that do not depend on the rank
 * count.
 *
 * Each rank adds its floating-point parts into exact accumulators (superacc.h); these functions
 * sum the accumulators over all ranks with integer MPI_SUM (associative, so any reduction tree
 * gives the same words) and round each sum once. Every rank gets the same bits. The words go in
 * balanced digits, and only the digits that are nonzero on some rank: one small allreduce agrees
 * on that span, a second sums it (a gradient's sums typically span 4 to 6 of the 68 digits).
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/superacc.h"

/* a[0 .. n) becomes the sum of every rank's a[0 .. n): words not carried (mb_sacc_round and
 * further adds take them as they are; mb_sacc_normalize carries them). Collective. */
void mb_allreduce_superacc(const mb_comm *c, mb_superacc *a, int64_t n);
/* mb_allreduce_superacc, then out[i] = the sum rounded to the nearest double. Collective. */
void mb_allreduce_exact(const mb_comm *c, mb_superacc *a, int64_t n, double *out);
