/* run.h - whole jobs: train and predict, orchestrating comm, io, place and core.
 * Every function here is Collective over the given communicator; on error every rank returns
 * the same code with the same message in its error slot (rank 0 prints it).
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"
#include "mbatch/job.h"

typedef struct mb_train_opts {
    int resume;   /* continue from the newest complete checkpoint in run_dir (if any) */
    int progress; /* rank 0 prints progress (live line on a terminal, plain lines otherwise) */
    int placed;   /* the caller has already placed this process over all its ranks (a sweep
                     binds once over the world: each group alone would stack on the same cores) */
} mb_train_opts;

typedef struct mb_train_result {
    int64_t epochs, steps, samples_seen;
    double train_loss, val_loss, val_metric;
    double seconds, samples_per_s;
    double setup_s;     /* from the call to the first step: loading, preprocessing, resuming */
    int64_t best_epoch; /* early stopping: the epoch whose weights model.h5 holds (1-based; 0: the
                           last) */
    /* probe_bandwidth: the median of read_s / epoch_s over the epochs run (0: not probed) */
    double read_fraction;
} mb_train_result;

mb_err mb_train(const mb_comm *c, const mb_job *job, const mb_train_opts *o, mb_train_result *res);

typedef struct mb_predict_opts {
    const char *model; /* RUN/model.h5 */
    const char *data;  /* input HDF5 in the training job's layout */
    const char *out;   /* predictions file */
    const char *mode;  /* "parallel" (default) or "scatter" */
    int progress;
} mb_predict_opts;

mb_err mb_predict(const mb_comm *c, const mb_predict_opts *o);
