/* solve.h - exact linear algebra across all ranks with ScaLAPACK: a BLACS process grid, a
 * symmetric positive definite solve (PDPOSV) and a least-squares solve by QR (PDGELS).
 *
 * The grid is built from the job's communicator and is as square as the rank count allows
 * (1x1, 1x2, 1x3, 2x2, 2x3, ...). Matrices reach it either replicated (a small (d+1)x(d+1)
 * system every rank already holds after an allreduce; each rank copies out its block-cyclic
 * pieces) or as each rank's contiguous rows of a tall matrix (redistributed with PDGEMR2D).
 * Sizes ScaLAPACK would reject (it aborts the whole job) are caught first and returned as
 * MB_EUSAGE; a singular or indefinite system is MB_ENUMERIC. Every function is Collective over
 * the grid's communicator, and every rank returns the same code.
 *
 *     mb_grid g;
 *     if (mb_grid_init(c, &g) == MB_OK) {
 *         err = mb_solve_spd(&g, p, A, b, x, &rcond, "X'X/n + l2*I", names);
 *         mb_grid_free(&g);
 *     }
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"

typedef struct mb_grid {
    const mb_comm *comm;
    int sys;  /* BLACS system handle of comm->comm */
    int ctxt; /* the 2-D grid's context, -1 when not initialized */
    int nprow, npcol, myrow, mycol;
} mb_grid;

/* The grid shape for n ranks: nprow the largest divisor of n not above sqrt(n). Not collective. */
void mb_grid_shape(int n, int *nprow, int *npcol);
/* Create the grid over every rank of c (row-major rank order). Collective. */
mb_err mb_grid_init(const mb_comm *c, mb_grid *g);
/* Release the grid (Cblacs_gridexit; MPI stays initialized). Collective; a zeroed or already
 * freed grid is a no-op. */
void mb_grid_free(mb_grid *g);

/* Solve A x = b for the symmetric positive definite p x p matrix A (column-major; only the upper
 * triangle is read) and the p-vector b, both identical on every rank, by Cholesky (PDPOSV) on
 * block-cyclic pieces. x (p, may alias b) is the solution on every rank. rcond (may be NULL)
 * receives PDPOCON's estimate of 1 / cond_1(A). If A is not positive definite: MB_ENUMERIC
 * naming `what` and the failing leading minor (with names[order - 1] when names is not NULL).
 * Collective. */
mb_err mb_solve_spd(const mb_grid *g, int64_t p, const double *A, const double *b, double *x,
                    double *rcond, const char *what, const char *const *names);

/* Least squares: min ||A x - b||_2 where A is the m x p matrix whose rows are the ranks' rows in
 * rank order: this rank holds m_loc rows as a column-major m_loc x p array (leading dimension
 * m_loc) and their b. Solved by QR (PDGELS) on a 2-D block-cyclic copy; ranks with fewer rows
 * are padded with zero rows, which do not change the solution. Needs m >= p. x (p) on every
 * rank. If R has a zero (relative to its largest) diagonal entry, A is rank deficient:
 * MB_ENUMERIC naming `what` and the column (names[j] when names is not NULL). Collective. */
mb_err mb_solve_lstsq(const mb_grid *g, int64_t m_loc, int64_t p, const double *A, const double *b,
                      double *x, const char *what, const char *const *names);
