/* shared.c - helpers shared by train and predict: specs, labels, checkpoint broadcast. */
#include "shared.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mb_dataset_spec mb__spec_from_job(const mb_job *job, const char *path) {
    mb_dataset_spec s;
    memset(&s, 0, sizeof s);
    s.path = path ? path : job->dataset.path;
    s.X = job->dataset.group ? NULL : job->dataset.X;
    s.y = job->dataset.group ? NULL : job->dataset.y;
    s.group = job->dataset.group;
    s.features = job->dataset.features;
    s.nfeatures = job->dataset.nfeatures;
    s.target = job->dataset.target;
    s.categorical = job->dataset.categorical;
    s.ncategorical = job->dataset.ncategorical;
    return s;
}

mb_err mb__open_predict_input(const mb_comm *c, const mb_job *job, const mb_ckpt *ck,
                              const char *data, const char *model, mb_dataset **ds) {
    mb_err err = MB_OK;
    mb_dataset_spec spec = mb__spec_from_job(job, data);
    MB_TRY(mb_dataset_open(c, &spec, 0, ds));
    int64_t ncol = mb_dataset_ncol(*ds);
    if (ncol != ck->ncol)
        err = mb_error_set(MB_EDATA, "%s: %lld feature columns, the model %s expects %lld", data,
                           (long long)ncol, model, (long long)ck->ncol);
    for (int64_t j = 0; !err && j < ncol; j++)
        if (strcmp(mb_dataset_colname(*ds, j), ck->columns[j]) != 0)
            err =
                mb_error_set(MB_EDATA, "%s: feature %lld is '%s', the model %s expects '%s'", data,
                             (long long)j, mb_dataset_colname(*ds, j), model, ck->columns[j]);
    err = mb_agree(c, err, NULL);
out:
    return err;
}

mb_model_type mb__model_type(const char *name) {
    if (strcmp(name, "linear") == 0) return MB_MODEL_LINEAR;
    if (strcmp(name, "softmax") == 0) return MB_MODEL_SOFTMAX;
    /* Tree models train in src/run/trees.c; as a label check they take class ids, which is
     * what they are for classification (trees.c checks regression targets itself). */
    if (strcmp(name, "decision_tree") == 0 || strcmp(name, "random_forest") == 0 ||
        strcmp(name, "gradient_boosting") == 0)
        return MB_MODEL_SOFTMAX;
    if (strcmp(name, "huber") == 0) return MB_MODEL_HUBER;
    if (strcmp(name, "svm") == 0) return MB_MODEL_HINGE;
    if (strcmp(name, "mlp") == 0) return MB_MODEL_MLP;
    return MB_MODEL_LOGISTIC;
}

mb_model_type mb__job_model_type(const mb_job *job) {
    mb_model_type t = mb__model_type(job->model.type);
    if (t == MB_MODEL_HINGE && job->model.loss && strcmp(job->model.loss, "squared_hinge") == 0)
        return MB_MODEL_SQUARED_HINGE;
    return t;
}

mb_optim_type mb__optim_type(const char *name) {
    if (strcmp(name, "adam") == 0) return MB_OPT_ADAM;
    if (strcmp(name, "adamw") == 0) return MB_OPT_ADAMW;
    if (strcmp(name, "rmsprop") == 0) return MB_OPT_RMSPROP;
    if (strcmp(name, "adagrad") == 0) return MB_OPT_ADAGRAD;
    return MB_OPT_SGD;
}

mb_sched_type mb__sched_type(const char *name) {
    if (strcmp(name, "step") == 0) return MB_SCHED_STEP;
    if (strcmp(name, "cosine") == 0) return MB_SCHED_COSINE;
    if (strcmp(name, "exponential") == 0) return MB_SCHED_EXPONENTIAL;
    if (strcmp(name, "plateau") == 0) return MB_SCHED_PLATEAU;
    return MB_SCHED_CONSTANT;
}

mb_schedule mb__job_schedule(const mb_job *job) {
    return (mb_schedule){mb__sched_type(job->optimizer.schedule.type),
                         job->optimizer.schedule.step_epochs,
                         job->optimizer.schedule.gamma,
                         job->optimizer.schedule.min_lr,
                         job->optimizer.schedule.warmup_epochs,
                         1.0,
                         INFINITY,
                         job->optimizer.schedule.patience,
                         0,
                         job->optimizer.schedule.threshold};
}

mb_model_type mb__job_label_type(const mb_job *job) {
    mb_model_type t = mb__job_model_type(job);
    if (t != MB_MODEL_MLP) return t;
    return mb__model_type(job->model.output ? job->model.output : "logistic");
}

const char *mb__model_name(mb_model_type t) {
    switch (t) {
    case MB_MODEL_LINEAR:
        return "linear";
    case MB_MODEL_LOGISTIC:
        return "logistic";
    case MB_MODEL_SOFTMAX:
        return "softmax";
    case MB_MODEL_HINGE:
        return "svm (hinge)";
    case MB_MODEL_SQUARED_HINGE:
        return "svm (squared hinge)";
    case MB_MODEL_HUBER:
        return "huber";
    case MB_MODEL_MLP:
        return "mlp";
    }
    return "?";
}

static void bcast_doubles(const mb_comm *c, double **p, int64_t n) {
    int64_t has = c->rank == 0 ? *p != NULL : 0;
    mb_bcast(c, &has, sizeof has, 0);
    if (c->rank != 0) *p = has ? malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)) : NULL;
    if (has && n > 0) mb_bcast(c, *p, sizeof(double) * (size_t)n, 0);
}

void mb__ckpt_bcast(const mb_comm *c, mb_ckpt *ck) {
    if (c->size == 1) return;
    if (c->rank != 0) mb_ckpt_clear(ck);
    /* Scalars first (pointers are meaningless elsewhere and replaced below). */
    mb_ckpt head = *ck;
    mb_bcast(c, &head, sizeof head, 0);
    if (c->rank != 0) {
        *ck = head;
        ck->theta = ck->opt_v = ck->opt_m = ck->mean = ck->std = NULL;
        ck->columns = NULL;
        ck->ncat = NULL;
        ck->cats = NULL;
        ck->version = ck->dataset_path = ck->job_json = ck->target = NULL;
    }
    bcast_doubles(c, &ck->theta, ck->nparam);
    bcast_doubles(c, &ck->opt_v, ck->nparam);
    bcast_doubles(c, &ck->opt_m, ck->nparam);
    bcast_doubles(c, &ck->mean, ck->d);
    bcast_doubles(c, &ck->std, ck->d);
    if (c->rank != 0) {
        ck->columns = calloc((size_t)ck->ncol + 1, sizeof *ck->columns);
        ck->ncat = calloc((size_t)ck->ncol + 1, sizeof *ck->ncat);
        ck->cats = calloc((size_t)ck->ncol + 1, sizeof *ck->cats);
    }
    mb_bcast(c, ck->ncat, sizeof(int64_t) * (size_t)ck->ncol, 0);
    for (int64_t j = 0; j < ck->ncol; j++) {
        mb_bcast_str(c, &ck->columns[j], 0);
        if (ck->ncat[j] > 0) {
            if (c->rank != 0) ck->cats[j] = malloc(sizeof(int64_t) * (size_t)ck->ncat[j]);
            mb_bcast(c, ck->cats[j], sizeof(int64_t) * (size_t)ck->ncat[j], 0);
        }
    }
    mb_bcast_str(c, &ck->version, 0);
    mb_bcast_str(c, &ck->dataset_path, 0);
    mb_bcast_str(c, &ck->job_json, 0);
    mb_bcast_str(c, &ck->target, 0);
}

mb_err mb__check_labels(const mb_dataset *ds, mb_model_type t, int64_t k, const double *y,
                        int64_t m, int64_t row0) {
    for (int64_t i = 0; i < m; i++) {
        if (mb_model_label_ok(t, k, y[i]) == 0) continue;
        const char *need = t == MB_MODEL_LINEAR     ? "a finite value"
                           : t == MB_MODEL_LOGISTIC ? "0 or 1"
                                                    : "a whole class id in [0, classes)";
        if (t == MB_MODEL_SOFTMAX && isfinite(y[i]) && y[i] == floor(y[i]) && y[i] >= 0)
            return mb_error_set(MB_EDATA,
                                "%s: %s row %lld has label %.17g but model.classes is %lld",
                                mb_dataset_path(ds), mb_dataset_target_name(ds),
                                (long long)(row0 + i), y[i], (long long)k);
        return mb_error_set(MB_EDATA, "%s: %s row %lld has label %.17g; %s regression needs %s",
                            mb_dataset_path(ds), mb_dataset_target_name(ds), (long long)(row0 + i),
                            y[i], mb__model_name(t), need);
    }
    return MB_OK;
}

void mb__fmt_duration(double s, char *buf, int n) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, (size_t)n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, (size_t)n, "%ld:%02ld", t / 60, t % 60);
}

void *mb__alloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        mb_error_set(MB_EENV, "out of memory allocating %s (%.1f MiB)", what,
                     (double)bytes / (1 << 20));
    return p;
}
