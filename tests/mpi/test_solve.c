/* test_solve.c - the ScaLAPACK solves on the grid of 1-4 ranks: Cholesky residuals, QR against the
 * normal equations (both checked on the whole matrix held here), and singular systems reported as
 * MB_ENUMERIC on every rank. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/solve.h"
#include "mpitest.h"

/* A deterministic value in [-1, 1) from (i, j): every rank builds the same matrices. */
static double val(int64_t i, int64_t j, int64_t salt) {
    uint64_t x = (uint64_t)(i * 7919 + j * 104729 + salt * 1299709) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return (double)(x >> 11) / 4503599627370496.0 - 1.0;
}

static void test_grid_shape(void) {
    int shapes[][3] = {{1, 1, 1}, {2, 1, 2}, {3, 1, 3}, {4, 2, 2},
                       {6, 2, 3}, {7, 1, 7}, {9, 3, 3}, {12, 3, 4}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int r, c;
        mb_grid_shape(shapes[i][0], &r, &c);
        MT_CHECK_INT(r, shapes[i][1]);
        MT_CHECK_INT(c, shapes[i][2]);
    }
}

/* A = M'M/p + I (p x p, column-major): |A x - b| / (|A| |x|) near machine precision. */
static void test_spd(const mb_grid *g, int64_t p) {
    double *A = calloc((size_t)(p * p), sizeof *A), *b = malloc(sizeof(double) * (size_t)p);
    double *x = malloc(sizeof(double) * (size_t)p);
    for (int64_t i = 0; i < p; i++) {
        b[i] = val(i, 0, 1);
        for (int64_t j = 0; j < p; j++) {
            double s = 0;
            for (int64_t l = 0; l < p; l++) s += val(l, i, 2) * val(l, j, 2);
            A[i + j * p] = s / (double)p + (i == j);
        }
    }
    double rcond = 0;
    MT_CHECK_INT(mb_solve_spd(g, p, A, b, x, &rcond, "test A", NULL), MB_OK);
    double rmax = 0, anorm = 0, xnorm = 0;
    for (int64_t i = 0; i < p; i++) {
        double r = -b[i], row = 0;
        for (int64_t j = 0; j < p; j++) r += A[i + j * p] * x[j], row += fabs(A[i + j * p]);
        rmax = fmax(rmax, fabs(r));
        anorm = fmax(anorm, row);
        xnorm = fmax(xnorm, fabs(x[i]));
    }
    double resid = rmax / (anorm * xnorm * 2.2e-16 * (double)p);
    if (mt_comm.rank == 0)
        printf("spd p=%lld on %d x %d: scaled residual %.3g, rcond %.3g: %s\n", (long long)p,
               g->nprow, g->npcol, resid, rcond, resid < 16 ? "PASSED" : "FAILED");
    MT_CHECK(resid < 16);
    MT_CHECK(rcond > 0 && rcond <= 1);
    /* Every rank holds the same solution. */
    double x0 = x[p - 1];
    mb_bcast(&mt_comm, &x0, sizeof x0, 0);
    MT_CHECK(x0 == x[p - 1]);
    /* A zero row and column: not positive definite at that leading minor, on every rank. */
    int64_t z = p / 2;
    for (int64_t j = 0; j < p; j++) A[z + j * p] = A[j + z * p] = 0;
    const char *names[64];
    for (int64_t j = 0; j < p && j < 64; j++) names[j] = j == z ? "zeroed" : "other";
    mb_err err = mb_solve_spd(g, p, A, b, x, NULL, "test A", p <= 64 ? names : NULL);
    MT_CHECK_INT(err, MB_ENUMERIC);
    if (mt_comm.rank == 0) printf("singular: %s\n", mb_error_message());
    char want[64];
    snprintf(want, sizeof want, "leading minor %lld of %lld", (long long)(z + 1), (long long)p);
    MT_CHECK(strstr(mb_error_message(), want) != NULL);
    if (p <= 64) MT_CHECK(strstr(mb_error_message(), "'zeroed'") != NULL);
    mb_error_clear();
    free(A);
    free(b);
    free(x);
}

/* m x p least squares, rows split unevenly (rank r gets a share growing with r; the last rank
 * may get none): QR's x against the normal equations' solution, and A'(Ax - b) ~ 0. */
static void test_lstsq(const mb_grid *g, int64_t m, int64_t p) {
    int P = mt_comm.size, r = mt_comm.rank;
    int64_t lo = 0, hi = 0, total = (int64_t)P * (P + 1) / 2;
    for (int q = 0; q <= r; q++) {
        lo = hi;
        hi = q == P - 1 ? m : hi + m * (q + 1) / total;
    }
    if (P > 2 && r == P - 1) lo = hi = m; /* an empty rank ... */
    if (P > 2 && r == P - 2) hi = m;      /* ... whose rows its neighbour takes */
    int64_t ml = hi - lo;
    double *Al = malloc(sizeof(double) * (size_t)((ml ? ml : 1) * p)),
           *bl = malloc(sizeof(double) * (size_t)(ml ? ml : 1));
    for (int64_t i = 0; i < ml; i++) {
        for (int64_t j = 0; j < p; j++) Al[i + j * ml] = val(lo + i, j, 3) + (j == 0);
        bl[i] = val(lo + i, p, 4);
    }
    double *x = malloc(sizeof(double) * (size_t)p), *xn = malloc(sizeof(double) * (size_t)p);
    double *G = calloc((size_t)(p * p), sizeof *G), *atb = calloc((size_t)p, sizeof *atb);
    MT_CHECK_INT(mb_solve_lstsq(g, ml, p, Al, bl, x, "test LS", NULL), MB_OK);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < p; j++) {
            double aij = val(i, j, 3) + (j == 0);
            atb[j] += aij * val(i, p, 4);
            for (int64_t l = 0; l < p; l++) G[j + l * p] += aij * (val(i, l, 3) + (l == 0));
        }
    MT_CHECK_INT(mb_solve_spd(g, p, G, atb, xn, NULL, "test normal equations", NULL), MB_OK);
    double rel = mt_max_rel_diff(x, xn, p), grad = 0;
    for (int64_t j = 0; j < p; j++) {
        double s = -atb[j];
        for (int64_t l = 0; l < p; l++) s += G[j + l * p] * x[l];
        grad = fmax(grad, fabs(s));
    }
    if (mt_comm.rank == 0)
        printf("lstsq %lld x %lld: QR vs Cholesky max rel diff %.3g, |A'(Ax-b)| %.3g\n",
               (long long)m, (long long)p, rel, grad);
    MT_CHECK(rel < 1e-10);
    MT_CHECK(grad < 1e-10 * (double)m);
    /* Column 2 a copy of column 1: rank deficient, on every rank. */
    for (int64_t i = 0; i < ml; i++) Al[i + 2 * ml] = Al[i + 1 * ml];
    mb_err err = mb_solve_lstsq(g, ml, p, Al, bl, x, "test LS", NULL);
    MT_CHECK_INT(err, MB_ENUMERIC);
    if (mt_comm.rank == 0) printf("rank deficient: %s\n", mb_error_message());
    MT_CHECK(strstr(mb_error_message(), "rank deficient") != NULL);
    mb_error_clear();
    /* Fewer rows than unknowns: refused before ScaLAPACK sees it. */
    MT_CHECK_INT(mb_solve_lstsq(g, r == 0 ? 2 : 0, p, Al, bl, x, "test LS", NULL), MB_EUSAGE);
    mb_error_clear();
    free(Al), free(bl), free(x), free(xn), free(G), free(atb);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    test_grid_shape();
    mb_grid g;
    MT_CHECK_INT(mb_grid_init(&mt_comm, &g), MB_OK);
    int r, c;
    mb_grid_shape(mt_comm.size, &r, &c);
    MT_CHECK_INT(g.nprow, r);
    MT_CHECK_INT(g.npcol, c);
    test_spd(&g, 1);
    test_spd(&g, 7);
    test_spd(&g, 130); /* more than two 64-blocks on some ranks */
    test_lstsq(&g, 503, 7);
    test_lstsq(&g, 300, 41);
    mb_grid_free(&g);
    /* A second grid on the same communicator after the first is gone. */
    MT_CHECK_INT(mb_grid_init(&mt_comm, &g), MB_OK);
    test_spd(&g, 5);
    mb_grid_free(&g);
    return mt_finish();
}
