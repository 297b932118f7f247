/* inspect.c - human-readable summaries of checkpoints, models, metrics and datasets. */
#include "mbatch/inspect.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "mbatch/checkpoint.h"
#include "mbatch/class_metrics.h"
#include "mbatch/metrics.h"
#include "mbatch/model.h"
#include "mbatch/trees_io.h"

static const char *MODEL_NAMES[] = {"linear regression",
                                    "logistic regression",
                                    "softmax regression",
                                    "linear svm (hinge)",
                                    "linear svm (squared hinge)",
                                    "huber regression",
                                    "mlp"};

static void print_ckpt(const char *path, const mb_ckpt *c, FILE *out) {
    fprintf(out, "%s: mbatch checkpoint (complete)\n", path);
    fprintf(out, "  model         %s, %lld features x %lld output%s (%lld parameters)\n",
            c->model_type >= 0 && c->model_type < 7 ? MODEL_NAMES[c->model_type] : "?",
            (long long)c->d, (long long)c->k, c->k == 1 ? "" : "s", (long long)c->nparam);
    fprintf(out, "  progress      epoch %lld, step %lld, %lld samples seen\n", (long long)c->epoch,
            (long long)c->step, (long long)c->samples_seen);
    fprintf(out, "  training      lr %g, batch %lld, seed %llu, %d rank%s, mbatch %s\n", c->lr,
            (long long)c->batch_size, (unsigned long long)c->seed, c->ranks,
            c->ranks == 1 ? "" : "s", c->version ? c->version : "?");
    fprintf(out, "  dataset       %s (%lld rows, checksum %016llx), target %s\n",
            c->dataset_path ? c->dataset_path : "?", (long long)c->dataset_rows,
            (unsigned long long)c->dataset_checksum, c->target ? c->target : "-");
    fprintf(out, "  features      ");
    for (int64_t j = 0; j < c->ncol; j++) {
        fprintf(out, "%s%s", j ? ", " : "", c->columns[j]);
        if (c->ncat[j] > 0) fprintf(out, " (%lld categories)", (long long)c->ncat[j]);
    }
    if (c->model_type == MB_MODEL_MLP) {
        /* A network's layers are in its job (model.hidden); theta is flat. */
        double norm = 0;
        for (int64_t j = 0; j < c->nparam; j++) norm += c->theta[j] * c->theta[j];
        fprintf(out,
                "\n  network       %lld values (weights, batch-norm scales and running "
                "statistics), ||theta|| = %.6g\n  job           %s\n",
                (long long)c->nparam, sqrt(norm), c->job_json ? c->job_json : "?");
        return;
    }
    fprintf(out, "\n  weights       ");
    double norm = 0;
    for (int64_t j = 0; j < c->d * c->k; j++) norm += c->theta[j] * c->theta[j];
    fprintf(out, "||W|| = %.6g, intercept%s", sqrt(norm), c->k == 1 ? "" : "s");
    for (int64_t j = 0; j < c->k && j < 8; j++) fprintf(out, " %.6g", c->theta[c->d * c->k + j]);
    fprintf(out, "\n  first weights");
    for (int64_t j = 0; j < c->d * c->k && j < 8; j++) fprintf(out, " %.6g", c->theta[j]);
    fprintf(out, "%s\n  job           %s\n", c->d * c->k > 8 ? " ..." : "",
            c->job_json ? c->job_json : "?");
}

static void print_metrics(const char *path, const mb_epoch_row *r, int64_t n, FILE *out) {
    int probed = mb_epochs_probed(r, n); /* a read_s column, and the epoch's fraction of it */
    fprintf(out, "%s: mbatch metrics, %lld epoch%s\n", path, (long long)n, n == 1 ? "" : "s");
    fprintf(out, "  %5s %8s %12s %12s %10s %10s %10s %9s %9s %9s %9s", "epoch", "step",
            "train_loss", "val_loss", "val_metric", "lr", "grad_norm", "epoch_s", "compute_s",
            "comm_s", "samples/s");
    fprintf(out, probed ? " %9s %9s\n" : "\n", "read_s", "read/ep");
    for (int64_t i = 0; i < n; i++) {
        fprintf(out, "  %5lld %8lld %12.6g %12.6g %10.5g %10.3g %10.3g %9.3f %9.3f %9.3f %9.3g",
                (long long)r[i].epoch + 1, (long long)r[i].step, r[i].train_loss, r[i].val_loss,
                r[i].val_metric, r[i].lr, r[i].grad_norm, r[i].epoch_s, r[i].compute_s, r[i].comm_s,
                r[i].samples_per_s);
        if (probed) fprintf(out, " %9.3g %9.3f", r[i].read_s, mb_epoch_read_fraction(&r[i]));
        fputc('\n', out);
    }
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    FILE *out = data;
    if (info->type == H5O_TYPE_GROUP) {
        if (strcmp(name, ".") != 0) fprintf(out, "  /%s/\n", name);
        return 0;
    }
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[8] = {0};
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd > 8) nd = 8;
    H5Sget_simple_extent_dims(s, dims, NULL);
    const char *cls = "other";
    switch (H5Tget_class(t)) {
    case H5T_FLOAT:
        cls = H5Tget_size(t) == 4 ? "float32" : "float64";
        break;
    case H5T_INTEGER:
        cls = H5Tget_sign(t) == H5T_SGN_NONE ? "unsigned int" : "int";
        break;
    case H5T_STRING:
        cls = "string";
        break;
    case H5T_COMPOUND:
        cls = "table";
        break;
    default:
        break;
    }
    fprintf(out, "  /%s  %s [", name, cls);
    for (int i = 0; i < nd; i++) fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    fprintf(out, "]");
    if (H5Tget_class(t) != H5T_STRING && H5Tget_class(t) != H5T_COMPOUND)
        fprintf(out, " (%zu bytes each)", H5Tget_size(t));
    fprintf(out, "\n");
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return 0;
}

mb_err mb_inspect(const char *path, FILE *out) {
    mb_err err = MB_OK;
    hid_t f = H5I_INVALID_HID;
    mb__h5_quiet();
    if (access(path, R_OK) != 0)
        return mb_error_set(MB_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return mb_error_set(MB_EIO, "%s: not an HDF5 file", path);
    MB_H5(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
    int is_ckpt = H5Aexists(f, "complete") > 0 || H5Lexists(f, "model", H5P_DEFAULT) > 0;
    int is_metrics = H5Lexists(f, "epochs", H5P_DEFAULT) > 0;
    if (is_ckpt && mb_trees_is_model(path)) {
        H5Fclose(f);
        f = H5I_INVALID_HID;
        err = mb_trees_inspect(path, out);
    } else if (is_ckpt) {
        H5Fclose(f);
        f = H5I_INVALID_HID;
        mb_ckpt c;
        memset(&c, 0, sizeof c);
        err = mb_ckpt_read(path, &c);
        if (!err) print_ckpt(path, &c, out);
        mb_ckpt_clear(&c);
    } else if (is_metrics) {
        H5Fclose(f);
        f = H5I_INVALID_HID;
        mb_epoch_row *rows = NULL;
        int64_t n = 0;
        err = mb_metrics_read(path, &rows, &n);
        if (!err) print_metrics(path, rows, n, out);
        free(rows);
        if (!err) err = mb_class_report_print(path, out);
    } else {
        fprintf(out, "%s: HDF5 file\n", path);
        MB_H5(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, out));
        MB_TRY(mb_class_report_print(path, out)); /* predictions of a classifier with labels */
    }
out:
    if (f >= 0) H5Fclose(f);
    return err;
}

mb_err mb_inspect_csv(const char *path, FILE *out) {
    mb_err err = MB_OK;
    hid_t f = H5I_INVALID_HID;
    mb__h5_quiet();
    if (access(path, R_OK) != 0)
        return mb_error_set(MB_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return mb_error_set(MB_EIO, "%s: not an HDF5 file", path);
    MB_H5(f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
    int is_metrics = H5Lexists(f, "epochs", H5P_DEFAULT) > 0;
    H5Fclose(f);
    f = H5I_INVALID_HID;
    if (!is_metrics)
        return mb_error_set(MB_EUSAGE,
                            "%s: not a metrics file (no /epochs table); --csv prints a run's "
                            "metrics.h5",
                            path);
    mb_epoch_row *r = NULL;
    int64_t n = 0;
    MB_TRY(mb_metrics_read(path, &r, &n));
    fputs("epoch,step,train_loss,val_loss,val_metric,lr,batch_size,grad_norm,epoch_s,"
          "samples_per_s,compute_s,comm_s,io_s,imbalance,read_s\n",
          out);
    /* %.17g: every value reads back as the same double. */
    for (int64_t i = 0; i < n; i++)
        fprintf(out,
                "%lld,%lld,%.17g,%.17g,%.17g,%.17g,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,"
                "%.17g,%.17g\n",
                (long long)r[i].epoch + 1, (long long)r[i].step, r[i].train_loss, r[i].val_loss,
                r[i].val_metric, r[i].lr, (long long)r[i].batch_size, r[i].grad_norm, r[i].epoch_s,
                r[i].samples_per_s, r[i].compute_s, r[i].comm_s, r[i].io_s, r[i].imbalance,
                r[i].read_s);
    free(r);
out:
    if (f >= 0) H5Fclose(f);
    return err;
}
