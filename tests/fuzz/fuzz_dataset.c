/* fuzz_dataset.c - libFuzzer harness for the dataset validator and reader: the input bytes
 * describe an HDF5 file (objects, element types, ranks, sizes up to absurd ones, attributes,
 * soft/hard/external links) and a dataset spec; the harness builds that file with HDF5 and opens
 * it as mbatch would, then reads it when small. The bytes drive mbatch's checks, not HDF5's own
 * file parser (damaged files are the bad-input corpus's job). */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/comm.h"
#include "mbatch/dataset.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mb_comm comm;
static char path[256];

typedef struct reader {
    const uint8_t *p;
    size_t n, i;
} reader;

static unsigned u8(reader *r) {
    return r->i < r->n ? r->p[r->i++] : 0;
}

static void finalize(void) {
    unlink(path);
    mb_comm_free(&comm);
    MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    if (mb_comm_from(MPI_COMM_WORLD, &comm) != MB_OK) abort();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(path, sizeof path, "%s/mbatch-fuzz-%ld.h5",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ".", (long)getpid());
    atexit(finalize);
    return 0;
}

/* An element type chosen by k: numeric ones mbatch accepts and others it must refuse. */
static hid_t make_type(unsigned k, int *numeric) {
    hid_t t;
    *numeric = 1;
    switch (k % 14) {
    case 0:
        return H5Tcopy(H5T_IEEE_F64LE);
    case 1:
        return H5Tcopy(H5T_IEEE_F32LE);
    case 2:
        return H5Tcopy(H5T_STD_I32LE);
    case 3:
        return H5Tcopy(H5T_STD_I64LE);
    case 4:
        return H5Tcopy(H5T_STD_U8LE);
    case 5:
        return H5Tcopy(H5T_IEEE_F64BE);
    case 6:
        return H5Tcopy(H5T_STD_I16BE);
    case 7:
        return H5Tcopy(H5T_STD_U64LE);
    default:
        break;
    }
    *numeric = 0;
    switch (k % 14) {
    case 8:
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 4);
        return t;
    case 9:
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        return t;
    case 10:
        t = H5Tcreate(H5T_COMPOUND, 16);
        H5Tinsert(t, "a", 0, H5T_NATIVE_DOUBLE);
        H5Tinsert(t, "b", 8, H5T_NATIVE_INT);
        return t;
    case 11: {
        int v = 1;
        t = H5Tenum_create(H5T_NATIVE_INT);
        H5Tenum_insert(t, "one", &v);
        return t;
    }
    case 12: {
        hsize_t d = 2;
        return H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, &d);
    }
    default:
        return H5Tcopy(H5T_STD_B8LE);
    }
}

/* A dimension: mostly small, sometimes absurd (the validator must not allocate for it). */
static hsize_t make_dim(unsigned b) {
    if (b < 200) return b % 12;
    if (b < 250) return (hsize_t)(b - 200) * 37;
    return (hsize_t)1 << (b - 220); /* 2^30 .. 2^35 */
}

/* Dataset `name` under loc with fuzzed type, rank and shape (rows forced to `rows` if >= 0);
 * written with fuzzed values when small and numeric. */
static void make_dataset(reader *r, hid_t loc, const char *name, int want_rank, hsize_t rows) {
    int numeric;
    hid_t t = make_type(u8(r), &numeric);
    int rank = want_rank >= 0 && u8(r) % 4 != 0 ? want_rank : (int)(u8(r) % 4);
    hsize_t dims[3], total = 1, chunk[3];
    for (int i = 0; i < rank; i++) {
        dims[i] = i == 0 && rows != (hsize_t)-1 && u8(r) % 3 != 0 ? rows : make_dim(u8(r));
        total *= dims[i] ? dims[i] : 1;
        chunk[i] = dims[i] > 16 ? 16 : (dims[i] ? dims[i] : 1);
    }
    hid_t sp = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int big = total > 4096;
    if (big && rank > 0) H5Pset_chunk(dcpl, rank, chunk); /* unwritten chunks: a tiny file */
    hid_t d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && numeric && !big) {
        double *v = malloc(sizeof(double) * (size_t)total);
        static const double special[] = {NAN, INFINITY, -INFINITY, 1e300, -0.0, 2.5, 3, 1};
        for (hsize_t i = 0; v && i < total; i++) {
            unsigned b = u8(r);
            v[i] = b >= 248 ? special[b - 248] : (double)(b % 5);
        }
        if (v) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
    }
    /* A `columns` attribute: strings (maybe the wrong count) or numbers. */
    if (d >= 0 && u8(r) % 4 == 0) {
        hsize_t n = u8(r) % 6;
        hid_t as = H5Screate_simple(1, &n, NULL), at;
        if (u8(r) % 2) {
            at = H5Tcopy(H5T_C_S1);
            H5Tset_size(at, H5T_VARIABLE);
            const char *names[6] = {"a", "b", "", "a", "c/d", "x"};
            hid_t a = H5Acreate2(d, "columns", at, as, H5P_DEFAULT, H5P_DEFAULT);
            if (a >= 0 && n > 0) H5Awrite(a, at, names);
            if (a >= 0) H5Aclose(a);
        } else {
            at = H5Tcopy(H5T_STD_I32LE);
            int vals[6] = {0};
            hid_t a = H5Acreate2(d, "columns", at, as, H5P_DEFAULT, H5P_DEFAULT);
            if (a >= 0 && n > 0) H5Awrite(a, H5T_NATIVE_INT, vals);
            if (a >= 0) H5Aclose(a);
        }
        H5Tclose(at);
        H5Sclose(as);
    }
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
}

/* Replace what would be at `name` by a link of a fuzzed kind, or make the dataset. */
static void make_object(reader *r, hid_t loc, const char *name, int rank, hsize_t rows) {
    switch (u8(r) % 10) {
    case 6:
        H5Lcreate_soft("/g/target", loc, name, H5P_DEFAULT, H5P_DEFAULT);
        make_dataset(r, loc, "/g/target", rank, rows);
        break;
    case 7:
        H5Lcreate_hard(loc, "/g", loc, name, H5P_DEFAULT, H5P_DEFAULT);
        break;
    case 8:
        H5Lcreate_external("/nonexistent/mbatch-fuzz-other.h5", "/X", loc, name, H5P_DEFAULT,
                           H5P_DEFAULT);
        break;
    case 9:
        H5Lcreate_soft("/nowhere", loc, name, H5P_DEFAULT, H5P_DEFAULT);
        break;
    default:
        make_dataset(r, loc, name, rank, rows);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *xs[] = {"/X", "/g/X", "/missing", "/g", "/t/a"};
    static const char *ys[] = {"/y", "/g/y", "/X", "/nope"};
    static const char *cols[] = {"a", "b", "c", "label", "cat"};
    reader r = {data, size, 0};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return 0;
    hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t rows = make_dim(u8(&r));
    int columns = u8(&r) % 2;
    mb_dataset_spec spec;
    memset(&spec, 0, sizeof spec);
    const char *features[4], *categorical[4];
    spec.path = path;
    if (!columns) {
        make_object(&r, f, "X", 2, rows);
        make_object(&r, f, "y", 1, rows);
        if (u8(&r) % 3 == 0) make_object(&r, g, "X", 2, rows);
        spec.X = xs[u8(&r) % 5];
        spec.y = ys[u8(&r) % 4];
    } else {
        hid_t t = H5Gcreate2(f, "t", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int ncol = (int)(u8(&r) % 6);
        for (int i = 0; i < ncol; i++) make_object(&r, t, cols[u8(&r) % 5], 1, rows);
        H5Gclose(t);
        spec.group = u8(&r) % 8 == 0 ? "/g" : "/t";
        int nf = 1 + (int)(u8(&r) % 4), nc = 0;
        for (int i = 0; i < nf; i++) {
            features[i] = cols[u8(&r) % 5];
            if (u8(&r) % 3 == 0) categorical[nc++] = features[i];
        }
        spec.features = (char **)features;
        spec.nfeatures = nf;
        spec.categorical = (char **)categorical;
        spec.ncategorical = nc;
        spec.target = u8(&r) % 6 == 0 ? NULL : cols[u8(&r) % 5];
    }
    H5Gclose(g);
    H5Fclose(f);

    int need_target = (int)(u8(&r) % 2);
    mb_io_mode mode = u8(&r) % 2 ? MB_IO_SCATTER : MB_IO_PARALLEL;
    mb_dataset *ds = NULL;
    if (mb_dataset_open(&comm, &spec, need_target, &ds) == MB_OK) {
        int64_t n = mb_dataset_rows(ds), ncol = mb_dataset_ncol(ds);
        if (n < 1 || ncol < 1) {
            fprintf(stderr, "accepted a dataset of %lld rows x %lld columns\n", (long long)n,
                    (long long)ncol);
            abort();
        }
        if (n * ncol <= 4096) {
            double *raw = malloc(sizeof(double) * (size_t)(n * ncol));
            double *y = malloc(sizeof(double) * (size_t)n);
            if (raw && y && mb_dataset_read(&comm, ds, mode, raw, y) == MB_OK) {
                for (int64_t i = 0; i < n * ncol; i++)
                    if (!isfinite(raw[i])) {
                        fprintf(stderr, "a read passed a non-finite feature at %lld\n",
                                (long long)i);
                        abort();
                    }
            }
            free(raw);
            free(y);
        }
        mb_dataset_close(ds);
    } else if (strchr(mb_error_message(), '\n') || mb_error_message()[0] == '\0') {
        fprintf(stderr, "a refusal must be one line: '%s'\n", mb_error_message());
        abort();
    }
    mb_error_clear();
    return 0;
}
