/*
 * tz.h — IANA time zones read from the system's TZif files (RFC 8536).
 *
 * A tz_db is a handle on one zoneinfo directory. Zones are loaded from it on
 * first use, once, and are immutable afterwards: a `const tz_zone *` may be
 * used from any number of threads for as long as its tz_db lives. There is no
 * global state and nothing here touches the process's TZ or locale.
 *
 * A zone's timeline is a sequence of periods, half-open UTC intervals
 * [start, end) with one UTC offset each. Offsets are seconds east of UTC.
 * "Local" times are wall-clock times counted in seconds since
 * 1970-01-01T00:00:00 as if they were UTC (see base/civil.h). Instants past
 * the file's last transition follow its POSIX TZ footer, so the timeline runs
 * on to year 9999 and beyond.
 *
 * Unknown zones are errors (CF_E_TZ_UNKNOWN), never a silent fallback to UTC.
 */
#ifndef CF_TZ_TZ_H
#define CF_TZ_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct tz_db tz_db;
typedef struct tz_zone tz_zone;

/* The longest zone name accepted, in bytes. */
#define TZ_NAME_MAX 128
/* The largest TZif file accepted, in bytes. */
#define TZ_FILE_MAX (512 * 1024)

/*
 * Opens the zoneinfo directory `dir`; NULL means the TZDIR environment
 * variable if set, else /usr/share/zoneinfo. Nothing is read until a zone is
 * asked for. Returns CF_E_NOMEM or CF_E_IO (the directory does not exist).
 * The caller owns *out and frees it with tz_db_free.
 */
CF_MUST_CHECK cf_err tz_db_open(const char *dir, tz_db **out);

/* Frees the database and every zone loaded from it. NULL is a no-op. */
void tz_db_free(tz_db *db);

/*
 * Finds a zone by its IANA name ("America/New_York"). Names match exactly,
 * or else case-insensitively ("america/new_york"). "UTC" always exists, even
 * without tzdata. Returns CF_E_TZ_UNKNOWN for a name that is not a zone,
 * CF_E_TZ_CORRUPT for an unreadable file, CF_E_NOMEM. The zone belongs to
 * the db. Thread-safe.
 */
CF_MUST_CHECK cf_err tz_db_zone(tz_db *db, const char *name, const tz_zone **out);

/*
 * The names of all zones in the directory, sorted, without the posix/ and
 * right/ copies and without non-zone files. *names is owned by the db (valid
 * until tz_db_free). Thread-safe. Returns CF_E_NOMEM or CF_E_IO.
 */
CF_MUST_CHECK cf_err tz_db_list(tz_db *db, const char *const **names, size_t *count);

/* The built-in UTC zone; static, never freed. */
const tz_zone *tz_utc(void);

/*
 * Parses TZif bytes into a zone named `name` (copied). Returns
 * CF_E_TZ_CORRUPT with a reason in err_buf (when not NULL) for anything that
 * is not well-formed TZif, CF_E_NOMEM. The caller owns *out and frees it
 * with tz_zone_free. This is what tz_db_zone uses; tests and the fuzzer call
 * it directly.
 */
CF_MUST_CHECK cf_err tz_zone_parse(const char *name, const unsigned char *data, size_t len,
                                   tz_zone **out, char *err_buf, size_t err_cap);
/* Frees a zone made by tz_zone_parse. NULL and tz_utc() are no-ops. */
void tz_zone_free(tz_zone *zone);

const char *tz_zone_name(const tz_zone *zone);

typedef struct tz_period {
  int64_t start;       /* first instant of the period; INT64_MIN if none */
  int64_t end;         /* first instant after it; INT64_MAX if none */
  int32_t offset;      /* UTC offset during the period */
  int32_t prev_offset; /* offset just before `start` (== offset if none) */
  bool is_dst;
  const char *abbr; /* "EST"; owned by the zone */
} tz_period;

/* The period that contains the UTC instant t. Thread-safe, never fails. */
void tz_zone_period(const tz_zone *zone, int64_t t, tz_period *out);

/* The UTC offset at instant t. */
int32_t tz_zone_offset(const tz_zone *zone, int64_t t);

typedef enum {
  TZ_LOCAL_UNIQUE, /* the wall time happens once */
  TZ_LOCAL_GAP,    /* skipped by a forward jump (spring forward) */
  TZ_LOCAL_FOLD,   /* happens twice (fall back) */
} tz_local_kind;

typedef struct tz_local_info {
  tz_local_kind kind;
  /* UNIQUE: the instant. FOLD: the first occurrence. GAP: the wall time
   * read with the offset in force before the jump, which is the wall time
   * moved forward by the length of the gap (02:30 -> 03:30). */
  int64_t earliest;
  /* FOLD: the second occurrence; otherwise equal to earliest. */
  int64_t latest;
  /* GAP and FOLD: the transition instant and the offsets around it. */
  int64_t transition;
  int32_t offset_before, offset_after;
} tz_local_info;

/* Resolves a local wall time to UTC. Thread-safe, never fails. */
void tz_zone_resolve(const tz_zone *zone, int64_t local, tz_local_info *out);

#endif
