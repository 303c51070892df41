/*
 * tz.c — TZif parsing (RFC 8536), POSIX TZ footers, period lookup, local time
 * resolution and the zone cache.
 *
 * Invariants: a parsed zone is immutable; transitions are strictly ascending;
 * every offset is within RFC 8536's bounds (-89999..93599), so no period
 * arithmetic here can overflow for instants within +-2^62. Every byte read
 * from a file is bounds-checked against its length before use.
 */
#include "tz/tz.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/civil.h"

/* Offsets beyond these are rejected (RFC 8536 section 3.2). */
#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599
/* Further than this from a local time, no UTC instant can map to it. */
#define RESOLVE_SPAN (26 * 3600)
#define ABBR_MAX     16

/* A POSIX TZ rule date: Jn, n, or Mm.w.d, with a time of day in seconds. */
typedef struct rule_date {
  char kind; /* 'J', 'N' or 'M' */
  int a, b, c;
  int32_t time;
} rule_date;

typedef struct posix_tz {
  int32_t std_offset, dst_offset;
  bool has_dst;
  char std_abbr[ABBR_MAX], dst_abbr[ABBR_MAX];
  rule_date start, end;
} posix_tz;

typedef struct zone_type {
  int32_t offset;
  bool is_dst;
  uint16_t abbr; /* index into abbrs */
} zone_type;

struct tz_zone {
  char *name;
  size_t ntrans;
  int64_t *trans;        /* transition instants, ascending */
  int32_t *trans_offset; /* offset from each transition on */
  uint8_t *trans_type;   /* type index from each transition on */
  size_t ntypes;
  zone_type *types;
  char *abbrs; /* NUL-terminated strings */
  size_t abbrs_len;
  bool has_footer;
  posix_tz footer;
  bool is_static;
};

static const zone_type utc_types[1] = {{0, false, 0}};
static const tz_zone utc_zone = {
    .name = (char *)"UTC",
    .ntypes = 1,
    .types = (zone_type *)utc_types,
    .abbrs = (char *)"UTC",
    .abbrs_len = 4,
    .is_static = true,
};

const tz_zone *tz_utc(void) {
  return &utc_zone;
}

const char *tz_zone_name(const tz_zone *zone) {
  return zone->name;
}

/* ---------------------------------------------------------------- parsing */

typedef struct reader {
  const unsigned char *p, *end;
} reader;

static bool take(reader *r, size_t n, const unsigned char **out) {
  if ((size_t)(r->end - r->p) < n)
    return false;
  *out = r->p;
  r->p += n;
  return true;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static cf_err corrupt(char *err_buf, size_t err_cap, const char *why) {
  if (err_buf && err_cap)
    snprintf(err_buf, err_cap, "%s", why);
  return CF_E_TZ_CORRUPT;
}

/* POSIX TZ string pieces. Each returns false on a syntax error. */
static bool posix_abbr(const char **s, char *out) {
  const char *p = *s;
  size_t n = 0;
  if (*p == '<') {
    p++;
    while (*p && *p != '>') {
      if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-')
        return false;
      if (n + 1 >= ABBR_MAX)
        return false;
      out[n++] = *p++;
    }
    if (*p != '>')
      return false;
    p++;
  } else {
    while (isalpha((unsigned char)*p)) {
      if (n + 1 >= ABBR_MAX)
        return false;
      out[n++] = *p++;
    }
  }
  if (n < 3)
    return false;
  out[n] = '\0';
  *s = p;
  return true;
}

/* [+-]hh[:mm[:ss]] with hh up to max_hours; returns seconds. */
static bool posix_hms(const char **s, int max_hours, int32_t *out) {
  const char *p = *s;
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return false;
  int32_t parts[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (i > 0) {
      if (*p != ':')
        break;
      p++;
    }
    if (!isdigit((unsigned char)*p))
      return false;
    int v = 0, digits = 0;
    while (isdigit((unsigned char)*p) && digits < 3) {
      v = v * 10 + (*p++ - '0');
      digits++;
    }
    parts[i] = v;
  }
  if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59)
    return false;
  *out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  *s = p;
  return true;
}

static bool posix_number(const char **s, int lo, int hi, int *out) {
  const char *p = *s;
  int v = 0, digits = 0;
  while (isdigit((unsigned char)*p) && digits < 4) {
    v = v * 10 + (*p++ - '0');
    digits++;
  }
  if (digits == 0 || v < lo || v > hi)
    return false;
  *out = v;
  *s = p;
  return true;
}

static bool posix_rule_date(const char **s, rule_date *out) {
  const char *p = *s;
  if (*p == 'J') {
    p++;
    out->kind = 'J';
    if (!posix_number(&p, 1, 365, &out->a))
      return false;
  } else if (*p == 'M') {
    p++;
    out->kind = 'M';
    if (!posix_number(&p, 1, 12, &out->a) || *p++ != '.' || !posix_number(&p, 1, 5, &out->b) ||
        *p++ != '.' || !posix_number(&p, 0, 6, &out->c))
      return false;
  } else {
    out->kind = 'N';
    if (!posix_number(&p, 0, 365, &out->a))
      return false;
  }
  out->time = 7200;
  if (*p == '/') {
    p++;
    /* RFC 8536 extends the time to -167..167 hours. */
    if (!posix_hms(&p, 167, &out->time))
      return false;
  }
  *s = p;
  return true;
}

static bool posix_parse(const char *s, posix_tz *out) {
  memset(out, 0, sizeof *out);
  int32_t off;
  if (!posix_abbr(&s, out->std_abbr) || !posix_hms(&s, 24, &off))
    return false;
  out->std_offset = -off; /* POSIX counts west as positive */
  if (*s == '\0')
    return true;
  out->has_dst = true;
  if (!posix_abbr(&s, out->dst_abbr))
    return false;
  out->dst_offset = out->std_offset + 3600;
  if (*s != ',' && *s != '\0') {
    if (!posix_hms(&s, 24, &off))
      return false;
    out->dst_offset = -off;
  }
  if (*s == '\0') {
    /* No rule: POSIX leaves it to the implementation; use the US rule. */
    out->start = (rule_date){'M', 3, 2, 0, 7200};
    out->end = (rule_date){'M', 11, 1, 0, 7200};
    return true;
  }
  if (*s++ != ',' || !posix_rule_date(&s, &out->start) || *s++ != ',' ||
      !posix_rule_date(&s, &out->end) || *s != '\0')
    return false;
  return out->std_offset >= OFFSET_MIN && out->std_offset <= OFFSET_MAX &&
         out->dst_offset >= OFFSET_MIN && out->dst_offset <= OFFSET_MAX;
}

/* Local seconds at which a rule date's time falls in `year`. */
static int64_t rule_local(const rule_date *r, int64_t year) {
  int64_t days;
  if (r->kind == 'J') {
    /* 1-365, February 29 never counted. */
    days = civil_days_from_date(year, 1, 1) + r->a - 1;
    if (civil_is_leap(year) && r->a >= 60)
      days++;
  } else if (r->kind == 'N') {
    days = civil_days_from_date(year, 1, 1) + r->a;
  } else {
    int64_t first = civil_days_from_date(year, r->a, 1);
    int wd = civil_weekday(first);
    int d = 1 + (r->c - wd + 7) % 7 + 7 * (r->b - 1);
    int dim = civil_days_in_month(year, r->a);
    while (d > dim)
      d -= 7;
    days = first + d - 1;
  }
  return days * CIVIL_SECONDS_PER_DAY + r->time;
}

/* The offset change a transition makes. */
static int32_t change(int32_t a, int32_t b) {
  return a > b ? a - b : b - a;
}

/*
 * A footer rule is usable when, over a whole Gregorian cycle, its changes
 * alternate (DST on, off, on...) and every period between them lasts at
 * least as long as the offset changes around it. Rules that make DST
 * overlap the next year's ("EST5EDT,0/0,J365/26") or periods shorter than
 * their own jumps describe no clock that can be read unambiguously. Ending
 * exactly where the next year's DST starts is the permanent-DST idiom
 * ("EST5EDT,0/0,J365/25") and is allowed.
 */
static bool footer_is_sane(const posix_tz *f) {
  if (!f->has_dst)
    return true;
  int32_t jump = change(f->std_offset, f->dst_offset);
  for (int64_t y = 2000; y < 2400; y++) {
    int64_t on = rule_local(&f->start, y) - f->std_offset;
    int64_t off = rule_local(&f->end, y) - f->dst_offset;
    int64_t next_on = rule_local(&f->start, y + 1) - f->std_offset;
    int64_t next_off = rule_local(&f->end, y + 1) - f->dst_offset;
    if (on < off) { /* DST inside the year */
      if (off - on < jump || next_on < off || (next_on > off && next_on - off < jump))
        return false;
    } else if (off < on) { /* DST across the new year */
      if (on - off < jump || next_off < on || (next_off > on && next_off - on < jump))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

/* Explicit transitions: each period lasts at least as long as the offset
 * changes at its two ends, so that a wall time falls in at most one gap or
 * fold. (Every zone in tzdata passes; a file that does not is corrupt.) */
static bool transitions_are_sane(const tz_zone *z) {
  for (size_t i = 0; i + 1 < z->ntrans; i++) {
    int64_t length = z->trans[i + 1] - z->trans[i];
    int32_t before = i ? z->trans_offset[i - 1] : z->types[0].offset;
    if (length < change(before, z->trans_offset[i]) ||
        length < change(z->trans_offset[i], z->trans_offset[i + 1]))
      return false;
  }
  return true;
}

static void free_parts(tz_zone *z) {
  free(z->name);
  free(z->trans);
  free(z->trans_offset);
  free(z->trans_type);
  free(z->types);
  free(z->abbrs);
  free(z);
}

void tz_zone_free(tz_zone *zone) {
  if (!zone || zone->is_static)
    return;
  free_parts(zone);
}

typedef struct tzif_header {
  char version;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header;

static bool read_header(reader *r, tzif_header *h) {
  const unsigned char *p;
  if (!take(r, 44, &p) || memcmp(p, "TZif", 4) != 0)
    return false;
  h->version = (char)p[4];
  h->isutcnt = be32(p + 20);
  h->isstdcnt = be32(p + 24);
  h->leapcnt = be32(p + 28);
  h->timecnt = be32(p + 32);
  h->typecnt = be32(p + 36);
  h->charcnt = be32(p + 40);
  return true;
}

static size_t block_size(const tzif_header *h, size_t time_size) {
  return (size_t)h->timecnt * time_size + h->timecnt + (size_t)h->typecnt * 6 + h->charcnt +
         (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
}

cf_err tz_zone_parse(const char *name, const unsigned char *data, size_t len, tz_zone **out,
                     char *err_buf, size_t err_cap) {
  reader r = {data, data + len};
  tzif_header h;
  *out = NULL;
  if (len > TZ_FILE_MAX)
    return corrupt(err_buf, err_cap, "file is larger than the TZif limit");
  if (!read_header(&r, &h))
    return corrupt(err_buf, err_cap, "not a TZif file (no TZif header)");
  /* Counts are bounded by the file size; checking each against len first
   * keeps the size arithmetic below far from overflow. */
  if (h.timecnt > len || h.typecnt > len || h.charcnt > len || h.leapcnt > len ||
      h.isstdcnt > len || h.isutcnt > len)
    return corrupt(err_buf, err_cap, "header counts exceed the file size");
  size_t time_size = 4;
  if (h.version >= '2') {
    const unsigned char *skip;
    if (!take(&r, block_size(&h, 4), &skip) || !read_header(&r, &h))
      return corrupt(err_buf, err_cap, "truncated version 1 data block");
    if (h.timecnt > len || h.typecnt > len || h.charcnt > len || h.leapcnt > len ||
        h.isstdcnt > len || h.isutcnt > len)
      return corrupt(err_buf, err_cap, "header counts exceed the file size");
    time_size = 8;
  } else if (h.version != '\0') {
    return corrupt(err_buf, err_cap, "unknown TZif version");
  }
  if (h.typecnt == 0 || h.typecnt > 256 || h.charcnt == 0 ||
      (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt))
    return corrupt(err_buf, err_cap, "inconsistent TZif header counts");
  if ((size_t)(r.end - r.p) < block_size(&h, time_size))
    return corrupt(err_buf, err_cap, "truncated TZif data block");

  tz_zone *z = calloc(1, sizeof *z);
  if (!z)
    return CF_E_NOMEM;
  z->name = strdup(name);
  z->ntrans = h.timecnt;
  z->ntypes = h.typecnt;
  z->trans = malloc((h.timecnt + 1) * sizeof *z->trans);
  z->trans_offset = malloc((h.timecnt + 1) * sizeof *z->trans_offset);
  z->trans_type = malloc(h.timecnt + 1);
  z->types = malloc(h.typecnt * sizeof *z->types);
  z->abbrs = malloc(h.charcnt + 1);
  z->abbrs_len = h.charcnt;
  if (!z->name || !z->trans || !z->trans_offset || !z->trans_type || !z->types || !z->abbrs) {
    free_parts(z);
    return CF_E_NOMEM;
  }
  const unsigned char *times = NULL, *idx = NULL, *types = NULL, *chars = NULL, *skip = NULL;
  (void)take(&r, h.timecnt * time_size, &times);
  (void)take(&r, h.timecnt, &idx);
  (void)take(&r, h.typecnt * 6, &types);
  (void)take(&r, h.charcnt, &chars);
  (void)take(&r, h.leapcnt * (time_size + 4) + h.isstdcnt + h.isutcnt, &skip);

  const char *why = NULL;
  for (size_t i = 0; i < h.typecnt && !why; i++) {
    int32_t off = (int32_t)be32(types + 6 * i);
    if (off < OFFSET_MIN || off > OFFSET_MAX)
      why = "a UTC offset is out of range";
    else if (types[6 * i + 4] > 1)
      why = "a DST flag is not 0 or 1";
    else if (types[6 * i + 5] >= h.charcnt)
      why = "an abbreviation index is out of range";
    z->types[i] = (zone_type){off, types[6 * i + 4] == 1, types[6 * i + 5]};
  }
  memcpy(z->abbrs, chars, h.charcnt);
  z->abbrs[h.charcnt] = '\0';
  if (chars[h.charcnt - 1] != '\0' && !why)
    why = "abbreviations are not NUL-terminated";
  for (size_t i = 0; i < h.timecnt && !why; i++) {
    int64_t t = time_size == 8 ? be64(times + 8 * i) : (int64_t)(int32_t)be32(times + 4 * i);
    if (i > 0 && t <= z->trans[i - 1])
      why = "transition times are not ascending";
    else if (idx[i] >= h.typecnt)
      why = "a transition names a type that does not exist";
    else if (t < -(INT64_C(1) << 59) || t > (INT64_C(1) << 59))
      why = "a transition time is out of range";
    else {
      z->trans[i] = t;
      z->trans_type[i] = idx[i];
      z->trans_offset[i] = z->types[idx[i]].offset;
    }
  }
  if (!why && time_size == 8 && r.p < r.end) {
    /* Footer: "\n" POSIX-TZ-string "\n". An empty string means none. */
    const unsigned char *nl1 = r.p;
    const unsigned char *nl2 =
        nl1 + 1 < r.end ? memchr(nl1 + 1, '\n', (size_t)(r.end - nl1 - 1)) : NULL;
    if (*nl1 != '\n' || !nl2) {
      why = "malformed footer";
    } else if (nl2 > nl1 + 1) {
      char tzs[128];
      size_t n = (size_t)(nl2 - nl1 - 1);
      if (n >= sizeof tzs)
        why = "footer TZ string is too long";
      else {
        memcpy(tzs, nl1 + 1, n);
        tzs[n] = '\0';
        if (memchr(tzs, '\0', n) || !posix_parse(tzs, &z->footer))
          why = "footer TZ string is not valid";
        else
          z->has_footer = true;
      }
    }
  }
  if (!why && z->has_footer && !footer_is_sane(&z->footer))
    why = "the footer's daylight-saving rule overlaps itself or changes faster than its jumps";
  if (!why && !transitions_are_sane(z))
    why = "transitions are closer together than the offset changes they make";
  if (why) {
    free_parts(z);
    return corrupt(err_buf, err_cap, why);
  }
  *out = z;
  return CF_OK;
}

/* ---------------------------------------------------------------- lookup */

typedef struct footer_change {
  int64_t at;
  int32_t offset;
  bool is_dst;
} footer_change;

/* The footer's transitions for years y-2..y+2, in time order. Rule times
 * may run up to 167 hours past either end of their year, so the changes
 * around any instant of year y, and the one before those, are among them. */
#define FOOTER_CHANGES 10
static int footer_changes(const posix_tz *f, int64_t year, footer_change out[FOOTER_CHANGES]) {
  int n = 0;
  for (int64_t y = year - 2; y <= year + 2; y++) {
    footer_change a = {rule_local(&f->start, y) - f->std_offset, f->dst_offset, true};
    footer_change b = {rule_local(&f->end, y) - f->dst_offset, f->std_offset, false};
    if (b.at < a.at) {
      footer_change t = a;
      a = b;
      b = t;
    }
    out[n++] = a;
    out[n++] = b;
  }
  /* Insertion sort; stable, so for equal instants the later year wins. */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && out[j].at < out[j - 1].at; j--) {
      footer_change t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

static const char *type_abbr(const tz_zone *z, size_t type) {
  return z->abbrs + z->types[type].abbr;
}

/* Offset and flags in force just after the last explicit transition, or in
 * a zone with none, before everything: type 0 (RFC 8536 section 3.2). */
static size_t last_type(const tz_zone *z) {
  return z->ntrans ? z->trans_type[z->ntrans - 1] : 0;
}

/* The period containing t, for t at or after the last transition, when the
 * footer has daylight saving time. */
static void footer_period(const tz_zone *z, int64_t t, tz_period *out) {
  const posix_tz *f = &z->footer;
  int64_t floor_start = z->ntrans ? z->trans[z->ntrans - 1] : INT64_MIN;
  civil_time ct;
  civil_from_seconds(t + f->std_offset, &ct);
  footer_change ch[FOOTER_CHANGES];
  int n = footer_changes(f, ct.year, ch);
  int last = -1;
  for (int i = 0; i < n; i++)
    if (ch[i].at <= t)
      last = i;
  int64_t end = last + 1 < n ? ch[last + 1].at : INT64_MAX;
  if (last < 0 || ch[last].at <= floor_start) {
    /* Still in the period opened by the last explicit transition. */
    size_t ty = last_type(z);
    out->start = floor_start;
    out->end = end;
    out->offset = z->types[ty].offset;
    out->is_dst = z->types[ty].is_dst;
    out->abbr = type_abbr(z, ty);
    out->prev_offset = z->ntrans >= 2 ? z->trans_offset[z->ntrans - 2] : z->types[0].offset;
    if (z->ntrans == 0)
      out->prev_offset = out->offset;
    return;
  }
  out->start = ch[last].at;
  out->end = end;
  out->offset = ch[last].offset;
  out->is_dst = ch[last].is_dst;
  out->abbr = ch[last].is_dst ? f->dst_abbr : f->std_abbr;
  /* The offset just before: the latest change strictly earlier. */
  int prev = last - 1;
  while (prev >= 0 && ch[prev].at == ch[last].at)
    prev--;
  if (prev >= 0 && ch[prev].at > floor_start)
    out->prev_offset = ch[prev].offset;
  else if (z->ntrans)
    out->prev_offset = z->types[last_type(z)].offset;
  else
    out->prev_offset = ch[last].is_dst ? f->std_offset : f->dst_offset;
}

void tz_zone_period(const tz_zone *z, int64_t t, tz_period *out) {
  size_t n = z->ntrans;
  if (n == 0 || t >= z->trans[n - 1]) {
    if (z->has_footer && z->footer.has_dst) {
      footer_period(z, t, out);
      return;
    }
    size_t ty = last_type(z);
    out->start = n ? z->trans[n - 1] : INT64_MIN;
    out->end = INT64_MAX;
    out->offset = z->types[ty].offset;
    out->is_dst = z->types[ty].is_dst;
    out->abbr = type_abbr(z, ty);
    out->prev_offset = n >= 2 ? z->trans_offset[n - 2] : n == 1 ? z->types[0].offset : out->offset;
    return;
  }
  if (t < z->trans[0]) {
    out->start = INT64_MIN;
    out->end = z->trans[0];
    out->offset = out->prev_offset = z->types[0].offset;
    out->is_dst = z->types[0].is_dst;
    out->abbr = type_abbr(z, 0);
    return;
  }
  /* Largest i with trans[i] <= t; trans[0] <= t < trans[n-1] here. */
  size_t lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->trans[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  size_t ty = z->trans_type[lo];
  out->start = z->trans[lo];
  out->end = z->trans[lo + 1];
  out->offset = z->trans_offset[lo];
  out->prev_offset = lo ? z->trans_offset[lo - 1] : z->types[0].offset;
  out->is_dst = z->types[ty].is_dst;
  out->abbr = type_abbr(z, ty);
}

int32_t tz_zone_offset(const tz_zone *zone, int64_t t) {
  tz_period p;
  tz_zone_period(zone, t, &p);
  return p.offset;
}

void tz_zone_resolve(const tz_zone *z, int64_t local, tz_local_info *out) {
  tz_period p, prev = {0};
  bool have_prev = false, found = false, gap = false;
  int64_t t = local - RESOLVE_SPAN;
  memset(out, 0, sizeof *out);
  /* Walk every period that could hold an instant showing this wall time;
   * there are a handful at most within the span. */
  for (int guard = 0; guard < 256; guard++) {
    tz_zone_period(z, t, &p);
    int64_t cand = local - p.offset;
    if (cand >= p.start && cand < p.end) {
      if (!found) {
        out->earliest = out->latest = cand;
        out->offset_before = out->offset_after = p.offset;
        found = true;
      } else if (cand > out->latest) {
        out->latest = cand;
        out->transition = p.start;
        out->offset_after = p.offset;
      }
    } else if (!found && !gap && have_prev && prev.end + prev.offset <= local &&
               local < p.start + p.offset) {
      /* The wall time falls in the jump at p.start. */
      gap = true;
      out->earliest = out->latest = local - prev.offset;
      out->transition = p.start;
      out->offset_before = prev.offset;
      out->offset_after = p.offset;
    }
    if (p.end == INT64_MAX || p.end > local + RESOLVE_SPAN)
      break;
    prev = p;
    have_prev = true;
    t = p.end;
  }
  if (found) {
    out->kind = out->latest != out->earliest ? TZ_LOCAL_FOLD : TZ_LOCAL_UNIQUE;
    if (out->kind == TZ_LOCAL_UNIQUE)
      out->transition = 0;
  } else if (gap) {
    out->kind = TZ_LOCAL_GAP;
  } else {
    /* Unreachable for well-formed zones; answer with the nearest offset. */
    out->kind = TZ_LOCAL_UNIQUE;
    out->earliest = out->latest = local - tz_zone_offset(z, local);
  }
}

/* ---------------------------------------------------------------- the db */

typedef struct zone_entry {
  struct zone_entry *next;
  tz_zone *zone;
} zone_entry;

struct tz_db {
  char *dir;
  pthread_mutex_t lock;
  zone_entry *zones; /* loaded zones; a short list, searched under lock */
  char **names;      /* sorted zone names, built on first tz_db_list */
  size_t nnames;
};

cf_err tz_db_open(const char *dir, tz_db **out) {
  *out = NULL;
  if (!dir)
    dir = getenv("TZDIR");
  if (!dir || !*dir)
    dir = "/usr/share/zoneinfo";
  struct stat st;
  tz_db *db = calloc(1, sizeof *db);
  if (!db)
    return CF_E_NOMEM;
  db->dir = strdup(dir);
  if (!db->dir) {
    free(db);
    return CF_E_NOMEM;
  }
  pthread_mutex_init(&db->lock, NULL);
  /* A missing directory still leaves UTC usable; listing reports the error. */
  (void)stat(dir, &st);
  *out = db;
  return CF_OK;
}

void tz_db_free(tz_db *db) {
  if (!db)
    return;
  for (zone_entry *e = db->zones, *next; e; e = next) {
    next = e->next;
    tz_zone_free(e->zone);
    free(e);
  }
  for (size_t i = 0; i < db->nnames; i++)
    free(db->names[i]);
  free(db->names);
  pthread_mutex_destroy(&db->lock);
  free(db->dir);
  free(db);
}

/* Accepts names made of IANA's characters, relative, with no "." or ".."
 * component, so a name can never leave the zoneinfo directory. */
static bool name_is_safe(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
    return false;
  for (const char *p = name; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (!(isalnum(c) || c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
      return false;
    if (c == '/' && p[1] == '/')
      return false;
    if ((p == name || p[-1] == '/') && c == '.')
      return false;
  }
  return true;
}

static cf_err read_file(const char *path, unsigned char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return errno == ENOMEM ? CF_E_NOMEM : CF_E_NOT_FOUND;
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return CF_E_NOT_FOUND;
  }
  if (st.st_size > TZ_FILE_MAX) {
    fclose(f);
    return CF_E_TZ_CORRUPT;
  }
  unsigned char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    fclose(f);
    return CF_E_NOMEM;
  }
  size_t got = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  *data = buf;
  *len = got;
  return CF_OK;
}

static tz_zone *find_loaded(tz_db *db, const char *name) {
  for (zone_entry *e = db->zones; e; e = e->next)
    if (strcmp(e->zone->name, name) == 0)
      return e->zone;
  return NULL;
}

static cf_err load_locked(tz_db *db, const char *name, const tz_zone **out) {
  tz_zone *z = find_loaded(db, name);
  if (z) {
    *out = z;
    return CF_OK;
  }
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", db->dir, name) >= sizeof path)
    return CF_E_TZ_UNKNOWN;
  unsigned char *data;
  size_t len;
  cf_err err = read_file(path, &data, &len);
  if (err == CF_E_NOT_FOUND)
    return CF_E_TZ_UNKNOWN;
  if (err)
    return err;
  if (len < 4 || memcmp(data, "TZif", 4) != 0) {
    free(data);
    return CF_E_TZ_UNKNOWN; /* zone.tab and friends are not zones */
  }
  err = tz_zone_parse(name, data, len, &z, NULL, 0);
  free(data);
  if (err)
    return err;
  zone_entry *e = malloc(sizeof *e);
  if (!e) {
    tz_zone_free(z);
    return CF_E_NOMEM;
  }
  e->zone = z;
  e->next = db->zones;
  db->zones = e;
  *out = z;
  return CF_OK;
}

static cf_err list_locked(tz_db *db);

cf_err tz_db_zone(tz_db *db, const char *name, const tz_zone **out) {
  *out = NULL;
  if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
    /* Served from the zone file when there is one (same data), so that the
     * zone's name is the one asked for; built in otherwise. */
    pthread_mutex_lock(&db->lock);
    cf_err err = load_locked(db, name, out);
    pthread_mutex_unlock(&db->lock);
    if (err)
      *out = tz_utc();
    return CF_OK;
  }
  if (!name_is_safe(name))
    return CF_E_TZ_UNKNOWN;
  pthread_mutex_lock(&db->lock);
  cf_err err = load_locked(db, name, out);
  if (err == CF_E_TZ_UNKNOWN && list_locked(db) == CF_OK) {
    for (size_t i = 0; i < db->nnames; i++)
      if (strcasecmp(db->names[i], name) == 0) {
        err = load_locked(db, db->names[i], out);
        break;
      }
  }
  pthread_mutex_unlock(&db->lock);
  return err;
}

typedef struct name_list {
  char **items;
  size_t n, cap;
} name_list;

static cf_err walk(const char *root, const char *rel, name_list *list, int depth) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
  DIR *d = opendir(path);
  if (!d)
    return depth == 0 ? CF_E_IO : CF_OK;
  cf_err err = CF_OK;
  struct dirent *de;
  while (!err && (de = readdir(d))) {
    const char *n = de->d_name;
    if (n[0] == '.')
      continue;
    if (depth == 0 &&
        (strcmp(n, "posix") == 0 || strcmp(n, "right") == 0 || strcmp(n, "localtime") == 0 ||
         strcmp(n, "posixrules") == 0 || strcmp(n, "Factory") == 0))
      continue;
    char sub[4096];
    if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", n) >= sizeof sub ||
        strlen(sub) > TZ_NAME_MAX)
      continue;
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", root, sub);
    struct stat st;
    if (stat(full, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth < 4)
        err = walk(root, sub, list, depth + 1);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !name_is_safe(sub))
      continue;
    FILE *f = fopen(full, "rb");
    char magic[4];
    bool is_tzif = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f)
      fclose(f);
    if (!is_tzif)
      continue;
    if (list->n == list->cap) {
      size_t cap = list->cap ? list->cap * 2 : 256;
      char **items = realloc(list->items, cap * sizeof *items);
      if (!items)
        return CF_E_NOMEM;
      list->items = items;
      list->cap = cap;
    }
    if (!(list->items[list->n] = strdup(sub)))
      err = CF_E_NOMEM;
    else
      list->n++;
  }
  closedir(d);
  return err;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static cf_err list_locked(tz_db *db) {
  if (db->names)
    return CF_OK;
  name_list list = {0};
  cf_err err = walk(db->dir, "", &list, 0);
  if (err) {
    for (size_t i = 0; i < list.n; i++)
      free(list.items[i]);
    free(list.items);
    return err;
  }
  qsort(list.items, list.n, sizeof *list.items, compare_names);
  db->names = list.items;
  db->nnames = list.n;
  if (!db->names) {
    /* An empty directory: remember that with a non-NULL empty list. */
    db->names = calloc(1, sizeof *db->names);
    if (!db->names)
      return CF_E_NOMEM;
  }
  return CF_OK;
}

cf_err tz_db_list(tz_db *db, const char *const **names, size_t *count) {
  pthread_mutex_lock(&db->lock);
  cf_err err = list_locked(db);
  pthread_mutex_unlock(&db->lock);
  if (err)
    return err;
  *names = (const char *const *)db->names;
  *count = db->nnames;
  return CF_OK;
}
