/* gather.c - gather variable-size blocks to one rank, one sender at a time. */
#include <limits.h>
#include <stdlib.h>

#include "mbatch/comm.h"

#define TAG_LEN  7301 /* tags private to this exchange; collectives do not use tags */
#define TAG_DATA 7302

/* Point-to-point in pieces below INT_MAX bytes (MPI counts are int). */
static void send_bytes(const mb_comm *c, const char *buf, int64_t n, int to) {
    for (int64_t off = 0; off < n; off += INT_MAX / 2) {
        int len = (int)(n - off < INT_MAX / 2 ? n - off : INT_MAX / 2);
        MB_MPI(MPI_Send(buf + off, len, MPI_BYTE, to, TAG_DATA, c->comm));
    }
}

static void recv_bytes(const mb_comm *c, char *buf, int64_t n, int from) {
    for (int64_t off = 0; off < n; off += INT_MAX / 2) {
        int len = (int)(n - off < INT_MAX / 2 ? n - off : INT_MAX / 2);
        MB_MPI(MPI_Recv(buf + off, len, MPI_BYTE, from, TAG_DATA, c->comm, MPI_STATUS_IGNORE));
    }
}

void mb_gather_each(const mb_comm *c, const void *send, int64_t bytes, int root, mb_gather_fn fn,
                    void *ctx) {
    if (c->rank != root) {
        MB_MPI(MPI_Send(&bytes, 1, MPI_INT64_T, root, TAG_LEN, c->comm));
        send_bytes(c, send, bytes, root);
        return;
    }
    /* One reusable buffer: rank 0 never holds more than the largest single block. */
    char *buf = NULL;
    int64_t cap = 0;
    for (int r = 0; r < c->size; r++) {
        if (r == root) {
            fn(r, send, bytes, ctx);
            continue;
        }
        int64_t n = 0;
        MB_MPI(MPI_Recv(&n, 1, MPI_INT64_T, r, TAG_LEN, c->comm, MPI_STATUS_IGNORE));
        if (n > cap) {
            char *p = realloc(buf, (size_t)n);
            if (!p) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "realloc (gathered block)");
            buf = p;
            cap = n;
        }
        recv_bytes(c, buf, n, r);
        fn(r, buf, n, ctx);
    }
    free(buf);
}
