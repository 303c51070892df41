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

/* The matching days of a month of `dim` days whose 1st is weekday wd1:
 * every day rule depends on nothing else. */
static uint32_t day_mask_for(const cron_expr *e, int dim, int wd1) {
  uint32_t valid = (uint32_t)(((UINT64_C(2) << dim) - 2) & 0xFFFFFFFFu);
  if (e->dom_star && e->dow_star)
    return valid;
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

void cron_search_prepare(cron_expr *e) {
  for (int dim = 28; dim <= 31; dim++)
    for (int wd1 = 0; wd1 < 7; wd1++)
      e->day_masks[dim - 28][wd1] = day_mask_for(e, dim, wd1);
}

/* The matching days of the month whose 1st is day `first` (days since
 * 1970) and that has `dim` days. */
static inline uint32_t month_mask(const cron_expr *e, int64_t first, int dim) {
  return e->day_masks[dim - 28][civil_weekday(first)];
}

/* Lowest set bit >= from, or -1. from may be past the width. */
static inline int next_bit(uint64_t mask, int from) {
  if (from > 63)
    return -1;
  uint64_t m = mask & (~UINT64_C(0) << from);
  return m ? __builtin_ctzll(m) : -1;
}

/* Highest set bit <= from, or -1. from may be negative. */
static inline int prev_bit(uint64_t mask, int from) {
  if (from < 0)
    return -1;
  uint64_t m = from >= 63 ? mask : mask & ((UINT64_C(2) << from) - 1);
  return m ? 63 - __builtin_clzll(m) : -1;
}

/* The first matching time of day (seconds since midnight) >= sod. */
static bool tod_next(const cron_expr *e, int sod, int *out) {
  int h = sod / 3600, rest = sod - h * 3600, m = rest / 60, s = rest - m * 60;
  if ((e->hour >> h & 1) && (e->minute >> m & 1)) {
    /* Later within the same minute: the usual answer for fine schedules. */
    uint64_t later = e->second & (~UINT64_C(0) << s);
    if (later) {
      *out = sod - s + __builtin_ctzll(later);
      return true;
    }
  }
  for (;;) {
    int nh = next_bit(e->hour, h);
    if (nh < 0)
      return false;
    if (nh != h) {
      *out = nh * 3600 + e->first_tod % 3600;
      return true;
    }
    int nm = next_bit(e->minute, m);
    if (nm < 0) {
      h++;
      m = s = 0;
      continue;
    }
    int ns = next_bit(e->second, nm != m ? 0 : s);
    if (ns < 0) {
      m = nm + 1;
      s = 0;
      continue;
    }
    *out = h * 3600 + nm * 60 + ns;
    return true;
  }
}

/* The last matching time of day <= sod. */
static bool tod_prev(const cron_expr *e, int sod, int *out) {
  int h = sod / 3600, m = sod / 60 % 60, s = sod % 60;
  for (;;) {
    int nh = prev_bit(e->hour, h);
    if (nh < 0)
      return false;
    if (nh != h) {
      *out = nh * 3600 + e->last_tod % 3600;
      return true;
    }
    int nm = prev_bit(e->minute, m);
    if (nm < 0) {
      h--;
      m = s = 59;
      continue;
    }
    int ns = prev_bit(e->second, nm != m ? 59 : s);
    if (ns < 0) {
      m = nm - 1;
      s = 59;
      if (m < 0) {
        h--;
        m = 59;
      }
      continue;
    }
    *out = h * 3600 + nm * 60 + ns;
    return true;
  }
}

bool cron_search_wall_next(const cron_expr *e, int64_t from, int64_t limit, int64_t *out) {
  if (from < CIVIL_MIN_SECONDS)
    from = CIVIL_MIN_SECONDS;
  if (from >= limit)
    return false;
  int64_t days = civil_floor_div(from, CIVIL_SECONDS_PER_DAY);
  int sod = (int)(from - days * CIVIL_SECONDS_PER_DAY);
  int tod;
  if (e->every_day) {
    /* No calendar to consult: later today, or the first time tomorrow. */
    if (tod_next(e, sod, &tod))
      *out = days * CIVIL_SECONDS_PER_DAY + tod;
    else
      *out = (days + 1) * CIVIL_SECONDS_PER_DAY + e->first_tod;
    return *out < limit;
  }
  int64_t y, last_year;
  int mo, d, unused_m, unused_d;
  civil_date_from_days(days, &y, &mo, &d);
  civil_date_from_days(civil_floor_div(limit - 1, CIVIL_SECONDS_PER_DAY), &last_year, &unused_m,
                       &unused_d);
  int64_t first = days - (d - 1); /* the 1st of the month, in days */
  for (;;) {
    if (y > last_year)
      return false;
    if (!(e->month >> mo & 1)) {
      int m = next_bit(e->month, mo + 1);
      if (m < 0) {
        y++;
        m = next_bit(e->month, 1);
      }
      mo = m;
      d = 1;
      sod = 0;
      first = civil_days_from_date(y, mo, 1);
      continue;
    }
    int dim = civil_days_in_month(y, mo);
    int nd = next_bit(month_mask(e, first, dim), d);
    if (nd < 0) {
      if (++mo > 12) {
        mo = 1;
        y++;
      }
      d = 1;
      sod = 0;
      first += dim;
      continue;
    }
    if (nd != d) {
      d = nd;
      sod = 0;
    }
    if (tod_next(e, sod, &tod)) {
      *out = (first + d - 1) * CIVIL_SECONDS_PER_DAY + tod;
      return *out < limit;
    }
    d++;
    sod = 0;
  }
}

bool cron_search_wall_prev(const cron_expr *e, int64_t from, int64_t floor, int64_t *out) {
  if (from > CIVIL_MAX_SECONDS)
    from = CIVIL_MAX_SECONDS;
  if (floor < CIVIL_MIN_SECONDS)
    floor = CIVIL_MIN_SECONDS;
  if (from < floor)
    return false;
  int64_t days = civil_floor_div(from, CIVIL_SECONDS_PER_DAY);
  int sod = (int)(from - days * CIVIL_SECONDS_PER_DAY);
  int tod;
  const int end_of_day = CIVIL_SECONDS_PER_DAY - 1;
  if (e->every_day) {
    if (tod_prev(e, sod, &tod))
      *out = days * CIVIL_SECONDS_PER_DAY + tod;
    else
      *out = (days - 1) * CIVIL_SECONDS_PER_DAY + e->last_tod;
    return *out >= floor;
  }
  int64_t y, first_year;
  int mo, d, unused_m, unused_d;
  civil_date_from_days(days, &y, &mo, &d);
  civil_date_from_days(civil_floor_div(floor, CIVIL_SECONDS_PER_DAY), &first_year, &unused_m,
                       &unused_d);
  int64_t first = days - (d - 1); /* the 1st of the month, in days */
  for (;;) {
    if (y < first_year)
      return false;
    if (!(e->month >> mo & 1)) {
      int m = prev_bit(e->month, mo - 1);
      if (m < 1) {
        y--;
        m = prev_bit(e->month, 12);
      }
      mo = m;
      d = 31; /* masks hold no day past the month's end */
      sod = end_of_day;
      first = civil_days_from_date(y, mo, 1);
      continue;
    }
    int nd = prev_bit(month_mask(e, first, civil_days_in_month(y, mo)), d);
    if (nd < 1) {
      if (--mo < 1) {
        mo = 12;
        y--;
      }
      d = 31;
      sod = end_of_day;
      first -= civil_days_in_month(y, mo);
      continue;
    }
    if (nd != d) {
      d = nd;
      sod = end_of_day;
    }
    if (tod_prev(e, sod, &tod)) {
      *out = (first + d - 1) * CIVIL_SECONDS_PER_DAY + tod;
      return *out >= floor;
    }
    d--;
    sod = end_of_day;
  }
}
