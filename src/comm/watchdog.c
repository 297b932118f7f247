/* watchdog.c - a deadline on every collective step: a rank that does not arrive ends the job. */
#include "comm/watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"

/* Point-to-point reports of "I am waiting at step S" travel with this tag; collectives and
 * point-to-point traffic never match each other, so they cannot disturb the step itself. */
#define WAITING_TAG 0x6d62

static double timeout_s = 0; /* 0: wait forever (plain blocking waits) */
static int seq_key = MPI_KEYVAL_INVALID;

void mb_comm_set_timeout(double seconds) {
    timeout_s = seconds > 0 ? seconds : 0;
}

int mb__watchdog_on(void) {
    return timeout_s > 0;
}

/* What the watchdog keeps per communicator (an MPI attribute, so sub-communicators count their
 * own steps): the step counter and the ranks sharing this node, whose liveness it can check. */
typedef struct wd_info {
    int64_t seq;
    int npeers;
    int *peer_rank, *peer_pid; /* ranks in this communicator and their pids, this node only */
} wd_info;

static int free_info(MPI_Comm comm, int key, void *value, void *extra) {
    (void)comm;
    (void)key;
    (void)extra;
    wd_info *w = value;
    free(w->peer_rank);
    free(w->peer_pid);
    free(w);
    return MPI_SUCCESS;
}

static wd_info *info(const mb_comm *c) {
    int found = 0;
    wd_info *w = NULL;
    if (seq_key == MPI_KEYVAL_INVALID)
        MB_MPI(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, free_info, &seq_key, NULL));
    MB_MPI(MPI_Comm_get_attr(c->comm, seq_key, &w, &found));
    if (!found) {
        w = calloc(1, sizeof *w);
        if (!w) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "calloc");
        MB_MPI(MPI_Comm_set_attr(c->comm, seq_key, w));
    }
    return w;
}

void mb__watchdog_register(const mb_comm *c, MPI_Comm node) {
    wd_info *w = info(c);
    int n = 0, mine[2] = {c->rank, (int)getpid()};
    MB_MPI(MPI_Comm_size(node, &n));
    int *all = malloc(sizeof(int) * 2 * (size_t)n);
    w->peer_rank = malloc(sizeof(int) * (size_t)n);
    w->peer_pid = malloc(sizeof(int) * (size_t)n);
    if (!all || !w->peer_rank || !w->peer_pid)
        mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
    MB_MPI(MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, node));
    for (int i = 0; i < n; i++) {
        w->peer_rank[i] = all[2 * i];
        w->peer_pid[i] = all[2 * i + 1];
    }
    w->npeers = n;
    free(all);
}

/* A rank on this node whose process is gone (killed, crashed), or -1. Its pid in *pid. */
static int dead_peer(const wd_info *w, int *pid) {
    for (int i = 0; i < w->npeers; i++)
        if (kill((pid_t)w->peer_pid[i], 0) != 0 && errno == ESRCH) {
            *pid = w->peer_pid[i];
            return w->peer_rank[i];
        }
    return -1;
}

static void nap(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Poll req until done or until `until` (MPI_Wtime); 1 if it completed. Spins first (a step's
 * latency matters), then naps with a growing interval so a long wait costs no CPU. Once a wait
 * passes a second, and every second after, the ranks on this node are checked for being alive:
 * a rank killed outright never arrives, and nothing else may tell the others (srun without
 * --kill-on-bad-exit lets them wait), so that ends the job now rather than after timeout_s. */
static int poll_until(const mb_comm *c, const wd_info *w, MPI_Request *req, double until,
                      int64_t seq, const char *what) {
    long ns = 1000;
    double start = MPI_Wtime(), next_check = start + 1;
    for (long spins = 0;; spins++) {
        int done = 0;
        MB_MPI(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) return 1;
        if (spins < 2000) continue;
        double now = MPI_Wtime();
        if (now > next_check) {
            int pid = 0, r = dead_peer(w, &pid);
            if (r >= 0) {
                fprintf(stderr,
                        "mbatch: rank %d: rank %d (pid %d, this node) is gone (killed or "
                        "crashed) while rank %d waited at collective step %lld (%s); ending the "
                        "job\n",
                        c->rank, r, pid, c->rank, (long long)seq, what);
                fflush(stderr);
                MPI_Abort(c->comm, MB_EENV);
                _exit(MB_EENV);
            }
            next_check = now + 1;
        }
        if (now > until) return 0;
        nap(ns);
        if (ns < 1000000) ns *= 2;
    }
}

/* The step did not complete in time: find out who is waiting, report who is not, abort. */
static void timed_out(const mb_comm *c, MPI_Request *req, int64_t seq, const char *what,
                      int64_t count) {
    static int64_t report[2];
    int64_t got[2];
    MPI_Request *sends = malloc(sizeof *sends * (size_t)c->size);
    char *waiting = calloc((size_t)c->size, 1);
    if (!sends || !waiting) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
    report[0] = seq;
    report[1] = c->rank;
    for (int r = 0; r < c->size; r++) {
        sends[r] = MPI_REQUEST_NULL;
        if (r != c->rank)
            MB_MPI(MPI_Isend(report, 2, MPI_INT64_T, r, WAITING_TAG, c->comm, &sends[r]));
    }
    waiting[c->rank] = 1;
    /* A grace period for the other waiting ranks' reports; a late rank that arrives meanwhile
     * completes the step, and the job goes on. */
    double grace = timeout_s / 10 < 1 ? 1 : (timeout_s / 10 > 5 ? 5 : timeout_s / 10);
    double until = MPI_Wtime() + grace;
    while (MPI_Wtime() < until) {
        int done = 0, flag = 0;
        MPI_Status st;
        MB_MPI(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done) {
            /* Our reports may still be pending on ranks that never look: let them go. */
            for (int r = 0; r < c->size; r++)
                if (sends[r] != MPI_REQUEST_NULL) MPI_Request_free(&sends[r]);
            free(sends);
            free(waiting);
            return;
        }
        MB_MPI(MPI_Iprobe(MPI_ANY_SOURCE, WAITING_TAG, c->comm, &flag, &st));
        if (!flag) {
            nap(1000000);
            continue;
        }
        MB_MPI(
            MPI_Recv(got, 2, MPI_INT64_T, st.MPI_SOURCE, WAITING_TAG, c->comm, MPI_STATUS_IGNORE));
        if (got[0] == seq) waiting[st.MPI_SOURCE] = 1;
    }
    int lowest = c->rank;
    for (int r = 0; r < c->rank; r++)
        if (waiting[r]) {
            lowest = r;
            break;
        }
    if (lowest == c->rank) {
        char missing[512];
        size_t len = 0;
        int nmissing = 0;
        missing[0] = '\0';
        for (int r = 0; r < c->size && len + 16 < sizeof missing; r++) {
            if (waiting[r]) continue;
            len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%d",
                                    nmissing ? ", " : "", r);
            nmissing++;
        }
        fprintf(stderr,
                "mbatch: rank %d: collective step %lld (%s of %lld values): rank%s %s did not "
                "arrive within timeout_s = %g s; ending the job\n",
                c->rank, (long long)seq, what, (long long)count, nmissing == 1 ? "" : "s", missing,
                timeout_s);
        fflush(stderr);
    } else {
        /* The lowest waiting rank reports; give it time, then make sure the job still ends. */
        nap(500000000);
    }
    MPI_Abort(c->comm, MB_EENV);
    _exit(MB_EENV);
}

void mb__watchdog_arrive(void) {
    if (mb__fault("hang"))
        for (;;) pause(); /* a rank that stops arriving: only MPI_Abort from the others ends it */
}

void mb__wait_collective(const mb_comm *c, MPI_Request *req, const char *what, int64_t count) {
    wd_info *w = info(c);
    int64_t seq = ++w->seq;
    if (!poll_until(c, w, req, MPI_Wtime() + timeout_s, seq, what))
        timed_out(c, req, seq, what, count);
}
