/* mlp_train.h - the neural-network trainer and predictor, called by mb_train and mb_predict. */
#pragma once

#include "mbatch/checkpoint.h"
#include "mbatch/comm.h"
#include "mbatch/job.h"
#include "mbatch/mlp.h"
#include "mbatch/run.h"

/* Train job's mlp: mini-batch steps whose batch-norm statistics and gradients are reduced over
 * every rank, validation, checkpoints every checkpoint.every_epochs epochs, model.h5, metrics.h5
 * (/epochs with the batch size of each epoch, /classification). Collective. */
mb_err mb__train_mlp(const mb_comm *c, const mb_job *job, const mb_train_opts *o,
                     mb_train_result *res);

/* The network a job describes for d features and k outputs (MB_EUSAGE naming the bad key).
 * Not collective. */
mb_err mb__mlp_from_job(const mb_job *job, int64_t d, int64_t k, mb_mlp *m);
