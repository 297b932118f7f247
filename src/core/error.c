/* error.c - error names, messages and the per-process error slot. */
#include "mbatch/error.h"

#include <stdio.h>
#include <string.h>

static mb_err slot_code = MB_OK;
static char slot_msg[MB_ERRMSG_MAX];

const char *mb_strerror(mb_err e) {
    switch (e) {
    case MB_OK:
        return "success";
#define MB__ERR_MSG(name, code, msg)                                                               \
    case MB_E##name:                                                                               \
        return msg;
        MB_ERRORS(MB__ERR_MSG)
#undef MB__ERR_MSG
    }
    return "unknown error";
}

const char *mb_errname(mb_err e) {
    switch (e) {
    case MB_OK:
        return "MB_OK";
#define MB__ERR_NAME(name, code, msg)                                                              \
    case MB_E##name:                                                                               \
        return "MB_E" #name;
        MB_ERRORS(MB__ERR_NAME)
#undef MB__ERR_NAME
    }
    return "MB_EUNKNOWN";
}

mb_err mb_error_vset(mb_err err, const char *fmt, va_list ap) {
    if (slot_code != MB_OK) return err;
    slot_code = err;
    vsnprintf(slot_msg, sizeof slot_msg, fmt, ap);
    /* A message is one line whatever it quotes (a job file's text, a column name): control
     * characters from the input become '?'. */
    for (char *p = slot_msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return err;
}

mb_err mb_error_set(mb_err err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mb_error_vset(err, fmt, ap);
    va_end(ap);
    return err;
}

mb_err mb_error_code(void) {
    return slot_code;
}

const char *mb_error_message(void) {
    return slot_msg;
}

void mb_error_clear(void) {
    slot_code = MB_OK;
    slot_msg[0] = '\0';
}

void mb_error_replace(mb_err err, const char *msg) {
    slot_code = err;
    snprintf(slot_msg, sizeof slot_msg, "%s", msg ? msg : "");
}
