/*
 * test_civil.c — calendar arithmetic and ISO-8601 text, checked against
 * dates anyone can look up in a calendar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/civil.h"

static void test_known_days(void **state) {
  (void)state;
  assert_int_equal(civil_days_from_date(1970, 1, 1), 0);
  assert_int_equal(civil_days_from_date(2000, 3, 1), 11017);
  assert_int_equal(civil_days_from_date(1969, 12, 31), -1);
  /* 0001-01-01 and 9999-12-31 bound the supported range. */
  assert_int_equal(civil_days_from_date(1, 1, 1) * 86400, CIVIL_MIN_SECONDS);
  assert_int_equal(civil_days_from_date(9999, 12, 31) * 86400 + 86399, CIVIL_MAX_SECONDS);
  /* 2024-03-10 was a Sunday, 2000-01-01 a Saturday, 1970-01-01 a Thursday. */
  assert_int_equal(civil_weekday(civil_days_from_date(2024, 3, 10)), 0);
  assert_int_equal(civil_weekday(civil_days_from_date(2000, 1, 1)), 6);
  assert_int_equal(civil_weekday(0), 4);
  assert_int_equal(civil_weekday(civil_days_from_date(1, 1, 1)), 1);
}

static void test_round_trip_every_day(void **state) {
  (void)state;
  int64_t first = civil_days_from_date(1, 1, 1), last = civil_days_from_date(9999, 12, 31);
  int64_t prev = first - 1;
  for (int64_t d = first; d <= last; d++) {
    int64_t y;
    int m, dd;
    civil_date_from_days(d, &y, &m, &dd);
    assert_true(m >= 1 && m <= 12 && dd >= 1 && dd <= civil_days_in_month(y, m));
    assert_int_equal(civil_days_from_date(y, m, dd), d);
    assert_int_equal(d, prev + 1);
    prev = d;
  }
}

static void test_leap_years(void **state) {
  (void)state;
  assert_true(civil_is_leap(2000));
  assert_false(civil_is_leap(1900));
  assert_false(civil_is_leap(2100));
  assert_true(civil_is_leap(2024));
  assert_false(civil_is_leap(2023));
  assert_int_equal(civil_days_in_month(2024, 2), 29);
  assert_int_equal(civil_days_in_month(2100, 2), 28);
  assert_int_equal(civil_days_in_month(2023, 4), 30);
  assert_int_equal(civil_days_in_month(2023, 12), 31);
}

static void test_format(void **state) {
  (void)state;
  char buf[40];
  /* 2024-03-10T07:00:00Z shown in New York's new offset. */
  int64_t t = civil_days_from_date(2024, 3, 10) * 86400 + 7 * 3600;
  civil_format_iso(t, -4 * 3600, buf, sizeof buf);
  assert_string_equal(buf, "2024-03-10T03:00:00-04:00");
  civil_format_iso(t, 0, buf, sizeof buf);
  assert_string_equal(buf, "2024-03-10T07:00:00+00:00");
  civil_format_iso(t, 5 * 3600 + 1800, buf, sizeof buf);
  assert_string_equal(buf, "2024-03-10T12:30:00+05:30");
  /* Local mean time offsets keep their seconds. */
  civil_format_iso(0, -(4 * 3600 + 56 * 60 + 2), buf, sizeof buf);
  assert_string_equal(buf, "1969-12-31T19:03:58-04:56:02");
  assert_int_equal(civil_format_iso(t, 0, buf, 10), 0);
  assert_string_equal(buf, "");
}

static void test_parse(void **state) {
  (void)state;
  int64_t s;
  int32_t ns;
  bool off;
  char why[200];
  assert_int_equal(civil_parse_iso("2018-01-02T10:00:00.0005Z", &s, &ns, &off, why, sizeof why),
                   CF_OK);
  assert_true(off);
  assert_int_equal(ns, 500000);
  assert_int_equal(s, civil_days_from_date(2018, 1, 2) * 86400 + 36000);
  assert_int_equal(civil_parse_iso("2024-03-10T03:00:00-04:00", &s, &ns, &off, why, sizeof why),
                   CF_OK);
  assert_int_equal(s, civil_days_from_date(2024, 3, 10) * 86400 + 7 * 3600);
  assert_int_equal(civil_parse_iso("2024-03-10T03:00:00+0530", &s, &ns, &off, why, sizeof why),
                   CF_OK);
  assert_int_equal(s, civil_days_from_date(2024, 3, 9) * 86400 + 21 * 3600 + 1800);
  assert_int_equal(civil_parse_iso("2024-03-10 01:30", &s, &ns, &off, why, sizeof why), CF_OK);
  assert_false(off);
  assert_int_equal(s, civil_days_from_date(2024, 3, 10) * 86400 + 5400);
  assert_int_equal(civil_parse_iso("2024-03-10", &s, &ns, &off, why, sizeof why), CF_OK);
  assert_int_equal(civil_parse_iso("2023-02-29T00:00:00Z", &s, &ns, &off, why, sizeof why),
                   CF_E_TIME_SYNTAX);
  assert_non_null(strstr(why, "column 9"));
  assert_int_equal(civil_parse_iso("2024-13-01", &s, &ns, &off, why, sizeof why), CF_E_TIME_SYNTAX);
  assert_int_equal(civil_parse_iso("2024-01-01T24:00", &s, &ns, &off, why, sizeof why),
                   CF_E_TIME_SYNTAX);
  assert_int_equal(civil_parse_iso("2024-01-01T10:00:00Zjunk", &s, &ns, &off, why, sizeof why),
                   CF_E_TIME_SYNTAX);
  assert_int_equal(civil_parse_iso("", &s, &ns, &off, why, sizeof why), CF_E_TIME_SYNTAX);
  assert_int_equal(civil_parse_iso("0000-01-01T00:00:00Z", &s, &ns, &off, why, sizeof why),
                   CF_E_TIME_RANGE);
  assert_int_equal(civil_parse_iso("9999-12-31T23:59:59Z", &s, &ns, &off, why, sizeof why), CF_OK);
  assert_int_equal(s, CIVIL_MAX_SECONDS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_days), cmocka_unit_test(test_round_trip_every_day),
      cmocka_unit_test(test_leap_years), cmocka_unit_test(test_format),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests_name("civil", tests, NULL, NULL);
}
