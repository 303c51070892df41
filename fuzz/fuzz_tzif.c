/*
 * fuzz_tzif.c — TZif parsing (tz_zone_parse) and the timeline it builds,
 * under arbitrary bytes.
 *
 * Input: the bytes of a TZif file. Instants to probe come from a hash of the
 * input plus the ends of the ranges that matter.
 *
 * Invariants (CHECK, which aborts):
 *  - a rejected file says why (a non-empty reason) and yields no zone;
 *  - a period contains the instant asked about, start < end, its offset is
 *    within RFC 8536's bounds, and its abbreviation is a string;
 *  - periods tile the timeline: the period at `end` starts at `end` and its
 *    prev_offset is this period's offset (walked both ways);
 *  - resolving a wall time agrees with the periods: UNIQUE and FOLD
 *    instants show that wall time, a FOLD's two instants are ordered, a
 *    GAP's wall time falls between the offsets around its transition;
 *  - cron_next/cron_prev on the zone stay ordered and exact inverses.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "cron/cron.h"
#include "fuzz.h"
#include "tz/tz.h"

/* RFC 8536 section 3.2; tz.c rejects anything outside. */
#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599
/* tz.h promises overflow-free arithmetic within +-2^62; stay inside. */
#define SPAN       (INT64_C(1) << 61)
#define WALK_STEPS 6

static uint64_t mix(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

static uint64_t fnv1a(const uint8_t *data, size_t size) {
  uint64_t h = UINT64_C(0xCBF29CE484222325);
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * UINT64_C(0x100000001B3);
  return h;
}

static void check_period_shape(const tz_period *p, int64_t t) {
  CHECK(p->start <= t && t < p->end);
  CHECK(p->start < p->end);
  CHECK(p->offset >= OFFSET_MIN && p->offset <= OFFSET_MAX);
  CHECK(p->prev_offset >= OFFSET_MIN && p->prev_offset <= OFFSET_MAX);
  CHECK(p->abbr != NULL);
  CHECK(strlen(p->abbr) < 1024);
}

/* The period at t, then its neighbours a few steps each way. */
static void check_periods(const tz_zone *z, int64_t t) {
  tz_period p, q;
  tz_zone_period(z, t, &p);
  check_period_shape(&p, t);
  CHECK(tz_zone_offset(z, t) == p.offset);
  tz_period walk = p;
  for (int i = 0; i < WALK_STEPS && walk.end < SPAN; i++) {
    tz_zone_period(z, walk.end, &q);
    check_period_shape(&q, walk.end);
    CHECK(q.start == walk.end);
    CHECK(q.prev_offset == walk.offset);
    walk = q;
  }
  walk = p;
  for (int i = 0; i < WALK_STEPS && walk.start > -SPAN; i++) {
    tz_zone_period(z, walk.start - 1, &q);
    check_period_shape(&q, walk.start - 1);
    CHECK(q.end == walk.start);
    CHECK(walk.prev_offset == q.offset);
    walk = q;
  }
}

static void check_resolve(const tz_zone *z, int64_t local) {
  tz_local_info li;
  tz_zone_resolve(z, local, &li);
  switch (li.kind) {
  case TZ_LOCAL_UNIQUE:
    CHECK(li.earliest == li.latest);
    CHECK(li.earliest + tz_zone_offset(z, li.earliest) == local);
    break;
  case TZ_LOCAL_FOLD:
    CHECK(li.earliest < li.latest);
    CHECK(li.earliest + tz_zone_offset(z, li.earliest) == local);
    CHECK(li.latest + tz_zone_offset(z, li.latest) == local);
    CHECK(li.offset_before > li.offset_after);
    break;
  case TZ_LOCAL_GAP:
    CHECK(li.earliest == li.latest);
    CHECK(li.offset_before < li.offset_after);
    CHECK(li.earliest == local - li.offset_before);
    CHECK(tz_zone_offset(z, li.transition) == li.offset_after);
    CHECK(tz_zone_offset(z, li.transition - 1) == li.offset_before);
    /* The wall time lies in the jump at the transition. */
    CHECK(li.transition + li.offset_before <= local);
    CHECK(local < li.transition + li.offset_after);
    break;
  default: CHECK(false);
  }
}

/* Schedules that land in gaps and folds: daily at 02:30 (first pass of a
 * fold only) and every 7 minutes (both passes). Parsed once. */
static const char *const schedules[] = {"30 2 * * *", "*/7 * * * *", "0 0 L * *"};
#define SCHEDULES (sizeof schedules / sizeof *schedules)

static const cron_expr *schedule(size_t i) {
  static cron_expr *parsed[SCHEDULES];
  if (!parsed[i])
    CHECK(cron_parse(schedules[i], 0, &parsed[i], NULL) == CF_OK);
  return parsed[i];
}

static bool same_fire(const cron_fire *a, const cron_fire *b) {
  return a->at == b->at && a->wall == b->wall && a->offset == b->offset &&
         a->dst_shifted == b->dst_shifted && a->fold_repeat == b->fold_repeat;
}

static void check_cron(const cron_expr *e, const tz_zone *z, int64_t t) {
  cron_fire n, p, again;
  if (cron_next(e, z, t, &n) == CF_OK) {
    CHECK(n.at > t);
    CHECK(n.offset == tz_zone_offset(z, n.at));
    CHECK(cron_prev(e, z, n.at + 1, &again) == CF_OK);
    CHECK(same_fire(&again, &n));
    if (cron_prev(e, z, n.at, &p) == CF_OK) {
      CHECK(p.at <= t);
      CHECK(cron_next(e, z, p.at, &again) == CF_OK);
      CHECK(same_fire(&again, &n));
    }
  }
  if (cron_prev(e, z, t, &p) == CF_OK) {
    CHECK(p.at < t);
    CHECK(p.offset == tz_zone_offset(z, p.at));
    CHECK(cron_next(e, z, p.at - 1, &again) == CF_OK);
    CHECK(same_fire(&again, &p));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tz_zone *z = NULL;
  char why[128];
  why[0] = '\0';
  cf_err rc = tz_zone_parse("fuzz/zone", data, size, &z, why, sizeof why);
  if (rc != CF_OK) {
    CHECK(rc == CF_E_TZ_CORRUPT || rc == CF_E_NOMEM);
    CHECK(z == NULL);
    CHECK(rc == CF_E_NOMEM || why[0] != '\0');
    return 0;
  }
  CHECK(z != NULL);
  CHECK(strcmp(tz_zone_name(z), "fuzz/zone") == 0);

  uint64_t h = fnv1a(data, size);
  civil_time y2024 = {2024, 3, 10, 7, 0, 0};
  int64_t fixed[] = {
      0,
      -1,
      civil_to_seconds(&y2024),
      CIVIL_MIN_SECONDS,
      CIVIL_MAX_SECONDS,
      /* Around a 32-bit file's horizon, and past any explicit transition. */
      INT32_MIN,
      INT32_MAX,
      INT64_C(1) << 40,
      -(INT64_C(1) << 40),
  };
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
    check_periods(z, fixed[i]);
    check_resolve(z, fixed[i]);
  }
  for (int i = 0; i < 4; i++) {
    h = mix(h);
    /* Mostly the years people schedule in, sometimes anywhere. */
    int64_t t = (i < 3) ? (int64_t)(h % (UINT64_C(1) << 34)) - (INT64_C(1) << 33)
                        : (int64_t)(h % (2 * (uint64_t)SPAN)) - SPAN;
    check_periods(z, t);
    check_resolve(z, t);
  }
  h = mix(h);
  int64_t lo = CIVIL_MIN_SECONDS, hi = CIVIL_MAX_SECONDS;
  int64_t t = lo + (int64_t)(h % (uint64_t)(hi - lo));
  int64_t recent = (int64_t)(mix(h) % (UINT64_C(1) << 32));
  for (size_t i = 0; i < SCHEDULES; i++) {
    check_cron(schedule(i), z, t);
    check_cron(schedule(i), z, recent);
  }
  tz_zone_free(z);
  return 0;
}
