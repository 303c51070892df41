/*
 * sqlite_sched.c — the SQLite backend's schedules and tick ledger: schedule
 * definitions (create, update, enable, disable, delete as a tombstone), the
 * listings schedulers load from, the fire transaction that turns due
 * instants into executions and ledger rows, and what an execution's end
 * does to its schedule (counters, a queue_one run released).
 *
 * Invariants: a fire is accounted for once. The fire transaction writes
 * nothing unless the schedule still exists, is enabled, has the revision
 * the scheduler loaded and the cursor (next_fire_at) it expects, and it
 * moves the cursor in the same transaction as the executions and ticks it
 * writes; (schedule_id, scheduled_at) is unique among executions on top of
 * that. Definition changes reset the cursor and bump revision, which gives
 * them a new change_seq (trigger in 0002_scheduler.sql).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/civil.h"
#include "store/sqlite_int.h"

enum {
  ST_SC_INSERT = SQ_SLOT_SCHEDULES,
  ST_SC_STATE,
  ST_SC_UPDATE,
  ST_SC_SET_ENABLED,
  ST_SC_DELETE,
  ST_SC_GET,
  ST_SC_LOAD,
  ST_SC_LIST,
  ST_SC_CHANGED,
  ST_SC_SEQ,
  ST_TICK_INSERT,
  ST_TICK_LIST,
  ST_TICK_PRUNE,
  ST_FIRE_CHECK,
  ST_FIRE_ACTIVE,
  ST_FIRE_INSERT,
  ST_FIRE_ADVANCE,
  ST_CANCEL_QUEUED,
  ST_CANCEL_RUNNING,
  ST_CANCEL_EXISTS,
  ST_EXEC_COUNT,
  ST_EXEC_RELEASE_HELD,
  ST_SCHED_END
};
_Static_assert((int)ST_SCHED_END <= (int)SQ_SLOT_API, "statement slots overlap");

#define SCHEDULE_COLUMNS                                                                           \
  "id, org_id, workflow_id, cron, timezone, input, last_status, enabled, "                         \
  "coalesce(deleted_at, 0), misfire_policy, misfire_limit, overlap_policy, grace_ms, jitter_ms, "  \
  "coalesce(starts_at, 0), coalesce(ends_at, 0), coalesce(next_fire_at, 0), "                      \
  "coalesce(last_fire_at, 0), total_runs, succeeded_runs, failed_runs, revision, change_seq, "     \
  "created_at, updated_at"

/* Input must be a JSON object; the workflow must exist and not be deleted. */
#define SCHEDULE_NEW_OK                                                                            \
  "CASE WHEN json_valid(?13) THEN json_type(?13) = 'object' ELSE 0 END AND EXISTS (SELECT 1 "      \
  "FROM workflows WHERE id = ?2 AND org_id = ?1 AND deleted_at IS NULL)"

static cf_err tick_insert(conn *c, int64_t schedule_id, int64_t scheduled_at, const char *outcome,
                          int64_t execution_id, const char *detail, int64_t now) {
  SQ_STMT_OR_FAIL(st, c, ST_TICK_INSERT,
                  "INSERT INTO ticks (schedule_id, scheduled_at, outcome, execution_id, detail, "
                  "recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  sqlite3_bind_int64(st, 1, schedule_id);
  sq_bind_int_or_null(st, 2, scheduled_at);
  sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
  sq_bind_int_or_null(st, 4, execution_id);
  sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, now);
  return sq_step_done(c, st);
}

/* Binds a definition as ?1-?13 (org, workflow, ..., input) and now as ?14. */
static void bind_definition(sqlite3_stmt *st, int64_t org_id, const store_schedule_new *n,
                            int64_t now) {
  sqlite3_bind_int64(st, 1, org_id ? org_id : 1);
  sqlite3_bind_int64(st, 2, n->workflow_id);
  sqlite3_bind_text(st, 3, n->cron, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, n->timezone ? n->timezone : "UTC", -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, n->enabled ? 1 : 0);
  sqlite3_bind_text(st, 6, store_misfire_name(n->misfire), -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 7, n->misfire_limit > 0 ? n->misfire_limit : 100);
  sqlite3_bind_text(st, 8, store_overlap_name(n->overlap), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 9, n->grace_ms >= 0 ? n->grace_ms : 60000);
  sqlite3_bind_int64(st, 10, n->jitter_ms);
  sq_bind_int_or_null(st, 11, n->starts_at);
  sq_bind_int_or_null(st, 12, n->ends_at);
  sqlite3_bind_text(st, 13, n->input ? n->input : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 14, now);
}

/* ------------------------------------------------------------ definitions */

typedef struct create_args {
  const store_schedule_new *items;
  size_t n;
  int64_t now;
  int64_t *ids;
} create_args;

static cf_err create_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  create_args *a = arg;
  for (size_t i = 0; i < a->n; i++) {
    const store_schedule_new *n = &a->items[i];
    SQ_STMT_OR_FAIL(st, c, ST_SC_INSERT,
                    "INSERT INTO schedules (org_id, workflow_id, cron, timezone, enabled, "
                    "misfire_policy, misfire_limit, overlap_policy, grace_ms, jitter_ms, "
                    "starts_at, ends_at, input, created_at, updated_at) "
                    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14 "
                    "WHERE " SCHEDULE_NEW_OK);
    bind_definition(st, n->org_id, n, a->now);
    cf_err rc = sq_step_done(c, st);
    if (!rc && sqlite3_changes(c->db) == 0)
      rc = CF_E_INVALID;
    if (rc)
      return rc;
    int64_t id = sqlite3_last_insert_rowid(c->db);
    if (a->ids)
      a->ids[i] = id;
    rc = tick_insert(c, id, 0, n->enabled ? "enabled" : "disabled", 0, "created", a->now);
    if (rc)
      return rc;
  }
  return CF_OK;
}

cf_err sq_sched_create_batch(void *impl, const store_schedule_new *items, size_t n, int64_t now,
                             int64_t *ids) {
  create_args a = {items, n, now, ids};
  return sq_write_job(impl, create_fn, &a, false);
}

/* Whether a live schedule exists, and its enabled flag. */
static cf_err schedule_state(conn *c, int64_t org_id, int64_t id, bool *enabled) {
  SQ_STMT_OR_FAIL(st, c, ST_SC_STATE,
                  "SELECT enabled FROM schedules WHERE id = ?1 AND org_id = ?2 AND "
                  "deleted_at IS NULL");
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, org_id);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    *enabled = sqlite3_column_int(st, 0) != 0;
  sq_done_with(st);
  return step == SQLITE_ROW    ? CF_OK
         : step == SQLITE_DONE ? CF_E_NOT_FOUND
                               : sq_map_rc(sqlite3_extended_errcode(c->db));
}

typedef struct change_args {
  int64_t org_id, id, now;
  const store_schedule_new *n;
  bool enabled;
} change_args;

static cf_err update_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  change_args *a = arg;
  bool was_enabled;
  cf_err rc = schedule_state(c, a->org_id, a->id, &was_enabled);
  if (rc)
    return rc;
  SQ_STMT_OR_FAIL(st, c, ST_SC_UPDATE,
                  "UPDATE schedules SET workflow_id = ?2, cron = ?3, timezone = ?4, enabled = ?5, "
                  "misfire_policy = ?6, misfire_limit = ?7, overlap_policy = ?8, grace_ms = ?9, "
                  "jitter_ms = ?10, starts_at = ?11, ends_at = ?12, input = ?13, "
                  "updated_at = ?14, next_fire_at = NULL, revision = revision + 1 "
                  "WHERE id = ?15 AND org_id = ?1 AND deleted_at IS NULL AND " SCHEDULE_NEW_OK);
  bind_definition(st, a->org_id, a->n, a->now);
  sqlite3_bind_int64(st, 15, a->id);
  rc = sq_step_done(c, st);
  if (!rc && sqlite3_changes(c->db) == 0)
    rc = CF_E_INVALID;
  if (!rc)
    rc = tick_insert(c, a->id, 0, "changed", 0, "", a->now);
  if (!rc && was_enabled != a->n->enabled)
    rc = tick_insert(c, a->id, 0, a->n->enabled ? "enabled" : "disabled", 0, "", a->now);
  return rc;
}

cf_err sq_sched_update(void *impl, int64_t org_id, int64_t id, const store_schedule_new *n,
                       int64_t now) {
  change_args a = {.org_id = org_id, .id = id, .now = now, .n = n};
  return sq_write_job(impl, update_fn, &a, false);
}

static cf_err set_enabled_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  change_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_SC_SET_ENABLED,
                  "UPDATE schedules SET enabled = ?3, updated_at = ?4, next_fire_at = NULL, "
                  "revision = revision + 1 WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL "
                  "AND enabled <> ?3");
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->org_id);
  sqlite3_bind_int(st, 3, a->enabled ? 1 : 0);
  sqlite3_bind_int64(st, 4, a->now);
  cf_err rc = sq_step_done(c, st);
  if (rc)
    return rc;
  if (sqlite3_changes(c->db) == 0) {
    bool enabled;
    return schedule_state(c, a->org_id, a->id, &enabled);
  }
  return tick_insert(c, a->id, 0, a->enabled ? "enabled" : "disabled", 0, "", a->now);
}

cf_err sq_sched_set_enabled(void *impl, int64_t org_id, int64_t id, bool enabled, int64_t now) {
  change_args a = {.org_id = org_id, .id = id, .now = now, .enabled = enabled};
  return sq_write_job(impl, set_enabled_fn, &a, false);
}

static cf_err delete_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  change_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_SC_DELETE,
                  "UPDATE schedules SET deleted_at = ?3, enabled = 0, updated_at = ?3, "
                  "next_fire_at = NULL, revision = revision + 1 "
                  "WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL");
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->org_id);
  sqlite3_bind_int64(st, 3, a->now);
  cf_err rc = sq_step_done(c, st);
  if (!rc && sqlite3_changes(c->db) == 0)
    rc = CF_E_NOT_FOUND;
  return rc ? rc : tick_insert(c, a->id, 0, "deleted", 0, "", a->now);
}

cf_err sq_sched_delete(void *impl, int64_t org_id, int64_t id, int64_t now) {
  change_args a = {.org_id = org_id, .id = id, .now = now};
  return sq_write_job(impl, delete_fn, &a, false);
}

/* ------------------------------------------------------------ reads */

typedef struct schedule_rows {
  int64_t key1, key2; /* bound as ?1 and ?2 */
  int limit;          /* bound as ?3 */
  store_schedule *items;
  size_t count, cap;
} schedule_rows;

static void schedule_bind(sqlite3_stmt *st, const void *ctx) {
  const schedule_rows *r = ctx;
  sqlite3_bind_int64(st, 1, r->key1);
  sqlite3_bind_int64(st, 2, r->key2);
  sqlite3_bind_int(st, 3, r->limit);
}

static cf_err schedule_row(sqlite3_stmt *st, void *ctx) {
  schedule_rows *r = ctx;
  store_schedule *sc = sq_append((void **)&r->items, &r->count, &r->cap, sizeof *sc);
  if (!sc)
    return CF_E_NOMEM;
  sc->id = sqlite3_column_int64(st, 0);
  sc->org_id = sqlite3_column_int64(st, 1);
  sc->workflow_id = sqlite3_column_int64(st, 2);
  sc->cron = sq_column_dup(st, 3);
  sc->timezone = sq_column_dup(st, 4);
  sc->input = sq_column_dup(st, 5);
  sc->last_status = sq_column_dup(st, 6);
  sc->enabled = sqlite3_column_int(st, 7) != 0;
  sc->deleted_at = sqlite3_column_int64(st, 8);
  sc->deleted = sc->deleted_at != 0;
  bool policies = store_misfire_parse((const char *)sqlite3_column_text(st, 9), &sc->misfire) &&
                  store_overlap_parse((const char *)sqlite3_column_text(st, 11), &sc->overlap);
  sc->misfire_limit = sqlite3_column_int(st, 10);
  sc->grace_ms = sqlite3_column_int64(st, 12);
  sc->jitter_ms = sqlite3_column_int64(st, 13);
  sc->starts_at = sqlite3_column_int64(st, 14);
  sc->ends_at = sqlite3_column_int64(st, 15);
  sc->next_fire_at = sqlite3_column_int64(st, 16);
  sc->last_fire_at = sqlite3_column_int64(st, 17);
  sc->total_runs = sqlite3_column_int64(st, 18);
  sc->succeeded_runs = sqlite3_column_int64(st, 19);
  sc->failed_runs = sqlite3_column_int64(st, 20);
  sc->revision = sqlite3_column_int64(st, 21);
  sc->change_seq = sqlite3_column_int64(st, 22);
  sc->created_at = sqlite3_column_int64(st, 23);
  sc->updated_at = sqlite3_column_int64(st, 24);
  if (!sc->cron || !sc->timezone || !sc->input)
    return CF_E_NOMEM;
  return policies ? CF_OK : CF_E_STORE_CORRUPT;
}

static cf_err read_schedules(sqlite_store *s, int slot, const char *sql, schedule_rows *r,
                             store_schedule **out, size_t *count) {
  read_one q = {slot, sql, schedule_bind, schedule_row, r, 0};
  cf_err rc = sq_run_read(s, &q);
  if (rc) {
    store_schedules_free(r->items, r->count);
    r->items = NULL;
    r->count = 0;
  }
  *out = r->items;
  *count = r->count;
  return rc;
}

/* The first row of a query by id, as one schedule. */
static cf_err schedule_one(sqlite_store *s, int slot, const char *sql, int64_t id, int64_t org_id,
                           store_schedule *out) {
  memset(out, 0, sizeof *out);
  schedule_rows r = {.key1 = id, .key2 = org_id, .limit = 1};
  store_schedule *items;
  size_t n;
  cf_err rc = read_schedules(s, slot, sql, &r, &items, &n);
  if (!rc && n == 0)
    rc = CF_E_NOT_FOUND;
  if (!rc)
    *out = items[0];
  free(items);
  return rc;
}

cf_err sq_sched_get(void *impl, int64_t org_id, int64_t id, store_schedule *out) {
  return schedule_one(impl, ST_SC_GET,
                      "SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE id = ?1 AND "
                      "org_id = ?2 AND deleted_at IS NULL LIMIT ?3",
                      id, org_id, out);
}

cf_err sq_sched_load(void *impl, int64_t id, store_schedule *out) {
  return schedule_one(impl, ST_SC_LOAD,
                      "SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE id = ?1 LIMIT ?3", id, 0,
                      out);
}

cf_err sq_sched_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_schedule **out,
                     size_t *count) {
  schedule_rows r = {.key1 = org_id, .key2 = after_id, .limit = limit};
  return read_schedules(impl, ST_SC_LIST,
                        "SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE org_id = ?1 AND "
                        "id > ?2 AND deleted_at IS NULL ORDER BY id LIMIT ?3",
                        &r, out, count);
}

cf_err sq_sched_changed(void *impl, int64_t since, int limit, store_schedule **out, size_t *count) {
  schedule_rows r = {.key1 = since, .limit = limit};
  return read_schedules(impl, ST_SC_CHANGED,
                        "SELECT " SCHEDULE_COLUMNS " FROM schedules WHERE change_seq > ?1 "
                        "ORDER BY change_seq LIMIT ?3",
                        &r, out, count);
}

cf_err sq_sched_change_seq(void *impl, int64_t *seq) {
  *seq = 0;
  read_one q = {
      ST_SC_SEQ, "SELECT coalesce(max(change_seq), 0) FROM schedules", NULL, sq_int_row, seq, 0};
  return sq_run_read(impl, &q);
}

typedef struct tick_rows {
  int64_t schedule_id, before_id;
  int limit;
  store_tick *items;
  size_t count, cap;
} tick_rows;

static void tick_bind(sqlite3_stmt *st, const void *ctx) {
  const tick_rows *r = ctx;
  sqlite3_bind_int64(st, 1, r->schedule_id);
  sqlite3_bind_int64(st, 2, r->before_id > 0 ? r->before_id : INT64_MAX);
  sqlite3_bind_int(st, 3, r->limit);
}

static cf_err tick_row(sqlite3_stmt *st, void *ctx) {
  tick_rows *r = ctx;
  store_tick *t = sq_append((void **)&r->items, &r->count, &r->cap, sizeof *t);
  if (!t)
    return CF_E_NOMEM;
  t->id = sqlite3_column_int64(st, 0);
  t->schedule_id = sqlite3_column_int64(st, 1);
  t->scheduled_at = sqlite3_column_int64(st, 2);
  t->outcome = sq_column_dup(st, 3);
  t->execution_id = sqlite3_column_int64(st, 4);
  t->detail = sq_column_dup(st, 5);
  t->recorded_at = sqlite3_column_int64(st, 6);
  return t->outcome && t->detail ? CF_OK : CF_E_NOMEM;
}

cf_err sq_sched_ticks(void *impl, int64_t schedule_id, int64_t before_id, int limit,
                      store_tick **out, size_t *count) {
  tick_rows r = {.schedule_id = schedule_id, .before_id = before_id, .limit = limit};
  read_one q = {ST_TICK_LIST,
                "SELECT id, schedule_id, coalesce(scheduled_at, 0), outcome, "
                "coalesce(execution_id, 0), detail, recorded_at FROM ticks "
                "WHERE schedule_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                tick_bind,
                tick_row,
                &r,
                0};
  cf_err rc = sq_run_read(impl, &q);
  if (rc) {
    store_ticks_free(r.items, r.count);
    r.items = NULL;
    r.count = 0;
  }
  *out = r.items;
  *count = r.count;
  return rc;
}

typedef struct prune_ticks_args {
  int64_t before;
  int limit;
  int64_t deleted;
} prune_ticks_args;

static cf_err prune_ticks_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  prune_ticks_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_TICK_PRUNE,
                  "DELETE FROM ticks WHERE id IN (SELECT id FROM ticks WHERE recorded_at < ?1 "
                  "ORDER BY recorded_at LIMIT ?2)");
  sqlite3_bind_int64(st, 1, a->before);
  sqlite3_bind_int(st, 2, a->limit);
  cf_err rc = sq_step_done(c, st);
  if (!rc)
    a->deleted = sqlite3_changes(c->db);
  return rc;
}

cf_err sq_sched_ticks_prune(void *impl, int64_t before, int limit, int64_t *deleted) {
  prune_ticks_args a = {before, limit, 0};
  cf_err rc = sq_write_job(impl, prune_ticks_fn, &a, false);
  if (deleted)
    *deleted = a.deleted;
  return rc;
}

/* ------------------------------------------------------------ ends */

cf_err sq_schedule_exec_ended(sqlite_store *s, conn *c, int64_t schedule_id, const char *status,
                              int64_t now) {
  SQ_STMT_OR_FAIL(count, c, ST_EXEC_COUNT,
                  "UPDATE schedules SET succeeded_runs = succeeded_runs + (?2 = 'succeeded'), "
                  "failed_runs = failed_runs + (?2 = 'failed' OR ?2 = 'timed_out'), "
                  "last_status = ?2 WHERE id = ?1");
  sqlite3_bind_int64(count, 1, schedule_id);
  sqlite3_bind_text(count, 2, status, -1, SQLITE_STATIC);
  cf_err rc = sq_step_done(c, count);
  if (rc)
    return rc;
  SQ_STMT_OR_FAIL(
      held, c, ST_EXEC_RELEASE_HELD,
      "UPDATE executions SET run_at = ?2 WHERE id = (SELECT id FROM executions "
      "WHERE schedule_id = ?1 AND status = 'queued' AND run_at = ?3 ORDER BY id LIMIT 1)");
  sqlite3_bind_int64(held, 1, schedule_id);
  sqlite3_bind_int64(held, 2, now);
  sqlite3_bind_int64(held, 3, STORE_RUN_AT_HELD);
  rc = sq_step_done(c, held);
  if (!rc && sqlite3_changes(c->db) > 0)
    s->released_work = true;
  return rc;
}

/* ------------------------------------------------------------ cancel */

/* Cancels one execution (see store_exec_cancel); *found says whether it
 * exists at all. */
static cf_err cancel_one(sqlite_store *s, conn *c, int64_t id, int64_t now, bool *found) {
  SQ_STMT_OR_FAIL(q, c, ST_CANCEL_QUEUED,
                  "UPDATE executions SET status = 'cancelled', error = 'cancelled', "
                  "finished_at = ?2, updated_at = ?2 WHERE id = ?1 AND status = 'queued' "
                  "RETURNING coalesce(schedule_id, 0)");
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int64(q, 2, now);
  int step = sqlite3_step(q);
  int64_t schedule_id = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  if (step == SQLITE_ROW)
    step = sqlite3_step(q);
  cf_err rc = step == SQLITE_DONE ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
  bool changed = sqlite3_changes(c->db) > 0;
  sq_done_with(q);
  if (rc || changed) {
    *found = true;
    return rc || !schedule_id ? rc : sq_schedule_exec_ended(s, c, schedule_id, "cancelled", now);
  }
  SQ_STMT_OR_FAIL(r, c, ST_CANCEL_RUNNING,
                  "UPDATE executions SET cancel_requested = 1 WHERE id = ?1 AND "
                  "status = 'running'");
  sqlite3_bind_int64(r, 1, id);
  rc = sq_step_done(c, r);
  if (rc || sqlite3_changes(c->db) > 0) {
    *found = true;
    if (!rc)
      sq_note_cancel(c, id); /* the local worker hears of it at once */
    return rc;
  }
  SQ_STMT_OR_FAIL(e, c, ST_CANCEL_EXISTS, "SELECT 1 FROM executions WHERE id = ?1");
  sqlite3_bind_int64(e, 1, id);
  step = sqlite3_step(e);
  sq_done_with(e);
  *found = step == SQLITE_ROW;
  return step == SQLITE_ROW || step == SQLITE_DONE ? CF_OK
                                                   : sq_map_rc(sqlite3_extended_errcode(c->db));
}

typedef struct cancel_args {
  int64_t id, now;
} cancel_args;

static cf_err cancel_fn(sqlite_store *s, conn *c, void *arg) {
  cancel_args *a = arg;
  bool found;
  cf_err rc = cancel_one(s, c, a->id, a->now, &found);
  return rc ? rc : found ? CF_OK : CF_E_NOT_FOUND;
}

cf_err sq_exec_cancel(void *impl, int64_t id, int64_t now) {
  cancel_args a = {id, now};
  return sq_write_job(impl, cancel_fn, &a, true);
}

/* ------------------------------------------------------------ fires */

#define ACTIVE_MAX 16

/* A schedule's unfinished executions (the first ACTIVE_MAX of them). */
typedef struct active_set {
  int64_t ids[ACTIVE_MAX];
  bool running[ACTIVE_MAX];
  int n, queued, running_count;
} active_set;

static cf_err fire_active(conn *c, int64_t schedule_id, active_set *out) {
  memset(out, 0, sizeof *out);
  /* The status test is written as the partial index
   * executions_schedule_active says it, or SQLite cannot tell that the
   * index covers it and reads every execution of the schedule. */
  SQ_STMT_OR_FAIL(st, c, ST_FIRE_ACTIVE,
                  "SELECT id, status = 'running' FROM executions WHERE schedule_id = ?1 AND "
                  "(status = 'queued' OR status = 'running') ORDER BY id");
  sqlite3_bind_int64(st, 1, schedule_id);
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    bool running = sqlite3_column_int(st, 1) != 0;
    if (running)
      out->running_count++;
    else
      out->queued++;
    if (out->n < ACTIVE_MAX) {
      out->ids[out->n] = sqlite3_column_int64(st, 0);
      out->running[out->n++] = running;
    }
  }
  sq_done_with(st);
  return step == SQLITE_DONE ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
}

/* "2027-03-14T07:30:00.000Z" */
static void format_utc_ms(int64_t ms, char *buf, size_t cap) {
  civil_time t;
  civil_from_seconds(civil_floor_div(ms, 1000), &t);
  snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)t.year, t.month, t.day,
           t.hour, t.minute, t.second, (int)civil_floor_mod(ms, 1000));
}

/* Inserts the execution of one instant; *id = 0 when it exists already. */
static cf_err fire_insert(conn *c, int64_t schedule_id, const store_fire_instant *in,
                          int64_t run_at, int64_t now, int64_t *id) {
  SQ_STMT_OR_FAIL(
      st, c, ST_FIRE_INSERT,
      "INSERT INTO executions (org_id, workflow_id, workflow_version, schedule_id, scheduled_at, "
      "trigger_kind, trigger_data, run_at, created_at, updated_at) "
      "SELECT s.org_id, s.workflow_id, w.current_version, s.id, ?2, 'schedule', "
      "json_object('schedule_id', s.id, 'scheduled_at', ?3, 'scheduled_local', ?4, "
      "'timezone', s.timezone, 'late', json(CASE WHEN ?5 THEN 'true' ELSE 'false' END), "
      "'catch_up', json(CASE WHEN ?6 THEN 'true' ELSE 'false' END), 'input', json(s.input)), "
      "?7, ?8, ?8 FROM schedules s JOIN workflows w ON w.id = s.workflow_id WHERE s.id = ?1 "
      "ON CONFLICT DO NOTHING");
  char utc[40];
  format_utc_ms(in->at, utc, sizeof utc);
  sqlite3_bind_int64(st, 1, schedule_id);
  sqlite3_bind_int64(st, 2, in->at);
  sqlite3_bind_text(st, 3, utc, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, in->local, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, in->late);
  sqlite3_bind_int(st, 6, in->kind == STORE_FIRE_CATCH_UP);
  sqlite3_bind_int64(st, 7, run_at);
  sqlite3_bind_int64(st, 8, now);
  cf_err rc = sq_step_done(c, st);
  *id = !rc && sqlite3_changes(c->db) > 0 ? sqlite3_last_insert_rowid(c->db) : 0;
  return rc;
}

/* Appends "; text" (or text) to a detail buffer. */
static void detail_add(char *buf, size_t cap, const char *text) {
  size_t len = strlen(buf);
  if (text && *text)
    snprintf(buf + len, cap - len, "%s%s", len ? "; " : "", text);
}

/* One instant that runs (on time, late, or caught up): the overlap policy
 * decides whether and how. */
static cf_err fire_run(sqlite_store *s, conn *c, int64_t schedule_id, store_overlap overlap,
                       const store_fire_instant *in, int64_t now, store_fire *f) {
  active_set act = {0};
  cf_err rc = overlap == STORE_OVERLAP_ALLOW ? CF_OK : fire_active(c, schedule_id, &act);
  if (rc)
    return rc;
  char detail[512] = "";
  if (in->kind == STORE_FIRE_CATCH_UP)
    detail_add(detail, sizeof detail, "catch-up of a missed fire");
  if (in->late && in->kind != STORE_FIRE_CATCH_UP)
    detail_add(detail, sizeof detail, "late");
  if (in->dst_shifted)
    detail_add(detail, sizeof detail, "dst_shifted: the wall time fell in a DST gap");
  detail_add(detail, sizeof detail, in->detail);
  const char *outcome = in->kind == STORE_FIRE_CATCH_UP ? "missed_fired" : "fired";
  int64_t run_at = now;
  char note[160] = "";
  bool run = true;
  switch (overlap) {
  case STORE_OVERLAP_ALLOW: break;
  case STORE_OVERLAP_SKIP:
    run = act.n == 0;
    if (!run)
      snprintf(note, sizeof note, "execution %lld is still %s", (long long)act.ids[0],
               act.running[0] ? "running" : "queued");
    break;
  case STORE_OVERLAP_QUEUE_ONE:
    if (act.queued > 0) {
      run = false;
      snprintf(note, sizeof note, "one execution is already waiting");
    } else if (act.running_count > 0) {
      run_at = STORE_RUN_AT_HELD;
      outcome = "queued";
      snprintf(note, sizeof note, "waits for execution %lld to end", (long long)act.ids[0]);
    }
    break;
  case STORE_OVERLAP_REPLACE:
    for (int i = 0; i < act.n; i++) {
      bool found;
      if ((rc = cancel_one(s, c, act.ids[i], now, &found)) != CF_OK)
        return rc;
      size_t len = strlen(note);
      snprintf(note + len, sizeof note - len, "%s%lld", len ? ", " : "replaced execution ",
               (long long)act.ids[i]);
    }
    if (act.n > 0)
      outcome = "replaced";
    break;
  }
  detail_add(detail, sizeof detail, note);
  if (!run)
    return tick_insert(c, schedule_id, in->at, "skipped_overlap", 0, detail, now);
  int64_t id = 0;
  if ((rc = fire_insert(c, schedule_id, in, run_at, now, &id)) != CF_OK)
    return rc;
  if (id == 0)
    return CF_OK; /* fired already (by another scheduler): its execution says so */
  f->enqueued++;
  f->last_execution_id = id;
  return tick_insert(c, schedule_id, in->at, outcome, id, detail, now);
}

typedef struct fire_args {
  store_fire *fires;
  size_t n;
  int64_t now;
} fire_args;

/* Counts the instants planned to run and the last of them. */
static int planned_runs(const store_fire *f, int64_t *last) {
  int n = 0;
  *last = 0;
  for (size_t i = 0; i < f->count; i++)
    if (f->instants[i].kind != STORE_FIRE_MISSED) {
      n++;
      *last = f->instants[i].at;
    }
  return n;
}

static cf_err fire_one(sqlite_store *s, conn *c, store_fire *f, int64_t now) {
  f->result = STORE_FIRE_STALE;
  f->enqueued = 0;
  f->last_execution_id = 0;
  /* The compare-and-set first: it moves the cursor and counts the runs as
   * planned, or changes nothing when the schedule moved on. */
  int64_t planned_last;
  int planned = planned_runs(f, &planned_last);
  SQ_STMT_OR_FAIL(cas, c, ST_FIRE_CHECK,
                  "UPDATE schedules SET next_fire_at = ?4, last_fire_at = coalesce(?5, "
                  "last_fire_at), total_runs = total_runs + ?6 WHERE id = ?1 AND revision = ?2 "
                  "AND enabled = 1 AND deleted_at IS NULL AND next_fire_at IS ?3 "
                  "RETURNING overlap_policy");
  sqlite3_bind_int64(cas, 1, f->schedule_id);
  sqlite3_bind_int64(cas, 2, f->revision);
  sq_bind_int_or_null(cas, 3, f->expect_cursor);
  sq_bind_int_or_null(cas, 4, f->new_cursor);
  sq_bind_int_or_null(cas, 5, planned_last);
  sqlite3_bind_int(cas, 6, planned);
  int step = sqlite3_step(cas);
  store_overlap overlap = STORE_OVERLAP_SKIP;
  bool known = step == SQLITE_ROW &&
               store_overlap_parse((const char *)sqlite3_column_text(cas, 0), &overlap);
  if (step == SQLITE_ROW)
    step = sqlite3_step(cas);
  sq_done_with(cas);
  if (step != SQLITE_DONE)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  if (!known)
    return CF_OK; /* stale: the caller reloads the schedule */
  int64_t last_run = 0;
  bool caught_up = false;
  for (size_t i = 0; i < f->count; i++) {
    const store_fire_instant *in = &f->instants[i];
    cf_err rc;
    if (in->kind == STORE_FIRE_MISSED) {
      char detail[512] = "";
      if (in->dst_shifted)
        detail_add(detail, sizeof detail, "dst_shifted: the wall time fell in a DST gap");
      detail_add(detail, sizeof detail, in->detail);
      rc = tick_insert(c, f->schedule_id, in->at, "missed", 0, detail, now);
    } else {
      int before = f->enqueued;
      /* Misfire `all`: the overlap policy weighs the first catch-up
       * against what ran before the downtime; the later ones of the same
       * catch-up run too, or `all` would run no more than `once`. */
      store_overlap ov =
          in->kind == STORE_FIRE_CATCH_UP && caught_up ? STORE_OVERLAP_ALLOW : overlap;
      if (in->kind == STORE_FIRE_CATCH_UP)
        caught_up = true;
      rc = fire_run(s, c, f->schedule_id, ov, in, now, f);
      if (f->enqueued > before)
        last_run = in->at;
    }
    if (rc)
      return rc;
  }
  if (f->enqueued != planned || last_run != planned_last) {
    /* Some did not run (overlap, or fired already): count what did. */
    SQ_STMT_OR_FAIL(fix, c, ST_FIRE_ADVANCE,
                    "UPDATE schedules SET last_fire_at = (SELECT max(scheduled_at) FROM "
                    "executions WHERE schedule_id = ?1), total_runs = total_runs - ?2 "
                    "WHERE id = ?1");
    sqlite3_bind_int64(fix, 1, f->schedule_id);
    sqlite3_bind_int(fix, 2, planned - f->enqueued);
    cf_err rc = sq_step_done(c, fix);
    if (rc)
      return rc;
  }
  f->result = STORE_FIRED;
  return CF_OK;
}

static cf_err fire_fn(sqlite_store *s, conn *c, void *arg) {
  fire_args *a = arg;
  for (size_t i = 0; i < a->n; i++) {
    cf_err rc = fire_one(s, c, &a->fires[i], a->now);
    if (rc)
      return rc;
  }
  return CF_OK;
}

cf_err sq_sched_fire(void *impl, store_fire *fires, size_t n, int64_t now) {
  fire_args a = {fires, n, now};
  cf_err rc = sq_write_job(impl, fire_fn, &a, true);
  if (rc)
    for (size_t i = 0; i < n; i++) {
      fires[i].result = STORE_FIRE_STALE;
      fires[i].enqueued = 0;
      fires[i].last_execution_id = 0;
    }
  return rc;
}

typedef struct async_fire {
  job j;
  fire_args a;
} async_fire;

cf_err sq_sched_fire_async(void *impl, store_fire *fires, size_t n, int64_t now, store_done_fn done,
                           void *ctx) {
  async_fire *x = calloc(1, sizeof *x);
  if (!x)
    return CF_E_NOMEM;
  x->a = (fire_args){fires, n, now};
  x->j = (job){.fn = fire_fn,
               .arg = &x->a,
               .wakes = true,
               .done_fn = done ? done : sq_async_ignore,
               .done_ctx = ctx};
  return sq_submit_async(impl, &x->j);
}
