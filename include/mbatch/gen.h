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
    const char *kind;   /* "linear" | "logistic" | "softmax" */
    int64_t rows, cols; /* numeric feature columns */
    int64_t classes;    /* softmax, default 3 */
    int64_t categorical;/* extra integer categorical columns (columns layout only... see .c) */
    int64_t levels;     /* codes per categorical column, default 4 */
    const char *layout; /* "matrix" (/X, /y) | "columns" (group /data with x0.., cat0.., y) */
    int float32;        /* store features as float32 */
    double noise;       /* linear: noise std, default 0.1 */
    uint64_t seed;
    const char *out;
} mb_gen_opts;

mb_err mb_gen(const mb_gen_opts *o);
