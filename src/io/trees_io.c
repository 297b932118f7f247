/* trees_io.c - tree models and checkpoints: atomic HDF5 write, read back, inspect. */
#include "mbatch/trees_io.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"

const char *mb_trees_kind_name(int kind) {
    switch (kind) {
    case MB_FOREST_TREE:
        return "decision_tree";
    case MB_FOREST_RANDOM:
        return "random_forest";
    case MB_FOREST_BOOSTED:
        return "gradient_boosting";
    default:
        return NULL;
    }
}

/* ---- writing ---------------------------------------------------------------------------- */

static hid_t mkgroup(hid_t loc, const char *name) {
    return H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

static mb_err write_tree(hid_t trees, const char *path, int64_t i, const mb_tree *t) {
    mb_err err = MB_OK;
    char name[32];
    hid_t g = H5I_INVALID_HID;
    hsize_t dims[2] = {(hsize_t)t->n, (hsize_t)t->kv};
    snprintf(name, sizeof name, "%lld", (long long)i);
    MB_H5(g = mkgroup(trees, name));
    MB_TRY(mb__h5_write_dset(g, path, "feature", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims,
                             t->feature));
    MB_TRY(mb__h5_write_dset(g, path, "bin", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, t->bin));
    MB_TRY(mb__h5_write_f64(g, path, "threshold", 1, dims, t->threshold));
    MB_TRY(mb__h5_write_dset(g, path, "left", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, t->left));
    MB_TRY(mb__h5_write_dset(g, path, "right", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, t->right));
    MB_TRY(mb__h5_write_f64(g, path, "value", 2, dims, t->value));
    MB_TRY(mb__h5_write_f64(g, path, "impurity", 1, dims, t->impurity));
    MB_TRY(mb__h5_write_f64(g, path, "weight", 1, dims, t->weight));
out:
    mb__h5_close_all(&g, 1);
    return err;
}

static mb_err write_contents(hid_t file, const char *path, const mb_ckpt *c, const mb_forest *f) {
    mb_err err = MB_OK;
    enum { G_MODEL, G_TREES, G_BINS, G_PRE, G_CATS, NG };
    hid_t g[NG];
    for (int i = 0; i < NG; i++) g[i] = H5I_INVALID_HID;
    hsize_t dims[2];
    double *imp = calloc((size_t)f->d + 1, sizeof *imp);
    if (!imp) return mb_error_set(MB_EIO, "%s: out of memory", path);

    MB_H5(g[G_MODEL] = mkgroup(file, "model"));
    MB_H5(g[G_TREES] = mkgroup(g[G_MODEL], "trees"));
    for (int64_t i = 0; i < f->ntrees; i++) MB_TRY(write_tree(g[G_TREES], path, i, &f->trees[i]));
    MB_H5(g[G_BINS] = mkgroup(g[G_MODEL], "bins"));
    dims[0] = (hsize_t)f->d;
    MB_TRY(mb__h5_write_dset(g[G_BINS], path, "nbins", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims,
                             f->nbins));
    MB_TRY(mb__h5_write_dset(g[G_BINS], path, "exact", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims,
                             f->exact));
    dims[1] = MB_TREE_MAX_BINS - 1;
    MB_TRY(mb__h5_write_f64(g[G_BINS], path, "edges", 2, dims, f->edges));
    dims[1] = MB_TREE_MAX_BINS;
    MB_TRY(mb__h5_write_f64(g[G_BINS], path, "values", 2, dims, f->values));
    dims[0] = (hsize_t)f->per_round;
    MB_TRY(mb__h5_write_f64(g[G_MODEL], path, "base", 1, dims, f->base));
    double total = 0;
    for (int64_t i = 0; i < f->ntrees; i++) mb_tree_importances(&f->trees[i], f->d, imp);
    for (int64_t j = 0; j < f->d; j++) total += imp[j];
    for (int64_t j = 0; j < f->d && total > 0; j++) imp[j] /= total;
    dims[0] = (hsize_t)f->d;
    MB_TRY(mb__h5_write_f64(g[G_MODEL], path, "importances", 1, dims, imp));
    MB_TRY(mb__h5_attr_int(g[G_MODEL], path, "kind", (int)f->kind));
    MB_TRY(mb__h5_attr_int(g[G_MODEL], path, "classify", f->classify));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "k", f->k));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "kv", f->kv));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "per_round", f->per_round));
    MB_TRY(mb__h5_attr_f64(g[G_MODEL], path, "learning_rate", f->learning_rate));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "n_trees", f->ntrees));
    MB_TRY(mb__h5_attr_f64(g[G_MODEL], path, "best_val", f->best_val));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "best_round", f->best_round));
    MB_TRY(mb__h5_attr_i64(g[G_MODEL], path, "stopped", f->stopped));

    MB_H5(g[G_PRE] = mkgroup(file, "preprocess"));
    hid_t st = H5I_INVALID_HID;
    MB_H5(st = mb__h5_vlen_str());
    dims[0] = (hsize_t)c->ncol;
    err = mb__h5_write_dset(g[G_PRE], path, "columns", st, st, 1, dims, c->columns);
    H5Tclose(st);
    MB_TRY(err);
    MB_TRY(mb__h5_write_dset(g[G_PRE], path, "ncat", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims,
                             c->ncat));
    MB_H5(g[G_CATS] = mkgroup(g[G_PRE], "categories"));
    for (int64_t i = 0; i < c->ncol; i++) {
        if (c->ncat[i] == 0) continue;
        dims[0] = (hsize_t)c->ncat[i];
        MB_TRY(mb__h5_write_dset(g[G_CATS], path, c->columns[i], H5T_STD_I64LE, H5T_NATIVE_INT64, 1,
                                 dims, c->cats[i]));
    }

    MB_TRY(mb__h5_attr_int(file, path, "model_type", (int)f->kind));
    MB_TRY(mb__h5_attr_str(file, path, "model", mb_trees_kind_name(f->kind)));
    MB_TRY(mb__h5_attr_i64(file, path, "d", f->d));
    MB_TRY(mb__h5_attr_i64(file, path, "k", f->k));
    MB_TRY(mb__h5_attr_i64(file, path, "epoch", c->epoch));
    MB_TRY(mb__h5_attr_i64(file, path, "step", c->step));
    MB_TRY(mb__h5_attr_i64(file, path, "samples_seen", c->samples_seen));
    MB_TRY(mb__h5_attr_u64(file, path, "seed", c->seed));
    MB_TRY(mb__h5_attr_f64(file, path, "lr", f->learning_rate));
    MB_TRY(mb__h5_attr_int(file, path, "ranks", c->ranks));
    MB_TRY(mb__h5_attr_str(file, path, "version", c->version));
    MB_TRY(mb__h5_attr_str(file, path, "dataset_path", c->dataset_path));
    MB_TRY(mb__h5_attr_i64(file, path, "dataset_rows", c->dataset_rows));
    MB_TRY(mb__h5_attr_u64(file, path, "dataset_checksum", c->dataset_checksum));
    MB_TRY(mb__h5_attr_str(file, path, "job", c->job_json));
    if (c->target) MB_TRY(mb__h5_attr_str(file, path, "target", c->target));
    MB_TRY(mb__h5_attr_int(file, path, "complete", 1));
out:
    free(imp);
    mb__h5_close_all(g, NG);
    return err;
}

mb_err mb_trees_write(const char *dir, const char *name, const mb_ckpt *ck, const mb_forest *f) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    char final[4096], path[4200]; /* `path` is the temporary: see MB_H5 */
    int have_tmp = 0;
    mb__h5_quiet();
    if (!mb_trees_kind_name(f->kind))
        return mb_error_set(MB_EUSAGE, "%s/%s: unknown tree model kind %d", dir, name, f->kind);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    snprintf(path, sizeof path, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    MB_TRY(mb__mkdir_p(dir));
    struct stat lst;
    if (lstat(path, &lst) == 0 && unlink(path) != 0)
        return mb_error_set(MB_EIO, "%s: cannot remove a leftover temporary: %s", path,
                            strerror(errno));
    MB_H5(ids[0] = mb__h5_fapl(0));
    have_tmp = 1;
    MB_H5(ids[1] = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, ids[0]));
    MB_TRY(write_contents(ids[1], path, ck, f));
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
    hid_t file = ids[1];
    ids[1] = H5I_INVALID_HID;
    MB_H5(H5Fclose(file));
    /* On disk before the rename publishes it: a crash never leaves a complete empty name. */
    if (mb__fsync_path(path) != 0) {
        err = mb_error_set(MB_EIO, "%s: fsync failed: %s", path, strerror(errno));
        goto out;
    }
    if (rename(path, final) != 0) {
        err = mb_error_set(MB_EIO, "%s: rename to %s failed: %s", path, final, strerror(errno));
        goto out;
    }
    have_tmp = 0;
    if (mb__fsync_path(dir) != 0)
        err = mb_error_set(MB_EIO, "%s: fsync of the directory after writing %s failed: %s", dir,
                           name, strerror(errno));
out:
    mb__h5_close_all(ids, 2);
    if (have_tmp) remove(path);
    return err;
}

/* ---- reading ---------------------------------------------------------------------------- */

static mb_err rattr_str(hid_t loc, const char *path, const char *name, int optional, char **out) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    char *v = NULL;
    *out = NULL;
    htri_t ex = H5Aexists(loc, name);
    MB_H5(ex);
    if (!ex)
        return optional ? MB_OK
                        : mb_error_set(MB_EIO, "%s: tree model lacks attribute '%s'", path, name);
    MB_H5(ids[0] = H5Aopen(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = mb__h5_vlen_str());
    MB_H5(H5Aread(ids[0], ids[1], &v));
    *out = strdup(v ? v : "");
    if (v) H5free_memory(v);
    if (!*out) err = mb_error_set(MB_EIO, "%s: out of memory", path);
out:
    mb__h5_close_all(ids, 2);
    return err;
}

/* Read dataset `name` of exactly n elements (any shape) into a new buffer *out. */
static mb_err rdset(hid_t loc, const char *path, const char *name, hid_t mtype, size_t esize,
                    int64_t n, void **out) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    *out = NULL;
    MB_H5(ids[0] = H5Dopen2(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    hssize_t np = H5Sget_simple_extent_npoints(ids[1]);
    if (np != n) {
        err = mb_error_set(MB_EIO, "%s: %s has %lld elements, expected %lld", path, name,
                           (long long)np, (long long)n);
        goto out;
    }
    *out = malloc(esize * (size_t)(n > 0 ? n : 1));
    if (!*out) {
        err = mb_error_set(MB_EIO, "%s: out of memory reading %s", path, name);
        goto out;
    }
    if (n > 0) MB_H5(H5Dread(ids[0], mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out));
out:
    if (err) {
        free(*out);
        *out = NULL;
    }
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err dset_len(hid_t loc, const char *path, const char *name, int64_t *n) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = H5Dopen2(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    hsize_t dims[2] = {0, 0};
    MB_H5(H5Sget_simple_extent_dims(ids[1], dims, NULL));
    *n = (int64_t)dims[0];
out:
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err read_tree(hid_t trees, const char *path, int64_t i, int64_t kv, mb_tree *t) {
    mb_err err = MB_OK;
    char name[32];
    hid_t g = H5I_INVALID_HID;
    void *p;
    snprintf(name, sizeof name, "%lld", (long long)i);
    memset(t, 0, sizeof *t);
    t->kv = kv;
    MB_H5(g = H5Gopen2(trees, name, H5P_DEFAULT));
    MB_TRY(dset_len(g, path, "feature", &t->n));
    t->cap = t->n;
#define RD(field, mt, per)                                                                         \
    MB_TRY(rdset(g, path, #field, mt, sizeof *t->field, t->n *(per), &p));                         \
    t->field = p;
    RD(feature, H5T_NATIVE_INT32, 1)
    RD(bin, H5T_NATIVE_INT32, 1)
    RD(threshold, H5T_NATIVE_DOUBLE, 1)
    RD(left, H5T_NATIVE_INT64, 1)
    RD(right, H5T_NATIVE_INT64, 1)
    RD(value, H5T_NATIVE_DOUBLE, kv)
    RD(impurity, H5T_NATIVE_DOUBLE, 1)
    RD(weight, H5T_NATIVE_DOUBLE, 1)
#undef RD
out:
    mb__h5_close_all(&g, 1);
    return err;
}

static mb_err read_contents(hid_t file, const char *path, mb_ckpt *c, mb_forest *f) {
    mb_err err = MB_OK;
    enum { G_MODEL, G_TREES, G_BINS, G_PRE, G_CATS, NG };
    hid_t g[NG];
    for (int i = 0; i < NG; i++) g[i] = H5I_INVALID_HID;
    void *p = NULL;
    int kind = 0;
    int64_t d = 0, ntrees = 0;

    MB_TRY(mb__h5_read_attr(file, path, "tree model", "model_type", H5T_NATIVE_INT, &kind));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "d", H5T_NATIVE_INT64, &d));
    if (!mb_trees_kind_name(kind) || d < 0 || d > 100000000) {
        err = mb_error_set(MB_EIO, "%s: not a tree model (model_type %d, d = %lld)", path, kind,
                           (long long)d);
        goto out;
    }
    MB_H5(g[G_MODEL] = H5Gopen2(file, "model", H5P_DEFAULT));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "n_trees", H5T_NATIVE_INT64, &ntrees));
    if (mb_forest_init(f, d, ntrees) != 0) {
        err = mb_error_set(MB_EIO, "%s: out of memory", path);
        goto out;
    }
    f->kind = (mb_forest_kind)kind;
    MB_TRY(
        mb__h5_read_attr(g[G_MODEL], path, "tree model", "classify", H5T_NATIVE_INT, &f->classify));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "k", H5T_NATIVE_INT64, &f->k));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "kv", H5T_NATIVE_INT64, &f->kv));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "per_round", H5T_NATIVE_INT64,
                            &f->per_round));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "learning_rate", H5T_NATIVE_DOUBLE,
                            &f->learning_rate));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "best_val", H5T_NATIVE_DOUBLE,
                            &f->best_val));
    MB_TRY(mb__h5_read_attr(g[G_MODEL], path, "tree model", "best_round", H5T_NATIVE_INT64,
                            &f->best_round));
    MB_TRY(
        mb__h5_read_attr(g[G_MODEL], path, "tree model", "stopped", H5T_NATIVE_INT64, &f->stopped));
    if (f->k < 1 || f->kv < 1 || f->kv > f->k || f->per_round < 1 ||
        f->per_round > MB_TREE_MAX_BINS) {
        err = mb_error_set(MB_EIO, "%s: bad tree model shape k = %lld, kv = %lld, per_round %lld",
                           path, (long long)f->k, (long long)f->kv, (long long)f->per_round);
        goto out;
    }
    MB_TRY(rdset(g[G_MODEL], path, "base", H5T_NATIVE_DOUBLE, sizeof(double), f->per_round, &p));
    memcpy(f->base, p, sizeof(double) * (size_t)f->per_round);
    free(p);
    p = NULL;
    MB_H5(g[G_BINS] = H5Gopen2(g[G_MODEL], "bins", H5P_DEFAULT));
#define RB(field, mt, n)                                                                           \
    MB_TRY(rdset(g[G_BINS], path, #field, mt, sizeof *f->field, (n), &p));                         \
    memcpy(f->field, p, sizeof *f->field *(size_t)(n));                                            \
    free(p);                                                                                       \
    p = NULL;
    RB(nbins, H5T_NATIVE_INT32, d)
    RB(exact, H5T_NATIVE_INT32, d)
    RB(edges, H5T_NATIVE_DOUBLE, d * (MB_TREE_MAX_BINS - 1))
    RB(values, H5T_NATIVE_DOUBLE, d * MB_TREE_MAX_BINS)
#undef RB
    MB_H5(g[G_TREES] = H5Gopen2(g[G_MODEL], "trees", H5P_DEFAULT));
    for (int64_t i = 0; i < ntrees; i++) {
        mb_tree *t = mb_forest_add(f);
        if (!t) {
            err = mb_error_set(MB_EIO, "%s: out of memory", path);
            goto out;
        }
        MB_TRY(read_tree(g[G_TREES], path, i, f->kv, t));
        if (mb_tree_check(t, d) != 0) {
            err = mb_error_set(MB_EIO, "%s: tree %lld is malformed", path, (long long)i);
            goto out;
        }
    }

    /* The common part, as checkpoint.h's struct. */
    c->model_type = kind;
    c->d = d;
    c->k = f->k;
    MB_H5(g[G_PRE] = H5Gopen2(file, "preprocess", H5P_DEFAULT));
    MB_TRY(dset_len(g[G_PRE], path, "ncat", &c->ncol));
    MB_TRY(rdset(g[G_PRE], path, "ncat", H5T_NATIVE_INT64, sizeof(int64_t), c->ncol, &p));
    c->ncat = p;
    p = NULL;
    c->columns = calloc((size_t)c->ncol + 1, sizeof *c->columns);
    c->cats = calloc((size_t)c->ncol + 1, sizeof *c->cats);
    if (!c->columns || !c->cats) {
        err = mb_error_set(MB_EIO, "%s: out of memory", path);
        goto out;
    }
    {
        hid_t st = mb__h5_vlen_str();
        char **tmp = calloc((size_t)c->ncol + 1, sizeof *tmp);
        hid_t ds = H5Dopen2(g[G_PRE], "columns", H5P_DEFAULT);
        herr_t rc = st >= 0 && ds >= 0 && tmp && c->ncol > 0
                        ? H5Dread(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp)
                        : (c->ncol == 0 && tmp ? 0 : -1);
        for (int64_t j = 0; tmp && j < c->ncol; j++) {
            c->columns[j] = strdup(rc >= 0 && tmp[j] ? tmp[j] : "");
            if (tmp[j]) H5free_memory(tmp[j]);
        }
        free(tmp);
        if (ds >= 0) H5Dclose(ds);
        if (st >= 0) H5Tclose(st);
        MB_H5(rc);
    }
    MB_H5(g[G_CATS] = H5Gopen2(g[G_PRE], "categories", H5P_DEFAULT));
    for (int64_t j = 0; j < c->ncol; j++) {
        if (c->ncat[j] == 0) continue;
        MB_TRY(rdset(g[G_CATS], path, c->columns[j], H5T_NATIVE_INT64, sizeof(int64_t), c->ncat[j],
                     &p));
        c->cats[j] = p;
        p = NULL;
    }
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "epoch", H5T_NATIVE_INT64, &c->epoch));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "step", H5T_NATIVE_INT64, &c->step));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "samples_seen", H5T_NATIVE_INT64,
                            &c->samples_seen));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "seed", H5T_NATIVE_UINT64, &c->seed));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "lr", H5T_NATIVE_DOUBLE, &c->lr));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "ranks", H5T_NATIVE_INT, &c->ranks));
    MB_TRY(rattr_str(file, path, "version", 0, &c->version));
    MB_TRY(rattr_str(file, path, "dataset_path", 0, &c->dataset_path));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "dataset_rows", H5T_NATIVE_INT64,
                            &c->dataset_rows));
    MB_TRY(mb__h5_read_attr(file, path, "tree model", "dataset_checksum", H5T_NATIVE_UINT64,
                            &c->dataset_checksum));
    MB_TRY(rattr_str(file, path, "job", 0, &c->job_json));
    MB_TRY(rattr_str(file, path, "target", 1, &c->target));
out:
    free(p);
    mb__h5_close_all(g, NG);
    return err;
}

static mb_err open_ro(const char *path, hid_t *file) {
    mb_err err = MB_OK;
    hid_t fapl = H5I_INVALID_HID;
    *file = H5I_INVALID_HID;
    if (access(path, R_OK) != 0)
        return mb_error_set(MB_EIO, "%s: cannot open tree model: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return mb_error_set(MB_EIO, "%s: not an HDF5 file", path);
    }
    MB_H5(fapl = mb__h5_fapl(0));
    MB_H5(*file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
out:
    mb__h5_close_all(&fapl, 1);
    return err;
}

mb_err mb_trees_read(const char *path, mb_ckpt *ck, mb_forest *f) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    int complete = 0;
    memset(ck, 0, sizeof *ck);
    memset(f, 0, sizeof *f);
    mb__h5_quiet();
    MB_TRY(open_ro(path, &file));
    if (H5Aexists(file, "complete") <= 0 ||
        mb__h5_read_attr(file, path, "tree model", "complete", H5T_NATIVE_INT, &complete) !=
            MB_OK ||
        complete != 1) {
        mb_error_clear();
        err = mb_error_set(MB_EIO, "%s is incomplete (no complete=1 attribute)", path);
        goto out;
    }
    MB_TRY(read_contents(file, path, ck, f));
out:
    mb__h5_close_all(&file, 1);
    if (err) {
        mb_ckpt_clear(ck);
        mb_forest_free(f);
    }
    return err;
}

int mb_trees_is_model(const char *path) {
    int kind = 0, ok = 0;
    mb__h5_quiet();
    if (access(path, R_OK) != 0 || H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    hid_t fapl = mb__h5_fapl(0);
    hid_t file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : H5I_INVALID_HID;
    if (file >= 0 && H5Aexists(file, "model_type") > 0) {
        hid_t a = H5Aopen(file, "model_type", H5P_DEFAULT);
        if (a >= 0 && H5Aread(a, H5T_NATIVE_INT, &kind) >= 0) ok = mb_trees_kind_name(kind) != 0;
        if (a >= 0) H5Aclose(a);
    }
    if (file >= 0) H5Fclose(file);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

typedef struct rank_imp {
    double v;
    int64_t j;
} rank_imp;

static int cmp_imp(const void *a, const void *b) {
    const rank_imp *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

mb_err mb_trees_inspect(const char *path, FILE *out) {
    mb_ckpt c;
    mb_forest f;
    mb_err err = mb_trees_read(path, &c, &f);
    if (err) return err;
    int dmin = 1 << 30, dmax = 0;
    int64_t leaves = 0, nodes = 0;
    double dsum = 0;
    rank_imp *imp = calloc((size_t)f.d + 1, sizeof *imp);
    double *raw = calloc((size_t)f.d + 1, sizeof *raw), total = 0;
    for (int64_t i = 0; i < f.ntrees; i++) {
        int dep = mb_tree_depth(&f.trees[i]);
        if (dep < dmin) dmin = dep;
        if (dep > dmax) dmax = dep;
        dsum += dep;
        nodes += f.trees[i].n;
        for (int64_t n = 0; n < f.trees[i].n; n++) leaves += f.trees[i].feature[n] < 0;
        if (raw) mb_tree_importances(&f.trees[i], f.d, raw);
    }
    if (f.ntrees == 0) dmin = 0;
    fprintf(out, "%s: mbatch tree model (complete)\n", path);
    fprintf(out, "  model         %s %s, %lld tree%s, %lld features", mb_trees_kind_name(f.kind),
            f.classify ? "classifier" : "regressor", (long long)f.ntrees, f.ntrees == 1 ? "" : "s",
            (long long)f.d);
    if (f.classify) fprintf(out, ", %lld classes", (long long)f.k);
    if (f.kind == MB_FOREST_BOOSTED)
        fprintf(out, ", learning rate %g, %lld tree%s per round", f.learning_rate,
                (long long)f.per_round, f.per_round == 1 ? "" : "s");
    fprintf(out, "\n  trees         depth min %d, mean %.2f, max %d; %lld nodes, %lld leaves\n",
            dmin, f.ntrees ? dsum / (double)f.ntrees : 0.0, dmax, (long long)nodes,
            (long long)leaves);
    if (f.kind == MB_FOREST_BOOSTED && isfinite(f.best_val))
        fprintf(out, "  validation    best loss %.6g after round %lld%s\n", f.best_val,
                (long long)f.best_round + 1, f.stopped ? " (stopped early)" : "");
    fprintf(out, "  training      seed %llu, %d rank%s, mbatch %s\n", (unsigned long long)c.seed,
            c.ranks, c.ranks == 1 ? "" : "s", c.version ? c.version : "?");
    fprintf(out, "  dataset       %s (%lld rows, checksum %016llx), target %s\n",
            c.dataset_path ? c.dataset_path : "?", (long long)c.dataset_rows,
            (unsigned long long)c.dataset_checksum, c.target ? c.target : "-");
    fprintf(out, "  importances  ");
    if (imp && raw) {
        /* Names of the expanded features: numeric columns keep theirs, one-hot ones get =code. */
        for (int64_t j = 0; j < f.d; j++) total += raw[j];
        for (int64_t j = 0; j < f.d; j++) {
            imp[j].v = total > 0 ? raw[j] / total : 0;
            imp[j].j = j;
        }
        qsort(imp, (size_t)f.d, sizeof *imp, cmp_imp);
        for (int64_t r = 0; r < f.d && r < 10; r++) {
            int64_t j = imp[r].j, o = 0;
            char name[256] = "?";
            for (int64_t col = 0; col < c.ncol; col++) {
                int64_t w = c.ncat[col] > 0 ? c.ncat[col] : 1;
                if (j < o + w) {
                    if (c.ncat[col] > 0)
                        snprintf(name, sizeof name, "%s=%lld", c.columns[col],
                                 (long long)c.cats[col][j - o]);
                    else
                        snprintf(name, sizeof name, "%s", c.columns[col]);
                    break;
                }
                o += w;
            }
            fprintf(out, " %s %.4f%s", name, imp[r].v, r + 1 < f.d && r < 9 ? "," : "");
        }
    }
    fprintf(out, "\n  job           %s\n", c.job_json ? c.job_json : "?");
    free(imp);
    free(raw);
    mb_ckpt_clear(&c);
    mb_forest_free(&f);
    return MB_OK;
}
