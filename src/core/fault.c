/* fault.c - parse MBATCH_FAULT once and tell callers when an injected fault fires. */
#include "core/fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAULTS 16

typedef struct fault {
    char site[48];
    int err;
    long nth;   /* 0: every time */
    int after;  /* "@N+": from the Nth time on */
    int rank;   /* -1: every rank */
    long count; /* times this site was reached */
} fault;

static fault faults[MAX_FAULTS];
static int nfaults = -1; /* -1: not parsed yet */

int mb__fault_rank(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

static int parse_errno(const char *s, size_t n) {
    static const struct {
        const char *name;
        int value;
    } names[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO},     {"EDQUOT", EDQUOT},
                 {"EACCES", EACCES}, {"EROFS", EROFS}, {"EINTR", EINTR}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i].name) == n && strncmp(names[i].name, s, n) == 0) return names[i].value;
    int v = atoi(s);
    return v > 0 ? v : EIO;
}

/* One entry "site[:ERR][@N[+]][/R]"; malformed parts fall back to their defaults. */
static void parse_one(const char *s, size_t len) {
    if (nfaults >= MAX_FAULTS || len == 0) return;
    fault *f = &faults[nfaults];
    memset(f, 0, sizeof *f);
    f->err = EIO;
    f->rank = -1;
    size_t i = 0;
    while (i < len && s[i] != ':' && s[i] != '@' && s[i] != '/') i++;
    if (i == 0 || i >= sizeof f->site) return;
    memcpy(f->site, s, i);
    while (i < len) {
        char kind = s[i++];
        size_t j = i;
        while (j < len && s[j] != ':' && s[j] != '@' && s[j] != '/') j++;
        if (kind == ':') f->err = parse_errno(s + i, j - i);
        if (kind == '@') {
            f->nth = atol(s + i);
            f->after = j > i && s[j - 1] == '+';
        }
        if (kind == '/') f->rank = atoi(s + i);
        i = j;
    }
    if (f->rank >= 0 && f->rank != mb__fault_rank()) return;
    nfaults++;
}

static void parse(void) {
    nfaults = 0;
    const char *env = getenv("MBATCH_FAULT");
    while (env && *env) {
        const char *comma = strchr(env, ',');
        size_t len = comma ? (size_t)(comma - env) : strlen(env);
        parse_one(env, len);
        env = comma ? comma + 1 : NULL;
    }
}

int mb__fault(const char *site) {
    if (nfaults < 0) parse();
    for (int i = 0; i < nfaults; i++) {
        fault *f = &faults[i];
        if (strcmp(f->site, site) != 0) continue;
        f->count++;
        if (f->nth == 0 || f->count == f->nth || (f->after && f->count > f->nth)) return f->err;
    }
    return 0;
}
