/* comm.h - the MPI context, error agreement and the collectives mbatch uses.
 *
 * Every MPI call of mbatch lives in src/comm/. The pattern everywhere: rank-local work returns
 * an mb_err, then mb_agree() turns it into one collective decision, and only then do ranks
 * enter further collectives. MPI errors inside collectives abort the job with a message naming
 * the rank, file and line (exit code 5).
 */
#pragma once

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "mbatch/error.h"

typedef struct mb_comm {
    MPI_Comm comm; /* a duplicate of the communicator mbatch was given */
    int rank, size;
    int local_rank, local_size; /* within the node (MPI_COMM_TYPE_SHARED) */
} mb_comm;

/* MPI_Init (if needed) and a duplicate of MPI_COMM_WORLD. Collective over MPI_COMM_WORLD. */
mb_err mb_comm_init(int *argc, char ***argv, mb_comm *c);
/* Wrap an existing communicator (duplicated). Collective over comm. */
mb_err mb_comm_from(MPI_Comm comm, mb_comm *c);
void mb_comm_free(mb_comm *c); /* Collective. */
void mb_comm_finalize(void);   /* MPI_Finalize if mbatch initialized MPI. */

/* Collective: combine each rank's local err. Returns the agreed code (the highest-priority
 * failure: the one of the lowest failing rank); on failure every rank's error slot holds that
 * rank's message, prefixed "rank R: " when R != 0 (rank 0 is
 * where metadata is validated, so its messages stay unprefixed). *who (may be NULL) gets R. */
mb_err mb_agree(const mb_comm *c, mb_err err, int *who);

/* Collectives, aborting on MPI failure. */
void mb_allreduce_sum(const mb_comm *c, double *buf, int64_t n);
void mb_allreduce_sum_i64(const mb_comm *c, int64_t *buf, int64_t n);
void mb_allreduce_min_i64(const mb_comm *c, int64_t *buf, int64_t n);
void mb_allreduce_max_i64(const mb_comm *c, int64_t *buf, int64_t n);
void mb_allreduce_max_double(const mb_comm *c, double *buf, int64_t n);
/* Nonblocking in-place sum of buf[0 .. n) over every rank: start it, do other work (no touching
 * buf), then mb_allreduce_wait. Every rank starts and waits in the same order. With a watchdog
 * (timeout_s) the wait is bounded like the blocking calls'. On one rank, or for n beyond one MPI
 * count (done at once, blocking), *req is MPI_REQUEST_NULL and the wait returns at once. */
void mb_iallreduce_sum(const mb_comm *c, double *buf, int64_t n, MPI_Request *req);
void mb_allreduce_wait(const mb_comm *c, MPI_Request *req, int64_t n);
void mb_bcast(const mb_comm *c, void *buf, size_t bytes, int root);
/* Broadcast a heap string from root: on other ranks *s is replaced by a malloc'd copy. */
void mb_bcast_str(const mb_comm *c, char **s, int root);
int64_t mb_exscan_i64(const mb_comm *c, int64_t v); /* sum over lower ranks (0 on rank 0) */
/* Rank root sends counts[r] doubles starting at displs[r] of sendbuf to each rank r. */
void mb_scatterv(const mb_comm *c, const double *sendbuf, const int64_t *counts,
                 const int64_t *displs, double *recvbuf, int64_t recvcount, int root);
/* Gather `bytes` from each rank into root's recv (size * bytes). */
void mb_gather(const mb_comm *c, const void *send, size_t bytes, void *recv, int root);
/* Blocks of different sizes, each rank's handed to fn on root in rank order as it arrives (root
 * holds one block at a time, so the total may exceed its memory). Collective. */
typedef void (*mb_gather_fn)(int rank, const void *data, int64_t bytes, void *ctx);
void mb_gather_each(const mb_comm *c, const void *send, int64_t bytes, int root, mb_gather_fn fn,
                    void *ctx);
void mb_barrier(const mb_comm *c);
double mb_wtime(void);
/* The hang watchdog: a rank that does not reach an allreduce or error agreement within `seconds`
 * makes the job exit 5, naming the missing ranks and the step (see src/comm/watchdog.c). 0 (the
 * default) waits forever. Process-wide; not collective, but every rank must set the same. */
void mb_comm_set_timeout(double seconds);

/* Split c into groups by color (ranks ordered by key within a group); *out is a new context.
 * Collective over c. Free with mb_comm_free. */
mb_err mb_comm_split(const mb_comm *c, int color, int key, mb_comm *out);
/* A shared work counter held by rank 0 of c (MPI one-sided, passive target), so that any rank
 * can take the next ticket while rank 0 is busy with its own work. */
typedef struct mb_counter mb_counter;
mb_err mb_counter_create(const mb_comm *c, mb_counter **out); /* Collective. */
int64_t mb_counter_next(mb_counter *ctr);                     /* Not collective: 0, 1, 2, ... */
void mb_counter_free(mb_counter *ctr);                        /* Collective; NULL-safe. */

/* Internal: abort on a failed MPI call. */
void mb__mpi_die(int rc, const char *file, int line, const char *call);
#define MB_MPI(call)                                                                               \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) mb__mpi_die(rc_, __FILE__, __LINE__, #call);                       \
    } while (0)
