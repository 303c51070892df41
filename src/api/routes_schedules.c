/*
 * routes_schedules.c — the original system's schedule endpoints, same
 * paths and verbs: POST|GET|PATCH|DELETE /api/workflows/{id}/schedule
 * (one schedule per workflow), GET /api/schedules (every schedule of the
 * organization with its next run in UTC and local time, last run and
 * counters), and cronflow's GET /api/schedules/{id}/ticks (the tick
 * ledger: why a schedule did or did not run).
 *
 * Every definition is checked before the store sees it (the cron
 * expression with its field and column, the zone, the policies, bounds,
 * input), so a bad request changes nothing. Each change is told to the
 * scheduler (sched_notify) so that it takes effect at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/exec_json.h"
#include "base/civil.h"
#include "cron/cron.h"
#include "sched/sched.h"

#define CRON_MAX_BYTES 256
#define MEMO_SLOTS     16 /* distinct expressions parsed once per listing */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parsed expressions of one request, keyed by text, so a page of
 * schedules sharing a few expressions parses each once. H is seeded by the
 * schedule's id: such expressions are never shared (text NULL). */
typedef struct cron_memo {
  const char *text[MEMO_SLOTS];
  cron_expr *expr[MEMO_SLOTS];
  int n;
} cron_memo;

/* The parsed expression, or NULL when it does not parse. *temp says the
 * caller must free it (the memo is full). */
static cron_expr *memo_parse(cron_memo *m, const char *text, int64_t seed, bool *temp) {
  bool seeded = strchr(text, 'H') != NULL;
  *temp = false;
  for (int i = 0; !seeded && i < m->n; i++)
    if (m->text[i] && strcmp(m->text[i], text) == 0)
      return m->expr[i];
  cron_expr *e;
  cron_error why;
  if (cron_parse(text, (uint64_t)seed, &e, &why) != CF_OK)
    return NULL;
  if (m->n == MEMO_SLOTS) {
    *temp = true;
    return e;
  }
  m->text[m->n] = seeded ? NULL : text;
  m->expr[m->n++] = e;
  return e;
}

static void memo_free(cron_memo *m) {
  for (int i = 0; i < m->n; i++)
    cron_free(m->expr[i]);
}

/* Sets next_run_at / next_run_local (null when disabled, deleted or past
 * its end). */
static void next_run(const api_request *req, cron_memo *memo, const store_schedule *sc, json_t *o) {
  json_t *at = NULL, *local = NULL;
  const tz_zone *zone;
  cron_expr *expr = NULL;
  bool temp = false;
  if (sc->enabled && !sc->deleted && tz_db_zone(req->cfg->zones, sc->timezone, &zone) == CF_OK)
    expr = memo_parse(memo, sc->cron, sc->id, &temp);
  cron_fire f;
  int64_t after = now_ms() / 1000;
  if (sc->starts_at && sc->starts_at / 1000 - 1 > after)
    after = sc->starts_at / 1000 - 1;
  if (expr && cron_next(expr, zone, after, &f) == CF_OK) {
    int64_t ms = f.at * 1000 + sched_jitter_offset(sc->id, sc->jitter_ms);
    if (!sc->ends_at || ms <= sc->ends_at) {
      char buf[48];
      civil_format_iso(ms / 1000, f.offset, buf, sizeof buf);
      at = api_time_json(ms);
      local = json_string(buf);
    }
  }
  if (temp)
    cron_free(expr);
  json_object_set_new(o, "next_run_at", at ? at : json_null());
  json_object_set_new(o, "next_run_local", local ? local : json_null());
}

static json_t *schedule_json(const api_request *req, cron_memo *memo, const store_schedule *sc) {
  json_t *input = json_loads(sc->input ? sc->input : "{}", 0, NULL);
  json_t *o = json_pack(
      "{s:I,s:I,s:s,s:s,s:b,s:s,s:i,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:o,s:o}", "id",
      (json_int_t)sc->id, "workflow_id", (json_int_t)sc->workflow_id, "cron", sc->cron, "timezone",
      sc->timezone, "enabled", sc->enabled, "misfire_policy", store_misfire_name(sc->misfire),
      "misfire_limit", (int)sc->misfire_limit, "overlap_policy", store_overlap_name(sc->overlap),
      "grace_ms", (json_int_t)sc->grace_ms, "jitter_ms", (json_int_t)sc->jitter_ms, "starts_at",
      api_time_json(sc->starts_at), "ends_at", api_time_json(sc->ends_at), "input",
      input ? input : json_object(), "last_run_at", api_time_json(sc->last_fire_at), "last_status",
      sc->last_status ? json_string(sc->last_status) : json_null(), "total_runs",
      (json_int_t)sc->total_runs, "successful_runs", (json_int_t)sc->succeeded_runs, "failed_runs",
      (json_int_t)sc->failed_runs, "created_at", api_time_json(sc->created_at), "updated_at",
      api_time_json(sc->updated_at));
  if (o)
    next_run(req, memo, sc, o);
  return o;
}

/* Answers with schedule `id` of the caller's organization. */
static void answer_schedule(const api_request *req, api_response *res, int64_t id,
                            unsigned status) {
  store_schedule sc;
  cf_err rc = store_sched_get(req->cfg->store, req->auth.org_id, id, &sc);
  if (rc) {
    api_store_error(res, rc, "schedule");
    return;
  }
  cron_memo memo = {0};
  json_t *o = schedule_json(req, &memo, &sc);
  int64_t workflow = sc.workflow_id;
  memo_free(&memo);
  store_schedule_clear(&sc);
  if (status == 201) {
    char where[80];
    snprintf(where, sizeof where, "/api/workflows/%lld/schedule", (long long)workflow);
    api_created(res, o, where);
  } else {
    res->status = status;
    res->json = o;
  }
}

/* ------------------------------------------------------------ reading a body */

/* Applies the body (parsed, owned by the caller: n's strings point into
 * it) over `n`, which holds the current definition or the defaults, and
 * checks the result: the cron expression (field and column), the zone,
 * the policies and bounds. *input_text receives the new input's JSON
 * (caller frees; NULL when not given). False after a 422. */
static bool apply_body(const api_request *req, api_response *res, json_t *body, bool create,
                       store_schedule_new *n, char **input_text) {
  static const char *const fields[] = {
      "cron",     "timezone",  "enabled",   "misfire_policy", "misfire_limit", "overlap_policy",
      "grace_ms", "jitter_ms", "starts_at", "ends_at",        "input",         NULL};
  const char *misfire = NULL, *overlap = NULL;
  int64_t limit = n->misfire_limit, grace = n->grace_ms, jitter = n->jitter_ms;
  *input_text = NULL;
  if (!api_fields_known(body, fields, res) ||
      !api_field_string(body, "cron", create, CRON_MAX_BYTES, &n->cron, res) ||
      !api_field_string(body, "timezone", false, 64, &n->timezone, res) ||
      !api_field_bool(body, "enabled", &n->enabled, res) ||
      !api_field_string(body, "misfire_policy", false, 16, &misfire, res) ||
      !api_field_int(body, "misfire_limit", false, 1, 10000, &limit, res) ||
      !api_field_string(body, "overlap_policy", false, 16, &overlap, res) ||
      !api_field_int(body, "grace_ms", false, 0, 7LL * 86400000, &grace, res) ||
      !api_field_int(body, "jitter_ms", false, 0, 86400000, &jitter, res) ||
      !api_field_time(body, "starts_at", &n->starts_at, res) ||
      !api_field_time(body, "ends_at", &n->ends_at, res))
    return false;
  json_t *input = json_object_get(body, "input");
  const tz_zone *zone;
  cron_expr *expr = NULL;
  cron_error why;
  char msg[300];
  if (misfire && !store_misfire_parse(misfire, &n->misfire)) {
    api_error_field(res, 422, "invalid_field", "misfire_policy: skip, once or all",
                    "misfire_policy");
  } else if (overlap && !store_overlap_parse(overlap, &n->overlap)) {
    api_error_field(res, 422, "invalid_field", "overlap_policy: allow, skip, queue_one or replace",
                    "overlap_policy");
  } else if (input && !json_is_object(input)) {
    api_error_field(res, 422, "invalid_field", "input: must be an object", "input");
  } else if (n->starts_at && n->ends_at && n->ends_at <= n->starts_at) {
    api_error_field(res, 422, "invalid_field", "ends_at: must be after starts_at", "ends_at");
  } else if (tz_db_zone(req->cfg->zones, n->timezone, &zone) != CF_OK) {
    snprintf(msg, sizeof msg,
             "timezone: unknown time zone '%.100s' (IANA names such as "
             "Europe/London)",
             n->timezone);
    api_error_field(res, 422, "invalid_field", msg, "timezone");
  } else if (cron_parse(n->cron, 0, &expr, &why) != CF_OK) {
    snprintf(msg, sizeof msg, "cron: %s", why.message);
    api_error_field(res, 422, "invalid_field", msg, "cron");
  }
  cron_free(expr);
  if (res->json)
    return false;
  n->misfire_limit = (int32_t)limit;
  n->grace_ms = grace;
  n->jitter_ms = jitter;
  if (input) {
    *input_text = json_dumps(input, JSON_COMPACT);
    n->input = *input_text;
  }
  return true;
}

/* The workflow id in the path and, with `existing`, its schedule's id.
 * False after a 404. */
static bool workflow_schedule(const api_request *req, api_response *res, int64_t *workflow,
                              int64_t *schedule) {
  if (!api_param_id(req, res, "id", "workflow", workflow))
    return false;
  store_workflow w;
  cf_err rc = store_workflow_get(req->cfg->store, req->auth.org_id, *workflow, &w);
  if (rc) {
    api_store_error(res, rc, "workflow");
    return false;
  }
  store_workflow_clear(&w);
  rc = store_workflow_schedule(req->cfg->store, req->auth.org_id, *workflow, schedule);
  if (rc == CF_E_NOT_FOUND)
    *schedule = 0;
  else if (rc) {
    api_store_error(res, rc, "schedule");
    return false;
  }
  return true;
}

static void notify(const api_request *req, int64_t id) {
  if (req->cfg->sched)
    sched_notify(req->cfg->sched, id);
}

static void schedule_create(const api_request *req, api_response *res) {
  int64_t workflow, existing;
  if (!workflow_schedule(req, res, &workflow, &existing))
    return;
  if (existing) {
    api_error(res, 409, "conflict",
              "the workflow has a schedule already: change it with PATCH, or delete it first");
    return;
  }
  json_t *body = api_body_object(req, res);
  if (!body)
    return;
  store_schedule_new n = {.org_id = req->auth.org_id,
                          .workflow_id = workflow,
                          .timezone = "UTC",
                          .enabled = true,
                          .misfire = STORE_MISFIRE_ONCE,
                          .misfire_limit = 100,
                          .overlap = STORE_OVERLAP_SKIP,
                          .grace_ms = 60000};
  char *input = NULL;
  int64_t id;
  if (apply_body(req, res, body, true, &n, &input)) {
    cf_err rc = store_sched_create(req->cfg->store, &n, now_ms(), &id);
    if (rc) {
      api_store_error(res, rc, "schedule");
    } else {
      notify(req, id);
      answer_schedule(req, res, id, 201);
    }
  }
  free(input);
  json_decref(body);
}

/* The path's workflow's schedule; false after a 404. */
static bool existing_schedule(const api_request *req, api_response *res, int64_t *id) {
  int64_t workflow;
  if (!workflow_schedule(req, res, &workflow, id))
    return false;
  if (!*id)
    api_error(res, 404, "not_found", "the workflow has no schedule");
  return *id != 0;
}

static void schedule_get(const api_request *req, api_response *res) {
  int64_t id;
  if (existing_schedule(req, res, &id))
    answer_schedule(req, res, id, 200);
}

static void schedule_patch(const api_request *req, api_response *res) {
  int64_t id;
  if (!existing_schedule(req, res, &id))
    return;
  json_t *body = api_body_object(req, res);
  store_schedule sc;
  cf_err rc = body ? store_sched_get(req->cfg->store, req->auth.org_id, id, &sc) : CF_OK;
  if (!body || rc) {
    if (rc)
      api_store_error(res, rc, "schedule");
    json_decref(body);
    return;
  }
  store_schedule_new n = {.org_id = sc.org_id,
                          .workflow_id = sc.workflow_id,
                          .cron = sc.cron,
                          .timezone = sc.timezone,
                          .enabled = sc.enabled,
                          .misfire = sc.misfire,
                          .misfire_limit = sc.misfire_limit,
                          .overlap = sc.overlap,
                          .grace_ms = sc.grace_ms,
                          .jitter_ms = sc.jitter_ms,
                          .starts_at = sc.starts_at,
                          .ends_at = sc.ends_at,
                          .input = sc.input};
  char *input = NULL;
  if (apply_body(req, res, body, false, &n, &input)) {
    int64_t now = now_ms();
    bool enabled_only = json_object_size(body) == 1 && json_object_get(body, "enabled");
    rc = enabled_only
             ? store_sched_set_enabled(req->cfg->store, req->auth.org_id, id, n.enabled, now)
         : json_object_size(body)
             ? store_sched_update(req->cfg->store, req->auth.org_id, id, &n, now)
             : CF_OK;
    if (rc) {
      api_store_error(res, rc, "schedule");
    } else {
      notify(req, id);
      answer_schedule(req, res, id, 200);
    }
  }
  free(input);
  store_schedule_clear(&sc);
  json_decref(body);
}

static void schedule_delete(const api_request *req, api_response *res) {
  int64_t id;
  if (!existing_schedule(req, res, &id))
    return;
  cf_err rc = store_sched_delete(req->cfg->store, req->auth.org_id, id, now_ms());
  if (rc) {
    api_store_error(res, rc, "schedule");
    return;
  }
  notify(req, id);
  api_no_content(res);
}

static void schedules_list(const api_request *req, api_response *res) {
  int limit;
  int64_t after;
  if (!api_page(req, res, 100, 1000, &limit, &after))
    return;
  store_schedule *items;
  size_t n;
  cf_err rc = store_sched_list(req->cfg->store, req->auth.org_id, after, limit, &items, &n);
  if (rc) {
    api_store_error(res, rc, "schedule");
    return;
  }
  cron_memo memo = {0};
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, schedule_json(req, &memo, &items[i]));
  memo_free(&memo);
  api_list(res, arr, n == (size_t)limit ? items[n - 1].id : 0);
  store_schedules_free(items, n);
}

static void schedule_ticks(const api_request *req, api_response *res) {
  int64_t id, before;
  int limit;
  if (!api_param_id(req, res, "id", "schedule", &id) ||
      !api_page(req, res, 100, 1000, &limit, &before))
    return;
  /* Deleted schedules keep their ledger: load, not get, then the org. */
  store_schedule sc;
  cf_err rc = store_sched_load(req->cfg->store, id, &sc);
  if (!rc) {
    if (sc.org_id != req->auth.org_id)
      rc = CF_E_NOT_FOUND;
    store_schedule_clear(&sc);
  }
  store_tick *ticks = NULL;
  size_t n = 0;
  if (!rc)
    rc = store_sched_ticks(req->cfg->store, id, before, limit, &ticks, &n);
  if (rc) {
    api_store_error(res, rc, "schedule");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    const store_tick *t = &ticks[i];
    json_array_append_new(
        arr, json_pack("{s:I,s:I,s:o,s:s,s:o,s:s,s:o}", "id", (json_int_t)t->id, "schedule_id",
                       (json_int_t)t->schedule_id, "scheduled_at", api_time_json(t->scheduled_at),
                       "outcome", t->outcome, "execution_id",
                       t->execution_id ? json_integer(t->execution_id) : json_null(), "detail",
                       t->detail ? t->detail : "", "recorded_at", api_time_json(t->recorded_at)));
  }
  api_list(res, arr, n == (size_t)limit ? ticks[n - 1].id : 0);
  store_ticks_free(ticks, n);
}

const api_route api_schedule_routes[] = {
    {"POST", "/api/workflows/{id}/schedule", API_WRITE, schedule_create},
    {"GET", "/api/workflows/{id}/schedule", API_READ, schedule_get},
    {"PATCH", "/api/workflows/{id}/schedule", API_WRITE, schedule_patch},
    {"DELETE", "/api/workflows/{id}/schedule", API_WRITE, schedule_delete},
    {"GET", "/api/schedules", API_READ, schedules_list},
    {"GET", "/api/schedules/{id}/ticks", API_READ, schedule_ticks},
    {NULL, NULL, 0, NULL},
};
