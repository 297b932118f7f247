/* gen_transactions.c - a synthetic card-transactions table with a rare, nonlinear fraud label. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "mbatch/gen.h"
#include "mbatch/rng.h"

#define LOCATIONS 20
#define MERCHANTS 10
#define GEN_CHUNK (1 << 18)

/* One row: every value is a counter-based draw of (seed, row, column), so the file does not
 * depend on how it is written. Fraud is a logistic draw whose log-odds rise with large amounts,
 * night hours, two merchant categories and three locations (and their combinations), so a
 * linear model on these columns misses much of it and trees do not. */
static void draw_row(uint64_t seed, int64_t r, double *amount, int32_t *loc, double *tod,
                     int32_t *mcat, int32_t *fraud) {
    uint64_t i = (uint64_t)r;
    *amount = floor(exp(3.5 + 1.2 * mb_rng_normal(seed, MB_RNG_GEN, i, 0)) * 100.0) / 100.0;
    *loc = (int32_t)(mb_rng_u64(seed, MB_RNG_GEN, i, 1) % LOCATIONS);
    /* Time of day in hours: most activity by day, a tail at night. */
    double u = mb_rng_uniform(seed, MB_RNG_GEN, i, 2);
    double h = u < 0.85 ? 7.0 + 16.0 * mb_rng_uniform(seed, MB_RNG_GEN, i, 3)
                        : 7.0 * mb_rng_uniform(seed, MB_RNG_GEN, i, 3);
    *tod = floor(h * 60.0) / 60.0; /* to the minute */
    *mcat = (int32_t)(mb_rng_u64(seed, MB_RNG_GEN, i, 4) % MERCHANTS);
    int night = *tod<5.0, big = *amount> 250.0, risky_m = *mcat == 3 || *mcat == 7;
    int risky_l = *loc == 2 || *loc == 11 || *loc == 17;
    double z = -5.2 + 1.6 * big + 1.4 * night + 1.1 * risky_m + 0.9 * risky_l +
               1.5 * (big && night) + 1.2 * (risky_m && risky_l);
    *fraud = mb_rng_uniform(seed, MB_RNG_GEN, i, 5) < 1.0 / (1.0 + exp(-z));
}

static mb_err make_col(hid_t grp, const char *path, const char *name, hid_t type, int64_t n,
                       hid_t *out) {
    mb_err err = MB_OK;
    hid_t sp = H5I_INVALID_HID;
    hsize_t dims[1] = {(hsize_t)n};
    MB_H5(sp = H5Screate_simple(1, dims, NULL));
    MB_H5(*out = H5Dcreate2(grp, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
out:
    mb__h5_close_all(&sp, 1);
    return err;
}

static mb_err write_block(hid_t dset, const char *path, hid_t mtype, int64_t r0, int64_t m,
                          const void *buf) {
    mb_err err = MB_OK;
    hid_t ids[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
    hsize_t start[1] = {(hsize_t)r0}, count[1] = {(hsize_t)m};
    MB_H5(ids[0] = H5Dget_space(dset));
    MB_H5(H5Sselect_hyperslab(ids[0], H5S_SELECT_SET, start, NULL, count, NULL));
    MB_H5(ids[1] = H5Screate_simple(1, count, NULL));
    MB_H5(H5Dwrite(dset, mtype, ids[1], ids[0], H5P_DEFAULT, buf));
out:
    mb__h5_close_all(ids, 2);
    return err;
}

mb_err mb_gen_transactions(const mb_gen_opts *o) {
    mb_err err = MB_OK;
    enum { FAPL, FILE_, GRP, D_AMT, D_LOC, D_TOD, D_MCAT, D_Y, NID };
    hid_t ids[NID];
    for (int i = 0; i < NID; i++) ids[i] = H5I_INVALID_HID;
    char path[4200]; /* the temporary, next to the output so that rename() is atomic */
    int have_tmp = 0;
    double *amt = NULL, *tod = NULL;
    int32_t *loc = NULL, *mcat = NULL, *y = NULL;
    mb__h5_quiet();
    if (o->rows < 1)
        return mb_error_set(MB_EUSAGE, "gen: rows must be >= 1 (got %lld)", (long long)o->rows);
    if (!o->out || !o->out[0]) return mb_error_set(MB_EUSAGE, "gen: --out is required");
    const char *slash = strrchr(o->out, '/');
    int dirlen = slash ? (int)(slash - o->out) + 1 : 0;
    snprintf(path, sizeof path, "%.*s.%s.tmp-%ld", dirlen, o->out, o->out + dirlen, (long)getpid());
    size_t chunk = GEN_CHUNK;
    amt = malloc(chunk * sizeof *amt);
    tod = malloc(chunk * sizeof *tod);
    loc = malloc(chunk * sizeof *loc);
    mcat = malloc(chunk * sizeof *mcat);
    y = malloc(chunk * sizeof *y);
    if (!amt || !tod || !loc || !mcat || !y) {
        err = mb_error_set(MB_EIO, "%s: out of memory", o->out);
        goto out;
    }
    MB_H5(ids[FAPL] = H5Pcreate(H5P_FILE_ACCESS));
    MB_H5(H5Pset_fapl_sec2(ids[FAPL]));
    have_tmp = 1;
    MB_H5(ids[FILE_] = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, ids[FAPL]));
    MB_H5(ids[GRP] = H5Gcreate2(ids[FILE_], "transactions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    MB_TRY(make_col(ids[GRP], path, "amount", H5T_IEEE_F64LE, o->rows, &ids[D_AMT]));
    MB_TRY(make_col(ids[GRP], path, "location", H5T_STD_I32LE, o->rows, &ids[D_LOC]));
    MB_TRY(make_col(ids[GRP], path, "time_of_day", H5T_IEEE_F64LE, o->rows, &ids[D_TOD]));
    MB_TRY(make_col(ids[GRP], path, "merchant_category", H5T_STD_I32LE, o->rows, &ids[D_MCAT]));
    MB_TRY(make_col(ids[GRP], path, "is_fraudulent", H5T_STD_I32LE, o->rows, &ids[D_Y]));
    int64_t frauds = 0;
    for (int64_t r0 = 0; r0 < o->rows; r0 += (int64_t)chunk) {
        int64_t m = o->rows - r0 < (int64_t)chunk ? o->rows - r0 : (int64_t)chunk;
        for (int64_t i = 0; i < m; i++) {
            draw_row(o->seed, r0 + i, &amt[i], &loc[i], &tod[i], &mcat[i], &y[i]);
            frauds += y[i];
        }
        MB_TRY(write_block(ids[D_AMT], path, H5T_NATIVE_DOUBLE, r0, m, amt));
        MB_TRY(write_block(ids[D_LOC], path, H5T_NATIVE_INT32, r0, m, loc));
        MB_TRY(write_block(ids[D_TOD], path, H5T_NATIVE_DOUBLE, r0, m, tod));
        MB_TRY(write_block(ids[D_MCAT], path, H5T_NATIVE_INT32, r0, m, mcat));
        MB_TRY(write_block(ids[D_Y], path, H5T_NATIVE_INT32, r0, m, y));
    }
    mb__h5_close_all(ids + GRP, NID - GRP);
    for (int i = GRP; i < NID; i++) ids[i] = H5I_INVALID_HID;
    MB_H5(H5Fflush(ids[FILE_], H5F_SCOPE_GLOBAL));
    hid_t file = ids[FILE_];
    ids[FILE_] = H5I_INVALID_HID;
    MB_H5(H5Fclose(file));
    if (rename(path, o->out) != 0) {
        err = mb_error_set(MB_EIO, "%s: rename to %s failed", path, o->out);
        goto out;
    }
    have_tmp = 0;
    printf("mbatch: %lld transactions, %lld fraudulent (%.2f%%)\n", (long long)o->rows,
           (long long)frauds, 100.0 * (double)frauds / (double)o->rows);
out:
    mb__h5_close_all(ids, NID);
    if (have_tmp) remove(path);
    free(amt);
    free(tod);
    free(loc);
    free(mcat);
    free(y);
    return err;
}
