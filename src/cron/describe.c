/*
 * describe.c — an English sentence for a parsed expression, for previews:
 * "0 9 * * 1-5" -> "At 09:00, Monday through Friday". Works on the parsed
 * bit sets, so every way of writing the same schedule reads the same.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron/cron_int.h"

typedef struct out {
  char *buf;
  size_t cap, len;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->cap ? o->cap - o->len : 0;
  int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->len += (size_t)n;
}

static const char *const month_names[13] = {
    "",     "January", "February",  "March",   "April",    "May",     "June",
    "July", "August",  "September", "October", "November", "December"};
static const char *const day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
static const char *const ordinals[6] = {"", "first", "second", "third", "fourth", "fifth"};

typedef void (*namer)(out *o, int v);

static void name_number(out *o, int v) {
  put(o, "%d", v);
}
static void name_month(out *o, int v) {
  put(o, "%s", month_names[v]);
}
static void name_day(out *o, int v) {
  put(o, "%s", day_names[v]);
}

static int count_bits(uint64_t m) {
  return __builtin_popcountll(m);
}
static int low_bit(uint64_t m) {
  return __builtin_ctzll(m);
}

/* "1, 3 and 5"; runs of three or more read "9 through 17". */
static void list_values(out *o, uint64_t mask, int lo, int hi, namer name) {
  int runs[64][2], n = 0;
  for (int v = lo; v <= hi; v++) {
    if (!(mask >> v & 1))
      continue;
    if (n && runs[n - 1][1] == v - 1)
      runs[n - 1][1] = v;
    else {
      runs[n][0] = runs[n][1] = v;
      n++;
    }
  }
  int items = 0;
  for (int i = 0; i < n; i++)
    items += runs[i][1] - runs[i][0] >= 2 ? 1 : runs[i][1] - runs[i][0] + 1;
  int done = 0;
  for (int i = 0; i < n; i++) {
    int a = runs[i][0], b = runs[i][1];
    int parts[2] = {a, b};
    int count = b - a >= 2 ? 1 : b - a + 1;
    for (int j = 0; j < count; j++) {
      if (done > 0)
        put(o, done == items - 1 ? " and " : ", ");
      if (b - a >= 2) {
        name(o, a);
        put(o, " through ");
        name(o, b);
      } else {
        name(o, parts[j]);
      }
      done++;
    }
  }
}

/* The step k when mask is exactly {first, first+k, ...} up to hi, first < k. */
static int step_of(uint64_t mask, int lo, int hi) {
  if (count_bits(mask) < 2)
    return 0;
  int first = low_bit(mask);
  uint64_t rest = mask & (mask - 1);
  int k = low_bit(rest) - first;
  if (first - lo >= k)
    return 0;
  uint64_t want = 0;
  for (int v = first; v <= hi; v += k)
    want |= UINT64_C(1) << v;
  return want == mask ? k : 0;
}

static void describe_unit(out *o, uint64_t mask, int lo, int hi, const char *unit,
                          const char *units) {
  int k = step_of(mask, lo, hi);
  if (count_bits(mask) == hi - lo + 1)
    put(o, "every %s", unit);
  else if (k && low_bit(mask) == lo)
    put(o, "every %d %s", k, units);
  else if (k)
    put(o, "every %d %s starting at %s %d", k, units, unit, low_bit(mask));
  else {
    put(o, "at %s%s ", unit, count_bits(mask) > 1 ? "s" : "");
    list_values(o, mask, lo, hi, name_number);
  }
}

static void describe_time(out *o, const cron_expr *e) {
  bool one_s = count_bits(e->second) == 1, one_m = count_bits(e->minute) == 1;
  bool all_h = e->hour == CRON_ALL_HOURS;
  int s = low_bit(e->second), m = low_bit(e->minute);
  int nh = count_bits(e->hour);
  if (one_s && one_m && !all_h && nh <= 6) {
    put(o, "At ");
    int done = 0;
    for (int h = 0; h < 24; h++) {
      if (!(e->hour >> h & 1))
        continue;
      if (done)
        put(o, done == nh - 1 ? " and " : ", ");
      if (s)
        put(o, "%02d:%02d:%02d", h, m, s);
      else
        put(o, "%02d:%02d", h, m);
      done++;
    }
    return;
  }
  if (one_s && s == 0 && one_m && all_h) {
    if (m == 0)
      put(o, "Every hour");
    else
      put(o, "At minute %d past every hour", m);
    return;
  }
  if (one_s && s == 0 && e->minute == CRON_ALL_SECONDS && all_h) {
    put(o, "Every minute");
    return;
  }
  /* General form: seconds, then minutes, then hours. */
  size_t start = o->len;
  bool wrote = false;
  if (!(one_s && s == 0)) {
    describe_unit(o, e->second, 0, 59, "second", "seconds");
    wrote = true;
  }
  if (!(wrote && e->minute == CRON_ALL_SECONDS)) {
    if (wrote)
      put(o, " ");
    if (wrote && one_m)
      put(o, "past minute %d", m);
    else
      describe_unit(o, e->minute, 0, 59, "minute", "minutes");
  }
  if (!all_h) {
    int k = step_of(e->hour, 0, 23);
    if (k)
      put(o, ", every %d hours", k);
    else {
      put(o, ", between ");
      /* hours as clock ranges: 09:00-17:59 */
      int done = 0, runs = 0;
      for (int h = 0; h < 24; h++)
        if ((e->hour >> h & 1) && !(h > 0 && (e->hour >> (h - 1) & 1)))
          runs++;
      for (int h = 0; h < 24; h++) {
        if (!(e->hour >> h & 1) || (h > 0 && (e->hour >> (h - 1) & 1)))
          continue;
        int end = h;
        while (end < 23 && (e->hour >> (end + 1) & 1))
          end++;
        if (done)
          put(o, done == runs - 1 ? " and " : ", ");
        put(o, "%02d:00 and %02d:59", h, end);
        done++;
      }
    }
  }
  if (o->len > start && start < o->cap && o->buf[start] >= 'a' && o->buf[start] <= 'z')
    o->buf[start] = (char)(o->buf[start] - 'a' + 'A');
}

static void describe_dom(out *o, const cron_expr *e) {
  int parts = 0;
  uint32_t plain = e->dom & ~UINT32_C(1);
  if (plain) {
    put(o, count_bits(plain) > 1 ? "on days " : "on day ");
    list_values(o, plain, 1, 31, name_number);
    parts++;
  }
  for (int n = 0; n < 32; n++) {
    if (e->dom_last >> n & 1) {
      put(o, "%s", parts++ ? " and " : "");
      if (n == 0)
        put(o, "on the last day");
      else
        put(o, n == 1 ? "on the day before the last day" : "%d days before the last day", n);
    }
    if (e->dom_last_weekday >> n & 1) {
      put(o, "%s", parts++ ? " and " : "");
      if (n == 0)
        put(o, "on the last weekday");
      else
        put(o, "on the weekday nearest %d day%s before the last day", n, n > 1 ? "s" : "");
    }
    if (e->dom_weekday >> n & 1) {
      put(o, "%s", parts++ ? " and " : "");
      put(o, "on the weekday nearest day %d", n);
    }
  }
  put(o, " of the month");
}

static void describe_dow(out *o, const cron_expr *e, bool after_dom) {
  int parts = 0;
  if (e->dow) {
    int n = count_bits(e->dow);
    if (e->dow == 0x3E && !after_dom)
      put(o, "Monday through Friday");
    else {
      put(o, after_dom ? "on " : (n == 1 ? "only on " : ""));
      list_values(o, e->dow, 0, 6, name_day);
    }
    parts++;
  }
  for (int w = 0; w < 7; w++) {
    if (e->dow_last >> w & 1) {
      put(o, "%son the last %s of the month", parts++ ? " and " : "", day_names[w]);
    }
    for (int k = 1; k <= 5; k++)
      if (e->dow_nth[w] >> k & 1)
        put(o, "%son the %s %s of the month", parts++ ? " and " : "", ordinals[k], day_names[w]);
  }
}

size_t cron_describe(const cron_expr *e, char *buf, size_t cap) {
  out o = {buf, cap, 0};
  if (cap)
    buf[0] = '\0';
  describe_time(&o, e);
  if (!e->dom_star && !e->dow_star) {
    put(&o, ", ");
    describe_dom(&o, e);
    put(&o, " or ");
    describe_dow(&o, e, true);
  } else if (!e->dom_star) {
    put(&o, ", ");
    describe_dom(&o, e);
  } else if (!e->dow_star) {
    put(&o, ", ");
    describe_dow(&o, e, false);
  }
  uint16_t all_months = 0x1FFE;
  if (e->month != all_months) {
    int n = count_bits(e->month);
    put(&o, n == 1 ? ", only in " : ", in ");
    list_values(&o, e->month, 1, 12, name_month);
  }
  if (cap && o.len >= cap)
    buf[cap - 1] = '\0';
  return o.len;
}

char *cron_describe_alloc(const cron_expr *e) {
  size_t n = cron_describe(e, NULL, 0);
  char *text = malloc(n + 1);
  if (text)
    cron_describe(e, text, n + 1);
  return text;
}
