/* sweep_io.c - sweep.h5: the results table of a sweep, one compound row per configuration. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "mbatch/sweep.h"

typedef struct h5row {
    int64_t index;
    char status[16];
    char *params; /* variable-length strings: parameters and messages have no natural bound */
    char *set;
    double train_loss, val_loss, val_metric, metric;
    int64_t epochs;
    double seconds, setup_s, gap_s;
    int32_t exit_code;
    char *message;
} h5row;

static hid_t row_type(hid_t *vstr, hid_t *status) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(h5row));
    *vstr = H5Tcopy(H5T_C_S1);
    *status = H5Tcopy(H5T_C_S1);
    if (t < 0 || *vstr < 0 || *status < 0 || H5Tset_size(*vstr, H5T_VARIABLE) < 0 ||
        H5Tset_cset(*vstr, H5T_CSET_UTF8) < 0 || H5Tset_size(*status, 16) < 0 ||
        H5Tset_strpad(*status, H5T_STR_NULLTERM) < 0)
        goto fail;
#define F(name, type)                                                                              \
    if (H5Tinsert(t, #name, HOFFSET(h5row, name), type) < 0) goto fail;
    F(index, H5T_NATIVE_INT64)
    F(status, *status)
    F(params, *vstr)
    F(set, *vstr)
    F(train_loss, H5T_NATIVE_DOUBLE)
    F(val_loss, H5T_NATIVE_DOUBLE)
    F(val_metric, H5T_NATIVE_DOUBLE)
    F(metric, H5T_NATIVE_DOUBLE)
    F(epochs, H5T_NATIVE_INT64)
    F(seconds, H5T_NATIVE_DOUBLE)
    F(setup_s, H5T_NATIVE_DOUBLE)
    F(gap_s, H5T_NATIVE_DOUBLE)
    F(exit_code, H5T_NATIVE_INT32)
    F(message, *vstr)
#undef F
    return t;
fail:
    if (t >= 0) H5Tclose(t);
    return H5I_INVALID_HID;
}

static mb_err write_attr_str(hid_t loc, const char *path, const char *name, const char *val) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Tcopy(H5T_C_S1));
    MB_H5(H5Tset_size(ids[0], strlen(val) + 1));
    MB_H5(ids[1] = H5Screate(H5S_SCALAR));
    MB_H5(ids[2] = H5Acreate2(loc, name, ids[0], ids[1], H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(H5Awrite(ids[2], ids[0], val));
out:
    mb__h5_close_all(&ids[2], 1);
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err write_attr_i64(hid_t loc, const char *path, const char *name, int64_t val) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Screate(H5S_SCALAR));
    MB_H5(ids[1] = H5Acreate2(loc, name, H5T_NATIVE_INT64, ids[0], H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(H5Awrite(ids[1], H5T_NATIVE_INT64, &val));
out:
    mb__h5_close_all(&ids[1], 1);
    mb__h5_close_all(ids, 1);
    return err;
}

mb_err mb_sweep_h5_write(const char *final_path, const mb_sweep *sw, const mb_sweep_row *rows,
                         int64_t best) {
    mb__h5_quiet();
    mb_err err = MB_OK;
    char path[4200];
    /* The pid keeps two array tasks that merge at the same moment off each other's file. */
    snprintf(path, sizeof path, "%s.tmp.%ld", final_path, (long)getpid());
    hid_t ids[6] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                    H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    h5row *mem = calloc((size_t)sw->nconf + 1, sizeof *mem);
    if (!mem)
        return mb_error_set(MB_EIO, "%s: out of memory for %lld rows", final_path,
                            (long long)sw->nconf);
    for (int64_t i = 0; i < sw->nconf; i++) {
        const mb_sweep_row *r = &rows[i];
        h5row *m = &mem[i];
        m->index = r->index;
        snprintf(m->status, sizeof m->status, "%s", r->status);
        m->params = sw->conf[i].params;
        m->set = mb_sweep_set_line(sw, i);
        m->train_loss = r->train_loss;
        m->val_loss = r->val_loss;
        m->val_metric = r->val_metric;
        m->metric = r->metric;
        m->epochs = r->epochs;
        m->seconds = r->seconds;
        m->setup_s = r->setup_s;
        m->gap_s = r->gap_s;
        m->exit_code = r->exit_code;
        m->message = (char *)r->message;
        if (!m->set) {
            err = mb_error_set(MB_EIO, "%s: out of memory", final_path);
            goto out;
        }
    }
    hsize_t dims[1] = {(hsize_t)sw->nconf};
    MB_H5(ids[0] = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(ids[0]));
    MB_H5(H5Pset_file_locking(ids[0], 0, 1));
    MB_H5(ids[1] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, ids[0]));
    MB_H5(ids[2] = row_type(&ids[4], &ids[5]));
    MB_H5(ids[3] = H5Screate_simple(1, dims, NULL));
    {
        hid_t d =
            H5Dcreate2(ids[1], "results", ids[2], ids[3], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        MB_H5(d);
        herr_t w = H5Dwrite(d, ids[2], H5S_ALL, H5S_ALL, H5P_DEFAULT, mem);
        H5Dclose(d);
        MB_H5(w);
    }
    MB_TRY(write_attr_str(ids[1], path, "metric", sw->metric));
    MB_TRY(write_attr_i64(ids[1], path, "best", best));
    MB_TRY(write_attr_i64(ids[1], path, "higher_is_better", sw->higher_better));
    MB_TRY(write_attr_str(ids[1], path, "sweep_file", sw->path));
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
out:
    mb__h5_close_all(&ids[2], 4);
    if (ids[1] >= 0 && H5Fclose(ids[1]) < 0 && !err)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Fclose");
    mb__h5_close_all(ids, 1);
    for (int64_t i = 0; i < sw->nconf; i++) free(mem[i].set);
    free(mem);
    if (!err && (mb__fsync_path(path) != 0 || rename(path, final_path) != 0))
        err = mb_error_set(MB_EIO, "%s: cannot publish %s: %s", final_path, path, strerror(errno));
    if (err) remove(path);
    return err;
}
