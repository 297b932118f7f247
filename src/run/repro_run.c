/* repro_run.c - the training loop's sums in reproducible mode: per microblock, then exact. */
#include "repro_run.h"

#include <stdlib.h>
#include <string.h>

#include "mbatch/microblock.h"
#include "mbatch/preprocess.h"
#include "mbatch/repro.h"
#include "shared.h"

void mb__repro_bounds(const mb_comm *c, int64_t n, int64_t *lo, int64_t *hi) {
    mb_microblock_shard(n, mb_microblock_rows(n), c->rank, c->size, lo, hi);
}

mb_err mb__repro_read(const mb_comm *c, mb__state *s, mb_io_mode mode, double *raw, double *y) {
    int64_t *shards = malloc(sizeof *shards * 2 * (size_t)c->size);
    mb_err err =
        shards ? MB_OK : mb_error_set(MB_EENV, "out of memory for %d shard bounds", c->size);
    MB_TRY(mb_agree(c, err, NULL));
    for (int r = 0; r < c->size; r++)
        mb_microblock_shard(s->n, mb_microblock_rows(s->n), r, c->size, &shards[2 * r],
                            &shards[2 * r + 1]);
    err = mb_dataset_read_shards(c, s->ds, mode, shards, raw, y);
out:
    free(shards);
    return err;
}

mb_err mb__repro_layout(mb__state *s, const unsigned char *isval) {
    int64_t rows = mb_microblock_rows(s->n), m = s->hi - s->lo;
    s->nmb = (m + rows - 1) / rows;
    s->tmb = mb__alloc(sizeof(int64_t) * (size_t)(s->nmb + 1), "the microblock layout");
    s->vmb = mb__alloc(sizeof(int64_t) * (size_t)(s->nmb + 1), "the microblock layout");
    if (!s->tmb || !s->vmb) return mb_error_code();
    int64_t nt = 0, nv = 0;
    for (int64_t j = 0; j <= s->nmb; j++) {
        s->tmb[j] = nt;
        s->vmb[j] = nv;
        for (int64_t i = j * rows; j < s->nmb && i < m && i < (j + 1) * rows; i++) {
            nv += isval[i] != 0;
            nt += isval[i] == 0;
        }
    }
    return MB_OK;
}

/* Column sums (sqdev: of squared deviations from mean) of the training rows, per microblock. */
static mb_err colstats(const mb_comm *c, mb__state *s, const double *mean, double *acc) {
    int64_t d = s->d;
    mb_superacc *sa = malloc(sizeof *sa * (size_t)(d + 1));
    double *part = malloc(sizeof *part * (size_t)(d + 1));
    mb_err err = sa && part
                     ? MB_OK
                     : mb_error_set(MB_EENV, "out of memory for %lld exact sums", (long long)d);
    MB_TRY(mb_agree(c, err, NULL));
    mb_sacc_zero(sa, d);
    for (int64_t j = 0; j < s->nmb; j++) {
        int64_t a = s->tmb[j], rows = s->tmb[j + 1] - a;
        memset(part, 0, sizeof *part * (size_t)d);
        if (mean)
            mb_pre_colsqdev(s->Xtr + a * d, rows, d, mean, part);
        else
            mb_pre_colsum(s->Xtr + a * d, rows, d, part);
        mb_sacc_add_vec(sa, part, d);
    }
    mb_allreduce_exact(c, sa, d, acc);
out:
    free(sa);
    free(part);
    return err;
}

mb_err mb__repro_colsum(const mb_comm *c, mb__state *s, double *acc) {
    return colstats(c, s, NULL, acc);
}

mb_err mb__repro_colsqdev(const mb_comm *c, mb__state *s, const double *mean, double *acc) {
    return colstats(c, s, mean, acc);
}

mb_err mb__repro_alloc(mb__state *s, int64_t n) {
    s->nsacc = n > 3 ? n : 3;
    s->sacc = mb__alloc(sizeof(mb_superacc) * (size_t)s->nsacc, "the exact accumulators");
    s->gpart = mb__alloc(sizeof(double) * (size_t)(s->nparam + 1), "the microblock gradient");
    return s->sacc && s->gpart ? MB_OK : mb_error_code();
}

void mb__repro_grad(mb__state *s, mb_model_type t, const void *X, mb_dtype dt, const double *Y,
                    int64_t r0, int64_t r1, const int64_t *order, const double *theta) {
    int64_t np = s->nparam, j = 0;
    mb_sacc_zero(s->sacc, s->nsacc);
    for (int64_t p = r0; p < r1;) {
        int64_t o = order ? order[p] : p, q;
        while (o >= s->tmb[j + 1]) j++;
        if (order) {
            /* A batch's rows on this rank come in ascending offset: one run per microblock. */
            for (q = p + 1; q < r1 && order[q] < s->tmb[j + 1]; q++) continue;
        } else {
            q = r1 < s->tmb[j + 1] ? r1 : s->tmb[j + 1];
        }
        memset(s->gpart, 0, sizeof(double) * (size_t)np);
        /* Gathered by index: a batch's rows are read where they lie, never copied. */
        const void *Xp = order ? X : (const char *)X + p * s->d * mb_dtype_size(dt);
        double loss = mb_kernel_grad(t, Xp, dt, order ? Y : Y + p, order ? order + p : NULL, q - p,
                                     s->d, s->k, theta, s->gpart, s->work);
        mb_sacc_add_vec(s->sacc, s->gpart, np);
        mb_sacc_add(&s->sacc[np], loss);
        mb_sacc_add(&s->sacc[np + 1], (double)(q - p));
        p = q;
    }
}

void mb__repro_reduce(const mb_comm *c, mb__state *s, double *g, int64_t nexact, int64_t n) {
    for (int64_t i = nexact; i < n; i++) mb_sacc_add(&s->sacc[i], g[i]);
    mb_allreduce_exact(c, s->sacc, n, g);
}

void mb__repro_eval(mb__state *s, mb_model_type t, const double *theta) {
    mb_sacc_zero(s->sacc, 3);
    for (int64_t j = 0; j < s->nmb; j++) {
        int64_t a = s->vmb[j], rows = s->vmb[j + 1] - a;
        if (rows == 0) continue;
        double loss = 0, metric = 0;
        mb_model_eval(t, s->Xva + a * s->d, s->yva + a, rows, s->d, s->k, theta, s->work, &loss,
                      &metric);
        mb_sacc_add(&s->sacc[0], loss);
        mb_sacc_add(&s->sacc[1], metric);
        mb_sacc_add(&s->sacc[2], (double)rows);
    }
}
