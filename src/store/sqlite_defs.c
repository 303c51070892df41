/*
 * sqlite_defs.c — the SQLite backend's workflows (with their immutable
 * versions) and execution logs. Writes go through the writer thread's
 * group commit like every other write (sqlite_int.h); reads use the pool.
 *
 * Invariant: a workflow's current_version always names an existing row of
 * workflow_versions — both change in the same transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

enum {
  ST_WF_INSERT = SQ_SLOT_WORKFLOWS,
  ST_WF_VERSION_INSERT,
  ST_WF_BUMP,
  ST_WF_DELETE,
  ST_WF_DISABLE_SCHEDULES,
  ST_WF_GET,
  ST_WF_VERSION_GET,
  ST_LOG_INSERT,
  ST_LOG_LIST,
  ST_DEFS_END
};
_Static_assert((int)ST_DEFS_END <= (int)SQ_SLOT_SCHEDULES, "statement slots overlap");

#define LOG_MESSAGE_MAX (64 * 1024)

typedef struct wf_args {
  int64_t org_id, id, now;
  const char *name, *description, *definition;
  int32_t version;
} wf_args;

static cf_err version_insert(conn *c, int64_t id, int32_t version, const char *definition,
                             int64_t now) {
  SQ_STMT_OR_FAIL(st, c, ST_WF_VERSION_INSERT,
                  "INSERT INTO workflow_versions (workflow_id, version, definition, created_at) "
                  "VALUES (?1, ?2, ?3, ?4)");
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int(st, 2, version);
  sqlite3_bind_text(st, 3, definition, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, now);
  return sq_step_done(c, st);
}

static cf_err wf_create_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  wf_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_WF_INSERT,
                  "INSERT INTO workflows (org_id, name, description, current_version, "
                  "created_at, updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?4)");
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, a->description, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, a->now);
  cf_err rc = sq_step_done(c, st);
  if (rc)
    return rc;
  a->id = sqlite3_last_insert_rowid(c->db);
  a->version = 1;
  return version_insert(c, a->id, 1, a->definition, a->now);
}

cf_err sq_workflow_create(void *impl, int64_t org_id, const char *name, const char *description,
                          const char *definition, int64_t now, int64_t *id) {
  wf_args a = {.org_id = org_id,
               .now = now,
               .name = name,
               .description = description,
               .definition = definition};
  cf_err rc = sq_write_job(impl, wf_create_fn, &a, false);
  if (!rc && id)
    *id = a.id;
  return rc;
}

static cf_err wf_update_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  wf_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_WF_BUMP,
                  "UPDATE workflows SET current_version = current_version + 1, name = ?3, "
                  "description = ?4, updated_at = ?5 "
                  "WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL "
                  "RETURNING current_version");
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->org_id);
  sqlite3_bind_text(st, 3, a->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, a->description, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, a->now);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    a->version = sqlite3_column_int(st, 0);
  cf_err rc = step == SQLITE_ROW    ? CF_OK
              : step == SQLITE_DONE ? CF_E_NOT_FOUND
                                    : sq_map_rc(sqlite3_extended_errcode(c->db));
  sq_done_with(st);
  if (rc)
    return rc;
  return version_insert(c, a->id, a->version, a->definition, a->now);
}

cf_err sq_workflow_update(void *impl, int64_t org_id, int64_t id, const char *name,
                          const char *description, const char *definition, int64_t now,
                          int32_t *version) {
  wf_args a = {.org_id = org_id,
               .id = id,
               .now = now,
               .name = name,
               .description = description,
               .definition = definition};
  cf_err rc = sq_write_job(impl, wf_update_fn, &a, false);
  if (!rc && version)
    *version = a.version;
  return rc;
}

static cf_err wf_delete_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  wf_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_WF_DELETE,
                  "UPDATE workflows SET deleted_at = ?3, updated_at = ?3, webhook_secret = NULL "
                  "WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL");
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->org_id);
  sqlite3_bind_int64(st, 3, a->now);
  cf_err rc = sq_step_done(c, st);
  if (!rc && sqlite3_changes(c->db) == 0)
    rc = CF_E_NOT_FOUND;
  if (rc)
    return rc;
  SQ_STMT_OR_FAIL(off, c, ST_WF_DISABLE_SCHEDULES,
                  "UPDATE schedules SET enabled = 0, updated_at = ?2, revision = revision + 1 "
                  "WHERE workflow_id = ?1 AND enabled = 1");
  sqlite3_bind_int64(off, 1, a->id);
  sqlite3_bind_int64(off, 2, a->now);
  return sq_step_done(c, off);
}

cf_err sq_workflow_delete(void *impl, int64_t org_id, int64_t id, int64_t now) {
  wf_args a = {.org_id = org_id, .id = id, .now = now};
  return sq_write_job(impl, wf_delete_fn, &a, false);
}

typedef struct wf_get_ctx {
  int64_t org_id, id;
  store_workflow *out;
  bool found;
} wf_get_ctx;

static void wf_get_bind(sqlite3_stmt *st, const void *ctx) {
  const wf_get_ctx *g = ctx;
  sqlite3_bind_int64(st, 1, g->id);
  sqlite3_bind_int64(st, 2, g->org_id);
}

/* See sqlite_int.h. */
cf_err sq_workflow_row(sqlite3_stmt *st, store_workflow *w) {
  w->id = sqlite3_column_int64(st, 0);
  w->org_id = sqlite3_column_int64(st, 1);
  w->name = sq_column_dup(st, 2);
  w->description = sq_column_dup(st, 3);
  w->current_version = sqlite3_column_int(st, 4);
  w->created_at = sqlite3_column_int64(st, 5);
  w->updated_at = sqlite3_column_int64(st, 6);
  w->has_webhook = sqlite3_column_int(st, 7) != 0;
  return w->name && w->description ? CF_OK : CF_E_NOMEM;
}

static cf_err wf_get_row(sqlite3_stmt *st, void *ctx) {
  wf_get_ctx *g = ctx;
  g->found = true;
  return sq_workflow_row(st, g->out);
}

cf_err sq_workflow_get(void *impl, int64_t org_id, int64_t id, store_workflow *out) {
  memset(out, 0, sizeof *out);
  wf_get_ctx g = {org_id, id, out, false};
  read_one r = {ST_WF_GET,
                "SELECT " SQ_WORKFLOW_COLUMNS " FROM workflows "
                "WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
                wf_get_bind,
                wf_get_row,
                &g,
                0};
  cf_err rc = sq_run_read(impl, &r);
  if (!rc && !g.found)
    rc = CF_E_NOT_FOUND;
  if (rc)
    store_workflow_clear(out);
  return rc;
}

typedef struct version_ctx {
  int64_t workflow_id;
  int32_t version;
  char *definition;
  int32_t found_version;
} version_ctx;

static void version_bind(sqlite3_stmt *st, const void *ctx) {
  const version_ctx *v = ctx;
  sqlite3_bind_int64(st, 1, v->workflow_id);
  sqlite3_bind_int(st, 2, v->version);
}

static cf_err version_row(sqlite3_stmt *st, void *ctx) {
  version_ctx *v = ctx;
  v->found_version = sqlite3_column_int(st, 0);
  v->definition = sq_column_dup(st, 1);
  return v->definition ? CF_OK : CF_E_NOMEM;
}

cf_err sq_workflow_version_get(void *impl, int64_t workflow_id, int32_t version, char **definition,
                               int32_t *version_out) {
  version_ctx v = {workflow_id, version, NULL, 0};
  read_one r = {ST_WF_VERSION_GET,
                "SELECT v.version, v.definition FROM workflow_versions v JOIN workflows w "
                "ON w.id = v.workflow_id WHERE v.workflow_id = ?1 AND v.version = "
                "CASE WHEN ?2 > 0 THEN ?2 ELSE w.current_version END",
                version_bind,
                version_row,
                &v,
                0};
  cf_err rc = sq_run_read(impl, &r);
  if (!rc && !v.definition)
    rc = CF_E_NOT_FOUND;
  if (rc) {
    free(v.definition);
    return rc;
  }
  *definition = v.definition;
  if (version_out)
    *version_out = v.found_version;
  return CF_OK;
}

/* ------------------------------------------------------------ logs */

typedef struct log_args {
  int64_t execution_id, at;
  const char *node_id, *level, *message;
} log_args;

typedef struct async_log {
  job j;
  log_args a;
} async_log;

static cf_err log_insert_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  log_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_LOG_INSERT,
                  "INSERT INTO execution_logs (execution_id, node_id, level, message, at) "
                  "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM executions "
                  "WHERE id = ?1)");
  sqlite3_bind_int64(st, 1, a->execution_id);
  sq_bind_text_or_null(st, 2, a->node_id);
  sqlite3_bind_text(st, 3, a->level, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, a->message, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, a->at);
  return sq_step_done(c, st);
}

cf_err sq_log_add_async(void *impl, int64_t execution_id, const char *node_id, const char *level,
                        const char *message, int64_t at, store_done_fn done, void *ctx) {
  size_t len = strlen(message);
  if (len > LOG_MESSAGE_MAX) {
    len = LOG_MESSAGE_MAX;
    while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80)
      len--; /* never cut a UTF-8 sequence in two */
  }
  size_t extra = sq_text_size(node_id) + sq_text_size(level) + len + 1;
  async_log *x = calloc(1, sizeof *x + extra);
  if (!x)
    return CF_E_NOMEM;
  sq_arena ar = {(char *)(x + 1), (char *)(x + 1) + extra};
  x->a.execution_id = execution_id;
  x->a.at = at;
  x->a.node_id = sq_arena_copy(&ar, node_id);
  x->a.level = sq_arena_copy(&ar, level);
  memcpy(ar.next, message, len);
  ar.next[len] = '\0';
  x->a.message = ar.next;
  x->j = (job){.fn = log_insert_fn,
               .arg = &x->a,
               .one_write = true,
               .done_fn = done ? done : sq_async_ignore,
               .done_ctx = ctx};
  return sq_submit_async(impl, &x->j);
}

typedef struct log_rows {
  store_log *items;
  size_t count, cap;
} log_rows;

static cf_err log_row(sqlite3_stmt *st, void *ctx) {
  log_rows *r = ctx;
  store_log *l = sq_append((void **)&r->items, &r->count, &r->cap, sizeof *l);
  if (!l)
    return CF_E_NOMEM;
  l->id = sqlite3_column_int64(st, 0);
  l->node_id = sq_column_dup(st, 1);
  l->level = sq_column_dup(st, 2);
  l->message = sq_column_dup(st, 3);
  l->at = sqlite3_column_int64(st, 4);
  return l->level && l->message ? CF_OK : CF_E_NOMEM;
}

cf_err sq_log_list(void *impl, int64_t execution_id, store_log **out, size_t *count) {
  log_rows r = {0};
  read_one q = {ST_LOG_LIST,
                "SELECT id, node_id, level, message, at FROM execution_logs "
                "WHERE execution_id = ?1 ORDER BY id",
                NULL,
                log_row,
                &r,
                execution_id};
  cf_err rc = sq_run_read(impl, &q);
  if (rc) {
    store_logs_free(r.items, r.count);
    r.items = NULL;
    r.count = 0;
  }
  *out = r.items;
  *count = r.count;
  return rc;
}
