/* h5util.c - HDF5 error reporting, file access and dataset/attribute writers for src/io. */
#include "h5util.h"

#include <stdio.h>

void mb__h5_quiet(void) {
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

mb_err mb__h5_report(const char *path, const char *src_file, int line, const char *call) {
    char detail[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    return mb_error_set(MB_EIO, "%s: HDF5 call failed: %s (%s, %s:%d)", path ? path : "(no file)",
                        detail[0] ? detail : "unknown cause", call, src_file, line);
}

void mb__h5_close_all(hid_t *ids, int n) {
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0) continue;
        switch (H5Iget_type(ids[i])) {
        case H5I_FILE:
            H5Fclose(ids[i]);
            break;
        case H5I_GROUP:
            H5Gclose(ids[i]);
            break;
        case H5I_DATASET:
            H5Dclose(ids[i]);
            break;
        case H5I_DATASPACE:
            H5Sclose(ids[i]);
            break;
        case H5I_DATATYPE:
            H5Tclose(ids[i]);
            break;
        case H5I_ATTR:
            H5Aclose(ids[i]);
            break;
        case H5I_GENPROP_LST:
            H5Pclose(ids[i]);
            break;
        default:
            break;
        }
        ids[i] = H5I_INVALID_HID;
    }
}

hid_t mb__h5_fapl(int no_locking) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_fapl_sec2(fapl) < 0 || (no_locking && H5Pset_file_locking(fapl, 0, 1) < 0)) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

hid_t mb__h5_vlen_str(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* The transfer property list for writing npoints elements of mtype into ftype: conversion
 * buffers the size of the data, at least 4 KiB. A write that converts (variable-length strings,
 * compounds) otherwise gets HDF5's default, two calloc'd MiB at every call on fresh pages: most of
 * a checkpoint's time. H5P_DEFAULT from 1 MiB of data up; close it with mb__h5_close_all. */
#define XFER_BUF_MIN ((size_t)4096)
#define XFER_BUF_MAX ((size_t)1 << 20)

static hid_t write_xfer(hsize_t npoints, hid_t ftype, hid_t mtype) {
    size_t fs = H5Tget_size(ftype), ms = H5Tget_size(mtype), per = fs > ms ? fs : ms;
    if (per == 0 || npoints > (hsize_t)(XFER_BUF_MAX / per)) return H5P_DEFAULT;
    size_t bytes = (size_t)npoints * per;
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (dxpl < 0) return dxpl;
    if (H5Pset_buffer(dxpl, bytes < XFER_BUF_MIN ? XFER_BUF_MIN : bytes, NULL, NULL) < 0) {
        H5Pclose(dxpl);
        return H5I_INVALID_HID;
    }
    return dxpl;
}

mb_err mb__h5_create_write(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                           int rank, const hsize_t *dims, const void *data, hid_t *dset) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t npoints = 1;
    for (int i = 0; i < rank; i++) npoints *= dims[i];
    *dset = H5I_INVALID_HID;
    MB_H5(ids[0] = H5Screate_simple(rank, dims, NULL));
    MB_H5(ids[1] = H5Dcreate2(loc, name, ftype, ids[0], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(ids[2] = write_xfer(npoints, ftype, mtype));
    /* HDF5 refuses a NULL buffer even for zero elements, and there is nothing to write. */
    if (npoints > 0) MB_H5(H5Dwrite(ids[1], mtype, H5S_ALL, H5S_ALL, ids[2], data));
    *dset = ids[1];
    ids[1] = H5I_INVALID_HID;
out:
    mb__h5_close_all(ids, 3);
    return err;
}

mb_err mb__h5_write_dset(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, const void *data) {
    hid_t dset;
    mb_err err = mb__h5_create_write(loc, path, name, ftype, mtype, rank, dims, data, &dset);
    mb__h5_close_all(&dset, 1);
    return err;
}

mb_err mb__h5_write_f64(hid_t loc, const char *path, const char *name, int rank,
                        const hsize_t *dims, const double *data) {
    return mb__h5_write_dset(loc, path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, data);
}

mb_err mb__h5_write_attr(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         const void *value) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Screate(H5S_SCALAR));
    MB_H5(ids[1] = H5Acreate2(loc, name, ftype, ids[0], H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(H5Awrite(ids[1], mtype, value));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

mb_err mb__h5_attr_int(hid_t loc, const char *path, const char *name, int v) {
    return mb__h5_write_attr(loc, path, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}
mb_err mb__h5_attr_i64(hid_t loc, const char *path, const char *name, int64_t v) {
    return mb__h5_write_attr(loc, path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}
mb_err mb__h5_attr_u64(hid_t loc, const char *path, const char *name, uint64_t v) {
    return mb__h5_write_attr(loc, path, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
mb_err mb__h5_attr_f64(hid_t loc, const char *path, const char *name, double v) {
    return mb__h5_write_attr(loc, path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

mb_err mb__h5_attr_str(hid_t loc, const char *path, const char *name, const char *s) {
    mb_err err = MB_OK;
    hid_t t = H5I_INVALID_HID;
    const char *v = s ? s : "";
    MB_H5(t = mb__h5_vlen_str());
    err = mb__h5_write_attr(loc, path, name, t, t, &v);
out:
    mb__h5_close_all(&t, 1);
    return err;
}

/* Rows [start, start+cnt) of a 1-D or 2-D dataset; an empty selection when cnt == 0. */
static mb_err rows_xfer(const char *path, hid_t did, hid_t dxpl, int ndims, int64_t width,
                        int64_t start, int64_t cnt, void *buf, int write) {
    mb_err err = MB_OK;
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    double dummy = 0;
    MB_H5(fs = H5Dget_space(did));
    if (cnt > 0) {
        hsize_t off[2] = {(hsize_t)start, 0}, count[2] = {(hsize_t)cnt, (hsize_t)width};
        MB_H5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, count, NULL));
        MB_H5(ms = H5Screate_simple(ndims, count, NULL));
    } else {
        hsize_t one = 1;
        MB_H5(H5Sselect_none(fs));
        MB_H5(ms = H5Screate_simple(1, &one, NULL));
        MB_H5(H5Sselect_none(ms));
        buf = &dummy;
    }
    if (write)
        MB_H5(H5Dwrite(did, H5T_NATIVE_DOUBLE, ms, fs, dxpl, buf));
    else
        MB_H5(H5Dread(did, H5T_NATIVE_DOUBLE, ms, fs, dxpl, buf));
out:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return err;
}

mb_err mb__h5_read_rows(const char *path, hid_t did, hid_t dxpl, int ndims, int64_t width,
                        int64_t start, int64_t cnt, double *buf) {
    return rows_xfer(path, did, dxpl, ndims, width, start, cnt, buf, 0);
}

mb_err mb__h5_write_rows(const char *path, hid_t did, hid_t dxpl, int ndims, int64_t width,
                         int64_t lo, int64_t hi, const double *buf) {
    /* H5Dwrite takes a const buffer; the shared helper only passes it through. */
    return rows_xfer(path, did, dxpl, ndims, width, lo, hi - lo, (void *)(uintptr_t)buf, 1);
}

mb_err mb__h5_flush_close(hid_t file, const char *path, mb_err err) {
    if (file < 0) return err;
    if (!err && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Fflush");
    if (H5Fclose(file) < 0 && !err) err = mb__h5_report(path, __FILE__, __LINE__, "H5Fclose");
    return err;
}

mb_err mb__h5_read_attr(hid_t loc, const char *path, const char *what, const char *name,
                        hid_t mtype, void *out) {
    mb_err err = MB_OK;
    hid_t a = H5I_INVALID_HID;
    htri_t exists = H5Aexists(loc, name);
    MB_H5(exists);
    if (!exists) return mb_error_set(MB_EIO, "%s: %s lacks attribute '%s'", path, what, name);
    MB_H5(a = H5Aopen(loc, name, H5P_DEFAULT));
    MB_H5(H5Aread(a, mtype, out));
out:
    mb__h5_close_all(&a, 1);
    return err;
}
