/* lock.c - refuse a second writer of the same run directory, naming the first one. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/fsutil.h"

/* One lock per process: a process trains one job at a time. */
static int lock_fd = -1;

mb_err mb__lock_run_dir(const char *run_dir) {
    char path[4096], holder[256] = "";
    mb__lock_release();
    mb_err err = mb__mkdir_p(run_dir);
    if (err) return err;
    snprintf(path, sizeof path, "%s/.lock", run_dir);
    /* O_NOFOLLOW: a symlink planted at .lock must not make us truncate or lock its target. */
    int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (f < 0)
        return mb_error_set(MB_EIO, "%s: cannot open the run directory's lock: %s", path,
                            errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(f, F_SETLK, &fl) != 0) {
        int e = errno;
        ssize_t got = pread(f, holder, sizeof holder - 1, 0);
        holder[got > 0 ? got : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(f);
        if (e == EACCES || e == EAGAIN)
            return mb_error_set(MB_EUSAGE,
                                "%s is in use by another mbatch (%s); wait for it to finish or use "
                                "another run_dir",
                                run_dir, holder[0] ? holder : "holder unknown");
        return mb_error_set(MB_EIO, "%s: cannot lock: %s", path, strerror(e));
    }
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    int len = snprintf(holder, sizeof holder, "pid %ld on host %s\n", (long)getpid(), host);
    if (ftruncate(f, 0) != 0 || pwrite(f, holder, (size_t)len, 0) != len) {
        /* The lock itself holds; only the holder's description for others is missing. */
    }
    lock_fd = f;
    return MB_OK;
}

void mb__lock_release(void) {
    if (lock_fd >= 0) close(lock_fd);
    lock_fd = -1;
}
