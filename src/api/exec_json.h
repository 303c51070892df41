/*
 * exec_json.h — executions as JSON documents, the one shape used by
 * `GET /api/executions/{id}` and `cronflow run`: id, workflow_id,
 * workflow_version, schedule_id, scheduled_at, trigger, trigger_data,
 * status, attempt, max_attempts, created_at, started_at, finished_at,
 * duration_ms, error, result; with details also steps (node_id,
 * iteration, status, attempts, input, output, error, started_at,
 * finished_at, duration_ms) and logs (node_id, level, message, at).
 * Times are UTC ISO-8601 with milliseconds, or null.
 */
#ifndef CF_API_EXEC_JSON_H
#define CF_API_EXEC_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

/* "2026-11-28T06:00:00.000Z" into buf (at least 32 bytes). */
void api_format_time(int64_t ms, char *buf, size_t cap);

/* A new JSON value for the time, null for 0. */
json_t *api_time_json(int64_t ms);

/* An execution row as JSON (without steps and logs); NULL when out of
 * memory. */
json_t *api_execution_object(const store_exec *e);

/* The execution `id` (with steps and logs when `details`), a new
 * reference in *out. CF_E_NOT_FOUND, store errors, CF_E_NOMEM. */
CF_MUST_CHECK cf_err api_execution_json(store *s, int64_t id, bool details, json_t **out);

#endif
