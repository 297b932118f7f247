/* mlp_train.c - the neural-network trainer: synchronized batch norm, adaptive batch size. */
#include "mlp_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/kernel.h"
#include "mbatch/metrics.h"
#include "mbatch/optim.h"
#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "class_report.h"
#include "guard.h"
#include "lock.h"
#include "plateau.h"
#include "shared.h"
#include "signals.h"
#include "state.h"
#include "stream.h"

mb_err mb__mlp_from_job(const mb_job *job, int64_t d, int64_t k, mb_mlp *m) {
    mb_activation act = MB_ACT_RELU;
    const char *a = job->model.activation ? job->model.activation : "relu";
    if (strcmp(a, "tanh") == 0) act = MB_ACT_TANH;
    if (strcmp(a, "sigmoid") == 0) act = MB_ACT_SIGMOID;
    mb_model_type head = mb__job_label_type(job);
    if (job->model.nhidden > MB_MLP_MAX_HIDDEN)
        return mb_error_set(MB_EUSAGE, "model.hidden has %d layers; at most %d are supported",
                            job->model.nhidden, MB_MLP_MAX_HIDDEN);
    if (mb_mlp_setup(m, d, k, job->model.nhidden, job->model.hidden, act, job->model.batch_norm,
                     head) != 0)
        return mb_error_set(MB_EUSAGE,
                            "model.hidden, model.output: cannot build a network of %lld "
                            "features and %lld outputs from them",
                            (long long)d, (long long)k);
    return MB_OK;
}

/* model.class_weight into w[0..nc): "none" leaves *on 0; "balanced" weighs class c by
 * n / (nc n_c) over the global training rows; a list gives the numbers. Collective. */
static mb_err class_weights(const mb_comm *c, const mb_job *job, const double *y, int64_t m,
                            int64_t nc, double *w, int *on) {
    const char *s = job->model.class_weight ? job->model.class_weight : "none";
    *on = 0;
    if (strcmp(s, "none") == 0) return MB_OK;
    *on = 1;
    if (strcmp(s, "balanced") == 0) {
        for (int64_t j = 0; j < nc; j++) w[j] = 0;
        for (int64_t i = 0; i < m; i++) w[(int64_t)y[i]] += 1;
        mb_allreduce_sum(c, w, nc);
        double n = 0;
        for (int64_t j = 0; j < nc; j++) n += w[j];
        /* A class absent from the training rows never weighs a row: any value will do. */
        for (int64_t j = 0; j < nc; j++) w[j] = w[j] > 0 ? n / ((double)nc * w[j]) : 1.0;
        return MB_OK;
    }
    const char *p = s;
    for (int64_t j = 0; j < nc; j++) {
        char *end;
        w[j] = strtod(p, &end);
        if (end == p || !(w[j] >= 0) || !isfinite(w[j]) || (j + 1 < nc && *end != ',') ||
            (j + 1 == nc && *end != '\0'))
            return mb_error_set(MB_EUSAGE,
                                "model.class_weight is \"%s\"; expected \"none\", \"balanced\" or "
                                "%lld non-negative numbers separated by commas",
                                s, (long long)nc);
        p = end + 1;
    }
    return MB_OK;
}

/* Gradient buckets reduced while the backward pass goes on: a layer's slice joins the pending
 * bucket [lo, hi) when it is final (layers come output first, each just below the last), and a
 * bucket of at least `bucket` values starts its allreduce at once. */
typedef struct overlap {
    const mb_comm *c;
    int64_t bucket, lo, hi;
    int nreq;
    MPI_Request req[MB_MLP_MAX_HIDDEN + 2];
    int64_t nval[MB_MLP_MAX_HIDDEN + 2];
} overlap;

static void layer_ready(void *ctx, double *g, int64_t off, int64_t n) {
    overlap *o = ctx;
    (void)n;
    /* Open MPI moves a nonblocking collective on only inside MPI calls: test the ones in flight
     * at every layer boundary. */
    for (int q = 0; q < o->nreq; q++) {
        int done = 0;
        MB_MPI(MPI_Test(&o->req[q], &done, MPI_STATUS_IGNORE));
    }
    o->lo = off;
    if (o->hi - o->lo >= o->bucket) {
        mb_iallreduce_sum(o->c, g + o->lo, o->hi - o->lo, &o->req[o->nreq]);
        o->nval[o->nreq++] = o->hi - o->lo;
        o->hi = o->lo;
    }
}

/* The kernels' batch-norm sums, taken over every rank. */
static void reduce_sum(void *ctx, double *buf, int64_t n) {
    mb_allreduce_sum((const mb_comm *)ctx, buf, n);
}

/* Gradient noise scale B_noise = tr(Sigma) / |G|^2 on one rank, from the epoch's mini-batch
 * gradients g_t (means over B rows): E|g_t|^2 = |G|^2 + tr(Sigma) / B, so with the epoch's mean
 * gradient gbar over nb steps, tr(Sigma) / B ~ (mean |g_t|^2 - |gbar|^2) * nb / (nb - 1). Every
 * rank holds the same reduced gradients, so every rank reaches the same decision. */
static double noise_scale(double sum_sq, const double *gsum, int64_t n, int64_t steps, int64_t B) {
    if (steps < 2) return 0;
    double mean_sq = sum_sq / (double)steps, bar = 0;
    for (int64_t j = 0; j < n; j++) {
        double v = gsum[j] / (double)steps;
        bar += v * v;
    }
    double var = (mean_sq - bar) * (double)steps / (double)(steps - 1);
    double g2 = bar - var / (double)steps; /* |gbar|^2 overestimates |G|^2 by var / steps */
    if (!(g2 > 0) || !(var > 0)) return 0;
    return (double)B * var / g2;
}

mb_err mb__train_mlp(const mb_comm *c, const mb_job *job, const mb_train_opts *o,
                     mb_train_result *res) {
    mb__state s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    mb_err err = MB_OK;
    double t_start = mb_wtime();
    int resumed = 0;
    mb_mlp m;
    mb_mlp_pass *pass = NULL;
    double *gsum = NULL, *best_theta = NULL, *vout = NULL, *cw = NULL;
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.h5", job->run_dir);

    if (job->reproducible)
        MB_TRY(mb_agree(c,
                        mb_error_set(MB_EUSAGE, "\"reproducible\": true covers the linear models; "
                                                "model.type \"mlp\" reduces in rank order"),
                        NULL));
    if (!o->placed)
        MB_TRY(mb_place_bind(c, job->placement.bind, job->placement.respect_launcher, o->progress));
    mb__signals_install();
    MB_TRY(mb_agree(c, mb__restart_check(job), NULL));
    if (o->resume) MB_TRY(mb__try_resume(c, job, &s, &resumed));
    MB_TRY(mb__load(c, job, &s, resumed));
    /* The training rows: the shard, or a streamed shard's float64 standardized copy. */
    const double *yt, *Xt = mb__train_rows(&s, &yt);
    MB_TRY(mb_agree(c, mb__mlp_from_job(job, s.d, s.k, &m), NULL));
    int64_t ncls = m.head == MB_MODEL_SOFTMAX ? s.k : 2;
    int weighted = 0;
    cw = mb__alloc(sizeof(double) * (size_t)ncls, "the class weights");
    MB_TRY(mb_agree(c, cw ? MB_OK : MB_EENV, NULL));
    if (m.head != MB_MODEL_LINEAR)
        MB_TRY(mb_agree(c, class_weights(c, job, yt, s.mt, ncls, cw, &weighted), NULL));
    if (weighted) m.class_weight = cw;
    if (resumed) {
        err = c->rank == 0 ? mb__check_same_data(&s) : MB_OK;
        if (!err && (s.ck.model_type != MB_MODEL_MLP || s.ck.nparam != m.nparam))
            err = mb_error_set(MB_EUSAGE,
                               "the checkpoint's model has %lld parameters, the job's network "
                               "%lld",
                               (long long)s.ck.nparam, (long long)m.nparam);
        MB_TRY(mb_agree(c, err, NULL));
    }
    int64_t B0 = job->batch.size == 0 || job->batch.size >= s.n_train ? s.n_train : job->batch.size;
    int64_t cap = job->batch.adaptive ? job->batch.max_size : B0;
    if (cap > s.n_train) cap = s.n_train;
    if (cap < B0) cap = B0;
    int64_t B = resumed && job->batch.adaptive && s.ck.batch_size >= B0 ? s.ck.batch_size : B0;
    int64_t nbmax = mb_batch_count(s.n_train, B0), ntr = m.ntrain;

    /* The optimizer state spans the whole vector (checkpoints store nparam values) but steps only
     * the trainable prefix: the running statistics behind it are not trained. */
    mb_optim_type ot = mb__optim_type(job->optimizer.type);
    if (mb_optim_init(&s.opt, ot, m.nparam) != 0) err = mb_error_set(MB_EENV, "out of memory");
    s.opt.n = ntr;
    s.opt.momentum = job->optimizer.momentum;
    s.opt.nesterov = job->optimizer.nesterov;
    s.opt.beta1 = job->optimizer.beta1;
    s.opt.beta2 = job->optimizer.beta2;
    s.opt.eps = job->optimizer.eps;
    s.opt.weight_decay = job->optimizer.weight_decay;
    int64_t max_rows = cap < s.mt ? cap : s.mt;
    pass = mb_mlp_pass_new(&m, max_rows > 256 ? max_rows : 256);
    if (!pass) err = mb_error_set(MB_EENV, "rank %d: out of memory for the network", c->rank);
    /* The packet: gradient, loss, rows, stop flag, and for batch.adaptive the squared norm of
     * this rank's own mean gradient and whether it had rows (the noise scale's small batch). */
    s.pkt = mb__alloc(sizeof(double) * (size_t)(ntr + 5), "the gradient");
    gsum = mb__alloc(sizeof(double) * (size_t)ntr, "the gradient sum");
    s.order = mb__alloc(sizeof(int64_t) * (size_t)(s.mt + 1), "the epoch order");
    s.boff = mb__alloc(sizeof(int64_t) * (size_t)(nbmax + 1), "the batch offsets");
    s.scratch = mb__alloc(sizeof(int64_t) * (size_t)(2 * s.mt + 1), "the epoch order");
    /* A step's rows, gathered in batch order (contiguous for the layers' matrix products): at
     * most a whole batch on one rank. */
    s.Xperm = mb__alloc(sizeof(double) * (size_t)(max_rows * s.d + 1), "the batch's rows");
    s.yperm = mb__alloc(sizeof(double) * (size_t)(max_rows + 1), "the batch's labels");
    MB_TRY(mb_agree(c, err ? err : mb_error_code(), NULL));
    if (resumed) {
        if (s.ck.opt_v) memcpy(s.opt.v, s.ck.opt_v, sizeof(double) * (size_t)m.nparam);
        if (s.opt.m && s.ck.opt_m) memcpy(s.opt.m, s.ck.opt_m, sizeof(double) * (size_t)m.nparam);
        s.opt.t = s.ck.optim_t;
        free(s.ck.opt_v);
        free(s.ck.opt_m);
        s.ck.opt_v = s.ck.opt_m = NULL;
    }
    /* mb__init_model would size theta for a linear model: a fresh network brings its own, and
     * the provenance follows here. */
    if (!resumed) s.ck.theta = malloc(sizeof(double) * (size_t)m.nparam);
    MB_TRY(mb__init_model(c, job, &s, 1));
    if (!resumed) {
        s.ck.model_type = MB_MODEL_MLP;
        s.ck.d = s.d;
        s.ck.k = s.k;
        s.ck.version = strdup(MBATCH_VERSION);
        s.ck.dataset_path = strdup(job->dataset.path);
        s.ck.dataset_rows = s.n;
        s.ck.dataset_checksum = mb_dataset_checksum(s.ds);
        s.ck.seed = (uint64_t)job->seed;
        s.ck.target = strdup(job->dataset.target ? job->dataset.target : job->dataset.y);
    }
    s.ck.nparam = s.nparam = m.nparam;
    if (!resumed) mb_mlp_init(&m, (uint64_t)job->seed, s.ck.theta);
    s.ck.opt_v = s.opt.v;
    s.ck.opt_m = s.opt.m;
    s.ck.optim_type = ot;
    s.ck.batch_size = B;
    s.ck.ranks = c->size;

    if (c->rank == 0) err = mb__lock_run_dir(job->run_dir);
    if (c->rank == 0 && !err) err = mb_metrics_init(metrics_path, resumed ? s.ck.epoch : 0);
    MB_TRY(mb_agree(c, err, NULL));
    if (c->rank == 0 && o->progress) {
        printf("mbatch: %s: mlp %lld", job->name, (long long)s.d);
        for (int l = 1; l <= m.nh; l++) printf("-%lld", (long long)m.width[l]);
        printf("-%lld (%s%s, %s head), %lld parameters, %lld rows (%lld train, %lld validation), "
               "%lld ranks, batch %lld%s\n",
               (long long)s.k, job->model.activation, m.bn ? ", synchronized batch norm" : "",
               mb__model_name(m.head), (long long)ntr, (long long)s.n, (long long)s.n_train,
               (long long)s.n_val, (long long)c->size, (long long)B,
               job->batch.adaptive ? " (adaptive)" : "");
    }

    mb_schedule sched = mb__job_schedule(job);
    double *theta = s.ck.theta, *g = s.pkt, compute_total = 0;
    int classify = m.head != MB_MODEL_LINEAR, early = job->early_stopping.patience > 0 && s.n_val;
    int64_t since_best = 0;
    double best_val = INFINITY;
    mb_epoch_row row, best_row;
    memset(&row, 0, sizeof row);
    memset(&best_row, 0, sizeof best_row);
    if (early) best_theta = mb__alloc(sizeof(double) * (size_t)m.nparam, "the best weights");
    MB_TRY(mb_agree(c, early && !best_theta ? MB_EENV : MB_OK, NULL));
    res->setup_s = mb_wtime() - t_start;

    /* Reduce-on-plateau state is a function of the validation losses so far. */
    if (resumed) MB_TRY(mb__plateau_replay(c, metrics_path, s.ck.epoch, &sched));
    /* A checkpoint inside an epoch (preemption, checkpoint.every_steps) resumes at its step: with
     * a fixed batch every epoch has nb steps. Adaptive runs stop at epoch ends only. */
    int64_t start_batch = job->batch.adaptive ? 0 : s.ck.step - s.ck.epoch * nbmax;
    if (start_batch < 0 || start_batch > nbmax) start_batch = 0;
    int64_t first_epoch = s.ck.epoch;
    for (int64_t e = first_epoch; e < job->epochs; e++) {
        double t_epoch = mb_wtime(), compute_s = 0, comm_s = 0;
        double lr = mb_lr_at(&sched, job->optimizer.lr, e, job->epochs);
        double loss_acc = 0, grad_norm = 0, sum_sq = 0, big_acc = 0, noise_acc = 0;
        int64_t seen = 0, steps = 0, nb = mb_batch_count(s.n_train, B);
        int stop = 0;
        mb_epoch_order(s.t_lo, s.t_lo + s.mt, s.n_train, B, job->batch.shuffle_block,
                       (uint64_t)job->seed, e, s.order, s.boff, s.scratch);
        memset(gsum, 0, sizeof(double) * (size_t)ntr);
        for (int64_t b = e == first_epoch ? start_batch : 0; b < nb; b++) {
            int64_t r0 = s.boff[b], r1 = s.boff[b + 1];
            double t0 = mb_wtime();
            mb_gather_rows(Xt, MB_DTYPE_F64, yt, s.order + r0, r1 - r0, s.d, s.Xperm, s.yperm);
            memset(g, 0, sizeof(double) * (size_t)ntr);
            /* Batch norm reduces inside the step; the gradient's buckets start as the backward
             * pass finishes them (job->allreduce_bucket), the rest and the loss follow. */
            overlap ov = {c, job->allreduce_bucket, ntr, ntr, 0, {0}, {0}};
            int use_ov = c->size > 1 && job->allreduce_bucket > 0 && !job->batch.adaptive;
            g[ntr] = mb_mlp_grad_ready(&m, pass, s.Xperm, s.yperm, r1 - r0, theta, g, 1, reduce_sum,
                                       (void *)c, use_ov ? layer_ready : NULL, &ov);
            g[ntr + 1] = (double)(r1 - r0);
            g[ntr + 2] = mb__signal_pending() ? 1.0 : 0.0;
            g[ntr + 3] = g[ntr + 4] = 0;
            if (job->batch.adaptive && r1 > r0) {
                double sq = 0, inv_n = 1.0 / (double)(r1 - r0);
                for (int64_t j = 0; j < ntr; j++) sq += (g[j] * inv_n) * (g[j] * inv_n);
                g[ntr + 3] = sq;
                g[ntr + 4] = 1;
            }
            double t1 = mb_wtime();
            if (ov.nreq == 0) {
                mb_allreduce_sum(c, g, ntr + 5); /* one packet, as without buckets */
            } else {
                if (ov.hi > 0) {
                    mb_iallreduce_sum(c, g, ov.hi, &ov.req[ov.nreq]);
                    ov.nval[ov.nreq++] = ov.hi;
                }
                mb_allreduce_sum(c, g + ntr, 5);
                for (int q = 0; q < ov.nreq; q++) mb_allreduce_wait(c, &ov.req[q], ov.nval[q]);
            }
            double t2 = mb_wtime();
            stop = stop || g[ntr + 2] > 0;
            double count = g[ntr + 1], inv = 1.0 / count, loss = g[ntr] * inv, norm2 = 0;
            for (int64_t j = 0; j < ntr; j++) g[j] *= inv;
            if (job->model.l2 > 0) loss += mb_mlp_penalty(&m, job->model.l2, theta, g);
            for (int64_t j = 0; j < ntr; j++) norm2 += g[j] * g[j];
            if (!isfinite(loss) || !isfinite(norm2)) {
                if (strcmp(job->on_nonfinite, "skip") != 0) {
                    err = mb_error_set(MB_ENUMERIC,
                                       "epoch %lld step %lld: the training loss is %g and the "
                                       "gradient norm %g; lower optimizer.lr (now %g)",
                                       (long long)(e + 1), (long long)(s.ck.step + 1), loss,
                                       sqrt(norm2), lr);
                    goto out;
                }
                s.skipped_steps++;
            } else {
                sum_sq += norm2;
                /* Two batch sizes at once: each rank's b rows and the global B rows give
                 * E|G_b|^2 = |G|^2 + tr(Sigma)/b for both, so unbiased estimates of |G|^2 and
                 * tr(Sigma) (McCandlish et al. 2018, appendix A.1), averaged over the epoch. */
                if (g[ntr + 4] >= 2) {
                    double parts = g[ntr + 4], small2 = g[ntr + 3] / parts, bs = count / parts;
                    big_acc += (count * norm2 - bs * small2) / (count - bs);
                    noise_acc += (small2 - norm2) / (1.0 / bs - 1.0 / count);
                }
                for (int64_t j = 0; j < ntr; j++) gsum[j] += g[j];
                steps++;
                grad_norm = mb_clip_norm(g, ntr, job->optimizer.clip_norm);
                mb_optim_step(&s.opt, theta, g, lr);
                if (job->model.l1 > 0) mb_mlp_prox_l1(&m, job->model.l1, lr, theta);
                s.ck.samples_seen += (int64_t)count;
                loss_acc += loss * count;
                seen += (int64_t)count;
            }
            s.ck.step++;
            double t3 = mb_wtime();
            compute_s += (t1 - t0) + (t3 - t2);
            comm_s += t2 - t1;
            int every = !job->batch.adaptive && job->checkpoint.every_steps > 0 &&
                        s.ck.step % job->checkpoint.every_steps == 0;
            int halt = stop && !job->batch.adaptive;
            if ((every || halt) && b + 1 < nb) {
                char name[64];
                snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)s.ck.step);
                s.ck.epoch = e;
                s.ck.lr = lr;
                MB_TRY(mb__save(c, job, &s, name, 0, (int)job->checkpoint.keep));
                if (halt) {
                    int64_t signo = mb__signal_pending();
                    mb_allreduce_max_i64(c, &signo, 1);
                    err = mb_error_set(MB_EPREEMPTED,
                                       "stopped by signal %lld at epoch %lld step %lld; "
                                       "checkpoint %s/checkpoints/%s; resume with --resume",
                                       (long long)signo, (long long)(e + 1), (long long)s.ck.step,
                                       job->run_dir, name);
                    goto out;
                }
            }
        }
        int64_t B_used = B;
        s.ck.epoch = e + 1;
        s.ck.lr = lr;
        MB_TRY(mb__check_params_agree(c, theta, m.nparam, s.ck.step));

        double ev[3] = {0, 0, (double)s.mv}, tv = mb_wtime();
        if (s.mv > 0) mb_mlp_eval(&m, pass, s.Xva, s.yva, s.mv, theta, &ev[0], &ev[1]);
        double tv1 = mb_wtime();
        mb_allreduce_sum(c, ev, 3);
        comm_s += mb_wtime() - tv1;
        compute_s += tv1 - tv;
        compute_total += compute_s;
        s.comm_total += comm_s;

        mb__epoch_row(&row, e, s.ck.step, loss_acc, seen, ev, classify, lr, B_used, grad_norm,
                      compute_s, comm_s, 1.0);
        if (sched.type == MB_SCHED_PLATEAU) mb_plateau_update(&sched, row.val_loss);
        /* Adaptive batch: a noise scale above the batch says a larger batch still cuts the steps
         * needed almost in proportion (McCandlish et al. 2018), so the next epoch doubles it. */
        double bnoise = 0;
        if (job->batch.adaptive && c->size >= 2)
            bnoise = big_acc > 0 ? noise_acc / big_acc : 0;
        else if (job->batch.adaptive)
            bnoise = noise_scale(sum_sq, gsum, ntr, steps, B);
        if (job->batch.adaptive && bnoise > (double)B && 2 * B <= cap) {
            B *= 2;
            s.ck.batch_size = B;
            if (c->rank == 0 && o->progress)
                printf("mbatch: epoch %lld: gradient noise scale %.4g > batch %lld: batch %lld "
                       "from the next epoch\n",
                       (long long)(e + 1), bnoise, (long long)B_used, (long long)B);
        }
        int early_stop = 0;
        if (early)
            early_stop = mb__early_update(job, e, &row, theta, m.nparam, &best_val, &best_row,
                                          best_theta, &since_best);
        double ts = mb_wtime();
        int ckpt_now = 0;
        MB_TRY(mb__epoch_checkpoint(c, job, &s, e, early_stop || stop, &ckpt_now));
        row.io_s = mb_wtime() - ts;
        row.epoch_s = mb_wtime() - t_epoch;
        row.samples_per_s = row.epoch_s > 0 ? (double)seen / row.epoch_s : 0;
        if (c->rank == 0) {
            err = mb_metrics_append(metrics_path, &row);
            if (o->progress) {
                printf("epoch %lld/%lld  train %.6g  val %.6g  %s %.4f  lr %.3g  batch %lld\n",
                       (long long)(e + 1), (long long)job->epochs, row.train_loss, row.val_loss,
                       classify ? "acc" : "rmse", row.val_metric, lr, (long long)B_used);
                fflush(stdout);
            }
        }
        MB_TRY(mb_agree(c, err, NULL));
        res->train_loss = row.train_loss;
        res->val_loss = row.val_loss;
        res->val_metric = row.val_metric;
        if (early_stop) break;
        /* With batch.adaptive a signal stops the run at the end of its epoch: epochs may use
         * different batch sizes, so an epoch boundary is the position a resume can find again.
         * A fixed batch stops here only when the signal came at the epoch's last step: said as
         * for any other step. */
        if (stop && e + 1 < job->epochs) {
            int64_t signo = mb__signal_pending();
            mb_allreduce_max_i64(c, &signo, 1);
            char where[64];
            if (job->batch.adaptive)
                snprintf(where, sizeof where, "after epoch %lld", (long long)(e + 1));
            else
                snprintf(where, sizeof where, "at epoch %lld step %lld", (long long)(e + 1),
                         (long long)s.ck.step);
            err = mb_error_set(MB_EPREEMPTED,
                               "stopped by signal %lld %s; checkpoint %s/checkpoints/ckpt-%lld.h5; "
                               "resume with --resume",
                               (long long)signo, where, job->run_dir, (long long)s.ck.step);
            goto out;
        }
    }
    if (early && isfinite(best_val)) {
        memcpy(theta, best_theta, sizeof(double) * (size_t)m.nparam);
        res->train_loss = best_row.train_loss;
        res->val_loss = best_row.val_loss;
        res->val_metric = best_row.val_metric;
        res->best_epoch = best_row.epoch + 1;
    }
    /* The classification report of the final model on the validation rows. */
    if (classify && s.n_val > 0) {
        vout = mb__alloc(sizeof(double) * (size_t)(s.mv * s.k + 1), "the validation outputs");
        MB_TRY(mb_agree(c, vout ? MB_OK : MB_EENV, NULL));
        if (s.mv > 0) mb_mlp_predict(&m, pass, s.Xva, s.mv, theta, vout);
        MB_TRY(mb__class_report(c, m.head, vout, s.yva, s.mv, s.k, metrics_path, o->progress));
    }
    MB_TRY(mb__finish(c, job, &s, compute_total, t_start, res));
out:
    free(vout);
    free(cw);
    free(best_theta);
    free(gsum);
    mb_mlp_pass_free(pass);
    mb__state_free(&s);
    return err;
}
