/* test_counter.c - the sweep's work hand-out: tickets from the one-sided counter are unique and
 * gap-free however the ranks race for them, and mb_comm_split builds the groups the sweep uses. */
#include <stdlib.h>
#include <string.h>

#include "mbatch/comm.h"
#include "mpitest.h"

#define TICKETS 200

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    /* Every rank takes tickets until they run out; rank 0 sleeps in between, like a rank that
     * is busy training, so the others must not depend on it to make progress. */
    mb_counter *ctr = NULL;
    MT_CHECK_INT(mb_counter_create(&mt_comm, &ctr), MB_OK);
    int64_t *mine = calloc(TICKETS + 1, sizeof *mine), n = 0;
    MT_CHECK(mine != NULL);
    for (;;) {
        int64_t t = mb_counter_next(ctr);
        if (t >= TICKETS) break;
        mine[n++] = t;
        if (mt_comm.rank == 0) {
            double until = mb_wtime() + 1e-4;
            while (mb_wtime() < until) {
            }
        }
    }
    mb_counter_free(ctr);
    /* Each ticket 0..TICKETS-1 was taken exactly once over all ranks. */
    int64_t seen[TICKETS];
    memset(seen, 0, sizeof seen);
    for (int64_t i = 0; i < n; i++) {
        MT_CHECK(mine[i] >= 0 && mine[i] < TICKETS);
        seen[mine[i]]++;
    }
    mb_allreduce_sum_i64(&mt_comm, seen, TICKETS);
    for (int i = 0; i < TICKETS; i++) MT_CHECK_INT(seen[i], 1);
    /* Tickets of one rank come in increasing order (a fetch-and-add counter). */
    for (int64_t i = 1; i < n; i++) MT_CHECK(mine[i] > mine[i - 1]);
    free(mine);

    /* Split into 2 contiguous groups (the sweep's --groups 2): sizes, ranks and a group sum. */
    int groups = mt_comm.size >= 2 ? 2 : 1;
    int color = (int)((int64_t)mt_comm.rank * groups / mt_comm.size);
    mb_comm g;
    MT_CHECK_INT(mb_comm_split(&mt_comm, color, mt_comm.rank, &g), MB_OK);
    int lo = (color * mt_comm.size + groups - 1) / groups;
    int hi = ((color + 1) * mt_comm.size + groups - 1) / groups;
    MT_CHECK_INT(g.size, hi - lo);
    MT_CHECK_INT(g.rank, mt_comm.rank - lo);
    int64_t sum = mt_comm.rank;
    mb_allreduce_sum_i64(&g, &sum, 1);
    MT_CHECK_INT(sum, (int64_t)(lo + hi - 1) * (hi - lo) / 2);
    /* A second counter over all ranks (the sweep makes one per halving rung): a fresh count. */
    MT_CHECK_INT(mb_counter_create(&mt_comm, &ctr), MB_OK);
    int64_t mx = mb_counter_next(ctr);
    mb_allreduce_max_i64(&mt_comm, &mx, 1);
    MT_CHECK_INT(mx, mt_comm.size - 1);
    mb_counter_free(ctr);
    mb_comm_free(&g);
    return mt_finish();
}
