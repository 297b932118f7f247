/* class_report.h - the classification report of a model on the validation rows, computed across
 * ranks (confusion matrices summed, (score, label) pairs gathered on rank 0 for the exact AUC). */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"
#include "mbatch/model.h"
#include "state.h"

/* out[rows][kout] are this rank's outputs as mb_model_predict gives them for model type t
 * (probabilities for logistic/softmax, the decision value for SVMs), y the labels. Rank 0 writes
 * /classification into metrics_path (class_metrics.h) and, with progress, prints a summary.
 * Regression types and models of more than 1000 classes do nothing. Collective. */
mb_err mb__class_report(const mb_comm *c, mb_model_type t, const double *out, const double *y,
                        int64_t rows, int64_t k, const char *metrics_path, int progress);

/* The report of a linear model or SVM (type t, parameters theta) on s's validation rows.
 * Collective. */
mb_err mb__validation_report(const mb_comm *c, const mb__state *s, mb_model_type t,
                             const double *theta, const char *metrics_path, int progress);
