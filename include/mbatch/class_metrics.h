/* class_metrics.h - /classification in metrics.h5: confusion matrix, precision, recall, F1, AUC.
 *
 * Rank 0 only (Not Collective); the metrics file must exist (mb_metrics_init). The group is
 * replaced on every call, so it always describes the final model.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "mbatch/error.h"

typedef struct mb_class_report {
    int64_t k;                             /* classes (2 for a binary model) */
    const double *conf;                    /* k x k, row = true class, column = predicted class */
    const double *precision, *recall, *f1; /* k each */
    double accuracy;
    double auc;       /* binary: exact ROC AUC of the scores; NaN otherwise */
    double threshold; /* binary: the score at or above which class 1 is predicted */
    int64_t rows;     /* validation rows the report covers */
} mb_class_report;

/* Write /classification/{confusion [k][k], precision [k], recall [k], f1 [k]} and attributes
 * accuracy, auc, threshold, rows, and for binary models f1_binary = f1[1], precision_binary,
 * recall_binary (scikit-learn's default positive class 1). */
mb_err mb_metrics_classification(const char *path, const mb_class_report *r);

/* If path holds /classification, print its accuracy, AUC, per-class precision/recall/F1 and the
 * confusion matrix (up to 20 classes) to out; otherwise print nothing. Not collective. */
mb_err mb_class_report_print(const char *path, FILE *out);
