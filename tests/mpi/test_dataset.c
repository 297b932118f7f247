/* test_dataset.c - the dataset reader against files of known values, in both I/O modes. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/dataset.h"
#include "mbatch/partition.h"
#include "mpitest.h"

#define N_BIG 103
#define D_BIG 5

static char files[32][64];
static int nfiles = 0;

/* A file name unique to this test and rank count, so np1..np4 can run side by side. */
static const char *fname(const char *stem) {
    char *f = files[nfiles++];
    snprintf(f, sizeof files[0], "test_dataset_np%d_%s.h5", mt_comm.size, stem);
    return f;
}

static double v(int64_t i, int64_t j) {
    return (double)i * 0.5 + (double)j;
}

/* ---- writing test files with plain serial HDF5 (rank 0) ---- */

static hid_t put_dset(hid_t loc, const char *name, hid_t ftype, int ndims, const hsize_t *dims,
                      const double *data) {
    hid_t sp = H5Screate_simple(ndims, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    MT_CHECK(d >= 0);
    if (dims[0] > 0)
        MT_CHECK(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Sclose(sp);
    return d;
}

static void put_columns_attr(hid_t d, const char *const *names, int n, int vlen) {
    hsize_t dims = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    hid_t t = H5Tcopy(H5T_C_S1);
    if (vlen) {
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        hid_t a = H5Acreate2(d, "columns", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        MT_CHECK(H5Awrite(a, t, names) >= 0);
        H5Aclose(a);
    } else {
        char buf[16 * 8] = {0}; /* fixed length 8, null-padded like numpy's S8 */
        for (int i = 0; i < n; i++) strncpy(buf + 8 * i, names[i], 8);
        H5Tset_size(t, 8);
        H5Tset_strpad(t, H5T_STR_NULLPAD);
        hid_t a = H5Acreate2(d, "columns", t, sp, H5P_DEFAULT, H5P_DEFAULT);
        MT_CHECK(H5Awrite(a, t, buf) >= 0);
        H5Aclose(a);
    }
    H5Tclose(t);
    H5Sclose(sp);
}

static const char *const COLS[D_BIG] = {"a", "b", "c", "d", "e"};

/* /X [n, d] of v(i, j) (with an optional bad value at (bad_row, bad_col)), /y [ny] = i % 3. */
static void write_matrix(const char *file, hid_t xtype, int64_t n, int64_t d, int attr, int64_t ny,
                         int64_t bad_row, int64_t bad_col, double bad) {
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    double *x = malloc(sizeof *x * (size_t)(n * d + 1)), *y = malloc(sizeof *y * (size_t)(ny + 1));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = v(i, j);
    if (bad_row >= 0) x[bad_row * d + bad_col] = bad;
    for (int64_t i = 0; i < ny; i++) y[i] = (double)(i % 3);
    hsize_t xd[2] = {(hsize_t)n, (hsize_t)d}, yd = (hsize_t)ny;
    hid_t dx = put_dset(f, "X", xtype, 2, xd, x);
    if (attr) put_columns_attr(dx, COLS, (int)d, attr == 1);
    H5Dclose(dx);
    H5Dclose(put_dset(f, "y", H5T_STD_I32LE, 1, &yd, y));
    H5Fclose(f);
    free(x);
    free(y);
}

/* Group /t: f float64 v(i,0), g float32 v(i,1), k int32 i%7, cat int64 i%4, fcat float64 i%4,
 * label int8 i%2, short float64 [n-1]. */
static void write_columns(const char *file, int64_t n) {
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "t", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double *b = malloc(sizeof *b * (size_t)n);
    hsize_t dim = (hsize_t)n;
    for (int64_t i = 0; i < n; i++) b[i] = v(i, 0);
    H5Dclose(put_dset(g, "f", H5T_IEEE_F64LE, 1, &dim, b));
    for (int64_t i = 0; i < n; i++) b[i] = v(i, 1);
    H5Dclose(put_dset(g, "g", H5T_IEEE_F32LE, 1, &dim, b));
    for (int64_t i = 0; i < n; i++) b[i] = (double)(i % 7);
    H5Dclose(put_dset(g, "k", H5T_STD_I32LE, 1, &dim, b));
    for (int64_t i = 0; i < n; i++) b[i] = (double)(i % 4);
    H5Dclose(put_dset(g, "cat", H5T_STD_I64LE, 1, &dim, b));
    H5Dclose(put_dset(g, "fcat", H5T_IEEE_F64LE, 1, &dim, b));
    for (int64_t i = 0; i < n; i++) b[i] = (double)(i % 2);
    H5Dclose(put_dset(g, "label", H5T_STD_I8LE, 1, &dim, b));
    hsize_t shorter = dim - 1;
    H5Dclose(put_dset(g, "short", H5T_IEEE_F64LE, 1, &shorter, b));
    free(b);
    H5Gclose(g);
    H5Fclose(f);
}

static void write_string_x(const char *file) {
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    hsize_t dims[2] = {4, 2};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "X", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char buf[32];
    memset(buf, 'a', sizeof buf);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    double y[4] = {0, 1, 0, 1};
    hsize_t yd = 4;
    H5Dclose(put_dset(f, "y", H5T_IEEE_F64LE, 1, &yd, y));
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
}

/* ---- checks ---- */

static void check_no_open_ids(void) {
    MT_CHECK_INT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

/* Same code and same message on every rank, naming the file and `what`. */
static void expect_error(mb_err got, mb_err want, const char *file, const char *what,
                         const char *what2) {
    MT_CHECK_INT(got, want);
    const char *msg = mb_error_message();
    if (mt_comm.rank == 0) printf("  expected error %s: %s\n", mb_errname(got), msg);
    char root[MB_ERRMSG_MAX];
    snprintf(root, sizeof root, "%s", msg);
    int code = (int)got;
    MB_MPI(MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, mt_comm.comm));
    MB_MPI(MPI_Bcast(&code, 1, MPI_INT, 0, mt_comm.comm));
    MT_CHECK_INT(code, got);
    if (strcmp(root, msg) != 0) {
        fprintf(stderr, "rank %d: message '%s' differs from rank 0's '%s'\n", mt_comm.rank, msg,
                root);
        MT_CHECK(0);
    }
    if (!strstr(msg, file) || !strstr(msg, what) || (what2 && !strstr(msg, what2))) {
        fprintf(stderr, "rank %d: message '%s' lacks '%s' / '%s' / '%s'\n", mt_comm.rank, msg, file,
                what, what2 ? what2 : "");
        MT_CHECK(0);
    }
    mb_error_clear();
    check_no_open_ids();
}

typedef struct {
    int64_t lo, hi, ncol;
    double *raw, *y;
} shard;

static shard read_shard(mb_dataset *ds, mb_io_mode mode, int with_y) {
    shard s;
    mb_shard_bounds(mb_dataset_rows(ds), mt_comm.rank, mt_comm.size, &s.lo, &s.hi);
    s.ncol = mb_dataset_ncol(ds);
    int64_t rows = s.hi - s.lo;
    /* A rank without rows passes NULL buffers, which the reader must accept. */
    s.raw = rows ? malloc(sizeof(double) * (size_t)(rows * s.ncol)) : NULL;
    s.y = rows && with_y ? malloc(sizeof(double) * (size_t)rows) : NULL;
    mb_err err = mb_dataset_read(&mt_comm, ds, mode, s.raw, s.y);
    if (err) fprintf(stderr, "rank %d: %s\n", mt_comm.rank, mb_error_message());
    MT_CHECK_INT(err, MB_OK);
    check_no_open_ids();
    return s;
}

static void shard_free(shard *s) {
    free(s->raw);
    free(s->y);
}

static void check_same(const shard *a, const shard *b) {
    int64_t rows = a->hi - a->lo;
    MT_CHECK(rows == 0 || memcmp(a->raw, b->raw, sizeof(double) * (size_t)(rows * a->ncol)) == 0);
    MT_CHECK(rows == 0 || !a->y || memcmp(a->y, b->y, sizeof(double) * (size_t)rows) == 0);
}

static uint64_t root_checksum(const mb_dataset *ds) {
    uint64_t h = mb_dataset_checksum(ds), h0 = h;
    MB_MPI(MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, mt_comm.comm));
    MT_CHECK(h == h0);
    return h;
}

static mb_dataset *open_ok(const mb_dataset_spec *spec, int need_target) {
    mb_dataset *ds = NULL;
    mb_err err = mb_dataset_open(&mt_comm, spec, need_target, &ds);
    if (err) fprintf(stderr, "rank %d: %s\n", mt_comm.rank, mb_error_message());
    MT_CHECK_INT(err, MB_OK);
    MT_CHECK(ds != NULL);
    check_no_open_ids();
    return ds;
}

/* The whole matrix, both modes, against the formula; both modes bitwise identical. */
static uint64_t test_matrix(const char *file) {
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/y"};
    mb_dataset *ds = open_ok(&spec, 1);
    MT_CHECK_INT(mb_dataset_rows(ds), N_BIG);
    MT_CHECK_INT(mb_dataset_ncol(ds), D_BIG);
    for (int j = 0; j < D_BIG; j++) MT_CHECK(strcmp(mb_dataset_colname(ds, j), COLS[j]) == 0);
    MT_CHECK(mb_dataset_has_target(ds));
    MT_CHECK(strcmp(mb_dataset_target_name(ds), "/y") == 0);
    MT_CHECK(strcmp(mb_dataset_path(ds), file) == 0);
    MT_CHECK(!mb_dataset_is_categorical(ds, 0));
    uint64_t h = root_checksum(ds);

    shard p = read_shard(ds, MB_IO_PARALLEL, 1), s = read_shard(ds, MB_IO_SCATTER, 1);
    for (int64_t i = p.lo; i < p.hi; i++) {
        for (int64_t j = 0; j < D_BIG; j++)
            MT_CHECK_NEAR(p.raw[(i - p.lo) * D_BIG + j], v(i, j), 0);
        MT_CHECK_NEAR(p.y[i - p.lo], (double)(i % 3), 0);
    }
    check_same(&p, &s);
    shard_free(&p);
    shard_free(&s);
    mb_dataset_close(ds);
    return h;
}

static void test_subset(const char *file, uint64_t full_sum) {
    char *feat[] = {"d", "a", "c"};
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/y", .features = feat, .nfeatures = 3};
    mb_dataset *ds = open_ok(&spec, 1);
    MT_CHECK_INT(mb_dataset_ncol(ds), 3);
    MT_CHECK(strcmp(mb_dataset_colname(ds, 0), "d") == 0);
    MT_CHECK(strcmp(mb_dataset_colname(ds, 2), "c") == 0);
    MT_CHECK(root_checksum(ds) != full_sum);
    const int64_t src[3] = {3, 0, 2};
    shard p = read_shard(ds, MB_IO_PARALLEL, 0), s = read_shard(ds, MB_IO_SCATTER, 0);
    for (int64_t i = p.lo; i < p.hi; i++)
        for (int64_t c = 0; c < 3; c++) MT_CHECK_NEAR(p.raw[(i - p.lo) * 3 + c], v(i, src[c]), 0);
    check_same(&p, &s);
    shard_free(&p);
    shard_free(&s);
    mb_dataset_close(ds);
}

static void test_columns(const char *file) {
    char *feat[] = {"g", "cat", "f", "k"}, *cats[] = {"cat"};
    mb_dataset_spec spec = {.path = file,
                            .group = "/t",
                            .features = feat,
                            .nfeatures = 4,
                            .target = "label",
                            .categorical = cats,
                            .ncategorical = 1};
    mb_dataset *ds = open_ok(&spec, 1);
    MT_CHECK_INT(mb_dataset_rows(ds), N_BIG);
    MT_CHECK_INT(mb_dataset_ncol(ds), 4);
    MT_CHECK(strcmp(mb_dataset_colname(ds, 1), "cat") == 0);
    MT_CHECK(mb_dataset_is_categorical(ds, 1) && !mb_dataset_is_categorical(ds, 0));
    MT_CHECK(strcmp(mb_dataset_target_name(ds), "/t/label") == 0);
    root_checksum(ds);
    shard p = read_shard(ds, MB_IO_PARALLEL, 1), s = read_shard(ds, MB_IO_SCATTER, 1);
    for (int64_t i = p.lo; i < p.hi; i++) {
        const double *r = p.raw + (i - p.lo) * 4;
        MT_CHECK_NEAR(r[0], v(i, 1), 0);
        MT_CHECK_NEAR(r[1], (double)(i % 4), 0);
        MT_CHECK_NEAR(r[2], v(i, 0), 0);
        MT_CHECK_NEAR(r[3], (double)(i % 7), 0);
        MT_CHECK_NEAR(p.y[i - p.lo], (double)(i % 2), 0);
    }
    check_same(&p, &s);
    shard_free(&p);
    shard_free(&s);
    mb_dataset_close(ds);
}

/* Fewer rows than ranks: some ranks own nothing and pass NULL buffers. */
static void test_tiny(const char *file) {
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/y"};
    mb_dataset *ds = open_ok(&spec, 1);
    MT_CHECK_INT(mb_dataset_rows(ds), 3);
    MT_CHECK(strcmp(mb_dataset_colname(ds, 1), "x1") == 0); /* no `columns` attribute */
    shard p = read_shard(ds, MB_IO_PARALLEL, 1), s = read_shard(ds, MB_IO_SCATTER, 1);
    for (int64_t i = p.lo; i < p.hi; i++) {
        MT_CHECK_NEAR(p.raw[(i - p.lo) * 2 + 1], v(i, 1), 0);
        MT_CHECK_NEAR(p.y[i - p.lo], (double)(i % 3), 0);
    }
    check_same(&p, &s);
    shard_free(&p);
    shard_free(&s);
    mb_dataset_close(ds);
}

/* Predict: no target needed, and a missing one is not an error. */
static void test_no_target(const char *file) {
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/nolabel"};
    mb_dataset *ds = open_ok(&spec, 0);
    MT_CHECK(!mb_dataset_has_target(ds));
    MT_CHECK(mb_dataset_target_name(ds) == NULL);
    shard p = read_shard(ds, MB_IO_SCATTER, 1);
    shard_free(&p);
    mb_dataset_close(ds);
}

static void open_fails(const mb_dataset_spec *spec, int need_target, mb_err want, const char *what,
                       const char *what2) {
    mb_dataset *ds = (mb_dataset *)1;
    mb_err err = mb_dataset_open(&mt_comm, spec, need_target, &ds);
    MT_CHECK(ds == NULL);
    expect_error(err, want, spec->path, what, what2);
}

static void read_fails(const char *file, mb_io_mode mode, const char *what, const char *what2,
                       int64_t bad_row) {
    mb_dataset_spec spec = {.path = file, .X = "/X", .y = "/y"};
    mb_dataset *ds = open_ok(&spec, 1);
    int64_t lo, hi, olo, ohi, owner = 0;
    mb_shard_bounds(mb_dataset_rows(ds), mt_comm.rank, mt_comm.size, &lo, &hi);
    for (int r = 0; r < mt_comm.size; r++) {
        mb_shard_bounds(mb_dataset_rows(ds), r, mt_comm.size, &olo, &ohi);
        if (bad_row >= olo && bad_row < ohi) owner = r;
    }
    double *raw = malloc(sizeof(double) * (size_t)((hi - lo) * mb_dataset_ncol(ds) + 1));
    double *y = malloc(sizeof(double) * (size_t)(hi - lo + 1));
    mb_err err = mb_dataset_read(&mt_comm, ds, mode, raw, y);
    char who[32];
    snprintf(who, sizeof who, "rank %d: ", (int)owner);
    if (mt_comm.size > 1) MT_CHECK(strncmp(mb_error_message(), who, strlen(who)) == 0);
    expect_error(err, MB_EDATA, file, what, what2);
    free(raw);
    free(y);
    mb_dataset_close(ds);
}

static void test_errors(const char *m64, const char *cols) {
    const char *missing = fname("missing");
    const char *text = fname("text");
    const char *mismatch = fname("mismatch");
    const char *strx = fname("strx");
    const char *nan = fname("nan");
    const char *inf = fname("inf");
    const char *empty = fname("empty");
    if (mt_comm.rank == 0) {
        unlink(missing);
        FILE *f = fopen(text, "w");
        fputs("this is not HDF5\n", f);
        fclose(f);
        write_matrix(mismatch, H5T_IEEE_F64LE, 1000, 2, 0, 999, -1, 0, 0);
        write_string_x(strx);
        write_matrix(nan, H5T_IEEE_F64LE, 10, 3, 1, 10, 7, 1, NAN);
        write_matrix(inf, H5T_IEEE_F32LE, 10, 3, 2, 10, 9, 2, INFINITY);
        write_matrix(empty, H5T_IEEE_F64LE, 0, 3, 0, 0, -1, 0, 0);
    }
    mb_barrier(&mt_comm);

    mb_dataset_spec s = {.path = missing, .X = "/X", .y = "/y"};
    open_fails(&s, 1, MB_EIO, "no such file", NULL);
    s.path = text;
    open_fails(&s, 1, MB_EDATA, "not an HDF5 file", NULL);
    s.path = m64;
    s.X = "/Z";
    open_fails(&s, 1, MB_EDATA, "dataset /Z not found", NULL);
    s.X = "/nogroup/X";
    open_fails(&s, 1, MB_EDATA, "dataset /nogroup/X not found", NULL);
    s.X = "/X";
    s.y = "/w";
    open_fails(&s, 1, MB_EDATA, "dataset /w not found", NULL);
    char *nofeat[] = {"a", "zz"};
    mb_dataset_spec sf = {.path = m64, .X = "/X", .y = "/y", .features = nofeat, .nfeatures = 2};
    open_fails(&sf, 1, MB_EDATA, "column 'zz' not found in /X", "(has: a, b, c, d, e)");
    mb_dataset_spec sm = {.path = mismatch, .X = "/X", .y = "/y"};
    open_fails(&sm, 1, MB_EDATA, "/X has 1000 rows but /y has 999", NULL);
    char *pick[] = {"x0"};
    sm.features = pick;
    sm.nfeatures = 1;
    open_fails(&sm, 1, MB_EDATA, "/X has no 'columns' attribute", NULL);
    mb_dataset_spec ss = {.path = strx, .X = "/X", .y = "/y"};
    open_fails(&ss, 1, MB_EDATA,
               "/X has an unsupported dtype (string); expected float32 or float64", NULL);
    mb_dataset_spec se = {.path = empty, .X = "/X", .y = "/y"};
    open_fails(&se, 1, MB_EDATA, "/X has zero rows", NULL);

    char *cf[] = {"f", "foo"}, *cc[] = {"fcat"}, *cs[] = {"f", "short"}, *cfc[] = {"f", "fcat"};
    mb_dataset_spec sc = {
        .path = cols, .group = "/t", .features = cf, .nfeatures = 2, .target = "label"};
    open_fails(&sc, 1, MB_EDATA, "column 'foo' not found in group /t",
               "(has: cat, f, fcat, g, k, label, short)");
    sc.features = cs;
    open_fails(&sc, 1, MB_EDATA, "/t/f has 103 rows but /t/short has 102", NULL);
    sc.features = cfc;
    sc.categorical = cc;
    sc.ncategorical = 1;
    open_fails(&sc, 1, MB_EDATA, "categorical column 'fcat'", "must be integer");
    sc.group = "/nope";
    open_fails(&sc, 1, MB_EDATA, "group /nope not found", NULL);

    read_fails(nan, MB_IO_PARALLEL, "/X row 7 column 'b' is NaN", NULL, 7);
    read_fails(nan, MB_IO_SCATTER, "/X row 7 column 'b' is NaN", NULL, 7);
    read_fails(inf, MB_IO_PARALLEL, "/X row 9 column 'c' is Inf", NULL, 9);
    read_fails(inf, MB_IO_SCATTER, "/X row 9 column 'c' is Inf", NULL, 9);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    /* Small pieces and blocks, so the read loops run many times on a 103-row file. */
    setenv("MBATCH_IO_PIECE_DOUBLES", "37", 1);
    const char *m64 = fname("m64"), *m32 = fname("m32"), *cols = fname("cols"),
               *tiny = fname("tiny");
    if (mt_comm.rank == 0) {
        write_matrix(m64, H5T_IEEE_F64LE, N_BIG, D_BIG, 1, N_BIG, -1, 0, 0);
        write_matrix(m32, H5T_IEEE_F32LE, N_BIG, D_BIG, 2, N_BIG, -1, 0, 0);
        write_columns(cols, N_BIG);
        write_matrix(tiny, H5T_IEEE_F64LE, 3, 2, 0, 3, -1, 0, 0);
    }
    mb_barrier(&mt_comm);

    uint64_t h64 = test_matrix(m64);
    uint64_t h32 = test_matrix(m32);
    MT_CHECK(h64 != h32); /* float64 vs float32 is a different dataset */
    test_subset(m64, h64);
    test_subset(m32, h32);
    test_columns(cols);
    test_tiny(tiny);
    test_no_target(m64);
    setenv("MBATCH_IO_PIECE_DOUBLES", "100000", 1); /* one piece per read */
    test_matrix(m64);
    test_columns(cols);
    test_errors(m64, cols);

    mb_barrier(&mt_comm);
    if (mt_comm.rank == 0)
        for (int i = 0; i < nfiles; i++) unlink(files[i]);
    return mt_finish();
}
