/* predict.c - apply a trained model to a dataset, distributed, with the model's preprocessing. */
#include "mbatch/run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/checkpoint.h"
#include "mbatch/dataset.h"
#include "mbatch/model.h"
#include "mbatch/partition.h"
#include "mbatch/preprocess.h"
#include "mbatch/trees_io.h"
#include "shared.h"
#include "trees.h"
#include "class_report.h"
#include "mlp_train.h"

mb_err mb_predict(const mb_comm *c, const mb_predict_opts *o) {
    mb_err err = MB_OK;
    mb_ckpt ck;
    mb_job *job = NULL;
    mb_dataset *ds = NULL;
    double *raw = NULL, *y = NULL, *X = NULL, *pred = NULL, *label = NULL;
    mb_mlp_pass *pass = NULL; /* an MLP's activations */
    memset(&ck, 0, sizeof ck);
    double t0 = mb_wtime();

    /* Tree models have their own file layout and predictor (src/run/trees.c). */
    int64_t trees = c->rank == 0 ? mb_trees_is_model(o->model) : 0;
    mb_bcast(c, &trees, sizeof trees, 0);
    if (trees) return mb__predict_trees(c, o);
    if (c->rank == 0) {
        err = mb_ckpt_read(o->model, &ck);
        if (!err && mb_job_from_canonical(ck.job_json, &job) != MB_OK) {
            mb_error_clear();
            err = mb_error_set(MB_EIO, "%s: the job saved in the model cannot be parsed", o->model);
        }
        mb_job_free(job);
        job = NULL;
    }
    MB_TRY(mb_agree(c, err, NULL));
    mb__ckpt_bcast(c, &ck);
    MB_TRY(mb_job_from_canonical(ck.job_json, &job));

    /* The input must have the training job's layout; the target is optional. */
    mb_io_mode mode = o->mode && strcmp(o->mode, "scatter") == 0 ? MB_IO_SCATTER : MB_IO_PARALLEL;
    MB_TRY(mb__open_predict_input(c, job, &ck, o->data, o->model, &ds));
    int64_t n = mb_dataset_rows(ds), ncol = mb_dataset_ncol(ds), lo, hi;
    mb_shard_bounds(n, c->rank, c->size, &lo, &hi);
    /* An MLP answers like the linear model of its head. */
    mb_model_type t = (mb_model_type)ck.model_type;
    mb_model_type head = t == MB_MODEL_MLP ? mb__job_label_type(job) : t;
    int regression = head == MB_MODEL_LINEAR || head == MB_MODEL_HUBER;
    mb_mlp net;
    if (t == MB_MODEL_MLP) {
        err = mb__mlp_from_job(job, ck.d, ck.k, &net);
        if (!err && net.nparam != ck.nparam)
            err = mb_error_set(MB_EIO, "%s: %lld parameters, its network needs %lld", o->model,
                               (long long)ck.nparam, (long long)net.nparam);
        if (!err && !(pass = mb_mlp_pass_new(&net, 256)))
            err = mb_error_set(MB_EENV, "rank %d: out of memory for the network", c->rank);
    }
    MB_TRY(mb_agree(c, err, NULL));
    int64_t m = hi - lo, kout = head == MB_MODEL_SOFTMAX ? ck.k : 1;
    int has_y = mb_dataset_has_target(ds);
    raw = mb__alloc(sizeof(double) * (size_t)(m * ncol), "the raw shard");
    y = mb__alloc(sizeof(double) * (size_t)m, "the labels");
    X = mb__alloc(sizeof(double) * (size_t)(m * ck.d), "the features");
    pred = mb__alloc(sizeof(double) * (size_t)(m * kout), "the predictions");
    label = mb__alloc(sizeof(double) * (size_t)m, "the predicted labels");
    MB_TRY(mb_agree(c, raw && y && X && pred && label ? MB_OK : mb_error_code(), NULL));
    MB_TRY(mb_dataset_read(c, ds, mode, raw, has_y ? y : NULL));

    mb_pre_expand(raw, m, ncol, ck.ncat, (const int64_t *const *)ck.cats, X);
    mb_pre_apply(X, m, ck.d, ck.mean, ck.std);
    if (t == MB_MODEL_MLP)
        mb_mlp_predict(&net, pass, X, m, ck.theta, pred);
    else
        mb_model_predict(t, X, m, ck.d, ck.k, ck.theta, pred);
    /* The label column: the value (linear, huber), 1 if P(y=1) >= 0.5 (logistic) or the decision
     * value is >= 0 (svm), the argmax. */
    for (int64_t i = 0; i < m; i++) {
        if (regression) {
            label[i] = pred[i];
        } else if (head == MB_MODEL_LOGISTIC) {
            label[i] = pred[i] >= 0.5 ? 1.0 : 0.0;
        } else if (head == MB_MODEL_HINGE || head == MB_MODEL_SQUARED_HINGE) {
            label[i] = pred[i] >= 0 ? 1.0 : 0.0;
        } else {
            int64_t best = 0;
            for (int64_t j = 1; j < kout; j++)
                if (pred[i * kout + j] > pred[i * kout + best]) best = j;
            label[i] = (double)best;
        }
    }
    MB_TRY(mb_predictions_write_timed(c, o->out, n, kout, lo, hi, pred, label, mb_wtime() - t0));

    if (has_y) {
        /* With a target present, report how good the predictions are. */
        double acc[2] = {0, 0};
        for (int64_t i = 0; i < m; i++) {
            if (regression)
                acc[0] += (label[i] - y[i]) * (label[i] - y[i]);
            else
                acc[0] += label[i] == y[i];
        }
        acc[1] = (double)m;
        mb_allreduce_sum(c, acc, 2);
        if (c->rank == 0 && o->progress)
            printf("mbatch: %s on %lld rows: %s %.6g\n", mb__model_name(t), (long long)n,
                   regression ? "rmse" : "accuracy",
                   regression ? sqrt(acc[0] / acc[1]) : acc[0] / acc[1]);
        /* Classifiers: confusion matrix, precision, recall, F1 and ROC AUC into the file. */
        MB_TRY(mb__class_report(c, head, pred, y, m, ck.k, o->out, o->progress));
    }
    if (c->rank == 0 && o->progress)
        printf("mbatch: wrote %s (%lld rows, %lld column%s) in %.2f s\n", o->out, (long long)n,
               (long long)kout, kout == 1 ? "" : "s", mb_wtime() - t0);
out:
    mb_mlp_pass_free(pass);
    mb_dataset_close(ds);
    mb_job_free(job);
    mb_ckpt_clear(&ck);
    free(raw);
    free(y);
    free(X);
    free(pred);
    free(label);
    return err;
}
