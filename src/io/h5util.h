/* h5util.h - internal helpers shared by the HDF5 modules of src/io. */
#pragma once

#include <hdf5.h>
#include <stdint.h>

#include "mbatch/error.h"

/* Silence HDF5's own error stack printing (once per process). */
void mb__h5_quiet(void);

/* Record an I/O error naming the file, the failing call and HDF5's innermost message.
 * Returns MB_EIO. */
mb_err mb__h5_report(const char *path, const char *src_file, int line, const char *call);

/* Inside a function with `mb_err err`, a `path` naming the file, and an `out:` label. */
#define MB_H5(call)                                                                                \
    do {                                                                                           \
        if ((call) < 0) {                                                                          \
            err = mb__h5_report(path, __FILE__, __LINE__, #call);                                  \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* Close helpers that accept H5I_INVALID_HID / negative ids. */
void mb__h5_close_all(hid_t *ids, int n);

/* fsync a file or directory by path; returns 0 or -1 (errno set). */
int mb__fsync_path(const char *path);

/* mkdir -p: create every missing component of dir (MB_EIO naming the component). */
mb_err mb__mkdir_p(const char *dir);
