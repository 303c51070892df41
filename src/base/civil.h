/*
 * civil.h — proleptic Gregorian calendar arithmetic and ISO-8601 text.
 *
 * Pure functions, no I/O, no global state, all thread-safe. A "seconds" value
 * is a count of seconds since 1970-01-01T00:00:00 on some clock: a UTC
 * instant, or a local wall-clock time counted as if it were UTC (the cron and
 * tz modules work in both and never mix them up by name: *_utc vs *_local).
 * Years are supported from 1 to 9999, the range of ISO-8601's four digits.
 */
#ifndef CF_BASE_CIVIL_H
#define CF_BASE_CIVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define CIVIL_SECONDS_PER_DAY 86400
/* 0001-01-01T00:00:00 and 9999-12-31T23:59:59 as seconds since 1970. */
#define CIVIL_MIN_SECONDS INT64_C(-62135596800)
#define CIVIL_MAX_SECONDS INT64_C(253402300799)

typedef struct civil_time {
  int64_t year;
  int month;  /* 1-12 */
  int day;    /* 1-31 */
  int hour;   /* 0-23 */
  int minute; /* 0-59 */
  int second; /* 0-59 */
} civil_time;

bool civil_is_leap(int64_t year);
int civil_days_in_month(int64_t year, int month);
/* Days since 1970-01-01 of a date; month 1-12, day may run past the month
 * (it is counted on from the month's first day). */
int64_t civil_days_from_date(int64_t year, int month, int day);
void civil_date_from_days(int64_t days, int64_t *year, int *month, int *day);
/* 0 = Sunday ... 6 = Saturday. */
int civil_weekday(int64_t days);

void civil_from_seconds(int64_t seconds, civil_time *out);
int64_t civil_to_seconds(const civil_time *t);

/* Floor division and modulo that round towards minus infinity. */
static inline int64_t civil_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int64_t civil_floor_mod(int64_t a, int64_t b) {
  return a - civil_floor_div(a, b) * b;
}

/*
 * Writes "YYYY-MM-DDTHH:MM:SS+HH:MM" for the UTC instant `utc` shown at UTC
 * offset `offset` (seconds east). An offset with a seconds part (old local
 * mean times) is written "+HH:MM:SS". Returns the length written, or 0 when
 * `cap` is too small (buf then holds ""). Needs at most 32 bytes.
 */
size_t civil_format_iso(int64_t utc, int32_t offset, char *buf, size_t cap);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" for a UTC instant; like civil_format_iso. */
size_t civil_format_utc(int64_t utc, char *buf, size_t cap);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" for milliseconds since the epoch. */
void civil_format_utc_ms(int64_t ms, char *buf, size_t cap);

/*
 * Parses an ISO-8601 / RFC-3339 date-time: "YYYY-MM-DD", optionally followed
 * by "T" or a space and "HH:MM[:SS[.fraction]]", optionally followed by "Z"
 * or a numeric offset "+HH:MM", "+HHMM" or "+HH". Fractions have any number
 * of digits; nanoseconds keep the first nine.
 *
 * On success *seconds holds the instant in UTC when *has_offset is set, or
 * else the wall-clock time as local seconds (the caller resolves it in a
 * zone); *nanos holds the fraction. Returns CF_E_TIME_SYNTAX for text that is
 * not such a date-time (a message for people goes to err_buf when it is not
 * NULL) and CF_E_TIME_RANGE for years outside 1-9999.
 */
CF_MUST_CHECK cf_err civil_parse_iso(const char *text, int64_t *seconds, int32_t *nanos,
                                     bool *has_offset, char *err_buf, size_t err_cap);

#endif
