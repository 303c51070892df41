/*
 * test_cron.c — the cron module through its public API: error messages a
 * person can act on, descriptions, the day-field rules, DST behaviour, the
 * year-9999 limit, and the next/prev inverse property over random
 * expressions, zones and instants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/civil.h"
#include "cron/cron.h"
#include "tz/tz.h"

static tz_db *db;

static int setup(void **state) {
  (void)state;
  return tz_db_open(NULL, &db) == CF_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tz_db_free(db);
  return 0;
}

static const tz_zone *zone(const char *name) {
  const tz_zone *z = NULL;
  assert_int_equal(tz_db_zone(db, name, &z), CF_OK);
  return z;
}

static int64_t utc(int64_t y, int mo, int d, int h, int mi, int s) {
  return civil_days_from_date(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* Parses or fails the test with the parser's message. */
static cron_expr *parse(const char *text) {
  cron_expr *e = NULL;
  cron_error err;
  cf_err rc = cron_parse(text, 0, &e, &err);
  if (rc != CF_OK)
    fail_msg("'%s': %s", text, err.message);
  return e;
}

static void expect_error(const char *text, cf_err code, cron_field field, int column,
                         const char *message) {
  cron_expr *e = NULL;
  cron_error err;
  cf_err rc = cron_parse(text, 0, &e, &err);
  if (rc != code)
    fail_msg("'%s': expected %s, got %s (%s)", text, cf_errname(code), cf_errname(rc), err.message);
  assert_null(e);
  assert_int_equal(err.field, field);
  assert_int_equal(err.column, column);
  if (!strstr(err.message, message))
    fail_msg("'%s': message '%s' lacks '%s'", text, err.message, message);
}

static void test_errors_name_field_and_column(void **state) {
  (void)state;
  expect_error("0 61 * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 3,
               "minute field, column 3: 61 is out of range 0-59");
  expect_error("61 * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 1, "61 is out of range 0-59");
  expect_error("0 24 * * *", CF_E_CRON_SYNTAX, CRON_FIELD_HOUR, 3,
               "hour field, column 3: 24 is out of range 0-23");
  expect_error("0 0 0 * *", CF_E_CRON_SYNTAX, CRON_FIELD_DAY_OF_MONTH, 5, "0 is out of range 1-31");
  expect_error("0 0 * 13 *", CF_E_CRON_SYNTAX, CRON_FIELD_MONTH, 7, "13 is out of range 1-12");
  expect_error("0 0 * * 8", CF_E_CRON_SYNTAX, CRON_FIELD_DAY_OF_WEEK, 9, "8 is out of range 0-7");
  expect_error("60 * * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_SECOND, 1, "second field");
  expect_error("*/0 * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 3, "step must be 1 or more");
  expect_error("5-2 * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 1, "runs backwards");
  expect_error("0 0 * FOO *", CF_E_CRON_SYNTAX, CRON_FIELD_MONTH, 7, "unknown name 'FOO'");
  expect_error("0 0 * * MON-FOO", CF_E_CRON_SYNTAX, CRON_FIELD_DAY_OF_WEEK, 13, "unknown name");
  expect_error("1,,2 * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 3, "empty list item");
  expect_error("1, * * * *", CF_E_CRON_SYNTAX, CRON_FIELD_MINUTE, 3, "empty list item");
}

static void test_errors_for_shape(void **state) {
  (void)state;
  cron_expr *e = NULL;
  cron_error err;
  assert_int_equal(cron_parse("", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "empty expression"));
  assert_int_equal(cron_parse("   \t ", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("* * * *", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "4 fields"));
  assert_int_equal(cron_parse("* * * * * * *", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "too many fields"));
  assert_int_equal(err.column, 13);
  assert_int_equal(cron_parse("@fortnightly", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "unknown nickname"));
  assert_int_equal(cron_parse("@daily extra", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("0 0 * * \xff", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "0xFF"));
  assert_int_equal(err.column, 9);
  assert_int_equal(cron_parse("0 0 * * L", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "5L"));
  assert_int_equal(cron_parse("0 0 * * 1#L2", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("0 0 * * #3", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("0 0 * * 1#6", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("0 0 L-31 * *", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_int_equal(cron_parse("0 0 * * 99999999999999", 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "too large"));
  /* 10 KB of input: refused by size, not scanned. */
  char *big = malloc(10241);
  memset(big, '1', 10240);
  big[10240] = '\0';
  assert_int_equal(cron_parse(big, 0, &e, &err), CF_E_CRON_SYNTAX);
  assert_non_null(strstr(err.message, "longer than"));
  for (int i = 0; i < 10240; i++)
    big[i] = i % 2 ? ' ' : ',';
  assert_int_equal(cron_parse(big, 0, &e, &err), CF_E_CRON_SYNTAX);
  free(big);
  assert_null(e);
}

static void test_never_fires(void **state) {
  (void)state;
  expect_error("0 0 30 2 *", CF_E_CRON_NEVER, CRON_FIELD_DAY_OF_MONTH, 5, "never fire");
  expect_error("0 0 31 4,6,9,11 *", CF_E_CRON_NEVER, CRON_FIELD_DAY_OF_MONTH, 5, "never fire");
  expect_error("0 0 0 31 2 ?", CF_E_CRON_NEVER, CRON_FIELD_DAY_OF_MONTH, 7, "never fire");
  expect_error("0 0 L-29 2 *", CF_E_CRON_NEVER, CRON_FIELD_DAY_OF_MONTH, 5, "never fire");
  /* Feb 29 and the fifth Monday of February do happen. */
  cron_free(parse("0 0 29 2 *"));
  cron_free(parse("0 0 * 2 1#5"));
  /* With both day fields restricted, either may match. */
  cron_free(parse("0 0 30 2 1"));
}

static void test_describe(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"0 9 * * 1-5", "At 09:00, Monday through Friday"},
      {"0 9 * * MON-FRI", "At 09:00, Monday through Friday"},
      {"*/5 * * * *", "Every 5 minutes"},
      {"* * * * *", "Every minute"},
      {"0 * * * *", "Every hour"},
      {"30 2 * * *", "At 02:30"},
      {"0 0 1 * *", "At 00:00, on day 1 of the month"},
      {"0 0 L * *", "At 00:00, on the last day of the month"},
      {"0 12 * * 5L", "At 12:00, on the last Friday of the month"},
      {"0 12 * * 1#2", "At 12:00, on the second Monday of the month"},
      {"0 0 1 1 *", "At 00:00, on day 1 of the month, only in January"},
      {"15 10 * * 0", "At 10:15, only on Sunday"},
      {"0 9,17 * * *", "At 09:00 and 17:00"},
      {"0 0 15W * *", "At 00:00, on the weekday nearest day 15 of the month"},
      {"0 0 LW * *", "At 00:00, on the last weekday of the month"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cron_expr *e = parse(cases[i][0]);
    char buf[512];
    cron_describe(e, buf, sizeof buf);
    if (strcmp(buf, cases[i][1]) != 0)
      fail_msg("'%s': described as '%s', expected '%s'", cases[i][0], buf, cases[i][1]);
    cron_free(e);
  }
  /* A short buffer is cut, NUL-terminated, and the full length returned. */
  cron_expr *e = parse("0 9 * * 1-5");
  char small[8];
  size_t n = cron_describe(e, small, sizeof small);
  assert_int_equal(n, strlen("At 09:00, Monday through Friday"));
  assert_string_equal(small, "At 09:0");
  cron_free(e);
}

/* The next `count` instants from `from`, as UTC seconds. */
static void expect_next(const char *text, const char *zone_name, int64_t from, int count,
                        const int64_t *want) {
  cron_expr *e = parse(text);
  const tz_zone *z = zone(zone_name);
  int64_t t = from;
  for (int i = 0; i < count; i++) {
    cron_fire f;
    assert_int_equal(cron_next(e, z, t, &f), CF_OK);
    if (f.at != want[i]) {
      char got[40], exp[40];
      civil_format_iso(f.at, 0, got, sizeof got);
      civil_format_iso(want[i], 0, exp, sizeof exp);
      fail_msg("'%s' in %s, fire %d: got %s, expected %s", text, zone_name, i, got, exp);
    }
    t = f.at;
  }
  cron_free(e);
}

static void test_day_fields(void **state) {
  (void)state;
  /* Both restricted: the 13th OR any Friday (Sept 2024: Fri 6, 13, 20). */
  int64_t a[] = {utc(2024, 9, 6, 0, 0, 0), utc(2024, 9, 13, 0, 0, 0), utc(2024, 9, 20, 0, 0, 0)};
  expect_next("0 0 13 * 5", "UTC", utc(2024, 9, 1, 0, 0, 0), 3, a);
  /* Only day-of-week restricted: Fridays only. */
  int64_t b[] = {utc(2024, 9, 6, 0, 0, 0), utc(2024, 9, 13, 0, 0, 0)};
  expect_next("0 0 ? * FRI", "UTC", utc(2024, 9, 1, 0, 0, 0), 2, b);
  /* Only exactly `*` or `?` counts as unrestricted; a step over all days does not. */
  int64_t c[] = {utc(2024, 9, 2, 0, 0, 0), utc(2024, 9, 3, 0, 0, 0)};
  expect_next("0 0 */1 * 1", "UTC", utc(2024, 9, 1, 12, 0, 0), 2, c);
  /* 1/2 in day-of-week runs to 7 = Sunday: Mon, Wed, Fri, Sun. */
  int64_t d[] = {utc(2024, 9, 2, 0, 0, 0), utc(2024, 9, 4, 0, 0, 0), utc(2024, 9, 6, 0, 0, 0),
                 utc(2024, 9, 8, 0, 0, 0)};
  expect_next("0 0 * * 1/2", "UTC", utc(2024, 9, 1, 12, 0, 0), 4, d);
  /* L, L-2, LW, 15W around weekends; Feb 2024 has 29 days. */
  int64_t e[] = {utc(2024, 2, 29, 0, 0, 0), utc(2024, 3, 31, 0, 0, 0)};
  expect_next("0 0 L * *", "UTC", utc(2024, 2, 1, 0, 0, 0), 2, e);
  int64_t f[] = {utc(2024, 2, 27, 0, 0, 0), utc(2024, 3, 29, 0, 0, 0)};
  expect_next("0 0 L-2 * *", "UTC", utc(2024, 2, 1, 0, 0, 0), 2, f);
  /* Aug 31 2024 is a Saturday: LW is Friday the 30th. June 15 2024 is a
   * Saturday: 15W is Friday the 14th. Sept 1 2024 is a Sunday: 1W is
   * Monday the 2nd. */
  int64_t g[] = {utc(2024, 8, 30, 0, 0, 0)};
  expect_next("0 0 LW * *", "UTC", utc(2024, 8, 1, 0, 0, 0), 1, g);
  int64_t h[] = {utc(2024, 6, 14, 0, 0, 0)};
  expect_next("0 0 15W * *", "UTC", utc(2024, 6, 1, 0, 0, 0), 1, h);
  int64_t i[] = {utc(2024, 9, 2, 0, 0, 0)};
  expect_next("0 0 1W * *", "UTC", utc(2024, 8, 31, 0, 0, 0), 1, i);
  /* The third Saturday and the last Friday. */
  int64_t j[] = {utc(2024, 9, 21, 10, 15, 0), utc(2024, 10, 19, 10, 15, 0)};
  expect_next("15 10 ? * 6#3", "UTC", utc(2024, 9, 1, 0, 0, 0), 2, j);
  int64_t k[] = {utc(2024, 9, 27, 12, 0, 0), utc(2024, 10, 25, 12, 0, 0)};
  expect_next("0 12 * * FRIL", "UTC", utc(2024, 9, 1, 0, 0, 0), 2, k);
  expect_next("0 12 * * 5#L", "UTC", utc(2024, 9, 1, 0, 0, 0), 2, k);
  /* A day-of-week range may end on Sunday as 0: FRI-SUN is Fri, Sat, Sun. */
  int64_t w[] = {utc(2024, 9, 6, 0, 0, 0), utc(2024, 9, 7, 0, 0, 0), utc(2024, 9, 8, 0, 0, 0),
                 utc(2024, 9, 13, 0, 0, 0)};
  expect_next("0 0 * * FRI-SUN", "UTC", utc(2024, 9, 5, 0, 0, 0), 4, w);
  expect_next("0 0 * * 5-0", "UTC", utc(2024, 9, 5, 0, 0, 0), 4, w);
  /* `?` stands for `*` in any field. */
  int64_t q[] = {utc(2024, 9, 1, 0, 1, 0), utc(2024, 9, 1, 0, 2, 0)};
  expect_next("? * * * ?", "UTC", utc(2024, 9, 1, 0, 0, 0), 2, q);
  /* Leap days: Feb 29 every four years, skipping 2100. */
  int64_t l[] = {utc(2096, 2, 29, 0, 0, 0), utc(2104, 2, 29, 0, 0, 0)};
  expect_next("0 0 29 2 *", "UTC", utc(2095, 1, 1, 0, 0, 0), 2, l);
}

static void test_dst_rules(void **state) {
  (void)state;
  /* New York spring 2024-03-10: 02:30 fires once at 03:30 EDT. */
  int64_t a[] = {utc(2024, 3, 9, 7, 30, 0), utc(2024, 3, 10, 7, 30, 0), utc(2024, 3, 11, 6, 30, 0)};
  expect_next("30 2 * * *", "America/New_York", utc(2024, 3, 9, 0, 0, 0), 3, a);
  /* ... and when 03:30 is itself a fire, only once. */
  int64_t b[] = {utc(2024, 3, 10, 7, 30, 0), utc(2024, 3, 11, 6, 30, 0)};
  expect_next("30 2,3 * * *", "America/New_York", utc(2024, 3, 10, 6, 0, 0), 2, b);
  /* Fall back 2024-11-03: 01:30 daily fires once, at 01:30 EDT ... */
  int64_t c[] = {utc(2024, 11, 3, 5, 30, 0), utc(2024, 11, 4, 6, 30, 0)};
  expect_next("30 1 * * *", "America/New_York", utc(2024, 11, 3, 0, 0, 0), 2, c);
  /* ... while an hourly schedule fires in both passes. */
  int64_t d[] = {utc(2024, 11, 3, 5, 30, 0), utc(2024, 11, 3, 6, 30, 0),
                 utc(2024, 11, 3, 7, 30, 0)};
  expect_next("30 * * * *", "America/New_York", utc(2024, 11, 3, 5, 0, 0), 3, d);
  /* Lord Howe's 30-minute gap: 02:15 -> 02:45 (+11:00). */
  int64_t e[] = {utc(2024, 10, 5, 15, 45, 0)};
  expect_next("15 2 * * *", "Australia/Lord_Howe", utc(2024, 10, 5, 0, 0, 0), 1, e);
  /* Starting inside the second pass of a fold, a daily 01:30 waits a day. */
  int64_t f[] = {utc(2024, 11, 4, 6, 30, 0)};
  expect_next("30 1 * * *", "America/New_York", utc(2024, 11, 3, 6, 10, 0), 1, f);
}

static void test_limits(void **state) {
  (void)state;
  cron_expr *e = parse("0 0 1 1 *");
  cron_fire f;
  assert_int_equal(cron_next(e, tz_utc(), utc(9999, 1, 1, 0, 0, 0), &f), CF_E_CRON_EXHAUSTED);
  assert_int_equal(cron_next(e, tz_utc(), utc(9998, 6, 1, 0, 0, 0), &f), CF_OK);
  assert_int_equal(f.at, utc(9999, 1, 1, 0, 0, 0));
  assert_int_equal(cron_prev(e, tz_utc(), utc(1, 1, 1, 0, 0, 0), &f), CF_E_CRON_EXHAUSTED);
  assert_int_equal(cron_prev(e, tz_utc(), utc(1, 6, 1, 0, 0, 0), &f), CF_OK);
  assert_int_equal(f.at, utc(1, 1, 1, 0, 0, 0));
  cron_free(e);
  e = parse("59 59 23 31 12 *");
  assert_int_equal(cron_next(e, zone("America/New_York"), utc(9999, 6, 1, 0, 0, 0), &f), CF_OK);
  assert_int_equal(f.wall, CIVIL_MAX_SECONDS);
  assert_int_equal(cron_next(e, zone("America/New_York"), f.at, &f), CF_E_CRON_EXHAUSTED);
  cron_free(e);
}

static void test_hashed(void **state) {
  (void)state;
  cron_expr *a, *b;
  cron_error err;
  char da[512], db_[512];
  /* The same seed gives the same schedule; values stay in range. */
  int differ = 0;
  for (uint64_t seed = 0; seed < 200; seed++) {
    assert_int_equal(cron_parse("H H(9-17) H * H", seed, &a, &err), CF_OK);
    assert_int_equal(cron_parse("H H(9-17) H * H", seed, &b, &err), CF_OK);
    cron_fire fa, fb;
    assert_int_equal(cron_next(a, tz_utc(), 0, &fa), CF_OK);
    assert_int_equal(cron_next(b, tz_utc(), 0, &fb), CF_OK);
    assert_int_equal(fa.at, fb.at);
    civil_time ct;
    civil_from_seconds(fa.wall, &ct);
    assert_true(ct.hour >= 9 && ct.hour <= 17);
    assert_true(ct.day <= 28);
    cron_describe(a, da, sizeof da);
    if (seed > 0 && strcmp(da, db_) != 0)
      differ++;
    memcpy(db_, da, sizeof da);
    cron_free(a);
    cron_free(b);
  }
  /* Different seeds spread out. */
  assert_true(differ > 150);
  /* H/15 in minutes: four values 15 apart. */
  assert_int_equal(cron_parse("H/15 * * * *", 7, &a, &err), CF_OK);
  cron_fire f1, f2;
  assert_int_equal(cron_next(a, tz_utc(), 0, &f1), CF_OK);
  assert_int_equal(cron_next(a, tz_utc(), f1.at, &f2), CF_OK);
  assert_int_equal(f2.at - f1.at, 15 * 60);
  assert_true(f1.at < 15 * 60);
  cron_free(a);
}

/* next and prev are inverses, and no instant is skipped or repeated,
 * over random expressions, DST-heavy zones and start instants. */
static void test_inverse_property(void **state) {
  (void)state;
  static const char *const zones[] = {
      "America/New_York", "Europe/London",   "Australia/Lord_Howe", "Asia/Kolkata",
      "America/Santiago", "Pacific/Chatham", "Europe/Dublin",       "Pacific/Apia",
      "America/St_Johns", "Asia/Tehran",     "Africa/Casablanca",   "UTC"};
  static const char *const pieces[6][8] = {
      {"0", "*/20", "15,45", "0", "*", "30", "10-20/5", "0"},
      {"0", "30", "*/15", "*", "0,30", "5", "59", "1/7"},
      {"2", "1", "*", "0-3", "*/2", "23", "1,2,3", "*"},
      {"*", "1", "L", "15W", "L-3", "*", "29", "?"},
      {"*", "3,11", "*", "2", "10", "*", "4-10", "*"},
      {"*", "0", "5L", "1#2", "1-5", "?", "SAT,SUN", "*"},
  };
  uint64_t rng = 12345;
  int checked = 0;
  for (int iter = 0; iter < 1500; iter++) {
    char text[128];
    int idx[7];
    for (int k = 0; k < 7; k++) {
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      idx[k] = (int)(rng >> 33);
    }
    snprintf(text, sizeof text, "%s %s %s %s %s %s", pieces[0][idx[0] % 8], pieces[1][idx[1] % 8],
             pieces[2][idx[2] % 8], pieces[3][idx[3] % 8], pieces[4][idx[4] % 8],
             pieces[5][idx[5] % 8]);
    cron_expr *e;
    cron_error err;
    cf_err rc = cron_parse(text, 0, &e, &err);
    if (rc == CF_E_CRON_NEVER)
      continue;
    if (rc != CF_OK)
      fail_msg("'%s': %s", text, err.message);
    const tz_zone *z = zone(zones[idx[6] % 12]);
    /* Starts around DST seasons between 1995 and 2045. */
    int64_t t = utc(1995 + idx[0] % 50, 1 + idx[1] % 12, 1 + idx[2] % 28, idx[3] % 24, 0, 0);
    cron_fire f, back, fwd;
    int64_t prev_at = INT64_MIN;
    for (int step = 0; step < 6; step++) {
      rc = cron_next(e, z, t, &f);
      assert_int_equal(rc, CF_OK);
      assert_true(f.at > t);
      assert_true(f.at > prev_at);
      /* prev(next(t)) is at or before t, and next(prev(n)) == n. */
      assert_int_equal(cron_prev(e, z, f.at, &back), CF_OK);
      assert_true(back.at <= t);
      assert_int_equal(cron_next(e, z, back.at, &fwd), CF_OK);
      if (fwd.at != f.at)
        fail_msg("'%s' in %s: next(prev(%lld)) = %lld", text, tz_zone_name(z), (long long)f.at,
                 (long long)fwd.at);
      /* The instant is where the matched wall time maps. */
      assert_int_equal(tz_zone_offset(z, f.at), f.offset);
      if (!f.dst_shifted)
        assert_int_equal(f.at + f.offset, f.wall);
      prev_at = f.at;
      t = f.at;
      checked++;
    }
    cron_free(e);
  }
  assert_true(checked > 5000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors_name_field_and_column),
      cmocka_unit_test(test_errors_for_shape),
      cmocka_unit_test(test_never_fires),
      cmocka_unit_test(test_describe),
      cmocka_unit_test(test_day_fields),
      cmocka_unit_test(test_dst_rules),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_hashed),
      cmocka_unit_test(test_inverse_property),
  };
  return cmocka_run_group_tests_name("cron", tests, setup, teardown);
}
