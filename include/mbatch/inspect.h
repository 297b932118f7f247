/* inspect.h - describe an mbatch HDF5 file (checkpoint, model, metrics, data) in words.
 * Not collective. */
#pragma once

#include <stdio.h>

#include "mbatch/error.h"

mb_err mb_inspect(const char *path, FILE *out);
