/* test_trace.c - variable-size gathers arrive complete and in rank order at any root; trace
 * buffers stay bounded, thin by step stride, and merge into one file with every rank's spans. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbatch/trace.h"
#include "mpitest.h"

/* Rank r sends 1000 r + 1 bytes, except rank 1 which sends none. */
static int64_t block_len(int r) {
    return r == 1 ? 0 : 1000 * (int64_t)r + 1;
}

typedef struct seen {
    int next; /* the rank expected next */
    int bad;
} seen;

static void check_block(int rank, const void *data, int64_t bytes, void *ctx) {
    seen *s = ctx;
    const unsigned char *p = data;
    if (rank != s->next || bytes != block_len(rank)) {
        fprintf(stderr, "block of rank %d (expected %d): %lld bytes, expected %lld\n", rank,
                s->next, (long long)bytes, (long long)block_len(rank));
        s->bad++;
    }
    for (int64_t i = 0; i < bytes; i++)
        if (p[i] != (unsigned char)(rank * 7 + i)) {
            fprintf(stderr, "block of rank %d: byte %lld is %d\n", rank, (long long)i, p[i]);
            s->bad++;
            break;
        }
    s->next++;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    const mb_comm *c = &mt_comm;

    /* Gathers at the first and at the last rank. */
    int64_t len = block_len(c->rank);
    unsigned char *mine = malloc((size_t)len + 1);
    for (int64_t i = 0; i < len; i++) mine[i] = (unsigned char)(c->rank * 7 + i);
    int roots[2] = {0, c->size - 1};
    for (int k = 0; k < 2; k++) {
        seen s = {0, 0};
        mb_gather_each(c, mine, len, roots[k], check_block, &s);
        if (c->rank == roots[k]) {
            MT_CHECK_INT(s.bad, 0);
            MT_CHECK_INT(s.next, c->size);
        } else {
            MT_CHECK_INT(s.next, 0); /* the callback runs on the root only */
        }
    }
    free(mine);

    /* A 16-span buffer fed 3 nested spans per step for 100 steps, plus one run-level span. */
    setenv("MBATCH_TRACE_CAPACITY", "16", 1);
    mb_trace *t = mb_trace_create(c, 0);
    MT_CHECK(t != NULL);
    double t0 = mb_wtime();
    mb_trace_span(t, MB_SPAN_READ, MB_LEVEL_RUN, t0, t0 + 1e-3, 0, 0);
    for (int64_t step = 1; step <= 100; step++) {
        double a = t0 + 1e-3 * (double)step;
        mb_trace_span(t, MB_SPAN_COMPUTE, MB_LEVEL_STEP, a, a + 2e-4, step, 0);
        mb_trace_span(t, MB_SPAN_ALLREDUCE, MB_LEVEL_STEP, a + 2e-4, a + 5e-4, step, 80);
        mb_trace_span(t, MB_SPAN_STEP, MB_LEVEL_STEP, a + 5e-4, a + 6e-4, step, 0);
    }
    int64_t held = 0, dropped = 0, stride = 0;
    mb_trace_stats(t, &held, &dropped, &stride);
    MT_CHECK(held <= 16 && held > 1);
    MT_CHECK_INT(held + dropped, 301);
    MT_CHECK(stride >= 16 && (stride & (stride - 1)) == 0); /* 100 steps into 15 slots */
    MT_CHECK_INT((held - 1) % 3, 0);                        /* whole steps are kept or dropped */
    /* Tracing off: a NULL handle records nothing and the merge is a no-op. */
    mb_trace_span(NULL, MB_SPAN_COMPUTE, MB_LEVEL_STEP, t0, t0, 1, 0);
    MT_CHECK_INT(mb_trace_write(c, NULL, "never-written.json"), MB_OK);

    int64_t total = held;
    mb_allreduce_sum_i64(c, &total, 1);
    MT_CHECK_INT(mb_trace_write(c, t, "test_trace.json"), MB_OK);
    if (c->rank == 0) {
        FILE *f = fopen("test_trace.json", "r");
        MT_CHECK(f != NULL);
        static char text[1 << 20];
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        MT_CHECK_INT(count(text, "\"ph\":\"X\""), total);
        MT_CHECK_INT(count(text, "\"name\":\"process_name\""), c->size);
        for (int r = 0; r < c->size; r++) {
            char pid[64];
            snprintf(pid, sizeof pid, "\"pid\":%d,\"tid\":0,\"args\":{\"step\"", r);
            MT_CHECK(count(text, pid) == (int)(held - 1)); /* same sampling on every rank */
        }
        MT_CHECK(strstr(text, "\"bytes\":80") != NULL);
        MT_CHECK(access("never-written.json", F_OK) != 0);
    }
    mb_trace_free(t);
    mb_trace_free(NULL);
    return mt_finish();
}
