/*
 * search.c — finds matching wall times field by field, largest unit first,
 * with bit operations: a month's matching days are one 32-bit mask, and
 * every other field is a mask too, so a search touches a handful of words
 * per month it crosses and never steps second by second.
 */
#include "cron/search.h"

#include "base/civil.h"

/* Days 1, 8, 15, 22, 29 (and 36, 43, dropped by masking). */
static uint64_t spread_weekly(uint64_t first_week) {
  uint64_t x = first_week << 1;
  x |= x << 7;
  x |= x << 14;
  x |= x << 28;
  return x;
}

/* The weekday nearest `day` within the month (Quartz's `W`). */
static int nearest_weekday(int day, int dim, int wd1) {
  int wd = (wd1 + day - 1) % 7;
  if (wd == 6)
    return day > 1 ? day - 1 : day + 2;
  if (wd == 0)
    return day < dim ? day + 1 : day - 2;
  return day;
}

uint32_t cron_search_day_mask(const cron_expr *e, int64_t year, int month) {
  int dim = civil_days_in_month(year, month);
  uint32_t valid = (uint32_t)(((UINT64_C(2) << dim) - 2) & 0xFFFFFFFFu);
  if (e->dom_star && e->dow_star)
    return valid;
  int wd1 = civil_weekday(civil_days_from_date(year, month, 1));
  uint32_t dom = 0, dow = 0;
  if (!e->dom_star) {
    dom = e->dom & valid;
    for (uint32_t m = e->dom_last; m; m &= m - 1) {
      int day = dim - __builtin_ctz(m);
      if (day >= 1)
        dom |= UINT32_C(1) << day;
    }
    for (uint32_t m = e->dom_weekday; m; m &= m - 1) {
      int day = __builtin_ctz(m);
      if (day <= dim)
        dom |= UINT32_C(1) << nearest_weekday(day, dim, wd1);
    }
    for (uint32_t m = e->dom_last_weekday; m; m &= m - 1) {
      int day = dim - __builtin_ctz(m);
      if (day >= 1)
        dom |= UINT32_C(1) << nearest_weekday(day, dim, wd1);
    }
  }
  if (!e->dow_star) {
    /* Rotate so that bit i is the weekday of day i + 1. */
    unsigned m = e->dow;
    unsigned r = ((m >> wd1) | (m << (7 - wd1))) & 0x7F;
    dow = (uint32_t)(spread_weekly(r) & valid);
    int wd_last = (wd1 + dim - 1) % 7;
    for (unsigned l = e->dow_last; l; l &= l - 1) {
      int w = __builtin_ctz(l);
      dow |= UINT32_C(1) << (dim - (wd_last - w + 7) % 7);
    }
    for (int w = 0; w < 7; w++) {
      if (!e->dow_nth[w])
        continue;
      int first = 1 + (w - wd1 + 7) % 7;
      for (unsigned k = e->dow_nth[w]; k; k &= k - 1) {
        int day = first + 7 * (__builtin_ctz(k) - 1);
        if (day <= dim)
          dow |= UINT32_C(1) << day;
      }
    }
  }
  if (e->dom_star)
    return dow;
  if (e->dow_star)
    return dom;
  return dom | dow;
}

/* Lowest set bit >= from, or -1. from may be past the width. */
static int next_bit(uint64_t mask, int from) {
  if (from > 63)
    return -1;
  uint64_t m = mask & (~UINT64_C(0) << from);
  return m ? __builtin_ctzll(m) : -1;
}

/* Highest set bit <= from, or -1. from may be negative. */
static int prev_bit(uint64_t mask, int from) {
  if (from < 0)
    return -1;
  uint64_t m = from >= 63 ? mask : mask & ((UINT64_C(2) << from) - 1);
  return m ? 63 - __builtin_clzll(m) : -1;
}

bool cron_search_wall_next(const cron_expr *e, int64_t from, int64_t max_year,
                           int64_t *out) {
  if (from < CIVIL_MIN_SECONDS)
    from = CIVIL_MIN_SECONDS;
  civil_time c;
  civil_from_seconds(from, &c);
  int64_t y = c.year;
  int mo = c.month, d = c.day, h = c.hour, mi = c.minute, s = c.second;
  int64_t mask_year = -1;
  int mask_month = 0;
  uint32_t days = 0;
  for (;;) {
    /* Carry overflowing units upwards. */
    if (s > 59) { s = 0; mi++; }
    if (mi > 59) { mi = 0; h++; }
    if (h > 23) { h = 0; d++; }
    if (mo > 12) { mo = 1; y++; }
    if (y > max_year)
      return false;
    if (!(e->month >> mo & 1)) {
      int m = next_bit(e->month, mo + 1);
      if (m < 0) {
        y++;
        m = next_bit(e->month, 1);
      }
      mo = m;
      d = 1;
      h = mi = s = 0;
      continue;
    }
    if (mask_year != y || mask_month != mo) {
      days = cron_search_day_mask(e, y, mo);
      mask_year = y;
      mask_month = mo;
    }
    int nd = next_bit(days, d);
    if (nd < 0) {
      mo++;
      d = 1;
      h = mi = s = 0;
      continue;
    }
    if (nd != d) {
      d = nd;
      h = mi = s = 0;
    }
    int nh = next_bit(e->hour, h);
    if (nh < 0) {
      d++;
      h = mi = s = 0;
      continue;
    }
    if (nh != h) {
      h = nh;
      mi = s = 0;
    }
    int nm = next_bit(e->minute, mi);
    if (nm < 0) {
      h++;
      mi = s = 0;
      continue;
    }
    if (nm != mi) {
      mi = nm;
      s = 0;
    }
    int ns = next_bit(e->second, s);
    if (ns < 0) {
      mi++;
      s = 0;
      continue;
    }
    civil_time r = {y, mo, d, h, mi, ns};
    *out = civil_to_seconds(&r);
    return true;
  }
}

bool cron_search_wall_prev(const cron_expr *e, int64_t from, int64_t min_year,
                           int64_t *out) {
  if (from > CIVIL_MAX_SECONDS)
    from = CIVIL_MAX_SECONDS;
  civil_time c;
  civil_from_seconds(from, &c);
  int64_t y = c.year;
  int mo = c.month, d = c.day, h = c.hour, mi = c.minute, s = c.second;
  int64_t mask_year = -1;
  int mask_month = 0;
  uint32_t days = 0;
  for (;;) {
    /* Borrow from larger units; 31 stands for "the month's last day". */
    if (s < 0) { s = 59; mi--; }
    if (mi < 0) { mi = 59; h--; }
    if (h < 0) { h = 23; d--; }
    if (d < 1) { d = 31; mo--; }
    if (mo < 1) { mo = 12; y--; }
    if (y < min_year || y < 1)
      return false;
    if (!(e->month >> mo & 1)) {
      int m = prev_bit(e->month, mo - 1);
      if (m < 1) {
        y--;
        m = prev_bit(e->month, 12);
      }
      mo = m;
      d = 31;
      h = 23;
      mi = s = 59;
      continue;
    }
    if (mask_year != y || mask_month != mo) {
      days = cron_search_day_mask(e, y, mo);
      mask_year = y;
      mask_month = mo;
    }
    int nd = prev_bit(days, d);
    if (nd < 1) {
      d = 0;
      h = 23;
      mi = s = 59;
      continue;
    }
    if (nd != d) {
      d = nd;
      h = 23;
      mi = s = 59;
    }
    int nh = prev_bit(e->hour, h);
    if (nh < 0) {
      d--;
      h = 23;
      mi = s = 59;
      continue;
    }
    if (nh != h) {
      h = nh;
      mi = s = 59;
    }
    int nm = prev_bit(e->minute, mi);
    if (nm < 0) {
      h--;
      mi = s = 59;
      continue;
    }
    if (nm != mi) {
      mi = nm;
      s = 59;
    }
    int ns = prev_bit(e->second, s);
    if (ns < 0) {
      mi--;
      s = 59;
      continue;
    }
    civil_time r = {y, mo, d, h, mi, ns};
    *out = civil_to_seconds(&r);
    return true;
  }
}
