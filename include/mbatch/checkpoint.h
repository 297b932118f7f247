/* checkpoint.h - checkpoints and models (same schema), written atomically, and predictions.
 *
 * A checkpoint file holds /model/theta, /optimizer/{v,m}, /preprocess/{columns,mean,std,
 * categories/<column>} and attributes on / (see DESIGN.md), `complete = 1` written last.
 * mb_ckpt_write writes to a temporary name in the same directory, flushes, fsyncs the file,
 * renames, and fsyncs the directory: a reader sees the old file or the new one, never a torn one.
 * Checkpoint functions are Not Collective (rank 0 writes; all ranks hold the same state).
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"

typedef struct mb_ckpt {
    /* model */
    int model_type; /* mb_model_type */
    int64_t d, k;   /* expanded features, outputs */
    int64_t nparam; /* mb_model_nparam(d, k) */
    double *theta;  /* nparam */
    /* optimizer */
    int optim_type;  /* mb_optim_type */
    int64_t optim_t; /* steps taken */
    double *opt_v;   /* nparam or NULL */
    double *opt_m;   /* nparam or NULL */
    /* preprocessing */
    int64_t ncol;       /* raw feature columns */
    char **columns;     /* ncol names */
    int64_t *ncat;      /* ncol: category count, 0 for numeric */
    int64_t **cats;     /* ncol: sorted category codes (NULL for numeric) */
    double *mean, *std; /* d */
    /* progress and provenance (attributes on /) */
    int64_t epoch; /* epochs completed */
    int64_t step;  /* optimizer steps taken */
    int64_t samples_seen;
    uint64_t seed;
    double lr;
    int64_t batch_size;
    int ranks;
    char *version;
    char *dataset_path;
    int64_t dataset_rows;
    uint64_t dataset_checksum;
    char *job_json; /* the canonical job */
    char *target;   /* target name (for predict's label column), may be NULL */
} mb_ckpt;

/* Write c to dir/name atomically. Creates dir if needed. opt_v, opt_m, mean, std and target
 * may be NULL (not written; read back as NULL). MB_EUSAGE if c is inconsistent (nparam !=
 * mb_model_nparam(d, k), unknown model type), MB_EIO naming the path and step otherwise. */
mb_err mb_ckpt_write(const char *dir, const char *name, const mb_ckpt *c);
/* Read a complete checkpoint (MB_EIO if missing, unreadable or not complete). *c is
 * overwritten without being freed; on failure it is left zeroed. */
mb_err mb_ckpt_read(const char *path, mb_ckpt *c);
void mb_ckpt_clear(mb_ckpt *c); /* frees every member; NULL-safe; leaves *c zeroed */

/* The newest complete dir/ckpt-<step>.h5 (by step); *path malloc'd, NULL if none.
 * Incomplete or unreadable files are skipped. */
mb_err mb_ckpt_latest(const char *dir, char **path, int64_t *step);
/* Read the newest checkpoint of dir that reads back completely with every checksum matching into
 * *c, falling back to older ones with a warning on stderr for each refused file. *path malloc'd
 * (NULL, *c zeroed, MB_OK if dir holds no ckpt-<step>.h5 at all); MB_EIO naming the newest
 * file's fault if there are some but none is valid. Not collective. */
mb_err mb_ckpt_load_newest(const char *dir, mb_ckpt *c, char **path, int64_t *step);
/* Remove all but the newest `keep` complete ckpt-<step>.h5 files of dir (keep <= 0 keeps all),
 * and temporaries of writers no longer running. Files that are not complete checkpoints are
 * left alone. */
mb_err mb_ckpt_prune(const char *dir, int keep);

/* Predictions: /predictions [N] (kout == 1) or [N, kout], /label [N] (float64), written with
 * collective parallel HDF5, each rank its rows [lo, hi). The file is created anew (truncated)
 * via a temporary name and renamed when complete. Collective. */
mb_err mb_predictions_write(const mb_comm *c, const char *path, int64_t n, int64_t kout, int64_t lo,
                            int64_t hi, const double *pred, const double *label);
/* The same, also recording how fast the predictions were made: attributes predict_s = seconds
 * (rank 0's value: reading, preprocessing and applying the model, before this write) and
 * items_per_s = n / seconds on `/`. seconds < 0 records nothing. Collective. */
mb_err mb_predictions_write_timed(const mb_comm *c, const char *path, int64_t n, int64_t kout,
                                  int64_t lo, int64_t hi, const double *pred, const double *label,
                                  double seconds);
