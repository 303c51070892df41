/*
 * cron_cmd.c — `cronflow cron ...` and `cronflow tz ...`: the cron and zone
 * modules from a shell. The output formats are a contract (tests and other
 * tools parse them): one ISO-8601 instant with the zone's offset per line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/civil.h"
#include "cli/cli.h"
#include "cron/cron.h"
#include "tz/tz.h"

#define COUNT_MAX 1000000

static const char cron_usage[] =
    "usage: cronflow cron next EXPR [--tz ZONE] [--from TIME] [--count N] [--prev] [--seed N]\n"
    "       cronflow cron validate EXPR [--tz ZONE] [--seed N]\n"
    "       cronflow cron describe EXPR [--seed N]\n"
    "\n"
    "  EXPR     5 fields (minute hour day-of-month month day-of-week), 6 with\n"
    "           seconds first, or a nickname such as @daily; quote it\n"
    "  --tz     IANA zone the schedule runs in (default UTC)\n"
    "  --from   ISO-8601 start, e.g. 2024-03-10T01:00:00Z or ...-05:00; without\n"
    "           an offset it is a wall time in --tz (default: now)\n"
    "  --count  how many instants to print (default 1)\n"
    "  --prev   walk backwards: instants strictly before --from\n"
    "  --seed   the value that H hashes (default 0)\n";

typedef struct cron_args {
  const char *expr, *tz, *from;
  long count;
  bool prev;
  uint64_t seed;
} cron_args;

static bool parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

/* Returns 0, or the exit status for a usage error. */
static int parse_args(int argc, char **argv, cron_args *a) {
  memset(a, 0, sizeof *a);
  a->count = 1;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = strcmp(arg, "--tz") == 0 || strcmp(arg, "--from") == 0 ||
                 strcmp(arg, "--count") == 0 || strcmp(arg, "--seed") == 0;
    if (takes && !val) {
      fprintf(stderr, "cronflow: %s needs a value\n", arg);
      return 2;
    }
    if (strcmp(arg, "--tz") == 0) {
      a->tz = val;
      i++;
    } else if (strcmp(arg, "--from") == 0) {
      a->from = val;
      i++;
    } else if (strcmp(arg, "--count") == 0) {
      if (!parse_long(val, 1, COUNT_MAX, &a->count)) {
        fprintf(stderr, "cronflow: --count must be a whole number from 1 to %d, not '%s'\n",
                COUNT_MAX, val);
        return 2;
      }
      i++;
    } else if (strcmp(arg, "--seed") == 0) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(val, &end, 10);
      if (errno || end == val || *end || val[0] == '-') {
        fprintf(stderr, "cronflow: --seed must be a whole number from 0 to 2^64-1, not '%s'\n",
                val);
        return 2;
      }
      a->seed = v;
      i++;
    } else if (strcmp(arg, "--prev") == 0) {
      a->prev = true;
    } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(cron_usage, stdout);
      exit(0);
    } else if (arg[0] == '-' && arg[1] == '-') {
      fprintf(stderr, "cronflow: unknown option %s\n%s", arg, cron_usage);
      return 2;
    } else if (!a->expr) {
      a->expr = arg;
    } else {
      fprintf(stderr,
              "cronflow: unexpected argument '%s' (quote the expression: \"0 9 * * 1-5\")\n", arg);
      return 2;
    }
  }
  if (!a->expr) {
    fprintf(stderr, "cronflow: the cron expression is missing\n%s", cron_usage);
    return 2;
  }
  return 0;
}

/* Opens the zone database and finds --tz; prints the error itself. */
static int open_zone(const char *name, tz_db **db, const tz_zone **zone) {
  if (tz_db_open(NULL, db) != CF_OK) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  cf_err err = tz_db_zone(*db, name ? name : "UTC", zone);
  if (err == CF_E_TZ_UNKNOWN) {
    fprintf(stderr,
            "cronflow: unknown time zone '%s' (IANA names such as Europe/London; `cronflow tz "
            "list` shows them all)\n",
            name);
    return 2;
  }
  if (err) {
    fprintf(stderr, "cronflow: time zone '%s': %s\n", name, cf_strerror(err));
    return 1;
  }
  return 0;
}

static int parse_expr(const cron_args *a, cron_expr **expr) {
  cron_error perr;
  cf_err err = cron_parse(a->expr, a->seed, expr, &perr);
  if (err == CF_E_NOMEM) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  if (err) {
    fprintf(stderr, "cronflow: invalid cron expression: %s\n", perr.message);
    return 2;
  }
  return 0;
}

static int cmd_next(const cron_args *a) {
  tz_db *db = NULL;
  const tz_zone *zone;
  cron_expr *expr = NULL;
  int rc = open_zone(a->tz, &db, &zone);
  if (!rc)
    rc = parse_expr(a, &expr);
  int64_t t = 0;
  int32_t nanos = 0;
  if (!rc && a->from) {
    bool has_offset;
    char why[200];
    cf_err err = civil_parse_iso(a->from, &t, &nanos, &has_offset, why, sizeof why);
    if (err) {
      fprintf(stderr, "cronflow: --from '%s': %s\n", a->from, why);
      rc = 2;
    } else if (!has_offset) {
      tz_local_info li;
      tz_zone_resolve(zone, t, &li);
      t = li.earliest;
    }
  } else if (!rc) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t = now.tv_sec;
    nanos = (int32_t)now.tv_nsec;
  }
  if (!rc) {
    /* Fires are whole seconds: strictly before t.5 means at or before t. */
    if (a->prev && nanos > 0)
      t++;
    char line[40];
    for (long i = 0; i < a->count; i++) {
      cron_fire fire;
      cf_err err = a->prev ? cron_prev(expr, zone, t, &fire) : cron_next(expr, zone, t, &fire);
      if (err) {
        fflush(stdout);
        fprintf(stderr, "cronflow: %s\n",
                a->prev ? "the expression never fired before that instant (searched back to year 1)"
                        : "the expression never fires again (searched to the end of year 9999)");
        rc = 1;
        break;
      }
      civil_format_iso(fire.at, fire.offset, line, sizeof line);
      puts(line);
      t = fire.at;
    }
  }
  cron_free(expr);
  tz_db_free(db);
  return rc;
}

static int cmd_validate(const cron_args *a, bool describe_only) {
  tz_db *db = NULL;
  const tz_zone *zone;
  cron_expr *expr = NULL;
  int rc = describe_only ? 0 : open_zone(a->tz, &db, &zone);
  if (!rc)
    rc = parse_expr(a, &expr);
  if (!rc) {
    char *text = cron_describe_alloc(expr);
    if (!text) {
      fprintf(stderr, "cronflow: out of memory\n");
      rc = 1;
    } else {
      puts(text);
      free(text);
    }
  }
  cron_free(expr);
  tz_db_free(db);
  return rc;
}

int cli_cron(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    fputs(cron_usage, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  cron_args a;
  int rc = parse_args(argc - 1, argv + 1, &a);
  if (rc)
    return rc;
  if (strcmp(argv[0], "next") == 0)
    return cmd_next(&a);
  if (strcmp(argv[0], "validate") == 0)
    return cmd_validate(&a, false);
  if (strcmp(argv[0], "describe") == 0)
    return cmd_validate(&a, true);
  fprintf(stderr, "cronflow: unknown cron command '%s'\n%s", argv[0], cron_usage);
  return 2;
}

static const char tz_usage[] = "usage: cronflow tz list\n"
                               "       cronflow tz show ZONE [--at TIME]\n";

int cli_tz(int argc, char **argv) {
  tz_db *db;
  if (argc < 1) {
    fputs(tz_usage, stderr);
    return 2;
  }
  if (tz_db_open(NULL, &db) != CF_OK) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  int rc = 0;
  if (strcmp(argv[0], "list") == 0) {
    const char *const *names;
    size_t n;
    cf_err err = tz_db_list(db, &names, &n);
    if (err) {
      fprintf(stderr, "cronflow: cannot list time zones: %s\n", cf_strerror(err));
      rc = 1;
    }
    for (size_t i = 0; !err && i < n; i++)
      puts(names[i]);
  } else if (strcmp(argv[0], "show") == 0 && argc >= 2) {
    const tz_zone *zone;
    rc = open_zone(argv[1], &db, &zone);
    if (!rc) {
      int64_t t = time(NULL);
      if (argc >= 4 && strcmp(argv[2], "--at") == 0) {
        int32_t nanos;
        bool has_offset;
        char why[200];
        if (civil_parse_iso(argv[3], &t, &nanos, &has_offset, why, sizeof why) != CF_OK) {
          fprintf(stderr, "cronflow: --at '%s': %s\n", argv[3], why);
          rc = 2;
        }
      }
      if (!rc) {
        tz_period p;
        tz_zone_period(zone, t, &p);
        char now[40], start[40], end[40];
        civil_format_iso(t, p.offset, now, sizeof now);
        if (p.start == INT64_MIN)
          snprintf(start, sizeof start, "-");
        else
          civil_format_iso(p.start, p.offset, start, sizeof start);
        if (p.end == INT64_MAX)
          snprintf(end, sizeof end, "-");
        else
          civil_format_iso(p.end, p.offset, end, sizeof end);
        printf("%s %s %s dst=%d period=%s..%s\n", tz_zone_name(zone), now, p.abbr, p.is_dst, start,
               end);
      }
    }
  } else {
    fputs(tz_usage, stderr);
    rc = 2;
  }
  tz_db_free(db);
  return rc;
}
