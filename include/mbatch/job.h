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
    } model;
    struct {
        char *type;
        double lr, momentum, beta1, beta2, eps;
        int nesterov;
        struct {
            char *type;
            int64_t step_epochs;
            double gamma, warmup_epochs, min_lr;
        } schedule;
    } optimizer;
    struct {
        int64_t size; /* 0 means "full" */
    } batch;
    struct {
        int64_t every_epochs, every_steps, keep;
        int64_t max_restarts; /* Slurm requeues (SLURM_RESTART_COUNT) a job may take */
    } checkpoint;
    struct {
        char *mode;
    } io;
    char *schedule; /* when `mbatch submit` runs it: "daily @ 02:00 UTC", cron, an ISO time */
    int trace; /* record a timeline of every rank into run_dir/trace.json */
    char *canonical; /* the canonical JSON of everything above */
} mb_job;

/* Parse job file `path` (NULL: start from defaults) with overrides sets[0..nsets) of the form
 * "key.path=value" (value as JSON, or a bare string). Errors are MB_EUSAGE with messages such as
 * "jobs/a.json:7:5: unknown key 'dataset.featurs'". Not collective. */
mb_err mb_job_load(const char *path, char *const *sets, int nsets, mb_job **out);
/* Rebuild a job from its canonical JSON (as broadcast from rank 0). */
mb_err mb_job_from_canonical(const char *json, mb_job **out);
void mb_job_free(mb_job *job);

/* Print every key with its type, default and meaning (for --help). */
void mb_job_print_keys(FILE *f);
