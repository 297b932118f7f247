/* test_checkpoint.c - checkpoints round-trip bitwise, skip and prune partial files; metrics.h5. */
#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbatch/checkpoint.h"
#include "mbatch/metrics.h"
#include "mbatch/model.h"
#include "mpitest.h"

/* Each rank works in its own directory: the np1..np4 runs may share the working directory. */
static char dir[256];

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static char *copy_str(const char *s) {
    char *p = malloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

/* A softmax checkpoint over columns a (numeric), color (3 codes), b (numeric): d = 5, k = 3. */
static void make_ckpt(mb_ckpt *c, int64_t step, int with_opt) {
    memset(c, 0, sizeof *c);
    c->model_type = MB_MODEL_SOFTMAX;
    c->d = 5;
    c->k = 3;
    c->nparam = mb_model_nparam(c->d, c->k);
    c->theta = malloc((size_t)c->nparam * sizeof(double));
    for (int64_t i = 0; i < c->nparam; i++) c->theta[i] = (double)step + 1.0 / (3.0 + (double)i);
    c->theta[0] = -0.0;
    c->theta[1] = 4.9e-324; /* subnormal */
    c->theta[2] = 1e300;
    c->optim_type = 2;
    c->optim_t = step;
    if (with_opt) {
        c->opt_v = malloc((size_t)c->nparam * sizeof(double));
        c->opt_m = malloc((size_t)c->nparam * sizeof(double));
        for (int64_t i = 0; i < c->nparam; i++) {
            c->opt_v[i] = 1e-8 * (double)i + 1.0 / 7.0;
            c->opt_m[i] = -0.1 * (double)i;
        }
    }
    c->ncol = 3;
    c->columns = malloc(3 * sizeof(char *));
    c->columns[0] = copy_str("a");
    c->columns[1] = copy_str("color");
    c->columns[2] = copy_str("b \xc3\xa9"); /* UTF-8 survives */
    c->ncat = malloc(3 * sizeof(int64_t));
    c->ncat[0] = 0;
    c->ncat[1] = 3;
    c->ncat[2] = 0;
    c->cats = calloc(3, sizeof(int64_t *));
    c->cats[1] = malloc(3 * sizeof(int64_t));
    c->cats[1][0] = -4;
    c->cats[1][1] = 7;
    c->cats[1][2] = INT64_MAX;
    c->mean = malloc(5 * sizeof(double));
    c->std = malloc(5 * sizeof(double));
    for (int i = 0; i < 5; i++) {
        c->mean[i] = 0.1 * i - 1.0 / 3.0;
        c->std[i] = 1.0 + 1.0 / (i + 1.0);
    }
    c->epoch = step / 10;
    c->step = step;
    c->samples_seen = step * 64;
    c->seed = UINT64_MAX - 5;
    c->lr = 0.05;
    c->batch_size = 64;
    c->ranks = mt_comm.size;
    c->version = copy_str("0.1.0");
    c->dataset_path = copy_str("data/train.h5");
    c->dataset_rows = 123456789012LL;
    c->dataset_checksum = UINT64_C(0xfedcba9876543210);
    c->job_json = copy_str("{\"name\":\"t\",\"model\":\"softmax\",\"epochs\":3}");
    c->target = with_opt ? copy_str("label") : NULL;
}

static void check_f64_bits(const double *a, const double *b, int64_t n) {
    MT_CHECK((a == NULL) == (b == NULL));
    if (a) MT_CHECK(memcmp(a, b, (size_t)n * sizeof(double)) == 0);
}

static void check_str(const char *a, const char *b) {
    MT_CHECK((a == NULL) == (b == NULL));
    if (a && strcmp(a, b) != 0) {
        fprintf(stderr, "rank %d: '%s' != '%s'\n", mt_comm.rank, a, b);
        MT_CHECK(!"strings differ");
    }
}

static void check_same(const mb_ckpt *a, const mb_ckpt *b) {
    MT_CHECK_INT(a->model_type, b->model_type);
    MT_CHECK_INT(a->d, b->d);
    MT_CHECK_INT(a->k, b->k);
    MT_CHECK_INT(a->nparam, b->nparam);
    check_f64_bits(a->theta, b->theta, a->nparam);
    MT_CHECK_INT(a->optim_type, b->optim_type);
    MT_CHECK_INT(a->optim_t, b->optim_t);
    check_f64_bits(a->opt_v, b->opt_v, a->nparam);
    check_f64_bits(a->opt_m, b->opt_m, a->nparam);
    MT_CHECK_INT(a->ncol, b->ncol);
    for (int64_t i = 0; i < a->ncol; i++) {
        check_str(a->columns[i], b->columns[i]);
        MT_CHECK_INT(a->ncat[i], b->ncat[i]);
        MT_CHECK((a->cats[i] == NULL) == (b->cats[i] == NULL));
        if (a->ncat[i] > 0)
            MT_CHECK(memcmp(a->cats[i], b->cats[i], (size_t)a->ncat[i] * sizeof(int64_t)) == 0);
    }
    check_f64_bits(a->mean, b->mean, a->d);
    check_f64_bits(a->std, b->std, a->d);
    MT_CHECK_INT(a->epoch, b->epoch);
    MT_CHECK_INT(a->step, b->step);
    MT_CHECK_INT(a->samples_seen, b->samples_seen);
    MT_CHECK(a->seed == b->seed);
    MT_CHECK(memcmp(&a->lr, &b->lr, sizeof a->lr) == 0);
    MT_CHECK_INT(a->batch_size, b->batch_size);
    MT_CHECK_INT(a->ranks, b->ranks);
    check_str(a->version, b->version);
    check_str(a->dataset_path, b->dataset_path);
    MT_CHECK_INT(a->dataset_rows, b->dataset_rows);
    MT_CHECK(a->dataset_checksum == b->dataset_checksum);
    check_str(a->job_json, b->job_json);
    check_str(a->target, b->target);
}

static void write_step(int64_t step) {
    mb_ckpt c;
    char name[64];
    make_ckpt(&c, step, 1);
    snprintf(name, sizeof name, "ckpt-%lld.h5", (long long)step);
    MT_CHECK_INT(mb_ckpt_write(dir, name, &c), MB_OK);
    mb_ckpt_clear(&c);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    MT_CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void expect_error(mb_err got, mb_err want, const char *needle) {
    MT_CHECK_INT(got, want);
    if (!strstr(mb_error_message(), needle)) {
        fprintf(stderr, "rank %d: message '%s' lacks '%s'\n", mt_comm.rank, mb_error_message(),
                needle);
        MT_CHECK(!"unexpected message");
    }
    mb_error_clear();
}

static void test_round_trip(void) {
    mb_ckpt a, b;
    char path[512];
    for (int with_opt = 0; with_opt <= 1; with_opt++) {
        make_ckpt(&a, 42, with_opt);
        MT_CHECK_INT(mb_ckpt_write(dir, "model.h5", &a), MB_OK);
        snprintf(path, sizeof path, "%s/model.h5", dir);
        MT_CHECK_INT(mb_ckpt_read(path, &b), MB_OK);
        check_same(&a, &b);
        mb_ckpt_clear(&b);
        MT_CHECK(b.theta == NULL && b.columns == NULL && b.ncol == 0);
        mb_ckpt_clear(&a);
    }
    /* Overwriting replaces the file (by rename) and leaves no temporary behind. */
    make_ckpt(&a, 43, 1);
    MT_CHECK_INT(mb_ckpt_write(dir, "model.h5", &a), MB_OK);
    MT_CHECK_INT(mb_ckpt_read(path, &b), MB_OK);
    check_same(&a, &b);
    mb_ckpt_clear(&a);
    mb_ckpt_clear(&b);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/.model.h5.tmp-%ld", dir, (long)getpid());
    MT_CHECK(!exists(tmp));

    /* /model/W and /model/b are views of theta; check them with plain HDF5. */
    make_ckpt(&a, 43, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    double W[15], bias[3];
    hid_t ds = H5Dopen2(f, "/model/W", H5P_DEFAULT);
    MT_CHECK(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, W) >= 0);
    H5Dclose(ds);
    ds = H5Dopen2(f, "/model/b", H5P_DEFAULT);
    MT_CHECK(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, bias) >= 0);
    H5Dclose(ds);
    MT_CHECK(memcmp(W, a.theta, sizeof W) == 0);
    MT_CHECK(memcmp(bias, a.theta + 15, sizeof bias) == 0);
    H5Fclose(f);
    mb_ckpt_clear(&a);
}

static void test_write_errors(void) {
    mb_ckpt a;
    char blocker[512], sub[600];
    make_ckpt(&a, 1, 0);
    /* A directory that cannot be created: a regular file is in the way. */
    snprintf(blocker, sizeof blocker, "%s/blocker", dir);
    write_file(blocker, "x");
    snprintf(sub, sizeof sub, "%s/sub", blocker);
    expect_error(mb_ckpt_write(sub, "ckpt-1.h5", &a), MB_EIO, "blocker");
    /* An inconsistent nparam is the caller's bug, reported as such. */
    a.nparam++;
    expect_error(mb_ckpt_write(dir, "ckpt-1.h5", &a), MB_EUSAGE, "nparam");
    a.nparam--;
    unlink(blocker);
    mb_ckpt_clear(&a);
}

/* A file that looks like a checkpoint but has complete = 0 (as if killed mid-write). */
static void write_incomplete(const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(f, "complete", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int zero = 0;
    MT_CHECK(H5Awrite(at, H5T_NATIVE_INT, &zero) >= 0);
    H5Aclose(at);
    H5Sclose(sp);
    H5Fclose(f);
}

static void test_latest_and_prune(void) {
    char *path = NULL;
    int64_t step = 0;
    char p[512], missing[512];

    snprintf(missing, sizeof missing, "%s/no-such-dir", dir);
    MT_CHECK_INT(mb_ckpt_latest(missing, &path, &step), MB_OK);
    MT_CHECK(path == NULL);
    MT_CHECK_INT(mb_ckpt_prune(missing, 2), MB_OK);

    remove_tree(dir);
    write_step(1);
    write_step(5);
    write_step(10);
    write_step(7);
    snprintf(p, sizeof p, "%s/ckpt-99.h5", dir); /* garbage under a checkpoint name */
    write_file(p, "this is not HDF5\n");
    snprintf(p, sizeof p, "%s/ckpt-50.h5", dir); /* HDF5 with complete = 0 */
    write_incomplete(p);
    /* A temporary of a writer that died: pid 2^31-1 is beyond any Linux pid_max. */
    snprintf(p, sizeof p, "%s/.ckpt-60.h5.tmp-2147483647", dir);
    write_file(p, "partial");
    snprintf(p, sizeof p, "%s/ckpt-70.h5.bak", dir); /* not a checkpoint name */
    write_file(p, "other");
    snprintf(p, sizeof p, "%s/ckpt-x.h5", dir);
    write_file(p, "other");

    MT_CHECK_INT(mb_ckpt_latest(dir, &path, &step), MB_OK);
    MT_CHECK(path != NULL);
    MT_CHECK_INT(step, 10);
    snprintf(p, sizeof p, "%s/ckpt-10.h5", dir);
    check_str(path, p);
    free(path);

    /* Reading refuses partial files with a message that says why. */
    mb_ckpt c;
    snprintf(p, sizeof p, "%s/ckpt-50.h5", dir);
    expect_error(mb_ckpt_read(p, &c), MB_EIO, "incomplete (no complete=1 attribute)");
    MT_CHECK(c.theta == NULL);
    snprintf(p, sizeof p, "%s/ckpt-99.h5", dir);
    expect_error(mb_ckpt_read(p, &c), MB_EIO, "not an HDF5 file");
    snprintf(p, sizeof p, "%s/ckpt-1000.h5", dir);
    expect_error(mb_ckpt_read(p, &c), MB_EIO, "ckpt-1000.h5");

    MT_CHECK_INT(mb_ckpt_prune(dir, 2), MB_OK);
    const char *kept[] = {"ckpt-10.h5", "ckpt-7.h5",      "ckpt-50.h5",
                          "ckpt-99.h5", "ckpt-70.h5.bak", "ckpt-x.h5"};
    const char *gone[] = {"ckpt-1.h5", "ckpt-5.h5", ".ckpt-60.h5.tmp-2147483647"};
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, kept[i]);
        if (!exists(p)) fprintf(stderr, "rank %d: %s was pruned\n", mt_comm.rank, p);
        MT_CHECK(exists(p));
    }
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, gone[i]);
        if (exists(p)) fprintf(stderr, "rank %d: %s was kept\n", mt_comm.rank, p);
        MT_CHECK(!exists(p));
    }
    /* keep <= 0 keeps every checkpoint. */
    MT_CHECK_INT(mb_ckpt_prune(dir, 0), MB_OK);
    snprintf(p, sizeof p, "%s/ckpt-7.h5", dir);
    MT_CHECK(exists(p));
    MT_CHECK_INT(mb_ckpt_prune(dir, 1), MB_OK);
    MT_CHECK(!exists(p));
    MT_CHECK_INT(mb_ckpt_latest(dir, &path, &step), MB_OK);
    MT_CHECK_INT(step, 10);
    free(path);
}

static mb_epoch_row epoch_row(int64_t e) {
    mb_epoch_row r;
    memset(&r, 0, sizeof r);
    r.epoch = e;
    r.step = 10 * e;
    r.train_loss = 1.0 / (e + 1.0);
    r.val_loss = 1.1 / (e + 1.0);
    r.val_metric = 0.5 + 0.01 * e;
    r.lr = 0.1;
    r.batch_size = 32;
    r.grad_norm = 1e-3 * e;
    r.epoch_s = 0.25;
    r.samples_per_s = 1e6 / 3;
    r.compute_s = 0.2;
    r.comm_s = 0.03;
    r.io_s = 0.02;
    r.imbalance = 1.05;
    return r;
}

static void check_epochs(const char *path, int64_t want) {
    mb_epoch_row *rows = NULL;
    int64_t n = -1;
    MT_CHECK_INT(mb_metrics_read(path, &rows, &n), MB_OK);
    MT_CHECK_INT(n, want);
    for (int64_t i = 0; i < n; i++) {
        mb_epoch_row r = epoch_row(i);
        MT_CHECK(memcmp(&rows[i], &r, sizeof r) == 0);
    }
    free(rows);
}

static double read_attr_double(hid_t f, const char *name) {
    double v = -1;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    MT_CHECK(a >= 0);
    MT_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}

static void test_metrics(void) {
    char path[512], aside[600];
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    MT_CHECK_INT(mb_metrics_init(path, 0), MB_OK);
    check_epochs(path, 0);
    for (int64_t e = 0; e < 5; e++) {
        mb_epoch_row r = epoch_row(e);
        MT_CHECK_INT(mb_metrics_append(path, &r), MB_OK);
    }
    check_epochs(path, 5);
    /* A resume from the checkpoint after epoch 2 drops epochs 3 and 4, then continues. */
    MT_CHECK_INT(mb_metrics_init(path, 3), MB_OK);
    check_epochs(path, 3);
    mb_epoch_row r3 = epoch_row(3);
    MT_CHECK_INT(mb_metrics_append(path, &r3), MB_OK);
    check_epochs(path, 4);
    MT_CHECK_INT(mb_metrics_init(path, 100), MB_OK); /* nothing to drop */
    check_epochs(path, 4);

    mb_rank_row ranks[3];
    memset(ranks, 0, sizeof ranks);
    for (int i = 0; i < 3; i++) {
        ranks[i].rank = i;
        snprintf(ranks[i].host, sizeof ranks[i].host, "node%d", i / 2);
        snprintf(ranks[i].binding, sizeof ranks[i].binding, "cores %d-%d", 2 * i, 2 * i + 1);
        snprintf(ranks[i].gpu, sizeof ranks[i].gpu, "%s", i == 1 ? "0000:3b:00.0" : "");
        ranks[i].rows = 1000 + i;
        ranks[i].compute_s = 0.5 * i;
    }
    MT_CHECK_INT(mb_metrics_ranks(path, ranks, 3), MB_OK);
    MT_CHECK_INT(mb_metrics_ranks(path, ranks, 2), MB_OK); /* replaces */
    mb_kpis k = {12.5, 4000.0, 2, 0.75, 0.31, 0.33, 0.9, 0.8};
    MT_CHECK_INT(mb_metrics_kpis(path, &k), MB_OK);
    k.completion_s = 13.5; /* a second call replaces the attributes */
    MT_CHECK_INT(mb_metrics_kpis(path, &k), MB_OK);
    check_epochs(path, 4);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    hid_t ds = H5Dopen2(f, "ranks", H5P_DEFAULT);
    MT_CHECK(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    MT_CHECK_INT(n, 2);
    hid_t host_t = H5Tcopy(H5T_C_S1);
    H5Tset_size(host_t, 64);
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(mb_rank_row));
    H5Tinsert(mt, "rank", HOFFSET(mb_rank_row, rank), H5T_NATIVE_INT32);
    H5Tinsert(mt, "host", HOFFSET(mb_rank_row, host), host_t);
    H5Tinsert(mt, "gpu", HOFFSET(mb_rank_row, gpu), host_t);
    H5Tinsert(mt, "rows", HOFFSET(mb_rank_row, rows), H5T_NATIVE_INT64);
    H5Tinsert(mt, "compute_s", HOFFSET(mb_rank_row, compute_s), H5T_NATIVE_DOUBLE);
    mb_rank_row back[2];
    memset(back, 0, sizeof back);
    MT_CHECK(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    for (int i = 0; i < 2; i++) {
        MT_CHECK_INT(back[i].rank, i);
        check_str(back[i].host, ranks[i].host);
        check_str(back[i].gpu, ranks[i].gpu);
        MT_CHECK_INT(back[i].rows, 1000 + i);
        MT_CHECK(back[i].compute_s == 0.5 * i);
    }
    H5Tclose(mt);
    H5Tclose(host_t);
    H5Dclose(ds);
    MT_CHECK(read_attr_double(f, "completion_s") == 13.5);
    MT_CHECK(read_attr_double(f, "samples_per_s") == 4000.0);
    MT_CHECK(read_attr_double(f, "errors") == 2.0);
    MT_CHECK(read_attr_double(f, "core_s_per_1000") == 0.75);
    MT_CHECK(read_attr_double(f, "final_train_loss") == 0.31);
    MT_CHECK(read_attr_double(f, "final_val_loss") == 0.33);
    MT_CHECK(read_attr_double(f, "final_val_metric") == 0.9);
    H5Fclose(f);

    /* An unreadable metrics file is moved aside and a new table started. */
    write_file(path, "garbage, as left by a crash\n");
    MT_CHECK_INT(mb_metrics_init(path, 2), MB_OK);
    MT_CHECK(exists(aside));
    check_epochs(path, 0);
    mb_epoch_row r0 = epoch_row(0);
    MT_CHECK_INT(mb_metrics_append(path, &r0), MB_OK);
    check_epochs(path, 1);
    MT_CHECK_INT(mb_error_code(), MB_OK);

    /* A reader missing the file gets MB_EIO naming it. */
    char none[512];
    snprintf(none, sizeof none, "%s/none.h5", dir);
    mb_epoch_row *rows = NULL;
    int64_t nr = 0;
    expect_error(mb_metrics_read(none, &rows, &nr), MB_EIO, "none.h5");
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(dir, sizeof dir, "test_checkpoint_r%d_of%d", mt_comm.rank, mt_comm.size);
    remove_tree(dir);
    test_round_trip();
    test_write_errors();
    test_latest_and_prune();
    test_metrics();
    MT_CHECK_INT(mb_error_code(), MB_OK);
    remove_tree(dir);
    return mt_finish();
}
