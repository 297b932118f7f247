/* comm.c - the MPI context, error agreement and thin, checked collectives. */
#include "mbatch/comm.h"

#include "comm/watchdog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int we_initialized_mpi = 0;

void mb__mpi_die(int rc, const char *file, int line, const char *call) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0, rank = -1;
    MPI_Error_string(rc, msg, &len);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "mbatch: rank %d: %s:%d: %s failed: %s\n", rank, file, line, call, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, MB_EENV);
    exit(MB_EENV);
}

static mb_err comm_setup(MPI_Comm comm, mb_comm *c) {
    memset(c, 0, sizeof *c);
    MB_MPI(MPI_Comm_dup(comm, &c->comm));
    MB_MPI(MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN));
    MB_MPI(MPI_Comm_rank(c->comm, &c->rank));
    MB_MPI(MPI_Comm_size(c->comm, &c->size));
    MPI_Comm node;
    MB_MPI(MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node));
    MB_MPI(MPI_Comm_rank(node, &c->local_rank));
    MB_MPI(MPI_Comm_size(node, &c->local_size));
    mb__watchdog_register(c, node);
    MB_MPI(MPI_Comm_free(&node));
    return MB_OK;
}

mb_err mb_comm_init(int *argc, char ***argv, mb_comm *c) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init(argc, argv) != MPI_SUCCESS)
            return mb_error_set(MB_EENV, "MPI_Init failed (is this an MPI launch?)");
        we_initialized_mpi = 1;
    }
    return comm_setup(MPI_COMM_WORLD, c);
}

mb_err mb_comm_from(MPI_Comm comm, mb_comm *c) {
    return comm_setup(comm, c);
}

void mb_comm_free(mb_comm *c) {
    if (c->comm != MPI_COMM_NULL && c->comm != 0) MPI_Comm_free(&c->comm);
    c->comm = MPI_COMM_NULL;
}

void mb_comm_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (we_initialized_mpi && !fin) MPI_Finalize();
}

mb_err mb_agree(const mb_comm *c, mb_err err, int *who) {
    /* The lowest failing rank wins: its code and message become everyone's. */
    int mine = err != MB_OK ? c->rank : c->size, first = c->size;
    if (mb__watchdog_on()) {
        MPI_Request req;
        mb__watchdog_arrive();
        MB_MPI(MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c->comm, &req));
        mb__wait_collective(c, &req, "error agreement", 1);
    } else {
        MB_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c->comm));
    }
    if (who) *who = first < c->size ? first : -1;
    if (first == c->size) return MB_OK;
    struct {
        int code;
        char msg[MB_ERRMSG_MAX];
    } pkt;
    memset(&pkt, 0, sizeof pkt);
    if (c->rank == first) {
        pkt.code = err;
        const char *m = mb_error_message();
        if (!m[0]) m = mb_strerror(err);
        if (c->rank != 0 && strncmp(m, "rank ", 5) != 0)
            snprintf(pkt.msg, sizeof pkt.msg, "rank %d: %s", c->rank, m);
        else
            snprintf(pkt.msg, sizeof pkt.msg, "%s", m);
    }
    MB_MPI(MPI_Bcast(&pkt, (int)sizeof pkt, MPI_BYTE, first, c->comm));
    mb_error_replace((mb_err)pkt.code, pkt.msg);
    return (mb_err)pkt.code;
}

/* MPI counts are int: split long reductions into pieces. */
#define MB_CHUNK ((int64_t)1 << 28)

static void allreduce(const mb_comm *c, void *buf, int64_t n, MPI_Datatype t, size_t sz,
                      MPI_Op op) {
    /* In place on one rank the reduction is the identity: skip the call (a mini-batch epoch
     * makes thousands). */
    if (c->size == 1) return;
    for (int64_t off = 0; off < n; off += MB_CHUNK) {
        int64_t len = n - off < MB_CHUNK ? n - off : MB_CHUNK;
        if (mb__watchdog_on()) {
            MPI_Request req;
            mb__watchdog_arrive();
            MB_MPI(MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + off * sz, (int)len, t, op, c->comm,
                                  &req));
            mb__wait_collective(c, &req, "allreduce", len);
        } else {
            MB_MPI(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * sz, (int)len, t, op, c->comm));
        }
    }
}

void mb_allreduce_sum(const mb_comm *c, double *buf, int64_t n) {
    allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM);
}
void mb_allreduce_sum_i64(const mb_comm *c, int64_t *buf, int64_t n) {
    allreduce(c, buf, n, MPI_INT64_T, sizeof(int64_t), MPI_SUM);
}
void mb_allreduce_min_i64(const mb_comm *c, int64_t *buf, int64_t n) {
    allreduce(c, buf, n, MPI_INT64_T, sizeof(int64_t), MPI_MIN);
}
void mb_allreduce_max_i64(const mb_comm *c, int64_t *buf, int64_t n) {
    allreduce(c, buf, n, MPI_INT64_T, sizeof(int64_t), MPI_MAX);
}
void mb_allreduce_max_double(const mb_comm *c, double *buf, int64_t n) {
    allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_MAX);
}

void mb_iallreduce_sum(const mb_comm *c, double *buf, int64_t n, MPI_Request *req) {
    *req = MPI_REQUEST_NULL;
    if (c->size == 1 || n <= 0) return;
    if (n > MB_CHUNK) {
        allreduce(c, buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM);
        return;
    }
    if (mb__watchdog_on()) mb__watchdog_arrive();
    MB_MPI(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, c->comm, req));
}

void mb_allreduce_wait(const mb_comm *c, MPI_Request *req, int64_t n) {
    /* The cases where mb_iallreduce_sum started nothing, the same on every rank. A request an
     * MPI_Test has completed is still waited on (at once), so that every rank counts the same
     * collective steps for the watchdog. */
    if (c->size == 1 || n <= 0 || n > MB_CHUNK) return;
    if (mb__watchdog_on())
        mb__wait_collective(c, req, "allreduce", n);
    else
        MB_MPI(MPI_Wait(req, MPI_STATUS_IGNORE));
}

void mb_bcast(const mb_comm *c, void *buf, size_t bytes, int root) {
    for (size_t off = 0; off < bytes; off += (size_t)MB_CHUNK) {
        size_t len = bytes - off < (size_t)MB_CHUNK ? bytes - off : (size_t)MB_CHUNK;
        MB_MPI(MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, root, c->comm));
    }
}

void mb_bcast_str(const mb_comm *c, char **s, int root) {
    int64_t len = (c->rank == root && *s) ? (int64_t)strlen(*s) + 1 : 0;
    MB_MPI(MPI_Bcast(&len, 1, MPI_INT64_T, root, c->comm));
    if (c->rank != root) {
        free(*s);
        *s = NULL;
        if (len > 0) {
            *s = malloc((size_t)len);
            if (!*s) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
        }
    }
    if (len > 0) mb_bcast(c, *s, (size_t)len, root);
}

int64_t mb_exscan_i64(const mb_comm *c, int64_t v) {
    int64_t out = 0;
    MB_MPI(MPI_Exscan(&v, &out, 1, MPI_INT64_T, MPI_SUM, c->comm));
    return c->rank == 0 ? 0 : out;
}

void mb_scatterv(const mb_comm *c, const double *sendbuf, const int64_t *counts,
                 const int64_t *displs, double *recvbuf, int64_t recvcount, int root) {
    int *ic = NULL, *id = NULL;
    if (c->rank == root) {
        ic = malloc(sizeof(int) * (size_t)c->size);
        id = malloc(sizeof(int) * (size_t)c->size);
        if (!ic || !id) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
        for (int r = 0; r < c->size; r++) {
            if (counts[r] > INT32_MAX || displs[r] > INT32_MAX)
                mb__mpi_die(MPI_ERR_COUNT, __FILE__, __LINE__, "MPI_Scatterv (block too large)");
            ic[r] = (int)counts[r];
            id[r] = (int)displs[r];
        }
    }
    MB_MPI(MPI_Scatterv(sendbuf, ic, id, MPI_DOUBLE, recvbuf, (int)recvcount, MPI_DOUBLE, root,
                        c->comm));
    free(ic);
    free(id);
}

void mb_gather(const mb_comm *c, const void *send, size_t bytes, void *recv, int root) {
    MB_MPI(MPI_Gather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, root, c->comm));
}

void mb_barrier(const mb_comm *c) {
    MB_MPI(MPI_Barrier(c->comm));
}

double mb_wtime(void) {
    return MPI_Wtime();
}
