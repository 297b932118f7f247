/* test_gen.c - generated datasets: deterministic, right shapes and types, known true model. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/gen.h"
#include "mpitest.h"

static char prefix[128]; /* per rank and run size: the np1..np4 runs may share a directory */

static const char *out_path(const char *name) {
    static char bufs[4][256];
    static int next = 0;
    char *p = bufs[next++ % 4];
    snprintf(p, 256, "%s_%s.h5", prefix, name);
    return p;
}

static mb_gen_opts opts(const char *kind, int64_t rows, int64_t cols, const char *out) {
    mb_gen_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.rows = rows;
    o.cols = cols;
    o.layout = "matrix";
    o.noise = 0.1;
    o.seed = 42;
    o.out = out;
    return o;
}

typedef struct arr {
    int rank;
    hsize_t dims[3];
    H5T_class_t cls;
    size_t size;
    int64_t n;
    double *v; /* converted to double */
} arr;

static arr read_arr(const char *path, const char *name) {
    arr a;
    memset(&a, 0, sizeof a);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fprintf(stderr, "rank %d: %s: no dataset %s\n", mt_comm.rank, path, name);
    MT_CHECK(d >= 0);
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    a.rank = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, a.dims, NULL);
    a.n = H5Sget_simple_extent_npoints(s);
    a.cls = H5Tget_class(t);
    a.size = H5Tget_size(t);
    a.v = malloc((size_t)(a.n > 0 ? a.n : 1) * sizeof(double));
    MT_CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.v) >= 0);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return a;
}

static void check_type(const arr *a, H5T_class_t cls, size_t size) {
    MT_CHECK_INT(a->cls, cls);
    MT_CHECK_INT(a->size, size);
}

static int same(const arr *a, const arr *b) {
    return a->n == b->n && memcmp(a->v, b->v, (size_t)a->n * sizeof(double)) == 0;
}

static void expect_usage(const mb_gen_opts *o, const char *needle) {
    MT_CHECK_INT(mb_gen(o), MB_EUSAGE);
    if (!strstr(mb_error_message(), needle)) {
        fprintf(stderr, "rank %d: message '%s' lacks '%s'\n", mt_comm.rank, mb_error_message(),
                needle);
        MT_CHECK(!"unexpected message");
    }
    mb_error_clear();
}

/* Linear: y - (z.w + b) has the noise's standard deviation, with z recovered from x. */
static void test_linear(void) {
    const char *p1 = out_path("lin1"), *p2 = out_path("lin2"), *p3 = out_path("lin3");
    mb_gen_opts o = opts("linear", 3000, 6, p1);
    MT_CHECK_INT(mb_gen(&o), MB_OK);
    o.out = p2;
    MT_CHECK_INT(mb_gen(&o), MB_OK);
    o.out = p3;
    o.seed = 43;
    MT_CHECK_INT(mb_gen(&o), MB_OK);

    arr X = read_arr(p1, "/X"), y = read_arr(p1, "/y");
    arr w = read_arr(p1, "/true/w"), b = read_arr(p1, "/true/b");
    arr off = read_arr(p1, "/true/offset"), sc = read_arr(p1, "/true/scale");
    MT_CHECK_INT(X.rank, 2);
    MT_CHECK_INT(X.dims[0], 3000);
    MT_CHECK_INT(X.dims[1], 6);
    check_type(&X, H5T_FLOAT, 8);
    MT_CHECK_INT(y.rank, 1);
    MT_CHECK_INT(y.dims[0], 3000);
    check_type(&y, H5T_FLOAT, 8);
    MT_CHECK_INT(w.rank, 1);
    MT_CHECK_INT(w.n, 6);
    MT_CHECK_INT(b.n, 1);
    double ss = 0, sum = 0;
    for (int64_t i = 0; i < 3000; i++) {
        double eta = b.v[0];
        for (int j = 0; j < 6; j++) eta += (X.v[i * 6 + j] - off.v[j]) / sc.v[j] * w.v[j];
        double r = y.v[i] - eta;
        sum += r;
        ss += r * r;
    }
    double mean = sum / 3000, sd = sqrt(ss / 3000 - mean * mean);
    MT_CHECK_NEAR(sd, 0.1, 0.01);
    MT_CHECK_NEAR(mean, 0.0, 0.01);
    for (int j = 0; j < 6; j++) {
        MT_CHECK(off.v[j] >= -2 && off.v[j] <= 2);
        MT_CHECK(sc.v[j] >= 0.5 && sc.v[j] <= 3);
    }

    arr X2 = read_arr(p2, "/X"), y2 = read_arr(p2, "/y");
    arr X3 = read_arr(p3, "/X"), y3 = read_arr(p3, "/y");
    MT_CHECK(same(&X, &X2) && same(&y, &y2));
    MT_CHECK(!same(&X, &X3) && !same(&y, &y3));

    /* The values do not depend on the blocking: the first rows of a file of 70000 rows (two
     * write blocks) are those of the 3000-row file. */
    const char *big = out_path("lin_big");
    o = opts("linear", 70000, 6, big);
    MT_CHECK_INT(mb_gen(&o), MB_OK);
    arr Xb = read_arr(big, "/X"), yb = read_arr(big, "/y");
    MT_CHECK(memcmp(Xb.v, X.v, (size_t)X.n * sizeof(double)) == 0);
    MT_CHECK(memcmp(yb.v, y.v, (size_t)y.n * sizeof(double)) == 0);

    arr *all[] = {&X, &y, &w, &b, &off, &sc, &X2, &y2, &X3, &y3, &Xb, &yb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->v);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(big);
}

static void test_logistic_float32(void) {
    const char *p = out_path("logit");
    mb_gen_opts o = opts("logistic", 2000, 8, p);
    o.float32 = 1;
    MT_CHECK_INT(mb_gen(&o), MB_OK);
    arr X = read_arr(p, "/X"), y = read_arr(p, "/y");
    check_type(&X, H5T_FLOAT, 4);
    check_type(&y, H5T_INTEGER, 4);
    MT_CHECK_INT(X.dims[1], 8);
    int64_t ones = 0;
    for (int64_t i = 0; i < y.n; i++) {
        MT_CHECK(y.v[i] == 0 || y.v[i] == 1);
        ones += y.v[i] == 1;
    }
    MT_CHECK(ones >= 300 && ones <= 1700);

    /* The columns attribute names x0..x7. */
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "X", H5P_DEFAULT);
    hid_t a = H5Aopen(d, "columns", H5P_DEFAULT);
    MT_CHECK(a >= 0);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    char *names[8];
    MT_CHECK(H5Aread(a, st, names) >= 0);
    MT_CHECK(strcmp(names[0], "x0") == 0 && strcmp(names[7], "x7") == 0);
    for (int i = 0; i < 8; i++) H5free_memory(names[i]);
    H5Tclose(st);
    H5Aclose(a);
    H5Dclose(d);
    H5Fclose(f);
    free(X.v);
    free(y.v);
    unlink(p);
}

static void test_softmax_columns(void) {
    for (int f32 = 0; f32 <= 1; f32++) {
        const char *p = out_path(f32 ? "soft32" : "soft64");
        mb_gen_opts o = opts("softmax", 1500, 5, p);
        o.layout = "columns";
        o.classes = 4;
        o.categorical = 2;
        o.levels = 3;
        o.float32 = f32;
        MT_CHECK_INT(mb_gen(&o), MB_OK);
        int64_t count[4] = {0, 0, 0, 0};
        arr y = read_arr(p, "/data/y");
        check_type(&y, H5T_INTEGER, 4);
        MT_CHECK_INT(y.n, 1500);
        for (int64_t i = 0; i < y.n; i++) {
            MT_CHECK(y.v[i] >= 0 && y.v[i] < 4 && y.v[i] == floor(y.v[i]));
            count[(int)y.v[i]]++;
        }
        for (int c = 0; c < 4; c++) MT_CHECK(count[c] > 0);
        for (int j = 0; j < 5; j++) {
            char name[32];
            snprintf(name, sizeof name, "/data/x%d", j);
            arr x = read_arr(p, name);
            MT_CHECK_INT(x.rank, 1);
            MT_CHECK_INT(x.n, 1500);
            check_type(&x, H5T_FLOAT, f32 ? 4 : 8);
            free(x.v);
        }
        for (int j = 0; j < 2; j++) {
            char name[32];
            snprintf(name, sizeof name, "/data/c%d", j);
            arr c = read_arr(p, name);
            check_type(&c, H5T_INTEGER, 4);
            for (int64_t i = 0; i < c.n; i++) MT_CHECK(c.v[i] >= 0 && c.v[i] < 3);
            free(c.v);
        }
        arr w = read_arr(p, "/true/w"), b = read_arr(p, "/true/b");
        arr e = read_arr(p, "/true/effect");
        MT_CHECK_INT(w.rank, 2);
        MT_CHECK_INT(w.dims[0], 5);
        MT_CHECK_INT(w.dims[1], 4);
        MT_CHECK_INT(b.n, 4);
        MT_CHECK_INT(e.rank, 3);
        MT_CHECK_INT(e.n, 2 * 3 * 4);
        free(w.v);
        free(b.v);
        free(e.v);
        free(y.v);
        unlink(p);
    }
    /* Linear targets in the columns layout are float64. */
    const char *p = out_path("lincols");
    mb_gen_opts o = opts("linear", 100, 3, p);
    o.layout = "columns";
    MT_CHECK_INT(mb_gen(&o), MB_OK);
    arr y = read_arr(p, "/data/y");
    check_type(&y, H5T_FLOAT, 8);
    free(y.v);
    unlink(p);
}

static void test_validation(void) {
    const char *p = out_path("bad");
    mb_gen_opts o = opts("linear", 0, 3, p);
    expect_usage(&o, "rows must be >= 1 (got 0)");
    o = opts("linear", 10, -2, p);
    expect_usage(&o, "cols must be >= 1 (got -2)");
    o = opts("poisson", 10, 3, p);
    expect_usage(&o, "'poisson'");
    o = opts("linear", 10, 3, p);
    o.layout = "parquet";
    expect_usage(&o, "'parquet'");
    o = opts("softmax", 10, 3, p);
    o.classes = 1;
    expect_usage(&o, "classes must be >= 2 (got 1)");
    o = opts("linear", 10, 3, p);
    o.categorical = 2;
    expect_usage(&o, "layout 'columns'");
    o = opts("linear", 10, 3, p);
    o.noise = -1;
    expect_usage(&o, "noise");
    MT_CHECK(access(p, F_OK) != 0);

    o = opts("linear", 10, 3, "no-such-dir/x/out.h5");
    MT_CHECK_INT(mb_gen(&o), MB_EIO);
    MT_CHECK(strstr(mb_error_message(), "no-such-dir") != NULL);
    mb_error_clear();
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(prefix, sizeof prefix, "test_gen_r%d_of%d", mt_comm.rank, mt_comm.size);
    test_linear();
    test_logistic_float32();
    test_softmax_columns();
    test_validation();
    MT_CHECK_INT(mb_error_code(), MB_OK);
    return mt_finish();
}
