/* predictions.c - write per-rank predictions (and labels) into one HDF5 file, collectively. */
#include "mbatch/checkpoint.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"

static mb_err create_dset(const char *path, hid_t fid, const char *name, int ndims,
                          const hsize_t *dims, hid_t *out) {
    mb_err err = MB_OK;
    hid_t sp = H5I_INVALID_HID;
    MB_H5(sp = H5Screate_simple(ndims, dims, NULL));
    MB_H5(*out = H5Dcreate2(fid, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
out:
    if (sp >= 0) H5Sclose(sp);
    return err;
}

/* The directory part of path, for the fsync that makes the rename durable. */
static char *dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return NULL;
    char *d = strdup(dirname(copy));
    free(copy);
    return d;
}

/* A scalar float64 attribute of `/`, created collectively (every rank passes the same value). */
static mb_err put_attr(const char *path, hid_t fid, const char *name, double v) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Screate(H5S_SCALAR));
    MB_H5(ids[1] = H5Acreate2(fid, name, H5T_IEEE_F64LE, ids[0], H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(H5Awrite(ids[1], H5T_NATIVE_DOUBLE, &v));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

mb_err mb_predictions_write(const mb_comm *c, const char *path, int64_t n, int64_t kout, int64_t lo,
                            int64_t hi, const double *pred, const double *label) {
    return mb_predictions_write_timed(c, path, n, kout, lo, hi, pred, label, -1);
}

mb_err mb_predictions_write_timed(const mb_comm *c, const char *path, int64_t n, int64_t kout,
                                  int64_t lo, int64_t hi, const double *pred, const double *label,
                                  double seconds) {
    mb_err err = MB_OK;
    hid_t fapl = H5I_INVALID_HID, fid = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
    hid_t dpred = H5I_INVALID_HID, dlabel = H5I_INVALID_HID;
    char *tmp = NULL, *dir = NULL;
    int created = 0;
    mb__h5_quiet();

    /* Every rank must create the same datasets, so the shape must agree before the collective
     * create; labels are written when any rank has them (a rank without rows may pass NULL). */
    int64_t shape[3] = {n, kout, label != NULL}, smin[3], smax[3];
    memcpy(smin, shape, sizeof shape);
    memcpy(smax, shape, sizeof shape);
    mb_allreduce_min_i64(c, smin, 3);
    mb_allreduce_max_i64(c, smax, 3);
    if (!path)
        err = mb_error_set(MB_EUSAGE, "predictions: no output path");
    else if (smin[0] != smax[0] || smin[1] != smax[1])
        err = mb_error_set(MB_EUSAGE, "%s: ranks disagree on the predictions' shape", path);
    else if (n < 0 || kout < 1 || lo < 0 || hi < lo || hi > n)
        err =
            mb_error_set(MB_EUSAGE, "%s: bad predictions shape n=%lld kout=%lld rows [%lld, %lld)",
                         path, (long long)n, (long long)kout, (long long)lo, (long long)hi);
    else if (hi > lo && (!pred || (smax[2] && !label)))
        err = mb_error_set(MB_EUSAGE, "%s: no buffer for %lld rows", path, (long long)(hi - lo));
    if (!err) {
        size_t len = strlen(path) + 5;
        tmp = malloc(len);
        dir = dir_of(path);
        if (!tmp || !dir)
            err = mb_error_set(MB_EIO, "%s: out of memory", path);
        else
            snprintf(tmp, len, "%s.tmp", path);
    }
    /* A missing or read-only directory fails H5Fcreate; checking it first on rank 0 keeps that
     * failure out of the collective call. */
    if (!err && c->rank == 0 && access(dir, W_OK | X_OK) != 0)
        err = mb_error_set(MB_EIO, "%s: cannot write to directory %s: %s", path, dir,
                           strerror(errno));
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    const char *p = path;
    path = tmp; /* MB_H5 names the file being written */
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, c->comm, MPI_INFO_NULL) < 0)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Pset_fapl_mpio");
    err = mb_agree(c, err, NULL);
    if (err) goto out;
    fid = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fid < 0) err = mb__h5_report(path, __FILE__, __LINE__, "H5Fcreate");
    created = 1;
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    hsize_t dims[2] = {(hsize_t)n, (hsize_t)kout};
    err = create_dset(path, fid, "predictions", kout == 1 ? 1 : 2, dims, &dpred);
    if (!err && smax[2]) err = create_dset(path, fid, "label", 1, dims, &dlabel);
    if (!err && seconds >= 0) {
        /* Rank 0's clock decides, so every rank writes the same attribute values. */
        double t = seconds;
        mb_bcast(c, &t, sizeof t, 0);
        err = put_attr(path, fid, "predict_s", t);
        if (!err) err = put_attr(path, fid, "items_per_s", t > 0 ? (double)n / t : 0);
    }
    if (!err && (dxpl = H5Pcreate(H5P_DATASET_XFER)) < 0)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Pcreate");
    if (!err && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Pset_dxpl_mpio");
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    err = mb__h5_write_rows(path, dpred, dxpl, kout == 1 ? 1 : 2, kout, lo, hi, pred);
    if (smax[2]) {
        /* Even after a failed write above, take part in this collective one (selecting nothing). */
        mb_err e = mb__h5_write_rows(path, dlabel, dxpl, 1, 1, err ? 0 : lo, err ? 0 : hi, label);
        if (!err) err = e;
    }
    hid_t dsets[] = {dpred, dlabel, dxpl};
    mb__h5_close_all(dsets, 3);
    dpred = dlabel = dxpl = H5I_INVALID_HID;
    if (H5Fclose(fid) < 0 && !err) err = mb__h5_report(path, __FILE__, __LINE__, "H5Fclose");
    fid = H5I_INVALID_HID;
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    path = p;
    if (c->rank == 0) {
        if (mb__fsync_path(tmp) != 0)
            err = mb_error_set(MB_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
        else if (rename(tmp, path) != 0)
            err = mb_error_set(MB_EIO, "%s: cannot rename %s: %s", path, tmp, strerror(errno));
        else if (mb__fsync_path(dir) != 0)
            err = mb_error_set(MB_EIO, "%s: fsync of directory %s failed: %s", path, dir,
                               strerror(errno));
        else
            created = 0;
    }
    err = mb_agree(c, err, NULL);
out : {
    hid_t ids[] = {dpred, dlabel, dxpl, fid, fapl};
    mb__h5_close_all(ids, 5);
}
    /* A failed write leaves no temporary behind; the file at path, if any, is untouched. */
    if (err && created && c->rank == 0) unlink(tmp);
    free(tmp);
    free(dir);
    return err;
}
