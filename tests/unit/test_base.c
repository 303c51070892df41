/*
 * test_base.c — the small shared pieces of base/: the capped buffer and
 * millisecond timestamps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/civil.h"

static void test_buf_cap(void **state) {
  (void)state;
  cf_buf b = {.max = 10};
  assert_true(cf_buf_add(&b, "hello", 5));
  assert_true(cf_buf_add(&b, "world", 5));
  assert_string_equal(b.data, "helloworld");
  assert_int_equal(b.len, 10);
  assert_false(b.too_big);
  /* One byte past the cap is refused and remembered; the data stays. */
  assert_false(cf_buf_add(&b, "!", 1));
  assert_true(b.too_big);
  assert_string_equal(b.data, "helloworld");
  /* A length that would wrap around is refused too. */
  assert_false(cf_buf_add(&b, "x", SIZE_MAX));
  cf_buf_clear(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_false(b.too_big);
  assert_int_equal(b.max, 10);
}

static void test_buf_grows(void **state) {
  (void)state;
  cf_buf b = {.max = 1 << 20};
  char chunk[1000];
  memset(chunk, 'a', sizeof chunk);
  for (int i = 0; i < 1000; i++)
    assert_true(cf_buf_add(&b, chunk, sizeof chunk));
  assert_int_equal(b.len, 1000000);
  assert_int_equal(b.data[b.len], '\0');
  assert_true(b.cap >= b.len + 1);
  cf_buf_clear(&b);
}

static void test_utc_ms(void **state) {
  (void)state;
  char buf[40];
  civil_format_utc_ms(0, buf, sizeof buf);
  assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
  civil_format_utc_ms(1795824000123, buf, sizeof buf);
  assert_string_equal(buf, "2026-11-28T00:00:00.123Z");
  /* Before the epoch the milliseconds still count forward from the second. */
  civil_format_utc_ms(-1, buf, sizeof buf);
  assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_cap),
      cmocka_unit_test(test_buf_grows),
      cmocka_unit_test(test_utc_ms),
  };
  return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
