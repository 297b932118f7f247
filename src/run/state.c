/* state.c - loading, resuming and saving: the steps every trainer shares. */
#include "state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/metrics.h"
#include "mbatch/model.h"
#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "mbatch/preprocess.h"
#include "bigmem.h"
#include "guard.h"
#include "repro_run.h"
#include "lock.h"
#include "shared.h"
#include "stream.h"

void mb__state_free(mb__state *s) {
    mb__lock_release();
    mb_dataset_close(s->ds);
    free(s->Xtr);
    free(s->ytr);
    free(s->Xva);
    free(s->yva);
    free(s->Xperm);
    free(s->yperm);
    free(s->order);
    free(s->boff);
    free(s->scratch);
    free(s->work);
    free(s->pkt);
    free(s->tmb);
    free(s->vmb);
    free(s->sacc);
    free(s->gpart);
    mb__stream_free(s->stream);
    s->stream = NULL;
    /* The optimizer's arrays are shared with the checkpoint struct: free them once. */
    s->ck.opt_v = s->ck.opt_m = NULL;
    mb_ckpt_clear(&s->ck);
    mb_optim_free(&s->opt);
    mb_trace_free(s->trace);
    s->trace = NULL;
}

static int64_t infer_classes(const mb_comm *c, mb_model_type t, int64_t classes, const double *y,
                             int64_t m) {
    if (t != MB_MODEL_SOFTMAX) return 1;
    if (classes > 0) return classes;
    int64_t mx = 1;
    for (int64_t i = 0; i < m; i++)
        if (isfinite(y[i]) && y[i] >= 0 && y[i] < 1e6 && (int64_t)y[i] > mx) mx = (int64_t)y[i];
    mb_allreduce_max_i64(c, &mx, 1);
    return mx + 1;
}

/* The categories of categorical column j: the codes present in the training rows, sorted. */
static mb_err fit_categories(const mb_comm *c, mb__state *s, const double *raw,
                             const unsigned char *isval, int64_t j) {
    int64_t m = s->hi - s->lo, range[2] = {INT64_MAX, INT64_MAX}; /* min, -max */
    mb_err err = MB_OK;
    for (int64_t i = 0; i < m; i++) {
        double v = raw[i * s->ncol + j];
        if (isval[i]) continue;
        if (v != floor(v) || fabs(v) > 1e15) {
            err = mb_error_set(MB_EDATA,
                               "%s: categorical column '%s' row %lld holds %.17g, not an "
                               "integer code",
                               mb_dataset_path(s->ds), mb_dataset_colname(s->ds, j),
                               (long long)(s->lo + i), v);
            break;
        }
        if ((int64_t)v < range[0]) range[0] = (int64_t)v;
        if (-(int64_t)v < range[1]) range[1] = -(int64_t)v;
    }
    MB_TRY(mb_agree(c, err, NULL));
    mb_allreduce_min_i64(c, range, 2);
    int64_t lo = range[0], hi = -range[1];
    if (hi - lo >= 1000000) {
        err = mb_error_set(MB_EDATA,
                           "%s: categorical column '%s' has codes from %lld to %lld; "
                           "more than 1000000 distinct codes is not a category",
                           mb_dataset_path(s->ds), mb_dataset_colname(s->ds, j), (long long)lo,
                           (long long)hi);
        goto out;
    }
    int64_t span = hi - lo + 1, *count = calloc((size_t)span, sizeof *count);
    if (!count) {
        err = mb_error_set(MB_EENV, "out of memory counting categories");
        goto out;
    }
    for (int64_t i = 0; i < m; i++)
        if (!isval[i]) count[(int64_t)raw[i * s->ncol + j] - lo]++;
    mb_allreduce_sum_i64(c, count, span);
    int64_t n = 0;
    for (int64_t v = 0; v < span; v++) n += count[v] > 0;
    s->ck.ncat[j] = n;
    s->ck.cats[j] = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t v = 0, o = 0; v < span; v++)
        if (count[v] > 0) s->ck.cats[j][o++] = v + lo;
    free(count);
out:
    return err;
}

/* Read the shard, split it, fit (or take from a checkpoint) the preprocessing, build X. */
mb_err mb__load(const mb_comm *c, const mb_job *job, mb__state *s, int have_prep) {
    mb_err err = MB_OK;
    double *raw = NULL, *y = NULL;
    unsigned char *isval = NULL;
    mb_dataset_spec spec = mb__spec_from_job(job, NULL);
    mb_io_mode mode = strcmp(job->io.mode, "scatter") == 0 ? MB_IO_SCATTER : MB_IO_PARALLEL;
    mb_model_type t = mb__job_label_type(job);

    if (job->trace && !s->trace) s->trace = mb_trace_create(c, 0);
    MB_TRY(mb_dataset_open(c, &spec, 1, &s->ds));
    s->n = mb_dataset_rows(s->ds);
    s->ncol = mb_dataset_ncol(s->ds);
    int streaming = 0; /* over io.memory_budget: full-batch epochs read the shard block by block */
    MB_TRY(mb__stream_check(c, job, s, &streaming));
    if (streaming) return mb__stream_load(c, job, s, have_prep);
    if (job->reproducible) /* whole microblocks per rank */
        mb__repro_bounds(c, s->n, &s->lo, &s->hi);
    else
        mb_shard_bounds(s->n, c->rank, c->size, &s->lo, &s->hi);
    int64_t m = s->hi - s->lo;
    /* On huge pages: without categorical columns this buffer becomes the training shard. */
    raw = mb__alloc_rows(sizeof(double) * (size_t)(m * s->ncol), "the raw shard");
    y = mb__alloc(sizeof(double) * (size_t)m, "the labels");
    isval = mb__alloc((size_t)m, "the split");
    MB_TRY(mb_agree(c, raw && y && isval ? MB_OK : mb_error_code(), NULL));
    double t_read = mb_wtime();
    MB_TRY(job->reproducible ? mb__repro_read(c, s, mode, raw, y)
                             : mb_dataset_read(c, s->ds, mode, raw, y));
    double t_read_end = mb_wtime();
    s->io_total += t_read_end - t_read;
    mb_trace_span(s->trace, MB_SPAN_READ, MB_LEVEL_RUN, t_read, t_read_end, 0, 0);

    /* Labels: the class count first (softmax may infer it), then every label checked. */
    s->k = infer_classes(c, t, job->model.classes, y, m);
    MB_TRY(mb_agree(c, mb__check_labels(s->ds, t, t == MB_MODEL_LOGISTIC ? 2 : s->k, y, m, s->lo),
                    NULL));

    /* The seeded split: exactly n_val validation rows, whatever the rank count. */
    s->n_val = mb_split_nval(s->n, job->dataset.validation_fraction);
    s->n_train = s->n - s->n_val;
    for (int64_t i = 0; i < m; i++) {
        isval[i] = (unsigned char)mb_split_is_val(s->lo + i, s->n, s->n_val, (uint64_t)job->seed);
        s->mv += isval[i];
    }
    s->mt = m - s->mv;
    s->t_lo = mb_exscan_i64(c, s->mt);
    if (job->reproducible) MB_TRY(mb_agree(c, mb__repro_layout(s, isval), NULL));

    /* Preprocessing: categories and moments of the training rows, unless resuming. */
    if (!have_prep) {
        s->ck.ncol = s->ncol;
        s->ck.columns = calloc((size_t)s->ncol + 1, sizeof *s->ck.columns);
        s->ck.ncat = calloc((size_t)s->ncol + 1, sizeof *s->ck.ncat);
        s->ck.cats = calloc((size_t)s->ncol + 1, sizeof *s->ck.cats);
        for (int64_t j = 0; j < s->ncol; j++) {
            const char *name = mb_dataset_colname(s->ds, j);
            s->ck.columns[j] = strdup(name);
            if (mb_dataset_is_categorical(s->ds, j)) MB_TRY(fit_categories(c, s, raw, isval, j));
        }
    } else if (s->ck.ncol != s->ncol) {
        err = mb_error_set(MB_EUSAGE, "the checkpoint has %lld feature columns, the data %lld",
                           (long long)s->ck.ncol, (long long)s->ncol);
    }
    MB_TRY(mb_agree(c, err, NULL));
    s->d = mb_pre_width(s->ncol, s->ck.ncat);
    /* Without one-hot columns the raw rows are the features: the training rows move up in
     * place (the raw buffer becomes the training shard, its tail, the validation rows' share,
     * released below), instead of a second copy of the shard in fresh memory. */
    int in_place = s->d == s->ncol;
    double *src = raw;
    if (in_place) raw = NULL; /* s->Xtr owns it from here */
    s->Xtr = in_place
                 ? src
                 : mb__alloc_rows(sizeof(double) * (size_t)(s->mt * s->d), "the training shard");
    s->ytr = mb__alloc(sizeof(double) * (size_t)s->mt, "the training labels");
    s->Xva = mb__alloc_rows(sizeof(double) * (size_t)(s->mv * s->d), "the validation shard");
    s->yva = mb__alloc(sizeof(double) * (size_t)s->mv, "the validation labels");
    MB_TRY(mb_agree(c, s->Xtr && s->ytr && s->Xva && s->yva ? MB_OK : mb_error_code(), NULL));
    for (int64_t i = 0, it = 0, iv = 0; i < m; i++) {
        double *dst = isval[i] ? s->Xva + iv * s->d : s->Xtr + it * s->d;
        if (!in_place)
            mb_pre_expand(src + i * s->ncol, 1, s->ncol, s->ck.ncat,
                          (const int64_t *const *)s->ck.cats, dst);
        else if (dst != src + i * s->ncol)
            memmove(dst, src + i * s->ncol, sizeof(double) * (size_t)s->d);
        if (isval[i])
            s->yva[iv++] = y[i];
        else
            s->ytr[it++] = y[i];
    }
    free(raw);
    raw = NULL;
    /* In place, the validation rows' share at the end of the shard is no longer needed. */
    if (in_place)
        mb__release_tail(s->Xtr, sizeof(double) * (size_t)(s->mt * s->d),
                         sizeof(double) * (size_t)(m * s->ncol));

    if (!have_prep && !s->raw_features) {
        double *acc = calloc((size_t)s->d * 2 + 1, sizeof *acc);
        unsigned char *onehot = calloc((size_t)s->d + 1, 1);
        s->ck.mean = calloc((size_t)s->d + 1, sizeof(double));
        s->ck.std = calloc((size_t)s->d + 1, sizeof(double));
        for (int64_t j = 0, o = 0; j < s->ncol; j++) {
            if (s->ck.ncat[j] == 0) {
                o++;
                continue;
            }
            for (int64_t v = 0; v < s->ck.ncat[j]; v++) onehot[o++] = 1;
        }
        if (job->reproducible) {
            err = mb__repro_colsum(c, s, acc); /* agreed: every rank takes the same path */
        } else {
            mb_pre_colsum(s->Xtr, s->mt, s->d, acc);
            mb_allreduce_sum(c, acc, s->d);
        }
        for (int64_t j = 0; j < s->d; j++) s->ck.mean[j] = acc[j] / (double)s->n_train;
        memset(acc, 0, sizeof(double) * (size_t)s->d);
        if (job->reproducible) {
            if (!err) err = mb__repro_colsqdev(c, s, s->ck.mean, acc);
        } else {
            mb_pre_colsqdev(s->Xtr, s->mt, s->d, s->ck.mean, acc);
            mb_allreduce_sum(c, acc, s->d);
        }
        mb_pre_finish(s->d, s->n_train, onehot, s->ck.mean, s->ck.std, acc);
        free(acc);
        free(onehot);
        MB_TRY(err);
    }
    /* Trees split on raw values: bins and thresholds must not depend on rounded moments. */
    if (!s->raw_features) {
        mb_pre_apply(s->Xtr, s->mt, s->d, s->ck.mean, s->ck.std);
        mb_pre_apply(s->Xva, s->mv, s->d, s->ck.mean, s->ck.std);
    }
out:
    free(raw);
    free(y);
    free(isval);
    return err;
}

/* Keys whose change makes a checkpoint a different job (epochs may grow on resume). */
static int same_job(const mb_job *a, const mb_job *b, char *why, size_t n) {
#define SAME_STR(f)                                                                                \
    if ((a->f == NULL) != (b->f == NULL) || (a->f && strcmp(a->f, b->f) != 0)) {                   \
        snprintf(why, n, "%s differs (\"%s\" in the checkpoint, \"%s\" now)", #f,                  \
                 b->f ? b->f : "", a->f ? a->f : "");                                              \
        return 0;                                                                                  \
    }
#define SAME_NUM(f)                                                                                \
    if (a->f != b->f) {                                                                            \
        snprintf(why, n, "%s differs (%.17g in the checkpoint, %.17g now)", #f, (double)b->f,      \
                 (double)a->f);                                                                    \
        return 0;                                                                                  \
    }
    SAME_STR(model.type)
    SAME_NUM(model.l2)
    SAME_STR(optimizer.type)
    SAME_NUM(optimizer.momentum)
    SAME_NUM(optimizer.nesterov)
    SAME_NUM(batch.size)
    SAME_NUM(seed)
    SAME_NUM(dataset.validation_fraction)
    SAME_NUM(reproducible)
    return 1;
#undef SAME_STR
#undef SAME_NUM
}

/* Rank 0 finds and reads the newest complete checkpoint; every rank gets it. */
mb_err mb__try_resume(const mb_comm *c, const mb_job *job, mb__state *s, int *resumed) {
    mb_err err = MB_OK;
    char dir[4096], *path = NULL;
    int64_t step = 0;
    int64_t found = 0;
    *resumed = 0;
    snprintf(dir, sizeof dir, "%s/checkpoints", job->run_dir);
    if (c->rank == 0) {
        /* The newest checkpoint whose checksums all match; a corrupt or truncated newest one is
         * skipped with a warning, and none valid at all is an error (nothing is deleted). */
        err = mb_ckpt_load_newest(dir, &s->ck, &path, &step);
        found = !err && path;
        if (found) {
            mb_job *old = NULL;
            char why[512] = "";
            if (mb_job_from_canonical(s->ck.job_json, &old) != MB_OK) {
                mb_error_clear();
                err = mb_error_set(MB_EUSAGE, "%s: cannot parse the job saved in it", path);
            } else if (!same_job(job, old, why, sizeof why)) {
                err = mb_error_set(MB_EUSAGE,
                                   "%s belongs to a different job: %s; use another "
                                   "run_dir or drop --resume",
                                   path, why);
            } else if (!job->reproducible && s->ck.ranks != c->size) {
                /* Outside reproducible mode the sums depend on how rows are split over ranks. */
                err = mb_error_set(MB_EUSAGE,
                                   "%s was written by a run on %d ranks and this one has %d; "
                                   "resume on %d ranks, or use \"reproducible\": true, whose "
                                   "results do not depend on the rank count",
                                   path, s->ck.ranks, c->size, s->ck.ranks);
            }
            mb_job_free(old);
        }
    }
    MB_TRY(mb_agree(c, err, NULL));
    mb_bcast(c, &found, sizeof found, 0);
    if (found) {
        mb__ckpt_bcast(c, &s->ck);
        *resumed = 1;
        if (c->rank == 0)
            printf("mbatch: resuming from %s (epoch %lld, step %lld)\n", path,
                   (long long)s->ck.epoch, (long long)s->ck.step);
    } else if (c->rank == 0) {
        printf("mbatch: no checkpoint in %s; starting from the beginning\n", dir);
    }
out:
    free(path);
    return err;
}

/* The dataset of a resumed run must be the one the checkpoint was trained on. */
mb_err mb__check_same_data(const mb__state *s) {
    if (s->ck.dataset_checksum != mb_dataset_checksum(s->ds) || s->ck.dataset_rows != s->n)
        return mb_error_set(MB_EUSAGE,
                            "%s: the checkpoint was trained on %s (%lld rows, "
                            "checksum %016llx), not on this data (%lld rows, checksum %016llx)",
                            mb_dataset_path(s->ds), s->ck.dataset_path,
                            (long long)s->ck.dataset_rows,
                            (unsigned long long)s->ck.dataset_checksum, (long long)s->n,
                            (unsigned long long)mb_dataset_checksum(s->ds));
    return MB_OK;
}

mb_err mb__save(const mb_comm *c, const mb_job *job, mb__state *s, const char *name, int is_model,
                int keep) {
    mb_err err = MB_OK;
    double t0 = mb_wtime();
    if (c->rank == 0) {
        char dir[4096];
        s->ck.optim_t = s->opt.t;
        if (is_model) {
            snprintf(dir, sizeof dir, "%s", job->run_dir);
        } else {
            snprintf(dir, sizeof dir, "%s/checkpoints", job->run_dir);
        }
        err = mb_ckpt_write(dir, name, &s->ck);
        /* Old checkpoints go only once the new one is durable (written, fsync'd, renamed). */
        if (!err && !is_model) err = mb_ckpt_prune(dir, keep);
    }
    err = mb_agree(c, err, NULL);
    if (err == MB_EIO && !is_model && job->checkpoint.on_error &&
        strcmp(job->checkpoint.on_error, "warn") == 0) {
        /* The previous checkpoint is untouched and the temporary removed: training goes on. */
        if (c->rank == 0)
            fprintf(stderr, "mbatch: warning: %s; going on (checkpoint.on_error = \"warn\")\n",
                    mb_error_message());
        mb_error_clear();
        s->ckpt_failures++;
        err = MB_OK;
    }
    double t1 = mb_wtime();
    s->io_total += t1 - t0; /* every rank waits for rank 0's write */
    mb_trace_span(s->trace, MB_SPAN_CHECKPOINT, is_model ? MB_LEVEL_RUN : MB_LEVEL_EPOCH, t0, t1,
                  s->ck.epoch, 0);
    return err;
}

mb_err mb__epoch_checkpoint(const mb_comm *c, const mb_job *job, mb__state *s, int64_t e, int force,
                            int *saved) {
    *saved = (job->checkpoint.every_epochs > 0 && (e + 1) % job->checkpoint.every_epochs == 0) ||
             e + 1 == job->epochs || force;
    if (!*saved) return MB_OK;
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)s->ck.step);
    return mb__save(c, job, s, name, 0, (int)job->checkpoint.keep);
}

void mb__epoch_row(mb_epoch_row *row, int64_t e, int64_t step, double loss_acc, int64_t seen,
                   const double ev[3], int classify, double lr, int64_t batch, double grad_norm,
                   double compute_s, double comm_s, double imbalance) {
    row->epoch = e;
    row->step = step;
    row->train_loss = seen ? loss_acc / (double)seen : NAN;
    row->val_loss = ev[2] > 0 ? ev[0] / ev[2] : NAN;
    row->val_metric = ev[2] > 0 ? (classify ? ev[1] / ev[2] : sqrt(ev[1] / ev[2])) : NAN;
    row->lr = lr;
    row->batch_size = batch;
    row->grad_norm = grad_norm;
    row->compute_s = compute_s;
    row->comm_s = comm_s;
    row->imbalance = imbalance;
}

int mb__early_update(const mb_job *job, int64_t e, const mb_epoch_row *row, const double *theta,
                     int64_t nparam, double *best_val, mb_epoch_row *best_row, double *best_theta,
                     int64_t *since_best) {
    if (row->val_loss < *best_val - job->early_stopping.min_delta) {
        *best_val = row->val_loss;
        *best_row = *row;
        memcpy(best_theta, theta, sizeof(double) * (size_t)nparam);
        *since_best = 0;
        return 0;
    }
    return ++*since_best >= job->early_stopping.patience && e + 1 < job->epochs;
}

mb_err mb__init_model(const mb_comm *c, const mb_job *job, mb__state *s, int resumed) {
    (void)c;
    s->nparam = mb_model_nparam(s->d, s->k);
    if (!resumed) {
        s->ck.theta = calloc((size_t)s->nparam, sizeof(double));
        s->ck.model_type = mb__job_model_type(job);
        s->ck.d = s->d;
        s->ck.k = s->k;
        s->ck.nparam = s->nparam;
        s->ck.version = strdup(MBATCH_VERSION);
        s->ck.dataset_path = strdup(job->dataset.path);
        s->ck.dataset_rows = s->n;
        s->ck.dataset_checksum = mb_dataset_checksum(s->ds);
        s->ck.seed = (uint64_t)job->seed;
        s->ck.target = strdup(job->dataset.target ? job->dataset.target : job->dataset.y);
    }
    s->ck.ranks = c->size;
    free(s->ck.job_json);
    s->ck.job_json = strdup(job->canonical);
    if (!s->ck.theta || !s->ck.job_json)
        return mb_error_set(MB_EENV, "out of memory for the model");
    return MB_OK;
}

mb_err mb__finish(const mb_comm *c, const mb_job *job, mb__state *s, double compute_s,
                  double t_start, mb_train_result *res) {
    mb_err err = MB_OK;
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.h5", job->run_dir);
    MB_TRY(mb__save(c, job, s, "model.h5", 1, 0));
    mb_place_info pi;
    mb_rank_row mine, *all = NULL;
    memset(&mine, 0, sizeof mine);
    if (mb_place_describe(&pi) != MB_OK) mb_error_clear();
    mine.rank = c->rank;
    snprintf(mine.host, sizeof mine.host, "%s", pi.host);
    snprintf(mine.binding, sizeof mine.binding, "%s", pi.binding);
    snprintf(mine.gpu, sizeof mine.gpu, "%s", pi.gpu);
    snprintf(mine.cores, sizeof mine.cores, "%s", pi.cores);
    snprintf(mine.numa, sizeof mine.numa, "%s", pi.numa);
    mine.rows = s->hi - s->lo;
    mine.compute_s = compute_s;
    mine.comm_s = s->comm_total;
    mine.io_s = s->io_total;
    if (c->rank == 0) all = calloc((size_t)c->size, sizeof *all);
    mb_gather(c, &mine, sizeof mine, all, 0);
    res->seconds = mb_wtime() - t_start;
    res->epochs = s->ck.epoch;
    res->steps = s->ck.step;
    res->samples_seen = s->ck.samples_seen;
    res->samples_per_s = res->seconds > 0 ? (double)s->ck.samples_seen / res->seconds : 0;
    if (c->rank == 0) {
        mb_kpis k = {res->seconds,
                     res->samples_per_s,
                     0,
                     s->ck.samples_seen > 0
                         ? res->seconds * c->size / ((double)s->ck.samples_seen / 1000.0)
                         : 0,
                     res->train_loss,
                     res->val_loss,
                     res->val_metric,
                     0};
        double busy = 0;
        for (int r = 0; r < c->size; r++) busy += all[r].compute_s;
        k.utilization = res->seconds > 0 ? busy / (res->seconds * c->size) : 0;
        err = mb_metrics_ranks(metrics_path, all, c->size);
        if (!err) err = mb_metrics_kpis(metrics_path, &k);
    }
    free(all);
    MB_TRY(mb_agree(c, err, NULL));
    if (s->trace) {
        char trace_path[4096];
        snprintf(trace_path, sizeof trace_path, "%s/trace.json", job->run_dir);
        MB_TRY(mb_trace_write(c, s->trace, trace_path));
        if (c->rank == 0) printf("mbatch: wrote the timeline of every rank to %s\n", trace_path);
    }
out:
    return err;
}
