/* mpitest.c - the MPI test harness. */
#include "mpitest.h"

#include <stdlib.h>

mb_comm mt_comm;

void mt_init(int *argc, char ***argv) {
    if (mb_comm_init(argc, argv, &mt_comm) != MB_OK) {
        fprintf(stderr, "mpitest: %s\n", mb_error_message());
        exit(5);
    }
}

int mt_finish(void) {
    mb_barrier(&mt_comm);
    if (mt_comm.rank == 0) printf("PASSED on %d ranks\n", mt_comm.size);
    mb_comm_free(&mt_comm);
    mb_comm_finalize();
    return 0;
}

void mt_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "rank %d: FAILED %s:%d: %s\n", mt_comm.rank, file, line, what);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

double mt_max_rel_diff(const double *a, const double *b, long n) {
    double worst = 0;
    for (long i = 0; i < n; i++) {
        double scale = fmax(fabs(a[i]), fabs(b[i]));
        double diff = fabs(a[i] - b[i]);
        double rel = scale > 0 ? diff / scale : 0;
        if (rel > worst) worst = rel;
    }
    return worst;
}
