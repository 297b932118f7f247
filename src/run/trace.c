/* trace.c - per-rank span buffers with sampling, merged by rank 0 into Chrome trace JSON. */
#include "mbatch/trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct span {
    int64_t t0_ns, t1_ns; /* since this rank's origin */
    int64_t key, bytes;
    int32_t kind, level;
} span;

/* What each rank sends rank 0 ahead of its spans. */
typedef struct trace_head {
    int32_t rank, pad;
    char host[64];
    int64_t n, dropped, stride_step, stride_epoch, capacity;
} trace_head;

struct mb_trace {
    double origin;
    int64_t cap, n, dropped;
    int64_t stride[3]; /* per level: keep keys that are multiples of it (run level: always 1) */
    trace_head *head;  /* head and buf are one block, sent as is */
    span *buf;
};

static const char *const SPAN_NAMES[MB_SPAN_NKINDS] = {"read",       "epoch",     "shuffle",
                                                       "compute",    "allreduce", "optimizer step",
                                                       "validation", "checkpoint"};
static const char *const LEVEL_NAMES[3] = {"run", "epoch", "step"};

const char *mb_span_name(mb_span_kind kind) {
    return kind >= 0 && kind < MB_SPAN_NKINDS ? SPAN_NAMES[kind] : "?";
}

mb_trace *mb_trace_create(const mb_comm *c, int64_t capacity) {
    const char *env = getenv("MBATCH_TRACE_CAPACITY");
    if (env && atoll(env) > 0) capacity = atoll(env);
    if (capacity <= 0) capacity = MB_TRACE_CAPACITY;
    if (capacity < 4) capacity = 4;
    mb_trace *t = calloc(1, sizeof *t);
    char *block = t ? malloc(sizeof(trace_head) + sizeof(span) * (size_t)capacity) : NULL;
    /* Every rank traces or none does, so the merge at the end is entered by all or none. */
    int64_t ok = block != NULL;
    mb_allreduce_min_i64(c, &ok, 1);
    if (!ok) {
        free(block);
        free(t);
        if (c->rank == 0)
            fprintf(stderr, "mbatch: warning: no memory for a trace of %lld spans; tracing off\n",
                    (long long)capacity);
        return NULL;
    }
    t->head = (trace_head *)(void *)block;
    t->buf = (span *)(void *)(block + sizeof(trace_head));
    memset(t->head, 0, sizeof *t->head);
    t->head->rank = c->rank;
    if (gethostname(t->head->host, sizeof t->head->host - 1) != 0)
        snprintf(t->head->host, sizeof t->head->host, "?");
    t->cap = capacity;
    t->stride[0] = t->stride[1] = t->stride[2] = 1;
    mb_barrier(c);
    t->origin = mb_wtime();
    return t;
}

void mb_trace_free(mb_trace *t) {
    if (!t) return;
    free(t->head);
    free(t);
}

/* Keep only spans of `level` whose key is a multiple of the doubled stride; returns how many
 * were removed. Removing whole spans keeps the others properly nested. */
static int64_t thin(mb_trace *t, int level) {
    int64_t removed = 0;
    while (removed == 0 && t->stride[level] < ((int64_t)1 << 40)) {
        int64_t s = t->stride[level] * 2, m = 0, kept_level = 0;
        for (int64_t i = 0; i < t->n; i++) {
            const span *p = &t->buf[i];
            if (p->level == level && p->key % s != 0) continue;
            kept_level += p->level == level;
            t->buf[m++] = *p;
        }
        removed = t->n - m;
        t->n = m;
        t->stride[level] = s;
        if (kept_level == 0) break; /* nothing of this level left to thin */
    }
    t->dropped += removed;
    return removed;
}

void mb__trace_add(mb_trace *t, mb_span_kind kind, mb_span_level level, double t0, double t1,
                   int64_t key, int64_t bytes) {
    if (level < MB_LEVEL_RUN || level > MB_LEVEL_STEP) level = MB_LEVEL_RUN;
    if (key < 0) key = -key;
    for (;;) {
        if (level != MB_LEVEL_RUN && key % t->stride[level] != 0) {
            t->dropped++;
            return;
        }
        if (t->n < t->cap) break;
        /* Full: thin the finest level that still has spans; if none can go, drop this one. */
        if (thin(t, MB_LEVEL_STEP) == 0 && thin(t, MB_LEVEL_EPOCH) == 0) {
            t->dropped++;
            return;
        }
    }
    span *p = &t->buf[t->n++];
    /* Rounding each time point (not each duration) keeps containment exact after rounding. */
    p->t0_ns = llround((t0 - t->origin) * 1e9);
    p->t1_ns = llround((t1 - t->origin) * 1e9);
    if (p->t1_ns < p->t0_ns) p->t1_ns = p->t0_ns;
    p->key = key;
    p->bytes = bytes;
    p->kind = (int32_t)kind;
    p->level = (int32_t)level;
}

void mb_trace_stats(const mb_trace *t, int64_t *held, int64_t *dropped, int64_t *stride) {
    if (held) *held = t ? t->n : 0;
    if (dropped) *dropped = t ? t->dropped : 0;
    if (stride) *stride = t ? t->stride[MB_LEVEL_STEP] : 1;
}

/* Microseconds with three decimals, printed from integer nanoseconds (exact). */
static void put_us(FILE *f, int64_t ns) {
    if (ns < 0) {
        fputc('-', f);
        ns = -ns;
    }
    fprintf(f, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000));
}

/* A JSON string body: host names are the only text from outside. */
static void put_json_str(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
}

typedef struct writer {
    FILE *f;
    int first;
    int64_t spans, dropped, max_stride;
} writer;

static void sep(writer *w) {
    fputs(w->first ? "\n" : ",\n", w->f);
    w->first = 0;
}

static void write_rank(int rank, const void *data, int64_t bytes, void *ctx) {
    writer *w = ctx;
    if (!w->f || bytes < (int64_t)sizeof(trace_head)) return;
    trace_head h;
    memcpy(&h, data, sizeof h);
    const span *sp = (const span *)(const void *)((const char *)data + sizeof h);
    int64_t n = (bytes - (int64_t)sizeof h) / (int64_t)sizeof(span);
    if (h.n < n) n = h.n;
    h.host[sizeof h.host - 1] = '\0';
    sep(w);
    fprintf(w->f,
            "{\"name\":\"process_name\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":0,"
            "\"args\":{\"name\":\"rank %d (",
            rank, rank);
    put_json_str(w->f, h.host);
    fputs(")\"}}", w->f);
    sep(w);
    fprintf(w->f,
            "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":0,"
            "\"args\":{\"sort_index\":%d}}",
            rank, rank);
    sep(w);
    fprintf(w->f,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0,\"pid\":%d,\"tid\":0,"
            "\"args\":{\"name\":\"main\"}}",
            rank);
    for (int64_t i = 0; i < n; i++) {
        const span *p = &sp[i];
        int level = p->level >= 0 && p->level <= 2 ? p->level : 0;
        sep(w);
        fprintf(w->f, "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":",
                mb_span_name((mb_span_kind)p->kind), LEVEL_NAMES[level]);
        put_us(w->f, p->t0_ns);
        fputs(",\"dur\":", w->f);
        put_us(w->f, p->t1_ns - p->t0_ns);
        fprintf(w->f, ",\"pid\":%d,\"tid\":0,\"args\":{", rank);
        if (level == MB_LEVEL_STEP)
            fprintf(w->f, "\"step\":%lld", (long long)p->key);
        else if (level == MB_LEVEL_EPOCH)
            fprintf(w->f, "\"epoch\":%lld", (long long)p->key + 1);
        if (p->kind == MB_SPAN_ALLREDUCE)
            fprintf(w->f, "%s\"bytes\":%lld", level != MB_LEVEL_RUN ? "," : "",
                    (long long)p->bytes);
        fputs("}}", w->f);
    }
    w->spans += n;
    w->dropped += h.dropped;
    if (h.stride_step > w->max_stride) w->max_stride = h.stride_step;
}

mb_err mb_trace_write(const mb_comm *c, const mb_trace *t, const char *path) {
    if (!t) return MB_OK;
    mb_err err = MB_OK;
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    writer w = {NULL, 1, 0, 0, 1};
    if (c->rank == 0) {
        if (!tmp) {
            err = mb_error_set(MB_EIO, "%s: out of memory", path);
        } else {
            snprintf(tmp, len, "%s.tmp", path);
            w.f = fopen(tmp, "w");
            if (!w.f) err = mb_error_set(MB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        }
    }
    err = mb_agree(c, err, NULL);
    if (err) goto out;

    t->head->n = t->n;
    t->head->dropped = t->dropped;
    t->head->stride_step = t->stride[MB_LEVEL_STEP];
    t->head->stride_epoch = t->stride[MB_LEVEL_EPOCH];
    t->head->capacity = t->cap;
    if (c->rank == 0) fputs("{\"traceEvents\":[", w.f);
    mb_gather_each(c, t->head, (int64_t)(sizeof(trace_head) + sizeof(span) * (size_t)t->n), 0,
                   write_rank, &w);
    if (c->rank == 0) {
        fprintf(w.f,
                "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"producer\":\"mbatch %s\","
                "\"ranks\":%d,\"spans\":%lld,\"spans_dropped_by_sampling\":%lld,"
                "\"step_stride\":%lld,\"capacity_per_rank\":%lld}}\n",
                MBATCH_VERSION, c->size, (long long)w.spans, (long long)w.dropped,
                (long long)w.max_stride, (long long)t->cap);
        int bad = ferror(w.f);
        if (fclose(w.f) != 0 || bad)
            err = mb_error_set(MB_EIO, "%s: write failed: %s", tmp, strerror(errno));
        else if (rename(tmp, path) != 0)
            err =
                mb_error_set(MB_EIO, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        if (err) remove(tmp);
    }
    err = mb_agree(c, err, NULL);
out:
    free(tmp);
    return err;
}
