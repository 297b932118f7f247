/* sweep_space.c - parse a sweep file and expand its search space into numbered configurations. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbatch/rng.h"
#include "mbatch/sweep.h"

#define MAX_CONFIGS 1000000 /* a sweep bigger than this is a typo, not a plan */

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got = 0;
    do {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The text of a value in a --set override: numbers exactly (17 significant digits round-trip a
 * double), strings bare unless the bare text would read as another JSON value. */
static char *value_text(json_t *v) {
    char buf[64];
    if (json_is_real(v)) {
        /* The shortest text that reads back as the same double: 0.05, not 0.050000000000000003. */
        double x = json_real_value(v);
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, x);
            if (strtod(buf, NULL) == x) break;
        }
        return dupstr(buf);
    }
    if (json_is_string(v)) {
        json_t *t = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
        int bare = t == NULL;
        json_decref(t);
        if (bare) return dupstr(json_string_value(v));
    }
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

typedef struct dim {
    const char *key;
    json_t *grid;    /* a list, or NULL for a random dimension */
    const char *law; /* uniform | log_uniform | choice */
    json_t *arg;
} dim;

static mb_err parse_dim(const char *path, const char *key, json_t *v, dim *d) {
    d->key = key;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return mb_error_set(MB_EUSAGE, "%s: space.%s is an empty list", path, key);
        d->grid = v;
        return MB_OK;
    }
    if (!json_is_object(v) || json_object_size(v) != 1)
        return mb_error_set(MB_EUSAGE,
                            "%s: space.%s must be a list (grid) or one of {\"uniform\": [a, b]}, "
                            "{\"log_uniform\": [a, b]}, {\"choice\": [...]}",
                            path, key);
    const char *law = json_object_iter_key(json_object_iter(v));
    json_t *arg = json_object_get(v, law);
    d->law = law;
    d->arg = arg;
    if (strcmp(law, "choice") == 0) {
        if (!json_is_array(arg) || json_array_size(arg) == 0)
            return mb_error_set(MB_EUSAGE, "%s: space.%s.choice must be a non-empty list", path,
                                key);
        return MB_OK;
    }
    if (strcmp(law, "uniform") != 0 && strcmp(law, "log_uniform") != 0)
        return mb_error_set(MB_EUSAGE,
                            "%s: space.%s: unknown distribution '%s' (uniform, log_uniform, "
                            "choice)",
                            path, key, law);
    if (!json_is_array(arg) || json_array_size(arg) != 2 ||
        !json_is_number(json_array_get(arg, 0)) || !json_is_number(json_array_get(arg, 1)))
        return mb_error_set(MB_EUSAGE, "%s: space.%s.%s must be [low, high], two numbers", path,
                            key, law);
    double a = json_number_value(json_array_get(arg, 0));
    double b = json_number_value(json_array_get(arg, 1));
    if (!(a <= b) || (strcmp(law, "log_uniform") == 0 && !(a > 0)))
        return mb_error_set(MB_EUSAGE, "%s: space.%s.%s is [%g, %g]; expected low <= high%s", path,
                            key, law, a, b, strcmp(law, "log_uniform") == 0 ? " and low > 0" : "");
    return MB_OK;
}

/* The value of random dimension d for configuration i. */
static json_t *draw(const dim *d, uint64_t seed, int64_t i, int64_t dimno) {
    double u = mb_rng_uniform(seed, MB_RNG_SWEEP, (uint64_t)i, (uint64_t)dimno);
    if (strcmp(d->law, "choice") == 0) {
        size_t n = json_array_size(d->arg), k = (size_t)(u * (double)n);
        return json_incref(json_array_get(d->arg, k < n ? k : n - 1));
    }
    double a = json_number_value(json_array_get(d->arg, 0));
    double b = json_number_value(json_array_get(d->arg, 1));
    if (strcmp(d->law, "uniform") == 0) return json_real(a + (b - a) * u);
    return json_real(exp(log(a) + (log(b) - log(a)) * u));
}

static mb_err expand(const char *path, mb_sweep *sw, json_t *space, int64_t samples,
                     uint64_t seed) {
    int n = (int)json_object_size(space);
    dim *dims = calloc((size_t)n + 1, sizeof *dims);
    mb_err err = MB_OK;
    if (!dims) return mb_error_set(MB_EUSAGE, "out of memory expanding %s", path);
    int k = 0, nrandom = 0;
    const char *key;
    json_t *v;
    double grid = 1;
    json_object_foreach(space, key, v) {
        MB_TRY(parse_dim(path, key, v, &dims[k]));
        if (dims[k].grid)
            grid *= (double)json_array_size(dims[k].grid);
        else
            nrandom++;
        k++;
    }
    if (nrandom == 0 && samples > 1) {
        err = mb_error_set(MB_EUSAGE,
                           "%s: samples is %lld but the space has no random dimension "
                           "(uniform, log_uniform, choice)",
                           path, (long long)samples);
        goto out;
    }
    if (nrandom == 0) samples = 1;
    if (grid * (double)samples > MAX_CONFIGS) {
        err = mb_error_set(MB_EUSAGE, "%s: the space has %.0f configurations; the limit is %d",
                           path, grid * (double)samples, MAX_CONFIGS);
        goto out;
    }
    sw->nkeys = n;
    sw->keys = calloc((size_t)n + 1, sizeof *sw->keys);
    sw->nconf = (int64_t)grid * samples;
    sw->conf = calloc((size_t)sw->nconf, sizeof *sw->conf);
    if (!sw->keys || !sw->conf) {
        err = mb_error_set(MB_EUSAGE, "out of memory expanding %s", path);
        goto out;
    }
    for (int j = 0; j < n; j++) sw->keys[j] = dupstr(dims[j].key);
    for (int64_t i = 0; i < sw->nconf; i++) {
        mb_sweep_conf *cf = &sw->conf[i];
        int64_t g = i / samples, rest = g;
        char *params = malloc(2);
        size_t plen = 0;
        if (params) params[0] = '\0';
        cf->sets = calloc((size_t)n + 1, sizeof *cf->sets);
        cf->nsets = n;
        /* Mixed radix over the grid dimensions, the last one varying fastest. */
        int64_t *pick = calloc((size_t)n + 1, sizeof *pick);
        for (int j = n - 1; j >= 0 && pick; j--) {
            if (!dims[j].grid) continue;
            int64_t m = (int64_t)json_array_size(dims[j].grid);
            pick[j] = rest % m;
            rest /= m;
        }
        for (int j = 0; j < n && cf->sets && pick && params; j++) {
            json_t *val = dims[j].grid ? json_incref(json_array_get(dims[j].grid, (size_t)pick[j]))
                                       : draw(&dims[j], seed, i, j);
            char *txt = value_text(val);
            size_t len = strlen(dims[j].key) + (txt ? strlen(txt) : 0) + 2;
            cf->sets[j] = malloc(len);
            if (cf->sets[j] && txt) snprintf(cf->sets[j], len, "%s=%s", dims[j].key, txt);
            /* params holds the same shortest number text as the override (jansson would print
             * 17 digits), so it is assembled by hand. */
            json_t *kj = json_string(dims[j].key);
            char *ks = kj ? json_dumps(kj, JSON_ENCODE_ANY) : NULL;
            char *vs = json_is_string(val) || json_is_real(val) == 0
                           ? json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT)
                           : NULL;
            const char *vtxt = vs ? vs : txt;
            size_t add = (ks ? strlen(ks) : 0) + (vtxt ? strlen(vtxt) : 0) + 4;
            char *np = ks && vtxt ? realloc(params, plen + add) : NULL;
            if (np) plen += (size_t)snprintf(np + plen, add, "%s%s:%s", j ? "," : "{", ks, vtxt);
            params = np;
            json_decref(kj);
            free(ks);
            free(vs);
            free(txt);
            json_decref(val);
        }
        free(pick);
        char *np = params ? realloc(params, plen + 2) : NULL;
        if (np) memcpy(np + plen, "}", 2);
        cf->params = np;
        int ok = cf->sets && cf->params;
        for (int j = 0; ok && j < n; j++) ok = cf->sets[j] != NULL;
        if (!ok) {
            err = mb_error_set(MB_EUSAGE, "out of memory expanding %s", path);
            goto out;
        }
    }
out:
    free(dims);
    return err;
}

static mb_err parse_halving(const char *path, mb_sweep *sw, json_t *h, int64_t epochs) {
    json_t *rungs = json_object_get(h, "rungs"), *keep = json_object_get(h, "keep");
    const char *k;
    json_t *v;
    json_object_foreach(
        h, k, v) if (strcmp(k, "rungs") != 0 &&
                     strcmp(k, "keep") !=
                         0) return mb_error_set(MB_EUSAGE,
                                                "%s: unknown key 'halving.%s' (rungs, keep)", path,
                                                k);
    if (!json_is_array(rungs) || json_array_size(rungs) == 0)
        return mb_error_set(MB_EUSAGE, "%s: halving.rungs must be a non-empty list of epochs",
                            path);
    sw->nrungs = (int)json_array_size(rungs);
    sw->rungs = calloc((size_t)sw->nrungs, sizeof *sw->rungs);
    if (!sw->rungs) return mb_error_set(MB_EUSAGE, "out of memory reading %s", path);
    for (int i = 0; i < sw->nrungs; i++) {
        json_t *r = json_array_get(rungs, (size_t)i);
        int64_t e = json_is_integer(r) ? (int64_t)json_integer_value(r) : 0;
        if (e < 1 || e >= epochs || (i > 0 && e <= sw->rungs[i - 1]))
            return mb_error_set(MB_EUSAGE,
                                "%s: halving.rungs[%d] is %s; rungs must be increasing whole "
                                "epochs between 1 and the job's epochs - 1 (%lld)",
                                path, i,
                                json_is_integer(r) ? "out of order or range" : "not an integer",
                                (long long)(epochs - 1));
        sw->rungs[i] = e;
    }
    sw->keep = json_is_number(keep) ? json_number_value(keep) : 0.5;
    if (keep && !json_is_number(keep))
        return mb_error_set(MB_EUSAGE, "%s: halving.keep must be a number in (0, 1)", path);
    if (!(sw->keep > 0 && sw->keep < 1))
        return mb_error_set(MB_EUSAGE, "%s: halving.keep is %g; expected a fraction in (0, 1)",
                            path, sw->keep);
    return MB_OK;
}

/* A whole number >= lo from key (or dflt when absent). */
static mb_err get_int(const char *path, json_t *root, const char *key, int64_t dflt, int64_t lo,
                      int64_t *out) {
    json_t *v = json_object_get(root, key);
    *out = dflt;
    if (!v) return MB_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo)
        return mb_error_set(MB_EUSAGE, "%s: '%s' must be an integer >= %lld", path, key,
                            (long long)lo);
    *out = (int64_t)json_integer_value(v);
    return MB_OK;
}

mb_err mb_sweep_parse(const char *path, const char *text, mb_sweep **out) {
    *out = NULL;
    json_error_t je;
    mb_err err = MB_OK;
    mb_job *base = NULL;
    mb_sweep *sw = calloc(1, sizeof *sw);
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!sw) return mb_error_set(MB_EUSAGE, "out of memory reading %s", path);
    if (!root) {
        err = mb_error_set(MB_EUSAGE, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        goto out;
    }
    if (!json_is_object(root)) {
        err = mb_error_set(MB_EUSAGE, "%s: a sweep file is a JSON object", path);
        goto out;
    }
    static const char *known[] = {"base",   "space",   "samples", "seed",
                                  "metric", "halving", "run_dir"};
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            err = mb_error_set(MB_EUSAGE,
                               "%s: unknown key '%s' (base, space, samples, seed, metric, "
                               "halving, run_dir)",
                               path, k);
            goto out;
        }
    }
    sw->path = dupstr(path);
    json_t *b = json_object_get(root, "base");
    if (json_is_string(b)) {
        sw->base_label = dupstr(json_string_value(b));
        sw->base_text = read_file(sw->base_label);
        if (!sw->base_text) {
            err = mb_error_set(MB_EUSAGE, "%s: base: cannot read the job file %s: %s", path,
                               sw->base_label, strerror(errno));
            goto out;
        }
    } else if (json_is_object(b)) {
        /* An inline base takes its default name from the sweep file. */
        sw->base_label = dupstr(path);
        sw->base_text = json_dumps(b, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    } else {
        err = mb_error_set(MB_EUSAGE, "%s: 'base' is required: a job file path or a job object",
                           path);
        goto out;
    }
    MB_TRY(mb_job_load_text(sw->base_label, sw->base_text, NULL, 0, &base));
    sw->name = dupstr(base->name);
    json_t *rd = json_object_get(root, "run_dir");
    if (rd && !json_is_string(rd)) {
        err = mb_error_set(MB_EUSAGE, "%s: 'run_dir' must be a string", path);
        goto out;
    }
    if (rd) {
        sw->run_dir = dupstr(json_string_value(rd));
    } else {
        size_t n = strlen(base->name) + 16;
        sw->run_dir = malloc(n);
        if (sw->run_dir) snprintf(sw->run_dir, n, "runs/%s-sweep", base->name);
    }
    json_t *m = json_object_get(root, "metric");
    const char *metric = m ? json_string_value(m) : "val_loss";
    int classify = strcmp(base->model.type, "linear") != 0;
    if (!metric || (strcmp(metric, "val_loss") != 0 && strcmp(metric, "train_loss") != 0 &&
                    strcmp(metric, "val_metric") != 0 && strcmp(metric, "accuracy") != 0 &&
                    strcmp(metric, "rmse") != 0)) {
        err = mb_error_set(MB_EUSAGE,
                           "%s: 'metric' must be one of val_loss, train_loss, val_metric, "
                           "accuracy, rmse",
                           path);
        goto out;
    }
    if ((strcmp(metric, "accuracy") == 0 && !classify) ||
        (strcmp(metric, "rmse") == 0 && classify)) {
        err = mb_error_set(MB_EUSAGE, "%s: metric '%s' does not apply to a %s model", path, metric,
                           base->model.type);
        goto out;
    }
    sw->metric = dupstr(metric);
    sw->higher_better =
        strcmp(metric, "accuracy") == 0 || (strcmp(metric, "val_metric") == 0 && classify);
    int64_t samples, seed;
    MB_TRY(get_int(path, root, "samples", 1, 1, &samples));
    MB_TRY(get_int(path, root, "seed", 0, 0, &seed));
    json_t *space = json_object_get(root, "space");
    if (!json_is_object(space) || json_object_size(space) == 0) {
        err = mb_error_set(MB_EUSAGE, "%s: 'space' must be an object of job keys to search", path);
        goto out;
    }
    MB_TRY(expand(path, sw, space, samples, (uint64_t)seed));
    json_t *h = json_object_get(root, "halving");
    if (h && !json_is_object(h)) {
        err =
            mb_error_set(MB_EUSAGE, "%s: 'halving' must be {\"rungs\": [...], \"keep\": f}", path);
        goto out;
    }
    if (h) MB_TRY(parse_halving(path, sw, h, base->epochs));
    if (!sw->name || !sw->run_dir || !sw->metric || !sw->path || !sw->base_text)
        err = mb_error_set(MB_EUSAGE, "out of memory reading %s", path);
out:
    json_decref(root);
    mb_job_free(base);
    if (err) {
        mb_sweep_free(sw);
        return err;
    }
    *out = sw;
    return MB_OK;
}

mb_err mb_sweep_load(const char *path, mb_sweep **out) {
    *out = NULL;
    char *text = read_file(path);
    if (!text)
        return mb_error_set(MB_EUSAGE, "%s: cannot read the sweep file: %s", path, strerror(errno));
    mb_err err = mb_sweep_parse(path, text, out);
    free(text);
    return err;
}

void mb_sweep_free(mb_sweep *sw) {
    if (!sw) return;
    for (int64_t i = 0; sw->conf && i < sw->nconf; i++) {
        for (int j = 0; sw->conf[i].sets && j < sw->conf[i].nsets; j++) free(sw->conf[i].sets[j]);
        free(sw->conf[i].sets);
        free(sw->conf[i].params);
    }
    for (int j = 0; sw->keys && j < sw->nkeys; j++) free(sw->keys[j]);
    free(sw->keys);
    free(sw->conf);
    free(sw->rungs);
    free(sw->path);
    free(sw->base_label);
    free(sw->base_text);
    free(sw->name);
    free(sw->run_dir);
    free(sw->metric);
    free(sw);
}

mb_err mb_sweep_job(const mb_sweep *sw, int64_t i, int64_t epochs, mb_job **out) {
    *out = NULL;
    if (i < 0 || i >= sw->nconf)
        return mb_error_set(MB_EUSAGE, "%s: configuration %lld does not exist (0..%lld)", sw->path,
                            (long long)i, (long long)sw->nconf - 1);
    const mb_sweep_conf *cf = &sw->conf[i];
    char **sets = calloc((size_t)cf->nsets + 2, sizeof *sets);
    char rd[4200], ep[64];
    if (!sets) return mb_error_set(MB_EUSAGE, "out of memory");
    int n = 0;
    for (int j = 0; j < cf->nsets; j++) sets[n++] = cf->sets[j];
    snprintf(rd, sizeof rd, "run_dir=%s/cfg-%lld", sw->run_dir, (long long)i);
    sets[n++] = rd;
    if (epochs > 0) {
        snprintf(ep, sizeof ep, "epochs=%lld", (long long)epochs);
        sets[n++] = ep;
    }
    mb_err err = mb_job_load_text(sw->base_label, sw->base_text, sets, n, out);
    free(sets);
    return err;
}

char *mb_sweep_set_line(const mb_sweep *sw, int64_t i) {
    const mb_sweep_conf *cf = &sw->conf[i];
    size_t len = 1;
    for (int j = 0; j < cf->nsets; j++) len += strlen(cf->sets[j]) * 4 + 12;
    char *line = malloc(len), *p = line;
    if (!line) return NULL;
    *p = '\0';
    for (int j = 0; j < cf->nsets; j++) {
        const char *s = cf->sets[j];
        int plain = 1;
        for (const char *q = s; *q; q++)
            plain &= strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+=/",
                            *q) != NULL;
        p += sprintf(p, "%s--set ", j ? " " : "");
        if (plain) {
            p += sprintf(p, "%s", s);
        } else { /* single-quote for the shell, ' as '\'' */
            *p++ = '\'';
            for (const char *q = s; *q; q++) {
                if (*q == '\'') {
                    memcpy(p, "'\\''", 4);
                    p += 4;
                } else {
                    *p++ = *q;
                }
            }
            *p++ = '\'';
            *p = '\0';
        }
    }
    return line;
}
