/* solve.c - the BLACS grid and the distributed Cholesky and QR solves of solve.h. */
#include "mbatch/solve.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solve/scalapack.h"

static const int I0 = 0, I1 = 1;

void mb_grid_shape(int n, int *nprow, int *npcol) {
    int r = 1;
    for (int q = 1; (long)q * q <= n; q++)
        if (n % q == 0) r = q;
    *nprow = r;
    *npcol = n / r;
}

mb_err mb_grid_init(const mb_comm *c, mb_grid *g) {
    memset(g, 0, sizeof *g);
    g->comm = c;
    g->ctxt = -1;
    int me, np;
    /* Cblacs_pinfo sets up BLACS's own tables; MPI is already initialized, so it only reads. */
    Cblacs_pinfo(&me, &np);
    g->sys = Csys2blacs_handle(c->comm);
    mb_grid_shape(c->size, &g->nprow, &g->npcol);
    g->ctxt = g->sys;
    Cblacs_gridinit(&g->ctxt, "R", g->nprow, g->npcol);
    int pr = 0, pc = 0;
    Cblacs_gridinfo(g->ctxt, &pr, &pc, &g->myrow, &g->mycol);
    mb_err err = MB_OK;
    if (pr != g->nprow || pc != g->npcol || g->myrow < 0 || g->mycol < 0)
        err = mb_error_set(MB_EENV,
                           "BLACS: the %d x %d process grid over %d ranks was not created "
                           "(this rank sees %d x %d at (%d, %d))",
                           g->nprow, g->npcol, c->size, pr, pc, g->myrow, g->mycol);
    err = mb_agree(c, err, NULL);
    if (err) mb_grid_free(g);
    return err;
}

void mb_grid_free(mb_grid *g) {
    if (!g->comm) return;
    if (g->ctxt >= 0 && g->myrow >= 0) Cblacs_gridexit(g->ctxt);
    Cfree_blacs_system_handle(g->sys);
    g->ctxt = -1;
    g->comm = NULL;
}

/* Square blocks small enough that every process of the grid holds part of a p-wide matrix. */
static int block_size(int64_t p, const mb_grid *g) {
    int64_t q = g->nprow > g->npcol ? g->nprow : g->npcol;
    int64_t nb = (p + q - 1) / q;
    return (int)(nb < 1 ? 1 : nb > 64 ? 64 : nb);
}

/* Global index of local index l in a block-cyclic dimension (source process 0). */
static int64_t l2g(int64_t l, int nb, int me, int nprocs) {
    return (l / nb * nprocs + me) * nb + l % nb;
}

/* A distributed matrix's local array sizes, checked against ScaLAPACK's int arguments. */
static mb_err local_size(const char *what, int64_t m, int64_t n, int nb, const mb_grid *g,
                         int *mloc, int *nloc) {
    if (m > INT_MAX || n > INT_MAX)
        return mb_error_set(MB_EUSAGE,
                            "%s: a %lld x %lld matrix exceeds ScaLAPACK's 32-bit dimensions", what,
                            (long long)m, (long long)n);
    int mi = (int)m, ni = (int)n, nbi = nb;
    *mloc = numroc_(&mi, &nbi, &g->myrow, &I0, &g->nprow);
    *nloc = numroc_(&ni, &nbi, &g->mycol, &I0, &g->npcol);
    return MB_OK;
}

static mb_err describe(const char *what, int *desc, int64_t m, int64_t n, int mb, int nb, int ctxt,
                       int lld) {
    int mi = (int)m, ni = (int)n, info = 0;
    descinit_(desc, &mi, &ni, &mb, &nb, &I0, &I0, &ctxt, &lld, &info);
    if (info != 0)
        return mb_error_set(MB_EENV, "%s: DESCINIT rejected argument %d (m %lld, n %lld, lld %d)",
                            what, -info, (long long)m, (long long)n, lld);
    return MB_OK;
}

mb_err mb_solve_spd(const mb_grid *g, int64_t p, const double *A, const double *b, double *x,
                    double *rcond, const char *what, const char *const *names) {
    const mb_comm *c = g->comm;
    mb_err err = MB_OK;
    int nb = block_size(p, g), mloc = 0, nloc = 0, desca[MB_DLEN], descb[MB_DLEN];
    double *a = NULL, *bl = NULL, *work = NULL;
    int *iwork = NULL;
    if (p < 1) err = mb_error_set(MB_EUSAGE, "%s: empty system (p = %lld)", what, (long long)p);
    if (!err) err = local_size(what, p, p, nb, g, &mloc, &nloc);
    int lld = mloc > 1 ? mloc : 1;
    if (!err) {
        a = malloc(sizeof(double) * (size_t)lld * (size_t)(nloc > 1 ? nloc : 1));
        bl = malloc(sizeof(double) * (size_t)lld);
        /* PDLANSY needs at most 2*Nq0 + Np0 + LDW with LDW <= Np0; PDPOCON is queried below. */
        work = malloc(sizeof(double) * (size_t)(4 * (p + nb) + 16));
        if (!a || !bl || !work)
            err = mb_error_set(MB_EENV, "%s: out of memory for the %lld x %lld local blocks", what,
                               (long long)mloc, (long long)nloc);
    }
    if (!err) err = describe(what, desca, p, p, nb, nb, g->ctxt, lld);
    if (!err) err = describe(what, descb, p, 1, nb, nb, g->ctxt, lld);
    MB_TRY(mb_agree(c, err, NULL));

    for (int64_t lj = 0; lj < nloc; lj++) {
        int64_t gj = l2g(lj, nb, g->mycol, g->npcol);
        for (int64_t li = 0; li < mloc; li++) {
            int64_t gi = l2g(li, nb, g->myrow, g->nprow);
            a[li + lj * lld] = gi <= gj ? A[gi + gj * p] : A[gj + gi * p];
        }
    }
    if (g->mycol == 0)
        for (int64_t li = 0; li < mloc; li++) bl[li] = b[l2g(li, nb, g->myrow, g->nprow)];

    int n = (int)p, info = 0;
    double anorm = pdlansy_("1", "U", &n, a, &I1, &I1, desca, work);
    pdposv_("U", &n, &I1, a, &I1, &I1, desca, bl, &I1, &I1, descb, &info);
    int64_t inf = info;
    mb_allreduce_max_i64(c, &inf, 1);
    if (inf > 0) {
        const char *nm = names ? names[inf - 1] : NULL;
        err = mb_error_set(MB_ENUMERIC,
                           "%s is singular or not positive definite: Cholesky (PDPOSV) failed at "
                           "leading minor %lld of %lld%s%s%s; the features are collinear or "
                           "constant: drop them or set model.l2 > 0",
                           what, (long long)inf, (long long)p, nm ? " (parameter '" : "",
                           nm ? nm : "", nm ? "')" : "");
        goto out;
    }
    if (inf < 0) {
        err = mb_error_set(MB_EENV, "%s: PDPOSV rejected argument %lld", what, (long long)-inf);
        goto out;
    }
    if (rcond) {
        double wq = 0;
        int iq = 0, lwork = -1, liwork = -1;
        pdpocon_("U", &n, a, &I1, &I1, desca, &anorm, rcond, &wq, &lwork, &iq, &liwork, &info);
        lwork = (int)wq + 1;
        liwork = iq + 1;
        double *w2 = malloc(sizeof(double) * (size_t)lwork);
        iwork = malloc(sizeof(int) * (size_t)liwork);
        err = w2 && iwork ? MB_OK : mb_error_set(MB_EENV, "%s: out of memory for PDPOCON", what);
        err = mb_agree(c, err, NULL);
        if (!err)
            pdpocon_("U", &n, a, &I1, &I1, desca, &anorm, rcond, w2, &lwork, iwork, &liwork, &info);
        free(w2);
        if (err) goto out;
        /* The estimate lives on every process; take the smallest so all ranks report the same. */
        double neg = -*rcond;
        mb_allreduce_max_double(c, &neg, 1);
        *rcond = -neg;
    }
    memset(x, 0, sizeof(double) * (size_t)p);
    if (g->mycol == 0)
        for (int64_t li = 0; li < mloc; li++) x[l2g(li, nb, g->myrow, g->nprow)] = bl[li];
    mb_allreduce_sum(c, x, p);
out:
    free(a);
    free(bl);
    free(work);
    free(iwork);
    return err;
}

mb_err mb_solve_lstsq(const mb_grid *g, int64_t m_loc, int64_t p, const double *A, const double *b,
                      double *x, const char *what, const char *const *names) {
    const mb_comm *c = g->comm;
    mb_err err = MB_OK;
    int64_t rows[2] = {m_loc, m_loc}; /* max, sum */
    mb_allreduce_max_i64(c, &rows[0], 1);
    mb_allreduce_sum_i64(c, &rows[1], 1);
    int64_t per = rows[0] > 0 ? rows[0] : 1, M = per * c->size;
    if (rows[1] < p)
        return mb_error_set(MB_EUSAGE,
                            "%s: %lld rows for %lld unknowns; least squares by QR needs at least "
                            "as many rows as unknowns",
                            what, (long long)rows[1], (long long)p);
    if (M > INT_MAX || p > INT_MAX || (double)per * (double)p > 1e18)
        return mb_error_set(MB_EUSAGE,
                            "%s: a %lld x %lld system exceeds ScaLAPACK's 32-bit dimensions; use "
                            "optimizer.solver=cholesky",
                            what, (long long)M, (long long)p);
    int nb = block_size(p, g), mloc = 0, nloc = 0, ctx1 = -1;
    int dsrc[MB_DLEN], dsrcb[MB_DLEN], desca[MB_DLEN], descb[MB_DLEN];
    double *src = NULL, *srcb = NULL, *a = NULL, *bl = NULL, *work = NULL, *diag = NULL;
    err = local_size(what, M, p, nb, g, &mloc, &nloc);
    int lld = mloc > 1 ? mloc : 1;
    if (!err) {
        src = calloc((size_t)per * (size_t)p, sizeof(double));
        srcb = calloc((size_t)per, sizeof(double));
        a = malloc(sizeof(double) * (size_t)lld * (size_t)(nloc > 1 ? nloc : 1));
        bl = malloc(sizeof(double) * (size_t)lld);
        diag = calloc((size_t)p, sizeof(double));
        if (!src || !srcb || !a || !bl || !diag)
            err = mb_error_set(MB_EENV, "%s: out of memory for the %lld x %lld block-cyclic copy",
                               what, (long long)M, (long long)p);
    }
    MB_TRY(mb_agree(c, err, NULL));
    for (int64_t j = 0; j < p; j++)
        memcpy(src + j * per, A + j * m_loc, sizeof(double) * (size_t)m_loc);
    memcpy(srcb, b, sizeof(double) * (size_t)m_loc);

    /* The ranks' rows as a 1-D block layout on a P x 1 grid: rank r owns rows r*per .. +per. */
    ctx1 = g->sys;
    Cblacs_gridinit(&ctx1, "R", c->size, 1);
    int Mi = (int)M, n = (int)p, perl = (int)per, info = 0;
    err = describe(what, dsrc, M, p, perl, n, ctx1, perl);
    if (!err) err = describe(what, dsrcb, M, 1, perl, 1, ctx1, perl);
    if (!err) err = describe(what, desca, M, p, nb, nb, g->ctxt, lld);
    if (!err) err = describe(what, descb, M, 1, nb, nb, g->ctxt, lld);
    MB_TRY(mb_agree(c, err, NULL));
    pdgemr2d_(&Mi, &n, src, &I1, &I1, dsrc, a, &I1, &I1, desca, &g->ctxt);
    pdgemr2d_(&Mi, &I1, srcb, &I1, &I1, dsrcb, bl, &I1, &I1, descb, &g->ctxt);
    Cblacs_gridexit(ctx1);
    ctx1 = -1;
    free(src);
    free(srcb);
    src = srcb = NULL;

    double wq = 0;
    int lwork = -1;
    pdgels_("N", &Mi, &n, &I1, a, &I1, &I1, desca, bl, &I1, &I1, descb, &wq, &lwork, &info);
    lwork = (int)wq + 1;
    work = malloc(sizeof(double) * (size_t)lwork);
    err = work ? MB_OK : mb_error_set(MB_EENV, "%s: out of memory for PDGELS", what);
    MB_TRY(mb_agree(c, err, NULL));
    pdgels_("N", &Mi, &n, &I1, a, &I1, &I1, desca, bl, &I1, &I1, descb, work, &lwork, &info);
    int64_t inf = info;
    mb_allreduce_max_i64(c, &inf, 1);
    if (inf != 0) {
        err = mb_error_set(inf > 0 ? MB_ENUMERIC : MB_EENV, "%s: PDGELS returned INFO = %lld", what,
                           (long long)inf);
        goto out;
    }

    /* QR without pivoting does not detect rank deficiency: look at R's diagonal. */
    for (int64_t lj = 0; lj < nloc; lj++) {
        int64_t gj = l2g(lj, nb, g->mycol, g->npcol);
        for (int64_t li = 0; li < mloc; li++)
            if (l2g(li, nb, g->myrow, g->nprow) == gj) diag[gj] = fabs(a[li + lj * lld]);
    }
    mb_allreduce_sum(c, diag, p);
    double rmax = 0;
    for (int64_t j = 0; j < p; j++) rmax = diag[j] > rmax ? diag[j] : rmax;
    for (int64_t j = 0; j < p; j++)
        if (!(diag[j] > rmax * DBL_EPSILON * (double)p * 10)) {
            const char *nm = names ? names[j] : NULL;
            err = mb_error_set(MB_ENUMERIC,
                               "%s is rank deficient: QR (PDGELS) gives |R[%lld,%lld]| = %.3g "
                               "against a largest %.3g%s%s%s; the features are collinear or "
                               "constant: drop them or set model.l2 > 0",
                               what, (long long)j, (long long)j, diag[j], rmax,
                               nm ? " (parameter '" : "", nm ? nm : "", nm ? "')" : "");
            goto out;
        }
    memset(x, 0, sizeof(double) * (size_t)p);
    if (g->mycol == 0)
        for (int64_t li = 0; li < mloc; li++) {
            int64_t gi = l2g(li, nb, g->myrow, g->nprow);
            if (gi < p) x[gi] = bl[li];
        }
    mb_allreduce_sum(c, x, p);
out:
    if (ctx1 >= 0) Cblacs_gridexit(ctx1);
    free(src);
    free(srcb);
    free(a);
    free(bl);
    free(work);
    free(diag);
    return err;
}
