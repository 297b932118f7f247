/* metrics_math.c - confusion matrix, precision/recall/F1, the exact ROC AUC, sort and median. */
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

/* Quicksort with median-of-three pivots and insertion sort for short runs, recursing on the
 * smaller side; inline comparisons beat qsort's callback. */
void mb_sort_doubles(double *v, int64_t n) {
    while (n > 16) {
        int64_t mid = n / 2;
        double a = v[0], b = v[mid], c = v[n - 1];
        double piv = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        int64_t i = 0, j = n - 1;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) {
                double t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (j + 1 < n - i) {
            mb_sort_doubles(v, j + 1);
            v += i;
            n -= i;
        } else {
            mb_sort_doubles(v + i, n - i);
            n = j + 1;
        }
    }
    for (int64_t i = 1; i < n; i++) {
        double x = v[i];
        int64_t k = i;
        while (k > 0 && v[k - 1] > x) {
            v[k] = v[k - 1];
            k--;
        }
        v[k] = x;
    }
}

double mb_median(double *v, int64_t n) {
    if (n <= 0) return NAN;
    mb_sort_doubles(v, n);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
