/* shared.h - internal helpers shared by train and predict in src/run. */
#pragma once

#include <stdint.h>

#include "mbatch/checkpoint.h"
#include "mbatch/comm.h"
#include "mbatch/dataset.h"
#include "mbatch/job.h"
#include "mbatch/model.h"
#include "mbatch/optim.h"

/* The dataset spec of a job; `path` overrides job->dataset.path when not NULL. */
mb_dataset_spec mb__spec_from_job(const mb_job *job, const char *path);

mb_model_type mb__model_type(const char *name);
const char *mb__model_name(mb_model_type t);
/* The kernel type of a job's model: svm with model.loss squared_hinge is MB_MODEL_SQUARED_HINGE. */
mb_model_type mb__job_model_type(const mb_job *job);
/* The type whose label rules apply: an mlp's head (model.output), else mb__job_model_type. */
mb_model_type mb__job_label_type(const mb_job *job);
mb_optim_type mb__optim_type(const char *name); /* optimizer.type; sgd for anything else */
mb_sched_type mb__sched_type(const char *name); /* optimizer.schedule.type */
/* The learning-rate schedule of job's optimizer.schedule, at its starting state. */
mb_schedule mb__job_schedule(const mb_job *job);

/* Rank 0's checkpoint to every rank (other ranks' *ck is overwritten). Collective. */
void mb__ckpt_bcast(const mb_comm *c, mb_ckpt *ck);

/* Open `data`, predict's input, with the layout of the training job saved in the model file
 * `model` (ck, job), and check that its feature columns are the model's, by name and in order
 * (MB_EDATA naming both files). *ds is set whenever the open succeeded, for the caller to
 * close. Collective. */
mb_err mb__open_predict_input(const mb_comm *c, const mb_job *job, const mb_ckpt *ck,
                              const char *data, const char *model, mb_dataset **ds);

/* Check labels y[0..m) of rows starting at global row `row0` for the model; on a bad label,
 * an MB_EDATA message naming the file, target dataset, row and value. Not collective. */
mb_err mb__check_labels(const mb_dataset *ds, mb_model_type t, int64_t k, const double *y,
                        int64_t m, int64_t row0);

/* Seconds as "1:02:03" or "4:05". */
void mb__fmt_duration(double s, char *buf, int n);

/* malloc that records an MB_EENV "out of memory" error naming what was allocated. */
void *mb__alloc(size_t bytes, const char *what);
