/* lock.h - one writer per run directory: an fcntl lock on RUN_DIR/.lock held for the whole job. */
#pragma once

#include "mbatch/error.h"

/* Create run_dir if needed and lock run_dir/.lock (never following a symlink there), releasing
 * the lock this process held before, if any. The lock lasts until mb__lock_release or process
 * exit (a killed job releases it by dying). A second writer gets MB_EUSAGE naming the holder's
 * pid and host. Not collective (rank 0). */
mb_err mb__lock_run_dir(const char *run_dir);
void mb__lock_release(void); /* no-op without a lock */
