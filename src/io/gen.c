/* gen.c - synthetic linear, logistic and softmax datasets with known true weights. */
#include "mbatch/gen.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "mbatch/rng.h"

enum { KIND_LINEAR, KIND_LOGISTIC, KIND_SOFTMAX };
enum { LAYOUT_MATRIX, LAYOUT_COLUMNS };

/* Every value is mb_rng_*(seed, MB_RNG_GEN, a, b). Per-row draws use a = row; parameters use
 * a = PARAM_ROW, which no row reaches. b = (tag << 56) | index keeps the streams apart. */
#define PARAM_ROW       UINT64_MAX
#define TAG(tag, index) (((uint64_t)(tag) << 56) | (uint64_t)(index))
enum { T_Z = 1, T_CAT, T_Y, T_OFFSET, T_SCALE, T_W, T_B, T_EFFECT };

/* Rows per write, sized so one block of features stays near 32 MiB of doubles. */
#define BLOCK_VALUES   (INT64_C(1) << 22)
#define MAX_BLOCK_ROWS INT64_C(65536)

typedef struct gen {
    const mb_gen_opts *o;
    int kind, layout;
    int64_t n, d, ncat, levels;
    int64_t kout; /* outputs of the true model: 1, or the number of classes */
    int64_t classes;
    double *offset, *scale; /* d */
    double *w;              /* d * kout, row-major [d][kout], weights of the standardized z */
    double *b;              /* kout */
    double *effect;         /* ncat * levels * kout */
} gen;

static mb_err validate(const mb_gen_opts *o, gen *g) {
    static const char *const kinds[] = {"linear", "logistic", "softmax"};
    g->kind = -1;
    for (int i = 0; i < 3 && o->kind; i++)
        if (!strcmp(o->kind, kinds[i])) g->kind = i; /* the KIND_* order */
    if (g->kind < 0)
        return mb_error_set(MB_EUSAGE,
                            "gen: unknown kind '%s' (expected linear, logistic or softmax)",
                            o->kind ? o->kind : "(none)");
    const char *layout = o->layout ? o->layout : "matrix";
    if (strcmp(layout, "matrix") && strcmp(layout, "columns"))
        return mb_error_set(MB_EUSAGE, "gen: unknown layout '%s' (expected matrix or columns)",
                            layout);
    g->layout = strcmp(layout, "matrix") ? LAYOUT_COLUMNS : LAYOUT_MATRIX;
    if (o->rows < 1)
        return mb_error_set(MB_EUSAGE, "gen: rows must be >= 1 (got %lld)", (long long)o->rows);
    if (o->cols < 1)
        return mb_error_set(MB_EUSAGE, "gen: cols must be >= 1 (got %lld)", (long long)o->cols);
    g->classes = g->kind == KIND_LINEAR ? 1 : g->kind == KIND_LOGISTIC ? 2 : o->classes;
    if (g->kind == KIND_SOFTMAX && g->classes == 0) g->classes = 3;
    if (g->classes < 2 && g->kind == KIND_SOFTMAX)
        return mb_error_set(MB_EUSAGE, "gen: classes must be >= 2 (got %lld)",
                            (long long)o->classes);
    if (g->classes > INT32_MAX)
        return mb_error_set(MB_EUSAGE, "gen: classes must fit int32 labels (got %lld)",
                            (long long)o->classes);
    if (o->categorical < 0)
        return mb_error_set(MB_EUSAGE, "gen: categorical must be >= 0 (got %lld)",
                            (long long)o->categorical);
    if (o->categorical > 0 && g->layout == LAYOUT_MATRIX)
        return mb_error_set(MB_EUSAGE,
                            "gen: %lld categorical columns need layout 'columns' (the matrix "
                            "layout has only float features)",
                            (long long)o->categorical);
    g->levels = o->levels ? o->levels : 4;
    if (o->categorical > 0 && (g->levels < 2 || g->levels > INT32_MAX))
        return mb_error_set(MB_EUSAGE, "gen: levels must be between 2 and 2^31-1 (got %lld)",
                            (long long)o->levels);
    if (!(o->noise >= 0) || !isfinite(o->noise))
        return mb_error_set(MB_EUSAGE, "gen: noise must be a finite value >= 0 (got %g)", o->noise);
    if (!o->out || !o->out[0]) return mb_error_set(MB_EUSAGE, "gen: no output file given");
    g->o = o;
    g->n = o->rows;
    g->d = o->cols;
    g->ncat = o->categorical;
    g->kout = g->kind == KIND_SOFTMAX ? g->classes : 1;
    return MB_OK;
}

static double draw_normal(uint64_t seed, uint64_t a, uint64_t b) {
    return mb_rng_normal(seed, MB_RNG_GEN, a, b);
}
static double draw_uniform(uint64_t seed, uint64_t a, uint64_t b) {
    return mb_rng_uniform(seed, MB_RNG_GEN, a, b);
}

static mb_err make_params(gen *g) {
    uint64_t s = g->o->seed;
    int64_t nw = g->d * g->kout, ne = g->ncat * g->levels * g->kout;
    g->offset = malloc((size_t)g->d * sizeof(double));
    g->scale = malloc((size_t)g->d * sizeof(double));
    g->w = malloc((size_t)nw * sizeof(double));
    g->b = malloc((size_t)g->kout * sizeof(double));
    g->effect = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(double));
    if (!g->offset || !g->scale || !g->w || !g->b || !g->effect)
        return mb_error_set(MB_EIO, "%s: out of memory for %lld x %lld true weights", g->o->out,
                            (long long)g->d, (long long)g->kout);
    /* Columns on different scales and centres, so that a trainer that skips standardization
     * visibly suffers. */
    for (int64_t j = 0; j < g->d; j++) {
        g->offset[j] = -2.0 + 4.0 * draw_uniform(s, PARAM_ROW, TAG(T_OFFSET, j));
        g->scale[j] = 0.5 + 2.5 * draw_uniform(s, PARAM_ROW, TAG(T_SCALE, j));
    }
    /* Var(z.w) is about 4 whatever d: a logistic model is then neither trivial nor hopeless. */
    double wscale = 2.0 / sqrt((double)g->d);
    for (int64_t i = 0; i < nw; i++) g->w[i] = wscale * draw_normal(s, PARAM_ROW, TAG(T_W, i));
    double bscale = g->kind == KIND_LINEAR ? 1.0 : 0.5;
    for (int64_t i = 0; i < g->kout; i++) g->b[i] = bscale * draw_normal(s, PARAM_ROW, TAG(T_B, i));
    for (int64_t i = 0; i < ne; i++)
        g->effect[i] = 0.5 * draw_normal(s, PARAM_ROW, TAG(T_EFFECT, i));
    return MB_OK;
}

static void free_params(gen *g) {
    free(g->offset);
    free(g->scale);
    free(g->w);
    free(g->b);
    free(g->effect);
}

/* One block of rows [r0, r0 + m): features x[m][d], codes[ncat][m], targets y (double for
 * linear, int32 for classifiers). `eta` holds kout doubles of scratch. */
static void gen_block(const gen *g, int64_t r0, int64_t m, double *x, int32_t *codes, double *ylin,
                      int32_t *ycls, double *eta) {
    uint64_t s = g->o->seed;
    int64_t d = g->d, k = g->kout;
    for (int64_t i = 0; i < m; i++) {
        uint64_t row = (uint64_t)(r0 + i);
        for (int64_t c = 0; c < k; c++) eta[c] = g->b[c];
        for (int64_t j = 0; j < d; j++) {
            double z = draw_normal(s, row, TAG(T_Z, j));
            x[i * d + j] = g->offset[j] + g->scale[j] * z;
            const double *wj = g->w + j * k;
            for (int64_t c = 0; c < k; c++) eta[c] += z * wj[c];
        }
        for (int64_t j = 0; j < g->ncat; j++) {
            int64_t code = (int64_t)(draw_uniform(s, row, TAG(T_CAT, j)) * (double)g->levels);
            if (code >= g->levels) code = g->levels - 1;
            codes[j * m + i] = (int32_t)code;
            const double *e = g->effect + (j * g->levels + code) * k;
            for (int64_t c = 0; c < k; c++) eta[c] += e[c];
        }
        if (g->kind == KIND_LINEAR) {
            ylin[i] = eta[0] + g->o->noise * draw_normal(s, row, TAG(T_Y, 0));
        } else if (g->kind == KIND_LOGISTIC) {
            double p = 1.0 / (1.0 + exp(-eta[0]));
            ycls[i] = draw_uniform(s, row, TAG(T_Y, 0)) < p;
        } else {
            double mx = eta[0], sum = 0;
            for (int64_t c = 1; c < k; c++) mx = fmax(mx, eta[c]);
            for (int64_t c = 0; c < k; c++) sum += (eta[c] = exp(eta[c] - mx));
            /* Inverse CDF; the last class takes any rounding remainder. */
            double u = draw_uniform(s, row, TAG(T_Y, 0)) * sum, acc = 0;
            int64_t label = k - 1;
            for (int64_t c = 0; c < k - 1; c++) {
                acc += eta[c];
                if (u < acc) {
                    label = c;
                    break;
                }
            }
            ycls[i] = (int32_t)label;
        }
    }
}

/* ---- HDF5 output -------------------------------------------------------------------------- */

static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

static mb_err attr_write(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, const void *v) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    MB_H5(ids[0] = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR));
    MB_H5(ids[1] = H5Acreate2(loc, name, ftype, ids[0], H5P_DEFAULT, H5P_DEFAULT));
    MB_H5(H5Awrite(ids[1], mtype, v));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err attr_i64(hid_t loc, const char *path, const char *name, int64_t v) {
    return attr_write(loc, path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &v);
}

/* A string attribute (n < 0: scalar) of variable-length UTF-8 strings, as h5py writes them. */
static mb_err attr_strs(hid_t loc, const char *path, const char *name, const char *const *v,
                        int64_t n) {
    mb_err err = MB_OK;
    hid_t t = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)(n < 0 ? 1 : n)};
    MB_H5(t = vlen_str_type());
    err = attr_write(loc, path, name, t, t, n < 0 ? 0 : 1, dims, v);
out:
    mb__h5_close_all(&t, 1);
    return err;
}

/* Names "<prefix>0" .. "<prefix>{n-1}", malloc'd as one block. */
static char **numbered_names(const char *prefix, int64_t n) {
    size_t each = strlen(prefix) + 21;
    char **names = malloc((size_t)n * (sizeof(char *) + each));
    if (!names) return NULL;
    char *text = (char *)(names + n);
    for (int64_t i = 0; i < n; i++) {
        names[i] = text + (size_t)i * each;
        snprintf(names[i], each, "%s%lld", prefix, (long long)i);
    }
    return names;
}

static mb_err make_dset(hid_t loc, const char *path, const char *name, hid_t ftype, int rank,
                        const hsize_t *dims, hid_t *dset) {
    mb_err err = MB_OK;
    hid_t space = H5I_INVALID_HID;
    MB_H5(space = H5Screate_simple(rank, dims, NULL));
    MB_H5(*dset = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
out:
    mb__h5_close_all(&space, 1);
    return err;
}

static mb_err write_full(hid_t loc, const char *path, const char *name, int rank,
                         const hsize_t *dims, const double *v) {
    mb_err err = MB_OK;
    hid_t dset = H5I_INVALID_HID;
    MB_TRY(make_dset(loc, path, name, H5T_IEEE_F64LE, rank, dims, &dset));
    MB_H5(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v));
out:
    mb__h5_close_all(&dset, 1);
    return err;
}

/* Write rows [r0, r0 + m) of a 1-D or 2-D (width w) dataset from buf. */
static mb_err write_rows(hid_t dset, const char *path, hid_t mtype, int64_t r0, int64_t m,
                         int64_t w, const void *buf) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    int rank = w > 0 ? 2 : 1;
    hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)m, (hsize_t)w};
    MB_H5(ids[0] = H5Dget_space(dset));
    MB_H5(H5Sselect_hyperslab(ids[0], H5S_SELECT_SET, start, NULL, count, NULL));
    MB_H5(ids[1] = H5Screate_simple(rank, count, NULL));
    MB_H5(H5Dwrite(dset, mtype, ids[1], ids[0], H5P_DEFAULT, buf));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

static mb_err write_truth(const gen *g, hid_t file, const char *path) {
    mb_err err = MB_OK;
    hid_t grp = H5I_INVALID_HID;
    hsize_t dims[3];
    MB_H5(grp = H5Gcreate2(file, "true", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    const char *note = "w and b act on standardized features z_j = (x_j - offset_j) / scale_j";
    MB_TRY(attr_strs(grp, path, "description", &note, -1));
    dims[0] = (hsize_t)g->d;
    dims[1] = (hsize_t)g->kout;
    MB_TRY(write_full(grp, path, "w", g->kind == KIND_SOFTMAX ? 2 : 1, dims, g->w));
    dims[0] = (hsize_t)g->kout;
    if (g->kind == KIND_SOFTMAX) {
        MB_TRY(write_full(grp, path, "b", 1, dims, g->b));
    } else {
        hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
        if ((space = H5Screate(H5S_SCALAR)) < 0 ||
            (dset = H5Dcreate2(grp, "b", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT)) < 0 ||
            H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, g->b) < 0)
            err = mb__h5_report(path, __FILE__, __LINE__, "write /true/b");
        if (dset >= 0) H5Dclose(dset);
        if (space >= 0) H5Sclose(space);
        if (err) goto out;
    }
    dims[0] = (hsize_t)g->d;
    MB_TRY(write_full(grp, path, "offset", 1, dims, g->offset));
    MB_TRY(write_full(grp, path, "scale", 1, dims, g->scale));
    if (g->ncat > 0) {
        /* effect[c][level][class]: added to the linear predictor for that column's level. */
        dims[0] = (hsize_t)g->ncat;
        dims[1] = (hsize_t)g->levels;
        dims[2] = (hsize_t)g->kout;
        MB_TRY(write_full(grp, path, "effect", g->kind == KIND_SOFTMAX ? 3 : 2, dims, g->effect));
    }
out:
    mb__h5_close_all(&grp, 1);
    return err;
}

static mb_err write_root_attrs(const gen *g, hid_t file, const char *path) {
    mb_err err = MB_OK;
    const char *layout = g->layout == LAYOUT_MATRIX ? "matrix" : "columns";
    MB_TRY(attr_strs(file, path, "kind", &g->o->kind, -1));
    MB_TRY(attr_write(file, path, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, NULL, &g->o->seed));
    MB_TRY(attr_i64(file, path, "rows", g->n));
    MB_TRY(attr_i64(file, path, "cols", g->d));
    MB_TRY(attr_i64(file, path, "classes", g->classes));
    MB_TRY(attr_strs(file, path, "layout", &layout, -1));
    MB_TRY(attr_i64(file, path, "categorical", g->ncat));
    MB_TRY(attr_i64(file, path, "levels", g->ncat > 0 ? g->levels : 0));
    MB_TRY(
        attr_write(file, path, "noise", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &g->o->noise));
    MB_TRY(attr_i64(file, path, "float32", g->o->float32 ? 1 : 0));
out:
    return err;
}

/* Create the feature and target datasets: dsets[0] = /X (matrix) or dsets[0 .. d) = x_j, then
 * the ncat code columns, then y (last). */
static mb_err create_data(const gen *g, hid_t file, const char *path, hid_t *dsets, hid_t *group) {
    mb_err err = MB_OK;
    hid_t ftype = g->o->float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    hid_t ytype = g->kind == KIND_LINEAR ? H5T_IEEE_F64LE : H5T_STD_I32LE;
    hsize_t dims[2] = {(hsize_t)g->n, (hsize_t)g->d};
    char **xn = numbered_names("x", g->d);
    char **cn = numbered_names("c", g->ncat > 0 ? g->ncat : 1);
    if (!xn || !cn) {
        err = mb_error_set(MB_EIO, "%s: out of memory for column names", path);
        goto out;
    }
    if (g->layout == LAYOUT_MATRIX) {
        MB_TRY(make_dset(file, path, "X", ftype, 2, dims, &dsets[0]));
        MB_TRY(attr_strs(dsets[0], path, "columns", (const char *const *)xn, g->d));
        MB_TRY(make_dset(file, path, "y", ytype, 1, dims, &dsets[1]));
        goto out;
    }
    MB_H5(*group = H5Gcreate2(file, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    for (int64_t j = 0; j < g->d; j++)
        MB_TRY(make_dset(*group, path, xn[j], ftype, 1, dims, &dsets[j]));
    for (int64_t j = 0; j < g->ncat; j++)
        MB_TRY(make_dset(*group, path, cn[j], H5T_STD_I32LE, 1, dims, &dsets[g->d + j]));
    MB_TRY(make_dset(*group, path, "y", ytype, 1, dims, &dsets[g->d + g->ncat]));
    MB_TRY(attr_strs(*group, path, "features", (const char *const *)xn, g->d));
    if (g->ncat > 0)
        MB_TRY(attr_strs(*group, path, "categorical", (const char *const *)cn, g->ncat));
    const char *target = "y";
    MB_TRY(attr_strs(*group, path, "target", &target, -1));
out:
    free(xn);
    free(cn);
    return err;
}

static mb_err write_data(const gen *g, hid_t file, const char *path) {
    mb_err err = MB_OK;
    int64_t ndset = g->layout == LAYOUT_MATRIX ? 2 : g->d + g->ncat + 1;
    hid_t group = H5I_INVALID_HID;
    hid_t *dsets = malloc((size_t)ndset * sizeof *dsets);
    int64_t block = BLOCK_VALUES / g->d;
    if (block < 1) block = 1;
    if (block > MAX_BLOCK_ROWS) block = MAX_BLOCK_ROWS;
    if (block > g->n) block = g->n;
    double *x = malloc((size_t)(block * g->d) * sizeof *x);
    float *xf = g->o->float32 ? malloc((size_t)(block * g->d) * sizeof *xf) : NULL;
    double *col = g->layout == LAYOUT_COLUMNS ? malloc((size_t)block * sizeof *col) : NULL;
    int32_t *codes = malloc((size_t)(block * (g->ncat > 0 ? g->ncat : 1)) * sizeof *codes);
    double *ylin = malloc((size_t)block * sizeof *ylin);
    int32_t *ycls = malloc((size_t)block * sizeof *ycls);
    double *eta = malloc((size_t)g->kout * sizeof *eta);
    if (dsets)
        for (int64_t i = 0; i < ndset; i++) dsets[i] = H5I_INVALID_HID;
    if (!dsets || !x || (g->o->float32 && !xf) || (g->layout == LAYOUT_COLUMNS && !col) || !codes ||
        !ylin || !ycls || !eta) {
        err = mb_error_set(MB_EIO, "%s: out of memory for a block of %lld rows", path,
                           (long long)block);
        goto out;
    }
    MB_TRY(create_data(g, file, path, dsets, &group));

    hid_t ymtype = g->kind == KIND_LINEAR ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT32;
    const void *ybuf = g->kind == KIND_LINEAR ? (const void *)ylin : (const void *)ycls;
    for (int64_t r0 = 0; r0 < g->n; r0 += block) {
        int64_t m = g->n - r0 < block ? g->n - r0 : block;
        gen_block(g, r0, m, x, codes, ylin, ycls, eta);
        if (xf)
            for (int64_t i = 0; i < m * g->d; i++) xf[i] = (float)x[i];
        if (g->layout == LAYOUT_MATRIX) {
            MB_TRY(write_rows(dsets[0], path, xf ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE, r0, m,
                              g->d, xf ? (const void *)xf : (const void *)x));
            MB_TRY(write_rows(dsets[1], path, ymtype, r0, m, 0, ybuf));
            continue;
        }
        for (int64_t j = 0; j < g->d; j++) {
            if (xf) {
                float *cf = (float *)col;
                for (int64_t i = 0; i < m; i++) cf[i] = xf[i * g->d + j];
                MB_TRY(write_rows(dsets[j], path, H5T_NATIVE_FLOAT, r0, m, 0, cf));
            } else {
                for (int64_t i = 0; i < m; i++) col[i] = x[i * g->d + j];
                MB_TRY(write_rows(dsets[j], path, H5T_NATIVE_DOUBLE, r0, m, 0, col));
            }
        }
        for (int64_t j = 0; j < g->ncat; j++)
            MB_TRY(write_rows(dsets[g->d + j], path, H5T_NATIVE_INT32, r0, m, 0, codes + j * m));
        MB_TRY(write_rows(dsets[ndset - 1], path, ymtype, r0, m, 0, ybuf));
    }
out:
    if (dsets) mb__h5_close_all(dsets, (int)ndset);
    mb__h5_close_all(&group, 1);
    free(dsets);
    free(x);
    free(xf);
    free(col);
    free(codes);
    free(ylin);
    free(ycls);
    free(eta);
    return err;
}

mb_err mb_gen(const mb_gen_opts *o) {
    mb_err err = MB_OK;
    gen g;
    memset(&g, 0, sizeof g);
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID}; /* fapl, file */
    char *path = NULL;                                 /* the temporary; see MB_H5 */
    int have_tmp = 0;

    mb__h5_quiet();
    if (o->kind && strcmp(o->kind, "transactions") == 0) return mb_gen_transactions(o);
    if (o->kind && strcmp(o->kind, "spirals") == 0) return mb_gen_spirals(o);
    MB_TRY(validate(o, &g));
    MB_TRY(make_params(&g));

    /* The temporary sits next to the output so that rename() is atomic: a reader never sees a
     * half-written dataset under the final name. */
    const char *slash = strrchr(o->out, '/');
    size_t dirlen = slash ? (size_t)(slash - o->out) + 1 : 0;
    size_t len = strlen(o->out) + 32;
    path = malloc(len);
    if (!path) {
        err = mb_error_set(MB_EIO, "%s: out of memory", o->out);
        goto out;
    }
    snprintf(path, len, "%.*s.%s.tmp-%ld", (int)dirlen, o->out, o->out + dirlen, (long)getpid());

    MB_H5(ids[0] = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(ids[0]));
    /* The 1.8 format stores large attributes densely, so a `columns` attribute of many
     * thousands of names still fits; h5py and HDF5 >= 1.8 read it. */
    MB_H5(H5Pset_libver_bounds(ids[0], H5F_LIBVER_V18, H5F_LIBVER_LATEST));
    have_tmp = 1;
    MB_H5(ids[1] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, ids[0]));
    MB_TRY(write_root_attrs(&g, ids[1], path));
    MB_TRY(write_truth(&g, ids[1], path));
    MB_TRY(write_data(&g, ids[1], path));
    MB_H5(H5Fflush(ids[1], H5F_SCOPE_GLOBAL));
    hid_t file = ids[1];
    ids[1] = H5I_INVALID_HID;
    MB_H5(H5Fclose(file));
    if (mb__fsync_path(path) != 0) {
        err = mb_error_set(MB_EIO, "%s: fsync failed: %s", path, strerror(errno));
        goto out;
    }
    if (rename(path, o->out) != 0) {
        err = mb_error_set(MB_EIO, "%s: rename to %s failed: %s", path, o->out, strerror(errno));
        goto out;
    }
    have_tmp = 0;
out:
    mb__h5_close_all(ids, 2);
    if (have_tmp) remove(path);
    free(path);
    free_params(&g);
    return err;
}
