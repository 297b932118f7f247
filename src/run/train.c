/* train.c - one training job: load the shard, preprocess, the epoch loop, checkpoints, metrics. */
#include "mbatch/run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/checkpoint.h"
#include "mbatch/dataset.h"
#include "mbatch/metrics.h"
#include "mbatch/metrics_math.h"
#include "mbatch/kernel.h"
#include "mbatch/model.h"
#include "mbatch/optim.h"
#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "mbatch/preprocess.h"
#include "core/fault.h"
#include "bigmem.h"
#include "threads.h"
#include "guard.h"
#include "lock.h"
#include "shared.h"
#include "signals.h"
#include "repro_run.h"
#include "solve_run.h"
#include "state.h"
#include "stream.h"
#include "trees.h"
#include "mlp_train.h"
#include "class_report.h"
#include "plateau.h"

/* A live line on a terminal, plain lines in logs. Open MPI hands ranks a pseudo-terminal even
 * when mpirun's own output goes to a file, so MBATCH_PROGRESS=plain|live overrides the guess. */
static int live_progress(void) {
    const char *env = getenv("MBATCH_PROGRESS");
    if (env && strcmp(env, "plain") == 0) return 0;
    if (env && strcmp(env, "live") == 0) return 1;
    return isatty(STDOUT_FILENO);
}

static void progress_line(const mb_job *job, const mb_epoch_row *r, double eta, int tty,
                          int classify) {
    char etas[32];
    mb__fmt_duration(eta, etas, sizeof etas);
    char val[96] = "";
    if (!isnan(r->val_loss))
        snprintf(val, sizeof val, "  val %.6g  %s %.4f", r->val_loss, classify ? "acc" : "rmse",
                 r->val_metric);
    printf("%sepoch %lld/%lld  train %.6g%s  lr %.3g  %.3g samples/s  ETA %s%s", tty ? "\r" : "",
           (long long)(r->epoch + 1), (long long)job->epochs, r->train_loss, val, r->lr,
           r->samples_per_s, etas, tty ? "\033[K\n" : "\n");
    fflush(stdout);
}

/* probe_bandwidth: every rank reads its training rows X[0 .. bytes) once from start to end, all
 * ranks at once; the slowest rank's seconds, as a step waits for the slowest rank. */
static volatile uint64_t probe_sink; /* the sums, so that the reads are not optimized away */
static double probe_read(const mb_comm *c, const void *X, int64_t bytes) {
    mb_barrier(c);
    double t0 = mb_wtime();
    probe_sink += mb_read_bytes(X, bytes);
    double dt = mb_wtime() - t0;
    mb_allreduce_max_double(c, &dt, 1);
    return dt;
}

/* Every rank saw the stop flag: save a checkpoint at this step (unless one was just written,
 * saved != 0) and return MB_EPREEMPTED naming the signal that stopped some rank. */
static mb_err preempted(const mb_comm *c, const mb_job *job, mb__state *s, int64_t epoch,
                        int saved) {
    char name[64];
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)s->ck.step);
    int64_t signo = mb__signal_pending();
    mb_allreduce_max_i64(c, &signo, 1);
    if (!saved) {
        mb_err err = mb__save(c, job, s, name, 0, (int)job->checkpoint.keep);
        if (err) return err;
    }
    return mb_error_set(MB_EPREEMPTED,
                        "stopped by signal %lld at epoch %lld step %lld; checkpoint "
                        "%s/checkpoints/%s; resume with --resume",
                        (long long)signo, (long long)epoch, (long long)s->ck.step, job->run_dir,
                        name);
}

mb_err mb_train(const mb_comm *c, const mb_job *job, const mb_train_opts *o, mb_train_result *res) {
    mb__state s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    mb_err err = MB_OK;
    double t_start = mb_wtime(), io_s = 0;
    mb_model_type t = mb__job_model_type(job);
    int resumed = 0, tty = c->rank == 0 && o->progress && live_progress();
    double *best_theta = NULL; /* early stopping: the weights of the best epoch so far */
    double *probed = NULL;     /* probe_bandwidth: read_s / epoch_s of each epoch run */
    int64_t nprobed = 0;
    float *x32 = NULL;       /* dtype float32: the training rows, narrowed */
    mb__pool *pool = NULL;   /* threads > 1: the rank's gradient threads */
    mb__ahead *ahead = NULL; /* mini-batch: the next epoch's order, computed meanwhile */
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.h5", job->run_dir);

    /* Tree models have their own trainer (src/run/trees.c): no gradient loop. */
    if (mb__is_tree_model(job->model.type)) return mb__train_trees(c, job, o, res);
    /* Neural networks: src/run/mlp_train.c (batch norm needs reductions inside the step). */
    if (t == MB_MODEL_MLP) return mb__train_mlp(c, job, o, res);
    if (job->reproducible && mb__solve_wanted(job)) {
        /* Their sums (ScaLAPACK, line searches) are reduced in an order that follows the ranks. */
        err = mb_error_set(MB_EUSAGE,
                           "\"reproducible\": true covers the gradient optimizers (sgd, adam); "
                           "optimizer.type \"%s\" does not give rank-count-independent results",
                           job->optimizer.type);
        MB_TRY(mb_agree(c, err, NULL));
    }
    /* Bind before anything is allocated, so that the shard's pages land on the rank's NUMA node. */
    if (!o->placed)
        MB_TRY(mb_place_bind(c, job->placement.bind, job->placement.respect_launcher, o->progress));
    /* Preemption: a signal from here on is answered with a checkpoint at a step boundary. */
    mb__signals_install();
    MB_TRY(mb_agree(c, mb__restart_check(job), NULL));
    if (o->resume) MB_TRY(mb__try_resume(c, job, &s, &resumed));
    MB_TRY(mb__load(c, job, &s, resumed));
    if (resumed) {
        err = c->rank == 0 ? mb__check_same_data(&s) : MB_OK;
        if (!err && (s.ck.d != s.d || s.ck.k != s.k))
            err =
                mb_error_set(MB_EUSAGE,
                             "the checkpoint's model is %lld x %lld, the data "
                             "gives %lld x %lld",
                             (long long)s.ck.d, (long long)s.ck.k, (long long)s.d, (long long)s.k);
        MB_TRY(mb_agree(c, err, NULL));
    }
    if (mb__solve_wanted(job)) { /* exact, newton, lbfgs: src/run/solve_run.c */
        err = mb__solve_train(c, job, o, &s, resumed, t_start, res);
        goto out;
    }
    s.nparam = mb_model_nparam(s.d, s.k); /* also set by mb__init_model; needed for buffers */
    int64_t B = job->batch.size == 0 || job->batch.size >= s.n_train ? s.n_train : job->batch.size;
    int64_t nb = mb_batch_count(s.n_train, B);
    int full = B == s.n_train;

    /* Optimizer state lives in s.opt; the checkpoint struct points at it. */
    mb_optim_type ot = mb__optim_type(job->optimizer.type);
    if (mb_optim_init(&s.opt, ot, s.nparam) != 0) err = mb_error_set(MB_EENV, "out of memory");
    s.opt.momentum = job->optimizer.momentum;
    s.opt.nesterov = job->optimizer.nesterov;
    s.opt.beta1 = job->optimizer.beta1;
    s.opt.beta2 = job->optimizer.beta2;
    s.opt.eps = job->optimizer.eps;
    s.opt.weight_decay = job->optimizer.weight_decay;
    s.work =
        mb__alloc(sizeof(double) * (size_t)mb_kernel_work_size(s.d, s.k), "the model workspace");
    s.pkt = mb__alloc(sizeof(double) * (size_t)(s.nparam + 3), "the gradient");
    if (job->reproducible) mb__repro_alloc(&s, s.nparam + 3);
    if (!full) {
        s.order = mb__alloc(sizeof(int64_t) * (size_t)s.mt, "the epoch order");
        s.boff = mb__alloc(sizeof(int64_t) * (size_t)(nb + 1), "the batch offsets");
        s.scratch = mb__alloc(sizeof(int64_t) * (size_t)(2 * s.mt), "the epoch order");
    }
    /* The kernel gathers each batch's rows by index (mb_kernel_grad), so X is read once per
     * epoch at every batch size; float32 storage halves that traffic. */
    mb_dtype dt = job->dtype && strcmp(job->dtype, "float32") == 0 ? MB_DTYPE_F32 : MB_DTYPE_F64;
    /* The shard, or a streamed shard's standardized copy; without a copy (NULL), full-batch
     * epochs stream block by block (mb__stream_grad). */
    const double *ytr;
    const void *Xs = mb__train_rows(&s, &ytr);
    if (dt == MB_DTYPE_F32 && !s.stream) { /* a streamed shard is narrowed block by block */
        x32 = mb__alloc_rows(sizeof(float) * (size_t)(s.mt * s.d), "the float32 training shard");
        if (x32) {
            mb_dtype_store(dt, s.Xtr, s.mt * s.d, x32);
            Xs = x32;
            /* report_gap's optimum is computed from the float64 rows. */
            if (!job->report_gap) {
                free(s.Xtr);
                s.Xtr = NULL;
            }
        }
    }
    if (!err && job->threads > 1 && !job->reproducible)
        if (!(pool = mb__pool_create(&s, c, (uint64_t)job->seed, (int)job->threads)))
            err = mb_error_code();
    if (!err && !full &&
        !(ahead = mb__ahead_create(s.t_lo, s.mt, s.n_train, B, job->batch.shuffle_block,
                                   (uint64_t)job->seed)))
        err = mb_error_code();
    MB_TRY(mb_agree(c, err ? err : mb_error_code(), NULL));
    if (resumed) {
        if (s.ck.opt_v) memcpy(s.opt.v, s.ck.opt_v, sizeof(double) * (size_t)s.nparam);
        if (s.opt.m && s.ck.opt_m) memcpy(s.opt.m, s.ck.opt_m, sizeof(double) * (size_t)s.nparam);
        s.opt.t = s.ck.optim_t;
        free(s.ck.opt_v);
        free(s.ck.opt_m);
    }
    MB_TRY(mb__init_model(c, job, &s, resumed));
    s.ck.opt_v = s.opt.v;
    s.ck.opt_m = s.opt.m;
    s.ck.optim_type = ot;
    s.ck.batch_size = B;
    s.ck.ranks = c->size;
    free(s.ck.job_json);
    s.ck.job_json = strdup(job->canonical);

    /* One writer per run directory, taken before the first file of the run is written. */
    if (c->rank == 0) err = mb__lock_run_dir(job->run_dir);
    if (c->rank == 0 && !err) err = mb_metrics_init(metrics_path, resumed ? s.ck.epoch : 0);
    MB_TRY(mb_agree(c, err, NULL));
    double gap_opt = NAN; /* report_gap: the optimum, computed once */
    if (job->report_gap)
        MB_TRY(mb__gap_setup(c, job, &s, metrics_path, resumed ? s.ck.epoch : 0, &gap_opt));
    if (c->rank == 0)
        printf("mbatch: %s: %s regression, %lld rows (%lld train, %lld validation) x %lld "
               "features, %lld ranks, batch %lld (%lld steps/epoch)\n",
               job->name, mb__model_name(t), (long long)s.n, (long long)s.n_train,
               (long long)s.n_val, (long long)s.d, (long long)c->size, (long long)B, (long long)nb);

    mb_schedule sched = mb__job_schedule(job);
    /* Reduce on plateau: a resumed run replays the validation losses of its earlier epochs. */
    if (resumed) MB_TRY(mb__plateau_replay(c, metrics_path, s.ck.epoch, &sched));

    double *theta = s.ck.theta, *g = s.pkt, compute_total = 0, last_live = mb_wtime();
    int64_t start_epoch = s.ck.epoch, start_batch = s.ck.step - s.ck.epoch * nb;
    if (start_batch < 0 || start_batch > nb) start_batch = 0;
    int classify = t != MB_MODEL_LINEAR, stop_after_epoch = 0;
    mb_epoch_row row, best_row;
    memset(&row, 0, sizeof row);
    memset(&best_row, 0, sizeof best_row);
    /* Early stopping watches the validation loss, which every rank holds after its allreduce,
     * so every rank decides to stop at the same epoch without another message. */
    int early = job->early_stopping.patience > 0 && s.n_val > 0, early_stop = 0;
    int64_t since_best = 0;
    double best_val = INFINITY;
    if (early)
        best_theta = mb__alloc(sizeof(double) * (size_t)s.nparam, "the best epoch's weights");
    MB_TRY(mb_agree(c, early && !best_theta ? MB_EENV : MB_OK, NULL));
    /* Rows streamed block by block are never all held: there is no read of them to time. */
    int probe = job->probe_bandwidth && Xs;
    if (job->probe_bandwidth && !Xs && c->rank == 0)
        fprintf(stderr, "mbatch: warning: probe_bandwidth: the training rows are streamed block "
                        "by block from the file, not held in memory; read_s stays 0\n");
    if (probe)
        probed = mb__alloc(sizeof(double) * (size_t)(job->epochs - start_epoch + 1),
                           "the probe_bandwidth ratios");
    MB_TRY(mb_agree(c, probe && !probed ? MB_EENV : MB_OK, NULL));
    res->setup_s = mb_wtime() - t_start;

    for (int64_t e = start_epoch; e < job->epochs; e++) {
        double t_epoch = mb_wtime(), compute_s = 0, comm_s = 0, epoch_io = 0;
        double lr = mb_lr_at(&sched, job->optimizer.lr, e, job->epochs);
        double loss_acc = 0, grad_norm = 0;
        int64_t seen = 0;
        if (!full) {
            double t0 = mb_wtime();
            mb__ahead_order(ahead, e, job->epochs, &s.order, &s.boff, s.scratch);
            double t1 = mb_wtime();
            compute_s += t1 - t0;
            mb_trace_span(s.trace, MB_SPAN_SHUFFLE, MB_LEVEL_EPOCH, t0, t1, e, 0);
        }
        for (int64_t b = e == start_epoch ? start_batch : 0; b < nb; b++) {
            int64_t r0 = full ? 0 : s.boff[b], r1 = full ? s.mt : s.boff[b + 1];
            double t0 = mb_wtime();
            if (job->reproducible) {
                /* Pieces cut at microblocks, added exactly: the same bits on any rank count. */
                mb__repro_grad(&s, t, Xs, dt, s.ytr, r0, r1, full ? NULL : s.order, theta);
            } else if (s.stream && !Xs) { /* block by block: the same bits (stream.h) */
                memset(g, 0, sizeof(double) * (size_t)s.nparam);
                MB_TRY(mb_agree(c, mb__stream_grad(s.stream, t, theta, g, s.work, &g[s.nparam]),
                                NULL));
                g[s.nparam + 1] = (double)(r1 - r0);
            } else {
                memset(g, 0, sizeof(double) * (size_t)s.nparam);
                const int64_t *idx = full ? NULL : s.order + r0;
                g[s.nparam] =
                    pool ? mb__pool_grad(pool, t, Xs, dt, ytr, idx, r1 - r0, s.d, s.k, theta, g)
                         : mb_kernel_grad(t, Xs, dt, ytr, idx, r1 - r0, s.d, s.k, theta, g, s.work);
                g[s.nparam + 1] = (double)(r1 - r0);
            }
            if (mb__fault("grad_nan")) g[0] = NAN;
            /* The stop flag rides with the gradient: every rank sees it at the same step. */
            g[s.nparam + 2] = mb__signal_pending() ? 1.0 : 0.0;
            double t1 = mb_wtime();
            if (job->reproducible)
                mb__repro_reduce(c, &s, g, s.nparam + 2, s.nparam + 3);
            else
                mb_allreduce_sum(c, g, s.nparam + 3);
            int stop = g[s.nparam + 2] > 0;
            double t2 = mb_wtime();
            double count = g[s.nparam + 1], inv = 1.0 / count;
            for (int64_t j = 0; j < s.nparam; j++) g[j] *= inv;
            double loss = g[s.nparam] * inv + mb_model_penalty(s.d, s.k, job->model.l2, theta, g);
            double norm2 = 0;
            for (int64_t j = 0; j < s.nparam; j++) norm2 += g[j] * g[j];
            /* Every rank holds the same reduced values: the decision is already common. */
            int skip = !isfinite(loss) || !isfinite(norm2);
            if (skip && strcmp(job->on_nonfinite, "skip") != 0) {
                err = mb_error_set(MB_ENUMERIC,
                                   "epoch %lld step %lld: the training loss is %g and "
                                   "the gradient norm %g; lower optimizer.lr (now %g)",
                                   (long long)(e + 1), (long long)(s.ck.step + 1), loss,
                                   sqrt(norm2), lr);
                goto out;
            }
            if (skip) {
                /* The step still counts as a position in the epoch, so that resume lands on the
                 * same batch; the parameters and optimizer state stay as they were. */
                s.skipped_steps++;
                if (c->rank == 0)
                    fprintf(stderr,
                            "mbatch: warning: epoch %lld step %lld: loss %g, gradient norm %g; "
                            "step skipped (on_nonfinite = \"skip\"; %lld skipped so far)\n",
                            (long long)(e + 1), (long long)(s.ck.step + 1), loss, sqrt(norm2),
                            (long long)s.skipped_steps);
            } else {
                if (job->optimizer.clip_norm > 0)
                    mb_clip_norm(g, s.nparam, job->optimizer.clip_norm);
                mb_optim_step(&s.opt, theta, g, lr);
                if (job->model.l1 > 0) mb_model_prox_l1(s.d, s.k, job->model.l1, lr, theta);
                s.ck.samples_seen += (int64_t)count;
                loss_acc += loss * count;
                seen += (int64_t)count;
                grad_norm = sqrt(norm2);
            }
            s.ck.step++;
            double t3 = mb_wtime();
            compute_s += (t1 - t0) + (t3 - t2);
            comm_s += t2 - t1;
            if (s.trace) {
                mb_trace_span(s.trace, MB_SPAN_COMPUTE, MB_LEVEL_STEP, t0, t1, s.ck.step, 0);
                mb_trace_span(s.trace, MB_SPAN_ALLREDUCE, MB_LEVEL_STEP, t1, t2, s.ck.step,
                              (int64_t)sizeof(double) * (s.nparam + 3));
                mb_trace_span(s.trace, MB_SPAN_STEP, MB_LEVEL_STEP, t2, t3, s.ck.step, 0);
            }
            if (tty && mb_wtime() - last_live > 0.5) {
                printf("\repoch %lld/%lld  %3.0f%%\033[K", (long long)(e + 1),
                       (long long)job->epochs, 100.0 * (double)(b + 1) / (double)nb);
                fflush(stdout);
                last_live = mb_wtime();
            }
            if (job->checkpoint.every_steps > 0 && s.ck.step % job->checkpoint.every_steps == 0 &&
                b + 1 < nb) {
                double ts = mb_wtime();
                char name[64];
                s.ck.epoch = e;
                s.ck.lr = lr;
                snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)s.ck.step);
                MB_TRY(mb__save(c, job, &s, name, 0, (int)job->checkpoint.keep));
                epoch_io += mb_wtime() - ts;
            }
            if (stop && b + 1 < nb) {
                s.ck.epoch = e;
                s.ck.lr = lr;
                err = preempted(c, job, &s, e + 1,
                                job->checkpoint.every_steps > 0 &&
                                    s.ck.step % job->checkpoint.every_steps == 0);
                goto out;
            }
            /* At an epoch's last step, finish the epoch (validation, metrics) first. */
            if (stop) stop_after_epoch = 1;
        }
        s.ck.epoch = e + 1;
        s.ck.lr = lr;
        /* Once an epoch, a hash of the parameters across ranks catches silent divergence. */
        if (mb__fault("diverge")) theta[0] = nextafter(theta[0], INFINITY);
        MB_TRY(mb__check_params_agree(c, theta, s.nparam, s.ck.step));

        /* Exact validation loss and metric over every validation row. */
        double ev[3] = {0, 0, (double)s.mv}, tv = mb_wtime();
        if (job->reproducible)
            mb__repro_eval(&s, t, theta);
        else if (s.mv > 0)
            mb_model_eval(t, s.Xva, s.yva, s.mv, s.d, s.k, theta, s.work, &ev[0], &ev[1]);
        double tv1 = mb_wtime();
        double times[2] = {compute_s + (tv1 - tv), -(compute_s + (tv1 - tv))};
        if (job->reproducible)
            mb__repro_reduce(c, &s, ev, 3, 3);
        else
            mb_allreduce_sum(c, ev, 3);
        double tmax[2] = {times[0], times[1]};
        mb_allreduce_max_double(c, tmax, 2);
        double tsum = times[0];
        mb_allreduce_sum(c, &tsum, 1);
        double tv2 = mb_wtime();
        mb_trace_span(s.trace, MB_SPAN_VALIDATION, MB_LEVEL_EPOCH, tv, tv2, e, 0);
        comm_s += tv2 - tv1;
        compute_s += tv1 - tv;
        compute_total += compute_s;
        s.comm_total += comm_s;

        mb__epoch_row(&row, e, s.ck.step, loss_acc, seen, ev, classify, lr, B, grad_norm, compute_s,
                      comm_s, tsum > 0 ? tmax[0] / (tsum / c->size) : 1.0);
        if (sched.type == MB_SCHED_PLATEAU) mb_plateau_update(&sched, row.val_loss);
        if (early)
            early_stop = mb__early_update(job, e, &row, theta, s.nparam, &best_val, &best_row,
                                          best_theta, &since_best);

        double ts = mb_wtime();
        int ckpt_now = 0;
        MB_TRY(mb__epoch_checkpoint(c, job, &s, e, early_stop, &ckpt_now));
        epoch_io += mb_wtime() - ts;
        double t_end = mb_wtime();
        row.epoch_s = t_end - t_epoch;
        mb_trace_span(s.trace, MB_SPAN_EPOCH, MB_LEVEL_EPOCH, t_epoch, t_end, e, 0);
        row.io_s = epoch_io;
        row.samples_per_s = row.epoch_s > 0 ? (double)seen / row.epoch_s : 0;
        row.read_s = probe ? probe_read(c, Xs, s.mt * s.d * mb_dtype_size(dt)) : 0;
        if (probe && row.epoch_s > 0) probed[nprobed++] = mb_epoch_read_fraction(&row);
        if (c->rank == 0) {
            ts = mb_wtime();
            err = mb_metrics_append(metrics_path, &row);
            io_s += mb_wtime() - ts;
            if (o->progress) {
                double eta = (mb_wtime() - t_start) / (double)(e + 1 - start_epoch) *
                             (double)(job->epochs - e - 1);
                progress_line(job, &row, eta, tty, classify);
            }
        }
        MB_TRY(mb_agree(c, err, NULL));
        if (job->report_gap) MB_TRY(mb__gap_record(c, job, &s, metrics_path, e, gap_opt, theta));
        res->train_loss = row.train_loss;
        res->val_loss = row.val_loss;
        res->val_metric = row.val_metric;
        if (early_stop) {
            if (c->rank == 0 && o->progress)
                printf("mbatch: early stopping after epoch %lld: no validation-loss gain over "
                       "%g for %lld epochs; model.h5 keeps epoch %lld (validation loss %.6g)\n",
                       (long long)(e + 1), job->early_stopping.min_delta,
                       (long long)job->early_stopping.patience, (long long)(best_row.epoch + 1),
                       best_row.val_loss);
            break;
        }
        if (stop_after_epoch && e + 1 < job->epochs) {
            err = preempted(c, job, &s, e + 1, ckpt_now);
            goto out;
        }
    }

    s.io_total += io_s; /* rank 0's metrics appends */
    if (early && isfinite(best_val)) {
        /* model.h5 gets the best epoch's weights; the checkpoints keep the last epoch's, which
         * is where a resumed run continues. */
        memcpy(theta, best_theta, sizeof(double) * (size_t)s.nparam);
        res->train_loss = best_row.train_loss;
        res->val_loss = best_row.val_loss;
        res->val_metric = best_row.val_metric;
        res->best_epoch = best_row.epoch + 1;
    }
    /* Classifiers: confusion matrix, precision, recall, F1 and exact ROC AUC on the validation
     * rows into metrics.h5 /classification. */
    MB_TRY(mb__validation_report(c, &s, t, theta, metrics_path, o->progress));
    MB_TRY(mb__finish(c, job, &s, compute_total, t_start, res));
    if (nprobed > 0) res->read_fraction = mb_median(probed, nprobed);
out:
    free(probed);
    free(best_theta);
    free(x32);
    mb__pool_free(pool);
    mb__ahead_free(ahead);
    mb__state_free(&s);
    return err;
}
