/* cmd_submit.c - `mbatch submit`: the sbatch command (or scrontab entry) that runs a job file. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "mbatch/job.h"
#include "mbatch/schedule.h"

extern char **environ;

static void usage(FILE *f) {
    fputs("usage: mbatch submit JOB.json [--dry-run] [--ntasks N] [--set KEY=VALUE]...\n"
          "                     [--sbatch OPTION]... [--script FILE] [--wait]\n"
          "\n"
          "Submit a job file to Slurm through slurm/train.sbatch (srun, preemption-safe: a signal\n"
          "makes every rank checkpoint, the script requeues the job, the next run resumes).\n"
          "The job's \"schedule\" decides how:\n"
          "  none                  sbatch now\n"
          "  one time              sbatch --begin=<local time>, e.g. \"2026-12-01T02:00Z\"\n"
          "  recurring             a scrontab entry (#SCRON options + a cron line), e.g.\n"
          "                        \"daily @ 02:00 UTC\", \"weekly on monday @ 06:00\", "
          "\"monthly\",\n"
          "                        \"quarterly\", \"hourly @ :15\", or cron \"0 2 * * 1-5\"; times "
          "in\n"
          "                        UTC become local time, which scrontab reads\n"
          "\n"
          "  --dry-run         print the command (or the scrontab entry) without submitting\n"
          "  --ntasks N        MPI ranks (default: the script's, 4)\n"
          "  --set KEY=VALUE   override a job key, checked here and passed to mbatch train\n"
          "  --sbatch OPTION   one more sbatch option, e.g. --sbatch --time=2:00:00 (repeatable)\n"
          "  --script FILE     the batch script (default: $MBATCH_SBATCH_DIR/train.sbatch, else\n"
          "                    slurm/train.sbatch under the working directory)\n"
          "  --wait            sbatch --wait: return when the job ends, with its exit code\n"
          "\n"
          "The job runs in the working directory, so relative paths in the job file hold there.\n"
          "Exit codes: 0 submitted (or printed), 1 usage or job-file error, 5 sbatch or scrontab\n"
          "failed; with --wait, the job's exit code.\n",
          f);
}

/* Print one word for a POSIX shell: bare when safe, else in single quotes. */
static void put_word(FILE *f, const char *w) {
    int safe = *w != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%^",
                    *p))
            safe = 0;
    if (safe) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = w; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

static void put_argv(FILE *f, char *const *av) {
    for (int i = 0; av[i]; i++) {
        if (i) fputc(' ', f);
        put_word(f, av[i]);
    }
    fputc('\n', f);
}

/* Run argv (found on PATH) and wait; its exit code, or -1 when it could not start. */
static int run(char *const *av) {
    pid_t pid;
    int rc = posix_spawnp(&pid, av[0], NULL, NULL, av, environ);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    char buf[PATH_MAX];
    for (const char *p = path; *p;) {
        const char *q = strchr(p, ':');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
        if (access(buf, X_OK) == 0) return 1;
        p += n + (q != NULL);
    }
    return 0;
}

/* An absolute version of path (relative to the working directory); caller frees. */
static char *absolute(const char *path) {
    char *r = realpath(path, NULL);
    if (r) return r;
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd)) return strdup(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", cwd, path);
    return r;
}

/* Install the entry with scrontab: the user's table minus an earlier entry of this job (the lines
 * from its marker to its cron line), plus this one. */
static int install_scrontab(const char *marker, const char *entry) {
    char tmp[] = "/tmp/mbatch-scrontab-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "mbatch submit: cannot create a temporary file: %s\n", strerror(errno));
        return 5;
    }
    FILE *out = fdopen(fd, "w");
    FILE *old = popen("scrontab -l 2>/dev/null", "r");
    char line[4096];
    int skipping = 0;
    while (old && fgets(line, sizeof line, old)) {
        if (strncmp(line, marker, strlen(marker)) == 0 && line[strlen(marker)] == '\n') {
            skipping = 1;
            continue;
        }
        if (skipping) {
            if (line[0] != '#') skipping = 0; /* the cron line ends the old entry */
            continue;
        }
        fputs(line, out);
    }
    if (old) pclose(old);
    fputs(entry, out);
    fclose(out);
    char *av[] = {"scrontab", tmp, NULL};
    int rc = run(av);
    unlink(tmp);
    if (rc != 0) {
        fprintf(stderr, "mbatch submit: scrontab %s exited with %d\n", tmp, rc);
        return 5;
    }
    return 0;
}

int mb_cmd_submit(int argc, char **argv) {
    const char *path = NULL, *script = NULL, *ntasks = NULL;
    int dry = 0, wait = 0, nsets = 0, nextra = 0, code = 0;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    char **extra = calloc((size_t)argc + 1, sizeof *extra);
    char **av = calloc((size_t)argc * 2 + 16, sizeof *av);
    char *script_abs = NULL, *job_abs = NULL, *self = NULL, *entry = NULL;
    char opt_name[512], opt_ntasks[64], opt_begin[64], default_script[PATH_MAX];
    mb_job *job = NULL;
    if (!sets || !extra || !av) {
        fprintf(stderr, "mbatch submit: out of memory\n");
        code = 5;
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            goto out;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry = 1;
        } else if (strcmp(argv[i], "--wait") == 0) {
            wait = 1;
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            sets[nsets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            sets[nsets++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--sbatch") == 0 && i + 1 < argc) {
            extra[nextra++] = argv[++i];
        } else if (strcmp(argv[i], "--script") == 0 && i + 1 < argc) {
            script = argv[++i];
        } else if (strcmp(argv[i], "--ntasks") == 0 && i + 1 < argc) {
            long long n;
            if (mb_app_int("--ntasks", argv[++i], 1, &n) != 0) {
                code = 1;
                goto out;
            }
            ntasks = argv[i];
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "mbatch submit: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            code = 1;
            goto out;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        code = 1;
        goto out;
    }
    mb_err err = mb_job_load(path, sets, nsets, &job);
    if (err) {
        fprintf(stderr, "mbatch: %s\n", mb_error_message());
        code = err;
        goto out;
    }
    if (!script) {
        const char *dir = getenv("MBATCH_SBATCH_DIR");
        snprintf(default_script, sizeof default_script, "%s/train.sbatch",
                 dir && *dir ? dir : "slurm");
        script = default_script;
    }
    if (access(script, R_OK) != 0) {
        fprintf(stderr,
                "mbatch submit: cannot read the batch script %s: %s; name it with --script or "
                "MBATCH_SBATCH_DIR\n",
                script, strerror(errno));
        code = 1;
        goto out;
    }

    mb_when when;
    memset(&when, 0, sizeof when);
    if (job->schedule) {
        err = mb_schedule_parse(job->schedule, &when);
        if (err) {
            fprintf(stderr, "mbatch: %s: %s\n", path, mb_error_message());
            code = err;
            goto out;
        }
    }
    snprintf(opt_name, sizeof opt_name, "--job-name=%s", job->name);
    snprintf(opt_ntasks, sizeof opt_ntasks, "--ntasks=%s", ntasks ? ntasks : "4");
    self = realpath("/proc/self/exe", NULL);

    if (job->schedule && when.recurring) {
        /* scrontab reads cron times in the controller's local zone: move UTC schedules there. */
        time_t now = time(NULL);
        struct tm lt;
        localtime_r(&now, &lt);
        err = mb_schedule_to_local(&when, lt.tm_gmtoff);
        if (err) {
            fprintf(stderr, "mbatch: %s: %s\n", path, mb_error_message());
            code = err;
            goto out;
        }
        char cron[400], cwd[PATH_MAX], marker[600];
        mb_schedule_cron(&when, cron, sizeof cron);
        if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
        script_abs = absolute(script);
        job_abs = absolute(path);
        snprintf(marker, sizeof marker, "# mbatch submit: %s", job->name);
        size_t cap = 8192;
        entry = malloc(cap);
        FILE *f = entry ? fmemopen(entry, cap, "w") : NULL;
        if (!f) {
            fprintf(stderr, "mbatch submit: out of memory\n");
            code = 5;
            goto out;
        }
        /* scrontab ignores the script's #SBATCH lines: the same options as #SCRON lines. */
        fprintf(f, "%s\n# %s (schedule \"%s\")\n", marker, when.desc, job->schedule);
        fprintf(f, "#SCRON %s\n#SCRON %s\n#SCRON --cpus-per-task=1\n", opt_name, opt_ntasks);
        fprintf(f, "#SCRON --chdir=");
        put_word(f, cwd);
        fprintf(f, "\n#SCRON --output=");
        put_word(f, job->name);
        fprintf(f, "-%%j.out\n#SCRON --open-mode=append\n#SCRON --signal=B:USR1@60\n");
        for (int i = 0; i < nextra; i++) {
            fprintf(f, "#SCRON ");
            put_word(f, extra[i]);
            fputc('\n', f);
        }
        fprintf(f, "%s ", cron);
        if (self) {
            fprintf(f, "MBATCH=");
            put_word(f, self);
            fputc(' ', f);
        }
        put_word(f, script_abs);
        fputc(' ', f);
        put_word(f, job_abs);
        for (int i = 0; i < nsets; i++) {
            fputs(" --set ", f);
            put_word(f, sets[i]);
        }
        fputc('\n', f);
        if (fclose(f) != 0) {
            fprintf(stderr, "mbatch submit: the scrontab entry is longer than %zu bytes\n", cap);
            code = 1;
            goto out;
        }
        if (dry) {
            fputs(entry, stdout);
            goto out;
        }
        if (!on_path("scrontab")) {
            fprintf(stderr,
                    "mbatch submit: %s is recurring (%s) and needs scrontab, which is not on "
                    "PATH (Debian's slurm-client does not ship it). Add this entry with "
                    "`scrontab -e` on a login node that has it:\n%s",
                    job->name, when.desc, entry);
            code = 5;
            goto out;
        }
        code = install_scrontab(marker, entry);
        if (code == 0)
            printf("mbatch submit: %s scheduled %s with scrontab\n", job->name, when.desc);
        goto out;
    }

    int n = 0;
    av[n++] = "sbatch";
    av[n++] = opt_name;
    if (ntasks) av[n++] = opt_ntasks;
    if (job->schedule) {
        /* One time: sbatch --begin takes the controller's local time. */
        time_t t;
        if (when.has_zone) {
            t = (time_t)mb_schedule_epoch_utc(&when);
        } else {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            tm.tm_year = when.year - 1900;
            tm.tm_mon = when.month - 1;
            tm.tm_mday = when.day;
            tm.tm_hour = when.hour;
            tm.tm_min = when.minute;
            tm.tm_sec = when.second;
            tm.tm_isdst = -1;
            t = mktime(&tm);
        }
        struct tm lt;
        localtime_r(&t, &lt);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &lt);
        snprintf(opt_begin, sizeof opt_begin, "--begin=%s", stamp);
        av[n++] = opt_begin;
        if (t < time(NULL))
            fprintf(stderr, "mbatch submit: note: %s is in the past; the job is eligible at once\n",
                    stamp);
    }
    if (wait) av[n++] = "--wait";
    for (int i = 0; i < nextra; i++) av[n++] = extra[i];
    av[n++] = (char *)script;
    av[n++] = (char *)path;
    for (int i = 0; i < nsets; i++) {
        av[n++] = "--set";
        av[n++] = sets[i];
    }
    av[n] = NULL;
    if (dry) {
        if (job->schedule) printf("# %s (schedule \"%s\")\n", when.desc, job->schedule);
        put_argv(stdout, av);
        goto out;
    }
    /* The batch script runs this very mbatch unless MBATCH names another. */
    if (self && !getenv("MBATCH")) setenv("MBATCH", self, 1);
    put_argv(stdout, av);
    fflush(stdout);
    code = run(av);
    if (code < 0) {
        fprintf(stderr, "mbatch submit: cannot run sbatch: %s\n", strerror(errno));
        code = 5;
    } else if (code != 0 && !wait) {
        fprintf(stderr, "mbatch submit: sbatch exited with %d\n", code);
        code = 5;
    }
out:
    mb_job_free(job);
    free(sets);
    free(extra);
    free(av);
    free(script_abs);
    free(job_abs);
    free(self);
    free(entry);
    return code;
}
