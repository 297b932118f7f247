/* job.h - the job file: one option table serves the parser, --set, --help and the canonical JSON.
 *
 * Rank 0 parses and validates (mb_job_load); the canonical JSON it produces is broadcast, and
 * every rank rebuilds the same mb_job from it (mb_job_from_canonical), so all ranks run exactly
 * the same configuration. Nothing here is collective. Free with mb_job_free (NULL-safe).
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "mbatch/error.h"

typedef struct mb_job {
    char *name;
    char *job_type;
    int64_t epochs;
    int64_t seed;
    char *run_dir;
    struct {
        char *path, *X, *y, *group, *target;
        char **features;
        int nfeatures;
        char **categorical;
        int ncategorical;
        double validation_fraction;
    } dataset;
    struct {
        char *type;
        double l2;
        int64_t classes; /* softmax: 0 = max label + 1 */
        /* Tree models (decision_tree, random_forest, gradient_boosting). */
        int64_t n_trees, max_depth, max_bins, n_iter_no_change;
        double min_samples_leaf, min_impurity_decrease, max_features, learning_rate;
        char *criterion, *task;
        /* svm, huber, mlp */
        char *loss;      /* svm: "hinge" or "squared_hinge" */
        double l1;       /* proximal L1 (elastic net with l2) */
        int64_t *hidden; /* mlp: hidden widths */
        int nhidden;
        char *activation;   /* mlp: relu|tanh|sigmoid */
        int batch_norm;     /* mlp: synchronized batch normalization */
        char *output;       /* mlp: linear|logistic|softmax head */
        char *class_weight; /* mlp: "none", "balanced" or "w0,w1,..." */
    } model;
    struct {
        char *type;
        double lr, momentum, beta1, beta2, eps;
        int nesterov;
        struct {
            char *type;
            int64_t step_epochs;
            double gamma, warmup_epochs, min_lr;
            int64_t patience; /* plateau */
            double threshold; /* plateau */
        } schedule;
        char *solver;        /* exact: "cholesky" (normal equations) or "qr" */
        double tol;          /* newton/lbfgs: stop when max |gradient| <= tol */
        int64_t max_iter;    /* newton/lbfgs: iteration limit */
        int64_t history;     /* lbfgs: pairs kept (memory m) */
        double weight_decay; /* adamw */
        double clip_norm;    /* global gradient norm cap, 0: none */
    } optimizer;
    struct {
        int64_t size;          /* 0 means "full" */
        int adaptive;          /* grow the batch by the gradient noise scale (mlp) */
        int64_t max_size;      /* adaptive: cap */
        int64_t shuffle_block; /* rows shuffled together (1: every row on its own) */
    } batch;
    struct {
        int64_t every_epochs, every_steps, keep;
        int64_t max_restarts; /* Slurm requeues (SLURM_RESTART_COUNT) a job may take */
        char *on_error;       /* "fail" (exit 3) or "warn" (go on) when a checkpoint write fails */
    } checkpoint;
    struct {
        char *mode;
        int64_t memory_budget; /* bytes per node the loaded data may take; 0: physical memory */
        char *stream_cache;    /* streaming: where the standardized copy goes (NULL: run_dir) */
    } io;
    int trace;                /* record a timeline of every rank into run_dir/trace.json */
    int probe_bandwidth;      /* time one read of each rank's training rows after each epoch */
    int64_t allreduce_bucket; /* mlp: gradient values per allreduce started in the backward pass */
    struct {
        int64_t patience; /* epochs without a validation-loss gain before stopping; 0: off */
        double min_delta; /* the smallest decrease of the validation loss that counts as a gain */
    } early_stopping;
    char *schedule;     /* when `mbatch submit` runs it: "daily @ 02:00 UTC", cron, an ISO time */
    double timeout_s;   /* a rank missing a collective step this long ends the job (exit 5) */
    char *on_nonfinite; /* "fail" (exit 4) or "skip" (the step is skipped and counted) */
    int reproducible;   /* bitwise identical results whatever the rank count (exact sums) */
    int report_gap;     /* /gap in metrics.h5: objective - optimum (exact or Newton) per epoch */
    struct {
        char *bind;           /* auto|core|numa|socket|gpu|none (see mbatch/place.h) */
        int respect_launcher; /* keep a binding the launcher already made */
    } placement;
    char *dtype;     /* storage of the training rows in memory: "float64" or "float32" */
    int64_t threads; /* gradient threads per rank */
    char *canonical; /* the canonical JSON of everything above */
} mb_job;

/* Parse job file `path` (NULL: start from defaults) with overrides sets[0..nsets) of the form
 * "key.path=value" (value as JSON, or a bare string). Errors are MB_EUSAGE with messages such as
 * "jobs/a.json:7:5: unknown key 'dataset.featurs'". Not collective. */
mb_err mb_job_load(const char *path, char *const *sets, int nsets, mb_job **out);
/* The same from the JSON text of a job; `label` names it in messages and gives the default name
 * (its base name without extension). Not collective. */
mb_err mb_job_load_text(const char *label, const char *text, char *const *sets, int nsets,
                        mb_job **out);
/* Rebuild a job from its canonical JSON (as broadcast from rank 0). */
mb_err mb_job_from_canonical(const char *json, mb_job **out);
void mb_job_free(mb_job *job);

/* Print every key with its type, default and meaning (for --help). */
void mb_job_print_keys(FILE *f);
