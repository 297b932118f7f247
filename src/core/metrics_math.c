/* metrics_math.c - confusion matrix, precision/recall/F1 and the exact ROC AUC. */
#include "mbatch/metrics_math.h"

#include <math.h>
#include <stdlib.h>

void mb_confusion_add(const double *y, const double *pred, int64_t n, int64_t k, double *conf) {
    for (int64_t i = 0; i < n; i++) {
        double t = y[i], p = pred[i];
        if (!(t >= 0 && t < (double)k && p >= 0 && p < (double)k)) continue;
        if (t != floor(t) || p != floor(p)) continue;
        conf[(int64_t)t * k + (int64_t)p] += 1.0;
    }
}

void mb_prf_from_confusion(const double *conf, int64_t k, double *precision, double *recall,
                           double *f1) {
    for (int64_t c = 0; c < k; c++) {
        double tp = conf[c * k + c], col = 0, row = 0;
        for (int64_t j = 0; j < k; j++) {
            col += conf[j * k + c];
            row += conf[c * k + j];
        }
        double p = col > 0 ? tp / col : 0.0, r = row > 0 ? tp / row : 0.0;
        if (precision) precision[c] = p;
        if (recall) recall[c] = r;
        /* 2 tp / (2 tp + fp + fn) is F1 without the rounding of P and R. */
        if (f1) f1[c] = row + col > 0 ? 2.0 * tp / (row + col) : 0.0;
    }
}

static int by_score(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mb_roc_auc_pairs(double *pairs, int64_t n) {
    qsort(pairs, (size_t)n, 2 * sizeof(double), by_score);
    /* Walk groups of equal score upward: each positive beats the negatives below its group and
     * ties with half of those inside it. Counts stay integers (exact in int64). */
    int64_t neg_below = 0, pos = 0, neg = 0;
    long double twice_wins = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, gp = 0, gn = 0;
        while (j < n && pairs[2 * j] == pairs[2 * i]) {
            if (pairs[2 * j + 1] == 1.0)
                gp++;
            else
                gn++;
            j++;
        }
        twice_wins += (long double)gp * (long double)(2 * neg_below + gn);
        neg_below += gn;
        pos += gp;
        neg += gn;
        i = j;
    }
    if (pos == 0 || neg == 0) return NAN;
    return (double)(twice_wins / (2.0L * (long double)pos * (long double)neg));
}
