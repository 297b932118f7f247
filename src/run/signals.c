/* signals.c - the preemption flag: which signal arrived, and the cap on Slurm requeues. */
#include "signals.h"

#include "mbatch/preempt.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Written by the handler, read at step boundaries: sig_atomic_t is all a handler may touch. */
static volatile sig_atomic_t caught;
static int installed;

static void on_signal(int signo) {
    caught = signo;
}

void mb__signals_install(void) {
    if (installed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Restart interrupted system calls: HDF5 and MPI must not see EINTR mid-write. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    installed = 1;
}

void mb_preempt_catch(void) {
    mb__signals_install();
}

int mb__signal_pending(void) {
    return (int)caught;
}

void mb__signal_clear(void) {
    caught = 0;
}

mb_err mb__restart_check(const mb_job *job) {
    const char *env = getenv("SLURM_RESTART_COUNT");
    if (!env || !*env) return MB_OK;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(env, &end, 10);
    if (errno || end == env || *end || n < 0)
        return mb_error_set(MB_EENV, "SLURM_RESTART_COUNT is '%s', not a count", env);
    if (n > job->checkpoint.max_restarts)
        return mb_error_set(MB_EUSAGE,
                            "%s: this Slurm job was requeued %lld times, more than "
                            "checkpoint.max_restarts = %lld; refusing to go on. The newest "
                            "checkpoint in %s/checkpoints is kept: raise checkpoint.max_restarts "
                            "or submit again (it resumes)",
                            job->name, n, (long long)job->checkpoint.max_restarts, job->run_dir);
    return MB_OK;
}
