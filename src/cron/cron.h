/*
 * cron.h — cron expressions: parsing, next/previous fire instants in an IANA
 * zone, and a human description. Pure: no I/O, no global state.
 *
 * Syntax (docs/cron.md has the whole story): 5 fields (minute hour
 * day-of-month month day-of-week) or 6 (seconds first); lists, ranges,
 * steps (`N/step` means `N-max/step`; day-of-week's max is 7), month and day
 * names, 0 and 7 for Sunday, `L`, `L-n`, `nW`, `LW`, `L-nW` in day-of-month,
 * `nL` and `n#k` in day-of-week, `?`, `H` (hashed from a seed), nicknames.
 * When both day fields are restricted (anything but exactly `*` or `?`), a
 * day matches if either does.
 *
 * The fire instants of an expression in a zone form a fixed set of UTC
 * instants: every matching wall-clock time, where a wall time inside a DST
 * gap stands for the instant the gap's length later (02:30 -> 03:30) and a
 * wall time inside a fold fires at its first occurrence only, unless the
 * hour field covers all 24 hours (then at both). cron_next and cron_prev
 * walk that set, so they are exact inverses and their answers depend only on
 * (expression, zone, instant).
 *
 * A parsed expression is immutable: it may be shared between threads.
 */
#ifndef CF_CRON_CRON_H
#define CF_CRON_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "tz/tz.h"

typedef struct cron_expr cron_expr;

/* The longest expression text accepted, in bytes. */
#define CRON_TEXT_MAX 1024

typedef enum cron_field {
  CRON_FIELD_NONE = -1,
  CRON_FIELD_SECOND = 0,
  CRON_FIELD_MINUTE,
  CRON_FIELD_HOUR,
  CRON_FIELD_DAY_OF_MONTH,
  CRON_FIELD_MONTH,
  CRON_FIELD_DAY_OF_WEEK,
} cron_field;

typedef struct cron_error {
  cron_field field; /* the field at fault, or CRON_FIELD_NONE */
  int column;       /* 1-based column in the text, 0 when not about one */
  /* "minute field, column 3: 61 is out of range 0-59" */
  char message[256];
} cron_error;

/*
 * Parses `text`. `seed` is what `H` hashes (a schedule's id, so that many
 * `H * * * *` schedules spread over the hour). Returns CF_E_CRON_SYNTAX, or
 * CF_E_CRON_NEVER for an expression that can never fire (`0 0 30 2 *`), each
 * with `err` filled in when it is not NULL; CF_E_NOMEM. The caller owns *out
 * and frees it with cron_free. Thread-safe.
 */
CF_MUST_CHECK cf_err cron_parse(const char *text, uint64_t seed, cron_expr **out, cron_error *err);

/* Frees an expression; NULL is a no-op. */
void cron_free(cron_expr *expr);

typedef struct cron_fire {
  int64_t at;       /* the UTC instant */
  int64_t wall;     /* the wall time that matched, as local seconds; for a
                       DST-shifted fire, the skipped time it stands for */
  int32_t offset;   /* the zone's UTC offset at `at` */
  bool dst_shifted; /* moved later by a DST gap */
  bool fold_repeat; /* the second pass through a DST fold */
} cron_fire;

/*
 * The first fire instant strictly after `after` (UTC seconds). Returns
 * CF_E_CRON_EXHAUSTED when there is none up to the end of year 9999 (local
 * time). Thread-safe; never fails otherwise.
 */
CF_MUST_CHECK cf_err cron_next(const cron_expr *expr, const tz_zone *zone, int64_t after,
                               cron_fire *out);

/*
 * The last fire instant strictly before `before`. Returns
 * CF_E_CRON_EXHAUSTED when there is none from year 1 on. Thread-safe.
 */
CF_MUST_CHECK cf_err cron_prev(const cron_expr *expr, const tz_zone *zone, int64_t before,
                               cron_fire *out);

/* True when the expression has a seconds field (6 fields). */
bool cron_has_seconds(const cron_expr *expr);

/* True when the hour field covers all 24 hours (such schedules fire in both
 * passes of a DST fold). */
bool cron_every_hour(const cron_expr *expr);

/*
 * Writes an English description ("At 09:00, Monday through Friday") into
 * buf. Returns the length it needed; when that is >= cap the text is cut
 * (always NUL-terminated when cap > 0; buf may be NULL when cap is 0). A
 * long list of special days can need several kilobytes.
 */
size_t cron_describe(const cron_expr *expr, char *buf, size_t cap);

/* The description in a new string the caller frees; NULL when out of
 * memory. */
char *cron_describe_alloc(const cron_expr *expr);

#endif
