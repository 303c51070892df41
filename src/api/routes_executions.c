/*
 * routes_executions.c — executions: list with filters (workflow,
 * schedule, status, time range) and cursor pagination, newest first; one
 * execution with its steps and logs; cancel; re-run from the start (a new
 * execution) or from the step that failed (the same execution, resumed
 * from its checkpoints).
 *
 * Every execution is looked up with its organization: another
 * organization's id answers 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/exec_json.h"
#include "base/civil.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A query argument that must be a positive id (0 when absent). */
static bool query_id(const api_request *req, api_response *res, const char *name, int64_t *out) {
  const char *v = api_query(req, name);
  *out = 0;
  if (!v)
    return true;
  char *end;
  long long id = strtoll(v, &end, 10);
  if (!*v || *end || id <= 0) {
    char msg[100];
    snprintf(msg, sizeof msg, "%s: must be a positive id", name);
    api_error_field(res, 400, "invalid_query", msg, name);
    return false;
  }
  *out = id;
  return true;
}

/* A query argument that must be an ISO-8601 date-time with an offset. */
static bool query_time(const api_request *req, api_response *res, const char *name, int64_t *ms) {
  const char *v = api_query(req, name);
  *ms = 0;
  if (!v)
    return true;
  int64_t sec;
  int32_t nanos;
  bool has_offset;
  char why[160];
  if (civil_parse_iso(v, &sec, &nanos, &has_offset, why, sizeof why) != CF_OK || !has_offset) {
    char msg[120];
    snprintf(msg, sizeof msg, "%s: must be an ISO-8601 date-time with Z or an offset", name);
    api_error_field(res, 400, "invalid_query", msg, name);
    return false;
  }
  *ms = sec * 1000 + nanos / 1000000;
  return true;
}

static void executions_list(const api_request *req, api_response *res) {
  store_exec_filter f = {.org_id = req->auth.org_id, .status = -1};
  const char *status = api_query(req, "status");
  if (!api_page(req, res, 100, 1000, &f.limit, &f.before_id) ||
      !query_id(req, res, "workflow_id", &f.workflow_id) ||
      !query_id(req, res, "schedule_id", &f.schedule_id) ||
      !query_time(req, res, "since", &f.since) || !query_time(req, res, "until", &f.until))
    return;
  if (status) {
    store_exec_status s;
    if (!store_exec_status_parse(status, &s)) {
      api_error_field(res, 400, "invalid_query",
                      "status: one of queued, running, succeeded, failed, cancelled, timed_out",
                      "status");
      return;
    }
    f.status = (int)s;
  }
  store_exec *items;
  size_t n;
  cf_err rc = store_exec_list(req->cfg->store, &f, &items, &n);
  if (rc) {
    api_store_error(res, rc, "execution");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, api_execution_object(&items[i]));
  api_list(res, arr, n == (size_t)f.limit ? items[n - 1].id : 0);
  store_execs_free(items, n);
}

/* The id in the path, if it names an execution of the caller's
 * organization; *status its status. False after a 404. */
static bool own_execution(const api_request *req, api_response *res, int64_t *id,
                          store_exec_status *status) {
  if (!api_param_id(req, res, "id", "execution", id))
    return false;
  store_exec e;
  cf_err rc = store_exec_get(req->cfg->store, *id, &e);
  if (!rc && e.org_id != req->auth.org_id)
    rc = CF_E_NOT_FOUND;
  if (!rc)
    *status = e.status;
  store_exec_clear(&e);
  if (rc)
    api_store_error(res, rc, "execution");
  return rc == CF_OK;
}

static void answer_execution(const api_request *req, api_response *res, int64_t id,
                             unsigned status) {
  json_t *doc;
  cf_err rc = api_execution_json(req->cfg->store, id, true, &doc);
  if (rc) {
    api_store_error(res, rc, "execution");
    return;
  }
  res->status = status;
  res->json = doc;
}

static void executions_get(const api_request *req, api_response *res) {
  int64_t id;
  store_exec_status st;
  if (own_execution(req, res, &id, &st))
    answer_execution(req, res, id, 200);
}

static void executions_cancel(const api_request *req, api_response *res) {
  int64_t id;
  store_exec_status st;
  if (!own_execution(req, res, &id, &st))
    return;
  cf_err rc = store_exec_cancel(req->cfg->store, id, now_ms());
  if (rc)
    api_store_error(res, rc, "execution");
  else
    answer_execution(req, res, id, 202);
}

static void executions_rerun(const api_request *req, api_response *res) {
  static const char *const fields[] = {"from", NULL};
  int64_t id;
  store_exec_status st;
  if (!own_execution(req, res, &id, &st))
    return;
  json_t *body = api_body_object_or_empty(req, res);
  const char *from = "start";
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "from", false, 16, &from, res)) {
    json_decref(body);
    return;
  }
  bool failed_step = strcmp(from, "failed") == 0;
  if (!failed_step && strcmp(from, "start") != 0) {
    api_error_field(res, 422, "invalid_field", "from: \"start\" or \"failed\"", "from");
    json_decref(body);
    return;
  }
  json_decref(body);
  int64_t new_id = id;
  cf_err rc = failed_step
                  ? store_exec_rerun_failed(req->cfg->store, id, now_ms())
                  : store_exec_rerun(req->cfg->store, req->auth.org_id, id, now_ms(), &new_id);
  if (rc == CF_E_CONFLICT)
    api_error(res, 409, "conflict",
              failed_step ? "only a failed, timed out or cancelled execution resumes from its "
                            "failed step"
                          : "the execution has not finished yet");
  else if (rc)
    api_store_error(res, rc, "execution");
  else
    answer_execution(req, res, new_id, 202);
}

const api_route api_execution_routes[] = {
    {"GET", "/api/executions", API_READ, executions_list},
    {"GET", "/api/executions/{id}", API_READ, executions_get},
    {"POST", "/api/executions/{id}/cancel", API_WRITE, executions_cancel},
    {"POST", "/api/executions/{id}/rerun", API_WRITE, executions_rerun},
    {NULL, NULL, 0, NULL},
};
