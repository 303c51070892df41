/*
 * cron_batch.c — answers many cron questions in one process, for the
 * differential test against cron-parser (tests/suites/cron_diff.sh).
 *
 * Reads lines `expr<TAB>zone<TAB>from_epoch_ms<TAB>count<TAB>next|prev` on
 * stdin and writes one line per input line: the `count` fire instants as
 * epoch seconds separated by spaces, or `ERR <reason>` (a reason never holds
 * a tab or a newline). `next` walks forward from strictly after the instant,
 * `prev` backwards from strictly before it; fires are whole seconds, so a
 * start with milliseconds is rounded down for `next` and up for `prev`.
 *
 * It uses only the public API of cron/ and tz/, with H seeded by 0. Input
 * lines are capped at LINE_MAX_BYTES and counts at COUNT_MAX; anything over
 * is answered with ERR, never with undefined behaviour.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "base/error.h"
#include "cron/cron.h"
#include "tz/tz.h"

#define LINE_MAX_BYTES 4096
#define COUNT_MAX      1000

/* Splits `line` at tabs in place; returns the number of fields found, at
 * most `cap` (a line with more fields returns cap + 1). */
static int split_tabs(char *line, char **fields, int cap) {
  int n = 0;
  char *s = line;
  for (;;) {
    if (n == cap)
      return cap + 1;
    fields[n++] = s;
    char *tab = strchr(s, '\t');
    if (!tab)
      return n;
    *tab = '\0';
    s = tab + 1;
  }
}

static bool parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return false;
  *out = v;
  return true;
}

/* Answers one question; writes the whole answer line to stdout. */
static void answer(tz_db *db, char *line) {
  char *f[5];
  if (split_tabs(line, f, 5) != 5) {
    puts("ERR input: expected 5 tab-separated fields");
    return;
  }
  const char *text = f[0], *zone_name = f[1], *dir = f[4];
  int64_t from_ms, count;
  if (!parse_i64(f[2], &from_ms) || from_ms < -INT64_C(62135596800000) ||
      from_ms > INT64_C(253402300799000)) {
    puts("ERR input: from_epoch_ms is not a whole number in years 1-9999");
    return;
  }
  if (!parse_i64(f[3], &count) || count < 1 || count > COUNT_MAX) {
    printf("ERR input: count must be 1-%d\n", COUNT_MAX);
    return;
  }
  bool prev = strcmp(dir, "prev") == 0;
  if (!prev && strcmp(dir, "next") != 0) {
    puts("ERR input: direction must be next or prev");
    return;
  }
  const tz_zone *zone;
  cf_err err = tz_db_zone(db, zone_name, &zone);
  if (err) {
    printf("ERR zone: %s\n", cf_errname(err));
    return;
  }
  cron_expr *expr;
  cron_error perr;
  err = cron_parse(text, 0, &expr, &perr);
  if (err) {
    printf("ERR %s: %s\n", cf_errname(err), err == CF_E_NOMEM ? "out of memory" : perr.message);
    return;
  }
  /* next: strictly after t.5 is strictly after t; prev: strictly before
   * t.5 is strictly before t + 1. */
  int64_t t = civil_floor_div(from_ms, 1000);
  if (prev && civil_floor_mod(from_ms, 1000) != 0)
    t++;
  char out[COUNT_MAX * 22 + 1];
  size_t len = 0;
  for (int64_t i = 0; i < count; i++) {
    cron_fire fire;
    err = prev ? cron_prev(expr, zone, t, &fire) : cron_next(expr, zone, t, &fire);
    if (err)
      break;
    int n = snprintf(out + len, sizeof out - len, "%s%" PRId64, i ? " " : "", fire.at);
    if (n < 0 || (size_t)n >= sizeof out - len) {
      err = CF_E_TOO_LARGE;
      break;
    }
    len += (size_t)n;
    t = fire.at;
  }
  cron_free(expr);
  if (err)
    printf("ERR %s\n", cf_errname(err));
  else
    puts(out);
}

int main(void) {
  tz_db *db;
  if (tz_db_open(NULL, &db) != CF_OK) {
    fputs("cron_batch: cannot open the zone database\n", stderr);
    return 1;
  }
  static char line[LINE_MAX_BYTES + 2];
  int rc = 0;
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') {
      line[--n] = '\0';
      if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
      answer(db, line);
    } else if (feof(stdin)) {
      answer(db, line);
    } else {
      /* Too long: skip to the end of this line, answer it as one line. */
      int c;
      while ((c = getchar()) != EOF && c != '\n')
        ;
      printf("ERR input: line longer than %d bytes\n", LINE_MAX_BYTES);
    }
  }
  if (ferror(stdin)) {
    fputs("cron_batch: error reading stdin\n", stderr);
    rc = 1;
  }
  tz_db_free(db);
  return rc;
}
