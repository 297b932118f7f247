/* preempt.h - catch the signals that ask a training job to checkpoint and stop (exit 75).
 *
 * SIGUSR1 and SIGTERM only set a flag; mb_train and the other trainers look at it at every step
 * boundary, agree on it in the gradient allreduce, write a checkpoint and return MB_EPREEMPTED.
 * mb_train installs the handlers itself; a command calls mb_preempt_catch() first thing, before
 * MPI start-up, so that a signal arriving while the job starts is not fatal but answered at the
 * first step. Not collective.
 */
#pragma once

/* Catch SIGUSR1 and SIGTERM in this process from now on (idempotent). */
void mb_preempt_catch(void);
