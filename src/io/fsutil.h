/* fsutil.h - internal file-system helpers (no HDF5) shared by src/io and src/run. */
#pragma once

#include "mbatch/error.h"

/* fsync a file or directory by path; returns 0 or -1 (errno set). */
int mb__fsync_path(const char *path);

/* mkdir -p with the umask deciding the permissions: create every missing component of dir
 * (MB_EIO naming the component), and refuse a dir that exists as something else. */
mb_err mb__mkdir_p(const char *dir);
