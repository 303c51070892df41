/*
 * civil.c — Gregorian calendar arithmetic on 400-year eras (146,097 days, a
 * whole number of weeks), so every conversion is a few divisions and no loop.
 */
#include "base/civil.h"

#include <stdio.h>
#include <string.h>

bool civil_is_leap(int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int civil_days_in_month(int64_t year, int month) {
  static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && civil_is_leap(year))
    return 29;
  return days[month - 1];
}

int64_t civil_days_from_date(int64_t year, int month, int day) {
  /* Count years from March so that the leap day ends the year. */
  int64_t y = month <= 2 ? year - 1 : year;
  int64_t era = civil_floor_div(y, 400);
  int64_t yoe = y - era * 400;                         /* [0, 399] */
  int64_t mp = month > 2 ? month - 3 : month + 9;      /* [0, 11] */
  int64_t doy = (153 * mp + 2) / 5 + day - 1;          /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
  return era * 146097 + doe - 719468;
}

void civil_date_from_days(int64_t days, int64_t *year, int *month, int *day) {
  int64_t z = days + 719468;
  int64_t era = civil_floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *year = yoe + era * 400 + (m <= 2);
  *month = m;
  *day = d;
}

int civil_weekday(int64_t days) {
  /* 1970-01-01 was a Thursday. */
  return (int)civil_floor_mod(days + 4, 7);
}

void civil_from_seconds(int64_t seconds, civil_time *out) {
  int64_t days = civil_floor_div(seconds, CIVIL_SECONDS_PER_DAY);
  int64_t rest = seconds - days * CIVIL_SECONDS_PER_DAY;
  civil_date_from_days(days, &out->year, &out->month, &out->day);
  out->hour = (int)(rest / 3600);
  out->minute = (int)(rest / 60 % 60);
  out->second = (int)(rest % 60);
}

int64_t civil_to_seconds(const civil_time *t) {
  return civil_days_from_date(t->year, t->month, t->day) * CIVIL_SECONDS_PER_DAY + t->hour * 3600 +
         t->minute * 60 + t->second;
}

size_t civil_format_iso(int64_t utc, int32_t offset, char *buf, size_t cap) {
  civil_time t;
  civil_from_seconds(utc + offset, &t);
  char sign = offset < 0 ? '-' : '+';
  int32_t a = offset < 0 ? -offset : offset;
  int n;
  if (a % 60 != 0)
    n = snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d:%02d", (long long)t.year,
                 t.month, t.day, t.hour, t.minute, t.second, sign, a / 3600, a / 60 % 60, a % 60);
  else
    n = snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)t.year, t.month,
                 t.day, t.hour, t.minute, t.second, sign, a / 3600, a / 60 % 60);
  if (n < 0 || (size_t)n >= cap) {
    if (cap > 0)
      buf[0] = '\0';
    return 0;
  }
  return (size_t)n;
}

size_t civil_format_utc(int64_t utc, char *buf, size_t cap) {
  civil_time t;
  civil_from_seconds(utc, &t);
  int n = snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)t.year, t.month, t.day,
                   t.hour, t.minute, t.second);
  if (n < 0 || (size_t)n >= cap) {
    if (cap > 0)
      buf[0] = '\0';
    return 0;
  }
  return (size_t)n;
}

/* Reads exactly `width` digits; returns -1 if they are not all digits. */
static int64_t read_digits(const char **p, int width) {
  int64_t v = 0;
  for (int i = 0; i < width; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += width;
  return v;
}

static cf_err syntax(char *err_buf, size_t err_cap, const char *text, const char *p,
                     const char *what) {
  if (err_buf && err_cap)
    snprintf(err_buf, err_cap,
             "column %d: %s (expected YYYY-MM-DDTHH:MM:SS with Z or an offset such as +02:00)",
             (int)(p - text) + 1, what);
  return CF_E_TIME_SYNTAX;
}

cf_err civil_parse_iso(const char *text, int64_t *seconds, int32_t *nanos, bool *has_offset,
                       char *err_buf, size_t err_cap) {
  const char *p = text;
  civil_time t = {0};
  int64_t v;
  if (strlen(text) > 64)
    return syntax(err_buf, err_cap, text, p, "date-time text is too long");
  if ((v = read_digits(&p, 4)) < 0)
    return syntax(err_buf, err_cap, text, p, "a four-digit year");
  t.year = v;
  const char *at = p + 1;
  if (*p++ != '-' || (v = read_digits(&p, 2)) < 1 || v > 12)
    return syntax(err_buf, err_cap, text, at, "a month 01-12");
  t.month = (int)v;
  at = p + 1;
  if (*p++ != '-' || (v = read_digits(&p, 2)) < 1 || v > civil_days_in_month(t.year, t.month))
    return syntax(err_buf, err_cap, text, at, "a day that exists in that month");
  t.day = (int)v;
  *nanos = 0;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if ((v = read_digits(&p, 2)) < 0 || v > 23)
      return syntax(err_buf, err_cap, text, p, "an hour 00-23");
    t.hour = (int)v;
    at = p + 1;
    if (*p++ != ':' || (v = read_digits(&p, 2)) < 0 || v > 59)
      return syntax(err_buf, err_cap, text, at, "a minute 00-59");
    t.minute = (int)v;
    if (*p == ':') {
      p++;
      if ((v = read_digits(&p, 2)) < 0 || v > 59)
        return syntax(err_buf, err_cap, text, p, "a second 00-59");
      t.second = (int)v;
      if (*p == '.' || *p == ',') {
        p++;
        if (*p < '0' || *p > '9')
          return syntax(err_buf, err_cap, text, p, "digits after the decimal point");
        int32_t scale = 100000000;
        while (*p >= '0' && *p <= '9') {
          *nanos += (int32_t)(*p - '0') * scale;
          scale /= 10;
          p++;
        }
      }
    }
  }
  int64_t s = civil_to_seconds(&t);
  *has_offset = false;
  if (*p == 'Z' || *p == 'z') {
    *has_offset = true;
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1;
    p++;
    int64_t hh = read_digits(&p, 2), mm = 0, ss = 0;
    if (hh < 0 || hh > 23)
      return syntax(err_buf, err_cap, text, p, "an offset hour 00-23");
    bool colon = *p == ':';
    if (colon)
      p++;
    if (*p >= '0' && *p <= '9') {
      if ((mm = read_digits(&p, 2)) < 0 || mm > 59)
        return syntax(err_buf, err_cap, text, p, "an offset minute 00-59");
      /* Old local mean times have seconds: the form civil_format_iso writes. */
      if (colon && *p == ':') {
        p++;
        if ((ss = read_digits(&p, 2)) < 0 || ss > 59)
          return syntax(err_buf, err_cap, text, p, "an offset second 00-59");
      }
    }
    s -= sign * (hh * 3600 + mm * 60 + ss);
    *has_offset = true;
  }
  if (*p != '\0')
    return syntax(err_buf, err_cap, text, p, "unexpected text after the date-time");
  if (t.year < 1 || s < CIVIL_MIN_SECONDS - 86400 || s > CIVIL_MAX_SECONDS + 86400) {
    if (err_buf && err_cap)
      snprintf(err_buf, err_cap, "%s", cf_strerror(CF_E_TIME_RANGE));
    return CF_E_TIME_RANGE;
  }
  *seconds = s;
  return CF_OK;
}

void civil_format_utc_ms(int64_t ms, char *buf, size_t cap) {
  int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  char base[40];
  size_t n = civil_format_utc(sec, base, sizeof base);
  if (n > 0 && base[n - 1] == 'Z')
    base[n - 1] = '\0';
  snprintf(buf, cap, "%s.%03dZ", base, (int)(ms - sec * 1000));
}
