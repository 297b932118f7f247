/* mpitest.h - a tiny harness for MPI tests: checks that print rank and both sides, then abort
 * the whole job so that no rank hangs in a collective. */
#pragma once

#include <math.h>
#include <stdio.h>

#include "mbatch/comm.h"

extern mb_comm mt_comm; /* initialized by mt_init */

void mt_init(int *argc, char ***argv);
int mt_finish(void); /* prints PASSED on rank 0, finalizes; returns the exit code */
void mt_fail(const char *file, int line, const char *what);
double mt_max_rel_diff(const double *a, const double *b, long n);

#define MT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) mt_fail(__FILE__, __LINE__, #cond);                                           \
    } while (0)
#define MT_CHECK_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "rank %d: %s = %lld, %s = %lld\n", mt_comm.rank, #a, a_, #b, b_);      \
            mt_fail(__FILE__, __LINE__, #a " == " #b);                                             \
        }                                                                                          \
    } while (0)
#define MT_CHECK_NEAR(a, b, tol)                                                                   \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            fprintf(stderr, "rank %d: %s = %.17g, %s = %.17g\n", mt_comm.rank, #a, a_, #b, b_);    \
            mt_fail(__FILE__, __LINE__, #a " ~ " #b);                                              \
        }                                                                                          \
    } while (0)
