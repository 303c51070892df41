/*
 * cron.c — fire instants in a zone: the wall-clock search mapped onto the
 * zone's timeline one period (constant UTC offset) at a time.
 *
 * Within a period [S, E) with offset o that follows offset a:
 *  - a wall time W in [S+o, E+o) fires at W - o; if a > o (a fold), walls
 *    below S+a are second passes and count only when the hour field covers
 *    all 24 hours;
 *  - if a < o (a gap), the skipped walls [S+a, S+o) fire at W - a, which is
 *    W shifted later by the gap's length.
 * Every candidate is a member of the one set of fire instants, so taking the
 * least (greatest) candidate past the start gives next (prev), and the two
 * are exact inverses. A period with no candidate hands over to the next one;
 * since the calendar repeats every 400 years, a feasible expression finds a
 * candidate within a bounded number of periods.
 */
#include <string.h>

#include "base/civil.h"
#include "cron/cron_int.h"
#include "cron/search.h"

/* Wall times run from 0001-01-01 to the end of 9999-12-31. */
#define WALL_LIMIT (CIVIL_MAX_SECONDS + 1)
#define WALL_FLOOR CIVIL_MIN_SECONDS
/* Periods crossed before giving up; far more than 400 years of DST. */
#define PERIOD_LIMIT 100000

/* Keeps the least (or greatest) candidate; at equal instants a regular fire
 * wins over a DST-shifted one, since that is what the instant is. */
static void consider(cron_fire *best, bool *have, bool want_max, int64_t at, int64_t wall,
                     int32_t offset, bool shifted, bool repeat) {
  if (*have) {
    if (at == best->at) {
      if (!best->dst_shifted || shifted)
        return;
    } else if (want_max ? at < best->at : at > best->at) {
      return;
    }
  }
  best->at = at;
  best->wall = wall;
  best->offset = offset;
  best->dst_shifted = shifted;
  best->fold_repeat = repeat;
  *have = true;
}

cf_err cron_next(const cron_expr *e, const tz_zone *zone, int64_t after, cron_fire *out) {
  if (after >= CIVIL_MAX_SECONDS + 2 * CIVIL_SECONDS_PER_DAY)
    return CF_E_CRON_EXHAUSTED;
  int64_t t = after + 1; /* the first instant that may be returned */
  if (t < CIVIL_MIN_SECONDS - 2 * CIVIL_SECONDS_PER_DAY)
    t = CIVIL_MIN_SECONDS - 2 * CIVIL_SECONDS_PER_DAY;
  bool every_hour = cron_every_hour(e);
  tz_period p;
  tz_zone_period(zone, t, &p);
  {
    /* The common case, answered without the general loop: no skipped
     * walls still ahead in this period and no second pass to leave out,
     * and the next matching wall falls inside the period. */
    int32_t o = p.offset, a = p.prev_offset;
    if (a == o || (a < o && t - p.start >= (int64_t)(o - a)) ||
        (a > o && (every_hour || t + o >= p.start + a))) {
      int64_t w;
      if (cron_search_wall_next(e, t + o, WALL_LIMIT, &w) &&
          (p.end == INT64_MAX || w < p.end + o)) {
        out->at = w - o;
        out->wall = w;
        out->offset = o;
        out->dst_shifted = false;
        out->fold_repeat = a > o && w < p.start + a;
        return CF_OK;
      }
    }
  }
  cron_fire best;
  bool have = false;
  memset(&best, 0, sizeof best);
  for (int guard = 0; guard < PERIOD_LIMIT; guard++) {
    int32_t o = p.offset, a = p.prev_offset;
    int64_t from = t > p.start ? t : p.start;
    int64_t w;
    if (a < o && from - p.start < (int64_t)(o - a) &&
        cron_search_wall_next(e, from + a, WALL_LIMIT, &w) && w < p.start + o)
      consider(&best, &have, false, w - a, w, o, true, false);
    int64_t wall_from = from + o;
    if (a > o && !every_hour && wall_from < p.start + a)
      wall_from = p.start + a;
    bool found = cron_search_wall_next(e, wall_from, WALL_LIMIT, &w);
    if (found && (p.end == INT64_MAX || w < p.end + o)) {
      consider(&best, &have, false, w - o, w, o, false, a > o && w < p.start + a);
      *out = best;
      return CF_OK;
    }
    if (have && best.at < p.end) {
      *out = best;
      return CF_OK;
    }
    if (!found || p.end == INT64_MAX)
      break;
    t = p.end;
    tz_zone_period(zone, t, &p);
  }
  if (have) {
    *out = best;
    return CF_OK;
  }
  return CF_E_CRON_EXHAUSTED;
}

cf_err cron_prev(const cron_expr *e, const tz_zone *zone, int64_t before, cron_fire *out) {
  if (before <= CIVIL_MIN_SECONDS - 2 * CIVIL_SECONDS_PER_DAY)
    return CF_E_CRON_EXHAUSTED;
  int64_t t = before - 1; /* the last instant that may be returned */
  if (t > CIVIL_MAX_SECONDS + 2 * CIVIL_SECONDS_PER_DAY)
    t = CIVIL_MAX_SECONDS + 2 * CIVIL_SECONDS_PER_DAY;
  bool every_hour = cron_every_hour(e);
  tz_period p;
  tz_zone_period(zone, t, &p);
  cron_fire best;
  bool have = false;
  memset(&best, 0, sizeof best);
  for (int guard = 0; guard < PERIOD_LIMIT; guard++) {
    int32_t o = p.offset, a = p.prev_offset;
    int64_t to = t < p.end ? t : p.end - 1;
    bool bounded = p.start != INT64_MIN;
    int64_t lowest = !bounded ? INT64_MIN : (a > o && !every_hour) ? p.start + a : p.start + o;
    int64_t w;
    bool found = cron_search_wall_prev(e, to + o, WALL_FLOOR, &w);
    if (found && w >= lowest)
      consider(&best, &have, true, w - o, w, o, false, bounded && a > o && w < p.start + a);
    if (bounded && a < o) {
      int64_t hi = to + a < p.start + o - 1 ? to + a : p.start + o - 1;
      if (hi >= p.start + a && cron_search_wall_prev(e, hi, WALL_FLOOR, &w) && w >= p.start + a)
        consider(&best, &have, true, w - a, w, o, true, false);
    }
    if (have) {
      *out = best;
      return CF_OK;
    }
    if (!found || !bounded)
      break;
    t = p.start - 1;
    tz_zone_period(zone, t, &p);
  }
  return CF_E_CRON_EXHAUSTED;
}
