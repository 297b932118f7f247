/* fsutil.c - fsync by path and mkdir -p, for the durable writes of src/io and src/run. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
