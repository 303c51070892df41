/*
 * bench_cron.c — how long cron_next and cron_parse take, on a fixed mix of
 * expressions and zones (the same mix bench/cron-parser-bench.mjs runs
 * through cron-parser, so scripts/run-bench can print the two side by side).
 *
 *   bench_cron [--ms N] [--chains N] [--only TEXT]
 *                          JSON lines, one per measurement
 *   bench_cron --list      the mix, "expr<TAB>zone" per line
 *
 * Work per (expression, zone) pair: chains of CHAIN_LENGTH calls t =
 * cron_next(t) from START, repeated until --ms milliseconds have passed (or
 * exactly --chains times, for profilers; --only keeps the pairs whose
 * "expr @ zone" contains TEXT, to profile one). Parsing is outside the timed
 * loop; it has its own lines. Each next line carries the instant the first
 * chain ends on ("last"), so the two implementations can be checked to have
 * walked the same instants.
 *
 * Needs the system's tzdata (/usr/share/zoneinfo, or TZDIR).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/civil.h"
#include "cron/cron.h"
#include "tz/tz.h"

static const char *const exprs[] = {
    "*/5 * * * *",          /* every 5 minutes */
    "0 9 * * 1-5",          /* weekdays at 09:00 */
    "0 0 L * *",            /* the last day of the month */
    "0 12 * * 5L",          /* the last Friday of the month */
    "*/10 * * * * *",       /* 6 fields: every 10 seconds */
    "0 0 29 2 *",           /* leap days only */
    "30 2 * * *",           /* daily inside the DST gap and fold hours */
    "0 0 1 1 *",            /* yearly */
    "15 10 ? * 6#3",        /* the third Saturday */
    "0 */2 * * *",          /* every two hours */
    "0 8-18/2 * * MON-FRI", /* office hours */
    "0 0 1,15 * 3",         /* both day fields: days 1 and 15, or Wednesdays */
};
static const char *const zones[] = {
    "UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
};
#define NEXPRS (sizeof exprs / sizeof *exprs)
#define NZONES (sizeof zones / sizeof *zones)

/* Long enough to cross DST changes for sub-daily expressions, short enough
 * that yearly ones stay within a few centuries. */
#define CHAIN_LENGTH 100
/* 2024-01-01T00:00:00Z, the start of every chain (both implementations). */
#define START INT64_C(1704067200)

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps the compiler from dropping work whose result is unused. */
static volatile int64_t sink;

/* One chain; returns the last instant, or -1 if the schedule ran dry. */
static int64_t run_chain(const cron_expr *e, const tz_zone *z) {
  int64_t t = START;
  cron_fire f;
  for (int i = 0; i < CHAIN_LENGTH; i++) {
    if (cron_next(e, z, t, &f) != CF_OK)
      return -1;
    t = f.at;
  }
  return t;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_cron [--ms N] [--chains N] [--only TEXT] | --list\n");
  exit(2);
}

/* Whether the pair's "expr @ zone" contains `only` (NULL keeps all). */
static bool selected(const char *only, size_t x, size_t z) {
  if (!only)
    return true;
  char name[128];
  snprintf(name, sizeof name, "%s @ %s", exprs[x], zones[z]);
  return strstr(name, only) != NULL;
}

int main(int argc, char **argv) {
  long min_ms = 100, fixed_chains = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--list") == 0) {
      for (size_t x = 0; x < NEXPRS; x++)
        for (size_t z = 0; z < NZONES; z++)
          printf("%s\t%s\n", exprs[x], zones[z]);
      return 0;
    } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
      min_ms = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--chains") == 0 && i + 1 < argc) {
      fixed_chains = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      usage();
    }
  }
  if (min_ms < 1 || fixed_chains < 0)
    usage();

  tz_db *db;
  if (tz_db_open(NULL, &db) != CF_OK) {
    fprintf(stderr, "bench_cron: cannot open the zoneinfo directory\n");
    return 1;
  }
  const tz_zone *zs[NZONES];
  for (size_t z = 0; z < NZONES; z++) {
    cf_err err = tz_db_zone(db, zones[z], &zs[z]);
    if (err) {
      fprintf(stderr, "bench_cron: zone %s: %s\n", zones[z], cf_strerror(err));
      return 1;
    }
  }

  /* Parsing: each expression parsed and freed until the time is up. */
  double parse_total = 0;
  size_t parsed = 0, pairs = 0;
  for (size_t x = 0; x < NEXPRS; x++) {
    bool wanted = false;
    for (size_t z = 0; z < NZONES; z++)
      wanted = wanted || selected(only, x, z);
    if (!wanted)
      continue;
    parsed++;
    long n = 0;
    double start = now_ns(), end;
    do {
      for (int k = 0; k < 100; k++) {
        cron_expr *e;
        if (cron_parse(exprs[x], 0, &e, NULL) != CF_OK) {
          fprintf(stderr, "bench_cron: cannot parse '%s'\n", exprs[x]);
          return 1;
        }
        sink = cron_has_seconds(e);
        cron_free(e);
      }
      n += 100;
      end = now_ns();
    } while (fixed_chains ? n < fixed_chains : end - start < min_ms * 1e6 / 10);
    double ns = (end - start) / (double)n;
    parse_total += ns;
    printf("{\"bench\":\"cron_parse\",\"impl\":\"cronflow\",\"expr\":\"%s\","
           "\"ns_per_parse\":%.1f,\"parses\":%ld}\n",
           exprs[x], ns, n);
  }

  double next_total = 0, log_total = 0;
  for (size_t x = 0; x < NEXPRS; x++) {
    cron_expr *e;
    if (cron_parse(exprs[x], 0, &e, NULL) != CF_OK)
      return 1;
    for (size_t z = 0; z < NZONES; z++) {
      if (!selected(only, x, z))
        continue;
      pairs++;
      int64_t last = run_chain(e, zs[z]); /* warm-up, and the check value */
      long chains = 0;
      double start = now_ns(), end;
      do {
        sink = run_chain(e, zs[z]);
        chains++;
        end = now_ns();
      } while (fixed_chains ? chains < fixed_chains : end - start < min_ms * 1e6);
      double ns = (end - start) / ((double)chains * CHAIN_LENGTH);
      next_total += ns;
      log_total += log(ns);
      char iso[40] = "none";
      if (last >= 0)
        civil_format_iso(last, 0, iso, sizeof iso);
      printf("{\"bench\":\"cron_next\",\"impl\":\"cronflow\",\"expr\":\"%s\","
             "\"zone\":\"%s\",\"ns_per_next\":%.1f,\"nexts\":%ld,"
             "\"last\":\"%s\"}\n",
             exprs[x], zones[z], ns, chains * CHAIN_LENGTH, iso);
      fflush(stdout);
    }
    cron_free(e);
  }
  if (pairs == 0) {
    fprintf(stderr, "bench_cron: no pair matches '%s'\n", only);
    return 2;
  }
  printf("{\"bench\":\"cron_next_mean\",\"impl\":\"cronflow\",\"pairs\":%zu,"
         "\"ns_per_next\":%.1f,\"geomean_ns_per_next\":%.1f,"
         "\"ns_per_parse\":%.1f}\n",
         pairs, next_total / (double)pairs, exp(log_total / (double)pairs),
         parse_total / (double)parsed);
  tz_db_free(db);
  return 0;
}
