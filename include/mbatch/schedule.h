/* schedule.h - a job's "schedule": one time (sbatch --begin) or a recurring one (a cron line).
 *
 * Accepted, case-insensitive:
 *   one time   "2026-12-01T02:00", "2026-12-01 02:00:30", "2026-12-01" (midnight), each with an
 *              optional zone "Z", "UTC", "+01:00", "-0530" (none: the local time zone);
 *   recurring  "hourly" ["@ :MM"], "daily", "weekly" ["on DAY"], "monthly" ["on N"],
 *              "quarterly" ["on N"], "yearly"/"annually", each with an optional "@ HH:MM" or
 *              "at HH:MM" and an optional "UTC" or "local" (default local);
 *              cron "MIN HOUR DOM MONTH DOW" (numbers, *, lists, ranges, steps; DOW 0-7 or
 *              mon..sun, MONTH 1-12 or jan..dec) and "@hourly", "@daily", "@weekly",
 *              "@monthly", "@yearly".
 * Pure: no clock is read; the caller passes the local zone's offset where it matters.
 */
#pragma once

#include <stdint.h>

#include "mbatch/error.h"

typedef struct mb_when {
    int recurring;
    /* one time: the broken-down time as written, and its zone */
    int year, month, day, hour, minute, second;
    int has_zone;       /* a zone was written; else the time is local */
    long zone_offset_s; /* east of UTC, when has_zone */
    /* recurring: the five cron fields, in UTC when utc is set, else local */
    char cron[5][64];
    int utc;
    char desc[400]; /* "every day at 02:00 UTC" */
} mb_when;

/* Parse `text` into *out; MB_EUSAGE with a message that quotes the text and says what was
 * expected. Not collective. */
mb_err mb_schedule_parse(const char *text, mb_when *out);
/* A recurring schedule given in UTC, rewritten for a zone offset_s east of UTC (scrontab reads
 * local time): hours and minutes shift, and the weekday when the day changes. MB_EUSAGE when a
 * day-of-month or month schedule would change day (write it as cron in local time instead).
 * Does nothing when the schedule is local or the offset is 0. Not collective. */
mb_err mb_schedule_to_local(mb_when *w, long offset_s);
/* The cron line "MIN HOUR DOM MONTH DOW" of a recurring schedule. */
void mb_schedule_cron(const mb_when *w, char *buf, int n);
/* Seconds since the epoch of a one-time schedule with a zone (has_zone). */
int64_t mb_schedule_epoch_utc(const mb_when *w);
