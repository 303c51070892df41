/*
 * cron_int.h — the parsed form of a cron expression, shared by the parser,
 * the search (cron.c) and the describer (describe.c). Not for other modules.
 *
 * Every field is a bit set over its values; the day-of-month and
 * day-of-week special forms keep their own small sets. All of it is plain
 * data: an expression is immutable once parsed.
 */
#ifndef CF_CRON_CRON_INT_H
#define CF_CRON_CRON_INT_H

#include "cron/cron.h"

struct cron_expr {
  uint64_t second; /* bits 0-59 */
  uint64_t minute; /* bits 0-59 */
  uint32_t hour;   /* bits 0-23 */
  uint32_t dom;    /* bits 1-31: plain days of the month */
  uint16_t month;  /* bits 1-12 */
  uint8_t dow;     /* bits 0-6: plain weekdays, Sunday = 0 */

  uint32_t dom_last;         /* bit n: `L-n` (bit 0: `L`) */
  uint32_t dom_weekday;      /* bit n: `nW`, the weekday nearest day n */
  uint32_t dom_last_weekday; /* bit n: `L-nW` (bit 0: `LW`) */
  uint8_t dow_last;          /* bit w: `wL`, the last weekday w */
  uint8_t dow_nth[7];        /* bit k of [w]: `w#k`, the k-th weekday w */

  bool dom_star;    /* day-of-month is exactly `*` or `?` */
  bool dow_star;    /* day-of-week is exactly `*` or `?` */
  bool has_seconds; /* written with 6 fields */

  /* Derived once the fields are parsed. */
  bool every_day; /* every month, both day fields unrestricted */
  int first_tod;  /* the earliest matching time of day, in seconds */
  int last_tod;   /* the latest */
  /* The matching days of every kind of month, [days - 28][weekday of the
   * 1st]: every day rule depends on nothing else. */
  uint32_t day_masks[4][7];
};

#define CRON_ALL_SECONDS ((UINT64_C(1) << 60) - 1)
#define CRON_ALL_HOURS   ((UINT32_C(1) << 24) - 1)

#endif
