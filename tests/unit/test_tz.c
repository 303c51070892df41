/*
 * test_tz.c — zones from the system tzdata: offsets and periods around
 * transitions everyone can check (US, EU, southern hemisphere, Lord Howe's
 * half-hour DST, India without DST), the POSIX footer past the file's last
 * transition, local-time resolution in gaps and folds, bad names and bad
 * files, and concurrent loading.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/civil.h"
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

static int64_t utc(int64_t y, int mo, int d, int h, int mi) {
  return civil_days_from_date(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static const tz_zone *zone(const char *name) {
  const tz_zone *z = NULL;
  assert_int_equal(tz_db_zone(db, name, &z), CF_OK);
  assert_non_null(z);
  return z;
}

static void test_new_york_transitions(void **state) {
  (void)state;
  const tz_zone *ny = zone("America/New_York");
  tz_period p;
  /* Spring forward: 2024-03-10 07:00 UTC (02:00 EST -> 03:00 EDT). */
  tz_zone_period(ny, utc(2024, 3, 10, 6, 59) + 59, &p);
  assert_int_equal(p.offset, -5 * 3600);
  assert_string_equal(p.abbr, "EST");
  assert_int_equal(p.end, utc(2024, 3, 10, 7, 0));
  tz_zone_period(ny, utc(2024, 3, 10, 7, 0), &p);
  assert_int_equal(p.offset, -4 * 3600);
  assert_int_equal(p.prev_offset, -5 * 3600);
  assert_true(p.is_dst);
  assert_string_equal(p.abbr, "EDT");
  assert_int_equal(p.start, utc(2024, 3, 10, 7, 0));
  assert_int_equal(p.end, utc(2024, 11, 3, 6, 0));
  /* Far past the explicit data: the POSIX footer (second Sunday of March
   * 2100 is the 14th). */
  tz_zone_period(ny, utc(2100, 6, 1, 0, 0), &p);
  assert_int_equal(p.offset, -4 * 3600);
  assert_int_equal(p.start, utc(2100, 3, 14, 7, 0));
  assert_int_equal(p.end, utc(2100, 11, 7, 6, 0));
  assert_int_equal(p.prev_offset, -5 * 3600);
  assert_int_equal(tz_zone_offset(ny, utc(9999, 12, 31, 12, 0)), -5 * 3600);
  assert_int_equal(tz_zone_offset(ny, utc(9999, 7, 1, 12, 0)), -4 * 3600);
  /* Before standard time: local mean time -4:56:02. */
  assert_int_equal(tz_zone_offset(ny, utc(1800, 1, 1, 0, 0)), -(4 * 3600 + 56 * 60 + 2));
}

static void test_resolve_gap_and_fold(void **state) {
  (void)state;
  const tz_zone *ny = zone("America/New_York");
  tz_local_info li;
  tz_zone_resolve(ny, utc(2024, 3, 10, 2, 30), &li);
  assert_int_equal(li.kind, TZ_LOCAL_GAP);
  /* 02:30 does not exist; it stands for 03:30 EDT = 07:30 UTC. */
  assert_int_equal(li.earliest, utc(2024, 3, 10, 7, 30));
  assert_int_equal(li.transition, utc(2024, 3, 10, 7, 0));
  assert_int_equal(li.offset_before, -5 * 3600);
  assert_int_equal(li.offset_after, -4 * 3600);
  tz_zone_resolve(ny, utc(2024, 11, 3, 1, 30), &li);
  assert_int_equal(li.kind, TZ_LOCAL_FOLD);
  assert_int_equal(li.earliest, utc(2024, 11, 3, 5, 30));
  assert_int_equal(li.latest, utc(2024, 11, 3, 6, 30));
  assert_int_equal(li.transition, utc(2024, 11, 3, 6, 0));
  tz_zone_resolve(ny, utc(2024, 7, 4, 12, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_UNIQUE);
  assert_int_equal(li.earliest, utc(2024, 7, 4, 16, 0));
  /* The edges: 02:00 is in the gap, 03:00 is not; 01:00 folds, 02:00 not. */
  tz_zone_resolve(ny, utc(2024, 3, 10, 2, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_GAP);
  tz_zone_resolve(ny, utc(2024, 3, 10, 3, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_UNIQUE);
  assert_int_equal(li.earliest, utc(2024, 3, 10, 7, 0));
  tz_zone_resolve(ny, utc(2024, 11, 3, 1, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_FOLD);
  tz_zone_resolve(ny, utc(2024, 11, 3, 2, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_UNIQUE);
  assert_int_equal(li.earliest, utc(2024, 11, 3, 7, 0));
  /* Past the explicit data, through the footer. */
  tz_zone_resolve(ny, utc(2100, 3, 14, 2, 30), &li);
  assert_int_equal(li.kind, TZ_LOCAL_GAP);
  assert_int_equal(li.earliest, utc(2100, 3, 14, 7, 30));
  tz_zone_resolve(ny, utc(2100, 11, 7, 1, 30), &li);
  assert_int_equal(li.kind, TZ_LOCAL_FOLD);
}

static void test_other_zones(void **state) {
  (void)state;
  tz_local_info li;
  /* Lord Howe: +10:30, +11:00 in summer; 2024-10-06 02:00 -> 02:30. */
  const tz_zone *lh = zone("Australia/Lord_Howe");
  assert_int_equal(tz_zone_offset(lh, utc(2024, 7, 1, 0, 0)), 10 * 3600 + 1800);
  assert_int_equal(tz_zone_offset(lh, utc(2024, 12, 1, 0, 0)), 11 * 3600);
  tz_zone_resolve(lh, utc(2024, 10, 6, 2, 15), &li);
  assert_int_equal(li.kind, TZ_LOCAL_GAP);
  assert_int_equal(li.earliest + 11 * 3600, utc(2024, 10, 6, 2, 45));
  /* ... and back on 2024-04-07 at 02:00 -> 01:30. */
  tz_zone_resolve(lh, utc(2024, 4, 7, 1, 45), &li);
  assert_int_equal(li.kind, TZ_LOCAL_FOLD);
  assert_int_equal(li.latest - li.earliest, 1800);
  /* Kolkata: +05:30, no DST. */
  const tz_zone *in = zone("Asia/Kolkata");
  assert_int_equal(tz_zone_offset(in, utc(2024, 1, 1, 0, 0)), 5 * 3600 + 1800);
  assert_int_equal(tz_zone_offset(in, utc(2024, 7, 1, 0, 0)), 5 * 3600 + 1800);
  assert_int_equal(tz_zone_offset(in, utc(3000, 7, 1, 0, 0)), 5 * 3600 + 1800);
  /* Sydney: DST from the first Sunday of October. */
  const tz_zone *syd = zone("Australia/Sydney");
  tz_period p;
  tz_zone_period(syd, utc(2024, 10, 5, 16, 0), &p);
  assert_int_equal(p.offset, 11 * 3600);
  assert_int_equal(p.start, utc(2024, 10, 5, 16, 0)); /* 02:00 AEST */
  assert_int_equal(p.end, utc(2025, 4, 5, 16, 0));    /* 03:00 AEDT */
  /* London: BST from the last Sunday of March, 01:00 UTC. */
  const tz_zone *lon = zone("Europe/London");
  tz_zone_period(lon, utc(2024, 6, 1, 0, 0), &p);
  assert_int_equal(p.offset, 3600);
  assert_int_equal(p.start, utc(2024, 3, 31, 1, 0));
  assert_int_equal(p.end, utc(2024, 10, 27, 1, 0));
  /* Dublin's negative DST in the data still gives the right offsets. */
  const tz_zone *dub = zone("Europe/Dublin");
  assert_int_equal(tz_zone_offset(dub, utc(2024, 7, 1, 0, 0)), 3600);
  assert_int_equal(tz_zone_offset(dub, utc(2024, 1, 1, 0, 0)), 0);
  assert_int_equal(tz_zone_offset(dub, utc(2200, 7, 1, 0, 0)), 3600);
  /* Apia skipped 2011-12-30 entirely: a 24-hour gap. */
  const tz_zone *apia = zone("Pacific/Apia");
  tz_zone_resolve(apia, utc(2011, 12, 30, 12, 0), &li);
  assert_int_equal(li.kind, TZ_LOCAL_GAP);
  assert_int_equal(li.offset_after - li.offset_before, 24 * 3600);
}

static void test_names(void **state) {
  (void)state;
  const tz_zone *z;
  assert_int_equal(tz_db_zone(db, "Mars/Olympus_Mons", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "../../etc/passwd", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "/etc/passwd", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "America", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "zone.tab", &z), CF_E_TZ_UNKNOWN);
  assert_int_equal(tz_db_zone(db, "America/New_York\n", &z), CF_E_TZ_UNKNOWN);
  char long_name[300];
  memset(long_name, 'A', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_int_equal(tz_db_zone(db, long_name, &z), CF_E_TZ_UNKNOWN);
  /* Case-insensitive match gives the canonical zone. */
  assert_int_equal(tz_db_zone(db, "america/new_york", &z), CF_OK);
  assert_string_equal(tz_zone_name(z), "America/New_York");
  /* Loaded once: the same pointer every time. */
  const tz_zone *again;
  assert_int_equal(tz_db_zone(db, "America/New_York", &again), CF_OK);
  assert_ptr_equal(z, again);
  assert_int_equal(tz_db_zone(db, "UTC", &z), CF_OK);
  assert_int_equal(tz_zone_offset(z, 0), 0);
}

static void test_list(void **state) {
  (void)state;
  const char *const *names;
  size_t n;
  assert_int_equal(tz_db_list(db, &names, &n), CF_OK);
  assert_true(n > 300);
  bool ny = false, lh = false;
  for (size_t i = 0; i < n; i++) {
    if (i)
      assert_true(strcmp(names[i - 1], names[i]) < 0);
    assert_null(strstr(names[i], "posix/"));
    assert_null(strstr(names[i], "right/"));
    assert_null(strstr(names[i], ".tab"));
    ny |= strcmp(names[i], "America/New_York") == 0;
    lh |= strcmp(names[i], "Australia/Lord_Howe") == 0;
  }
  assert_true(ny && lh);
}

/* A minimal version 2 TZif file with no transitions and a footer. */
static size_t make_tzif(unsigned char *buf, const char *footer, int32_t offset) {
  size_t n = 0;
  for (int block = 0; block < 2; block++) {
    memcpy(buf + n, "TZif2", 5);
    memset(buf + n + 5, 0, 39);
    buf[n + 39] = 1; /* typecnt */
    buf[n + 43] = 4; /* charcnt */
    n += 44;
    buf[n++] = (unsigned char)((uint32_t)offset >> 24);
    buf[n++] = (unsigned char)((uint32_t)offset >> 16);
    buf[n++] = (unsigned char)((uint32_t)offset >> 8);
    buf[n++] = (unsigned char)offset;
    buf[n++] = 0; /* isdst */
    buf[n++] = 0; /* abbr index */
    memcpy(buf + n, "STD", 4);
    n += 4;
  }
  n += (size_t)sprintf((char *)buf + n, "\n%s\n", footer);
  return n;
}

static void test_footer_rules(void **state) {
  (void)state;
  unsigned char buf[256];
  tz_zone *z;
  char why[100];
  /* Julian-day rules without leap days, and a 24:00 transition time. */
  size_t n = make_tzif(buf, "<+0330>-3:30<+0430>,J79/24,J263/24", 12600);
  assert_int_equal(tz_zone_parse("Test/Julian", buf, n, &z, why, sizeof why), CF_OK);
  tz_period p;
  /* J79 is March 20 in every year; 24:00 local standard = 20:30 UTC. */
  tz_zone_period(z, utc(2030, 6, 1, 0, 0), &p);
  assert_int_equal(p.offset, 16200);
  assert_int_equal(p.start, utc(2030, 3, 20, 20, 30));
  tz_zone_period(z, utc(2032, 6, 1, 0, 0), &p); /* a leap year */
  assert_int_equal(p.start, utc(2032, 3, 20, 20, 30));
  tz_zone_free(z);
  /* Permanent DST written as a rule that never ends. */
  n = make_tzif(buf, "EST5EDT,0/0,J365/25", -18000);
  assert_int_equal(tz_zone_parse("Test/Permanent", buf, n, &z, why, sizeof why), CF_OK);
  assert_int_equal(tz_zone_offset(z, utc(2030, 1, 1, 12, 0)), -14400);
  assert_int_equal(tz_zone_offset(z, utc(2030, 7, 1, 12, 0)), -14400);
  assert_int_equal(tz_zone_offset(z, utc(2030, 12, 31, 23, 0)), -14400);
  tz_local_info li;
  tz_zone_resolve(z, utc(2031, 1, 1, 0, 30), &li);
  assert_int_equal(li.kind, TZ_LOCAL_UNIQUE);
  tz_zone_free(z);
  /* Southern hemisphere rule: DST wraps the new year. */
  n = make_tzif(buf, "AEST-10AEDT,M10.1.0,M4.1.0/3", 36000);
  assert_int_equal(tz_zone_parse("Test/South", buf, n, &z, why, sizeof why), CF_OK);
  assert_int_equal(tz_zone_offset(z, utc(2050, 1, 1, 0, 0)), 39600);
  assert_int_equal(tz_zone_offset(z, utc(2050, 7, 1, 0, 0)), 36000);
  tz_zone_free(z);
}

static void test_corrupt_files(void **state) {
  (void)state;
  unsigned char buf[256];
  tz_zone *z = NULL;
  char why[100];
  assert_int_equal(tz_zone_parse("x", (const unsigned char *)"hello", 5, &z, why, sizeof why),
                   CF_E_TZ_CORRUPT);
  assert_null(z);
  size_t n = make_tzif(buf, "EST5EDT,M3.2.0,M11.1.0", -18000);
  for (size_t cut = 0; cut < n - 1; cut++) {
    cf_err err = tz_zone_parse("x", buf, cut, &z, why, sizeof why);
    /* Every truncation is an error, except losing only the footer's end. */
    if (err == CF_OK) {
      assert_true(cut >= n - 24);
      tz_zone_free(z);
    } else {
      assert_int_equal(err, CF_E_TZ_CORRUPT);
    }
  }
  n = make_tzif(buf, "EST5EDT,M13.2.0,M11.1.0", -18000);
  assert_int_equal(tz_zone_parse("x", buf, n, &z, why, sizeof why), CF_E_TZ_CORRUPT);
  assert_non_null(strstr(why, "footer"));
  n = make_tzif(buf, "EST5", 99999999);
  assert_int_equal(tz_zone_parse("x", buf, n, &z, why, sizeof why), CF_E_TZ_CORRUPT);
}

static void *load_many(void *arg) {
  static const char *const names[] = {"Europe/Paris", "Asia/Tokyo", "America/Chicago",
                                      "Africa/Cairo", "Pacific/Auckland"};
  const tz_zone **out = arg;
  for (int round = 0; round < 50; round++)
    for (int i = 0; i < 5; i++)
      if (tz_db_zone(db, names[i], &out[i]) != CF_OK)
        out[i] = NULL;
  return NULL;
}

static void test_concurrent_loads(void **state) {
  (void)state;
  pthread_t threads[4];
  const tz_zone *seen[4][5];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, load_many, seen[i]), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 5; j++) {
      assert_non_null(seen[i][j]);
      assert_ptr_equal(seen[i][j], seen[0][j]);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_york_transitions),
      cmocka_unit_test(test_resolve_gap_and_fold),
      cmocka_unit_test(test_other_zones),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_footer_rules),
      cmocka_unit_test(test_corrupt_files),
      cmocka_unit_test(test_concurrent_loads),
  };
  return cmocka_run_group_tests_name("tz", tests, setup, teardown);
}
