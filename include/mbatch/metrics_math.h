/* metrics_math.h - classification metrics: confusion matrix, precision, recall, F1, exact ROC AUC;
 * and the sort and median that the tree histograms and the training summary use.
 *
 * Pure arithmetic on arrays (no MPI): a distributed caller sums confusion matrices over ranks
 * (integer counts as doubles are exact below 2^53) and gathers (score, label) pairs on one rank for
 * the AUC, which needs the global order of the scores. Not collective.
 */
#pragma once

#include <stdint.h>

/* conf[t * k + p] += 1 for each row with true class t = y[i] and predicted class p = pred[i]
 * (both whole numbers in [0, k); others are skipped). */
void mb_confusion_add(const double *y, const double *pred, int64_t n, int64_t k, double *conf);

/* Per class c from a k x k confusion matrix: precision = conf[c][c] / column sum, recall =
 * conf[c][c] / row sum, F1 = 2 P R / (P + R), each 0 when its denominator is 0 (as scikit-learn's
 * zero_division=0). Any output may be NULL. */
void mb_prf_from_confusion(const double *conf, int64_t k, double *precision, double *recall,
                           double *f1);

/* Exact area under the ROC curve of scores for binary labels (1 positive, anything else
 * negative): the probability that a random positive scores above a random negative, ties counted
 * one half, which is what the trapezoidal ROC curve with one point per distinct score gives
 * (scikit-learn's roc_auc_score). Sorts pairs (2n doubles: score, label interleaved) in place.
 * NaN when one class is absent. */
double mb_roc_auc_pairs(double *pairs, int64_t n);

/* Sort v[0 .. n) ascending in place (no NaN). */
void mb_sort_doubles(double *v, int64_t n);

/* The median of v[0 .. n) (the mean of the middle two when n is even; NaN when n is 0); sorts v
 * in place. No NaN in v. */
double mb_median(double *v, int64_t n);
