/* sweep.h - hyperparameter sweeps: a base job plus a search space, expanded into numbered
 * configurations, run in groups of ranks or one per Slurm array task, with one results table.
 *
 * A sweep file:
 *
 *     {"base": "jobs/fraud.json",            (a path, or an inline job object)
 *      "space": {"optimizer.lr": [0.01, 0.1],                  (a list: a grid dimension)
 *                "model.l2": {"log_uniform": [1e-5, 1e-1]},   (an object: a random draw)
 *                "optimizer.type": {"choice": ["sgd", "adam"]}},
 *      "samples": 4, "seed": 1, "metric": "val_loss",
 *      "halving": {"rungs": [2, 4], "keep": 0.5},
 *      "run_dir": "runs/fraud-sweep"}
 *
 * expands, the same way on every machine, into grid x samples configurations: configuration
 * i = g * samples + s takes grid point g (the first key varies slowest) and random draw
 * mb_rng_uniform(seed, MB_RNG_SWEEP, i, dim) for each random dimension. Each configuration is
 * the base job with one --set override per key, and runs in run_dir/cfg-<i>.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"
#include "mbatch/job.h"

typedef struct mb_sweep_conf {
    int nsets;
    char **sets;  /* "key=value" overrides, value as JSON (or a bare string) */
    char *params; /* the varied values as one JSON object, in key order */
} mb_sweep_conf;

typedef struct mb_sweep {
    char *path;       /* the sweep file */
    char *base_label; /* the base job file, or "<sweep file> (base)" for an inline one */
    char *base_text;  /* the base job's JSON text */
    char *name;       /* the base job's name */
    char *run_dir;    /* default runs/<name>-sweep */
    char *metric;     /* val_loss | train_loss | val_metric | accuracy | rmse */
    int higher_better;
    int nkeys;
    char **keys; /* the varied keys, in file order */
    int64_t nconf;
    mb_sweep_conf *conf;
    int nrungs;
    int64_t *rungs; /* successive halving: epochs at which the worst are stopped; 0 rungs: off */
    double keep;    /* the fraction kept at each rung */
} mb_sweep;

/* Parse and expand a sweep file. Errors are MB_EUSAGE naming the file and key. Not
 * collective: rank 0 reads, and the other ranks parse the text it broadcasts. */
mb_err mb_sweep_load(const char *path, mb_sweep **out);
mb_err mb_sweep_parse(const char *path, const char *text, mb_sweep **out);
void mb_sweep_free(mb_sweep *sw); /* NULL-safe */

/* The job of configuration i: the base with its overrides, run_dir = <sweep run_dir>/cfg-<i>,
 * and epochs replaced by `epochs` when it is > 0 (halving rungs). Not collective. */
mb_err mb_sweep_job(const mb_sweep *sw, int64_t i, int64_t epochs, mb_job **out);
/* The --set line of configuration i, for people to paste ("--set k=v --set ..."); malloc'd. */
char *mb_sweep_set_line(const mb_sweep *sw, int64_t i);

/* One row of the results. */
typedef struct mb_sweep_row {
    int64_t index;
    char status[16]; /* ok | failed | stopped (halving) | missing */
    double train_loss, val_loss, val_metric, metric;
    int64_t epochs;
    double seconds; /* training, as mb_train measured it */
    double setup_s; /* from mb_train's start to its first step (load, preprocess) */
    double gap_s;   /* from the group's previous configuration's end to this one's start */
    int exit_code;  /* the mbatch exit code of a failed configuration */
    char message[512];
} mb_sweep_row;

typedef struct mb_sweep_opts {
    int groups;    /* split the ranks into this many groups (>= 1) */
    int64_t index; /* >= 0: run this configuration only (array task); -1: all */
    int resume;    /* skip configurations with a result and resume their checkpoints */
    int progress;  /* per-epoch progress lines of each configuration */
} mb_sweep_opts;

/* Run the sweep (or one configuration) on every rank of c. Writes each configuration's
 * run_dir/cfg-<i>/result.json; with all configurations done, run_dir/sweep.h5 and sweep.csv,
 * and rank 0 prints the best configuration and the launch overhead. A configuration that fails
 * is recorded as failed and the others go on. Collective. */
mb_err mb_sweep_run(const mb_comm *c, const mb_sweep *sw, const mb_sweep_opts *o);
/* Merge the result files into sweep.h5 and sweep.csv (configurations without a result are
 * "missing") and print the summary. Rank 0 only (Not collective). *complete: all have results. */
mb_err mb_sweep_collect(const mb_sweep *sw, int print, int *complete);

/* sweep.h5: /results, one compound row per configuration (index, status, params, set, losses,
 * metric, epochs, seconds, setup_s, gap_s, exit_code, message); attributes metric and best
 * (-1: none). Written to a temporary name and renamed. Not collective (src/io/sweep_io.c). */
mb_err mb_sweep_h5_write(const char *path, const mb_sweep *sw, const mb_sweep_row *rows,
                         int64_t best);
