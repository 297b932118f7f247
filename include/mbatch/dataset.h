/* dataset.h - reading a training or prediction dataset from HDF5, in either layout.
 *
 * Layouts (see DESIGN.md): "matrix" (/X [N, D] float32|float64, optional string-array attribute
 * `columns`; /y [N]) and "columns" (a group of 1-D datasets of length N, one per column).
 * Values arrive in memory as doubles, one row-major raw matrix [rows][ncol] with the job's
 * features in the job's order (categorical columns hold their integer codes as doubles).
 *
 * Rank 0 validates the metadata (file, datasets, shapes, dtypes, names) and broadcasts it; all
 * ranks agree on any error (mb_agree), so every function here is Collective and never hangs.
 * The file is only ever opened read-only.
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"

typedef enum { MB_IO_PARALLEL = 0, MB_IO_SCATTER = 1 } mb_io_mode;

typedef struct mb_dataset_spec {
    const char *path;
    const char *X, *y;     /* matrix layout; NULL when group is set */
    const char *group;     /* columns layout */
    char *const *features; /* nfeatures names; matrix layout: names from the `columns`
                              attribute (all columns when nfeatures == 0) */
    int nfeatures;
    const char *target;       /* columns layout: the target column's name */
    char *const *categorical; /* names of integer columns to one-hot encode (subset of features) */
    int ncategorical;
} mb_dataset_spec;

typedef struct mb_dataset mb_dataset; /* opaque */

/* Open and validate. need_target: 1 for training (y must exist), 0 for predict (y is read when
 * present). Errors: missing file (MB_EIO), not HDF5 (MB_EIO), missing dataset or column
 * (MB_EDATA), row counts differ (MB_EDATA), unsupported dtype (MB_EDATA), zero rows (MB_EDATA),
 * a categorical column that is not integer (MB_EDATA). Collective. */
mb_err mb_dataset_open(const mb_comm *c, const mb_dataset_spec *spec, int need_target,
                       mb_dataset **out);

int64_t mb_dataset_rows(const mb_dataset *ds);
int64_t mb_dataset_ncol(const mb_dataset *ds);
const char *mb_dataset_colname(const mb_dataset *ds, int64_t c);
int mb_dataset_is_categorical(const mb_dataset *ds, int64_t c);
int mb_dataset_has_target(const mb_dataset *ds);
const char *mb_dataset_target_name(const mb_dataset *ds); /* e.g. "/y" or "/group/label" */
const char *mb_dataset_path(const mb_dataset *ds);
/* A checksum of the metadata (names, dtypes, shapes, N): identifies "the same dataset". */
uint64_t mb_dataset_checksum(const mb_dataset *ds);

/* Read this rank's shard, rows [lo, hi) = mb_shard_bounds(N, rank, size), into raw
 * [(hi-lo)][ncol] and, when the dataset has a target and y != NULL, y [hi-lo].
 * MB_IO_PARALLEL: every rank reads its own hyperslab with collective MPI-IO.
 * MB_IO_SCATTER: rank 0 reads blocks of rows and scatters them (MPI_Scatterv); no other rank
 * touches the file. Then every rank checks its rows: a NaN/Inf feature is MB_EDATA naming the
 * rank, file, dataset, row and column. Collective. */
mb_err mb_dataset_read(const mb_comm *c, mb_dataset *ds, mb_io_mode mode, double *raw, double *y);
/* mb_dataset_read with shards other than mb_shard_bounds': rank r reads rows
 * [shards[2r], shards[2r+1]); every rank passes the same array of 2 * c->size bounds (disjoint,
 * within [0, N)). Reproducible mode's whole-microblock shards come this way. Collective. */
mb_err mb_dataset_read_shards(const mb_comm *c, mb_dataset *ds, mb_io_mode mode,
                              const int64_t *shards, double *raw, double *y);

void mb_dataset_close(mb_dataset *ds); /* NULL-safe; not collective (file already closed) */

/* Streaming (src/run/stream.c): one rank reads blocks of its own rows outside any collective. */
typedef enum { MB_ELEM_F64 = 0, MB_ELEM_F32 = 1, MB_ELEM_I32 = 2, MB_ELEM_I64 = 3 } mb_elem;

/* Where the rows lie in the file when every dataset the read needs is contiguous, allocated,
 * unfiltered and of a native type (mb_elem), so that pread of the file gives the values. */
typedef struct mb_dataset_direct {
    int matrix;          /* 1: rows of one row-major [N][width] dataset; 0: a 1-D one per column */
    int64_t width;       /* matrix: elements per row of /X */
    int identity;        /* matrix: the raw columns are all of /X's, in order */
    const int64_t *xcol; /* matrix: the /X column of each raw column (ncol) */
    int64_t x_offset;    /* matrix: byte offset of row 0 */
    mb_elem x_elem;      /* matrix: element type */
    int64_t *col_offset; /* columns layout: byte offset of row 0 of each raw column (ncol) */
    mb_elem *col_elem;   /* columns layout: element type of each raw column (ncol) */
    int64_t y_offset;    /* the target's byte offset of row 0 */
    mb_elem y_elem;
} mb_dataset_direct;

typedef struct mb_dataset_blocks mb_dataset_blocks; /* opaque: a rank's own serial HDF5 handle */

/* Open ds's file on this rank alone (sec2 driver, read-only) for block reads, and find out whether
 * the direct path applies. Not collective. Free with mb_dataset_blocks_close. */
mb_err mb_dataset_blocks_open(const mb_dataset *ds, mb_dataset_blocks **out);
/* The direct layout, or NULL with *why saying which dataset is not readable with pread. */
const mb_dataset_direct *mb_dataset_blocks_direct(const mb_dataset_blocks *b, const char **why);
/* Rows [start, start+cnt) through HDF5 into raw [cnt][ncol] and y [cnt], unchecked. Not
 * collective; HDF5 is not thread-safe here, so only the thread that opened b may call it. */
mb_err mb_dataset_blocks_read(mb_dataset_blocks *b, int64_t start, int64_t cnt, double *raw,
                              double *y);
void mb_dataset_blocks_close(mb_dataset_blocks *b); /* NULL-safe */
