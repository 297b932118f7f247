/* group.c - sub-communicators and a one-sided shared counter for handing out work. */
#include <stdlib.h>

#include "mbatch/comm.h"

struct mb_counter {
    MPI_Win win;
    int64_t *cell; /* rank 0: the next ticket; other ranks: NULL */
    MPI_Comm comm;
};

mb_err mb_comm_split(const mb_comm *c, int color, int key, mb_comm *out) {
    MPI_Comm sub;
    MB_MPI(MPI_Comm_split(c->comm, color, key, &sub));
    mb_err err = mb_comm_from(sub, out);
    MB_MPI(MPI_Comm_free(&sub));
    return err;
}

mb_err mb_counter_create(const mb_comm *c, mb_counter **out) {
    mb_counter *ctr = calloc(1, sizeof *ctr);
    int ok = ctr != NULL, all = 0;
    MB_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, c->comm));
    if (!all) {
        free(ctr);
        return mb_error_set(MB_EENV, "out of memory creating the work counter");
    }
    MPI_Aint bytes = c->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    /* MPI_Win_allocate lets the implementation place the cell where atomics are fast (shared
     * memory on one node). Open MPI 4.1 names that shared segment after the communicator's
     * context id, which sibling communicators from one MPI_Comm_split share: windows created
     * on two such groups at once collide (MPI_ERR_WIN, about 1 run in 5 in tests/mpi). The sweep
     * creates its counters on its whole communicator only. */
    MB_MPI(MPI_Win_allocate(bytes, (int)sizeof(int64_t), MPI_INFO_NULL, c->comm, &ctr->cell,
                            &ctr->win));
    if (c->rank == 0) {
        MB_MPI(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, ctr->win));
        *ctr->cell = 0;
        MB_MPI(MPI_Win_unlock(0, ctr->win));
    }
    ctr->comm = c->comm;
    /* Nobody takes a ticket before the cell is initialized. */
    MB_MPI(MPI_Barrier(c->comm));
    *out = ctr;
    return MB_OK;
}

int64_t mb_counter_next(mb_counter *ctr) {
    int64_t one = 1, got = -1;
    MB_MPI(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, ctr->win));
    MB_MPI(MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, ctr->win));
    MB_MPI(MPI_Win_unlock(0, ctr->win));
    return got;
}

void mb_counter_free(mb_counter *ctr) {
    if (!ctr) return;
    MB_MPI(MPI_Win_free(&ctr->win));
    free(ctr);
}
