/* h5util.h - internal helpers shared by the HDF5 modules of src/io. */
#pragma once

#include <hdf5.h>
#include <stdint.h>

#include "io/fsutil.h" /* mb__fsync_path and mb__mkdir_p, for the users of h5util.h */
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

/* A file-access property list for the sec2 driver, chosen explicitly so that an HDF5_DRIVER set
 * in the environment cannot turn a rank-0-only file into one that needs collective opens. With
 * no_locking, HDF5's file lock is off too (for files that readers may hold open while a job
 * appends). Returns H5I_INVALID_HID on failure. */
hid_t mb__h5_fapl(int no_locking);

/* Variable-length UTF-8 string type: h5py reads it as str, and a long string stays out of the
 * object header (whose attribute space is limited to 64 KiB). Returns H5I_INVALID_HID on
 * failure; the caller closes it. */
hid_t mb__h5_vlen_str(void);

/* The writers below name `path` (the file) in their messages and return MB_OK or MB_EIO. */

/* Create dataset `name` under loc with file type ftype and the given shape, and write data
 * (memory type mtype) unless it has no elements; *dset is the dataset, left open for the caller
 * to add attributes and close (mb__h5_close_all), or H5I_INVALID_HID on failure. */
mb_err mb__h5_create_write(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                           int rank, const hsize_t *dims, const void *data, hid_t *dset);
/* mb__h5_create_write, closing the dataset. */
mb_err mb__h5_write_dset(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, const void *data);
/* mb__h5_write_dset for doubles, stored little-endian IEEE. */
mb_err mb__h5_write_f64(hid_t loc, const char *path, const char *name, int rank,
                        const hsize_t *dims, const double *data);

/* Create scalar attribute `name` on loc with file type ftype from *value (memory type mtype). */
mb_err mb__h5_write_attr(hid_t loc, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         const void *value);
/* Scalar attributes stored as little-endian int32, int64, uint64, IEEE double. */
mb_err mb__h5_attr_int(hid_t loc, const char *path, const char *name, int v);
mb_err mb__h5_attr_i64(hid_t loc, const char *path, const char *name, int64_t v);
mb_err mb__h5_attr_u64(hid_t loc, const char *path, const char *name, uint64_t v);
mb_err mb__h5_attr_f64(hid_t loc, const char *path, const char *name, double v);
/* A variable-length UTF-8 string attribute; NULL is stored as "". */
mb_err mb__h5_attr_str(hid_t loc, const char *path, const char *name, const char *s);

/* One transfer of rows [start, start+cnt) (all `width` columns of a 1-D or 2-D dataset) as
 * doubles. With cnt == 0 the rank still calls H5Dread/H5Dwrite with an empty selection: in
 * collective mode every rank must make the same calls. */
mb_err mb__h5_read_rows(const char *path, hid_t did, hid_t dxpl, int ndims, int64_t width,
                        int64_t start, int64_t cnt, double *buf);
mb_err mb__h5_write_rows(const char *path, hid_t did, hid_t dxpl, int ndims, int64_t width,
                         int64_t lo, int64_t hi, const double *buf);

/* Flush and close `file` (the data is only safe after both), reporting the first failure; returns
 * err if it was already set. A negative file is a no-op. */
mb_err mb__h5_flush_close(hid_t file, const char *path, mb_err err);

/* Read the scalar attribute `name` of loc into out; MB_EIO "<path>: <what> lacks attribute
 * '<name>'" when it is absent. */
mb_err mb__h5_read_attr(hid_t loc, const char *path, const char *what, const char *name,
                        hid_t mtype, void *out);
