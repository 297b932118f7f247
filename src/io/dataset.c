/* dataset.c - validate a dataset on rank 0, broadcast its metadata, read each rank's shard. */
#include "mbatch/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"
#include "mbatch/partition.h"
#include "mbatch/preprocess.h"

enum { LAYOUT_MATRIX = 0, LAYOUT_COLUMNS = 1 };

/* Parallel mode reads at most this many doubles per H5Dread, so a subset read's staging buffer
 * stays at 32 MB whatever the shard size; scatter mode's rank 0 holds one block of that size, not
 * the whole dataset. MBATCH_IO_PIECE_DOUBLES (rank 0's value) overrides it so that tests run the
 * piece and block loops many times on small files. */
#define PIECE_DOUBLES ((int64_t)4 << 20)

struct mb_dataset {
    char *path;
    int layout;
    int64_t n, ncol;
    char *xpath;        /* matrix: the /X dataset; columns: the group */
    int64_t xwidth;     /* matrix: columns of /X */
    int identity;       /* matrix: raw columns are all of /X's columns, in order */
    char **names;       /* ncol */
    char **cpaths;      /* ncol dataset paths (columns layout), NULL for matrix */
    int64_t *xcol;      /* ncol: the /X column of each raw column (matrix) */
    unsigned char *cat; /* ncol categorical flags */
    int64_t *dclass;    /* ncol H5T_class_t of each column's file type */
    int64_t *dsize;     /* ncol byte sizes of each column's file type */
    int has_target;
    char *target; /* target dataset path, NULL without a target */
    int64_t yclass, ysize;
    uint64_t checksum;
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static mb_err oom(const char *path) {
    return mb_error_set(MB_EIO, "%s: out of memory", path ? path : "(no file)");
}

void mb_dataset_close(mb_dataset *ds) {
    if (!ds) return;
    for (int64_t c = 0; c < ds->ncol; c++) {
        if (ds->names) free(ds->names[c]);
        if (ds->cpaths) free(ds->cpaths[c]);
    }
    free(ds->names);
    free(ds->cpaths);
    free(ds->xcol);
    free(ds->cat);
    free(ds->dclass);
    free(ds->dsize);
    free(ds->xpath);
    free(ds->target);
    free(ds->path);
    free(ds);
}

/* The most feature columns a dataset may declare (a dense model of this width is already
 * 8 MB per output per copy). */
#define MB_MAX_COLUMNS 1000000

static mb_err alloc_columns(mb_dataset *ds, int64_t ncol, int with_paths) {
    ds->ncol = ncol;
    size_t n = (size_t)(ncol > 0 ? ncol : 1);
    ds->names = calloc(n, sizeof *ds->names);
    ds->cpaths = with_paths ? calloc(n, sizeof *ds->cpaths) : NULL;
    ds->xcol = calloc(n, sizeof *ds->xcol);
    ds->cat = calloc(n, sizeof *ds->cat);
    ds->dclass = calloc(n, sizeof *ds->dclass);
    ds->dsize = calloc(n, sizeof *ds->dsize);
    if (!ds->names || (with_paths && !ds->cpaths) || !ds->xcol || !ds->cat || !ds->dclass ||
        !ds->dsize)
        return oom(ds->path);
    return MB_OK;
}

static void dtype_name(hid_t t, char *buf, size_t n) {
    size_t bits = H5Tget_size(t) * 8;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
        break;
    case H5T_FLOAT:
        snprintf(buf, n, "float%zu", bits);
        break;
    case H5T_STRING:
        snprintf(buf, n, "string");
        break;
    case H5T_COMPOUND:
        snprintf(buf, n, "compound");
        break;
    case H5T_ENUM:
        snprintf(buf, n, "enum");
        break;
    case H5T_ARRAY:
        snprintf(buf, n, "array");
        break;
    case H5T_VLEN:
        snprintf(buf, n, "vlen");
        break;
    case H5T_OPAQUE:
        snprintf(buf, n, "opaque");
        break;
    case H5T_BITFIELD:
        snprintf(buf, n, "bitfield");
        break;
    case H5T_REFERENCE:
        snprintf(buf, n, "reference");
        break;
    case H5T_TIME:
        snprintf(buf, n, "time");
        break;
    default:
        snprintf(buf, n, "unknown");
        break;
    }
}

/* 1 if some link along p is an external link (checked component by component, so that no
 * external file is ever opened); 0 otherwise, including when a component is missing. */
static int path_external(hid_t fid, const char *p) {
    size_t len = strlen(p);
    char *buf = malloc(len + 1);
    if (!buf) return 0;
    int ext = 0;
    for (size_t i = 1; i <= len && !ext; i++) {
        if (i < len && p[i] != '/') continue;
        memcpy(buf, p, i);
        buf[i] = '\0';
        if (strcmp(buf, "/") == 0) continue;
        H5L_info_t li;
        if (H5Lexists(fid, buf, H5P_DEFAULT) <= 0 || H5Lget_info(fid, buf, &li, H5P_DEFAULT) < 0)
            break;
        ext = li.type == H5L_TYPE_EXTERNAL;
    }
    free(buf);
    H5Eclear2(H5E_DEFAULT);
    return ext;
}

/* Data must live in the file itself: external links, virtual datasets and external raw storage
 * would make mbatch read files the job never named. */
static mb_err refuse_foreign(hid_t fid, const char *file, const char *p) {
    if (path_external(fid, p))
        return mb_error_set(MB_EDATA,
                            "%s: %s is (or lies under) an external link to another file; copy "
                            "the data into the file (h5copy) or name that file",
                            file, p);
    return MB_OK;
}

static mb_err refuse_virtual(hid_t did, const char *file, const char *p) {
    hid_t dcpl = H5Dget_create_plist(did);
    if (dcpl < 0) return mb__h5_report(file, __FILE__, __LINE__, "H5Dget_create_plist");
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int next = H5Pget_external_count(dcpl);
    H5Pclose(dcpl);
    if (layout == H5D_VIRTUAL)
        return mb_error_set(MB_EDATA,
                            "%s: %s is a virtual dataset (its data lives in other files); "
                            "materialize it first (h5repack -l CONTI)",
                            file, p);
    if (next > 0)
        return mb_error_set(MB_EDATA,
                            "%s: %s keeps its data in %d external raw file%s; store it in the "
                            "HDF5 file itself",
                            file, p, next, next == 1 ? "" : "s");
    return MB_OK;
}

/* Does every link along p exist? H5Lexists alone fails when an intermediate group is missing. */
static int path_exists(hid_t fid, const char *p) {
    size_t len = strlen(p);
    char *buf = malloc(len + 1);
    if (!buf) return 0;
    int ok = 1;
    for (size_t i = 1; i <= len && ok; i++) {
        if (i < len && p[i] != '/') continue;
        memcpy(buf, p, i);
        buf[i] = '\0';
        if (strcmp(buf, "/") == 0) continue;
        ok = H5Lexists(fid, buf, H5P_DEFAULT) > 0;
    }
    free(buf);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* Open dataset dpath of file (named `file` in messages): MB_EDATA when missing or not a dataset. */
static mb_err open_dset(hid_t fid, const char *file, const char *dpath, hid_t *out) {
    *out = H5I_INVALID_HID;
    mb_err err = refuse_foreign(fid, file, dpath);
    if (err) return err;
    if (!path_exists(fid, dpath))
        return mb_error_set(MB_EDATA, "%s: dataset %s not found", file, dpath);
    hid_t id = H5Oopen(fid, dpath, H5P_DEFAULT);
    if (id < 0) return mb__h5_report(file, __FILE__, __LINE__, "H5Oopen");
    if (H5Iget_type(id) != H5I_DATASET) {
        H5Oclose(id);
        return mb_error_set(MB_EDATA, "%s: %s is not a dataset", file, dpath);
    }
    if ((err = refuse_virtual(id, file, dpath)) != MB_OK) {
        H5Oclose(id);
        return err;
    }
    *out = id;
    return MB_OK;
}

/* The shape of a dataset: rank and dims (up to 2 kept); MB_EDATA when the rank is not `want`. */
static mb_err dset_shape(hid_t did, const char *file, const char *dpath, int want,
                         hsize_t dims[2]) {
    hid_t sp = H5Dget_space(did);
    if (sp < 0) return mb__h5_report(file, __FILE__, __LINE__, "H5Dget_space");
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    if (nd > 0) H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    if (nd < 0) return mb__h5_report(file, __FILE__, __LINE__, "H5Sget_simple_extent_ndims");
    if (nd != want)
        return mb_error_set(MB_EDATA, "%s: %s must be %d-D, has %d dimension%s", file, dpath, want,
                            nd, nd == 1 ? "" : "s");
    dims[0] = d[0];
    dims[1] = want > 1 ? d[1] : 1;
    return MB_OK;
}

/* Record the file type of a dataset; `ok_int` admits integer types, `ok_float_any` admits floats
 * of any size (else only float32/float64). */
static mb_err dset_dtype(hid_t did, const char *file, const char *dpath, int ok_int,
                         int ok_float_any, const char *expected, int64_t *cls, int64_t *size) {
    hid_t t = H5Dget_type(did);
    if (t < 0) return mb__h5_report(file, __FILE__, __LINE__, "H5Dget_type");
    H5T_class_t k = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    char name[32];
    dtype_name(t, name, sizeof name);
    H5Tclose(t);
    int ok =
        (k == H5T_INTEGER && ok_int) || (k == H5T_FLOAT && (ok_float_any || sz == 4 || sz == 8));
    if (!ok)
        return mb_error_set(MB_EDATA, "%s: %s has an unsupported dtype (%s); expected %s", file,
                            dpath, name, expected);
    *cls = (int64_t)k;
    *size = (int64_t)sz;
    return MB_OK;
}

/* Append a comma-separated list of names to buf, cut short so the message stays readable. */
static void list_names(char *buf, size_t n, char *const *names, int64_t count) {
    size_t used = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < count && used + 1 < n; i++) {
        if (used > 400) {
            snprintf(buf + used, n - used, ", ...");
            return;
        }
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) return;
        used += (size_t)w;
    }
}

/* Names of a group's links in name order (for "not found ... (has: ...)" messages). */
static void group_members(hid_t gid, char *buf, size_t n) {
    H5G_info_t info;
    buf[0] = '\0';
    if (H5Gget_info(gid, &info) < 0) return;
    size_t used = 0;
    for (hsize_t i = 0; i < info.nlinks && used + 1 < n; i++) {
        char name[128];
        if (H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                               H5P_DEFAULT) < 0)
            break;
        if (used > 400) {
            snprintf(buf + used, n - used, ", ...");
            break;
        }
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", name);
        if (w < 0) break;
        used += (size_t)w;
    }
    H5Eclear2(H5E_DEFAULT);
}

/* Read the string-array attribute `columns` of /X (variable- or fixed-length strings). */
static mb_err read_columns_attr(hid_t did, const char *file, const char *dpath, int64_t width,
                                char ***out) {
    mb_err err = MB_OK;
    const char *path = file;
    hid_t aid = H5I_INVALID_HID, ftype = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    char **names = NULL, **vbuf = NULL, *fbuf = NULL;
    int vlen_read = 0;
    *out = NULL;

    MB_H5(aid = H5Aopen(did, "columns", H5P_DEFAULT));
    MB_H5(ftype = H5Aget_type(aid));
    MB_H5(sp = H5Aget_space(aid));
    if (H5Tget_class(ftype) != H5T_STRING) {
        char tn[32];
        dtype_name(ftype, tn, sizeof tn);
        err = mb_error_set(MB_EDATA, "%s: attribute 'columns' of %s is %s, not a string array",
                           file, dpath, tn);
        goto out;
    }
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    if (count != (hssize_t)width || H5Sget_simple_extent_ndims(sp) > 1) {
        err = mb_error_set(MB_EDATA,
                           "%s: attribute 'columns' of %s has %lld names but %s has %lld "
                           "columns",
                           file, dpath, (long long)count, dpath, (long long)width);
        goto out;
    }
    names = calloc((size_t)width, sizeof *names);
    if (!names) {
        err = oom(file);
        goto out;
    }
    htri_t is_vlen = H5Tis_variable_str(ftype);
    MB_H5(is_vlen);
    if (is_vlen) {
        vbuf = calloc((size_t)width, sizeof *vbuf);
        if (!vbuf) {
            err = oom(file);
            goto out;
        }
        MB_H5(H5Aread(aid, ftype, vbuf));
        vlen_read = 1;
        for (int64_t i = 0; i < width; i++) {
            names[i] = dupstr(vbuf[i] ? vbuf[i] : "");
            if (!names[i]) {
                err = oom(file);
                goto out;
            }
        }
    } else {
        size_t sz = H5Tget_size(ftype);
        int spacepad = H5Tget_strpad(ftype) == H5T_STR_SPACEPAD;
        fbuf = malloc((size_t)width * sz + 1);
        if (!fbuf) {
            err = oom(file);
            goto out;
        }
        MB_H5(H5Aread(aid, ftype, fbuf));
        for (int64_t i = 0; i < width; i++) {
            const char *s = fbuf + (size_t)i * sz;
            size_t len = strnlen(s, sz);
            while (spacepad && len > 0 && s[len - 1] == ' ') len--;
            names[i] = malloc(len + 1);
            if (!names[i]) {
                err = oom(file);
                goto out;
            }
            memcpy(names[i], s, len);
            names[i][len] = '\0';
        }
    }
    *out = names;
    names = NULL;
out:
    if (vlen_read) H5Dvlen_reclaim(ftype, sp, H5P_DEFAULT, vbuf);
    free(vbuf);
    free(fbuf);
    if (names) {
        for (int64_t i = 0; i < width; i++) free(names[i]);
        free(names);
    }
    hid_t ids[] = {sp, ftype, aid};
    mb__h5_close_all(ids, 3);
    return err;
}

/* ---------------------------------------------------------------------------------------------
 * Validation (rank 0) */

static int64_t find_name(char *const *names, int64_t n, const char *want) {
    for (int64_t i = 0; i < n; i++)
        if (strcmp(names[i], want) == 0) return i;
    return -1;
}

static mb_err validate_matrix(hid_t fid, const mb_dataset_spec *spec, mb_dataset *ds) {
    mb_err err = MB_OK;
    const char *file = ds->path;
    hid_t did = H5I_INVALID_HID;
    char **attr = NULL;
    hsize_t dims[2];
    int64_t cls = 0, size = 0;

    MB_TRY(open_dset(fid, file, spec->X, &did));
    MB_TRY(dset_dtype(did, file, spec->X, 0, 0, "float32 or float64", &cls, &size));
    MB_TRY(dset_shape(did, file, spec->X, 2, dims));
    ds->n = (int64_t)dims[0];
    ds->xwidth = (int64_t)dims[1];
    if (ds->n == 0) MB_TRY(mb_error_set(MB_EDATA, "%s: %s has zero rows", file, spec->X));
    if (ds->xwidth == 0) MB_TRY(mb_error_set(MB_EDATA, "%s: %s has zero columns", file, spec->X));
    /* Per-column metadata is allocated below: an absurd declared width is refused first. */
    if (ds->xwidth > MB_MAX_COLUMNS)
        MB_TRY(mb_error_set(MB_EDATA, "%s: %s declares %lld columns; at most %d are supported",
                            file, spec->X, (long long)ds->xwidth, MB_MAX_COLUMNS));

    htri_t has_attr = H5Aexists(did, "columns");
    if (has_attr < 0) MB_TRY(mb__h5_report(file, __FILE__, __LINE__, "H5Aexists"));
    if (has_attr) MB_TRY(read_columns_attr(did, file, spec->X, ds->xwidth, &attr));

    int64_t ncol = spec->nfeatures > 0 ? spec->nfeatures : ds->xwidth;
    MB_TRY(alloc_columns(ds, ncol, 0));
    if (spec->nfeatures > 0 && !attr)
        MB_TRY(mb_error_set(MB_EDATA,
                            "%s: %s has no 'columns' attribute, so features cannot be picked by "
                            "name (first requested: '%s')",
                            file, spec->X, spec->features[0]));
    ds->identity = ncol == ds->xwidth;
    for (int64_t c = 0; c < ncol; c++) {
        int64_t j = c;
        if (spec->nfeatures > 0) {
            j = find_name(attr, ds->xwidth, spec->features[c]);
            if (j < 0) {
                char has[600];
                list_names(has, sizeof has, attr, ds->xwidth);
                MB_TRY(mb_error_set(MB_EDATA, "%s: column '%s' not found in %s (has: %s)", file,
                                    spec->features[c], spec->X, has));
            }
        }
        if (j != c) ds->identity = 0;
        ds->xcol[c] = j;
        char gen[32];
        snprintf(gen, sizeof gen, "x%lld", (long long)j);
        ds->names[c] = dupstr(attr ? attr[j] : gen);
        if (!ds->names[c]) MB_TRY(oom(file));
        ds->dclass[c] = cls;
        ds->dsize[c] = size;
    }
out:
    if (attr) {
        for (int64_t i = 0; i < ds->xwidth; i++) free(attr[i]);
        free(attr);
    }
    if (did >= 0) H5Oclose(did);
    return err;
}

static char *join_path(const char *group, const char *name) {
    size_t gl = strlen(group);
    int slash = gl > 0 && group[gl - 1] == '/';
    size_t n = gl + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", group, slash ? "" : "/", name);
    return p;
}

static mb_err validate_columns(hid_t fid, const mb_dataset_spec *spec, mb_dataset *ds) {
    mb_err err = MB_OK;
    const char *file = ds->path;
    hid_t gid = H5I_INVALID_HID, did = H5I_INVALID_HID;
    const char *ref = NULL;

    if (spec->nfeatures <= 0)
        return mb_error_set(MB_EUSAGE, "%s: no features named for group %s", file, spec->group);
    MB_TRY(refuse_foreign(fid, file, spec->group));
    if (!path_exists(fid, spec->group))
        return mb_error_set(MB_EDATA, "%s: group %s not found", file, spec->group);
    gid = H5Gopen2(fid, spec->group, H5P_DEFAULT);
    if (gid < 0) {
        H5Eclear2(H5E_DEFAULT);
        return mb_error_set(MB_EDATA, "%s: %s is not a group", file, spec->group);
    }
    MB_TRY(alloc_columns(ds, spec->nfeatures, 1));
    ds->n = -1;
    for (int64_t c = 0; c < ds->ncol; c++) {
        const char *name = spec->features[c];
        ds->names[c] = dupstr(name);
        ds->cpaths[c] = join_path(spec->group, name);
        if (!ds->names[c] || !ds->cpaths[c]) MB_TRY(oom(file));
        ds->xcol[c] = c;
        htri_t ex = H5Lexists(gid, name, H5P_DEFAULT);
        H5Eclear2(H5E_DEFAULT);
        if (ex <= 0) {
            char has[600];
            group_members(gid, has, sizeof has);
            MB_TRY(mb_error_set(MB_EDATA, "%s: column '%s' not found in group %s (has: %s)", file,
                                name, spec->group, has));
        }
        MB_TRY(open_dset(fid, file, ds->cpaths[c], &did));
        MB_TRY(dset_dtype(did, file, ds->cpaths[c], 1, 0, "float32, float64 or an integer type",
                          &ds->dclass[c], &ds->dsize[c]));
        hsize_t dims[2];
        MB_TRY(dset_shape(did, file, ds->cpaths[c], 1, dims));
        H5Oclose(did);
        did = H5I_INVALID_HID;
        if (ds->n < 0) {
            ds->n = (int64_t)dims[0];
            ref = ds->cpaths[c];
            if (ds->n == 0) MB_TRY(mb_error_set(MB_EDATA, "%s: %s has zero rows", file, ref));
        } else if ((int64_t)dims[0] != ds->n) {
            MB_TRY(mb_error_set(MB_EDATA, "%s: %s has %lld rows but %s has %lld", file, ref,
                                (long long)ds->n, ds->cpaths[c], (long long)dims[0]));
        }
    }
out:
    if (did >= 0) H5Oclose(did);
    if (gid >= 0) H5Gclose(gid);
    return err;
}

static mb_err validate_target(hid_t fid, const char *tpath, int need_target, mb_dataset *ds) {
    mb_err err = MB_OK;
    const char *file = ds->path;
    hid_t did = H5I_INVALID_HID;
    hsize_t dims[2];

    if (!tpath) {
        if (need_target) return mb_error_set(MB_EUSAGE, "%s: the dataset names no target", file);
        return MB_OK;
    }
    /* Predict reads a target only when the file has one. */
    if (!need_target && !path_exists(fid, tpath) && !path_external(fid, tpath)) return MB_OK;
    MB_TRY(open_dset(fid, file, tpath, &did));
    MB_TRY(dset_dtype(did, file, tpath, 1, 1, "an integer or float type", &ds->yclass, &ds->ysize));
    MB_TRY(dset_shape(did, file, tpath, 1, dims));
    const char *ref = ds->layout == LAYOUT_MATRIX ? ds->xpath : ds->cpaths[0];
    if ((int64_t)dims[0] != ds->n)
        MB_TRY(mb_error_set(MB_EDATA, "%s: %s has %lld rows but %s has %lld", file, ref,
                            (long long)ds->n, tpath, (long long)dims[0]));
    ds->target = dupstr(tpath);
    if (!ds->target) MB_TRY(oom(file));
    ds->has_target = 1;
out:
    if (did >= 0) H5Oclose(did);
    return err;
}

static mb_err validate_categorical(const mb_dataset_spec *spec, mb_dataset *ds) {
    for (int i = 0; i < spec->ncategorical; i++) {
        const char *name = spec->categorical[i];
        int64_t c = find_name(ds->names, ds->ncol, name);
        if (c < 0)
            return mb_error_set(MB_EUSAGE, "%s: categorical column '%s' is not one of the features",
                                ds->path, name);
        if (ds->dclass[c] != (int64_t)H5T_INTEGER) {
            const char *where = ds->cpaths ? ds->cpaths[c] : ds->xpath;
            return mb_error_set(MB_EDATA,
                                "%s: categorical column '%s' (%s) is float%lld; categorical "
                                "columns must be integer",
                                ds->path, name, where, (long long)ds->dsize[c] * 8);
        }
        ds->cat[c] = 1;
    }
    return MB_OK;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v) {
    unsigned char b[8]; /* little-endian whatever the host, so the checksum travels */
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)v >> (8 * i));
    return fnv(h, b, 8);
}

static uint64_t fnv_str(uint64_t h, const char *s) {
    return fnv(h, s ? s : "", strlen(s ? s : "") + 1); /* the NUL separates neighbours */
}

static uint64_t compute_checksum(const mb_dataset *ds) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_i64(h, ds->layout);
    h = fnv_str(h, ds->xpath);
    h = fnv_i64(h, ds->n);
    h = fnv_i64(h, ds->ncol);
    h = fnv_i64(h, ds->xwidth);
    for (int64_t c = 0; c < ds->ncol; c++) {
        h = fnv_str(h, ds->cpaths ? ds->cpaths[c] : "");
        h = fnv_str(h, ds->names[c]);
        h = fnv_i64(h, ds->xcol[c]);
        h = fnv_i64(h, ds->cat[c]);
        h = fnv_i64(h, ds->dclass[c]);
        h = fnv_i64(h, ds->dsize[c]);
    }
    h = fnv_i64(h, ds->has_target);
    if (ds->has_target) {
        h = fnv_str(h, ds->target);
        h = fnv_i64(h, ds->yclass);
        h = fnv_i64(h, ds->ysize);
    }
    return h;
}

/* Little-endian unsigned integer of n bytes. */
static uint64_t le_uint(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Read the HDF5 superblock ourselves, before HDF5 sees the file: refuse a file whose writer has
 * it flagged open (HDF5 would refuse it with a cryptic stack) and one shorter than the end of
 * file its superblock declares (truncated by a crash or an interrupted copy). A file without
 * the HDF5 signature is left to H5Fis_hdf5. */
static mb_err check_superblock(const char *path, int64_t size) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char sb[96];
    FILE *f = fopen(path, "rb");
    if (!f) return mb_error_set(MB_EIO, "%s: cannot open: %s", path, strerror(errno));
    int64_t base = -1;
    size_t got = 0;
    /* The signature sits at 0, 512, 1024, 2048, ... */
    for (int64_t off = 0; off + 8 <= size && off <= ((int64_t)1 << 30); off = off ? off * 2 : 512) {
        if (fseeko(f, (off_t)off, SEEK_SET) != 0) break;
        got = fread(sb, 1, sizeof sb, f);
        if (got >= 8 && memcmp(sb, sig, 8) == 0) {
            base = off;
            break;
        }
    }
    fclose(f);
    if (base < 0) return MB_OK;
    if (got < 16)
        return mb_error_set(MB_EDATA, "%s: truncated HDF5 file (%lld bytes, cut inside its header)",
                            path, (long long)size);
    int version = sb[8];
    int64_t eof_at, osize;
    if (version >= 2) {
        osize = sb[9];
        if (sb[11] & 0x05)
            return mb_error_set(
                MB_EDATA,
                "%s: the file is flagged as open for writing (a writer is still "
                "running, or crashed); if no writer is running, clear the flag with "
                "`h5clear -s %s`",
                path, path);
        eof_at = 12 + 2 * osize;
    } else {
        osize = sb[13];
        eof_at = (version == 1 ? 28 : 24) + 2 * osize;
    }
    if (osize != 4 && osize != 8) return MB_OK; /* unusual; HDF5 itself will judge */
    if ((size_t)(eof_at + osize) > got)
        return mb_error_set(MB_EDATA, "%s: truncated HDF5 file (%lld bytes, cut inside its header)",
                            path, (long long)size);
    uint64_t eof = le_uint(sb + eof_at, (int)osize);
    if (eof != UINT64_MAX && (int64_t)eof + base > size)
        return mb_error_set(MB_EDATA,
                            "%s: truncated HDF5 file: %lld bytes, but its superblock says %lld "
                            "(an interrupted copy or a writer that crashed)",
                            path, (long long)size, (long long)(eof + (uint64_t)base));
    return MB_OK;
}

/* Rank 0 only: open the file with the serial (sec2) driver and fill ds from it. */
static mb_err validate(const mb_dataset_spec *spec, int need_target, mb_dataset *ds) {
    mb_err err = MB_OK;
    const char *path = ds->path;
    hid_t fapl = H5I_INVALID_HID, fid = H5I_INVALID_HID;
    struct stat st;

    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return mb_error_set(MB_EIO, "%s: no such file", path);
        return mb_error_set(MB_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return mb_error_set(MB_EIO, "%s: is a directory", path);
    if (access(path, R_OK) != 0)
        return mb_error_set(MB_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return mb_error_set(MB_EDATA, "%s: not a regular file", path);
    if (st.st_size == 0) return mb_error_set(MB_EDATA, "%s: empty file (0 bytes), not HDF5", path);
    MB_TRY(check_superblock(path, (int64_t)st.st_size));
    htri_t is_h5 = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    if (is_h5 <= 0) return mb_error_set(MB_EDATA, "%s: not an HDF5 file", path);

    MB_H5(fapl = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(fapl));
    fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fid < 0) {
        /* The superblock looked sane, yet HDF5 cannot open it: a damaged file, i.e. bad data. */
        mb__h5_report(path, __FILE__, __LINE__, "H5Fopen");
        char msg[MB_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s (a damaged HDF5 file)", mb_error_message());
        mb_error_replace(MB_EDATA, msg);
        err = MB_EDATA;
        goto out;
    }
    if (spec->group) {
        ds->layout = LAYOUT_COLUMNS;
        ds->xpath = dupstr(spec->group);
        if (!ds->xpath) MB_TRY(oom(path));
        MB_TRY(validate_columns(fid, spec, ds));
    } else if (spec->X) {
        ds->layout = LAYOUT_MATRIX;
        ds->xpath = dupstr(spec->X);
        if (!ds->xpath) MB_TRY(oom(path));
        MB_TRY(validate_matrix(fid, spec, ds));
    } else {
        MB_TRY(mb_error_set(MB_EUSAGE, "%s: the dataset names neither X nor group", path));
    }
    char *tpath = NULL;
    if (ds->layout == LAYOUT_MATRIX && spec->y) {
        tpath = dupstr(spec->y);
        if (!tpath) MB_TRY(oom(path));
    } else if (ds->layout == LAYOUT_COLUMNS && spec->target) {
        tpath = join_path(spec->group, spec->target);
        if (!tpath) MB_TRY(oom(path));
    }
    err = validate_target(fid, tpath, need_target, ds);
    free(tpath);
    if (err) goto out;
    MB_TRY(validate_categorical(spec, ds));
    ds->checksum = compute_checksum(ds);
out:
    if (fid >= 0) H5Fclose(fid);
    if (fapl >= 0) H5Pclose(fapl);
    return err;
}

/* ---------------------------------------------------------------------------------------------
 * Metadata broadcast: rank 0 packs its validated struct into one byte buffer. */

typedef struct {
    unsigned char *p;
    size_t len, cap, pos;
    int bad;
} packbuf;

static void put(packbuf *b, const void *v, size_t n) {
    if (b->bad) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put_i64(packbuf *b, int64_t v) {
    put(b, &v, sizeof v);
}

static void put_str(packbuf *b, const char *s) {
    put(b, s ? s : "", strlen(s ? s : "") + 1);
}

static int64_t get_i64(packbuf *b) {
    int64_t v = 0;
    if (b->pos + sizeof v > b->len) {
        b->bad = 1;
        return 0;
    }
    memcpy(&v, b->p + b->pos, sizeof v);
    b->pos += sizeof v;
    return v;
}

static char *get_str(packbuf *b) {
    if (b->bad) return NULL;
    size_t n = strnlen((const char *)b->p + b->pos, b->len - b->pos);
    if (b->pos + n >= b->len) {
        b->bad = 1;
        return NULL;
    }
    char *s = dupstr((const char *)b->p + b->pos);
    if (!s) b->bad = 1;
    b->pos += n + 1;
    return s;
}

static void pack(const mb_dataset *ds, packbuf *b) {
    put_i64(b, ds->layout);
    put_i64(b, ds->n);
    put_i64(b, ds->ncol);
    put_i64(b, ds->xwidth);
    put_i64(b, ds->identity);
    put_i64(b, ds->has_target);
    put_i64(b, ds->yclass);
    put_i64(b, ds->ysize);
    put_i64(b, (int64_t)ds->checksum);
    put_str(b, ds->path);
    put_str(b, ds->xpath);
    put_str(b, ds->target);
    for (int64_t c = 0; c < ds->ncol; c++) {
        put_str(b, ds->names[c]);
        put_str(b, ds->cpaths ? ds->cpaths[c] : "");
        put_i64(b, ds->xcol[c]);
        put_i64(b, ds->cat[c]);
        put_i64(b, ds->dclass[c]);
        put_i64(b, ds->dsize[c]);
    }
}

static mb_err unpack(packbuf *b, mb_dataset *ds) {
    ds->layout = (int)get_i64(b);
    ds->n = get_i64(b);
    int64_t ncol = get_i64(b);
    ds->xwidth = get_i64(b);
    ds->identity = (int)get_i64(b);
    ds->has_target = (int)get_i64(b);
    ds->yclass = get_i64(b);
    ds->ysize = get_i64(b);
    ds->checksum = (uint64_t)get_i64(b);
    free(ds->path);
    ds->path = get_str(b);
    ds->xpath = get_str(b);
    ds->target = get_str(b);
    if (b->bad || ncol < 0) return oom(ds->path);
    if (!ds->has_target) {
        free(ds->target);
        ds->target = NULL;
    }
    mb_err err = alloc_columns(ds, ncol, ds->layout == LAYOUT_COLUMNS);
    if (err) return err;
    for (int64_t c = 0; c < ncol; c++) {
        ds->names[c] = get_str(b);
        char *cp = get_str(b);
        if (ds->cpaths)
            ds->cpaths[c] = cp;
        else
            free(cp);
        ds->xcol[c] = get_i64(b);
        ds->cat[c] = (unsigned char)get_i64(b);
        ds->dclass[c] = get_i64(b);
        ds->dsize[c] = get_i64(b);
    }
    return b->bad ? oom(ds->path) : MB_OK;
}

mb_err mb_dataset_open(const mb_comm *c, const mb_dataset_spec *spec, int need_target,
                       mb_dataset **out) {
    mb_err err = MB_OK;
    packbuf b = {0};
    *out = NULL;
    mb__h5_quiet();
    mb_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        err = oom(spec->path);
    else if (!spec->path)
        err = mb_error_set(MB_EUSAGE, "the dataset has no path");
    else if (!(ds->path = dupstr(spec->path)))
        err = oom(spec->path);
    if (!err && c->rank == 0) {
        err = validate(spec, need_target, ds);
        if (!err) {
            pack(ds, &b);
            if (b.bad) err = oom(ds->path);
        }
    }
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    int64_t len = (int64_t)b.len;
    mb_bcast(c, &len, sizeof len, 0);
    if (c->rank != 0) {
        b.p = malloc((size_t)len);
        b.len = b.cap = (size_t)len;
        if (!b.p) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
    }
    mb_bcast(c, b.p, (size_t)len, 0);
    if (c->rank != 0) err = unpack(&b, ds);
    err = mb_agree(c, err, NULL);
out:
    free(b.p);
    if (err) {
        mb_dataset_close(ds);
        return err;
    }
    *out = ds;
    return MB_OK;
}

int64_t mb_dataset_rows(const mb_dataset *ds) {
    return ds->n;
}

int64_t mb_dataset_ncol(const mb_dataset *ds) {
    return ds->ncol;
}

const char *mb_dataset_colname(const mb_dataset *ds, int64_t c) {
    return c >= 0 && c < ds->ncol ? ds->names[c] : NULL;
}

int mb_dataset_is_categorical(const mb_dataset *ds, int64_t c) {
    return c >= 0 && c < ds->ncol ? ds->cat[c] : 0;
}

int mb_dataset_has_target(const mb_dataset *ds) {
    return ds->has_target;
}

const char *mb_dataset_target_name(const mb_dataset *ds) {
    return ds->target;
}

const char *mb_dataset_path(const mb_dataset *ds) {
    return ds->path;
}

uint64_t mb_dataset_checksum(const mb_dataset *ds) {
    return ds->checksum;
}

/* ---------------------------------------------------------------------------------------------
 * Reading */

typedef struct {
    hid_t file, y;
    hid_t *cols; /* matrix: cols[0] is /X; columns: one per raw column */
    int ncols;
    hid_t dxpl;
} handles;

static void handles_close(handles *h) {
    for (int i = 0; i < h->ncols; i++) mb__h5_close_all(&h->cols[i], 1);
    free(h->cols);
    h->cols = NULL;
    hid_t ids[] = {h->y, h->dxpl, h->file};
    mb__h5_close_all(ids, 3);
    h->y = h->dxpl = h->file = H5I_INVALID_HID;
}

/* Open the file with fapl (collective when it is an MPI-IO list) and every dataset the read needs.
 * On failure h holds whatever was opened, for handles_close. */
static mb_err handles_open(const mb_dataset *ds, hid_t fapl, int collective, int want_y,
                           handles *h) {
    mb_err err = MB_OK;
    const char *path = ds->path;
    h->ncols = ds->layout == LAYOUT_MATRIX ? 1 : (int)ds->ncol;
    h->cols = malloc(sizeof *h->cols * (size_t)h->ncols);
    if (!h->cols) {
        h->ncols = 0;
        return oom(path);
    }
    for (int i = 0; i < h->ncols; i++) h->cols[i] = H5I_INVALID_HID;
    MB_H5(h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
    MB_H5(h->dxpl = H5Pcreate(H5P_DATASET_XFER));
    if (collective) MB_H5(H5Pset_dxpl_mpio(h->dxpl, H5FD_MPIO_COLLECTIVE));
    for (int i = 0; i < h->ncols; i++) {
        const char *dp = ds->layout == LAYOUT_MATRIX ? ds->xpath : ds->cpaths[i];
        MB_H5(h->cols[i] = H5Dopen2(h->file, dp, H5P_DEFAULT));
    }
    if (want_y) MB_H5(h->y = H5Dopen2(h->file, ds->target, H5P_DEFAULT));
out:
    return err;
}

/* Features of rows [start, start+cnt) into dst [cnt][ncol]. tmp holds cnt * xwidth doubles for a
 * matrix column subset, cnt doubles for the columns layout. The number of H5Dread calls does not
 * depend on cnt or on an earlier failure (err_in), which turns this rank's reads into empty ones.
 */
static mb_err read_features(const mb_dataset *ds, const handles *h, int64_t start, int64_t cnt,
                            double *dst, double *tmp, mb_err err_in) {
    mb_err err = err_in;
    if (ds->layout == LAYOUT_MATRIX) {
        double *buf = ds->identity ? dst : tmp;
        mb_err e = mb__h5_read_rows(ds->path, h->cols[0], h->dxpl, 2, ds->xwidth, start,
                                    err ? 0 : cnt, buf);
        if (!err && !e && !ds->identity) {
            for (int64_t i = 0; i < cnt; i++)
                for (int64_t c = 0; c < ds->ncol; c++)
                    dst[i * ds->ncol + c] = tmp[i * ds->xwidth + ds->xcol[c]];
        }
        return err ? err : e;
    }
    for (int64_t c = 0; c < ds->ncol; c++) {
        mb_err e = mb__h5_read_rows(ds->path, h->cols[c], h->dxpl, 1, 1, start, err ? 0 : cnt, tmp);
        if (!err && !e)
            for (int64_t i = 0; i < cnt; i++) dst[i * ds->ncol + c] = tmp[i];
        if (!err) err = e;
    }
    return err;
}

static int64_t piece_doubles(const mb_comm *c) {
    int64_t v = PIECE_DOUBLES;
    const char *env = c->rank == 0 ? getenv("MBATCH_IO_PIECE_DOUBLES") : NULL;
    if (env && atoll(env) > 0) v = (int64_t)atoll(env);
    mb_bcast(c, &v, sizeof v, 0);
    return v;
}

static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

/* Doubles of staging space per row beyond the output (subset of /X, or one column at a time). */
static int64_t tmp_per_row(const mb_dataset *ds) {
    if (ds->layout == LAYOUT_MATRIX) return ds->identity ? 0 : ds->xwidth;
    return 1;
}

static mb_err read_parallel(const mb_comm *c, mb_dataset *ds, int64_t lo, int64_t hi, double *raw,
                            double *y, int read_y, int64_t piece_max, int64_t max_rows) {
    mb_err err = MB_OK;
    const char *path = ds->path;
    handles h = {H5I_INVALID_HID, H5I_INVALID_HID, NULL, 0, H5I_INVALID_HID};
    hid_t fapl = H5I_INVALID_HID;
    double *tmp = NULL;
    int64_t rows = hi - lo; /* max_rows: the largest shard, which sets every rank's read count */
    int64_t width = ds->layout == LAYOUT_MATRIX ? ds->xwidth : 1;
    int64_t piece = min64(max64(1, piece_max / width), max_rows);
    int64_t npieces = max_rows > 0 ? (max_rows + piece - 1) / piece : 0;

    int64_t per = tmp_per_row(ds);
    if (per > 0 && rows > 0) {
        tmp = malloc(sizeof *tmp * (size_t)(per * min64(piece, rows)));
        if (!tmp) err = oom(path);
    }
    if (!err) {
        fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl < 0 || H5Pset_fapl_mpio(fapl, c->comm, MPI_INFO_NULL) < 0)
            err = mb__h5_report(path, __FILE__, __LINE__, "H5Pset_fapl_mpio");
    }
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    err = handles_open(ds, fapl, 1, read_y, &h);
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    for (int64_t k = 0; k < npieces; k++) {
        int64_t r0 = k * piece, cnt = max64(0, min64(piece, rows - r0));
        err = read_features(ds, &h, lo + r0, cnt, raw ? raw + r0 * ds->ncol : NULL, tmp, err);
        if (read_y) {
            int64_t ycnt = y && !err ? cnt : 0;
            mb_err e = mb__h5_read_rows(path, h.y, h.dxpl, 1, 1, lo + r0, ycnt, y ? y + r0 : NULL);
            if (!err) err = e;
        }
    }
out:
    handles_close(&h);
    if (fapl >= 0) H5Pclose(fapl);
    free(tmp);
    return err;
}

static mb_err read_scatter(const mb_comm *c, mb_dataset *ds, int64_t lo, int64_t hi, double *raw,
                           double *y, int read_y, int64_t block_max, const int64_t *shards) {
    mb_err err = MB_OK;
    const char *path = ds->path;
    handles h = {H5I_INVALID_HID, H5I_INVALID_HID, NULL, 0, H5I_INVALID_HID};
    hid_t fapl = H5I_INVALID_HID;
    double *buf = NULL, *tmp = NULL, *ybuf = NULL;
    int64_t *counts = NULL, *displs = NULL, *ycounts = NULL, *ydispls = NULL, *bounds = NULL;
    int *wants_y = NULL;
    int64_t ncol = ds->ncol;
    int64_t block = max64(1, block_max / max64(ncol, tmp_per_row(ds)));
    block = min64(block, ds->n);
    int64_t nblocks = (ds->n + block - 1) / block;
    int mine_y = y != NULL;

    /* Rank 0 must know which ranks take y, since it sets every rank's count. */
    if (c->rank == 0) {
        wants_y = malloc(sizeof *wants_y * (size_t)c->size);
        if (!wants_y) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
    }
    mb_gather(c, &mine_y, sizeof mine_y, wants_y, 0);

    if (c->rank == 0) {
        size_t P = (size_t)c->size;
        buf = malloc(sizeof *buf * (size_t)(block * ncol));
        ybuf = read_y ? malloc(sizeof *ybuf * (size_t)block) : NULL;
        tmp = tmp_per_row(ds) ? malloc(sizeof *tmp * (size_t)(block * tmp_per_row(ds))) : NULL;
        counts = calloc(P, sizeof *counts);
        displs = calloc(P, sizeof *displs);
        ycounts = calloc(P, sizeof *ycounts);
        ydispls = calloc(P, sizeof *ydispls);
        bounds = calloc(2 * P, sizeof *bounds);
        if (!buf || (read_y && !ybuf) || (tmp_per_row(ds) && !tmp) || !counts || !displs ||
            !ycounts || !ydispls || !bounds)
            err = oom(path);
        for (int r = 0; !err && r < c->size; r++) {
            bounds[2 * r] = shards[2 * r];
            bounds[2 * r + 1] = shards[2 * r + 1];
        }
        if (!err) {
            fapl = H5Pcreate(H5P_FILE_ACCESS);
            if (fapl < 0 || H5Pset_fapl_sec2(fapl) < 0)
                err = mb__h5_report(path, __FILE__, __LINE__, "H5Pset_fapl_sec2");
        }
        if (!err) err = handles_open(ds, fapl, 0, read_y, &h);
    }
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    for (int64_t b = 0; b < nblocks; b++) {
        int64_t g0 = b * block, g1 = min64(ds->n, g0 + block), cnt = g1 - g0;
        if (c->rank == 0) {
            /* After a failed read rank 0 keeps scattering (zeros) so that no rank waits forever;
             * the failure is agreed on after the loop. */
            if (!err) err = read_features(ds, &h, g0, cnt, buf, tmp, MB_OK);
            if (!err && read_y) err = mb__h5_read_rows(path, h.y, h.dxpl, 1, 1, g0, cnt, ybuf);
            if (err) {
                memset(buf, 0, sizeof *buf * (size_t)(cnt * ncol));
                if (read_y) memset(ybuf, 0, sizeof *ybuf * (size_t)cnt);
            }
            for (int r = 0; r < c->size; r++) {
                int64_t a = max64(bounds[2 * r], g0), e = min64(bounds[2 * r + 1], g1);
                int64_t m = max64(0, e - a);
                counts[r] = m * ncol;
                displs[r] = m > 0 ? (a - g0) * ncol : 0;
                ycounts[r] = wants_y[r] ? m : 0;
                ydispls[r] = m > 0 ? a - g0 : 0;
            }
        }
        int64_t a = max64(lo, g0), e = min64(hi, g1), m = max64(0, e - a);
        mb_scatterv(c, buf, counts, displs, m > 0 ? raw + (a - lo) * ncol : NULL, m * ncol, 0);
        if (read_y)
            mb_scatterv(c, ybuf, ycounts, ydispls, m > 0 && y ? y + (a - lo) : NULL, y ? m : 0, 0);
    }
out:
    handles_close(&h);
    if (fapl >= 0) H5Pclose(fapl);
    free(buf);
    free(tmp);
    free(ybuf);
    free(counts);
    free(displs);
    free(ycounts);
    free(ydispls);
    free(bounds);
    free(wants_y);
    return err;
}

static const char *nonfinite_name(double v) {
    return isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf";
}

mb_err mb_dataset_read(const mb_comm *c, mb_dataset *ds, mb_io_mode mode, double *raw, double *y) {
    int64_t *shards = malloc(sizeof *shards * 2 * (size_t)c->size);
    if (!shards) mb__mpi_die(MPI_ERR_NO_MEM, __FILE__, __LINE__, "malloc");
    for (int r = 0; r < c->size; r++)
        mb_shard_bounds(ds->n, r, c->size, &shards[2 * r], &shards[2 * r + 1]);
    mb_err err = mb_dataset_read_shards(c, ds, mode, shards, raw, y);
    free(shards);
    return err;
}

mb_err mb_dataset_read_shards(const mb_comm *c, mb_dataset *ds, mb_io_mode mode,
                              const int64_t *shards, double *raw, double *y) {
    mb_err err = MB_OK;
    int64_t lo = shards[2 * c->rank], hi = shards[2 * c->rank + 1], max_rows = 0;
    mb__h5_quiet();
    for (int r = 0; r < c->size; r++) max_rows = max64(max_rows, shards[2 * r + 1] - shards[2 * r]);
    int64_t rows = hi - lo;

    if (mode != MB_IO_PARALLEL && mode != MB_IO_SCATTER)
        err = mb_error_set(MB_EUSAGE, "%s: unknown I/O mode %d", ds->path, (int)mode);
    else if (rows > 0 && !raw)
        err = mb_error_set(MB_EUSAGE, "%s: no buffer for %lld rows", ds->path, (long long)rows);
    err = mb_agree(c, err, NULL);
    if (err) return err;

    /* y is read when any rank asked for it; ranks that did not take part with empty reads. */
    int64_t read_y = ds->has_target && y != NULL;
    mb_allreduce_max_i64(c, &read_y, 1);
    int64_t piece = piece_doubles(c);

    if (mode == MB_IO_PARALLEL)
        err = read_parallel(c, ds, lo, hi, raw, y, (int)read_y, piece, max_rows);
    else
        err = read_scatter(c, ds, lo, hi, raw, y, (int)read_y, piece, shards);

    if (!err && rows > 0) {
        int64_t i = mb_first_nonfinite(raw, rows * ds->ncol);
        if (i >= 0) {
            int64_t r = i / ds->ncol, col = i % ds->ncol;
            err = mb_error_set(MB_EDATA, "%s: %s row %lld column '%s' is %s", ds->path, ds->xpath,
                               (long long)(lo + r), ds->names[col], nonfinite_name(raw[i]));
        }
    }
    if (!err && rows > 0 && read_y && y) {
        int64_t i = mb_first_nonfinite(y, rows);
        if (i >= 0)
            err = mb_error_set(MB_EDATA, "%s: %s row %lld is %s", ds->path, ds->target,
                               (long long)(lo + i), nonfinite_name(y[i]));
    }
    return mb_agree(c, err, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Block reads of one rank's rows (streaming) */

struct mb_dataset_blocks {
    const mb_dataset *ds;
    handles h;
    double *tmp;
    int64_t tmp_rows;
    int direct_ok;
    char why[512];
    mb_dataset_direct dir;
};

/* The native element type of did's file type, or -1. */
static int native_elem(hid_t did) {
    hid_t t = H5Dget_type(did);
    int e = -1;
    if (t < 0) return -1;
    if (H5Tequal(t, H5T_NATIVE_DOUBLE) > 0)
        e = MB_ELEM_F64;
    else if (H5Tequal(t, H5T_NATIVE_FLOAT) > 0)
        e = MB_ELEM_F32;
    else if (H5Tequal(t, H5T_NATIVE_INT32) > 0)
        e = MB_ELEM_I32;
    else if (H5Tequal(t, H5T_NATIVE_INT64) > 0)
        e = MB_ELEM_I64;
    H5Tclose(t);
    return e;
}

/* Byte offset of did's values if they can be read with pread (contiguous, allocated, no filters,
 * no external storage, native type), else -1 with b->why saying why not. */
static int64_t direct_offset(mb_dataset_blocks *b, hid_t did, const char *dpath, int *elem) {
    hid_t dcpl = H5Dget_create_plist(did);
    const char *no = NULL;
    int64_t off = -1;
    if (dcpl < 0)
        no = "its creation property list cannot be read";
    else if (H5Pget_layout(dcpl) != H5D_CONTIGUOUS)
        no = "it is chunked or compact, not contiguous";
    else if (H5Pget_nfilters(dcpl) != 0)
        no = "it is filtered";
    else if (H5Pget_external_count(dcpl) != 0)
        no = "it has external storage";
    else if ((*elem = native_elem(did)) < 0)
        no = "its type is not this machine's native float64/float32/int32/int64";
    else {
        haddr_t a = H5Dget_offset(did);
        if (a == HADDR_UNDEF)
            no = "its storage is not allocated";
        else
            off = (int64_t)a;
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (no) snprintf(b->why, sizeof b->why, "%s: %s: %s", b->ds->path, dpath, no);
    return no ? -1 : off;
}

static void find_direct(mb_dataset_blocks *b) {
    const mb_dataset *ds = b->ds;
    mb_dataset_direct *d = &b->dir;
    hid_t fcpl = H5Fget_create_plist(b->h.file);
    hsize_t ub = 1;
    if (fcpl >= 0) {
        if (H5Pget_userblock(fcpl, &ub) < 0) ub = 1;
        H5Pclose(fcpl);
    }
    if (ub != 0) { /* offsets would need the user block's size added: keep it simple */
        snprintf(b->why, sizeof b->why, "%s has a user block", ds->path);
        return;
    }
    int e = 0;
    d->matrix = ds->layout == LAYOUT_MATRIX;
    if (d->matrix) {
        d->width = ds->xwidth;
        d->identity = ds->identity;
        d->xcol = ds->xcol;
        if ((d->x_offset = direct_offset(b, b->h.cols[0], ds->xpath, &e)) < 0) return;
        d->x_elem = (mb_elem)e;
    } else {
        d->col_offset = calloc((size_t)ds->ncol, sizeof *d->col_offset);
        d->col_elem = calloc((size_t)ds->ncol, sizeof *d->col_elem);
        if (!d->col_offset || !d->col_elem) {
            snprintf(b->why, sizeof b->why, "out of memory");
            return;
        }
        for (int64_t c = 0; c < ds->ncol; c++) {
            if ((d->col_offset[c] = direct_offset(b, b->h.cols[c], ds->cpaths[c], &e)) < 0) return;
            d->col_elem[c] = (mb_elem)e;
        }
    }
    if ((d->y_offset = direct_offset(b, b->h.y, ds->target, &e)) < 0) return;
    d->y_elem = (mb_elem)e;
    b->direct_ok = 1;
}

mb_err mb_dataset_blocks_open(const mb_dataset *ds, mb_dataset_blocks **out) {
    mb_err err = MB_OK;
    const char *path = ds->path;
    hid_t fapl = H5I_INVALID_HID;
    *out = NULL;
    mb_dataset_blocks *b = calloc(1, sizeof *b);
    if (!b) return oom(path);
    b->ds = ds;
    b->h = (handles){H5I_INVALID_HID, H5I_INVALID_HID, NULL, 0, H5I_INVALID_HID};
    if (!ds->has_target) {
        err = mb_error_set(MB_EUSAGE, "%s: block reads need the target dataset", path);
        goto out;
    }
    mb__h5_quiet();
    MB_H5(fapl = mb__h5_fapl(1));
    MB_TRY(handles_open(ds, fapl, 0, 1, &b->h));
    find_direct(b);
out:
    if (fapl >= 0) H5Pclose(fapl);
    if (err) {
        mb_dataset_blocks_close(b);
        b = NULL;
    }
    *out = b;
    return err;
}

const mb_dataset_direct *mb_dataset_blocks_direct(const mb_dataset_blocks *b, const char **why) {
    if (why) *why = b->direct_ok ? NULL : b->why;
    return b->direct_ok ? &b->dir : NULL;
}

mb_err mb_dataset_blocks_read(mb_dataset_blocks *b, int64_t start, int64_t cnt, double *raw,
                              double *y) {
    const mb_dataset *ds = b->ds;
    int64_t per = tmp_per_row(ds);
    if (per > 0 && cnt > b->tmp_rows) {
        free(b->tmp);
        b->tmp = malloc(sizeof *b->tmp * (size_t)(per * cnt));
        b->tmp_rows = b->tmp ? cnt : 0;
        if (!b->tmp) return oom(ds->path);
    }
    mb_err err = read_features(ds, &b->h, start, cnt, raw, b->tmp, MB_OK);
    if (!err) err = mb__h5_read_rows(ds->path, b->h.y, b->h.dxpl, 1, 1, start, cnt, y);
    return err;
}

void mb_dataset_blocks_close(mb_dataset_blocks *b) {
    if (!b) return;
    handles_close(&b->h);
    free(b->tmp);
    free(b->dir.col_offset);
    free(b->dir.col_elem);
    free(b);
}
