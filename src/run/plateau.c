/* plateau.c - replay the validation losses of a resumed run into its reduce-on-plateau state. */
#include "plateau.h"

#include <stdlib.h>

#include "mbatch/metrics.h"
#include "shared.h"

mb_err mb__plateau_replay(const mb_comm *c, const char *metrics_path, int64_t epochs,
                          mb_schedule *sched) {
    if (sched->type != MB_SCHED_PLATEAU || epochs <= 0) return MB_OK;
    int64_t n = 0;
    mb_epoch_row *rows = NULL;
    mb_err err = c->rank == 0 ? mb_metrics_read(metrics_path, &rows, &n) : MB_OK;
    err = mb_agree(c, err, NULL);
    if (err) return err;
    mb_bcast(c, &n, sizeof n, 0);
    double *vl = mb__alloc(sizeof(double) * (size_t)(n + 1), "the validation losses");
    err = mb_agree(c, vl ? MB_OK : mb_error_code(), NULL);
    if (!err) {
        for (int64_t i = 0; c->rank == 0 && i < n; i++) vl[i] = rows[i].val_loss;
        mb_bcast(c, vl, sizeof(double) * (size_t)n, 0);
        for (int64_t i = 0; i < n && i < epochs; i++) mb_plateau_update(sched, vl[i]);
    }
    free(vl);
    free(rows);
    return err;
}
