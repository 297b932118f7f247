/* test_agree.c - error agreement: every rank gets the lowest failing rank's code and message,
 * and collectives after a failure on some ranks do not hang. */
#include <stdlib.h>
#include <string.h>

#include "mbatch/comm.h"
#include "mpitest.h"

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    int who = -2;
    /* Nobody fails. */
    MT_CHECK_INT(mb_agree(&mt_comm, MB_OK, &who), MB_OK);
    MT_CHECK_INT(who, -1);
    /* The last rank and (if there is one) rank 1 fail differently: the lowest rank wins. */
    int last = mt_comm.size - 1;
    mb_err mine = MB_OK;
    if (mt_comm.rank == last) mine = mb_error_set(MB_EIO, "x.h5: cannot open");
    if (mt_comm.size > 2 && mt_comm.rank == 1) mine = mb_error_set(MB_EDATA, "/X row 3 is NaN");
    mb_err agreed = mb_agree(&mt_comm, mine, &who);
    int expect_rank = mt_comm.size > 2 ? 1 : last;
    MT_CHECK_INT(who, expect_rank);
    MT_CHECK_INT(agreed, mt_comm.size > 2 ? MB_EDATA : MB_EIO);
    char expect[128];
    if (expect_rank == 0)
        snprintf(expect, sizeof expect, "x.h5: cannot open");
    else
        snprintf(expect, sizeof expect, "rank %d: %s", expect_rank,
                 mt_comm.size > 2 ? "/X row 3 is NaN" : "x.h5: cannot open");
    if (strcmp(mb_error_message(), expect) != 0)
        fprintf(stderr, "rank %d: message '%s', expected '%s'\n", mt_comm.rank, mb_error_message(),
                expect);
    MT_CHECK(strcmp(mb_error_message(), expect) == 0);
    mb_error_clear();
    /* A string broadcast and an exclusive scan, the helpers the loaders use. */
    char *s = mt_comm.rank == 0 ? strdup("canonical job") : NULL;
    mb_bcast_str(&mt_comm, &s, 0);
    MT_CHECK(s && strcmp(s, "canonical job") == 0);
    free(s);
    MT_CHECK_INT(mb_exscan_i64(&mt_comm, mt_comm.rank + 1),
                 (int64_t)mt_comm.rank * (mt_comm.rank + 1) / 2);
    return mt_finish();
}
