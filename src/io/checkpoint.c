/* checkpoint.c - atomic checkpoint and model files: write, read, find the newest, prune. */
#include "mbatch/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/fault.h"
#include "io/h5util.h"
#include "mbatch/model.h"

static const char *model_name(int type) {
    switch (type) {
    case MB_MODEL_LINEAR:
        return "linear";
    case MB_MODEL_LOGISTIC:
        return "logistic";
    case MB_MODEL_SOFTMAX:
        return "softmax";
    case MB_MODEL_HINGE:
        return "svm_hinge";
    case MB_MODEL_SQUARED_HINGE:
        return "svm_squared_hinge";
    case MB_MODEL_HUBER:
        return "huber";
    case MB_MODEL_MLP:
        return "mlp";
    default:
        return NULL;
    }
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- checksums ---------------------------------------------------------------------------- */

/* FNV-1a, 64 bits: every dataset carries the sum of its bytes as written (attribute "checksum"),
 * and / carries one of its scalar attributes ("attrs_checksum"); readers recompute and compare,
 * so a bit flipped on disk or a torn copy is refused instead of resumed from. */
#define FNV_OFFSET 0xcbf29ce484222325ULL

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_strs(char *const *strs, int64_t n) {
    uint64_t h = FNV_OFFSET;
    for (int64_t i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        h = fnv1a(h, s, strlen(s) + 1);
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) {
    if (!s) s = "";
    return fnv1a(h, s, strlen(s) + 1);
}

/* The scalar attributes of /, in a fixed order and in native byte order. */
static uint64_t attrs_sum(const mb_ckpt *c) {
    uint64_t h = FNV_OFFSET;
    int64_t v[] = {c->model_type, c->d,     c->k,           c->optim_type,
                   c->optim_t,    c->epoch, c->step,        c->samples_seen,
                   c->batch_size, c->ranks, c->dataset_rows};
    h = fnv1a(h, v, sizeof v);
    h = fnv1a(h, &c->seed, sizeof c->seed);
    h = fnv1a(h, &c->lr, sizeof c->lr);
    h = fnv1a(h, &c->dataset_checksum, sizeof c->dataset_checksum);
    h = fnv_str(h, c->version);
    h = fnv_str(h, c->dataset_path);
    h = fnv_str(h, c->job_json);
    h = fnv_str(h, c->target);
    return h;
}

/* ---- writing ---------------------------------------------------------------------------- */

static mb_err write_dset(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, const void *data) {
    mb_err err = MB_OK;
    hid_t dset = H5I_INVALID_HID;
    hsize_t npoints = 1;
    for (int i = 0; i < rank; i++) npoints *= dims[i];
    MB_TRY(mb__h5_create_write(loc, path, name, ftype, mtype, rank, dims, data, &dset));
    uint64_t sum = H5Tis_variable_str(mtype) > 0
                       ? fnv_strs((char *const *)data, (int64_t)npoints)
                       : fnv1a(FNV_OFFSET, data, npoints > 0 ? npoints * H5Tget_size(mtype) : 0);
    MB_TRY(mb__h5_attr_u64(dset, path, "checksum", sum));
out:
    mb__h5_close_all(&dset, 1);
    return err;
}

static mb_err write_f64(hid_t loc, const char *path, const char *name, int rank,
                        const hsize_t *dims, const double *data) {
    return write_dset(loc, path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, data);
}

static mb_err write_strings(hid_t loc, const char *path, const char *name, char *const *strs,
                            int64_t n) {
    mb_err err = MB_OK;
    hid_t t = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    MB_H5(t = mb__h5_vlen_str());
    err = write_dset(loc, path, name, t, t, 1, dims, strs);
out:
    mb__h5_close_all(&t, 1);
    return err;
}

/* A categorical column's name becomes a link name under /preprocess/categories. */
static int link_name_ok(const char *s) {
    return s && s[0] && strchr(s, '/') == NULL && strcmp(s, ".") != 0;
}

static mb_err check_ckpt(const char *path, const mb_ckpt *c) {
    if (!model_name(c->model_type))
        return mb_error_set(MB_EUSAGE, "%s: unknown model type %d", path, c->model_type);
    if (c->d < 0 || c->k < 1)
        return mb_error_set(MB_EUSAGE, "%s: bad model shape d = %lld, k = %lld", path,
                            (long long)c->d, (long long)c->k);
    /* An MLP's size follows its layers (in the job); theta holds them all, flat. */
    if (c->model_type == MB_MODEL_MLP ? c->nparam < 1 : c->nparam != mb_model_nparam(c->d, c->k))
        return mb_error_set(MB_EUSAGE, "%s: nparam = %lld, but d = %lld, k = %lld need %lld", path,
                            (long long)c->nparam, (long long)c->d, (long long)c->k,
                            (long long)mb_model_nparam(c->d, c->k));
    if (!c->theta) return mb_error_set(MB_EUSAGE, "%s: no model parameters (theta is NULL)", path);
    /* A checkpoint is what a run resumes from: a non-finite value in it would poison every
     * resume, so it is refused here whatever the trainer's on_nonfinite policy. */
    const double *arrays[] = {c->theta, c->opt_v, c->opt_m, c->mean, c->std};
    const char *names[] = {"model/theta", "optimizer/v", "optimizer/m", "preprocess/mean",
                           "preprocess/std"};
    for (int a = 0; a < 5; a++) {
        int64_t len = a < 3 ? c->nparam : c->d;
        for (int64_t i = 0; arrays[a] && i < len; i++)
            if (!isfinite(arrays[a][i]))
                return mb_error_set(MB_ENUMERIC,
                                    "%s: refusing to write a checkpoint holding a non-finite "
                                    "value (%s[%lld] = %g)",
                                    path, names[a], (long long)i, arrays[a][i]);
    }
    if (c->ncol < 0 || (c->ncol > 0 && (!c->columns || !c->ncat)))
        return mb_error_set(MB_EUSAGE, "%s: %lld preprocessing columns but no names or counts",
                            path, (long long)c->ncol);
    for (int64_t i = 0; i < c->ncol; i++) {
        if (!c->columns[i])
            return mb_error_set(MB_EUSAGE, "%s: column %lld has no name", path, (long long)i);
        if (c->ncat[i] < 0 || (c->ncat[i] > 0 && (!c->cats || !c->cats[i])))
            return mb_error_set(MB_EUSAGE, "%s: column '%s': %lld categories but no codes", path,
                                c->columns[i], (long long)c->ncat[i]);
        if (c->ncat[i] > 0 && !link_name_ok(c->columns[i]))
            return mb_error_set(MB_EUSAGE,
                                "%s: categorical column name '%s' cannot be an HDF5 link name",
                                path, c->columns[i]);
    }
    return MB_OK;
}

static mb_err write_contents(hid_t file, const char *path, const mb_ckpt *c) {
    mb_err err = MB_OK;
    enum { G_MODEL, G_OPT, G_PRE, G_CATS, NG };
    hid_t g[NG] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t dims[2];

    MB_H5(g[G_MODEL] = H5Gcreate2(file, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    dims[0] = (hsize_t)c->nparam;
    MB_TRY(write_f64(g[G_MODEL], path, "theta", 1, dims, c->theta));
    /* W and b are views of theta (row-major [d][k], then b[k]) for readers who do not know the
     * flat layout. */
    dims[0] = (hsize_t)c->d;
    dims[1] = (hsize_t)c->k;
    MB_TRY(write_f64(g[G_MODEL], path, "W", 2, dims, c->theta));
    dims[0] = (hsize_t)c->k;
    MB_TRY(write_f64(g[G_MODEL], path, "b", 1, dims, c->theta + c->d * c->k));

    MB_H5(g[G_OPT] = H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    dims[0] = (hsize_t)c->nparam;
    if (c->opt_v) MB_TRY(write_f64(g[G_OPT], path, "v", 1, dims, c->opt_v));
    if (c->opt_m) MB_TRY(write_f64(g[G_OPT], path, "m", 1, dims, c->opt_m));

    MB_H5(g[G_PRE] = H5Gcreate2(file, "preprocess", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    dims[0] = (hsize_t)c->ncol;
    MB_TRY(write_strings(g[G_PRE], path, "columns", c->columns, c->ncol));
    MB_TRY(write_dset(g[G_PRE], path, "ncat", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, c->ncat));
    dims[0] = (hsize_t)c->d;
    if (c->mean) MB_TRY(write_f64(g[G_PRE], path, "mean", 1, dims, c->mean));
    if (c->std) MB_TRY(write_f64(g[G_PRE], path, "std", 1, dims, c->std));
    MB_H5(g[G_CATS] = H5Gcreate2(g[G_PRE], "categories", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    for (int64_t i = 0; i < c->ncol; i++) {
        if (c->ncat[i] == 0) continue;
        dims[0] = (hsize_t)c->ncat[i];
        MB_TRY(write_dset(g[G_CATS], path, c->columns[i], H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims,
                          c->cats[i]));
    }

    MB_TRY(mb__h5_attr_int(file, path, "model_type", c->model_type));
    MB_TRY(mb__h5_attr_str(file, path, "model", model_name(c->model_type)));
    MB_TRY(mb__h5_attr_i64(file, path, "d", c->d));
    MB_TRY(mb__h5_attr_i64(file, path, "k", c->k));
    MB_TRY(mb__h5_attr_int(file, path, "optimizer_type", c->optim_type));
    MB_TRY(mb__h5_attr_i64(file, path, "optim_t", c->optim_t));
    MB_TRY(mb__h5_attr_i64(file, path, "epoch", c->epoch));
    MB_TRY(mb__h5_attr_i64(file, path, "step", c->step));
    MB_TRY(mb__h5_attr_i64(file, path, "samples_seen", c->samples_seen));
    MB_TRY(mb__h5_attr_u64(file, path, "seed", c->seed));
    MB_TRY(mb__h5_attr_f64(file, path, "lr", c->lr));
    MB_TRY(mb__h5_attr_i64(file, path, "batch_size", c->batch_size));
    MB_TRY(mb__h5_attr_int(file, path, "ranks", c->ranks));
    MB_TRY(mb__h5_attr_str(file, path, "version", c->version));
    MB_TRY(mb__h5_attr_str(file, path, "dataset_path", c->dataset_path));
    MB_TRY(mb__h5_attr_i64(file, path, "dataset_rows", c->dataset_rows));
    MB_TRY(mb__h5_attr_u64(file, path, "dataset_checksum", c->dataset_checksum));
    MB_TRY(mb__h5_attr_str(file, path, "job", c->job_json));
    if (c->target) MB_TRY(mb__h5_attr_str(file, path, "target", c->target));
    MB_TRY(mb__h5_attr_u64(file, path, "attrs_checksum", attrs_sum(c)));
    /* Last, so that a file without it was interrupted: readers refuse it. */
    MB_TRY(mb__h5_attr_int(file, path, "complete", 1));
out:
    mb__h5_close_all(g, NG);
    return err;
}

mb_err mb_ckpt_write(const char *dir, const char *name, const mb_ckpt *c) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID}; /* fapl, file */
    char *final = NULL, *path = NULL;                  /* `path` is the temporary: see MB_H5 */
    int have_tmp = 0;

    mb__h5_quiet();
    if (!dir || !dir[0] || !name || !name[0] || strchr(name, '/'))
        return mb_error_set(MB_EUSAGE, "checkpoint: bad directory '%s' or file name '%s'",
                            dir ? dir : "(null)", name ? name : "(null)");
    final = join_path(dir, name);
    size_t len = strlen(dir) + strlen(name) + 32;
    path = malloc(len);
    if (path) snprintf(path, len, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    if (!final || !path) {
        err = mb_error_set(MB_EIO, "%s/%s: out of memory", dir, name);
        goto out;
    }
    MB_TRY(check_ckpt(final, c));
    MB_TRY(mb__mkdir_p(dir));

    MB_H5(ids[0] = mb__h5_fapl(0));
    /* A leftover temporary of a writer with our pid (a previous job in this container) is
     * removed, whatever it is; a symlink is removed, not followed. Creating with H5F_ACC_EXCL
     * (O_CREAT | O_EXCL) then fails rather than follow a symlink planted in between. */
    struct stat lst;
    if (lstat(path, &lst) == 0 && unlink(path) != 0) {
        err = mb_error_set(MB_EIO, "%s: cannot remove a leftover temporary: %s", path,
                           strerror(errno));
        goto out;
    }
    int fault = mb__fault("ckpt_create");
    if (fault) {
        err = mb_error_set(MB_EIO, "%s: cannot create: %s", path, strerror(fault));
        goto out;
    }
    have_tmp = 1; /* H5Fcreate may leave a partial file behind even when it fails */
    MB_H5(ids[1] = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, ids[0]));
    MB_TRY(write_contents(ids[1], path, c));
    if ((fault = mb__fault("ckpt_write")) != 0) {
        err = mb_error_set(MB_EIO, "%s: write failed: %s", path, strerror(fault));
        goto out;
    }
    if (mb__fault("ckpt_kill")) raise(SIGKILL);
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
    hid_t file = ids[1];
    ids[1] = H5I_INVALID_HID;
    MB_H5(H5Fclose(file));
    /* Data must be on disk before the rename publishes it, or a crash could leave a complete
     * name pointing at an empty file. */
    if ((fault = mb__fault("ckpt_fsync")) != 0 || mb__fsync_path(path) != 0) {
        err = mb_error_set(MB_EIO, "%s: fsync failed: %s", path, strerror(fault ? fault : errno));
        goto out;
    }
    /* rename() replaces a symlink at `final` itself; it never writes through it. */
    if ((fault = mb__fault("ckpt_rename")) != 0 || rename(path, final) != 0) {
        err = mb_error_set(MB_EIO, "%s: rename to %s failed: %s", path, final,
                           strerror(fault ? fault : errno));
        goto out;
    }
    have_tmp = 0;
    if (mb__fault("ckpt_kill_renamed")) raise(SIGKILL);
    if (mb__fsync_path(dir) != 0)
        err = mb_error_set(MB_EIO, "%s: fsync of the directory after writing %s failed: %s", dir,
                           name, strerror(errno));
out:
    mb__h5_close_all(ids, 2);
    if (have_tmp && path) remove(path);
    free(final);
    free(path);
    return err;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* A string attribute, variable or fixed length; *out malloc'd, NULL if absent and optional. */
static mb_err read_attr_str(hid_t loc, const char *path, const char *name, int optional,
                            char **out) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* attr, ftype, mtype */
    char *vstr = NULL;
    *out = NULL;
    htri_t exists = H5Aexists(loc, name);
    MB_H5(exists);
    if (!exists) {
        if (optional) return MB_OK;
        return mb_error_set(MB_EIO, "%s: checkpoint lacks attribute '%s'", path, name);
    }
    MB_H5(ids[0] = H5Aopen(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Aget_type(ids[0]));
    if (H5Tget_class(ids[1]) != H5T_STRING) {
        err = mb_error_set(MB_EIO, "%s: attribute '%s' is not a string", path, name);
        goto out;
    }
    htri_t is_vlen = H5Tis_variable_str(ids[1]);
    MB_H5(is_vlen);
    MB_H5(ids[2] = H5Tcopy(H5T_C_S1));
    /* Conversions between character sets are refused, so read in the file's own. */
    MB_H5(H5Tset_cset(ids[2], H5Tget_cset(ids[1])));
    if (is_vlen) {
        MB_H5(H5Tset_size(ids[2], H5T_VARIABLE));
        MB_H5(H5Aread(ids[0], ids[2], &vstr));
        *out = dup_str(vstr ? vstr : "");
    } else {
        size_t size = H5Tget_size(ids[1]);
        MB_H5(H5Tset_size(ids[2], size + 1));
        MB_H5(H5Tset_strpad(ids[2], H5T_STR_NULLTERM));
        *out = calloc(size + 1, 1);
        if (*out) MB_H5(H5Aread(ids[0], ids[2], *out));
    }
    if (!*out) err = mb_error_set(MB_EIO, "%s: out of memory reading '%s'", path, name);
out:
    if (vstr) H5free_memory(vstr);
    if (err && *out) {
        free(*out);
        *out = NULL;
    }
    mb__h5_close_all(ids, 3);
    return err;
}

/* Compare the "checksum" attribute of an open dataset with the sum of what was read. */
static mb_err verify_sum(hid_t dset, const char *path, const char *name, uint64_t sum) {
    mb_err err = MB_OK;
    uint64_t stored = 0;
    MB_TRY(mb__h5_read_attr(dset, path, "checkpoint", "checksum", H5T_NATIVE_UINT64, &stored));
    if (stored != sum)
        err = mb_error_set(MB_EIO, "%s: dataset '%s' is corrupt: checksum %016llx, stored %016llx",
                           path, name, (unsigned long long)sum, (unsigned long long)stored);
out:
    return err;
}

/* A dataset of exactly `n` elements (n < 0: any size, returned in *nout), malloc'd into *out.
 * With optional set, an absent dataset leaves *out NULL. */
static mb_err read_dset(hid_t loc, const char *path, const char *name, hid_t mtype, size_t esize,
                        int64_t n, int optional, void **out, int64_t *nout) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    *out = NULL;
    htri_t exists = H5Lexists(loc, name, H5P_DEFAULT);
    MB_H5(exists);
    if (!exists) {
        if (optional) return MB_OK;
        return mb_error_set(MB_EIO, "%s: checkpoint lacks dataset '%s'", path, name);
    }
    MB_H5(ids[0] = H5Dopen2(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_space(ids[0]));
    hssize_t np = H5Sget_simple_extent_npoints(ids[1]);
    MB_H5(np);
    if (n >= 0 && np != n) {
        err = mb_error_set(MB_EIO, "%s: dataset '%s' has %lld elements, expected %lld", path, name,
                           (long long)np, (long long)n);
        goto out;
    }
    if (nout) *nout = np;
    if (np > 0) {
        *out = malloc((size_t)np * esize);
        if (!*out) {
            err = mb_error_set(MB_EIO, "%s: out of memory reading '%s'", path, name);
            goto out;
        }
        MB_H5(H5Dread(ids[0], mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out));
    }
    MB_TRY(verify_sum(ids[0], path, name, fnv1a(FNV_OFFSET, *out, (size_t)np * esize)));
out:
    if (err) {
        free(*out);
        *out = NULL;
    }
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err read_f64(hid_t loc, const char *path, const char *name, int64_t n, int optional,
                       double **out) {
    void *p = NULL;
    mb_err err =
        read_dset(loc, path, name, H5T_NATIVE_DOUBLE, sizeof(double), n, optional, &p, NULL);
    *out = p;
    return err;
}

static mb_err read_strings(hid_t loc, const char *path, const char *name, int64_t n, char ***out) {
    mb_err err = MB_OK;
    hid_t ids[3] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID}; /* dset, ftype, mtype */
    char **raw = NULL;
    *out = NULL;
    MB_H5(ids[0] = H5Dopen2(loc, name, H5P_DEFAULT));
    MB_H5(ids[1] = H5Dget_type(ids[0]));
    if (H5Tget_class(ids[1]) != H5T_STRING || H5Tis_variable_str(ids[1]) <= 0) {
        err =
            mb_error_set(MB_EIO, "%s: '%s' is not an array of variable-length strings", path, name);
        goto out;
    }
    MB_H5(ids[2] = H5Tcopy(H5T_C_S1));
    MB_H5(H5Tset_size(ids[2], H5T_VARIABLE));
    MB_H5(H5Tset_cset(ids[2], H5Tget_cset(ids[1])));
    hid_t space = H5Dget_space(ids[0]);
    MB_H5(space);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    if (np != n) {
        err = mb_error_set(MB_EIO, "%s: '%s' has %lld names, expected %lld", path, name,
                           (long long)np, (long long)n);
        goto out;
    }
    if (n == 0) goto out;
    raw = calloc((size_t)n, sizeof *raw);
    *out = calloc((size_t)n, sizeof **out);
    if (!raw || !*out) {
        err = mb_error_set(MB_EIO, "%s: out of memory reading '%s'", path, name);
        goto out;
    }
    MB_H5(H5Dread(ids[0], ids[2], H5S_ALL, H5S_ALL, H5P_DEFAULT, raw));
    MB_TRY(verify_sum(ids[0], path, name, fnv_strs(raw, n)));
    for (int64_t i = 0; i < n; i++) {
        (*out)[i] = dup_str(raw[i] ? raw[i] : "");
        if (!(*out)[i]) {
            err = mb_error_set(MB_EIO, "%s: out of memory reading '%s'", path, name);
            goto out;
        }
    }
out:
    if (raw) {
        for (int64_t i = 0; i < n; i++)
            if (raw[i]) H5free_memory(raw[i]);
        free(raw);
    }
    if (err && *out) {
        for (int64_t i = 0; i < n; i++) free((*out)[i]);
        free(*out);
        *out = NULL;
    }
    mb__h5_close_all(ids, 3);
    return err;
}

/* 1 if the open file carries complete = 1. */
static int file_complete(hid_t file) {
    int v = 0;
    if (H5Aexists(file, "complete") <= 0) return 0;
    hid_t a = H5Aopen(file, "complete", H5P_DEFAULT);
    if (a < 0) return 0;
    if (H5Aread(a, H5T_NATIVE_INT, &v) < 0) v = 0;
    H5Aclose(a);
    return v == 1;
}

static mb_err open_readonly(const char *path, hid_t *file) {
    mb_err err = MB_OK;
    hid_t fapl = H5I_INVALID_HID;
    struct stat st;
    *file = H5I_INVALID_HID;
    if (stat(path, &st) != 0)
        return mb_error_set(MB_EIO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mb_error_set(MB_EIO, "%s: cannot open checkpoint: not a regular file", path);
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

static mb_err read_contents(hid_t file, const char *path, mb_ckpt *c) {
    mb_err err = MB_OK;
    hid_t pre = H5I_INVALID_HID, cats = H5I_INVALID_HID;
    void *p = NULL;

    MB_TRY(
        mb__h5_read_attr(file, path, "checkpoint", "model_type", H5T_NATIVE_INT, &c->model_type));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "d", H5T_NATIVE_INT64, &c->d));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "k", H5T_NATIVE_INT64, &c->k));
    if (!model_name(c->model_type) || c->d < 0 || c->k < 1) {
        err = mb_error_set(MB_EIO, "%s: bad model in checkpoint: type %d, d = %lld, k = %lld", path,
                           c->model_type, (long long)c->d, (long long)c->k);
        goto out;
    }
    c->nparam = mb_model_nparam(c->d, c->k);
    if (c->model_type == MB_MODEL_MLP) {
        void *th = NULL;
        MB_TRY(read_dset(file, path, "model/theta", H5T_NATIVE_DOUBLE, sizeof(double), -1, 0, &th,
                         &c->nparam));
        c->theta = th;
    } else {
        MB_TRY(read_f64(file, path, "model/theta", c->nparam, 0, &c->theta));
    }

    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "optimizer_type", H5T_NATIVE_INT,
                            &c->optim_type));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "optim_t", H5T_NATIVE_INT64, &c->optim_t));
    MB_TRY(read_f64(file, path, "optimizer/v", c->nparam, 1, &c->opt_v));
    MB_TRY(read_f64(file, path, "optimizer/m", c->nparam, 1, &c->opt_m));

    MB_H5(pre = H5Gopen2(file, "preprocess", H5P_DEFAULT));
    MB_TRY(read_dset(pre, path, "ncat", H5T_NATIVE_INT64, sizeof(int64_t), -1, 0, &p, &c->ncol));
    c->ncat = p;
    MB_TRY(read_strings(pre, path, "columns", c->ncol, &c->columns));
    MB_TRY(read_f64(pre, path, "mean", c->d, 1, &c->mean));
    MB_TRY(read_f64(pre, path, "std", c->d, 1, &c->std));
    if (c->ncol > 0) {
        c->cats = calloc((size_t)c->ncol, sizeof *c->cats);
        if (!c->cats) {
            err = mb_error_set(MB_EIO, "%s: out of memory", path);
            goto out;
        }
    }
    MB_H5(cats = H5Gopen2(pre, "categories", H5P_DEFAULT));
    for (int64_t i = 0; i < c->ncol; i++) {
        if (c->ncat[i] == 0) continue;
        if (c->ncat[i] < 0 || !link_name_ok(c->columns[i])) {
            err = mb_error_set(MB_EIO, "%s: column '%s' has a bad category count %lld", path,
                               c->columns[i], (long long)c->ncat[i]);
            goto out;
        }
        MB_TRY(read_dset(cats, path, c->columns[i], H5T_NATIVE_INT64, sizeof(int64_t), c->ncat[i],
                         0, &p, NULL));
        c->cats[i] = p;
    }

    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "epoch", H5T_NATIVE_INT64, &c->epoch));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "step", H5T_NATIVE_INT64, &c->step));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "samples_seen", H5T_NATIVE_INT64,
                            &c->samples_seen));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "seed", H5T_NATIVE_UINT64, &c->seed));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "lr", H5T_NATIVE_DOUBLE, &c->lr));
    MB_TRY(
        mb__h5_read_attr(file, path, "checkpoint", "batch_size", H5T_NATIVE_INT64, &c->batch_size));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "ranks", H5T_NATIVE_INT, &c->ranks));
    MB_TRY(read_attr_str(file, path, "version", 0, &c->version));
    MB_TRY(read_attr_str(file, path, "dataset_path", 0, &c->dataset_path));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "dataset_rows", H5T_NATIVE_INT64,
                            &c->dataset_rows));
    MB_TRY(mb__h5_read_attr(file, path, "checkpoint", "dataset_checksum", H5T_NATIVE_UINT64,
                            &c->dataset_checksum));
    MB_TRY(read_attr_str(file, path, "job", 0, &c->job_json));
    MB_TRY(read_attr_str(file, path, "target", 1, &c->target));
    uint64_t stored = 0;
    MB_TRY(
        mb__h5_read_attr(file, path, "checkpoint", "attrs_checksum", H5T_NATIVE_UINT64, &stored));
    if (stored != attrs_sum(c))
        err = mb_error_set(MB_EIO, "%s: the attributes of / are corrupt (checksum mismatch)", path);
out:
    mb__h5_close_all(&cats, 1);
    mb__h5_close_all(&pre, 1);
    return err;
}

mb_err mb_ckpt_read(const char *path, mb_ckpt *c) {
    mb_err err = MB_OK;
    hid_t file = H5I_INVALID_HID;
    memset(c, 0, sizeof *c);
    mb__h5_quiet();
    MB_TRY(open_readonly(path, &file));
    if (!file_complete(file)) {
        err = mb_error_set(MB_EIO,
                           "%s is incomplete (no complete=1 attribute): it was being written "
                           "when the job stopped",
                           path);
        goto out;
    }
    MB_TRY(read_contents(file, path, c));
out:
    mb__h5_close_all(&file, 1);
    if (err) mb_ckpt_clear(c);
    return err;
}

void mb_ckpt_clear(mb_ckpt *c) {
    if (!c) return;
    free(c->theta);
    free(c->opt_v);
    free(c->opt_m);
    for (int64_t i = 0; i < c->ncol; i++) {
        if (c->columns) free(c->columns[i]);
        if (c->cats) free(c->cats[i]);
    }
    free(c->columns);
    free(c->cats);
    free(c->ncat);
    free(c->mean);
    free(c->std);
    free(c->version);
    free(c->dataset_path);
    free(c->job_json);
    free(c->target);
    memset(c, 0, sizeof *c);
}

/* ---- finding and pruning ------------------------------------------------------------------ */

typedef struct ckpt_entry {
    int64_t step;
    char *path;
} ckpt_entry;

/* The step of "ckpt-<decimal>.h5", or -1 for any other name. */
static int64_t parse_step(const char *name) {
    if (strncmp(name, "ckpt-", 5) != 0) return -1;
    const char *p = name + 5;
    int64_t step = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits >= 18) return -1; /* beyond any real step count; avoids overflow */
        step = step * 10 + (*p - '0');
    }
    if (digits == 0 || strcmp(p, ".h5") != 0) return -1;
    return step;
}

/* A temporary of mb_ckpt_write (".ckpt-<step>.h5.tmp-<pid>") whose writer is gone. A live
 * writer on this host keeps its file; a pid from another host that happens to be alive here
 * only delays the cleanup to a later prune. */
static int stale_temp(const char *name) {
    if (strncmp(name, ".ckpt-", 6) != 0) return 0;
    const char *t = strstr(name, ".tmp-");
    if (!t) return 0;
    char *end = NULL;
    errno = 0;
    long pid = strtol(t + 5, &end, 10);
    if (errno || end == t + 5 || *end != '\0' || pid <= 0) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int cmp_step_desc(const void *a, const void *b) {
    const ckpt_entry *x = a, *y = b;
    return (x->step < y->step) - (x->step > y->step);
}

static void free_entries(ckpt_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) free(e[i].path);
    free(e);
}

/* The ckpt-<step>.h5 files of dir, newest first. A missing dir gives none. */
static mb_err list_ckpts(const char *dir, ckpt_entry **out, size_t *nout) {
    mb_err err = MB_OK;
    ckpt_entry *e = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *nout = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return MB_OK;
        return mb_error_set(MB_EIO, "%s: cannot list checkpoints: %s", dir, strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t step = parse_step(de->d_name);
        if (step < 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ckpt_entry *grown = realloc(e, cap * sizeof *e);
            if (!grown) {
                err = mb_error_set(MB_EIO, "%s: out of memory listing checkpoints", dir);
                goto out;
            }
            e = grown;
        }
        e[n].step = step;
        e[n].path = join_path(dir, de->d_name);
        if (!e[n].path) {
            err = mb_error_set(MB_EIO, "%s: out of memory listing checkpoints", dir);
            goto out;
        }
        n++;
    }
    if (n > 1) qsort(e, n, sizeof *e, cmp_step_desc);
out:
    closedir(d);
    if (err) {
        free_entries(e, n);
        return err;
    }
    *out = e;
    *nout = n;
    return MB_OK;
}

/* 1 if path is a readable HDF5 file with complete = 1; never records an error. */
static int ckpt_complete(const char *path) {
    int ok = 0;
    if (H5Fis_hdf5(path) > 0) {
        hid_t fapl = mb__h5_fapl(0);
        hid_t file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : H5I_INVALID_HID;
        if (file >= 0) {
            ok = file_complete(file);
            H5Fclose(file);
        }
        if (fapl >= 0) H5Pclose(fapl);
    }
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

mb_err mb_ckpt_latest(const char *dir, char **path, int64_t *step) {
    ckpt_entry *e = NULL;
    size_t n = 0;
    *path = NULL;
    if (step) *step = -1;
    mb__h5_quiet();
    mb_err err = list_ckpts(dir, &e, &n);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        if (!ckpt_complete(e[i].path)) continue;
        *path = e[i].path;
        e[i].path = NULL;
        if (step) *step = e[i].step;
        break;
    }
    free_entries(e, n);
    return MB_OK;
}

mb_err mb_ckpt_load_newest(const char *dir, mb_ckpt *c, char **path, int64_t *step) {
    ckpt_entry *e = NULL;
    size_t n = 0;
    char first[MB_ERRMSG_MAX] = "";
    *path = NULL;
    if (step) *step = -1;
    memset(c, 0, sizeof *c);
    mb__h5_quiet();
    mb_err err = list_ckpts(dir, &e, &n);
    if (err) return err;
    for (size_t i = 0; i < n; i++) {
        if (mb_ckpt_read(e[i].path, c) == MB_OK) {
            *path = e[i].path;
            e[i].path = NULL;
            if (step) *step = e[i].step;
            break;
        }
        /* Fall back to the next older one; the bad file stays for inspection (never deleted:
         * prune only removes complete checkpoints). */
        if (!first[0]) snprintf(first, sizeof first, "%s", mb_error_message());
        fprintf(stderr, "mbatch: warning: %s; trying the previous checkpoint\n",
                mb_error_message());
        mb_error_clear();
    }
    if (!*path && n > 0)
        err = mb_error_set(MB_EIO,
                           "%s: none of its %zu checkpoints is valid (newest: %s); nothing was "
                           "deleted",
                           dir, n, first);
    free_entries(e, n);
    return err;
}

mb_err mb_ckpt_prune(const char *dir, int keep) {
    ckpt_entry *e = NULL;
    size_t n = 0;
    int kept = 0;
    mb__h5_quiet();
    mb_err err = list_ckpts(dir, &e, &n);
    if (err) return err;
    /* Files that are not complete checkpoints are left alone: they are not ours to judge, and
     * mb_ckpt_latest already skips them. */
    for (size_t i = 0; i < n && keep > 0; i++) {
        if (!ckpt_complete(e[i].path)) continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        if (unlink(e[i].path) != 0) {
            err = mb_error_set(MB_EIO, "%s: cannot remove old checkpoint: %s", e[i].path,
                               strerror(errno));
            goto out;
        }
    }

    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            err = mb_error_set(MB_EIO, "%s: cannot list checkpoints: %s", dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while (!err && (de = readdir(d)) != NULL) {
        if (!stale_temp(de->d_name)) continue;
        char *p = join_path(dir, de->d_name);
        if (!p || (unlink(p) != 0 && errno != ENOENT))
            err = mb_error_set(MB_EIO, "%s: cannot remove stale temporary: %s", p ? p : de->d_name,
                               p ? strerror(errno) : "out of memory");
        free(p);
    }
    closedir(d);
out:
    free_entries(e, n);
    return err;
}
