/* test_predictions.c - collective predictions writes, read back with serial HDF5 on rank 0. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbatch/checkpoint.h"
#include "mbatch/partition.h"
#include "mpitest.h"

static double p(int64_t i, int64_t k) {
    return (double)i * 10.0 + (double)k + 0.25;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Rank 0: the file holds exactly the expected /predictions and (optionally) /label. */
static void check_file(const char *path, int64_t n, int64_t kout, int with_label) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    MT_CHECK(f >= 0);
    hid_t d = H5Dopen2(f, "predictions", H5P_DEFAULT);
    MT_CHECK(d >= 0);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[2] = {0, 0};
    MT_CHECK_INT(H5Sget_simple_extent_ndims(sp), kout == 1 ? 1 : 2);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    MT_CHECK_INT(dims[0], n);
    if (kout > 1) MT_CHECK_INT(dims[1], kout);
    MT_CHECK(H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 8);
    double *buf = malloc(sizeof *buf * (size_t)(n * kout + 1));
    MT_CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < kout; k++) MT_CHECK_NEAR(buf[i * kout + k], p(i, k), 0);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    htri_t has = H5Lexists(f, "label", H5P_DEFAULT);
    MT_CHECK_INT(has > 0, with_label);
    if (with_label) {
        d = H5Dopen2(f, "label", H5P_DEFAULT);
        sp = H5Dget_space(d);
        MT_CHECK_INT(H5Sget_simple_extent_ndims(sp), 1);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        MT_CHECK_INT(dims[0], n);
        MT_CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
        for (int64_t i = 0; i < n; i++) MT_CHECK_NEAR(buf[i], (double)(i % 3), 0);
        H5Sclose(sp);
        H5Dclose(d);
    }
    free(buf);
    H5Fclose(f);
}

static void write_and_check(const char *path, int64_t n, int64_t kout, int with_label) {
    int64_t lo, hi;
    mb_shard_bounds(n, mt_comm.rank, mt_comm.size, &lo, &hi);
    int64_t rows = hi - lo;
    /* Ranks without rows pass NULL buffers, which the writer must accept. */
    double *pred = rows ? malloc(sizeof *pred * (size_t)(rows * kout)) : NULL;
    double *label = rows && with_label ? malloc(sizeof *label * (size_t)rows) : NULL;
    for (int64_t i = lo; i < hi; i++) {
        for (int64_t k = 0; k < kout; k++) pred[(i - lo) * kout + k] = p(i, k);
        if (label) label[i - lo] = (double)(i % 3);
    }
    mb_err err = mb_predictions_write(&mt_comm, path, n, kout, lo, hi, pred, label);
    if (err) fprintf(stderr, "rank %d: %s\n", mt_comm.rank, mb_error_message());
    MT_CHECK_INT(err, MB_OK);
    MT_CHECK_INT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    if (mt_comm.rank == 0) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        MT_CHECK(!exists(tmp));
        check_file(path, n, kout, with_label);
    }
    mb_barrier(&mt_comm);
    free(pred);
    free(label);
}

/* A directory that does not exist: the same MB_EIO and message on every rank, no hang. */
static void test_bad_dir(void) {
    char path[128];
    snprintf(path, sizeof path, "no-such-dir-np%d/pred.h5", mt_comm.size);
    int64_t lo, hi;
    mb_shard_bounds(4, mt_comm.rank, mt_comm.size, &lo, &hi);
    double pred[4] = {1, 2, 3, 4};
    mb_err err = mb_predictions_write(&mt_comm, path, 4, 1, lo, hi, pred, NULL);
    MT_CHECK_INT(err, MB_EIO);
    const char *msg = mb_error_message();
    if (mt_comm.rank == 0) printf("  expected error %s: %s\n", mb_errname(err), msg);
    char root[MB_ERRMSG_MAX];
    snprintf(root, sizeof root, "%s", msg);
    MB_MPI(MPI_Bcast(root, (int)sizeof root, MPI_CHAR, 0, mt_comm.comm));
    MT_CHECK(strcmp(root, msg) == 0);
    MT_CHECK(strstr(msg, path) != NULL);
    MT_CHECK_INT(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    mb_error_clear();
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "test_predictions_np%d_a.h5", mt_comm.size);
    snprintf(b, sizeof b, "test_predictions_np%d_b.h5", mt_comm.size);
    snprintf(c, sizeof c, "test_predictions_np%d_c.h5", mt_comm.size);

    write_and_check(a, 10, 1, 0);
    write_and_check(b, 11, 3, 1);
    write_and_check(c, 2, 3, 1); /* fewer rows than ranks at np3 and np4 */
    write_and_check(c, 3, 1, 1);
    write_and_check(a, 7, 2, 0); /* replaces the earlier file of the same name */
    test_bad_dir();

    mb_barrier(&mt_comm);
    if (mt_comm.rank == 0) {
        unlink(a);
        unlink(b);
        unlink(c);
    }
    return mt_finish();
}
