/* metrics.h - metrics.h5: one row per epoch, one row per rank, the job's KPIs.
 *
 * Rank 0 only (Not Collective). Each call opens the file, writes, flushes and closes it, so a
 * killed job leaves every row already appended readable.
 */
#pragma once

#include <stdint.h>

#include "mbatch/error.h"

typedef struct mb_epoch_row {
    int64_t epoch, step;
    double train_loss, val_loss, val_metric, lr;
    int64_t batch_size;
    double grad_norm, epoch_s, samples_per_s, compute_s, comm_s, io_s, imbalance;
    double read_s; /* probe_bandwidth: one read of the training rows after the epoch (0: none) */
} mb_epoch_row;

typedef struct mb_rank_row {
    int32_t rank;
    char host[64];
    char binding[128];
    char gpu[64];
    char cores[128]; /* OS indices of the cores of binding */
    char numa[32];   /* OS indices of their NUMA nodes */
    int64_t rows;
    double compute_s;
    double comm_s, io_s; /* this rank's time in collectives and in file I/O */
} mb_rank_row;

typedef struct mb_kpis {
    double completion_s;
    double samples_per_s;
    int64_t errors;
    double core_s_per_1000;
    double final_train_loss, final_val_loss, final_val_metric;
    double utilization; /* compute time summed over ranks / (completion_s x ranks) */
} mb_kpis;

/* Create path if absent; otherwise keep it and drop /epochs rows with epoch >= keep_from
 * (so a resumed run continues the table). */
mb_err mb_metrics_init(const char *path, int64_t keep_from);
/* probe_bandwidth: read_s / epoch_s, the fraction of the memory read rate the epoch ran at (0
 * when not probed). */
double mb_epoch_read_fraction(const mb_epoch_row *r);
/* Whether any of rows[0 .. n) was probed (read_s > 0): inspect and report show the columns then. */
int mb_epochs_probed(const mb_epoch_row *rows, int64_t n);
mb_err mb_metrics_append(const char *path, const mb_epoch_row *row);
mb_err mb_metrics_ranks(const char *path, const mb_rank_row *rows, int n); /* replaces /ranks */
mb_err mb_metrics_kpis(const char *path, const mb_kpis *k);                /* attributes on / */
/* Read back /epochs (for tests, inspect): *rows malloc'd. */
mb_err mb_metrics_read(const char *path, mb_epoch_row **rows, int64_t *n);
