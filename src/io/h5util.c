/* h5util.c - HDF5 error reporting and durability helpers for src/io. */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void mb__h5_quiet(void) {
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

mb_err mb__h5_report(const char *path, const char *src_file, int line, const char *call) {
    char detail[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    return mb_error_set(MB_EIO, "%s: HDF5 call failed: %s (%s, %s:%d)", path ? path : "(no file)",
                        detail[0] ? detail : "unknown cause", call, src_file, line);
}

void mb__h5_close_all(hid_t *ids, int n) {
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0) continue;
        switch (H5Iget_type(ids[i])) {
        case H5I_FILE:
            H5Fclose(ids[i]);
            break;
        case H5I_GROUP:
            H5Gclose(ids[i]);
            break;
        case H5I_DATASET:
            H5Dclose(ids[i]);
            break;
        case H5I_DATASPACE:
            H5Sclose(ids[i]);
            break;
        case H5I_DATATYPE:
            H5Tclose(ids[i]);
            break;
        case H5I_ATTR:
            H5Aclose(ids[i]);
            break;
        case H5I_GENPROP_LST:
            H5Pclose(ids[i]);
            break;
        default:
            break;
        }
        ids[i] = H5I_INVALID_HID;
    }
}

int mb__fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* mkdir -p: create every missing component of dir. */
mb_err mb__mkdir_p(const char *dir) {
    mb_err err = MB_OK;
    char *p = strdup(dir);
    if (!p) return mb_error_set(MB_EIO, "%s: out of memory", dir);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            err = mb_error_set(MB_EIO, "%s: cannot create directory: %s", p, strerror(errno));
            goto out;
        }
        p[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        err = mb_error_set(MB_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        err = mb_error_set(MB_EIO, "%s: cannot create directory: a file of that name exists", dir);
out:
    free(p);
    return err;
}
