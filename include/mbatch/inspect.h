/* inspect.h - describe an mbatch HDF5 file (checkpoint, model, metrics, data) in words.
 * Not collective. */
#pragma once

#include <stdio.h>

#include "mbatch/error.h"

mb_err mb_inspect(const char *path, FILE *out);
/* The /epochs table of a metrics file as CSV: a header line, then one line per epoch with every
 * column at full precision (epoch counted from 1, as in the progress lines). MB_EUSAGE if path
 * is not a metrics file. */
mb_err mb_inspect_csv(const char *path, FILE *out);
