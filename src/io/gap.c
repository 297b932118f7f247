/* gap.c - the /gap table of metrics.h5 (see gap.h). */
#include "mbatch/gap.h"

#include <stdlib.h>

#include "io/h5util.h"

static hid_t gap_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(mb_gap_row));
    if (t < 0) return t;
    if (H5Tinsert(t, "epoch", HOFFSET(mb_gap_row, epoch), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(t, "objective", HOFFSET(mb_gap_row, objective), H5T_NATIVE_DOUBLE) < 0 ||
        H5Tinsert(t, "optimum", HOFFSET(mb_gap_row, optimum), H5T_NATIVE_DOUBLE) < 0 ||
        H5Tinsert(t, "gap", HOFFSET(mb_gap_row, gap), H5T_NATIVE_DOUBLE) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static mb_err open_file(const char *path, unsigned flags, hid_t *file) {
    mb_err err = MB_OK;
    hid_t fapl = H5I_INVALID_HID;
    mb__h5_quiet();
    /* Without HDF5's file lock, as for the rest of metrics.h5: readers may have it open. */
    MB_H5(fapl = mb__h5_fapl(1));
    MB_H5(*file = H5Fopen(path, flags, fapl));
out:
    mb__h5_close_all(&fapl, 1);
    return err;
}

mb_err mb_gap_read(const char *path, mb_gap_row **rows, int64_t *n) {
    mb_err err = MB_OK;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t dims[1] = {0};
    *rows = NULL;
    *n = 0;
    MB_TRY(open_file(path, H5F_ACC_RDONLY, &ids[0]));
    MB_H5(ids[1] = H5Dopen2(ids[0], "gap", H5P_DEFAULT));
    MB_H5(ids[2] = H5Dget_space(ids[1]));
    MB_H5(H5Sget_simple_extent_dims(ids[2], dims, NULL));
    MB_H5(ids[3] = gap_type());
    if (dims[0] > 0) {
        *rows = malloc(sizeof(mb_gap_row) * (size_t)dims[0]);
        if (!*rows) {
            err = mb_error_set(MB_EENV, "%s: out of memory for %llu /gap rows", path,
                               (unsigned long long)dims[0]);
            goto out;
        }
        MB_H5(H5Dread(ids[1], ids[3], H5S_ALL, H5S_ALL, H5P_DEFAULT, *rows));
    }
    *n = (int64_t)dims[0];
out:
    if (err) {
        free(*rows);
        *rows = NULL;
    }
    mb__h5_close_all(&ids[1], 3);
    if (ids[0] >= 0) H5Fclose(ids[0]);
    return err;
}

mb_err mb_gap_init(const char *path, int64_t keep_from) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    MB_TRY(open_file(path, H5F_ACC_RDWR, &file));
    htri_t has = H5Lexists(file, "gap", H5P_DEFAULT);
    MB_H5(has);
    if (!has) {
        hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {64};
        MB_H5(ids[0] = gap_type());
        MB_H5(ids[1] = H5Screate_simple(1, dims, maxdims));
        MB_H5(ids[2] = H5Pcreate(H5P_DATASET_CREATE));
        MB_H5(H5Pset_chunk(ids[2], 1, chunk));
        MB_H5(ids[3] = H5Dcreate2(file, "gap", ids[0], ids[1], H5P_DEFAULT, ids[2], H5P_DEFAULT));
    } else {
        mb_gap_row *rows = NULL;
        int64_t n = 0, keep = 0;
        MB_TRY(mb__h5_flush_close(file, path, MB_OK));
        file = H5I_INVALID_HID;
        MB_TRY(mb_gap_read(path, &rows, &n));
        while (keep < n && rows[keep].epoch < keep_from) keep++;
        free(rows);
        MB_TRY(open_file(path, H5F_ACC_RDWR, &file));
        hsize_t dims[1] = {(hsize_t)keep};
        MB_H5(ids[3] = H5Dopen2(file, "gap", H5P_DEFAULT));
        MB_H5(H5Dset_extent(ids[3], dims));
    }
out:
    mb__h5_close_all(ids, 4);
    return mb__h5_flush_close(file, path, err);
}

mb_err mb_gap_append(const char *path, const mb_gap_row *row) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    hid_t ids[4] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t dims[1] = {0}, one[1] = {1};
    MB_TRY(open_file(path, H5F_ACC_RDWR, &file));
    MB_H5(ids[0] = H5Dopen2(file, "gap", H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    MB_H5(H5Sget_simple_extent_dims(ids[1], dims, NULL));
    hsize_t start[1] = {dims[0]}, grown[1] = {dims[0] + 1};
    MB_H5(H5Dset_extent(ids[0], grown));
    mb__h5_close_all(&ids[1], 1);
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    MB_H5(H5Sselect_hyperslab(ids[1], H5S_SELECT_SET, start, NULL, one, NULL));
    MB_H5(ids[2] = H5Screate_simple(1, one, NULL));
    MB_H5(ids[3] = gap_type());
    MB_H5(H5Dwrite(ids[0], ids[3], ids[2], ids[1], H5P_DEFAULT, row));
out:
    mb__h5_close_all(ids, 4);
    return mb__h5_flush_close(file, path, err);
}
