/* schedule.c - parse a job's "schedule" into one time or a cron line, and move UTC to local. */
#include "mbatch/schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const DAYS[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                    "thursday", "friday", "saturday"};
static const char *const MONTHS[12] = {"january",   "february", "march",    "april",
                                       "may",       "june",     "july",     "august",
                                       "september", "october",  "november", "december"};

static int is_leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m) {
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t mb_schedule_epoch_utc(const mb_when *w) {
    return days_from_civil(w->year, w->month, w->day) * 86400 + w->hour * 3600 + w->minute * 60 +
           w->second - w->zone_offset_s;
}

/* A day or month name (full, or its first three letters) -> its index, else -1. */
static int name_index(const char *s, size_t n, const char *const *names, int count) {
    for (int i = 0; i < count; i++) {
        size_t len = strlen(names[i]);
        if ((n == 3 || n == len) && n <= len && strncmp(s, names[i], n) == 0) return i;
    }
    return -1;
}

/* Read a whole unsigned number of 1..digits digits from *p; -1 if none. */
static long read_num(const char **p, int digits) {
    long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p) && n < digits) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n ? v : -1;
}

static mb_err bad(const char *text, const char *why) {
    return mb_error_set(MB_EUSAGE,
                        "schedule \"%s\": %s; expected an ISO time (\"2026-12-01T02:00Z\"), "
                        "\"hourly\", \"daily @ 02:00 UTC\", \"weekly on monday @ 06:00\", "
                        "\"monthly on 15\", \"quarterly\", \"yearly\", or cron \"0 2 * * *\"",
                        text, why);
}

/* One cron field: lists of *, N, A-B, with /S steps; names allowed for months and weekdays.
 * Writes the field with names turned into numbers. */
static int cron_field(const char *f, size_t n, int lo, int hi, const char *const *names, int nnames,
                      int name_base, char *out, size_t outn, char *why, size_t whyn,
                      const char *what) {
    size_t o = 0;
    const char *p = f, *end = f + n;
    out[0] = '\0';
    while (p < end) {
        long a = -1, b = -1, step = -1;
        int star = 0;
        for (int side = 0; side < 2; side++) {
            long v = -1;
            if (*p == '*' && side == 0) {
                star = 1;
                p++;
                break;
            }
            if (isdigit((unsigned char)*p)) {
                v = read_num(&p, 3);
            } else if (names && isalpha((unsigned char)*p)) {
                const char *q = p;
                while (q < end && isalpha((unsigned char)*q)) q++;
                int idx = name_index(p, (size_t)(q - p), names, nnames);
                if (idx >= 0) v = idx + name_base;
                p = q;
            }
            if (v < lo || v > hi) {
                snprintf(why, whyn, "the %s field '%.*s' is not %d-%d%s", what, (int)n, f, lo, hi,
                         names ? " or a name" : "");
                return -1;
            }
            if (side == 0) a = v;
            if (side == 1) b = v;
            if (side == 0 && p < end && *p == '-') {
                p++;
                continue;
            }
            break;
        }
        if (b >= 0 && b < a) {
            snprintf(why, whyn, "the %s field '%.*s' has a range that runs backwards", what, (int)n,
                     f);
            return -1;
        }
        if (p < end && *p == '/') {
            p++;
            step = read_num(&p, 3);
            if (step < 1 || step > hi) {
                snprintf(why, whyn, "the %s field '%.*s' has a bad step", what, (int)n, f);
                return -1;
            }
        }
        if (p < end && *p != ',') {
            snprintf(why, whyn, "the %s field '%.*s' has a stray '%c'", what, (int)n, f, *p);
            return -1;
        }
        char item[48];
        if (star)
            snprintf(item, sizeof item, "*");
        else if (b >= 0)
            snprintf(item, sizeof item, "%ld-%ld", a, b);
        else
            snprintf(item, sizeof item, "%ld", a);
        if (step > 0) snprintf(item + strlen(item), sizeof item - strlen(item), "/%ld", step);
        int w = snprintf(out + o, outn - o, "%s%s", o ? "," : "", item);
        if (w < 0 || (size_t)w >= outn - o) {
            snprintf(why, whyn, "the %s field is too long", what);
            return -1;
        }
        o += (size_t)w;
        if (p < end) p++; /* the comma */
        if (p == end && p[-1] == ',') {
            snprintf(why, whyn, "the %s field '%.*s' ends with a comma", what, (int)n, f);
            return -1;
        }
    }
    return 0;
}

static mb_err parse_cron(const char *text, const char *s, mb_when *w) {
    const char *tok[6];
    size_t len[6];
    int nt = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (nt == 5) return bad(text, "a cron line has five fields");
        tok[nt] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        len[nt] = (size_t)(p - tok[nt]);
        nt++;
    }
    if (nt != 5) return bad(text, "not a time, a period word or a five-field cron line");
    static const struct {
        int lo, hi;
        const char *what;
    } F[5] = {{0, 59, "minute"},
              {0, 23, "hour"},
              {1, 31, "day-of-month"},
              {1, 12, "month"},
              {0, 7, "day-of-week"}};
    char why[160];
    for (int i = 0; i < 5; i++) {
        const char *const *names = i == 3 ? MONTHS : i == 4 ? DAYS : NULL;
        if (cron_field(tok[i], len[i], F[i].lo, F[i].hi, names, i == 3 ? 12 : 7, i == 3 ? 1 : 0,
                       w->cron[i], sizeof w->cron[i], why, sizeof why, F[i].what) != 0)
            return bad(text, why);
    }
    w->recurring = 1;
    snprintf(w->desc, sizeof w->desc, "cron \"%s %s %s %s %s\" (local time)", w->cron[0],
             w->cron[1], w->cron[2], w->cron[3], w->cron[4]);
    return MB_OK;
}

/* "YYYY-MM-DD[(T| )HH:MM[:SS]][ ](Z|UTC|+HH[:]MM|-HH[:]MM)" */
static mb_err parse_iso(const char *text, const char *s, mb_when *w) {
    const char *p = s;
    long y = read_num(&p, 4), mo = -1, d = -1, h = 0, mi = 0, se = 0;
    if (y < 1970 || *p++ != '-') return bad(text, "a date is YYYY-MM-DD");
    mo = read_num(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-') return bad(text, "the month is not 01-12");
    d = read_num(&p, 2);
    if (d < 1 || d > month_days((int)y, (int)mo)) return bad(text, "no such day in that month");
    if (*p == 't' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
        p++;
        h = read_num(&p, 2);
        if (h < 0 || h > 23 || *p++ != ':') return bad(text, "the time is HH:MM (00:00-23:59)");
        mi = read_num(&p, 2);
        if (mi < 0 || mi > 59) return bad(text, "the minutes are not 00-59");
        if (*p == ':') {
            p++;
            se = read_num(&p, 2);
            if (se < 0 || se > 59) return bad(text, "the seconds are not 00-59");
        }
    }
    while (*p == ' ') p++;
    w->year = (int)y;
    w->month = (int)mo;
    w->day = (int)d;
    w->hour = (int)h;
    w->minute = (int)mi;
    w->second = (int)se;
    if (*p == 'z' || strcmp(p, "utc") == 0 || strcmp(p, "gmt") == 0) {
        w->has_zone = 1;
        p += *p == 'z' ? 1 : 3;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        long zh = read_num(&p, 2), zm = 0;
        if (*p == ':') p++;
        if (isdigit((unsigned char)*p)) zm = read_num(&p, 2);
        if (zh < 0 || zh > 14 || zm < 0 || zm > 59) return bad(text, "the zone is +HH:MM");
        w->has_zone = 1;
        w->zone_offset_s = sign * (zh * 3600 + zm * 60);
    }
    if (*p) return bad(text, "unexpected text after the time");
    snprintf(w->desc, sizeof w->desc, "once, at %04d-%02d-%02d %02d:%02d:%02d %s", w->year,
             w->month, w->day, w->hour, w->minute, w->second,
             !w->has_zone            ? "local time"
             : w->zone_offset_s == 0 ? "UTC"
                                     : "(given zone)");
    return MB_OK;
}

/* "daily @ 02:00 UTC", "weekly on monday at 06:30", "hourly @ :15", "monthly on 15 local". */
static mb_err parse_named(const char *text, char *s, mb_when *w) {
    static const char *const PERIODS[] = {"hourly",    "daily",  "weekly",  "monthly",
                                          "quarterly", "yearly", "annually"};
    char *save = NULL, *tok = strtok_r(s, " \t", &save);
    int period = -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(tok, PERIODS[i]) == 0) period = i == 6 ? 5 : i;
    if (period < 0) return bad(text, "unknown period");
    long hour = 0, minute = 0, day = -1;
    int have_time = 0;
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        if (strcmp(tok, "on") == 0) {
            tok = strtok_r(NULL, " \t", &save);
            if (!tok) return bad(text, "'on' needs a day");
            if (period == 2) {
                day = name_index(tok, strlen(tok), DAYS, 7);
                if (day < 0 && isdigit((unsigned char)tok[0]) && !tok[1] && tok[0] <= '7')
                    day = (tok[0] - '0') % 7;
                if (day < 0) return bad(text, "'weekly on' needs a weekday (monday or mon)");
            } else if (period >= 3) {
                const char *p = tok;
                day = read_num(&p, 2);
                if (day < 1 || day > 31 || *p) return bad(text, "'on' needs a day 1-31");
                if (day > 28) return bad(text, "days after the 28th do not exist in every month");
            } else {
                return bad(text, "'on' goes with weekly, monthly, quarterly or yearly");
            }
        } else if (strcmp(tok, "@") == 0 || strcmp(tok, "at") == 0) {
            tok = strtok_r(NULL, " \t", &save);
            if (!tok) return bad(text, "'@' needs a time");
            const char *p = tok;
            if (period == 0) {
                if (*p == ':') p++;
                minute = read_num(&p, 2);
                if (minute < 0 || minute > 59 || *p)
                    return bad(text, "'hourly @' needs the minute, as :MM");
            } else {
                hour = read_num(&p, 2);
                if (hour < 0 || hour > 23 || *p++ != ':') return bad(text, "the time is HH:MM");
                minute = read_num(&p, 2);
                if (minute < 0 || minute > 59 || *p) return bad(text, "the time is HH:MM");
            }
            have_time = 1;
        } else if (strcmp(tok, "utc") == 0 || strcmp(tok, "gmt") == 0 || strcmp(tok, "z") == 0) {
            w->utc = 1;
        } else if (strcmp(tok, "local") == 0) {
            w->utc = 0;
        } else {
            char why[96];
            snprintf(why, sizeof why, "unexpected '%s'", tok);
            return bad(text, why);
        }
    }
    (void)have_time;
    w->recurring = 1;
    snprintf(w->cron[0], sizeof w->cron[0], "%ld", minute);
    snprintf(w->cron[1], sizeof w->cron[1], period == 0 ? "*" : "%ld", hour);
    snprintf(w->cron[2], sizeof w->cron[2], period >= 3 ? "%ld" : "*", day < 0 ? 1 : day);
    snprintf(w->cron[3], sizeof w->cron[3], "%s",
             period == 4   ? "1,4,7,10"
             : period == 5 ? "1"
                           : "*");
    snprintf(w->cron[4], sizeof w->cron[4], period == 2 ? "%ld" : "*", day < 0 ? 0 : day);
    const char *zone = w->utc ? " UTC" : "";
    long dom = day < 0 ? 1 : day;
    switch (period) {
    case 0:
        snprintf(w->desc, sizeof w->desc, "every hour at minute %02ld", minute);
        break;
    case 1:
        snprintf(w->desc, sizeof w->desc, "every day at %02ld:%02ld%s", hour, minute, zone);
        break;
    case 2:
        snprintf(w->desc, sizeof w->desc, "every %s at %02ld:%02ld%s", DAYS[day < 0 ? 0 : day],
                 hour, minute, zone);
        break;
    case 3:
        snprintf(w->desc, sizeof w->desc, "on day %ld of every month at %02ld:%02ld%s", dom, hour,
                 minute, zone);
        break;
    case 4:
        snprintf(w->desc, sizeof w->desc,
                 "on day %ld of January, April, July and October at %02ld:%02ld%s", dom, hour,
                 minute, zone);
        break;
    default:
        snprintf(w->desc, sizeof w->desc, "every year on January %ld at %02ld:%02ld%s", dom, hour,
                 minute, zone);
    }
    return MB_OK;
}

mb_err mb_schedule_parse(const char *text, mb_when *out) {
    memset(out, 0, sizeof *out);
    char s[256];
    size_t n = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\t') p++;
    for (; *p && n + 3 < sizeof s; p++) {
        /* "@02:00" and "daily@02:00": '@' becomes a word of its own, except a leading cron
         * nickname such as "@daily". */
        if (*p == '@' && n > 0) {
            s[n++] = ' ';
            s[n++] = '@';
            s[n++] = ' ';
            continue;
        }
        s[n++] = (char)tolower((unsigned char)*p);
    }
    if (*p) return bad(text, "too long");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    s[n] = '\0';
    if (n == 0) return bad(text, "empty");
    if (s[0] == '@') {
        static const char *const NICK[][2] = {{"@hourly", "hourly"},   {"@daily", "daily"},
                                              {"@midnight", "daily"},  {"@weekly", "weekly"},
                                              {"@monthly", "monthly"}, {"@yearly", "yearly"},
                                              {"@annually", "yearly"}};
        for (size_t i = 0; i < sizeof NICK / sizeof NICK[0]; i++)
            if (strcmp(s, NICK[i][0]) == 0) {
                snprintf(s, sizeof s, "%s", NICK[i][1]);
                return parse_named(text, s, out);
            }
        return bad(text, "unknown cron nickname");
    }
    if (strlen(s) >= 10 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[3]) &&
        s[4] == '-' && s[7] == '-')
        return parse_iso(text, s, out);
    if (isalpha((unsigned char)s[0])) return parse_named(text, s, out);
    return parse_cron(text, s, out);
}

/* A field that is one plain number, else -1. */
static long plain(const char *f) {
    char *end = NULL;
    long v = strtol(f, &end, 10);
    return end != f && !*end ? v : -1;
}

mb_err mb_schedule_to_local(mb_when *w, long offset_s) {
    if (!w->recurring || !w->utc || offset_s == 0) return MB_OK;
    if (offset_s % 60 != 0)
        return mb_error_set(MB_EUSAGE,
                            "schedule: the local zone is %ld s from UTC, not whole "
                            "minutes; write the schedule in local time",
                            offset_s);
    long off_min = offset_s / 60, minute = plain(w->cron[0]), hour = plain(w->cron[1]);
    if (minute < 0 || (hour < 0 && strcmp(w->cron[1], "*") != 0))
        return mb_error_set(MB_EUSAGE,
                            "schedule: cannot move \"%s %s\" from UTC to local time; "
                            "write the schedule in local time",
                            w->cron[0], w->cron[1]);
    if (hour < 0) { /* hourly: only the minute moves */
        snprintf(w->cron[0], sizeof w->cron[0], "%ld", ((minute + off_min) % 60 + 60) % 60);
        w->utc = 0;
        return MB_OK;
    }
    long total = hour * 60 + minute + off_min;
    long day_shift = total >= 0 ? total / 1440 : -((-total + 1439) / 1440);
    total -= day_shift * 1440;
    if (day_shift != 0) {
        if (strcmp(w->cron[2], "*") != 0 || strcmp(w->cron[3], "*") != 0)
            return mb_error_set(MB_EUSAGE,
                                "schedule: %02ld:%02ld UTC falls on another day in local time "
                                "(UTC%+ld min), and this schedule names days of the month; "
                                "write it as cron in local time",
                                hour, minute, off_min);
        long dow = plain(w->cron[4]);
        if (dow >= 0)
            snprintf(w->cron[4], sizeof w->cron[4], "%ld", ((dow + day_shift) % 7 + 7) % 7);
        else if (strcmp(w->cron[4], "*") != 0)
            return mb_error_set(MB_EUSAGE,
                                "schedule: %02ld:%02ld UTC falls on another day in local time; "
                                "cannot move the weekdays '%s'; write it as cron in local time",
                                hour, minute, w->cron[4]);
    }
    snprintf(w->cron[0], sizeof w->cron[0], "%ld", total % 60);
    snprintf(w->cron[1], sizeof w->cron[1], "%ld", total / 60);
    w->utc = 0;
    return MB_OK;
}

void mb_schedule_cron(const mb_when *w, char *buf, int n) {
    snprintf(buf, (size_t)n, "%s %s %s %s %s", w->cron[0], w->cron[1], w->cron[2], w->cron[3],
             w->cron[4]);
}
