/*
 * parse.c — cron expression text to struct cron_expr.
 *
 * Every error names the field and the 1-based column where the problem
 * starts, and says what would have been accepted. The parser never reads
 * past the text, never allocates more than the result, and rejects
 * expressions that can never fire by searching four centuries of calendar
 * (the Gregorian calendar repeats every 400 years, so a pattern that matches
 * nowhere in them matches nowhere at all).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "cron/cron_int.h"
#include "cron/search.h"

typedef struct field_spec {
  const char *name;
  int min, max;
} field_spec;

static const field_spec specs[6] = {
    {"second", 0, 59},       {"minute", 0, 59}, {"hour", 0, 23},
    {"day-of-month", 1, 31}, {"month", 1, 12},  {"day-of-week", 0, 7},
};

static const char *const month_names[12] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                            "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[7] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const struct nickname {
  const char *name, *expansion;
} nicknames[] = {
    {"@yearly", "0 0 1 1 *"},     {"@annually", "0 0 1 1 *"},   {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},     {"@daily", "0 0 * * *"},      {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},     {"@minutely", "* * * * *"},   {"@secondly", "* * * * * *"},
    {"@weekdays", "0 0 * * 1-5"}, {"@weekends", "0 0 * * 0,6"},
};

typedef struct parser {
  const char *text; /* the text columns are counted in */
  cron_error *err;
  uint64_t seed;
  cron_expr *e;
} parser;

__attribute__((format(printf, 4, 5))) static cf_err fail(parser *p, int field, const char *at,
                                                         const char *fmt, ...) {
  if (!p->err)
    return CF_E_CRON_SYNTAX;
  char detail[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  p->err->field = (cron_field)field;
  p->err->column = at ? (int)(at - p->text) + 1 : 0;
  if (field >= 0 && at)
    snprintf(p->err->message, sizeof p->err->message, "%s field, column %d: %s", specs[field].name,
             p->err->column, detail);
  else if (at)
    snprintf(p->err->message, sizeof p->err->message, "column %d: %s", p->err->column, detail);
  else
    snprintf(p->err->message, sizeof p->err->message, "%s", detail);
  return CF_E_CRON_SYNTAX;
}

/* Shows one byte of input safely inside an error message. */
static const char *show_char(char c, char buf[8]) {
  unsigned char u = (unsigned char)c;
  if (u > 32 && u < 127)
    snprintf(buf, 8, "'%c'", c);
  else
    snprintf(buf, 8, "0x%02X", u);
  return buf;
}

static uint64_t splitmix64(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

/* The hash that `H` draws from, different for each field. */
static uint64_t field_hash(const parser *p, int field) {
  return splitmix64(p->seed ^ splitmix64((uint64_t)field + 1));
}

typedef struct cursor {
  const char *s, *end;
} cursor;

/* Reads a number or (month, day-of-week) a three-letter name. */
static cf_err read_value(parser *p, int f, cursor *c, int *out) {
  const char *start = c->s;
  char cb[8];
  if (c->s < c->end && isdigit((unsigned char)*c->s)) {
    long v = 0;
    while (c->s < c->end && isdigit((unsigned char)*c->s)) {
      if (v > 100000)
        return fail(p, f, start, "number is too large (range %d-%d)", specs[f].min, specs[f].max);
      v = v * 10 + (*c->s++ - '0');
    }
    *out = (int)v;
    return CF_OK;
  }
  if (c->s < c->end && isalpha((unsigned char)*c->s)) {
    const char *w = c->s;
    while (c->s < c->end && isalpha((unsigned char)*c->s))
      c->s++;
    size_t n = (size_t)(c->s - w);
    /* `L` and `W` after a day number are read by the caller. */
    if (f == CRON_FIELD_MONTH || f == CRON_FIELD_DAY_OF_WEEK) {
      const char *const *names = f == CRON_FIELD_MONTH ? month_names : day_names;
      int count = f == CRON_FIELD_MONTH ? 12 : 7;
      /* A weekday name may carry an `L` suffix ("FRIL" = last Friday). */
      size_t want =
          (f == CRON_FIELD_DAY_OF_WEEK && n == 4 && toupper((unsigned char)w[3]) == 'L') ? 3 : n;
      if (want == 3)
        for (int i = 0; i < count; i++)
          if (strncasecmp(w, names[i], 3) == 0) {
            *out = f == CRON_FIELD_MONTH ? i + 1 : i;
            c->s = w + 3;
            return CF_OK;
          }
      return fail(p, f, w, "unknown name '%.*s' (expected %s)", (int)(n > 20 ? 20 : n), w,
                  f == CRON_FIELD_MONTH ? "JAN-DEC" : "SUN-SAT");
    }
    return fail(p, f, w, "unexpected '%.*s' (expected a number %d-%d)", (int)(n > 20 ? 20 : n), w,
                specs[f].min, specs[f].max);
  }
  if (c->s >= c->end)
    return fail(p, f, start, "a value is missing (expected a number %d-%d)", specs[f].min,
                specs[f].max);
  return fail(p, f, start, "unexpected %s (expected a number %d-%d)", show_char(*c->s, cb),
              specs[f].min, specs[f].max);
}

static cf_err check_range(parser *p, int f, const char *at, int v) {
  if (v < specs[f].min || v > specs[f].max)
    return fail(p, f, at, "%d is out of range %d-%d", v, specs[f].min, specs[f].max);
  return CF_OK;
}

static cf_err expect_end(parser *p, int f, const cursor *c, const char *what) {
  char cb[8];
  if (c->s < c->end)
    return fail(p, f, c->s, "unexpected %s after %s", show_char(*c->s, cb), what);
  return CF_OK;
}

static cf_err read_step(parser *p, int f, cursor *c, int *step) {
  const char *at = c->s;
  if (c->s < c->end && isalpha((unsigned char)*c->s))
    return fail(p, f, at, "a step must be a number (1 or more), not a name");
  cf_err err = read_value(p, f, c, step);
  if (err)
    return err;
  if (*step < 1)
    return fail(p, f, at, "a step must be 1 or more");
  return CF_OK;
}

static void set_bits(cron_expr *e, int f, int lo, int hi, int step) {
  for (int v = lo; v <= hi; v += step) {
    switch (f) {
    case CRON_FIELD_SECOND: e->second |= UINT64_C(1) << v; break;
    case CRON_FIELD_MINUTE: e->minute |= UINT64_C(1) << v; break;
    case CRON_FIELD_HOUR: e->hour |= UINT32_C(1) << v; break;
    case CRON_FIELD_DAY_OF_MONTH: e->dom |= UINT32_C(1) << v; break;
    case CRON_FIELD_MONTH: e->month |= (uint16_t)(1u << v); break;
    default: e->dow |= (uint8_t)(1u << (v % 7)); break;
    }
  }
}

/* `H`, `H(a-b)`, with an optional `/step`. */
static cf_err parse_hashed(parser *p, int f, cursor *c) {
  const char *start = c->s;
  int lo = specs[f].min, hi = specs[f].max;
  if (f == CRON_FIELD_DAY_OF_MONTH)
    hi = 28; /* a day every month has */
  if (f == CRON_FIELD_DAY_OF_WEEK)
    hi = 6;
  c->s++; /* H */
  if (c->s < c->end && *c->s == '(') {
    c->s++;
    const char *at = c->s;
    cf_err err = read_value(p, f, c, &lo);
    if (!err)
      err = check_range(p, f, at, lo);
    if (err)
      return err;
    if (c->s >= c->end || *c->s != '-')
      return fail(p, f, c->s, "expected '-' in H(low-high)");
    c->s++;
    at = c->s;
    if ((err = read_value(p, f, c, &hi)) || (err = check_range(p, f, at, hi)))
      return err;
    if (c->s >= c->end || *c->s != ')')
      return fail(p, f, c->s, "expected ')' to close H(low-high)");
    c->s++;
    if (lo > hi)
      return fail(p, f, start, "range %d-%d runs backwards", lo, hi);
  }
  uint64_t h = field_hash(p, f);
  if (c->s < c->end && *c->s == '/') {
    c->s++;
    int step;
    cf_err err = read_step(p, f, c, &step);
    if (err || (err = expect_end(p, f, c, "the step")))
      return err;
    int span = hi - lo + 1;
    int offset = (int)(h % (uint64_t)(step < span ? step : span));
    set_bits(p->e, f, lo + offset, hi, step);
    return CF_OK;
  }
  cf_err err = expect_end(p, f, c, "H");
  if (err)
    return err;
  int v = lo + (int)(h % (uint64_t)(hi - lo + 1));
  set_bits(p->e, f, v, v, 1);
  return CF_OK;
}

/* `L`, `L-n`, `LW`, `L-nW` in day-of-month. */
static cf_err parse_dom_last(parser *p, cursor *c) {
  const int f = CRON_FIELD_DAY_OF_MONTH;
  int n = 0;
  c->s++; /* L */
  if (c->s < c->end && *c->s == '-') {
    c->s++;
    const char *at = c->s;
    cf_err err = read_value(p, f, c, &n);
    if (err)
      return err;
    if (n < 1 || n > 30)
      return fail(p, f, at, "L-%d: the offset from the last day must be 1-30", n);
  }
  if (c->s < c->end && (*c->s == 'W' || *c->s == 'w')) {
    c->s++;
    cf_err err = expect_end(p, f, c, "W");
    if (err)
      return err;
    p->e->dom_last_weekday |= UINT32_C(1) << n;
    return CF_OK;
  }
  cf_err err = expect_end(p, f, c, n ? "L-n" : "L");
  if (err)
    return err;
  p->e->dom_last |= UINT32_C(1) << n;
  return CF_OK;
}

static cf_err parse_item(parser *p, int f, const char *s, const char *end) {
  cursor c = {s, end};
  cron_expr *e = p->e;
  char cb[8];
  if (s == end)
    return fail(p, f, s, "empty list item (two commas, or a comma at an end)");
  int lo, hi, step = 1;
  bool ranged = false;
  if (*s == '*' || *s == '?') {
    /* `?` means `*` in any field, as in cron-parser; Quartz keeps it to the
     * day fields, where it matters for the day rule. */
    c.s++;
    lo = specs[f].min;
    hi = specs[f].max;
    ranged = true;
  } else if (*s == 'H' || *s == 'h') {
    return parse_hashed(p, f, &c);
  } else if (f == CRON_FIELD_DAY_OF_MONTH && (*s == 'L' || *s == 'l')) {
    return parse_dom_last(p, &c);
  } else if (f == CRON_FIELD_DAY_OF_WEEK && (*s == 'L' || *s == 'l')) {
    return fail(p, f, s,
                "'L' alone is ambiguous in day-of-week: write 5L for the last Friday of the month, "
                "or L in day-of-month for its last day");
  } else {
    cf_err err = read_value(p, f, &c, &lo);
    if (err || (err = check_range(p, f, s, lo)))
      return err;
    if (c.s < end && f == CRON_FIELD_DAY_OF_MONTH && (*c.s == 'W' || *c.s == 'w')) {
      c.s++;
      if ((err = expect_end(p, f, &c, "W")))
        return err;
      e->dom_weekday |= UINT32_C(1) << lo;
      return CF_OK;
    }
    if (c.s < end && f == CRON_FIELD_DAY_OF_WEEK && (*c.s == 'L' || *c.s == 'l')) {
      c.s++;
      if ((err = expect_end(p, f, &c, "L")))
        return err;
      e->dow_last |= (uint8_t)(1u << (lo % 7));
      return CF_OK;
    }
    if (c.s < end && f == CRON_FIELD_DAY_OF_WEEK && *c.s == '#') {
      c.s++;
      const char *at = c.s;
      int k;
      if (c.s < end && (*c.s == 'L' || *c.s == 'l')) {
        /* `5#L`: the last Friday, another spelling of `5L`. */
        c.s++;
        if ((err = expect_end(p, f, &c, "#L")))
          return err;
        e->dow_last |= (uint8_t)(1u << (lo % 7));
        return CF_OK;
      }
      if ((err = read_value(p, f, &c, &k)))
        return err;
      if (k < 1 || k > 5)
        return fail(p, f, at, "#%d: the occurrence in the month must be 1-5", k);
      if ((err = expect_end(p, f, &c, "#n")))
        return err;
      e->dow_nth[lo % 7] |= (uint8_t)(1u << k);
      return CF_OK;
    }
    hi = lo;
    if (c.s < end && *c.s == '-') {
      c.s++;
      const char *at = c.s;
      if ((err = read_value(p, f, &c, &hi)) || (err = check_range(p, f, at, hi)))
        return err;
      /* `FRI-SUN`: a week runs to Sunday, so a range ending at 0 ends at 7. */
      if (f == CRON_FIELD_DAY_OF_WEEK && hi == 0 && lo > 0)
        hi = 7;
      if (lo > hi)
        return fail(p, f, s, "range %d-%d runs backwards (write it as two ranges: %d-%d,%d-%d)", lo,
                    hi, lo, specs[f].max, specs[f].min, hi);
      ranged = true;
    }
  }
  if (c.s < end && *c.s == '/') {
    c.s++;
    cf_err err = read_step(p, f, &c, &step);
    if (err)
      return err;
    if (!ranged)
      hi = specs[f].max; /* `N/step` means `N-max/step` */
  }
  if (c.s < end)
    return fail(p, f, c.s, "unexpected %s", show_char(*c.s, cb));
  set_bits(e, f, lo, hi, step);
  return CF_OK;
}

static cf_err parse_field(parser *p, int f, const char *s, const char *end) {
  if ((size_t)(end - s) == 1 && (*s == '*' || *s == '?')) {
    if (f == CRON_FIELD_DAY_OF_MONTH)
      p->e->dom_star = true;
    if (f == CRON_FIELD_DAY_OF_WEEK)
      p->e->dow_star = true;
  }
  const char *item = s;
  for (const char *q = s;; q++) {
    if (q == end || *q == ',') {
      cf_err err = parse_item(p, f, item, q);
      if (err)
        return err;
      if (q == end)
        break;
      item = q + 1;
    }
  }
  return CF_OK;
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Parses the fields of `text` (whose columns are counted in p->text). */
static cf_err parse_fields(parser *p, const char *text) {
  const char *starts[7], *ends[7];
  int n = 0;
  const char *q = text;
  char cb[8];
  for (;;) {
    while (is_blank(*q))
      q++;
    if (!*q)
      break;
    const char *s = q;
    while (*q && !is_blank(*q)) {
      unsigned char u = (unsigned char)*q;
      if (u < 32 || u >= 127)
        return fail(p, -1, q, "unexpected character %s", show_char(*q, cb));
      q++;
    }
    if (n == 6)
      return fail(p, -1, s,
                  "too many fields: expected 5 (minute hour day-of-month month day-of-week) or 6 "
                  "(with seconds first)");
    starts[n] = s;
    ends[n] = q;
    n++;
  }
  if (n == 0)
    return fail(
        p, -1, NULL,
        "empty expression: expected 5 fields such as \"0 9 * * 1-5\", or 6 with seconds first");
  if (n < 5)
    return fail(p, -1, NULL,
                "%d field%s: expected 5 (minute hour day-of-month month day-of-week) or 6 (with "
                "seconds first)",
                n, n == 1 ? "" : "s");
  int first = n == 6 ? 0 : 1;
  p->e->has_seconds = n == 6;
  if (n == 5)
    p->e->second = 1; /* second 0 */
  for (int i = 0; i < n; i++) {
    cf_err err = parse_field(p, first + i, starts[i], ends[i]);
    if (err)
      return err;
  }
  return CF_OK;
}

/* Why an expression that parsed can never fire, for the error message. */
static cf_err never(parser *p, const char *dom_at, const char *dow_at) {
  const cron_expr *e = p->e;
  if (e->dow_star)
    (void)fail(p, CRON_FIELD_DAY_OF_MONTH, dom_at,
               "no chosen day exists in the chosen months (such as February 30), so the expression "
               "can never fire");
  else if (e->dom_star)
    (void)fail(p, CRON_FIELD_DAY_OF_WEEK, dow_at,
               "no chosen weekday occurs in the chosen months, so the expression can never fire");
  else
    (void)fail(p, -1, NULL,
               "no date matches the day and month fields, so the expression can never fire");
  return CF_E_CRON_NEVER;
}

/* The start of field `f` in text; for error columns after parsing. */
static const char *field_start(const char *text, int index) {
  const char *q = text;
  for (int i = 0;; i++) {
    while (is_blank(*q))
      q++;
    if (i == index || !*q)
      return q;
    while (*q && !is_blank(*q))
      q++;
  }
}

cf_err cron_parse(const char *text, uint64_t seed, cron_expr **out, cron_error *err) {
  *out = NULL;
  if (err) {
    err->field = CRON_FIELD_NONE;
    err->column = 0;
    err->message[0] = '\0';
  }
  parser p = {text, err, seed, NULL};
  size_t len = strnlen(text, CRON_TEXT_MAX + 1);
  if (len > CRON_TEXT_MAX)
    return fail(&p, -1, NULL, "expression is longer than %d characters", CRON_TEXT_MAX);
  cron_expr *e = calloc(1, sizeof *e);
  if (!e)
    return CF_E_NOMEM;
  p.e = e;
  const char *body = text;
  while (is_blank(*body))
    body++;
  cf_err rc;
  const char *fields_text = text;
  if (*body == '@') {
    size_t n = 0;
    while (body[n] && !is_blank(body[n]))
      n++;
    const char *rest = body + n;
    while (is_blank(*rest))
      rest++;
    const char *expansion = NULL;
    for (size_t i = 0; i < sizeof nicknames / sizeof *nicknames; i++)
      if (strlen(nicknames[i].name) == n && strncasecmp(body, nicknames[i].name, n) == 0)
        expansion = nicknames[i].expansion;
    if (!expansion || *rest) {
      rc = *rest ? fail(&p, -1, rest, "unexpected text after the nickname")
                 : fail(&p, -1, body,
                        "unknown nickname '%.*s' (known: @yearly @annually @monthly @weekly @daily "
                        "@midnight @hourly @minutely @secondly @weekdays @weekends)",
                        (int)(n > 24 ? 24 : n), body);
      free(e);
      return rc;
    }
    p.text = fields_text = expansion;
  }
  rc = parse_fields(&p, fields_text);
  if (rc) {
    free(e);
    return rc;
  }
  e->every_day = e->month == 0x1FFE && e->dom_star && e->dow_star;
  cron_search_prepare(e);
  e->first_tod =
      __builtin_ctz(e->hour) * 3600 + __builtin_ctzll(e->minute) * 60 + __builtin_ctzll(e->second);
  e->last_tod = (31 - __builtin_clz(e->hour)) * 3600 + (63 - __builtin_clzll(e->minute)) * 60 +
                (63 - __builtin_clzll(e->second));
  /* Four centuries from 2000 hold every pattern the calendar can make. */
  int64_t w;
  if (!cron_search_wall_next(e, civil_days_from_date(2000, 1, 1) * CIVIL_SECONDS_PER_DAY,
                             civil_days_from_date(2401, 1, 1) * CIVIL_SECONDS_PER_DAY, &w)) {
    int base = e->has_seconds ? 0 : 1;
    p.text = fields_text;
    rc = never(&p, field_start(fields_text, CRON_FIELD_DAY_OF_MONTH - base),
               field_start(fields_text, CRON_FIELD_DAY_OF_WEEK - base));
    free(e);
    return rc;
  }
  *out = e;
  return CF_OK;
}

void cron_free(cron_expr *expr) {
  free(expr);
}

bool cron_has_seconds(const cron_expr *expr) {
  return expr->has_seconds;
}

bool cron_every_hour(const cron_expr *expr) {
  return expr->hour == CRON_ALL_HOURS;
}
