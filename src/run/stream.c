/* stream.c - full-batch gradient epochs over a shard read block by block, double-buffered. */
#define _GNU_SOURCE /* pread */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbatch/model.h"
#include "mbatch/partition.h"
#include "mbatch/place.h"
#include "mbatch/preprocess.h"
#include "bigmem.h"
#include "guard.h"
#include "io/fsutil.h"
#include "shared.h"
#include "solve_run.h"
#include "trees.h"

/* The most training rows in one block: 2048 rows of 64 float64 features are 1 MiB, so a block the
 * reader has just written is still in the last-level cache when the kernel reads it. Measured on
 * the 1,000,000 x 64 benchmark file (tests/bench/stream.sh): larger caps only add cache misses.
 * MBATCH_STREAM_BLOCK_ROWS overrides it (a multiple of 16). */
#define BLOCK_CAP 2048

enum { SLOT_EMPTY = 0, SLOT_FULL = 1 };

typedef struct slot {
    double *raw, *yraw;  /* file rows of the block: features [span][ncol], labels [span] */
    const double *rawp;  /* or the features in place, in the mapped file (float64 /X rows) */
    double *tmp;         /* one standardized row before float32 narrowing */
    unsigned char *byte; /* pread staging when the file's values are not raw doubles */
    void *X;             /* the block's training rows, standardized, in the job's dtype */
    double *y;
    int64_t rows; /* training rows in X */
    int state;
    mb_err err;
    char msg[MB_ERRMSG_MAX];
} slot;

struct mb__stream {
    const mb_dataset *ds;
    mb_dataset_blocks *blocks; /* serial HDF5 handle: the main thread's fallback reads */
    const mb_dataset_direct *dir;
    int fd; /* pread path: the file, opened read-only */
    /* A float64 /X holding exactly the job's columns is mapped: the reader standardizes straight
     * from the page cache (no copy), and drops each block's pages behind it. */
    const unsigned char *map;
    size_t map_len;
    int64_t lo, ncol, d, k;
    mb_dtype dt;
    const unsigned char *isval; /* this rank's rows: 1 for validation */
    int64_t nblocks, *cut;      /* block b is file rows [cut[b], cut[b+1]) of the shard */
    int64_t span, bt;           /* most file rows of a block; training rows per block */
    size_t stage_bytes;         /* per slot */
    const double *mean, *std;
    slot slot[2];
    /* Reader thread: fills block number `produced` (cyclic over the blocks) into slot produced%2.
     */
    pthread_t thread;
    int threaded, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t produced, consumed;
    unsigned char *isval_own;
    double *mean_own, *std_own;
    /* io.stream_cache: the training rows standardized once into an unlinked file and mapped, so
     * an epoch is one kernel call over the page cache (no per-epoch transform). */
    const unsigned char *cache;
    size_t cache_len;
    int64_t cache_rows;
    const double *cache_y;
    int cache_fd;
};

/* ---------------------------------------------------------------------------------------------
 * Which jobs stream */

/* What reads the standardized copy as its shard: everything but full-batch gradient steps on one
 * thread, which can also stream block by block (mb__stream_grad). */
typedef enum { COPY_NONE, COPY_MINIBATCH, COPY_THREADS, COPY_SOLVER, COPY_MLP } copy_user;

static copy_user copy_user_of(const mb_job *job, int64_t n_train) {
    if (mb__job_model_type(job) == MB_MODEL_MLP) return COPY_MLP;
    if (mb__solve_wanted(job)) return COPY_SOLVER;
    if (job->batch.size > 0 && job->batch.size < n_train) return COPY_MINIBATCH;
    return job->threads > 1 ? COPY_THREADS : COPY_NONE;
}

/* What such a job can do instead of making the copy. */
static const char *const COPY_INSTEAD[] = {"", "use batch.size \"full\"", "set threads to 1",
                                           "use a gradient optimizer with batch.size \"full\"",
                                           "raise io.memory_budget to hold the data"};

/* Empty when the job can stream; otherwise why not and what to change. */
static void why_not(const mb_job *job, const mb__state *s, char *why, size_t n) {
    int64_t n_train = s->n - mb_split_nval(s->n, job->dataset.validation_fraction);
    const char *mt = job->model.type ? job->model.type : "";
    int no_copy = job->io.stream_cache && strcmp(job->io.stream_cache, "none") == 0;
    copy_user u = copy_user_of(job, n_train);
    why[0] = '\0';
    if (mb__is_tree_model(mt))
        snprintf(why, n, "model.type \"%s\" grows trees from the whole shard", mt);
    else if (mb__solve_wanted(job) && strcmp(job->optimizer.type, "exact") == 0 &&
             job->optimizer.solver && strcmp(job->optimizer.solver, "qr") == 0)
        snprintf(why, n,
                 "optimizer.solver \"qr\" factors the whole shard in memory; use \"cholesky\" "
                 "(the default; it streams)");
    else if (job->reproducible)
        snprintf(why, n,
                 "\"reproducible\": true cuts the shard into microblocks in memory; "
                 "set it to false");
    else if (u != COPY_NONE && no_copy) {
        char who[128];
        if (u == COPY_MLP)
            snprintf(who, sizeof who, "model.type \"mlp\" gathers its mini-batches from");
        else if (u == COPY_SOLVER)
            snprintf(who, sizeof who, "optimizer.type \"%s\" reads", job->optimizer.type);
        else if (u == COPY_MINIBATCH)
            snprintf(who, sizeof who,
                     "batch.size %lld is a mini-batch, whose rows are gathered at every step from",
                     (long long)job->batch.size);
        else
            snprintf(who, sizeof who, "threads %lld share", (long long)job->threads);
        snprintf(why, n,
                 "%s the standardized copy, and io.stream_cache is \"none\"; set "
                 "io.stream_cache to a directory (the default is the run directory) or %s",
                 who, COPY_INSTEAD[u]);
    } else if (job->report_gap)
        snprintf(why, n, "report_gap computes the optimum from the whole shard; turn it off");
    else
        for (int64_t j = 0; j < s->ncol; j++)
            if (mb_dataset_is_categorical(s->ds, j)) {
                snprintf(why, n,
                         "categorical column '%s' is one-hot encoded from categories fitted on "
                         "the whole shard; encode it in the file",
                         mb_dataset_colname(s->ds, j));
                break;
            }
}

/* Rank 0: guard.c's over-budget message, the start of a refusal when even streaming cannot fit. */
static char over_msg[MB_ERRMSG_MAX];

mb_err mb__stream_check(const mb_comm *c, const mb_job *job, const mb__state *s, int *streaming) {
    *streaming = 0;
    mb_err err = mb__check_memory_budget(c, job, s->ds);
    int64_t over = err != MB_OK;
    mb_allreduce_max_i64(c, &over, 1);
    if (!over) return MB_OK;
    char why[512];
    why_not(job, s, why, sizeof why);
    if (why[0]) {
        if (c->rank == 0) {
            char msg[MB_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", mb_error_message());
            mb_error_clear();
            err = mb_error_set(MB_EDATA,
                               "%s; streaming (reading the shard block by block) covers "
                               "the gradient optimizers (linear models and the mlp) and the "
                               "solvers, and %s",
                               msg, why);
        }
        return mb_agree(c, err, NULL);
    }
    if (c->rank == 0) {
        snprintf(over_msg, sizeof over_msg, "%s", mb_error_message());
        mb_error_clear();
    }
    *streaming = 1;
    return MB_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reading one block's file rows */

static int64_t elem_size(mb_elem e) {
    return e == MB_ELEM_F64 || e == MB_ELEM_I64 ? 8 : 4;
}

/* The same value HDF5's conversion to double gives. */
static double elem_get(const unsigned char *p, mb_elem e) {
    switch (e) {
    case MB_ELEM_F64: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case MB_ELEM_F32: {
        float v;
        memcpy(&v, p, 4);
        return (double)v;
    }
    case MB_ELEM_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return (double)v;
    }
    default: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    }
}

/* pread all of [off, off+len) into buf; a message in msg on failure. Thread-safe. */
static int pread_all(int fd, void *buf, size_t len, int64_t off, const char *path, char *msg) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(msg, MB_ERRMSG_MAX, "%s: reading %zu bytes at offset %lld: %s", path, len,
                     (long long)off, r < 0 ? strerror(errno) : "the file ends early");
            return -1;
        }
        p += r;
        len -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Values of n consecutive elements of type e into doubles (dst may be the staging itself only
 * for float64, where no conversion is needed and this is not called). */
static void widen(const unsigned char *src, mb_elem e, int64_t n, double *dst) {
    int64_t es = elem_size(e);
    for (int64_t i = 0; i < n; i++) dst[i] = elem_get(src + i * es, e);
}

/* File rows [a, b) of the shard into sl->raw and sl->yraw with pread. Thread-safe. */
static int read_direct(mb__stream *st, slot *sl, int64_t a, int64_t b) {
    const mb_dataset_direct *dir = st->dir;
    const char *path = mb_dataset_path(st->ds);
    int64_t rows = b - a, g0 = st->lo + a, ncol = st->ncol;
    sl->rawp = NULL;
    if (dir->matrix && st->map) {
        sl->rawp = (const double *)(const void *)(st->map + dir->x_offset + g0 * dir->width * 8);
    } else if (dir->matrix) {
        int64_t es = elem_size(dir->x_elem), rowb = dir->width * es;
        int f64id = dir->identity && dir->x_elem == MB_ELEM_F64;
        void *dst = f64id ? (void *)sl->raw : (void *)sl->byte;
        if (pread_all(st->fd, dst, (size_t)(rows * rowb), dir->x_offset + g0 * rowb, path, sl->msg))
            return -1;
        if (!f64id)
            for (int64_t i = 0; i < rows; i++)
                for (int64_t c = 0; c < ncol; c++)
                    sl->raw[i * ncol + c] =
                        elem_get(sl->byte + i * rowb + dir->xcol[c] * es, dir->x_elem);
    } else {
        for (int64_t c = 0; c < ncol; c++) {
            int64_t es = elem_size(dir->col_elem[c]);
            if (pread_all(st->fd, sl->byte, (size_t)(rows * es), dir->col_offset[c] + g0 * es, path,
                          sl->msg))
                return -1;
            for (int64_t i = 0; i < rows; i++)
                sl->raw[i * ncol + c] = elem_get(sl->byte + i * es, dir->col_elem[c]);
        }
    }
    int64_t ye = elem_size(dir->y_elem);
    void *ydst = dir->y_elem == MB_ELEM_F64 ? (void *)sl->yraw : (void *)sl->byte;
    if (pread_all(st->fd, ydst, (size_t)(rows * ye), dir->y_offset + g0 * ye, path, sl->msg))
        return -1;
    if (dir->y_elem != MB_ELEM_F64) widen(sl->byte, dir->y_elem, rows, sl->yraw);
    return 0;
}

/* File rows [a, b) of the shard into sl->raw/sl->yraw: pread, or HDF5 (main thread only). */
static mb_err read_rows(mb__stream *st, slot *sl, int64_t a, int64_t b) {
    if (st->dir) {
        if (read_direct(st, sl, a, b) == 0) return MB_OK;
        return mb_error_set(MB_EIO, "%s", sl->msg);
    }
    sl->rawp = NULL;
    return mb_dataset_blocks_read(st->blocks, st->lo + a, b - a, sl->raw, sl->yraw);
}

/* The training rows of block kb, standardized and stored as dt: exactly the in-memory load's
 * operations (mb_pre_expand of numeric columns is a copy, then mb_pre_apply, then
 * mb_dtype_store), row by row. */
static void build_block(mb__stream *st, slot *sl, int64_t kb) {
    int64_t a = st->cut[kb], b = st->cut[kb + 1], d = st->d, r = 0;
    int64_t es = mb_dtype_size(st->dt);
    const double *base = sl->rawp ? sl->rawp : sl->raw, *mean = st->mean, *std = st->std;
    for (int64_t i = a; i < b; i++) {
        if (st->isval[i]) continue;
        const double *row = base + (i - a) * st->ncol;
        /* mb_pre_apply's expression, written out of place (the mapped rows are read-only). */
        double *o = st->dt == MB_DTYPE_F64 ? (double *)sl->X + r * d : sl->tmp;
        for (int64_t j = 0; j < d; j++) o[j] = (row[j] - mean[j]) / std[j];
        if (st->dt != MB_DTYPE_F64)
            mb_dtype_store(st->dt, o, d, (unsigned char *)sl->X + r * d * es);
        sl->y[r++] = sl->yraw[i - a];
    }
    sl->rows = r;
    if (sl->rawp) { /* done with these pages: keep the mapping's resident part to the blocks */
        long pg = sysconf(_SC_PAGESIZE);
        uintptr_t lo = ((uintptr_t)base + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
        uintptr_t hi = (uintptr_t)(base + (b - a) * st->ncol) / (uintptr_t)pg * (uintptr_t)pg;
        if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
}

static void *reader_main(void *arg) {
    mb__stream *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        slot *sl = &st->slot[st->produced % 2];
        while (!st->stop && sl->state != SLOT_EMPTY) pthread_cond_wait(&st->cv, &st->mu);
        int64_t kb = st->produced % st->nblocks;
        int stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop) return NULL;
        int bad = read_direct(st, sl, st->cut[kb], st->cut[kb + 1]);
        if (!bad) build_block(st, sl, kb);
        pthread_mutex_lock(&st->mu);
        sl->err = bad ? MB_EIO : MB_OK;
        sl->state = SLOT_FULL;
        st->produced++;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
    }
}

mb_err mb__stream_grad(mb__stream *st, mb_model_type t, const double *theta, double *g,
                       double *work, double *loss) {
    mb_err err = MB_OK;
    double sum = 0;
    for (int64_t kb = 0; kb < st->nblocks; kb++) {
        slot *sl = &st->slot[st->consumed % 2];
        if (st->threaded) {
            pthread_mutex_lock(&st->mu);
            while (sl->state != SLOT_FULL) pthread_cond_wait(&st->cv, &st->mu);
            pthread_mutex_unlock(&st->mu);
            if (sl->err && !err) err = mb_error_set(sl->err, "%s", sl->msg);
        } else {
            if (!err) err = read_rows(st, sl, st->cut[kb], st->cut[kb + 1]);
            if (!err) build_block(st, sl, kb);
        }
        if (!err && sl->rows > 0)
            sum += mb_kernel_grad(t, sl->X, st->dt, sl->y, NULL, sl->rows, st->d, st->k, theta, g,
                                  work);
        if (st->threaded) {
            pthread_mutex_lock(&st->mu);
            sl->state = SLOT_EMPTY;
            st->consumed++;
            pthread_cond_broadcast(&st->cv);
            pthread_mutex_unlock(&st->mu);
        }
    }
    *loss = sum;
    return err;
}

/* The blocks' buffers and the source file's handles: every epoch's reading, or the copy's one
 * pass. NULL-safe members; the reader thread must be stopped (or never started). */
static void release_blocks(mb__stream *st) {
    if (st->map) munmap((void *)st->map, st->map_len);
    st->map = NULL;
    if (st->fd >= 0) close(st->fd);
    st->fd = -1;
    mb_dataset_blocks_close(st->blocks);
    st->blocks = NULL;
    for (int i = 0; i < 2; i++) {
        free(st->slot[i].raw);
        free(st->slot[i].tmp);
        free(st->slot[i].yraw);
        free(st->slot[i].byte);
        free(st->slot[i].X);
        free(st->slot[i].y);
        memset(&st->slot[i], 0, sizeof st->slot[i]);
    }
}

const void *mb__train_rows(const mb__state *s, const double **y) {
    const mb__stream *st = s->stream;
    *y = !st ? s->ytr : st->cache ? st->cache_y : NULL;
    return !st ? (const void *)s->Xtr : st->cache;
}

void mb__stream_free(mb__stream *st) {
    if (!st) return;
    if (st->threaded) {
        pthread_mutex_lock(&st->mu);
        st->stop = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
    }
    release_blocks(st);
    if (st->cache) munmap((void *)st->cache, st->cache_len);
    if (st->cache_fd >= 0) close(st->cache_fd);
    free(st->cut);
    free(st->isval_own);
    free(st);
}

/* ---------------------------------------------------------------------------------------------
 * Sizing and loading */

/* Cut the shard's m file rows into blocks of bt training rows (the last may have fewer); returns
 * the block count and the most file rows of any block in *span. cut has room for m / bt + 2. */
static int64_t cut_blocks(const unsigned char *isval, int64_t m, int64_t bt, int64_t *cut,
                          int64_t *span) {
    int64_t nb = 0, have = 0;
    cut[0] = 0;
    *span = 0;
    for (int64_t i = 0; i < m; i++) {
        have += !isval[i];
        if (have == bt) {
            cut[++nb] = i + 1;
            have = 0;
        }
    }
    if (nb == 0 || cut[nb] < m) cut[++nb] = m;
    for (int64_t b = 0; b < nb; b++)
        if (cut[b + 1] - cut[b] > *span) *span = cut[b + 1] - cut[b];
    return nb;
}

/* Bytes of staging per file row for pread (0 when float64 rows land in raw directly). */
static int64_t stage_per_row(const mb_dataset_direct *dir, int64_t ncol) {
    if (!dir) return 0;
    int64_t y = elem_size(dir->y_elem), x = 0;
    if (dir->matrix) {
        if (!(dir->identity && dir->x_elem == MB_ELEM_F64)) x = dir->width * elem_size(dir->x_elem);
    } else {
        for (int64_t c = 0; c < ncol; c++)
            if (elem_size(dir->col_elem[c]) > x) x = elem_size(dir->col_elem[c]);
    }
    return x > y ? x : y;
}

/* Bytes the two slots take for blocks of bt training rows spanning `span` file rows. */
static double slots_bytes(const mb__stream *st, int64_t span, int64_t bt, int64_t stage) {
    double per_file = 8.0 * (double)(st->ncol + 1) + (double)stage;
    double per_train = (double)(mb_dtype_size(st->dt) * st->d + 8);
    return 2.0 * ((double)span * per_file + (double)bt * per_train);
}

static mb_err alloc_slots(mb__stream *st, int64_t stage) {
    for (int i = 0; i < 2; i++) {
        slot *sl = &st->slot[i];
        sl->raw = mb__alloc(sizeof(double) * (size_t)(st->span * st->ncol + 1), "a stream block");
        sl->yraw = mb__alloc(sizeof(double) * (size_t)(st->span + 1), "a stream block");
        sl->byte = stage > 0 ? mb__alloc((size_t)(stage * st->span), "a stream block") : NULL;
        sl->X = mb__alloc_rows((size_t)(mb_dtype_size(st->dt) * st->d * st->bt + 8),
                               "a stream block"); /* rows on cache lines, as in memory */
        sl->y = mb__alloc(sizeof(double) * (size_t)(st->bt + 1), "a stream block");
        sl->tmp = mb__alloc(sizeof(double) * (size_t)(st->d + 1), "a stream block");
        if (!sl->tmp || !sl->raw || !sl->yraw || (stage > 0 && !sl->byte) || !sl->X || !sl->y)
            return mb_error_code();
    }
    return MB_OK;
}

static const char *nonfinite_name(double v) {
    return isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
}

/* Pass over the blocks on the main thread: check and collect (pass 0: features finite, the
 * largest label, the column sums of the training rows, the validation rows; pass 1: labels,
 * the squared deviations). */
static mb_err fit_pass(mb__stream *st, mb__state *s, mb_model_type t, int pass, double *acc,
                       int64_t *ymax, int fit) {
    mb_err err = MB_OK;
    slot *sl = &st->slot[0];
    int64_t ncol = st->ncol, iv = 0;
    for (int64_t kb = 0; kb < st->nblocks && !err; kb++) {
        int64_t a = st->cut[kb], b = st->cut[kb + 1], rows = b - a;
        MB_TRY(read_rows(st, sl, a, b));
        const double *raw = sl->rawp ? sl->rawp : sl->raw;
        if (pass == 0) {
            int64_t i = mb_first_nonfinite(raw, rows * ncol);
            if (i >= 0)
                MB_TRY(mb_error_set(MB_EDATA, "%s: row %lld column '%s' is %s",
                                    mb_dataset_path(st->ds), (long long)(st->lo + a + i / ncol),
                                    mb_dataset_colname(st->ds, i % ncol), nonfinite_name(raw[i])));
            i = mb_first_nonfinite(sl->yraw, rows);
            if (i >= 0)
                MB_TRY(mb_error_set(MB_EDATA, "%s: %s row %lld is %s", mb_dataset_path(st->ds),
                                    mb_dataset_target_name(st->ds), (long long)(st->lo + a + i),
                                    nonfinite_name(sl->yraw[i])));
            for (int64_t r = 0; r < rows; r++) {
                double v = sl->yraw[r];
                if (v >= 0 && v < 1e6 && (int64_t)v > *ymax) *ymax = (int64_t)v;
                const double *x = raw + r * ncol;
                if (st->isval[a + r]) {
                    mb_pre_expand(x, 1, ncol, NULL, NULL, s->Xva + iv * st->d);
                    s->yva[iv++] = v;
                } else if (fit) {
                    mb_pre_colsum(x, 1, st->d, acc);
                }
            }
        } else {
            MB_TRY(mb__check_labels(st->ds, t, t == MB_MODEL_LOGISTIC ? 2 : s->k, sl->yraw, rows,
                                    st->lo + a));
            if (fit)
                for (int64_t r = 0; r < rows; r++)
                    if (!st->isval[a + r])
                        mb_pre_colsqdev(raw + r * ncol, 1, st->d, s->ck.mean, acc);
        }
    }
out:
    return err;
}

/* What a streamed solver holds besides the blocks: newton and exact (cholesky) the Hessian, its
 * factorization's copy and the row buffers of its updates (solve_run.c), lbfgs its history. */
static double solver_bytes(const mb_job *job, int64_t d, int64_t k) {
    double np = (double)mb_model_nparam(d, k), p1 = (double)d + 1;
    if (strcmp(job->optimizer.type, "lbfgs") != 0) /* newton, exact (cholesky) */
        return 8.0 * (3.0 * np * np + (double)(k * (k + 1) / 2) * p1 * p1 +
                      2.0 * fmin(2048.0, fmax(64.0, (double)(1 << 21) / p1)) * (p1 + (double)k));
    return 8.0 * np * (2.0 * (double)job->optimizer.history + 6.0);
}

/* What a streamed mlp job holds besides the blocks (mlp_train.c): the epoch order (24 bytes a
 * row), a batch's rows and the layers' activations for it (mb_mlp_pass_new). */
static double mlp_bytes(const mb_job *job, int64_t d, int64_t k, int64_t m, int64_t n_train) {
    int64_t b = job->batch.size == 0 || job->batch.size >= n_train ? n_train : job->batch.size;
    int64_t cap = job->batch.adaptive && job->batch.max_size > b ? job->batch.max_size : b;
    double rows = (double)(cap < m ? cap : m), per = (double)d + 3.0 * (double)k, wmax = (double)k;
    for (int l = 0; l < job->model.nhidden; l++) {
        per += 3.0 * (double)job->model.hidden[l];
        wmax = fmax(wmax, (double)job->model.hidden[l]);
    }
    return 24.0 * (double)m + 16.0 * (double)(mb_batch_count(n_train, b) + 1) +
           8.0 * rows * (per + 2.0 * wmax);
}

/* Every rank's need (bytes per node; 0: fits) is compared: over the budget anywhere, rank 0
 * refuses with guard.c's message and the least budget that would stream. Collective. */
static mb_err refuse_small(const mb_comm *c, double budget, double need, const char *extra) {
    mb_err err = MB_OK;
    mb_allreduce_max_double(c, &need, 1);
    if (need <= 0) return MB_OK;
    if (c->rank == 0)
        err = mb_error_set(MB_EDATA,
                           "%s; streaming it block by block needs at least %.0f bytes per node "
                           "(each rank's validation rows, held in memory, and two blocks of 16 "
                           "training rows, 256 for softmax%s), over the budget of %.0f bytes; set "
                           "io.memory_budget to at least %.0f, use more nodes or lower "
                           "dataset.validation_fraction",
                           over_msg, ceil(need), extra, budget, ceil(need));
    return mb_agree(c, err, NULL);
}

static int64_t block_cap(int64_t gran) {
    const char *env = getenv("MBATCH_STREAM_BLOCK_ROWS");
    int64_t v = env ? (int64_t)atoll(env) : 0;
    if (v < gran) v = BLOCK_CAP > gran ? BLOCK_CAP : gran;
    return v / gran * gran;
}

static int write_all(int fd, const void *buf, size_t len, off_t off) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, len -= (size_t)w, off += w;
    }
    return 0;
}

/* Standardize this rank's training rows once, block by block on the main thread (the same
 * operations as every epoch's blocks), into an unlinked file in `dir`, and map it: rows [mt][d]
 * of the job's dtype, then the labels at the next 64-byte boundary. Returns 0, or -1 with *why
 * set (the caller goes on standardizing every epoch). A read error is an error (*err). */
static int build_cache(mb__stream *st, const char *dir, int64_t mt, mb_err *err, char *why,
                       size_t nwhy) {
    int64_t es = mb_dtype_size(st->dt);
    size_t xbytes = ((size_t)(mt * st->d * es) + 63) / 64 * 64, len = xbytes + 8 * (size_t)mt;
    char path[4096];
    snprintf(path, sizeof path, "%s/.mbatch-stream-XXXXXX", dir);
    mb_err e = mb__mkdir_p(dir);
    int fd = e ? -1 : mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        if (e)
            snprintf(why, nwhy, "%s", mb_error_message());
        else
            snprintf(why, nwhy, "cannot create a file in %s: %s", dir, strerror(errno));
        mb_error_clear(); /* not an error: the caller falls back */
        return -1;
    }
    unlink(path); /* gone from the directory now; the blocks live while fd or the map does */
    int64_t r = 0;
    slot *sl = &st->slot[0];
    for (int64_t kb = 0; kb < st->nblocks && !*err; kb++) {
        *err = read_rows(st, sl, st->cut[kb], st->cut[kb + 1]);
        if (*err) break;
        build_block(st, sl, kb);
        if (write_all(fd, sl->X, (size_t)(sl->rows * st->d * es), (off_t)(r * st->d * es)) != 0 ||
            write_all(fd, sl->y, 8 * (size_t)sl->rows, (off_t)(xbytes + 8 * (size_t)r)) != 0) {
            snprintf(why, nwhy, "cannot write %.0f MiB to %s: %s", (double)len / 1048576.0, dir,
                     strerror(errno));
            close(fd);
            return -1;
        }
        r += sl->rows;
    }
    /* A rank without training rows maps a page of nothing: its copy exists, empty. */
    if (len == 0) len = ftruncate(fd, 64) == 0 ? 64 : 0;
    void *p = !*err && len > 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (*err || p == MAP_FAILED) {
        if (!*err) snprintf(why, nwhy, "cannot map the copy in %s: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    st->cache = p;
    st->cache_len = len;
    st->cache_fd = fd;
    st->cache_rows = r;
    st->cache_y = (const double *)((const unsigned char *)p + xbytes);
    return 0;
}

mb_err mb__stream_load(const mb_comm *c, const mb_job *job, mb__state *s, int have_prep) {
    mb_err err = MB_OK;
    mb_model_type t = mb__job_label_type(job);
    const char *path = mb_dataset_path(s->ds);
    double *acc = NULL; /* column sums, then squared deviations */
    mb__stream *st = calloc(1, sizeof *st);
    if (!st) err = mb_error_set(MB_EENV, "out of memory");
    MB_TRY(mb_agree(c, err, NULL));
    st->fd = -1;
    st->cache_fd = -1;
    s->stream = st;
    st->ds = s->ds;
    st->ncol = s->ncol;
    /* The split, as mb__load makes it. The solvers and the network read float64 rows whatever
     * the dtype, in memory as streamed. */
    s->n_val = mb_split_nval(s->n, job->dataset.validation_fraction);
    s->n_train = s->n - s->n_val;
    copy_user u = copy_user_of(job, s->n_train);
    st->dt = job->dtype && strcmp(job->dtype, "float32") == 0 && u != COPY_SOLVER && u != COPY_MLP
                 ? MB_DTYPE_F32
                 : MB_DTYPE_F64;
    mb_shard_bounds(s->n, c->rank, c->size, &s->lo, &s->hi);
    st->lo = s->lo;
    int64_t m = s->hi - s->lo;

    /* Before anything of the shard's size is allocated: the validation rows and the split alone
     * (about their expected count) must fit this rank's share. */
    double budget = (double)job->io.memory_budget;
    if (budget <= 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        budget = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    }
    double share = budget / (double)(c->local_size > 0 ? c->local_size : 1);
    double mv_est = (double)m * (double)s->n_val / (double)s->n;
    /* Refused here when even the validation rows cannot fit; the least budget named is rounded
     * up (more validation rows, wider blocks, 16 classes) so that it does stream. Short of that,
     * the exact count below decides. */
    int64_t k_est = t != MB_MODEL_SOFTMAX ? 1 : job->model.classes > 0 ? job->model.classes : 16;
    /* What the job holds besides the blocks: a mini-batch's epoch orders (this one and the
     * next, train.c and threads.c: 48 bytes a training row, at most m, and 16 a batch), a
     * solver's or the mlp's own buffers. */
    double own_bytes = 0;
    const char *extra = "";
    if (u == COPY_MINIBATCH) {
        own_bytes =
            48.0 * (double)m + 16.0 * (double)(mb_batch_count(s->n_train, job->batch.size) + 1);
        extra = ", besides the epoch orders, 48 bytes a row";
    } else if (u == COPY_SOLVER) {
        own_bytes = solver_bytes(job, s->ncol, k_est);
        extra = strcmp(job->optimizer.type, "lbfgs") != 0
                    ? ", besides the solver's Hessian and its row buffers"
                    : ", besides lbfgs's history";
    } else if (u == COPY_MLP) {
        own_bytes = mlp_bytes(job, s->ncol, k_est, m, s->n_train);
        extra = ", besides the epoch order and a batch's rows and activations";
    }
    double span_est = 32.0 * (double)m / fmax((double)m - mv_est, 1.0) + 16;
    double least =
        (mv_est * 1.05 + 16) * (8.0 * (double)s->ncol + 8) + (double)m + 8.0 * (double)s->ncol * 4 +
        64.0 * (double)mb_model_nparam(s->ncol, k_est) +
        8.0 * (double)mb_kernel_work_size(s->ncol, k_est) +
        2.0 * (span_est * 16.0 * (double)(s->ncol + 1) + 16.0 * (8.0 * (double)s->ncol + 8)) +
        own_bytes;
    double floor_need = mv_est * 0.9 * (8.0 * (double)s->ncol + 8) + (double)m + own_bytes;
    MB_TRY(refuse_small(c, budget, floor_need > share ? least * (double)c->local_size : 0, extra));
    st->isval_own = mb__alloc((size_t)m + 1, "the split");
    if (st->isval_own)
        for (int64_t i = 0; i < m; i++) {
            st->isval_own[i] =
                (unsigned char)mb_split_is_val(s->lo + i, s->n, s->n_val, (uint64_t)job->seed);
            s->mv += st->isval_own[i];
        }
    st->isval = st->isval_own;
    s->mt = m - s->mv;
    s->t_lo = mb_exscan_i64(c, s->mt);
    if (!have_prep) {
        s->ck.ncol = s->ncol;
        s->ck.columns = calloc((size_t)s->ncol + 1, sizeof *s->ck.columns);
        s->ck.ncat = calloc((size_t)s->ncol + 1, sizeof *s->ck.ncat);
        s->ck.cats = calloc((size_t)s->ncol + 1, sizeof *s->ck.cats);
        if (s->ck.columns)
            for (int64_t j = 0; j < s->ncol; j++)
                s->ck.columns[j] = strdup(mb_dataset_colname(s->ds, j));
    } else if (s->ck.ncol != s->ncol) {
        err = mb_error_set(MB_EUSAGE, "the checkpoint has %lld feature columns, the data %lld",
                           (long long)s->ck.ncol, (long long)s->ncol);
    } else {
        for (int64_t j = 0; j < s->ncol && !err; j++)
            if (s->ck.ncat[j] > 0)
                err = mb_error_set(MB_EUSAGE,
                                   "the checkpoint one-hot encodes column '%s'; streaming reads "
                                   "numeric columns only",
                                   mb_dataset_colname(s->ds, j));
    }
    if (!err && !st->isval_own) err = mb_error_code();
    MB_TRY(mb_agree(c, err, NULL));
    s->d = mb_pre_width(s->ncol, s->ck.ncat);
    st->d = s->d;

    /* This rank's share of the node's budget, less what it holds besides the two blocks. */
    int64_t nparam_est = mb_model_nparam(s->d, s->k > 0 ? s->k : 1);
    double fixed = (double)s->mv * (double)(8 * s->d + 8) + (double)m + 8.0 * (double)s->d * 4 +
                   8.0 * (double)nparam_est * 8 +
                   8.0 * (double)mb_kernel_work_size(s->d, s->k > 0 ? s->k : 1) + own_bytes;
    err = mb_dataset_blocks_open(s->ds, &st->blocks);
    const char *why = NULL;
    if (!err) st->dir = mb_dataset_blocks_direct(st->blocks, &why);
    if (!err && st->dir && (st->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        err = mb_error_set(MB_EIO, "rank %d: %s: cannot open for reading: %s", c->rank, path,
                           strerror(errno));
    if (!err && st->dir && st->dir->matrix && st->dir->identity && st->dir->x_elem == MB_ELEM_F64 &&
        st->dir->x_offset % 8 == 0) {
        struct stat sb;
        void *p = fstat(st->fd, &sb) == 0 && sb.st_size > 0
                      ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, st->fd, 0)
                      : MAP_FAILED;
        if (p != MAP_FAILED &&
            st->dir->x_offset + (s->hi * st->dir->width) * 8 <= (int64_t)sb.st_size) {
            st->map = p;
            st->map_len = (size_t)sb.st_size;
        } else if (p != MAP_FAILED) {
            munmap(p, (size_t)sb.st_size);
        }
    }
    MB_TRY(mb_agree(c, err, NULL));
    int64_t stage = stage_per_row(st->dir, st->ncol);
    /* Training rows of a block: as many as the share allows up to the cache-sized cap. */
    double frac = s->mt > 0 ? (double)m / (double)s->mt : 1.0;
    double per_train = 2.0 * (frac * (8.0 * (double)(st->ncol + 1) + (double)stage) +
                              (double)(mb_dtype_size(st->dt) * st->d + 8));
    /* Blocks are whole granules: 16 rows (two of the one-output kernel's 8-row blocks), 256 for
     * softmax, whose kernel hands rows to mb_model_grad 256 at a time; then block sums equal one
     * call's. */
    int64_t gran = t == MB_MODEL_SOFTMAX ? 256 : 16;
    int64_t cap = block_cap(gran), bt = cap;
    {
        double fit = (share - fixed) / per_train;
        bt = fit >= (double)cap ? cap : fit < (double)gran ? 0 : (int64_t)fit / gran * gran;
    }
    st->cut = mb__alloc(sizeof(int64_t) * (size_t)(m / 16 + 3), "the stream's blocks");
    if (!st->cut) err = mb_error_code();
    while (!err && bt >= gran) {
        st->nblocks = cut_blocks(st->isval, m, bt, st->cut, &st->span);
        if (fixed + slots_bytes(st, st->span, bt, stage) <= share) break;
        bt -= gran; /* validation rows bunched in one block: a little less */
    }
    double need = 0; /* per node, when the share cannot hold two blocks of one granule */
    if (!err && bt < gran) {
        int64_t span = 0;
        st->bt = gran;
        cut_blocks(st->isval, m, gran, st->cut, &span);
        need = (fixed + slots_bytes(st, span, gran, stage)) * (double)c->local_size;
    }
    MB_TRY(mb_agree(c, err, NULL));
    MB_TRY(refuse_small(c, budget, need, extra));
    st->bt = bt;
    if (!err) err = alloc_slots(st, stage);
    if (!err) {
        s->Xva =
            mb__alloc_rows(sizeof(double) * (size_t)(s->mv * s->d + 1), "the validation shard");
        s->yva = mb__alloc(sizeof(double) * (size_t)(s->mv + 1), "the validation labels");
        if (!s->Xva || !s->yva) err = mb_error_code();
    }
    MB_TRY(mb_agree(c, err, NULL));

    /* Pass 0: checks, the class count, the column sums, the validation rows. */
    int fit = !have_prep;
    acc = calloc((size_t)s->d * 2 + 1, sizeof *acc);
    if (fit) {
        s->ck.mean = calloc((size_t)s->d + 1, sizeof(double));
        s->ck.std = calloc((size_t)s->d + 1, sizeof(double));
    }
    if (!acc || (fit && (!s->ck.mean || !s->ck.std))) err = mb_error_set(MB_EENV, "out of memory");
    int64_t ymax = 1;
    double t_read = mb_wtime();
    if (!err) err = fit_pass(st, s, t, 0, acc, &ymax, fit);
    MB_TRY(mb_agree(c, err, NULL));
    mb_allreduce_max_i64(c, &ymax, 1);
    s->k = t != MB_MODEL_SOFTMAX ? 1 : job->model.classes > 0 ? job->model.classes : ymax + 1;
    st->k = s->k;
    if (fit) {
        mb_allreduce_sum(c, acc, s->d);
        for (int64_t j = 0; j < s->d; j++) s->ck.mean[j] = acc[j] / (double)s->n_train;
        memset(acc, 0, sizeof(double) * (size_t)s->d);
    }
    /* Pass 1: labels against the class count, the squared deviations. */
    err = fit_pass(st, s, t, 1, acc, &ymax, fit);
    MB_TRY(mb_agree(c, err, NULL));
    if (fit) {
        mb_allreduce_sum(c, acc, s->d);
        unsigned char *onehot = calloc((size_t)s->d + 1, 1); /* numeric columns only */
        mb_pre_finish(s->d, s->n_train, onehot, s->ck.mean, s->ck.std, acc);
        free(onehot);
    }
    s->io_total += mb_wtime() - t_read;
    mb_pre_apply(s->Xva, s->mv, s->d, s->ck.mean, s->ck.std);
    st->mean = s->ck.mean;
    st->std = s->ck.std;

    /* The standardized copy (io.stream_cache), else every epoch reads and standardizes again. */
    const char *cdir =
        job->io.stream_cache && job->io.stream_cache[0] ? job->io.stream_cache : job->run_dir;
    char cwhy[MB_ERRMSG_MAX] = "";
    if (strcmp(cdir, "none") != 0 && build_cache(st, cdir, s->mt, &err, cwhy, sizeof cwhy) != 0 &&
        !err) {
        if (u != COPY_NONE) { /* rows from anywhere in the shard, or threads sharing them */
            static const char *const noun[] = {"", "a mini-batch job", "a job with threads", "",
                                               "an mlp"};
            err = mb_error_set(
                MB_EDATA,
                "rank %d: %s streams from a standardized copy of the rank's rows (%.3g MiB), which "
                "cannot be made (%s); set io.stream_cache to a directory with room for it, or %s",
                c->rank, u == COPY_SOLVER ? job->optimizer.type : noun[u],
                (double)s->mt * (double)(s->d * mb_dtype_size(st->dt) + 8) / 1048576.0, cwhy,
                COPY_INSTEAD[u]);
        } else {
            fprintf(stderr,
                    "mbatch: warning: rank %d: streaming without a standardized copy (%s); every "
                    "epoch standardizes the blocks again\n",
                    c->rank, cwhy);
        }
    }
    if (st->cache) release_blocks(st); /* the epochs read only the copy */
    MB_TRY(mb_agree(c, err, NULL));
    /* The reader thread: only with pread; HDF5 stays on the main thread. */
    if (st->dir && !st->cache) {
        if (pthread_mutex_init(&st->mu, NULL) != 0 || pthread_cond_init(&st->cv, NULL) != 0 ||
            mb_place_helper_thread(&st->thread, reader_main, st) != 0)
            err =
                mb_error_set(MB_EENV, "rank %d: cannot start the stream's reader thread", c->rank);
        else
            st->threaded = 1;
    }
    MB_TRY(mb_agree(c, err, NULL));
    int64_t info[3] = {st->nblocks, -st->nblocks, st->cache ? 0 : 1};
    mb_allreduce_max_i64(c, info + 2, 1);
    mb_allreduce_min_i64(c, info, 2);
    if (c->rank == 0) {
        double held = fixed + (st->cache ? 0 : slots_bytes(st, st->span, st->bt, stage));
        if (!info[2])
            printf(
                "mbatch: streaming %s: over io.memory_budget; each rank standardized its rows "
                "once in %lld to %lld blocks of %lld rows into a copy in %s (deleted, mapped from "
                "the page cache); %s; rank 0 holds %.0f KiB\n",
                path, (long long)info[0], (long long)-info[1], (long long)st->bt, cdir,
                u == COPY_SOLVER ? "the solver reads the copy"
                : u == COPY_MINIBATCH || u == COPY_MLP
                    ? "mini-batches gather their rows from the copy"
                    : "full-batch epochs read the copy",
                held / 1024.0);
        else
            printf("mbatch: streaming %s: over io.memory_budget, full-batch epochs read %lld to "
                   "%lld blocks of %lld training rows per rank, %s; rank 0 holds %.0f KiB\n",
                   path, (long long)info[0], (long long)-info[1], (long long)st->bt,
                   st->map   ? "mapped, standardized by a reader thread, double-buffered"
                   : st->dir ? "pread on a reader thread, double-buffered"
                             : "through HDF5 on the main thread (no overlap)",
                   held / 1024.0);
        if (!st->dir && info[2]) printf("mbatch: streaming without overlap: %s\n", why ? why : "");
        fflush(stdout);
    }
out:
    free(acc);
    return err;
}
