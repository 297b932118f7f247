/* gen.h - synthetic datasets with known true weights, for demos, tests and benchmarks.
 *
 * Features: numeric x_j = offset_j + scale_j * z (z standard normal, offset/scale per column so
 * standardization matters), plus optional integer categorical columns with `levels` codes each,
 * every level with its own effect. Targets: linear y = x.w + b + noise*z; logistic
 * y ~ Bernoulli(sigmoid(x.w + b)); softmax y ~ Categorical(softmax(x.W + b)). Every value is a
 * counter-based draw of (seed, row, column), so the file does not depend on how it was written.
 * The true weights are stored in /true/w and /true/b. Not collective (one process writes).
 */
#pragma once

#include <stdint.h>

#include "mbatch/error.h"

typedef struct mb_gen_opts {
    const char *kind;    /* "linear" | "logistic" | "softmax" */
    int64_t rows, cols;  /* numeric feature columns */
    int64_t classes;     /* softmax, default 3 */
    int64_t categorical; /* extra int32 categorical columns c0.. (columns layout only) */
    int64_t levels;      /* codes per categorical column, default 4 (when 0) */
    const char *layout;  /* "matrix" (/X, /y; default when NULL) | "columns" (group /data with
                          * 1-D x0.., c0.., y) */
    int float32;         /* store features as float32 */
    double noise;        /* linear: noise std >= 0, taken as given (0 = noiseless): callers
                          * apply the default of 0.1 */
    uint64_t seed;
    const char *out;
} mb_gen_opts;

/* Validates o (MB_EUSAGE naming the bad value), writes o->out via a temporary name and rename.
 * /true/w and /true/b act on the standardized z_j = (x_j - offset_j) / scale_j, with
 * /true/offset, /true/scale and (categorical) /true/effect [C][levels](,[K]) alongside. */
mb_err mb_gen(const mb_gen_opts *o);

/* kind "transactions": group /transactions with amount (float64), location (int32 code 0..19),
 * time_of_day (float64 hours), merchant_category (int32 code 0..9) and an imbalanced
 * is_fraudulent (int32 0/1, about 2% ones) drawn from a nonlinear logistic model of them. Uses
 * rows, seed and out. mb_gen calls it for that kind. Not collective. */
mb_err mb_gen_transactions(const mb_gen_opts *o);

/* kind "spirals": /X [rows][2] two interleaved spirals of three half-turns, /y (int32 0/1), with
 * normal noise of std `noise` on both coordinates. Uses rows, noise, seed and out. mb_gen calls it
 * for that kind. Not collective. */
mb_err mb_gen_spirals(const mb_gen_opts *o);
