/* class_report.c - confusion matrix, precision, recall, F1 and exact ROC AUC over all ranks. */
#include "class_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/class_metrics.h"
#include "mbatch/metrics_math.h"
#include "shared.h"

typedef struct {
    double *pairs;
    int64_t used, cap;
} pair_sink;

static void take_pairs(int rank, const void *data, int64_t bytes, void *ctx) {
    (void)rank;
    pair_sink *s = ctx;
    int64_t n = bytes / (int64_t)(2 * sizeof(double));
    if (!s->pairs || s->used + n > s->cap) return; /* counted beforehand: cannot happen */
    memcpy(s->pairs + 2 * s->used, data, (size_t)bytes);
    s->used += n;
}

mb_err mb__class_report(const mb_comm *c, mb_model_type t, const double *out, const double *y,
                        int64_t rows, int64_t k, const char *metrics_path, int progress) {
    if (t == MB_MODEL_LINEAR || t == MB_MODEL_HUBER || t == MB_MODEL_MLP) return MB_OK;
    int binary = t != MB_MODEL_SOFTMAX;
    int64_t kc = binary ? 2 : k, kout = binary ? 1 : k;
    /* A k x k confusion matrix is for a readable number of classes; above that, none. */
    if (kc > 1000) return MB_OK;
    /* SVMs predict class 1 at a decision value >= 0, logistic models at P >= 0.5. */
    double thr = t == MB_MODEL_LOGISTIC ? 0.5 : 0.0;
    mb_err err = MB_OK;
    double *conf = calloc((size_t)(kc * kc + 1), sizeof *conf);
    double *pred = malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
    double *pairs = binary ? malloc(sizeof(double) * (size_t)(2 * rows + 2)) : NULL;
    double *prf = malloc(sizeof(double) * (size_t)(3 * kc));
    pair_sink sink = {NULL, 0, 0};
    if (!conf || !pred || !prf || (binary && !pairs))
        err =
            mb_error_set(MB_EENV, "rank %d: out of memory for the classification report", c->rank);
    err = mb_agree(c, err, NULL);
    if (err) goto out;
    for (int64_t i = 0; i < rows; i++) {
        if (binary) {
            pred[i] = out[i] >= thr ? 1.0 : 0.0;
            pairs[2 * i] = out[i];
            pairs[2 * i + 1] = y[i];
        } else {
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                if (out[i * kout + j] > out[i * kout + best]) best = j;
            pred[i] = (double)best;
        }
    }
    mb_confusion_add(y, pred, rows, kc, conf);
    conf[kc * kc] = (double)rows;
    mb_allreduce_sum(c, conf, kc * kc + 1);
    int64_t total = (int64_t)conf[kc * kc];
    double auc = NAN;
    if (binary) {
        if (c->rank == 0) {
            sink.cap = total;
            sink.pairs = malloc(sizeof(double) * (size_t)(2 * total + 2));
        }
        int64_t ok = c->rank != 0 || sink.pairs != NULL;
        mb_allreduce_min_i64(c, &ok, 1);
        if (!ok) {
            err = mb_error_set(MB_EENV, "rank 0: out of memory gathering %lld validation scores",
                               (long long)total);
            goto out;
        }
        mb_gather_each(c, pairs, (int64_t)(2 * sizeof(double)) * rows, 0, take_pairs, &sink);
        if (c->rank == 0) auc = mb_roc_auc_pairs(sink.pairs, sink.used);
    }
    if (c->rank == 0 && total > 0) {
        double *pr = prf, *rc = prf + kc, *f1 = prf + 2 * kc, correct = 0;
        mb_prf_from_confusion(conf, kc, pr, rc, f1);
        for (int64_t j = 0; j < kc; j++) correct += conf[j * kc + j];
        mb_class_report r = {kc, conf, pr, rc, f1, correct / (double)total, auc, thr, total};
        err = mb_metrics_classification(metrics_path, &r);
        if (!err && progress) {
            if (binary)
                printf(
                    "mbatch: classification: accuracy %.4f  precision %.4f  recall %.4f  F1 %.4f  "
                    "ROC AUC %.6f\n",
                    r.accuracy, pr[1], rc[1], f1[1], auc);
            else
                printf(
                    "mbatch: classification: accuracy %.4f over %lld classes (per-class precision, "
                    "recall and F1 in metrics.h5 /classification)\n",
                    r.accuracy, (long long)kc);
        }
    }
    err = mb_agree(c, err, NULL);
out:
    free(conf);
    free(pred);
    free(pairs);
    free(prf);
    free(sink.pairs);
    return err;
}

mb_err mb__validation_report(const mb_comm *c, const mb__state *s, mb_model_type t,
                             const double *theta, const char *metrics_path, int progress) {
    if (t == MB_MODEL_LINEAR || t == MB_MODEL_HUBER || t == MB_MODEL_MLP || s->n_val == 0)
        return MB_OK;
    int64_t kout = t == MB_MODEL_SOFTMAX ? s->k : 1;
    double *out = mb__alloc(sizeof(double) * (size_t)(s->mv * kout + 1), "the validation outputs");
    mb_err err = mb_agree(c, out ? MB_OK : mb_error_code(), NULL);
    if (!err) {
        if (s->mv > 0) mb_model_predict(t, s->Xva, s->mv, s->d, s->k, theta, out);
        err = mb__class_report(c, t, out, s->yva, s->mv, s->k, metrics_path, progress);
    }
    free(out);
    return err;
}
