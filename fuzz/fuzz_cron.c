/*
 * fuzz_cron.c — the cron parser, describer and next/prev search under
 * arbitrary input.
 *
 * Input: an expression, optionally followed by a NUL byte and parameter
 * bytes (the seed `H` hashes, the zone, the start instants). Without
 * parameters they are drawn from a hash of the expression, so a corpus of
 * plain text files still reaches every zone and instant.
 *
 * Invariants (CHECK, which aborts), on UTC, America/New_York and one zone
 * with odd DST picked from the input:
 *  - a failed parse says why (a message, a field, a column inside the text);
 *  - describe fits in 512 bytes, is NUL-terminated at every capacity and
 *    reports the same length at every capacity;
 *  - next(t) > t, prev(t) < t, and the two are exact inverses around any t:
 *    if n = next(t) then prev(n + 1) == n, prev(n) <= t and next(prev(n))
 *    == n (mirrored for prev);
 *  - a fire agrees with the zone: its offset is the zone's offset at its
 *    instant, and resolving its wall time gives back its instant (a gap for
 *    DST-shifted fires, the second pass of a fold for repeats);
 *  - a parsed expression fires in every 400-year window, so next and prev
 *    run dry only near the ends of years 1-9999.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "cron/cron.h"
#include "fuzz.h"
#include "tz/tz.h"

/* Longer texts only exercise the length check; keep copies cheap. */
#define TEXT_CAP 4096
/* The parser takes at most 1,024 bytes; no description of that is longer. */
#define DESCRIBE_MAX (64 * 1024)

/* Zones whose DST is unusual: half-hour shifts, a skipped day, negative
 * DST, a two-hour jump, DST switched off and on again for Ramadan. */
static const char *const odd_zones[] = {
    "Australia/Lord_Howe", "Pacific/Apia",      "Europe/Dublin", "Antarctica/Troll",
    "Africa/Casablanca",   "America/Sao_Paulo", "Asia/Kolkata",  "Europe/London",
};
#define ODD_ZONES (sizeof odd_zones / sizeof *odd_zones)

typedef struct zones {
  const tz_zone *new_york;
  const tz_zone *odd[ODD_ZONES];
} zones;

/* Loaded once per process and kept: the db is never freed, so zones stay
 * valid (and reachable, so leak checkers stay quiet). Without tzdata the
 * fuzzer still runs, on UTC alone. */
static const zones *load_zones(void) {
  static zones z;
  static bool loaded;
  if (loaded)
    return &z;
  loaded = true;
  static tz_db *db;
  z.new_york = tz_utc();
  for (size_t i = 0; i < ODD_ZONES; i++)
    z.odd[i] = tz_utc();
  if (tz_db_open(NULL, &db) != CF_OK)
    return &z;
  const tz_zone *found;
  if (tz_db_zone(db, "America/New_York", &found) == CF_OK)
    z.new_york = found;
  for (size_t i = 0; i < ODD_ZONES; i++)
    if (tz_db_zone(db, odd_zones[i], &found) == CF_OK)
      z.odd[i] = found;
  return &z;
}

/* Parameters: bytes from the input while they last, then a hash stream. */
typedef struct source {
  const uint8_t *p;
  size_t n;
  uint64_t state;
} source;

static uint64_t mix(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

static uint64_t draw(source *s) {
  uint64_t v = 0;
  size_t take = s->n < 8 ? s->n : 8;
  if (take) { /* never p + 0 on a NULL p: that is undefined too */
    for (size_t i = 0; i < take; i++)
      v = v << 8 | s->p[i];
    s->p += take;
    s->n -= take;
  }
  if (take == 8)
    return v;
  s->state = mix(s->state ^ v);
  return s->state;
}

static uint64_t fnv1a(const uint8_t *data, size_t size) {
  uint64_t h = UINT64_C(0xCBF29CE484222325);
  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * UINT64_C(0x100000001B3);
  return h;
}

static int64_t utc(int64_t year, int month, int day, int hour, int minute) {
  civil_time t = {year, month, day, hour, minute, 0};
  return civil_to_seconds(&t);
}

/* Instants where calendars and zones do something: DST changes in the
 * chosen zones, leap days, the ends of the supported range. */
static int64_t interesting(uint64_t pick) {
  const int64_t at[] = {
      0,
      utc(2024, 3, 10, 7, 0),    /* New York springs forward */
      utc(2024, 11, 3, 6, 0),    /* New York falls back */
      utc(2024, 4, 6, 15, 0),    /* Lord Howe's half-hour fold */
      utc(2024, 10, 5, 15, 30),  /* Lord Howe's half-hour gap */
      utc(2011, 12, 30, 10, 0),  /* Apia skips 30 December */
      utc(2024, 3, 31, 1, 0),    /* Europe springs forward */
      utc(2024, 10, 27, 1, 0),   /* Europe falls back */
      utc(2024, 3, 31, 1, 0),    /* Troll jumps two hours */
      utc(2024, 2, 29, 0, 0),    /* a leap day */
      utc(2100, 2, 28, 0, 0),    /* a century without one */
      utc(2000, 2, 29, 12, 0),   /* a century with one */
      utc(1969, 12, 31, 23, 59), /* negative seconds */
      CIVIL_MIN_SECONDS,
      CIVIL_MIN_SECONDS + 2 * CIVIL_SECONDS_PER_DAY,
      CIVIL_MAX_SECONDS,
      CIVIL_MAX_SECONDS - 2 * CIVIL_SECONDS_PER_DAY,
  };
  return at[pick % (sizeof at / sizeof *at)];
}

static void check_describe(const cron_expr *e, uint64_t pick) {
  char *full = cron_describe_alloc(e);
  CHECK(full != NULL);
  size_t len = strlen(full);
  CHECK(len < DESCRIBE_MAX);
  CHECK(cron_describe(e, NULL, 0) == len);
  /* A cut copy in a buffer of exactly its capacity, so that ASan sees any
   * write past it; the text is a prefix of the full one. */
  size_t cap = 1 + (size_t)(pick % (len + 2));
  char *cut = malloc(cap);
  CHECK(cut != NULL);
  CHECK(cron_describe(e, cut, cap) == len);
  size_t kept = len < cap ? len : cap - 1;
  CHECK(strlen(cut) == kept);
  CHECK(memcmp(cut, full, kept) == 0);
  free(cut);
  free(full);
}

/* A fire agrees with its zone. Only meaningful for real tzdata zones. */
static void check_fire(const cron_expr *e, const tz_zone *z, const cron_fire *f) {
  CHECK(f->offset == tz_zone_offset(z, f->at));
  CHECK(!(f->dst_shifted && f->fold_repeat));
  tz_local_info li;
  tz_zone_resolve(z, f->wall, &li);
  if (f->dst_shifted) {
    CHECK(li.kind == TZ_LOCAL_GAP);
    CHECK(li.earliest == f->at);
  } else if (f->fold_repeat) {
    CHECK(cron_every_hour(e));
    CHECK(li.kind == TZ_LOCAL_FOLD);
    CHECK(li.latest == f->at);
    CHECK(f->wall == f->at + f->offset);
  } else {
    CHECK(li.kind != TZ_LOCAL_GAP);
    CHECK(li.earliest == f->at);
    CHECK(f->wall == f->at + f->offset);
  }
}

static bool same_fire(const cron_fire *a, const cron_fire *b) {
  return a->at == b->at && a->wall == b->wall && a->offset == b->offset &&
         a->dst_shifted == b->dst_shifted && a->fold_repeat == b->fold_repeat;
}

/* Every 400 years hold a fire; allow a margin for zone offsets. */
static const int64_t late_limit_year = 9590, early_limit_year = 410;

/* next(t) and its neighbours; returns false when there is none. */
static bool check_next(const cron_expr *e, const tz_zone *z, int64_t t, cron_fire *n) {
  cf_err rc = cron_next(e, z, t, n);
  if (rc == CF_E_CRON_EXHAUSTED) {
    CHECK(t > utc(late_limit_year, 1, 1, 0, 0));
    return false;
  }
  CHECK(rc == CF_OK);
  CHECK(n->at > t);
  check_fire(e, z, n);
  cron_fire back, again;
  CHECK(cron_prev(e, z, n->at + 1, &again) == CF_OK);
  CHECK(same_fire(&again, n));
  rc = cron_prev(e, z, n->at, &back);
  if (rc == CF_OK) {
    CHECK(back.at <= t);
    CHECK(cron_next(e, z, back.at, &again) == CF_OK);
    CHECK(same_fire(&again, n));
  } else {
    CHECK(rc == CF_E_CRON_EXHAUSTED);
    CHECK(n->at < utc(early_limit_year, 1, 1, 0, 0));
  }
  return true;
}

static void check_prev(const cron_expr *e, const tz_zone *z, int64_t t) {
  cron_fire p, fwd, again;
  cf_err rc = cron_prev(e, z, t, &p);
  if (rc == CF_E_CRON_EXHAUSTED) {
    CHECK(t < utc(early_limit_year, 1, 1, 0, 0));
    return;
  }
  CHECK(rc == CF_OK);
  CHECK(p.at < t);
  check_fire(e, z, &p);
  CHECK(cron_next(e, z, p.at - 1, &again) == CF_OK);
  CHECK(same_fire(&again, &p));
  rc = cron_next(e, z, p.at, &fwd);
  if (rc == CF_OK) {
    CHECK(fwd.at >= t);
    CHECK(cron_prev(e, z, fwd.at, &again) == CF_OK);
    CHECK(same_fire(&again, &p));
  } else {
    CHECK(rc == CF_E_CRON_EXHAUSTED);
    CHECK(p.at > utc(late_limit_year, 1, 1, 0, 0));
  }
}

static void check_around(const cron_expr *e, const tz_zone *z, int64_t t) {
  cron_fire n;
  (void)check_next(e, z, t, &n);
  check_prev(e, z, t);
}

/* A run of consecutive fires, each strictly after the last. */
static void check_chain(const cron_expr *e, const tz_zone *z, int64_t t) {
  cron_fire n;
  for (int i = 0; i < 4; i++) {
    if (!check_next(e, z, t, &n))
      return;
    t = n.at;
  }
}

static void check_error(const char *text, cf_err rc, const cron_error *err) {
  CHECK(rc == CF_E_CRON_SYNTAX || rc == CF_E_CRON_NEVER);
  size_t msg = strnlen(err->message, sizeof err->message);
  CHECK(msg > 0 && msg < sizeof err->message);
  CHECK(err->field >= CRON_FIELD_NONE && err->field <= CRON_FIELD_DAY_OF_WEEK);
  /* A column points into the text or just past it (nickname expansions
   * are valid, so no error points into one). */
  size_t len = strlen(text);
  CHECK(err->column >= 0 && (size_t)err->column <= len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t text_len = 0;
  while (text_len < size && data[text_len] != 0)
    text_len++;
  size_t copy = text_len < TEXT_CAP ? text_len : TEXT_CAP;
  char *text = malloc(copy + 1);
  if (!text)
    return 0;
  memcpy(text, data, copy);
  text[copy] = '\0';

  source src = {NULL, 0, fnv1a(data, size)};
  if (text_len < size) {
    src.p = data + text_len + 1;
    src.n = size - text_len - 1;
  }
  uint64_t seed = draw(&src);
  cron_expr *e = NULL;
  cron_error err;
  cf_err rc = cron_parse(text, seed, &e, &err);
  if (rc != CF_OK) {
    CHECK(e == NULL);
    check_error(text, rc, &err);
    /* Parsing must not depend on whether an error is wanted. */
    CHECK(cron_parse(text, seed, &e, NULL) == rc && e == NULL);
    free(text);
    return 0;
  }
  CHECK(e != NULL);
  check_describe(e, draw(&src));

  const zones *zs = load_zones();
  const tz_zone *zone_list[3] = {tz_utc(), zs->new_york, zs->odd[draw(&src) % ODD_ZONES]};
  int64_t near = interesting(draw(&src)) + (int64_t)(draw(&src) % (2 * 3600 + 1)) - 3600;
  int64_t lo = utc(1900, 1, 1, 0, 0), hi = utc(2200, 1, 1, 0, 0);
  int64_t modern = lo + (int64_t)(draw(&src) % (uint64_t)(hi - lo));
  int64_t wide_lo = CIVIL_MIN_SECONDS - 3 * CIVIL_SECONDS_PER_DAY;
  int64_t wide_hi = CIVIL_MAX_SECONDS + 3 * CIVIL_SECONDS_PER_DAY;
  int64_t wide = wide_lo + (int64_t)(draw(&src) % (uint64_t)(wide_hi - wide_lo));
  for (size_t i = 0; i < 3; i++) {
    check_around(e, zone_list[i], near);
    check_around(e, zone_list[i], modern);
    check_around(e, zone_list[i], wide);
  }
  check_chain(e, zone_list[2], near);
  cron_free(e);
  free(text);
  return 0;
}
