/* trace.h - per-rank timeline spans, merged by rank 0 into a Chrome Trace Event Format file.
 *
 * With `"trace": true` each rank records what it spent its time on (reading its shard, computing
 * gradients, the gradient allreduce with its size in bytes, the optimizer step, validation,
 * checkpoints) into a bounded buffer, and at the end of the job rank 0 gathers every rank's
 * spans into run_dir/trace.json, which opens in Perfetto (ui.perfetto.dev) or chrome://tracing:
 * one process per rank, "X" (complete) events on one time axis.
 *
 * Spans are recorded from timestamps the caller already took (mb_wtime), so recording adds no
 * clock reads; with tracing off the handle is NULL and mb_trace_span is one branch.
 *
 * The buffer holds at most `capacity` spans. When it is full, the spans of every other sampled
 * step are dropped and from then on only steps that are multiples of the doubled stride are
 * kept (then likewise for epochs), so a long job keeps an evenly thinned timeline and its
 * memory stays bounded. Dropping whole spans never breaks the nesting of the rest.
 *
 *     mb_trace *tr = job->trace ? mb_trace_create(c, 0) : NULL;      // Collective
 *     double t0 = mb_wtime(); compute(); double t1 = mb_wtime();
 *     mb_trace_span(tr, MB_SPAN_COMPUTE, t0, t1, step, 0);          // Not collective
 *     mb_trace_write(c, tr, "runs/job/trace.json");                  // Collective
 *     mb_trace_free(tr);
 */
#pragma once

#include <stdint.h>

#include "mbatch/comm.h"
#include "mbatch/error.h"

/* What a span measured; append only (the values are stored in trace buffers). */
typedef enum mb_span_kind {
    MB_SPAN_READ,       /* reading this rank's rows of the dataset */
    MB_SPAN_EPOCH,      /* one pass over the training set: contains the spans below */
    MB_SPAN_SHUFFLE,    /* building this epoch's sample order */
    MB_SPAN_COMPUTE,    /* the local gradient of one mini-batch */
    MB_SPAN_ALLREDUCE,  /* the gradient sum over ranks (bytes = message size) */
    MB_SPAN_STEP,       /* the optimizer update */
    MB_SPAN_VALIDATION, /* loss and metric over this rank's validation rows, and their sum */
    MB_SPAN_CHECKPOINT, /* writing a checkpoint or the model (rank 0) and agreeing on it */
    MB_SPAN_NKINDS
} mb_span_kind;

/* How a span is sampled when the buffer fills: step-level spans go first, then epoch-level
 * ones; run-level spans (the read, the final model) are always kept. */
typedef enum mb_span_level { MB_LEVEL_RUN, MB_LEVEL_EPOCH, MB_LEVEL_STEP } mb_span_level;

typedef struct mb_trace mb_trace; /* opaque; fields in src/run/trace.c */

/* Default buffer size in spans (about 40 bytes each). */
#define MB_TRACE_CAPACITY 65536

/* Start a trace on every rank: a barrier, then each rank takes its time origin, so all ranks
 * share one time axis to within the barrier's skew. capacity <= 0 means MB_TRACE_CAPACITY
 * (the environment variable MBATCH_TRACE_CAPACITY overrides it, for tests of the sampling).
 * Returns NULL if out of memory (the job then runs untraced). Collective. */
mb_trace *mb_trace_create(const mb_comm *c, int64_t capacity);
void mb_trace_free(mb_trace *t); /* NULL-safe. Not collective. */

/* Record a span [t0, t1] (mb_wtime seconds). key is the global step for step-level kinds (compute,
 * allreduce, optimizer step, step checkpoints), the epoch for epoch-level ones, ignored for the
 * read; bytes is the payload of an allreduce (0 otherwise). Not collective. */
void mb__trace_add(mb_trace *t, mb_span_kind kind, mb_span_level level, double t0, double t1,
                   int64_t key, int64_t bytes);
static inline void mb_trace_span(mb_trace *t, mb_span_kind kind, mb_span_level level, double t0,
                                 double t1, int64_t key, int64_t bytes) {
    if (t) mb__trace_add(t, kind, level, t0, t1, key, bytes);
}

/* Spans held, spans dropped by sampling, and the current step stride. Not collective. */
void mb_trace_stats(const mb_trace *t, int64_t *held, int64_t *dropped, int64_t *stride);

/* Gather every rank's spans to rank 0 (one rank at a time, so rank 0 holds one rank's buffer at
 * once) and write them to path as JSON: {"traceEvents": [...], "displayTimeUnit": "ms",
 * "otherData": {...}}. Every rank must call it, with t NULL on none or all. Collective. */
mb_err mb_trace_write(const mb_comm *c, const mb_trace *t, const char *path);

/* The span names used in trace.json ("read", "compute", "allreduce", ...). */
const char *mb_span_name(mb_span_kind kind);
