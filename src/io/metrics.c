/* metrics.c - metrics.h5: the per-epoch table, the per-rank table and the job's KPIs. */
#include "mbatch/metrics.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5util.h"

#define EPOCH_CHUNK 64 /* rows per chunk of /epochs: one epoch is one row, so stay small */

/* The sec2 driver without HDF5's file lock: people open metrics.h5 with h5py while a job runs,
 * and their shared lock would otherwise make every append of the job fail. The writer is the
 * only process that modifies the file, and each call leaves it flushed and consistent. */
static hid_t metrics_fapl(void) {
    return mb__h5_fapl(1);
}

static hid_t epoch_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(mb_epoch_row));
    if (t < 0) return t;
#define F(name, type)                                                                              \
    if (H5Tinsert(t, #name, HOFFSET(mb_epoch_row, name), type) < 0) goto fail;
    F(epoch, H5T_NATIVE_INT64)
    F(step, H5T_NATIVE_INT64)
    F(train_loss, H5T_NATIVE_DOUBLE)
    F(val_loss, H5T_NATIVE_DOUBLE)
    F(val_metric, H5T_NATIVE_DOUBLE)
    F(lr, H5T_NATIVE_DOUBLE)
    F(batch_size, H5T_NATIVE_INT64)
    F(grad_norm, H5T_NATIVE_DOUBLE)
    F(epoch_s, H5T_NATIVE_DOUBLE)
    F(samples_per_s, H5T_NATIVE_DOUBLE)
    F(compute_s, H5T_NATIVE_DOUBLE)
    F(comm_s, H5T_NATIVE_DOUBLE)
    F(io_s, H5T_NATIVE_DOUBLE)
    F(imbalance, H5T_NATIVE_DOUBLE)
    F(read_s, H5T_NATIVE_DOUBLE)
#undef F
    return t;
fail:
    H5Tclose(t);
    return H5I_INVALID_HID;
}

static hid_t fixed_str(size_t size) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* The in-memory layout of mb_rank_row (with its padding); the file gets a packed copy. */
static hid_t rank_type(void) {
    hid_t ids[5] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                    H5I_INVALID_HID};
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(mb_rank_row));
    if (t < 0) return t;
    ids[0] = fixed_str(sizeof(((mb_rank_row *)0)->host));
    ids[1] = fixed_str(sizeof(((mb_rank_row *)0)->binding));
    ids[2] = fixed_str(sizeof(((mb_rank_row *)0)->gpu));
    ids[3] = fixed_str(sizeof(((mb_rank_row *)0)->cores));
    ids[4] = fixed_str(sizeof(((mb_rank_row *)0)->numa));
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0 || ids[3] < 0 || ids[4] < 0 ||
        H5Tinsert(t, "rank", HOFFSET(mb_rank_row, rank), H5T_NATIVE_INT32) < 0 ||
        H5Tinsert(t, "host", HOFFSET(mb_rank_row, host), ids[0]) < 0 ||
        H5Tinsert(t, "binding", HOFFSET(mb_rank_row, binding), ids[1]) < 0 ||
        H5Tinsert(t, "gpu", HOFFSET(mb_rank_row, gpu), ids[2]) < 0 ||
        H5Tinsert(t, "cores", HOFFSET(mb_rank_row, cores), ids[3]) < 0 ||
        H5Tinsert(t, "numa", HOFFSET(mb_rank_row, numa), ids[4]) < 0 ||
        H5Tinsert(t, "rows", HOFFSET(mb_rank_row, rows), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(t, "compute_s", HOFFSET(mb_rank_row, compute_s), H5T_NATIVE_DOUBLE) < 0 ||
        H5Tinsert(t, "comm_s", HOFFSET(mb_rank_row, comm_s), H5T_NATIVE_DOUBLE) < 0 ||
        H5Tinsert(t, "io_s", HOFFSET(mb_rank_row, io_s), H5T_NATIVE_DOUBLE) < 0) {
        H5Tclose(t);
        t = H5I_INVALID_HID;
    }
    mb__h5_close_all(ids, 5);
    return t;
}

static mb_err create_epochs(hid_t file, const char *path, hid_t *dset) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* type, space, dcpl */
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {EPOCH_CHUNK};
    MB_H5(ids[0] = epoch_type());
    MB_H5(ids[1] = H5Screate_simple(1, dims, maxdims));
    MB_H5(ids[2] = H5Pcreate(H5P_DATASET_CREATE));
    MB_H5(H5Pset_chunk(ids[2], 1, chunk));
    MB_H5(*dset = H5Dcreate2(file, "epochs", ids[0], ids[1], H5P_DEFAULT, ids[2], H5P_DEFAULT));
out:
    mb__h5_close_all(ids, 3);
    return err;
}

static mb_err create_file(const char *path) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* fapl, file, dset */
    MB_H5(ids[0] = metrics_fapl());
    MB_H5(ids[1] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, ids[0]));
    MB_TRY(create_epochs(ids[1], path, &ids[2]));
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
out:
    mb__h5_close_all(&ids[2], 1);
    if (ids[1] >= 0 && H5Fclose(ids[1]) < 0 && !err)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Fclose");
    mb__h5_close_all(ids, 1);
    return err;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Open path for writing, creating it (with an empty /epochs) if it does not exist. */
static mb_err open_rw(const char *path, hid_t *file) {
    mb_err err = MB_OK;
    hid_t fapl = H5I_INVALID_HID;
    *file = H5I_INVALID_HID;
    mb__h5_quiet();
    if (!file_exists(path)) MB_TRY(create_file(path));
    MB_H5(fapl = metrics_fapl());
    MB_H5(*file = H5Fopen(path, H5F_ACC_RDWR, fapl));
out:
    mb__h5_close_all(&fapl, 1);
    return err;
}

static mb_err open_epochs(hid_t file, const char *path, hid_t *dset) {
    mb_err err = MB_OK;
    htri_t exists = H5Lexists(file, "epochs", H5P_DEFAULT);
    MB_H5(exists);
    if (!exists) return create_epochs(file, path, dset);
    MB_H5(*dset = H5Dopen2(file, "epochs", H5P_DEFAULT));
out:
    return err;
}

static mb_err read_epochs(hid_t dset, const char *path, mb_epoch_row **rows, int64_t *n) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID}; /* space, type */
    hsize_t dims[1] = {0};
    *rows = NULL;
    *n = 0;
    MB_H5(ids[0] = H5Dget_space(dset));
    if (H5Sget_simple_extent_ndims(ids[0]) != 1) {
        err = mb_error_set(MB_EIO, "%s: /epochs is not a 1-D table", path);
        goto out;
    }
    MB_H5(H5Sget_simple_extent_dims(ids[0], dims, NULL));
    if (dims[0] > 0) {
        *rows = calloc(dims[0], sizeof **rows); /* a file from before read_s reads 0 there */
        if (!*rows) {
            err = mb_error_set(MB_EIO, "%s: out of memory reading /epochs", path);
            goto out;
        }
        MB_H5(ids[1] = epoch_type());
        MB_H5(H5Dread(dset, ids[1], H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows));
    }
    *n = (int64_t)dims[0];
out:
    if (err) {
        free(*rows);
        *rows = NULL;
    }
    mb__h5_close_all(ids, 2);
    return err;
}

/* Keep the rows with epoch < keep_from, in order, and shrink the table to them. A table written
 * before some of today's columns existed (read_s) is rebuilt with every column, its kept rows
 * written back (the new columns 0), so that the rows a resumed run appends are stored whole. */
static mb_err truncate_epochs(hid_t file, const char *path, int64_t keep_from) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* dset, type, file type */
    mb_epoch_row *rows = NULL;
    int64_t n = 0, m = 0;
    MB_TRY(open_epochs(file, path, &ids[0]));
    MB_TRY(read_epochs(ids[0], path, &rows, &n));
    for (int64_t i = 0; i < n; i++)
        if (rows[i].epoch < keep_from) rows[m++] = rows[i];
    MB_H5(ids[1] = epoch_type());
    MB_H5(ids[2] = H5Dget_type(ids[0]));
    int old = H5Tget_nmembers(ids[2]) < H5Tget_nmembers(ids[1]);
    if (m == n && !old) goto out;
    if (old) {
        H5Dclose(ids[0]);
        ids[0] = H5I_INVALID_HID;
        MB_H5(H5Ldelete(file, "epochs", H5P_DEFAULT));
        MB_TRY(create_epochs(file, path, &ids[0]));
    }
    /* The kept rows are normally a prefix already; rewriting them covers any other order. */
    hsize_t size[1] = {(hsize_t)m};
    MB_H5(H5Dset_extent(ids[0], size));
    if (m > 0) MB_H5(H5Dwrite(ids[0], ids[1], H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
out:
    free(rows);
    mb__h5_close_all(ids, 3);
    return err;
}

/* 1 if path opens as HDF5 with a readable (or no) /epochs table. The error slot is left as it
 * was: a failed probe is an answer here, not an error. */
static int metrics_readable(const char *path) {
    int ok = 0;
    mb_err saved = mb_error_code();
    char saved_msg[MB_ERRMSG_MAX];
    snprintf(saved_msg, sizeof saved_msg, "%s", mb_error_message());
    hid_t fapl = metrics_fapl();
    if (fapl >= 0 && H5Fis_hdf5(path) > 0) {
        hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (file >= 0) {
            hid_t dset = H5I_INVALID_HID;
            mb_epoch_row *rows = NULL;
            int64_t n = 0;
            ok = H5Lexists(file, "epochs", H5P_DEFAULT) == 0 ||
                 ((dset = H5Dopen2(file, "epochs", H5P_DEFAULT)) >= 0 &&
                  read_epochs(dset, path, &rows, &n) == MB_OK);
            free(rows);
            if (dset >= 0) H5Dclose(dset);
            H5Fclose(file);
        }
    }
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    if (saved)
        mb_error_replace(saved, saved_msg);
    else
        mb_error_clear();
    return ok;
}

double mb_epoch_read_fraction(const mb_epoch_row *r) {
    return r->epoch_s > 0 ? r->read_s / r->epoch_s : 0.0;
}

int mb_epochs_probed(const mb_epoch_row *rows, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (rows[i].read_s > 0) return 1;
    return 0;
}

mb_err mb_metrics_init(const char *path, int64_t keep_from) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    mb__h5_quiet();
    char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
        *slash = '\0';
        err = mb__mkdir_p(dir);
    }
    free(dir);
    if (err) return err;
    if (!file_exists(path)) return create_file(path);
    if (!metrics_readable(path)) {
        /* A job killed while HDF5 was writing can leave the file unreadable. The run itself is
         * still resumable, so keep the old file for inspection and start a new table. */
        size_t len = strlen(path) + sizeof ".corrupt";
        char *aside = malloc(len);
        if (!aside) return mb_error_set(MB_EIO, "%s: out of memory", path);
        snprintf(aside, len, "%s.corrupt", path);
        if (rename(path, aside) != 0) {
            err = mb_error_set(MB_EIO, "%s: unreadable, and moving it to %s failed: %s", path,
                               aside, strerror(errno));
            free(aside);
            return err;
        }
        fprintf(stderr, "mbatch: warning: %s was unreadable; moved it to %s and started anew\n",
                path, aside);
        free(aside);
        return create_file(path);
    }
    MB_TRY(open_rw(path, &file));
    MB_TRY(truncate_epochs(file, path, keep_from));
out:
    return mb__h5_flush_close(file, path, err);
}

mb_err mb_metrics_append(const char *path, const mb_epoch_row *row) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t dims[1], one[1] = {1};
    MB_TRY(open_rw(path, &file));
    MB_TRY(open_epochs(file, path, &ids[0]));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    MB_H5(H5Sget_simple_extent_dims(ids[1], dims, NULL));
    H5Sclose(ids[1]);
    ids[1] = H5I_INVALID_HID;
    hsize_t start[1] = {dims[0]};
    dims[0] += 1;
    MB_H5(H5Dset_extent(ids[0], dims));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    MB_H5(H5Sselect_hyperslab(ids[1], H5S_SELECT_SET, start, NULL, one, NULL));
    MB_H5(ids[2] = H5Screate_simple(1, one, NULL));
    MB_H5(ids[3] = epoch_type());
    MB_H5(H5Dwrite(ids[0], ids[3], ids[2], ids[1], H5P_DEFAULT, row));
out:
    mb__h5_close_all(ids, 4);
    return mb__h5_flush_close(file, path, err);
}

mb_err mb_metrics_ranks(const char *path, const mb_rank_row *rows, int n) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t dims[1] = {(hsize_t)(n > 0 ? n : 0)};
    MB_TRY(open_rw(path, &file));
    htri_t exists = H5Lexists(file, "ranks", H5P_DEFAULT);
    MB_H5(exists);
    if (exists) MB_H5(H5Ldelete(file, "ranks", H5P_DEFAULT));
    MB_H5(ids[0] = rank_type());
    MB_H5(ids[1] = H5Tcopy(ids[0]));
    MB_H5(H5Tpack(ids[1]));
    MB_H5(ids[2] = H5Screate_simple(1, dims, NULL));
    MB_H5(ids[3] =
              H5Dcreate2(file, "ranks", ids[1], ids[2], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (n > 0) MB_H5(H5Dwrite(ids[3], ids[0], H5S_ALL, H5S_ALL, H5P_DEFAULT, rows));
out:
    mb__h5_close_all(ids, 4);
    return mb__h5_flush_close(file, path, err);
}

/* Replace (delete, create) a scalar attribute of `/`. */
static mb_err set_attr(hid_t file, const char *path, const char *name, hid_t ftype, hid_t mtype,
                       const void *value) {
    mb_err err = MB_OK;
    htri_t exists = H5Aexists(file, name);
    MB_H5(exists);
    if (exists) MB_H5(H5Adelete(file, name));
    err = mb__h5_write_attr(file, path, name, ftype, mtype, value);
out:
    return err;
}

mb_err mb_metrics_kpis(const char *path, const mb_kpis *k) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    MB_TRY(open_rw(path, &file));
#define D(name) MB_TRY(set_attr(file, path, #name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &k->name))
    D(completion_s);
    D(samples_per_s);
    MB_TRY(set_attr(file, path, "errors", H5T_STD_I64LE, H5T_NATIVE_INT64, &k->errors));
    D(core_s_per_1000);
    D(final_train_loss);
    D(final_val_loss);
    D(final_val_metric);
    D(utilization);
#undef D
out:
    return mb__h5_flush_close(file, path, err);
}

mb_err mb_metrics_read(const char *path, mb_epoch_row **rows, int64_t *n) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* fapl, file, dset */
    *rows = NULL;
    *n = 0;
    mb__h5_quiet();
    if (!file_exists(path))
        return mb_error_set(MB_EIO, "%s: cannot read metrics: %s", path, strerror(errno));
    MB_H5(ids[0] = metrics_fapl());
    MB_H5(ids[1] = H5Fopen(path, H5F_ACC_RDONLY, ids[0]));
    MB_H5(ids[2] = H5Dopen2(ids[1], "epochs", H5P_DEFAULT));
    MB_TRY(read_epochs(ids[2], path, rows, n));
out:
    mb__h5_close_all(ids, 3);
    return err;
}
