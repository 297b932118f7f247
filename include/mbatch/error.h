/* error.h - the error codes of mbatch, their names and messages, and the per-process error slot.
 *
 * One rule for the whole API: a function that can fail returns an mb_err; on failure it has
 * also called mb_error_set() with a message naming the file, dataset and value at fault.
 * The message lives in one per-process slot until mb_error_clear(); comm/ broadcasts the
 * message of the first failing rank so that rank 0 can print it (see mb_agree()).
 */
#pragma once

#include <stdarg.h>

/* Append-only: the numbers are the command's exit codes. */
#define MB_ERRORS(X)                                                                               \
    X(USAGE, 1, "usage or job-file error")                                                         \
    X(DATA, 2, "bad data")                                                                         \
    X(IO, 3, "I/O error")                                                                          \
    X(NUMERIC, 4, "numerical divergence")                                                          \
    X(ENV, 5, "MPI or environment error")                                                          \
    X(PREEMPTED, 75, "stopped by a signal after writing a checkpoint")

#define MB__ERR_ENUM(name, code, msg) MB_E##name = code,
typedef enum { MB_OK = 0, MB_ERRORS(MB__ERR_ENUM) } mb_err;
#undef MB__ERR_ENUM

#define MB_ERRMSG_MAX 1024

const char *mb_strerror(mb_err e); /* "bad data" */
const char *mb_errname(mb_err e);  /* "MB_EDATA" */

/* Record err and a printf-style message in this process's slot; returns err. Not collective.
 * The first error wins: a later call does not overwrite an unread message. */
mb_err mb_error_set(mb_err err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mb_err mb_error_vset(mb_err err, const char *fmt, va_list ap);
mb_err mb_error_code(void);         /* the recorded code, MB_OK if none */
const char *mb_error_message(void); /* the recorded message, "" if none */
void mb_error_clear(void);
/* Replace the slot unconditionally (used when the agreed message arrives from another rank). */
void mb_error_replace(mb_err err, const char *msg);

/* Evaluate an mb_err expression; on failure jump to the function's `out` label. */
#define MB_TRY(expr)                                                                               \
    do {                                                                                           \
        err = (expr);                                                                              \
        if (err != MB_OK) goto out;                                                                \
    } while (0)
