/* shared.h - internal helpers shared by train and predict in src/run. */
#pragma once

#include <stdint.h>

#include "mbatch/checkpoint.h"
#include "mbatch/comm.h"
#include "mbatch/dataset.h"
#include "mbatch/job.h"
#include "mbatch/model.h"

/* The dataset spec of a job; `path` overrides job->dataset.path when not NULL. */
mb_dataset_spec mb__spec_from_job(const mb_job *job, const char *path);

mb_model_type mb__model_type(const char *name);
const char *mb__model_name(mb_model_type t);

/* Rank 0's checkpoint to every rank (other ranks' *ck is overwritten). Collective. */
void mb__ckpt_bcast(const mb_comm *c, mb_ckpt *ck);

/* Check labels y[0..m) of rows starting at global row `row0` for the model; on a bad label,
 * an MB_EDATA message naming the file, target dataset, row and value. Not collective. */
mb_err mb__check_labels(const mb_dataset *ds, mb_model_type t, int64_t k, const double *y,
                        int64_t m, int64_t row0);

/* Seconds as "1:02:03" or "4:05". */
void mb__fmt_duration(double s, char *buf, int n);

/* malloc that records an MB_EENV "out of memory" error naming what was allocated. */
void *mb__alloc(size_t bytes, const char *what);
