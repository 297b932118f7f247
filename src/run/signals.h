/* signals.h - preemption: SIGUSR1/SIGTERM set a flag that training checks at step boundaries. */
#pragma once

#include "mbatch/error.h"
#include "mbatch/job.h"

/* Catch SIGUSR1 and SIGTERM in this process: the handler only records the signal number
 * (async-signal-safe), so a signal never interrupts a step or a checkpoint write. Idempotent.
 * Not collective. */
void mb__signals_install(void);
/* The number of the last signal caught since install, 0 if none. Not collective. */
int mb__signal_pending(void);
/* For tests and for a process that resumes in place: forget a caught signal. */
void mb__signal_clear(void);
/* Under Slurm, refuse a job requeued more than checkpoint.max_restarts times (the count is
 * SLURM_RESTART_COUNT); MB_EUSAGE naming both numbers. Not collective. */
mb_err mb__restart_check(const mb_job *job);
