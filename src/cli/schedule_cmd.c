/*
 * schedule_cmd.c — the admin command line for workflows and schedules:
 *
 *   cronflow workflow add --db PATH FILE.json
 *   cronflow schedule add --db PATH --workflow ID --cron EXPR [options]
 *   cronflow schedule list|show|enable|disable|delete|ticks --db PATH [ID]
 *
 * Everything a person types is checked before the store sees it, with an
 * error that says what to fix (cron errors name the field and column).
 * Output is JSON, one document per command, so scripts and tests can read
 * it. A running server picks the changes up within a second (its scheduler
 * checks the store's change feed).
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/civil.h"
#include "cli/cli.h"
#include "cron/cron.h"
#include "store/store.h"
#include "tz/tz.h"

static const char schedule_usage[] =
    "usage: cronflow schedule add --db PATH --workflow ID --cron EXPR [--timezone ZONE]\n"
    "                             [--misfire skip|once|all] [--misfire-limit N]\n"
    "                             [--overlap skip|allow|queue_one|replace] [--grace-ms N]\n"
    "                             [--jitter-ms N] [--starts-at TIME] [--ends-at TIME]\n"
    "                             [--input JSON] [--disabled]\n"
    "       cronflow schedule list --db PATH\n"
    "       cronflow schedule show|enable|disable|delete --db PATH ID\n"
    "       cronflow schedule ticks --db PATH ID [--limit N] [--before TICK_ID]\n";

static const char workflow_usage[] = "usage: cronflow workflow add --db PATH FILE.json\n";

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints a JSON document on one line and frees it. */
static int print_json(json_t *j) {
  if (!j) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  puts(text);
  free(text);
  return 0;
}

/* A UTC instant as ISO-8601 with milliseconds, or JSON null for 0. */
static json_t *instant_json(int64_t ms) {
  if (!ms)
    return json_null();
  char buf[40];
  civil_time t;
  civil_from_seconds(civil_floor_div(ms, 1000), &t);
  snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)t.year, t.month,
           t.day, t.hour, t.minute, t.second, (int)civil_floor_mod(ms, 1000));
  return json_string(buf);
}

static json_t *schedule_json(const store_schedule *sc) {
  json_t *input = json_loads(sc->input, 0, NULL);
  return json_pack(
      "{sI sI ss ss sb ss si ss sI sI so so so so so ss? sI sI sI sI so so}", "id",
      (json_int_t)sc->id, "workflow_id", (json_int_t)sc->workflow_id, "cron", sc->cron, "timezone",
      sc->timezone, "enabled", sc->enabled, "misfire_policy", store_misfire_name(sc->misfire),
      "misfire_limit", (int)sc->misfire_limit, "overlap_policy", store_overlap_name(sc->overlap),
      "grace_ms", (json_int_t)sc->grace_ms, "jitter_ms", (json_int_t)sc->jitter_ms, "starts_at",
      instant_json(sc->starts_at), "ends_at", instant_json(sc->ends_at), "input",
      input ? input : json_object(), "next_fire_at", instant_json(sc->next_fire_at), "last_fire_at",
      instant_json(sc->last_fire_at), "last_status", sc->last_status, "total_runs",
      (json_int_t)sc->total_runs, "succeeded_runs", (json_int_t)sc->succeeded_runs, "failed_runs",
      (json_int_t)sc->failed_runs, "revision", (json_int_t)sc->revision, "created_at",
      instant_json(sc->created_at), "updated_at", instant_json(sc->updated_at));
}

/* A non-negative integer option, whole text. */
static bool parse_count(const char *name, const char *text, int64_t max, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || *end || v < 0 || v > max) {
    fprintf(stderr, "cronflow: %s must be a whole number from 0 to %lld, not '%s'\n", name,
            (long long)max, text);
    return false;
  }
  *out = v;
  return true;
}

/* A date-time with an offset ("2027-03-14T02:30:00-05:00" or "...Z"). */
static bool parse_instant(const char *name, const char *text, int64_t *out) {
  int64_t sec;
  int32_t nanos;
  bool has_offset;
  char why[160] = "";
  if (civil_parse_iso(text, &sec, &nanos, &has_offset, why, sizeof why) != CF_OK || !has_offset) {
    fprintf(stderr, "cronflow: %s '%s' is not an ISO-8601 time with Z or an offset%s%s\n", name,
            text, why[0] ? ": " : "", why);
    return false;
  }
  *out = sec * 1000 + nanos / 1000000;
  return true;
}

typedef struct sched_args {
  const char *db, *id_text;
  const char *workflow, *cron, *timezone, *misfire, *overlap, *input;
  const char *misfire_limit, *grace, *jitter, *starts, *ends, *limit, *before;
  bool disabled;
} sched_args;

/* Options that take a value, and where each goes. */
static const char **option_slot(sched_args *a, const char *name) {
  static const struct {
    const char *name;
    size_t offset;
  } table[] = {
      {"--db", offsetof(sched_args, db)},
      {"--workflow", offsetof(sched_args, workflow)},
      {"--cron", offsetof(sched_args, cron)},
      {"--timezone", offsetof(sched_args, timezone)},
      {"--misfire", offsetof(sched_args, misfire)},
      {"--overlap", offsetof(sched_args, overlap)},
      {"--input", offsetof(sched_args, input)},
      {"--misfire-limit", offsetof(sched_args, misfire_limit)},
      {"--grace-ms", offsetof(sched_args, grace)},
      {"--jitter-ms", offsetof(sched_args, jitter)},
      {"--starts-at", offsetof(sched_args, starts)},
      {"--ends-at", offsetof(sched_args, ends)},
      {"--limit", offsetof(sched_args, limit)},
      {"--before", offsetof(sched_args, before)},
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++)
    if (strcmp(table[i].name, name) == 0)
      return (const char **)((char *)a + table[i].offset);
  return NULL;
}

static int parse_args(int argc, char **argv, sched_args *a) {
  for (int i = 0; i < argc; i++) {
    const char **slot = option_slot(a, argv[i]);
    if (slot) {
      if (i + 1 >= argc) {
        fprintf(stderr, "cronflow: %s needs a value\n%s", argv[i], schedule_usage);
        return 2;
      }
      *slot = argv[++i];
    } else if (strcmp(argv[i], "--disabled") == 0) {
      a->disabled = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(schedule_usage, stdout);
      return -1;
    } else if (argv[i][0] != '-' && !a->id_text) {
      a->id_text = argv[i];
    } else {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", argv[i], schedule_usage);
      return 2;
    }
  }
  if (!a->db) {
    fprintf(stderr, "cronflow: --db PATH is required\n%s", schedule_usage);
    return 2;
  }
  return 0;
}

/* Checks every option of `schedule add` and fills n. Returns an exit
 * status (0 = valid). `input` keeps the compact JSON text alive. */
static int build_new(store *st, const sched_args *a, store_schedule_new *n, char **input,
                     char zone_name[TZ_NAME_MAX + 1]) {
  *n = (store_schedule_new){.enabled = !a->disabled, .grace_ms = -1};
  int64_t v;
  if (!a->workflow || !a->cron) {
    fprintf(stderr, "cronflow: --workflow ID and --cron EXPR are required\n%s", schedule_usage);
    return 2;
  }
  if (!parse_count("--workflow", a->workflow, INT64_MAX, &n->workflow_id))
    return 2;
  store_workflow w;
  cf_err rc = store_workflow_get(st, 0, n->workflow_id, &w);
  if (rc == CF_E_NOT_FOUND) {
    fprintf(stderr, "cronflow: there is no workflow %s (cronflow workflow add creates one)\n",
            a->workflow);
    return 2;
  }
  if (rc) {
    fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
    return 1;
  }
  store_workflow_clear(&w);
  cron_expr *expr;
  cron_error why;
  rc = cron_parse(a->cron, 0, &expr, &why);
  if (rc) {
    fprintf(stderr, "cronflow: invalid cron expression: %s\n",
            rc == CF_E_NOMEM ? cf_strerror(rc) : why.message);
    return rc == CF_E_NOMEM ? 1 : 2;
  }
  cron_free(expr);
  n->cron = a->cron;
  tz_db *zones;
  if (tz_db_open(NULL, &zones) != CF_OK) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  const tz_zone *zone;
  rc = tz_db_zone(zones, a->timezone ? a->timezone : "UTC", &zone);
  if (!rc) /* stored as the zone calls itself: america/new_york -> America/New_York */
    snprintf(zone_name, TZ_NAME_MAX + 1, "%s", tz_zone_name(zone));
  tz_db_free(zones);
  if (rc) {
    fprintf(stderr, "cronflow: unknown time zone '%s' (IANA names such as Europe/London)\n",
            a->timezone);
    return 2;
  }
  n->timezone = zone_name;
  n->misfire = STORE_MISFIRE_ONCE;
  if (a->misfire && !store_misfire_parse(a->misfire, &n->misfire)) {
    fprintf(stderr, "cronflow: unknown misfire policy '%s' (skip, once or all)\n", a->misfire);
    return 2;
  }
  n->overlap = STORE_OVERLAP_SKIP;
  if (a->overlap && !store_overlap_parse(a->overlap, &n->overlap)) {
    fprintf(stderr, "cronflow: unknown overlap policy '%s' (skip, allow, queue_one or replace)\n",
            a->overlap);
    return 2;
  }
  if (a->misfire_limit) {
    if (!parse_count("--misfire-limit", a->misfire_limit, 100000, &v) || v == 0) {
      if (v == 0)
        fprintf(stderr, "cronflow: --misfire-limit must be at least 1\n");
      return 2;
    }
    n->misfire_limit = (int32_t)v;
  }
  if (a->grace && !parse_count("--grace-ms", a->grace, INT64_C(86400000) * 365, &n->grace_ms))
    return 2;
  /* Jitter stays within a day: it is a per-schedule offset, not a delay. */
  if (a->jitter && !parse_count("--jitter-ms", a->jitter, 86400000, &n->jitter_ms))
    return 2;
  if (a->starts && !parse_instant("--starts-at", a->starts, &n->starts_at))
    return 2;
  if (a->ends && !parse_instant("--ends-at", a->ends, &n->ends_at))
    return 2;
  if (n->starts_at && n->ends_at && n->ends_at <= n->starts_at) {
    fprintf(stderr, "cronflow: --ends-at must be later than --starts-at\n");
    return 2;
  }
  if (a->input) {
    json_error_t jerr;
    json_t *j = json_loads(a->input, 0, &jerr);
    if (!j || !json_is_object(j)) {
      fprintf(stderr, "cronflow: --input must be a JSON object%s%s\n", j ? "" : ": ",
              j ? "" : jerr.text);
      json_decref(j);
      return 2;
    }
    *input = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    n->input = *input;
  }
  return 0;
}

static int schedule_add(store *st, const sched_args *a) {
  store_schedule_new n;
  char *input = NULL, zone_name[TZ_NAME_MAX + 1];
  int status = build_new(st, a, &n, &input, zone_name);
  if (status) {
    free(input);
    return status;
  }
  int64_t id;
  cf_err rc = store_sched_create(st, &n, now_ms(), &id);
  free(input);
  if (rc) {
    fprintf(stderr, "cronflow: cannot create the schedule: %s\n", cf_strerror(rc));
    return 1;
  }
  store_schedule sc;
  if ((rc = store_sched_get(st, 0, id, &sc)) != CF_OK) {
    fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
    return 1;
  }
  status = print_json(schedule_json(&sc));
  store_schedule_clear(&sc);
  return status;
}

static int schedule_list(store *st) {
  json_t *arr = json_array();
  int64_t after = 0;
  for (;;) {
    store_schedule *items;
    size_t n;
    cf_err rc = store_sched_list(st, 0, after, 500, &items, &n);
    if (rc) {
      json_decref(arr);
      fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
      return 1;
    }
    for (size_t i = 0; i < n; i++) {
      json_array_append_new(arr, schedule_json(&items[i]));
      after = items[i].id;
    }
    store_schedules_free(items, n);
    if (n < 500)
      break;
  }
  return print_json(arr);
}

static int schedule_ticks(store *st, const sched_args *a, int64_t id) {
  int64_t limit = 100, before = 0;
  if (a->limit && (!parse_count("--limit", a->limit, 10000, &limit) || limit == 0))
    return 2;
  if (a->before && !parse_count("--before", a->before, INT64_MAX, &before))
    return 2;
  store_tick *t;
  size_t n;
  cf_err rc = store_sched_ticks(st, id, before, (int)limit, &t, &n);
  if (rc) {
    fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
    return 1;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        arr, json_pack("{sI so ss so ss so}", "id", (json_int_t)t[i].id, "scheduled_at",
                       instant_json(t[i].scheduled_at), "outcome", t[i].outcome, "execution_id",
                       t[i].execution_id ? json_integer(t[i].execution_id) : json_null(), "detail",
                       t[i].detail, "recorded_at", instant_json(t[i].recorded_at)));
  store_ticks_free(t, n);
  return print_json(arr);
}

/* show, enable, disable, delete, ticks: all name one schedule. */
static int schedule_one(store *st, const char *verb, const sched_args *a) {
  int64_t id;
  if (!a->id_text) {
    fprintf(stderr, "cronflow: schedule %s needs the schedule's ID\n", verb);
    return 2;
  }
  if (!parse_count("the schedule ID", a->id_text, INT64_MAX, &id))
    return 2;
  if (strcmp(verb, "ticks") == 0)
    return schedule_ticks(st, a, id);
  cf_err rc = CF_OK;
  if (strcmp(verb, "enable") == 0 || strcmp(verb, "disable") == 0)
    rc = store_sched_set_enabled(st, 0, id, verb[0] == 'e', now_ms());
  else if (strcmp(verb, "delete") == 0)
    rc = store_sched_delete(st, 0, id, now_ms());
  if (rc == CF_E_NOT_FOUND) {
    fprintf(stderr, "cronflow: there is no schedule %lld\n", (long long)id);
    return 1;
  }
  if (rc) {
    fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
    return 1;
  }
  if (strcmp(verb, "delete") == 0)
    return print_json(json_pack("{sI sb}", "id", (json_int_t)id, "deleted", 1));
  store_schedule sc;
  rc = store_sched_get(st, 0, id, &sc);
  if (rc) {
    if (rc == CF_E_NOT_FOUND)
      fprintf(stderr, "cronflow: there is no schedule %lld\n", (long long)id);
    else
      fprintf(stderr, "cronflow: %s\n", cf_strerror(rc));
    return 1;
  }
  int status = print_json(schedule_json(&sc));
  store_schedule_clear(&sc);
  return status;
}

int cli_schedule(int argc, char **argv) {
  static const char *const verbs[] = {"add",     "list",   "show", "enable",
                                      "disable", "delete", "ticks"};
  const char *verb = argc > 0 ? argv[0] : "";
  bool known = false;
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
    known |= strcmp(verb, verbs[i]) == 0;
  if (!known) {
    fprintf(stderr, "%s%s", argc ? "cronflow: unknown schedule command\n" : "", schedule_usage);
    return 2;
  }
  sched_args a = {0};
  int status = parse_args(argc - 1, argv + 1, &a);
  if (status)
    return status < 0 ? 0 : status;
  store *st;
  if ((status = cli_open_store(a.db, true, &st)) != 0)
    return status;
  if (strcmp(verb, "add") == 0)
    status = schedule_add(st, &a);
  else if (strcmp(verb, "list") == 0)
    status = schedule_list(st);
  else
    status = schedule_one(st, verb, &a);
  store_close(st);
  return status;
}

/* Reads a whole file of at most `cap` bytes. */
static char *read_file(const char *path, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = malloc(cap + 1);
  size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
  fclose(f);
  if (!buf || n > cap) {
    free(buf);
    errno = EFBIG;
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

int cli_workflow(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "add") != 0) {
    fputs(workflow_usage, stderr);
    return 2;
  }
  const char *db = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
      db = argv[++i];
    else if (argv[i][0] != '-' && !file)
      file = argv[i];
    else {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", argv[i], workflow_usage);
      return 2;
    }
  }
  if (!db || !file) {
    fputs(workflow_usage, stderr);
    return 2;
  }
  char *text = read_file(file, 1 << 20);
  if (!text) {
    fprintf(stderr, "cronflow: cannot read %s: %s\n", file, strerror(errno));
    return 1;
  }
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  free(text);
  if (!json_is_object(doc)) {
    fprintf(stderr, "cronflow: %s: %s%s\n", file, doc ? "a workflow is a JSON object" : "line ",
            doc ? "" : jerr.text);
    json_decref(doc);
    return 2;
  }
  const char *name = json_string_value(json_object_get(doc, "name"));
  if (!name || !name[0]) {
    fprintf(stderr, "cronflow: %s: the workflow needs a \"name\" string\n", file);
    json_decref(doc);
    return 2;
  }
  const char *desc = json_string_value(json_object_get(doc, "description"));
  char *definition = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  store *st;
  int status = definition ? cli_open_store(db, true, &st) : 1;
  if (!status) {
    int64_t id;
    cf_err rc = store_workflow_create(st, 0, name, desc ? desc : "", definition, now_ms(), &id);
    if (rc) {
      fprintf(stderr, "cronflow: cannot add the workflow: %s\n", cf_strerror(rc));
      status = 1;
    } else {
      printf("%lld\n", (long long)id);
    }
    store_close(st);
  }
  free(definition);
  json_decref(doc);
  return status;
}
