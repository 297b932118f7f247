/* guard.h - checks that keep a run from going wrong silently: memory budget, non-finite steps,
 * parameters that drift apart across ranks. */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/dataset.h"
#include "mbatch/job.h"

/* Rank 0: would loading ds on this launch exceed io.memory_budget (bytes per node; 0: the node's
 * physical memory)? MB_EDATA naming the declared size, before anything is allocated. Other ranks
 * return MB_OK. Not collective. */
mb_err mb__check_memory_budget(const mb_comm *c, const mb_job *job, const mb_dataset *ds);
/* Collective: do all ranks hold bitwise the same parameters? A hash of theta is compared across
 * ranks (one allreduce of two integers); MB_ENUMERIC naming the step if not. */
mb_err mb__check_params_agree(const mb_comm *c, const double *theta, int64_t n, int64_t step);
