/* gen_spirals.c - two interleaved noisy spirals: a task a linear classifier cannot solve. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "mbatch/gen.h"
#include "mbatch/rng.h"

#define PI 3.141592653589793238462643383279

mb_err mb_gen_spirals(const mb_gen_opts *o) {
    mb_err err = MB_OK;
    enum { FAPL, FILE_, SP, D_X, D_Y, NID };
    hid_t ids[NID];
    for (int i = 0; i < NID; i++) ids[i] = H5I_INVALID_HID;
    char path[4200]; /* the temporary, next to the output so that rename() is atomic */
    int have_tmp = 0;
    double *X = NULL;
    int32_t *y = NULL;
    mb__h5_quiet();
    if (o->rows < 1)
        return mb_error_set(MB_EUSAGE, "gen: rows must be >= 1 (got %lld)", (long long)o->rows);
    if (!o->out || !o->out[0]) return mb_error_set(MB_EUSAGE, "gen: --out is required");
    if (!(o->noise >= 0) || !isfinite(o->noise))
        return mb_error_set(MB_EUSAGE, "gen: noise must be >= 0 (got %g)", o->noise);
    const char *slash = strrchr(o->out, '/');
    int dirlen = slash ? (int)(slash - o->out) + 1 : 0;
    snprintf(path, sizeof path, "%.*s.%s.tmp-%ld", dirlen, o->out, o->out + dirlen, (long)getpid());
    X = malloc(sizeof(double) * 2 * (size_t)o->rows);
    y = malloc(sizeof(int32_t) * (size_t)o->rows);
    if (!X || !y) {
        err = mb_error_set(MB_EIO, "%s: out of memory for %lld rows", o->out, (long long)o->rows);
        goto out;
    }
    /* Row r: class c, angle t = sqrt(u) * 3 pi (uniform density along the arm), the point
     * s t (cos t, sin t) with s = +1 for class 1 and -1 for class 0 (the arms interleave), plus
     * normal noise; every value a draw of (seed, row, column). */
    for (int64_t r = 0; r < o->rows; r++) {
        uint64_t i = (uint64_t)r;
        int32_t c = (int32_t)(mb_rng_u64(o->seed, MB_RNG_GEN, i, 0) & 1);
        double t = sqrt(mb_rng_uniform(o->seed, MB_RNG_GEN, i, 1)) * 3.0 * PI;
        double s = c ? 1.0 : -1.0;
        X[2 * r] = s * t * cos(t) + o->noise * mb_rng_normal(o->seed, MB_RNG_GEN, i, 2);
        X[2 * r + 1] = s * t * sin(t) + o->noise * mb_rng_normal(o->seed, MB_RNG_GEN, i, 3);
        y[r] = c;
    }
    MB_H5(ids[FAPL] = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(ids[FAPL]));
    have_tmp = 1;
    MB_H5(ids[FILE_] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, ids[FAPL]));
    hsize_t dims[2] = {(hsize_t)o->rows, 2};
    MB_H5(ids[SP] = H5Screate_simple(2, dims, NULL));
    MB_H5(ids[D_X] = H5Dcreate2(ids[FILE_], "X", H5T_IEEE_F64LE, ids[SP], H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT));
    MB_H5(H5Dwrite(ids[D_X], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, X));
    H5Sclose(ids[SP]);
    MB_H5(ids[SP] = H5Screate_simple(1, dims, NULL));
    MB_H5(ids[D_Y] = H5Dcreate2(ids[FILE_], "y", H5T_STD_I32LE, ids[SP], H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT));
    MB_H5(H5Dwrite(ids[D_Y], H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y));
    mb__h5_close_all(ids + SP, NID - SP);
    for (int i = SP; i < NID; i++) ids[i] = H5I_INVALID_HID;
    MB_H5(H5Fflush(ids[FILE_], H5F_SCOPE_GLOBAL));
    hid_t file = ids[FILE_];
    ids[FILE_] = H5I_INVALID_HID;
    MB_H5(H5Fclose(file));
    if (rename(path, o->out) != 0) {
        err = mb_error_set(MB_EIO, "%s: rename to %s failed", path, o->out);
        goto out;
    }
    have_tmp = 0;
out:
    mb__h5_close_all(ids, NID);
    if (have_tmp) remove(path);
    free(X);
    free(y);
    return err;
}
