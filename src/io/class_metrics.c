/* class_metrics.c - write the classification report of a trained model into metrics.h5. */
#include "mbatch/class_metrics.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>

#include "io/h5util.h"

mb_err mb_metrics_classification(const char *path, const mb_class_report *r) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* fapl, file, group */
    mb__h5_quiet();
    MB_H5(ids[0] = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(ids[0]));
    MB_H5(H5Pset_file_locking(ids[0], 0, 1));
    MB_H5(ids[1] = H5Fopen(path, H5F_ACC_RDWR, ids[0]));
    htri_t exists = H5Lexists(ids[1], "classification", H5P_DEFAULT);
    MB_H5(exists);
    if (exists) MB_H5(H5Ldelete(ids[1], "classification", H5P_DEFAULT));
    MB_H5(ids[2] = H5Gcreate2(ids[1], "classification", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hsize_t dims[2] = {(hsize_t)r->k, (hsize_t)r->k};
    MB_TRY(mb__h5_write_f64(ids[2], path, "confusion", 2, dims, r->conf));
    MB_TRY(mb__h5_write_f64(ids[2], path, "precision", 1, dims, r->precision));
    MB_TRY(mb__h5_write_f64(ids[2], path, "recall", 1, dims, r->recall));
    MB_TRY(mb__h5_write_f64(ids[2], path, "f1", 1, dims, r->f1));
    MB_TRY(mb__h5_attr_f64(ids[2], path, "accuracy", r->accuracy));
    MB_TRY(mb__h5_attr_f64(ids[2], path, "auc", r->auc));
    MB_TRY(mb__h5_attr_f64(ids[2], path, "threshold", r->threshold));
    MB_TRY(mb__h5_attr_f64(ids[2], path, "rows", (double)r->rows));
    if (r->k == 2) {
        MB_TRY(mb__h5_attr_f64(ids[2], path, "f1_binary", r->f1[1]));
        MB_TRY(mb__h5_attr_f64(ids[2], path, "precision_binary", r->precision[1]));
        MB_TRY(mb__h5_attr_f64(ids[2], path, "recall_binary", r->recall[1]));
    }
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
out:
    mb__h5_close_all(&ids[2], 1);
    if (ids[1] >= 0 && H5Fclose(ids[1]) < 0 && !err)
        err = mb__h5_report(path, __FILE__, __LINE__, "H5Fclose");
    mb__h5_close_all(ids, 1);
    return err;
}

static double get_attr(hid_t loc, const char *name) {
    double v = NAN;
    if (H5Aexists(loc, name) <= 0) return v;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return v;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) v = NAN;
    H5Aclose(a);
    return v;
}

static mb_err get_array(hid_t loc, const char *path, const char *name, int64_t n, double *out) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Dopen2(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    hssize_t np = H5Sget_simple_extent_npoints(ids[1]);
    if (np != n) {
        err = mb_error_set(MB_EIO, "%s: /classification/%s has %lld values, expected %lld", path,
                           name, (long long)np, (long long)n);
        goto out;
    }
    MB_H5(H5Dread(ids[0], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

mb_err mb_class_report_print(const char *path, FILE *out) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID}; /* file, group */
    double *buf = NULL;
    mb__h5_quiet();
    MB_H5(ids[0] = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
    htri_t has = H5Lexists(ids[0], "classification", H5P_DEFAULT);
    MB_H5(has);
    if (!has) goto out;
    MB_H5(ids[1] = H5Gopen2(ids[0], "classification", H5P_DEFAULT));
    hid_t d = H5Dopen2(ids[1], "precision", H5P_DEFAULT);
    MB_H5(d);
    hid_t sp = H5Dget_space(d);
    int64_t k = sp >= 0 ? (int64_t)H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (k < 1 || k > 1000000) {
        err = mb_error_set(MB_EIO, "%s: /classification has %lld classes", path, (long long)k);
        goto out;
    }
    buf = malloc(sizeof(double) * (size_t)(3 * k + k * k));
    if (!buf) {
        err = mb_error_set(MB_EIO, "%s: out of memory reading /classification", path);
        goto out;
    }
    double *pr = buf, *rc = buf + k, *f1 = buf + 2 * k, *conf = buf + 3 * k;
    MB_TRY(get_array(ids[1], path, "precision", k, pr));
    MB_TRY(get_array(ids[1], path, "recall", k, rc));
    MB_TRY(get_array(ids[1], path, "f1", k, f1));
    MB_TRY(get_array(ids[1], path, "confusion", k * k, conf));
    fprintf(out, "  classification over %.0f rows: accuracy %.6g", get_attr(ids[1], "rows"),
            get_attr(ids[1], "accuracy"));
    if (k == 2) fprintf(out, ", ROC AUC %.6g", get_attr(ids[1], "auc"));
    fprintf(out, "\n  %5s %10s %10s %10s  confusion (rows: true class)\n", "class", "precision",
            "recall", "F1");
    for (int64_t c = 0; c < k && c < 20; c++) {
        fprintf(out, "  %5lld %10.6g %10.6g %10.6g ", (long long)c, pr[c], rc[c], f1[c]);
        for (int64_t j = 0; j < k && j < 20; j++) fprintf(out, " %8.0f", conf[c * k + j]);
        fprintf(out, "\n");
    }
out:
    free(buf);
    if (ids[1] >= 0) H5Gclose(ids[1]);
    if (ids[0] >= 0) H5Fclose(ids[0]);
    return err;
}
