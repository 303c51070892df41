/*
 * exec_json.c — executions, their steps and logs as JSON (exec_json.h).
 * Stored JSON texts (trigger data, step input and output, results) are
 * parsed back so that clients get values, not strings.
 */
#include "api/exec_json.h"

#include <stdio.h>
#include <string.h>

#include "base/civil.h"

void api_format_time(int64_t ms, char *buf, size_t cap) {
  civil_format_utc_ms(ms, buf, cap);
}

json_t *api_time_json(int64_t ms) {
  if (!ms)
    return json_null();
  char buf[48];
  api_format_time(ms, buf, sizeof buf);
  return json_string(buf);
}

/* Stored JSON text back to a value; the text itself if it does not parse. */
static json_t *parsed(const char *text) {
  if (!text)
    return json_null();
  json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
  return v ? v : json_string(text);
}

static json_t *text_or_null(const char *text) {
  return text ? json_string(text) : json_null();
}

static json_t *duration(int64_t start, int64_t end) {
  return start && end ? json_integer(end - start) : json_null();
}

static json_t *steps_json(store *s, int64_t id, cf_err *rc) {
  store_step *steps;
  size_t n;
  *rc = store_step_list(s, id, &steps, &n);
  if (*rc)
    return NULL;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    const store_step *p = &steps[i];
    json_t *o = json_object();
    json_object_set_new(o, "node_id", json_string(p->node_id));
    json_object_set_new(o, "iteration", json_integer(p->iteration));
    json_object_set_new(o, "status", json_string(p->status));
    json_object_set_new(o, "attempts", json_integer(p->attempts));
    json_object_set_new(o, "input", parsed(p->input));
    json_object_set_new(o, "output", parsed(p->output));
    json_object_set_new(o, "error", text_or_null(p->error));
    json_object_set_new(o, "started_at", api_time_json(p->started_at));
    json_object_set_new(o, "finished_at", api_time_json(p->finished_at));
    json_object_set_new(o, "duration_ms", duration(p->started_at, p->finished_at));
    json_array_append_new(arr, o);
  }
  store_steps_free(steps, n);
  if (!arr)
    *rc = CF_E_NOMEM;
  return arr;
}

static json_t *logs_json(store *s, int64_t id, cf_err *rc) {
  store_log *logs;
  size_t n;
  *rc = store_log_list(s, id, &logs, &n);
  if (*rc)
    return NULL;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "node_id", text_or_null(logs[i].node_id));
    json_object_set_new(o, "level", json_string(logs[i].level));
    json_object_set_new(o, "message", json_string(logs[i].message));
    json_object_set_new(o, "at", api_time_json(logs[i].at));
    json_array_append_new(arr, o);
  }
  store_logs_free(logs, n);
  if (!arr)
    *rc = CF_E_NOMEM;
  return arr;
}

cf_err api_execution_json(store *s, int64_t id, bool details, json_t **out) {
  *out = NULL;
  store_exec e;
  cf_err rc = store_exec_get(s, id, &e);
  if (rc)
    return rc;
  json_t *o = json_object();
  if (!o) {
    store_exec_clear(&e);
    return CF_E_NOMEM;
  }
  json_object_set_new(o, "id", json_integer(e.id));
  json_object_set_new(o, "workflow_id", json_integer(e.workflow_id));
  json_object_set_new(o, "workflow_version", json_integer(e.workflow_version));
  json_object_set_new(o, "schedule_id", e.schedule_id ? json_integer(e.schedule_id) : json_null());
  json_object_set_new(o, "scheduled_at",
                      e.schedule_id ? api_time_json(e.scheduled_at) : json_null());
  json_object_set_new(o, "trigger", json_string(e.trigger_kind));
  json_object_set_new(o, "trigger_data", parsed(e.trigger_data));
  json_object_set_new(o, "status", json_string(store_exec_status_name(e.status)));
  json_object_set_new(o, "attempt", json_integer(e.attempt));
  json_object_set_new(o, "max_attempts", json_integer(e.max_attempts));
  json_object_set_new(o, "created_at", api_time_json(e.created_at));
  json_object_set_new(o, "started_at", api_time_json(e.started_at));
  json_object_set_new(o, "finished_at", api_time_json(e.finished_at));
  json_object_set_new(o, "duration_ms", duration(e.started_at, e.finished_at));
  json_object_set_new(o, "error", text_or_null(e.error));
  json_object_set_new(o, "result", parsed(e.result));
  store_exec_clear(&e);
  if (details) {
    json_t *steps = steps_json(s, id, &rc);
    json_t *logs = rc ? NULL : logs_json(s, id, &rc);
    if (rc) {
      json_decref(steps);
      json_decref(o);
      return rc;
    }
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "logs", logs);
  }
  *out = o;
  return CF_OK;
}
