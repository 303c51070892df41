/*
 * store.c — picks a backend by URL and forwards every operation to it;
 * the pieces every backend shares (status names, freeing results).
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const store_backend *const backends[] = {&store_sqlite_backend};

cf_err store_open(const store_config *cfg, store **out, char *err, size_t err_cap) {
  *out = NULL;
  if (err && err_cap)
    err[0] = '\0';
  const char *url = cfg->url;
  const store_backend *chosen = NULL;
  const char *location = url;
  for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
    const char *scheme = backends[i]->scheme;
    size_t n = strlen(scheme);
    if (strncmp(url, scheme, n) == 0) {
      chosen = backends[i];
      location = url + n;
    }
  }
  if (!chosen) {
    if (strstr(url, "://")) {
      if (err)
        snprintf(err, err_cap, "unsupported database URL '%.200s' (use a file path or sqlite:PATH)",
                 url);
      return CF_E_INVALID;
    }
    chosen = &store_sqlite_backend;
  }
  store *s = calloc(1, sizeof *s);
  if (!s)
    return CF_E_NOMEM;
  s->backend = chosen;
  cf_err rc = chosen->open(cfg, location, &s->impl, err, err_cap);
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return CF_OK;
}

void store_close(store *s) {
  if (!s)
    return;
  s->backend->close(s->impl);
  store_forget_key(s);
  free(s);
}

const char *store_backend_name(const store *s) {
  return s->backend->name;
}

cf_err store_migrate(store *s, int *applied, int *version, char *err, size_t err_cap) {
  return s->backend->migrate(s->impl, applied, version, err, err_cap);
}

cf_err store_schema_version(store *s, int *current, int *latest) {
  return s->backend->schema_version(s->impl, current, latest);
}

cf_err store_ping(store *s) {
  return s->backend->ping(s->impl);
}

static const char *const status_names[] = {"queued", "running",   "succeeded",
                                           "failed", "cancelled", "timed_out"};

const char *store_exec_status_name(store_exec_status status) {
  if ((unsigned)status >= sizeof status_names / sizeof *status_names)
    return NULL;
  return status_names[status];
}

bool store_exec_status_parse(const char *name, store_exec_status *out) {
  for (size_t i = 0; i < sizeof status_names / sizeof *status_names; i++)
    if (strcmp(name, status_names[i]) == 0) {
      *out = (store_exec_status)i;
      return true;
    }
  return false;
}

cf_err store_exec_enqueue(store *s, const store_exec_new *e, int64_t now, int64_t *id) {
  return s->backend->exec_enqueue(s->impl, e, now, id);
}

cf_err store_exec_enqueue_batch(store *s, const store_exec_new *items, size_t n, int64_t now,
                                int64_t *ids) {
  return s->backend->exec_enqueue_batch(s->impl, items, n, now, ids);
}

cf_err store_exec_claim(store *s, const char *owner, int64_t now, int64_t lease_ms, int max,
                        store_claim **claims, size_t *count) {
  return s->backend->exec_claim(s->impl, owner, now, lease_ms, max, claims, count);
}

void store_claims_free(store_claim *claims, size_t count) {
  for (size_t i = 0; claims && i < count; i++) {
    free(claims[i].trigger_kind);
    free(claims[i].trigger_data);
  }
  free(claims);
}

cf_err store_exec_renew(store *s, int64_t id, int64_t token, int64_t now, int64_t lease_ms) {
  return s->backend->exec_renew(s->impl, id, token, now, lease_ms);
}

/* Arguments every backend would otherwise check alike. */
static bool is_final(store_exec_status status) {
  return status == STORE_EXEC_SUCCEEDED || status == STORE_EXEC_FAILED ||
         status == STORE_EXEC_CANCELLED || status == STORE_EXEC_TIMED_OUT;
}

static bool step_is_complete(const store_step *step) {
  return step->node_id && step->status;
}

cf_err store_exec_finish(store *s, int64_t id, int64_t token, store_exec_status status,
                         const char *error, const char *result, int64_t now) {
  if (!is_final(status))
    return CF_E_INVALID;
  return s->backend->exec_finish(s->impl, id, token, status, error, result, now);
}

cf_err store_exec_retry(store *s, int64_t id, int64_t token, const char *error, int64_t run_at,
                        int64_t now) {
  return s->backend->exec_retry(s->impl, id, token, error, run_at, now);
}

cf_err store_exec_finish_async(store *s, int64_t id, int64_t token, store_exec_status status,
                               const char *error, const char *result, int64_t now,
                               store_done_fn done, void *ctx) {
  if (!is_final(status))
    return CF_E_INVALID;
  return s->backend->exec_finish_async(s->impl, id, token, status, error, result, now, done, ctx);
}

cf_err store_exec_retry_async(store *s, int64_t id, int64_t token, const char *error,
                              int64_t run_at, int64_t now, store_done_fn done, void *ctx) {
  return s->backend->exec_retry_async(s->impl, id, token, error, run_at, now, done, ctx);
}

cf_err store_step_save_async(store *s, int64_t execution_id, int64_t token, const store_step *step,
                             store_done_fn done, void *ctx) {
  if (!step_is_complete(step))
    return CF_E_INVALID;
  return s->backend->step_save_async(s->impl, execution_id, token, step, done, ctx);
}

cf_err store_exec_release(store *s, int64_t id, int64_t token, int64_t now) {
  return s->backend->exec_release(s->impl, id, token, now);
}

cf_err store_exec_rerun_failed(store *s, int64_t id, int64_t now) {
  return s->backend->exec_rerun_failed(s->impl, id, now);
}

cf_err store_exec_get(store *s, int64_t id, store_exec *out) {
  return s->backend->exec_get(s->impl, id, out);
}

void store_exec_clear(store_exec *e) {
  if (!e)
    return;
  free(e->trigger_kind);
  free(e->trigger_data);
  free(e->error);
  free(e->result);
  memset(e, 0, sizeof *e);
}

cf_err store_exec_counts(store *s, int64_t counts[6]) {
  return s->backend->exec_counts(s->impl, counts);
}

cf_err store_exec_pending(store *s, int64_t *count) {
  return s->backend->exec_pending(s->impl, count);
}

cf_err store_exec_next_due(store *s, int64_t *run_at) {
  return s->backend->exec_next_due(s->impl, run_at);
}

uint64_t store_work_seq(store *s) {
  return s->backend->work_seq(s->impl);
}

void store_wait_work(store *s, uint64_t seen, int64_t timeout_ms) {
  s->backend->wait_work(s->impl, seen, timeout_ms);
}

cf_err store_exec_prune(store *s, int64_t before, int limit, int64_t *deleted) {
  return s->backend->exec_prune(s->impl, before, limit, deleted);
}

cf_err store_attempt_list(store *s, int64_t execution_id, store_attempt **out, size_t *count) {
  return s->backend->attempt_list(s->impl, execution_id, out, count);
}

void store_attempts_free(store_attempt *a, size_t count) {
  for (size_t i = 0; a && i < count; i++) {
    free(a[i].lease_owner);
    free(a[i].status);
    free(a[i].error);
  }
  free(a);
}

cf_err store_step_save(store *s, int64_t execution_id, int64_t token, const store_step *step) {
  if (!step_is_complete(step))
    return CF_E_INVALID;
  return s->backend->step_save(s->impl, execution_id, token, step);
}

cf_err store_step_list(store *s, int64_t execution_id, store_step **out, size_t *count) {
  return s->backend->step_list(s->impl, execution_id, out, count);
}

void store_steps_free(store_step *steps, size_t count) {
  for (size_t i = 0; steps && i < count; i++) {
    free((char *)steps[i].node_id);
    free((char *)steps[i].status);
    free((char *)steps[i].input);
    free((char *)steps[i].output);
    free((char *)steps[i].error);
  }
  free(steps);
}

/* ------------------------------------------------------------ workflows */

static bool workflow_args_ok(const char *name, const char *definition) {
  return name && name[0] && definition && definition[0];
}

cf_err store_workflow_create(store *s, int64_t org_id, const char *name, const char *description,
                             const char *definition, int64_t now, int64_t *id) {
  if (!workflow_args_ok(name, definition))
    return CF_E_INVALID;
  return s->backend->workflow_create(s->impl, org_id ? org_id : 1, name,
                                     description ? description : "", definition, now, id);
}

cf_err store_workflow_update(store *s, int64_t org_id, int64_t id, const char *name,
                             const char *description, const char *definition, int64_t now,
                             int32_t *version) {
  if (!workflow_args_ok(name, definition))
    return CF_E_INVALID;
  return s->backend->workflow_update(s->impl, org_id ? org_id : 1, id, name,
                                     description ? description : "", definition, now, version);
}

cf_err store_workflow_delete(store *s, int64_t org_id, int64_t id, int64_t now) {
  return s->backend->workflow_delete(s->impl, org_id ? org_id : 1, id, now);
}

cf_err store_workflow_get(store *s, int64_t org_id, int64_t id, store_workflow *out) {
  return s->backend->workflow_get(s->impl, org_id ? org_id : 1, id, out);
}

void store_workflow_clear(store_workflow *w) {
  if (!w)
    return;
  free(w->name);
  free(w->description);
  w->name = w->description = NULL;
}

cf_err store_workflow_version_get(store *s, int64_t workflow_id, int32_t version, char **definition,
                                  int32_t *version_out) {
  *definition = NULL;
  return s->backend->workflow_version_get(s->impl, workflow_id, version, definition, version_out);
}

/* ------------------------------------------------------------ logs */

cf_err store_log_add_async(store *s, int64_t execution_id, const char *node_id, const char *level,
                           const char *message, int64_t at, store_done_fn done, void *ctx) {
  if (!level || !message ||
      (strcmp(level, "debug") && strcmp(level, "info") && strcmp(level, "warn") &&
       strcmp(level, "error")))
    return CF_E_INVALID;
  return s->backend->log_add_async(s->impl, execution_id, node_id, level, message, at, done, ctx);
}

cf_err store_log_list(store *s, int64_t execution_id, store_log **out, size_t *count) {
  return s->backend->log_list(s->impl, execution_id, out, count);
}

void store_logs_free(store_log *logs, size_t count) {
  for (size_t i = 0; logs && i < count; i++) {
    free(logs[i].node_id);
    free(logs[i].level);
    free(logs[i].message);
  }
  free(logs);
}

/* ------------------------------------------------ schedules and the tick ledger */

static const char *const misfire_names[] = {"skip", "once", "all"};
static const char *const overlap_names[] = {"skip", "allow", "queue_one", "replace"};

static bool parse_name(const char *const *names, size_t n, const char *name, int *out) {
  for (size_t i = 0; name && i < n; i++)
    if (strcmp(names[i], name) == 0) {
      *out = (int)i;
      return true;
    }
  return false;
}

const char *store_misfire_name(store_misfire p) {
  return (unsigned)p < 3 ? misfire_names[p] : NULL;
}

bool store_misfire_parse(const char *name, store_misfire *out) {
  int v;
  if (!parse_name(misfire_names, 3, name, &v))
    return false;
  *out = (store_misfire)v;
  return true;
}

const char *store_overlap_name(store_overlap p) {
  return (unsigned)p < 4 ? overlap_names[p] : NULL;
}

bool store_overlap_parse(const char *name, store_overlap *out) {
  int v;
  if (!parse_name(overlap_names, 4, name, &v))
    return false;
  *out = (store_overlap)v;
  return true;
}

/* The checks every backend would repeat: what the schema cannot say. */
static bool schedule_new_ok(const store_schedule_new *n) {
  return n && n->cron && n->cron[0] && n->workflow_id > 0 && store_misfire_name(n->misfire) &&
         store_overlap_name(n->overlap) && n->misfire_limit >= 0 && n->jitter_ms >= 0 &&
         n->starts_at >= 0 && n->ends_at >= 0 &&
         (!n->starts_at || !n->ends_at || n->starts_at < n->ends_at);
}

cf_err store_sched_create(store *s, const store_schedule_new *n, int64_t now, int64_t *id) {
  return store_sched_create_batch(s, n, 1, now, id);
}

cf_err store_sched_create_batch(store *s, const store_schedule_new *items, size_t n, int64_t now,
                                int64_t *ids) {
  for (size_t i = 0; i < n; i++)
    if (!schedule_new_ok(&items[i]))
      return CF_E_INVALID;
  return n ? s->backend->sched_create_batch(s->impl, items, n, now, ids) : CF_OK;
}

cf_err store_sched_update(store *s, int64_t org_id, int64_t id, const store_schedule_new *n,
                          int64_t now) {
  if (!schedule_new_ok(n))
    return CF_E_INVALID;
  return s->backend->sched_update(s->impl, org_id ? org_id : 1, id, n, now);
}

cf_err store_sched_set_enabled(store *s, int64_t org_id, int64_t id, bool enabled, int64_t now) {
  return s->backend->sched_set_enabled(s->impl, org_id ? org_id : 1, id, enabled, now);
}

cf_err store_sched_delete(store *s, int64_t org_id, int64_t id, int64_t now) {
  return s->backend->sched_delete(s->impl, org_id ? org_id : 1, id, now);
}

cf_err store_sched_get(store *s, int64_t org_id, int64_t id, store_schedule *out) {
  return s->backend->sched_get(s->impl, org_id ? org_id : 1, id, out);
}

cf_err store_sched_load(store *s, int64_t id, store_schedule *out) {
  return s->backend->sched_load(s->impl, id, out);
}

void store_schedule_clear(store_schedule *sc) {
  if (!sc)
    return;
  free(sc->cron);
  free(sc->timezone);
  free(sc->input);
  free(sc->last_status);
  sc->cron = sc->timezone = sc->input = sc->last_status = NULL;
}

cf_err store_sched_list(store *s, int64_t org_id, int64_t after_id, int limit, store_schedule **out,
                        size_t *count) {
  *out = NULL;
  *count = 0;
  return s->backend->sched_list(s->impl, org_id ? org_id : 1, after_id, limit > 0 ? limit : 100,
                                out, count);
}

void store_schedules_free(store_schedule *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_schedule_clear(&items[i]);
  free(items);
}

cf_err store_sched_changed(store *s, int64_t since, int limit, store_schedule **out,
                           size_t *count) {
  *out = NULL;
  *count = 0;
  return s->backend->sched_changed(s->impl, since, limit > 0 ? limit : 1000, out, count);
}

cf_err store_sched_change_seq(store *s, int64_t *seq) {
  return s->backend->sched_change_seq(s->impl, seq);
}

static bool fires_ok(const store_fire *fires, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < fires[i].count; k++)
      if (!fires[i].instants[k].local)
        return false;
  return true;
}

cf_err store_sched_fire(store *s, store_fire *fires, size_t n, int64_t now) {
  if (!fires_ok(fires, n))
    return CF_E_INVALID;
  return n ? s->backend->sched_fire(s->impl, fires, n, now) : CF_OK;
}

cf_err store_sched_fire_async(store *s, store_fire *fires, size_t n, int64_t now,
                              store_done_fn done, void *ctx) {
  if (!fires_ok(fires, n) || n == 0)
    return CF_E_INVALID;
  return s->backend->sched_fire_async(s->impl, fires, n, now, done, ctx);
}

cf_err store_exec_cancel(store *s, int64_t id, int64_t now) {
  return s->backend->exec_cancel(s->impl, id, now);
}

cf_err store_sched_ticks(store *s, int64_t schedule_id, int64_t before_id, int limit,
                         store_tick **out, size_t *count) {
  *out = NULL;
  *count = 0;
  return s->backend->sched_ticks(s->impl, schedule_id, before_id, limit > 0 ? limit : 100, out,
                                 count);
}

void store_ticks_free(store_tick *ticks, size_t count) {
  for (size_t i = 0; ticks && i < count; i++) {
    free(ticks[i].outcome);
    free(ticks[i].detail);
  }
  free(ticks);
}

cf_err store_sched_ticks_prune(store *s, int64_t before, int limit, int64_t *deleted) {
  return s->backend->sched_ticks_prune(s->impl, before, limit > 0 ? limit : 1000, deleted);
}

void store_set_claimer(store *s, const store_claimer *claimer) {
  s->backend->set_claimer(s->impl, claimer);
}
