/* sweep.c - run a sweep: groups of ranks take configurations from a shared counter, each
 * configuration leaves a result file, and rank 0 merges them into sweep.h5 and sweep.csv. */
#include "mbatch/sweep.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbatch/place.h"
#include "mbatch/run.h"
#include "signals.h"

static mb_err mkdir_p(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return mb_error_set(MB_EIO, "%s: cannot create the directory: %s", buf,
                                    strerror(errno));
            *p = saved;
            if (saved == '\0') break;
        }
    }
    return MB_OK;
}

static void result_path(const mb_sweep *sw, int64_t i, char *buf, size_t n) {
    snprintf(buf, n, "%s/cfg-%lld/result.json", sw->run_dir, (long long)i);
}

static json_t *num(double x) {
    return isfinite(x) ? json_real(x) : json_null();
}

/* Write configuration i's row as run_dir/cfg-<i>/result.json (temporary name, then rename, so
 * a merge never reads half a file). Not collective. */
static mb_err write_result(const mb_sweep *sw, const mb_sweep_row *r) {
    char dir[4200], path[4300], tmp[4400];
    snprintf(dir, sizeof dir, "%s/cfg-%lld", sw->run_dir, (long long)r->index);
    mb_err err = mkdir_p(dir);
    if (err) return err;
    result_path(sw, r->index, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(r->index));
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "params", json_loads(sw->conf[r->index].params, 0, NULL));
    json_object_set_new(o, "train_loss", num(r->train_loss));
    json_object_set_new(o, "val_loss", num(r->val_loss));
    json_object_set_new(o, "val_metric", num(r->val_metric));
    json_object_set_new(o, "metric", num(r->metric));
    json_object_set_new(o, "epochs", json_integer(r->epochs));
    json_object_set_new(o, "seconds", num(r->seconds));
    json_object_set_new(o, "setup_s", num(r->setup_s));
    json_object_set_new(o, "gap_s", num(r->gap_s));
    json_object_set_new(o, "exit_code", json_integer(r->exit_code));
    json_object_set_new(o, "message", json_string(r->message));
    int rc = json_dump_file(o, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (rc != 0 || rename(tmp, path) != 0)
        return mb_error_set(MB_EIO, "%s: cannot write the configuration's result", path);
    return MB_OK;
}

static double get_num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Read configuration i's result; a missing file gives status "missing". Not collective. */
static void read_result(const mb_sweep *sw, int64_t i, mb_sweep_row *r) {
    char path[4300];
    memset(r, 0, sizeof *r);
    r->index = i;
    r->train_loss = r->val_loss = r->val_metric = r->metric = NAN;
    r->seconds = r->setup_s = r->gap_s = NAN;
    snprintf(r->status, sizeof r->status, "missing");
    result_path(sw, i, path, sizeof path);
    json_t *o = json_load_file(path, 0, NULL);
    if (!o) return;
    const char *st = json_string_value(json_object_get(o, "status"));
    const char *msg = json_string_value(json_object_get(o, "message"));
    snprintf(r->status, sizeof r->status, "%s", st ? st : "missing");
    snprintf(r->message, sizeof r->message, "%s", msg ? msg : "");
    r->train_loss = get_num(o, "train_loss");
    r->val_loss = get_num(o, "val_loss");
    r->val_metric = get_num(o, "val_metric");
    r->metric = get_num(o, "metric");
    r->epochs = (int64_t)json_integer_value(json_object_get(o, "epochs"));
    r->seconds = get_num(o, "seconds");
    r->setup_s = get_num(o, "setup_s");
    r->gap_s = get_num(o, "gap_s");
    r->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
    json_decref(o);
}

static double metric_of(const mb_sweep *sw, const mb_train_result *res) {
    if (strcmp(sw->metric, "train_loss") == 0) return res->train_loss;
    if (strcmp(sw->metric, "val_loss") == 0) return res->val_loss;
    return res->val_metric; /* val_metric, accuracy, rmse */
}

/* Is a better than b under the sweep's metric? NaN is never better. */
static int better(const mb_sweep *sw, double a, double b) {
    if (!isfinite(a)) return 0;
    if (!isfinite(b)) return 1;
    return sw->higher_better ? a > b : a < b;
}

/* Group-collective: run configuration i on g, filling row. A failure of the configuration is
 * recorded in row and the error slot cleared; only preemption is returned. */
static mb_err run_one(const mb_comm *g, int world_rank, const mb_sweep *sw, int64_t i,
                      int64_t epochs, int resume, int progress, mb_sweep_row *row) {
    mb_job *job = NULL;
    char *canon = NULL;
    mb_err err = MB_OK;
    memset(row, 0, sizeof *row);
    row->index = i;
    row->train_loss = row->val_loss = row->val_metric = row->metric = NAN;
    row->seconds = row->setup_s = NAN;
    if (g->rank == 0) {
        err = mb_sweep_job(sw, i, epochs, &job);
        if (!err) canon = strdup(job->canonical);
    }
    err = mb_agree(g, err, NULL);
    if (!err) {
        mb_bcast_str(g, &canon, 0);
        if (g->rank != 0) err = mb_job_from_canonical(canon, &job);
        err = mb_agree(g, err, NULL);
    }
    mb_train_result res;
    memset(&res, 0, sizeof res);
    if (!err) {
        mb_train_opts to = {resume, progress, 1};
        /* The job's hang deadline covers its own training only: between configurations, groups
         * wait for each other at the sweep's collectives for as long as the slowest one trains. */
        mb_comm_set_timeout(job->timeout_s);
        err = mb_train(g, job, &to, &res);
        mb_comm_set_timeout(0);
    }
    if (err == MB_OK) {
        snprintf(row->status, sizeof row->status, "ok");
        row->train_loss = res.train_loss;
        row->val_loss = res.val_loss;
        row->val_metric = res.val_metric;
        row->metric = metric_of(sw, &res);
        row->epochs = res.epochs;
        row->seconds = res.seconds;
        row->setup_s = res.setup_s;
    } else if (err != MB_EPREEMPTED) {
        snprintf(row->status, sizeof row->status, "failed");
        snprintf(row->message, sizeof row->message, "%s", mb_error_message());
        row->exit_code = (int)err;
        row->seconds = res.seconds;
        if (g->rank == 0 && world_rank == 0)
            fprintf(stderr, "mbatch: sweep: configuration %lld failed (exit %d): %s\n",
                    (long long)i, (int)err, mb_error_message());
        else if (g->rank == 0)
            fprintf(stderr, "mbatch: rank %d: sweep: configuration %lld failed (exit %d): %s\n",
                    world_rank, (long long)i, (int)err, mb_error_message());
        /* Every rank of the group holds the agreed error: clear it so the next configuration
         * starts clean. */
        mb_error_clear();
        err = MB_OK;
    }
    mb_job_free(job);
    free(canon);
    return err;
}

/* Write the sweep's run_dir/base.json for an inline base, so the best configuration's command
 * line names a file. */
static void base_file(const mb_sweep *sw, char *buf, size_t n) {
    if (strcmp(sw->base_label, sw->path) != 0) {
        snprintf(buf, n, "%s", sw->base_label);
        return;
    }
    snprintf(buf, n, "%s/base.json", sw->run_dir);
    json_t *o = json_loads(sw->base_text, 0, NULL);
    if (!o) return;
    if (!json_object_get(o, "name")) json_object_set_new(o, "name", json_string(sw->name));
    json_dump_file(o, buf, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
}

/* One CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static mb_err write_csv(const mb_sweep *sw, const mb_sweep_row *rows) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/sweep.csv", sw->run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return mb_error_set(MB_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    fputs("index,status", f);
    for (int j = 0; j < sw->nkeys; j++) {
        fputc(',', f);
        csv_field(f, sw->keys[j]);
    }
    fputs(",train_loss,val_loss,val_metric,metric,epochs,seconds,setup_s,gap_s,exit_code,"
          "message\n",
          f);
    for (int64_t i = 0; i < sw->nconf; i++) {
        const mb_sweep_row *r = &rows[i];
        fprintf(f, "%lld,%s", (long long)i, r->status);
        /* The values as in the --set overrides ("key=value"): the shortest exact text. */
        for (int j = 0; j < sw->nkeys; j++) {
            const char *eq = strchr(sw->conf[i].sets[j], '=');
            fputc(',', f);
            csv_field(f, eq ? eq + 1 : "");
        }
        fprintf(f, ",%.17g,%.17g,%.17g,%.17g,%lld,%.6f,%.6f,%.6f,%d,", r->train_loss, r->val_loss,
                r->val_metric, r->metric, (long long)r->epochs, r->seconds, r->setup_s, r->gap_s,
                r->exit_code);
        csv_field(f, r->message);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return mb_error_set(MB_EIO, "%s: cannot write the results table", path);
    }
    return MB_OK;
}

mb_err mb_sweep_collect(const mb_sweep *sw, int print, int *complete) {
    mb_sweep_row *rows = calloc((size_t)sw->nconf, sizeof *rows);
    if (!rows) return mb_error_set(MB_EIO, "out of memory merging %s", sw->run_dir);
    mb_err err = mkdir_p(sw->run_dir);
    int64_t best = -1, counts[4] = {0, 0, 0, 0}; /* ok, failed, stopped, missing */
    double gap = 0, setup = 0, train = 0;
    int64_t ntimed = 0;
    for (int64_t i = 0; i < sw->nconf && !err; i++) {
        mb_sweep_row *r = &rows[i];
        read_result(sw, i, r);
        int ok = strcmp(r->status, "ok") == 0;
        counts[ok                                  ? 0
               : strcmp(r->status, "failed") == 0  ? 1
               : strcmp(r->status, "stopped") == 0 ? 2
                                                   : 3]++;
        if (ok && better(sw, r->metric, best >= 0 ? rows[best].metric : NAN)) best = i;
        if (isfinite(r->gap_s) && isfinite(r->setup_s)) {
            gap += r->gap_s;
            setup += r->setup_s;
            train += r->seconds - r->setup_s;
            ntimed++;
        }
    }
    *complete = counts[3] == 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep.h5", sw->run_dir);
    if (!err) err = mb_sweep_h5_write(path, sw, rows, best);
    if (!err) err = write_csv(sw, rows);
    if (!err && print) {
        printf("mbatch: sweep %s: %lld configurations: %lld ok, %lld failed, %lld stopped by "
               "halving, %lld without a result\n",
               sw->path, (long long)sw->nconf, (long long)counts[0], (long long)counts[1],
               (long long)counts[2], (long long)counts[3]);
        printf("mbatch: results %s and %s/sweep.csv\n", path, sw->run_dir);
        if (ntimed > 0)
            printf("mbatch: launch overhead per configuration: %.2f ms (%.2f ms between "
                   "configurations + %.2f ms loading before the first step; %.3f s of "
                   "training on average)\n",
                   1e3 * (gap + setup) / (double)ntimed, 1e3 * gap / (double)ntimed,
                   1e3 * setup / (double)ntimed, train / (double)ntimed);
        if (best >= 0) {
            char base[4300], *line = mb_sweep_set_line(sw, best);
            base_file(sw, base, sizeof base);
            printf("mbatch: best: configuration %lld, %s %.6g (train loss %.6g, validation loss "
                   "%.6g, %lld epochs): %s\n"
                   "mbatch: best: mbatch train %s %s\n",
                   (long long)best, sw->metric, rows[best].metric, rows[best].train_loss,
                   rows[best].val_loss, (long long)rows[best].epochs, sw->conf[best].params, base,
                   line ? line : "");
            free(line);
        } else {
            printf("mbatch: best: none (no configuration finished with a finite %s)\n", sw->metric);
        }
        fflush(stdout);
    }
    free(rows);
    return err;
}

/* Rank 0: keep the best ceil(keep * n) of active[0..n) (at least one) that finished; mark the
 * rest "stopped" in their result files. Returns the new count; active is rewritten in place. */
static int64_t halve(const mb_sweep *sw, int64_t *active, int64_t n, int64_t rung) {
    mb_sweep_row *rows = calloc((size_t)n + 1, sizeof *rows);
    int64_t *order = calloc((size_t)n + 1, sizeof *order), m = 0;
    if (!rows || !order) {
        free(rows);
        free(order);
        return n; /* without memory to rank them, keep everyone: slower, still correct */
    }
    for (int64_t j = 0; j < n; j++) {
        read_result(sw, active[j], &rows[j]);
        if (strcmp(rows[j].status, "ok") == 0) order[m++] = j;
    }
    /* Insertion sort by metric, best first; ties keep the lower index (stable). */
    for (int64_t a = 1; a < m; a++)
        for (int64_t b = a; b > 0 && better(sw, rows[order[b]].metric, rows[order[b - 1]].metric);
             b--) {
            int64_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    int64_t keep = (int64_t)ceil(sw->keep * (double)n);
    if (keep < 1) keep = 1;
    if (keep > m) keep = m;
    for (int64_t a = keep; a < m; a++) {
        mb_sweep_row *r = &rows[order[a]];
        snprintf(r->status, sizeof r->status, "stopped");
        snprintf(r->message, sizeof r->message, "stopped by successive halving at epoch %lld",
                 (long long)rung);
        if (write_result(sw, r) != MB_OK) mb_error_clear();
    }
    int64_t *kept = calloc((size_t)keep + 1, sizeof *kept);
    for (int64_t a = 0; kept && a < keep; a++) kept[a] = active[order[a]];
    /* Survivors continue in index order, so the hand-out order does not depend on the ranking. */
    for (int64_t a = 1; kept && a < keep; a++)
        for (int64_t b = a; b > 0 && kept[b] < kept[b - 1]; b--) {
            int64_t t = kept[b];
            kept[b] = kept[b - 1];
            kept[b - 1] = t;
        }
    if (kept) memcpy(active, kept, sizeof *kept * (size_t)keep);
    printf("mbatch: sweep: halving at epoch %lld: %lld of %lld configurations go on\n",
           (long long)rung, (long long)(kept ? keep : n), (long long)n);
    fflush(stdout);
    free(kept);
    free(rows);
    free(order);
    return kept ? keep : n;
}

/* Has configuration i a result already (for --resume)? */
static int has_result(const mb_sweep *sw, int64_t i) {
    mb_sweep_row r;
    read_result(sw, i, &r);
    return strcmp(r.status, "ok") == 0 || strcmp(r.status, "failed") == 0;
}

mb_err mb_sweep_run(const mb_comm *c, const mb_sweep *sw, const mb_sweep_opts *o) {
    double t0 = mb_wtime();
    mb_err err = MB_OK;
    mb_comm g;
    int64_t *active = NULL, nactive = 0;
    memset(&g, 0, sizeof g);
    g.comm = MPI_COMM_NULL;
    int single = o->index >= 0;
    int G = single ? 1 : o->groups;
    if (G < 1 || G > c->size)
        return mb_error_set(MB_EUSAGE, "--groups is %d; expected 1..%d (the number of ranks)", G,
                            c->size);
    if (single && sw->nrungs > 0)
        return mb_error_set(MB_EUSAGE,
                            "%s: successive halving ranks configurations against each other; "
                            "run it in one allocation (--groups), not as array tasks (--index)",
                            sw->path);
    if (single && o->index >= sw->nconf)
        return mb_error_set(MB_EUSAGE, "--index is %lld; %s has configurations 0..%lld",
                            (long long)o->index, sw->path, (long long)sw->nconf - 1);
    /* Preemption between configurations too: the signal waits for the group to agree on it. */
    mb__signals_install();
    if (c->rank == 0) err = mkdir_p(sw->run_dir);
    MB_TRY(mb_agree(c, err, NULL));
    /* Bind every process once, over all the ranks of the node: placed group by group, the
     * groups would stack on the same cores, and each configuration would reload the topology. */
    {
        mb_job *base = NULL;
        err = mb_job_load_text(sw->base_label, sw->base_text, NULL, 0, &base);
        MB_TRY(mb_agree(c, err, NULL));
        err = mb_place_bind(c, base->placement.bind, base->placement.respect_launcher, o->progress);
        mb_job_free(base);
        MB_TRY(err);
    }
    /* Contiguous blocks of ranks form a group, so a group stays on as few nodes as possible. */
    int color = (int)((int64_t)c->rank * G / c->size);
    MB_TRY(mb_comm_split(c, color, c->rank, &g));
    if (c->rank == 0)
        printf("mbatch: sweep %s: %lld configurations, %s, %d ranks in %d group%s; results in "
               "%s\n",
               sw->path, (long long)sw->nconf, single ? "one configuration" : "all", c->size, G,
               G > 1 ? "s" : "", sw->run_dir);

    active = calloc((size_t)sw->nconf, sizeof *active);
    err = active ? MB_OK : mb_error_set(MB_EENV, "out of memory");
    MB_TRY(mb_agree(c, err, NULL));
    if (single) {
        active[nactive++] = o->index;
    } else if (c->rank == 0) { /* only rank 0 reads the result files; the list is broadcast */
        for (int64_t i = 0; i < sw->nconf; i++)
            if (!(o->resume && sw->nrungs == 0 && has_result(sw, i))) active[nactive++] = i;
        if (nactive < sw->nconf)
            printf("mbatch: sweep: %lld configurations already have results\n",
                   (long long)(sw->nconf - nactive));
    }
    mb_bcast(c, &nactive, sizeof nactive, 0);
    mb_bcast(c, active, sizeof *active * (size_t)nactive, 0);

    int64_t preempted = 0;
    int failed_code = 0;        /* --index: the configuration's exit code becomes the task's */
    double t_prev = mb_wtime(); /* the end of this group's previous configuration */
    for (int phase = 0; phase <= sw->nrungs && !preempted; phase++) {
        int64_t epochs = phase < sw->nrungs ? sw->rungs[phase] : 0;
        /* After a rung, survivors continue from their checkpoint with more epochs. */
        int resume = phase > 0 || o->resume;
        mb_counter *ctr = NULL;
        if (!single) MB_TRY(mb_counter_create(c, &ctr));
        for (int64_t taken = 0;;) {
            int64_t t = single ? taken++ : -1;
            /* A signal caught between configurations: take no more work (the group agrees). */
            int64_t sig = mb__signal_pending();
            mb_allreduce_max_i64(&g, &sig, 1);
            if (sig) preempted = 1;
            if (single && preempted) break;
            if (!single) {
                if (g.rank == 0) t = preempted ? nactive : mb_counter_next(ctr);
                mb_bcast(&g, &t, sizeof t, 0);
            }
            if (t >= nactive) break;
            mb_sweep_row row;
            double t_start = mb_wtime();
            err = run_one(&g, c->rank, sw, active[t], epochs, resume, o->progress, &row);
            if (err == MB_EPREEMPTED) {
                preempted = 1;
                mb_error_clear();
                err = MB_OK;
                continue;
            }
            row.gap_s = t_start - t_prev;
            if (single && row.exit_code != 0) failed_code = row.exit_code;
            if (g.rank == 0) {
                err = write_result(sw, &row);
                if (err) {
                    fprintf(stderr, "mbatch: rank %d: %s\n", c->rank, mb_error_message());
                    mb_error_clear();
                    err = MB_OK;
                }
            }
            t_prev = mb_wtime();
        }
        mb_counter_free(ctr);
        mb_allreduce_max_i64(c, &preempted, 1);
        if (preempted || phase == sw->nrungs) break;
        if (c->rank == 0) nactive = halve(sw, active, nactive, epochs);
        mb_bcast(c, &nactive, sizeof nactive, 0);
        mb_bcast(c, active, sizeof *active * (size_t)nactive, 0);
    }
    free(active);
    active = NULL;
    mb_barrier(c);

    int complete = 0;
    if (c->rank == 0) {
        /* An array task merges only when every configuration has a result: the last task to
         * finish writes the table (two that finish together both write the same table). */
        int64_t done = 0;
        for (int64_t i = 0; single && i < sw->nconf; i++) done += has_result(sw, i);
        if (single && done < sw->nconf)
            printf("mbatch: sweep: configuration %lld done; %lld of %lld have results (the last "
                   "task writes sweep.h5, or run mbatch sweep --collect)\n",
                   (long long)o->index, (long long)done, (long long)sw->nconf);
        else
            err = mb_sweep_collect(sw, 1, &complete);
        if (!err && !single) printf("mbatch: sweep wall time %.2f s\n", mb_wtime() - t0);
    }
    MB_TRY(mb_agree(c, err, NULL));
    if (preempted)
        err = mb_error_set(MB_EPREEMPTED,
                           "sweep %s stopped by a signal; finished configurations have results; "
                           "run it again with --resume",
                           sw->path);
    else if (!err && failed_code)
        err = mb_error_set((mb_err)failed_code,
                           "sweep: configuration %lld failed; recorded in %s/cfg-%lld/result.json",
                           (long long)o->index, sw->run_dir, (long long)o->index);
out:
    free(active);
    mb_comm_free(&g);
    return err;
}
