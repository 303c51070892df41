/*
 * sqlite_api.c — the SQLite backend's tables and listings for the REST
 * API: organizations, users, API tokens, UI sessions, workflow and version
 * listings, webhook secrets, execution listings and re-runs from the start.
 *
 * Every query names the organization it serves (org_id), so one
 * organization's ids never reach another's objects. Tokens, session
 * cookies and webhook secrets are stored only as hashes (the callers hash
 * them). Writes go through the writer's group commit (sqlite_int.h),
 * reads through the reader pool; statements live in slots SQ_SLOT_API on.
 *
 * users.role keeps version 1's names (0005_api.sql): owner/admin are
 * admin, member is editor, viewer is viewer. A change to a user that
 * belongs together (disabling and ending the sessions, a new password and
 * ending the other sessions, the last-admin check) is one writer job: its
 * statements share one savepoint, so an error undoes them all.
 */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

enum {
  ST_WF_LIST = SQ_SLOT_API,
  ST_WF_VERSIONS,
  ST_WF_WEBHOOK_SET,
  ST_WF_BY_WEBHOOK,
  ST_WF_SCHEDULE,
  ST_ORG_INSERT,
  ST_ORG_FIND,
  ST_ORG_NAME,
  ST_USER_INSERT,
  ST_USER_BY_EMAIL,
  ST_USER_GET,
  ST_USER_COUNT,
  ST_USER_LIST,
  ST_USER_UPDATE,
  ST_USER_ADMINS_LEFT,
  ST_USER_PASSWORD,
  ST_SESSION_END_USER,
  ST_TOKEN_INSERT,
  ST_TOKEN_LOOKUP,
  ST_TOKEN_LIST,
  ST_TOKEN_REVOKE,
  ST_TOKEN_TOUCH,
  ST_SESSION_INSERT,
  ST_SESSION_LOOKUP,
  ST_SESSION_DELETE,
  ST_EXEC_LIST,
  ST_EXEC_RERUN,
  ST_EXEC_IN_ORG,
  ST_API_END
};
_Static_assert((int)ST_API_END <= (int)SQ_SLOT_INTEGRATIONS, "statement slots overflow");

/* ------------------------------------------------ binding and reading rows */

/* One bound parameter: an integer, text (NULL = SQL NULL) or a hash blob
 * (STORE_HASH_BYTES; NULL = SQL NULL). Parameters bind to ?1, ?2, ... */
typedef struct arg {
  char kind; /* 'i', 't', 'b' */
  int64_t i;
  const void *p;
} arg;

#define AI(x)                                                                                      \
  { 'i', (x), NULL }
#define AT(x)                                                                                      \
  { 't', 0, (x) }
#define AB(x)                                                                                      \
  { 'b', 0, (x) }
#define NARGS(a) ((int)(sizeof(a) / sizeof *(a)))

static void bind_args(sqlite3_stmt *st, const arg *a, int n) {
  for (int k = 0; k < n; k++) {
    if (a[k].kind == 'i')
      sqlite3_bind_int64(st, k + 1, a[k].i);
    else if (!a[k].p)
      sqlite3_bind_null(st, k + 1);
    else if (a[k].kind == 't')
      sqlite3_bind_text(st, k + 1, a[k].p, -1, SQLITE_STATIC);
    else
      sqlite3_bind_blob(st, k + 1, a[k].p, STORE_HASH_BYTES, SQLITE_STATIC);
  }
}

/* Rows collected into a growing array of `size`-byte items (zeroed before
 * fill), or into one caller's item (`single`: the first row only). */
typedef struct rows {
  size_t size;
  cf_err (*fill)(sqlite3_stmt *st, void *item);
  void *single;
  void *items;
  size_t count, cap;
  const arg *args;
  int nargs;
} rows;

static void rows_bind(sqlite3_stmt *st, const void *ctx) {
  const rows *r = ctx;
  bind_args(st, r->args, r->nargs);
}

static cf_err rows_row(sqlite3_stmt *st, void *ctx) {
  rows *r = ctx;
  if (r->single) {
    if (r->count++)
      return CF_OK;
    return r->fill(st, r->single);
  }
  void *item = sq_append(&r->items, &r->count, &r->cap, r->size);
  if (!item)
    return CF_E_NOMEM;
  return r->fill(st, item);
}

static cf_err query(void *impl, int slot, const char *sql, const arg *a, int n, rows *r) {
  r->args = a;
  r->nargs = n;
  read_one q = {slot, sql, rows_bind, rows_row, r, 0};
  return sq_run_read(impl, &q);
}

/* Reads one row into *out; CF_E_NOT_FOUND when there is none. */
static cf_err query_one(void *impl, int slot, const char *sql, const arg *a, int n,
                        cf_err (*fill)(sqlite3_stmt *, void *), void *out) {
  rows r = {.fill = fill, .single = out};
  cf_err rc = query(impl, slot, sql, a, n, &r);
  return rc ? rc : r.count ? CF_OK : CF_E_NOT_FOUND;
}

/* One write statement through the writer: its changes and rowid after. */
typedef struct write_one {
  int slot;
  const char *sql;
  const arg *args;
  int nargs;
  int64_t changes, rowid;
} write_one;

static cf_err write_one_fn(sqlite_store *s, conn *c, void *arg_) {
  (void)s;
  write_one *w = arg_;
  SQ_STMT_OR_FAIL(st, c, w->slot, w->sql);
  bind_args(st, w->args, w->nargs);
  cf_err rc = sq_step_done(c, st);
  if (!rc) {
    w->changes = sqlite3_changes(c->db);
    w->rowid = sqlite3_last_insert_rowid(c->db);
  }
  return rc;
}

static cf_err write_stmt(void *impl, write_one *w, bool wakes) {
  return sq_write_job(impl, write_one_fn, w, wakes);
}

/* An INSERT ... ON CONFLICT DO NOTHING: CF_E_CONFLICT when it inserted
 * nothing; *id (may be NULL) the new row's id. */
static cf_err insert(void *impl, write_one *w, int64_t *id) {
  cf_err rc = write_stmt(impl, w, false);
  if (!rc && !w->changes)
    rc = CF_E_CONFLICT;
  if (!rc && id)
    *id = w->rowid;
  return rc;
}

/* An UPDATE of one object: CF_E_NOT_FOUND when it changed no row. */
static cf_err update(void *impl, write_one *w) {
  cf_err rc = write_stmt(impl, w, false);
  return rc ? rc : w->changes ? CF_OK : CF_E_NOT_FOUND;
}

static cf_err int_fill(sqlite3_stmt *st, void *item) {
  *(int64_t *)item = sqlite3_column_int64(st, 0);
  return CF_OK;
}

/* Reads every row into a new array of `size`-byte items (*out, *count).
 * On failure the items filled so far are cleared, and *out is NULL. */
static cf_err query_list(void *impl, int slot, const char *sql, const arg *a, int n, size_t size,
                         cf_err (*fill)(sqlite3_stmt *, void *), void (*clear)(void *), void *out,
                         size_t *count) {
  rows r = {.size = size, .fill = fill};
  cf_err rc = query(impl, slot, sql, a, n, &r);
  if (rc) {
    for (size_t i = 0; clear && i < r.count; i++)
      clear((char *)r.items + i * r.size);
    free(r.items);
    r.items = NULL;
    r.count = 0;
  }
  *(void **)out = r.items;
  *count = r.count;
  return rc;
}

/* ------------------------------------------------ workflows */

static cf_err wf_fill(sqlite3_stmt *st, void *item) {
  return sq_workflow_row(st, item);
}

static void wf_clear(void *item) {
  store_workflow_clear(item);
}

cf_err sq_workflow_list(void *impl, int64_t org_id, int64_t after_id, int limit,
                        store_workflow **out, size_t *count) {
  arg a[] = {AI(org_id), AI(after_id), AI(limit)};
  return query_list(impl, ST_WF_LIST,
                    "SELECT " SQ_WORKFLOW_COLUMNS " FROM workflows WHERE org_id = ?1 AND "
                    "deleted_at IS NULL AND id > ?2 ORDER BY id LIMIT ?3",
                    a, NARGS(a), sizeof(store_workflow), wf_fill, wf_clear, out, count);
}

static cf_err version_fill(sqlite3_stmt *st, void *item) {
  store_version_info *v = item;
  v->version = sqlite3_column_int(st, 0);
  v->created_at = sqlite3_column_int64(st, 1);
  return CF_OK;
}

cf_err sq_workflow_versions(void *impl, int64_t org_id, int64_t workflow_id, int32_t before_version,
                            int limit, store_version_info **out, size_t *count) {
  arg a[] = {AI(workflow_id), AI(org_id), AI(before_version), AI(limit)};
  cf_err rc = query_list(impl, ST_WF_VERSIONS,
                         "SELECT v.version, v.created_at FROM workflow_versions v JOIN workflows w "
                         "ON w.id = v.workflow_id WHERE w.id = ?1 AND w.org_id = ?2 AND "
                         "w.deleted_at IS NULL AND (?3 = 0 OR v.version < ?3) "
                         "ORDER BY v.version DESC LIMIT ?4",
                         a, NARGS(a), sizeof(store_version_info), version_fill, NULL, out, count);
  if (!rc && *count == 0 && before_version == 0)
    rc = CF_E_NOT_FOUND; /* every workflow has a version: this one is not ours */
  return rc;
}

cf_err sq_workflow_webhook_set(void *impl, int64_t org_id, int64_t id, const unsigned char *hash,
                               int64_t now) {
  arg a[] = {AI(id), AI(org_id), AB(hash), AI(now)};
  write_one w = {ST_WF_WEBHOOK_SET,
                 "UPDATE workflows SET webhook_secret = ?3, updated_at = ?4 "
                 "WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
                 a,
                 NARGS(a),
                 0,
                 0};
  return update(impl, &w);
}

cf_err sq_workflow_by_webhook(void *impl, const unsigned char *hash, store_workflow *out) {
  memset(out, 0, sizeof *out);
  arg a[] = {AB(hash)};
  cf_err rc = query_one(impl, ST_WF_BY_WEBHOOK,
                        "SELECT " SQ_WORKFLOW_COLUMNS " FROM workflows "
                        "WHERE webhook_secret = ?1 AND deleted_at IS NULL",
                        a, NARGS(a), wf_fill, out);
  if (rc)
    store_workflow_clear(out);
  return rc;
}

cf_err sq_workflow_schedule(void *impl, int64_t org_id, int64_t workflow_id, int64_t *schedule_id) {
  arg a[] = {AI(workflow_id), AI(org_id)};
  return query_one(impl, ST_WF_SCHEDULE,
                   "SELECT id FROM schedules WHERE workflow_id = ?1 AND org_id = ?2 AND "
                   "deleted_at IS NULL ORDER BY id LIMIT 1",
                   a, NARGS(a), int_fill, schedule_id);
}

/* ------------------------------------------------ organizations */

cf_err sq_org_find(void *impl, const char *name, bool create, int64_t now, int64_t *id,
                   bool *created) {
  *created = false;
  if (create) {
    arg a[] = {AT(name), AI(now)};
    write_one w = {ST_ORG_INSERT,
                   "INSERT INTO organizations (name, created_at) VALUES (?1, ?2) "
                   "ON CONFLICT (name) DO NOTHING",
                   a,
                   NARGS(a),
                   0,
                   0};
    cf_err rc = write_stmt(impl, &w, false);
    if (rc)
      return rc;
    *created = w.changes > 0;
  }
  arg a[] = {AT(name)};
  return query_one(impl, ST_ORG_FIND, "SELECT id FROM organizations WHERE name = ?1", a, NARGS(a),
                   int_fill, id);
}

static cf_err text_fill(sqlite3_stmt *st, void *item) {
  *(char **)item = sq_column_dup(st, 0);
  return *(char **)item ? CF_OK : CF_E_NOMEM;
}

cf_err sq_org_name(void *impl, int64_t id, char **name) {
  *name = NULL;
  arg a[] = {AI(id)};
  return query_one(impl, ST_ORG_NAME, "SELECT name FROM organizations WHERE id = ?1", a, NARGS(a),
                   text_fill, name);
}

/* ------------------------------------------------ users */

static const char *db_role(store_role r) {
  return r == STORE_ROLE_ADMIN ? "admin" : r == STORE_ROLE_EDITOR ? "member" : "viewer";
}

static store_role api_role(const char *db) {
  if (!db || strcmp(db, "viewer") == 0)
    return STORE_ROLE_VIEWER;
  return strcmp(db, "member") == 0 ? STORE_ROLE_EDITOR : STORE_ROLE_ADMIN;
}

#define USER_COLUMNS "id, org_id, email, name, password_hash, role, created_at, disabled_at"

static cf_err user_fill(sqlite3_stmt *st, void *item) {
  store_user *u = item;
  u->id = sqlite3_column_int64(st, 0);
  u->org_id = sqlite3_column_int64(st, 1);
  u->email = sq_column_dup(st, 2);
  u->name = sq_column_dup(st, 3);
  u->password_hash = sq_column_dup(st, 4);
  u->role = api_role((const char *)sqlite3_column_text(st, 5));
  u->created_at = sqlite3_column_int64(st, 6);
  u->disabled = sqlite3_column_type(st, 7) != SQLITE_NULL;
  return u->email && u->name ? CF_OK : CF_E_NOMEM;
}

static void user_clear(void *item) {
  store_user_clear(item);
}

cf_err sq_user_create(void *impl, int64_t org_id, const char *email, const char *name,
                      const char *password_hash, store_role role, int64_t now, int64_t *id) {
  arg a[] = {AI(org_id), AT(email), AT(name), AT(password_hash), AT(db_role(role)), AI(now)};
  write_one w = {ST_USER_INSERT,
                 "INSERT INTO users (org_id, email, name, password_hash, role, created_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
                 a,
                 NARGS(a),
                 0,
                 0};
  return insert(impl, &w, id);
}

static cf_err user_one(void *impl, int slot, const char *sql, const arg *a, int n,
                       store_user *out) {
  cf_err rc = query_one(impl, slot, sql, a, n, user_fill, out);
  if (rc)
    store_user_clear(out);
  return rc;
}

cf_err sq_user_by_email(void *impl, const char *email, store_user *out) {
  arg a[] = {AT(email)};
  return user_one(impl, ST_USER_BY_EMAIL, "SELECT " USER_COLUMNS " FROM users WHERE email = ?1", a,
                  NARGS(a), out);
}

/* Readers and the writer both read a user by id through ST_USER_GET. */
#define USER_GET_SQL "SELECT " USER_COLUMNS " FROM users WHERE id = ?1 AND org_id = ?2"

cf_err sq_user_get(void *impl, int64_t org_id, int64_t id, store_user *out) {
  arg a[] = {AI(id), AI(org_id)};
  return user_one(impl, ST_USER_GET, USER_GET_SQL, a, NARGS(a), out);
}

/* Steps a statement that returns at most one user row into *out (the
 * writer's own reads, and UPDATE ... RETURNING): CF_E_NOT_FOUND without a
 * row. *out is cleared on any error. */
static cf_err user_step(conn *c, sqlite3_stmt *st, store_user *out) {
  int step = sqlite3_step(st);
  cf_err rc = step == SQLITE_ROW    ? user_fill(st, out)
              : step == SQLITE_DONE ? CF_E_NOT_FOUND
                                    : sq_map_rc(sqlite3_extended_errcode(c->db));
  sq_done_with(st);
  if (rc)
    store_user_clear(out);
  return rc;
}

/* The user as the writer's transaction sees it. */
static cf_err user_in_write(conn *c, int64_t org_id, int64_t id, store_user *out) {
  SQ_STMT_OR_FAIL(st, c, ST_USER_GET, USER_GET_SQL);
  arg a[] = {AI(id), AI(org_id)};
  bind_args(st, a, NARGS(a));
  return user_step(c, st, out);
}

static bool enabled_admin(const store_user *u) {
  return u->role == STORE_ROLE_ADMIN && !u->disabled;
}

/* Deletes every session of a user but keep_id (0: all of them). */
static cf_err sessions_end(conn *c, int64_t user_id, int64_t keep_id) {
  SQ_STMT_OR_FAIL(st, c, ST_SESSION_END_USER,
                  "DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2");
  arg a[] = {AI(user_id), AI(keep_id)};
  bind_args(st, a, NARGS(a));
  return sq_step_done(c, st);
}

typedef struct user_update_args {
  int64_t org_id, id, now;
  const char *name, *role; /* NULL: unchanged; role in the table's names */
  int disabled;            /* 1, 0, or -1: unchanged */
  store_user *out;
} user_update_args;

/* Under the writer's savepoint: an error undoes every statement of it. */
static cf_err user_update_fn(sqlite_store *s, conn *c, void *arg_) {
  (void)s;
  user_update_args *a = arg_;
  store_user before = {0};
  cf_err rc = user_in_write(c, a->org_id, a->id, &before);
  if (rc)
    return rc;
  bool was_admin = enabled_admin(&before);
  store_user_clear(&before);
  /* An owner (version 1's strongest role) made "admin" stays an owner:
   * both are the API's admin, and the owner loses nothing. */
  SQ_STMT_OR_FAIL(up, c, ST_USER_UPDATE,
                  "UPDATE users SET name = coalesce(?3, name), "
                  "role = CASE WHEN ?4 IS NULL OR (?4 = 'admin' AND role = 'owner') THEN role "
                  "ELSE ?4 END, "
                  "disabled_at = CASE ?5 WHEN 0 THEN NULL WHEN 1 THEN coalesce(disabled_at, ?6) "
                  "ELSE disabled_at END "
                  "WHERE id = ?1 AND org_id = ?2 RETURNING " USER_COLUMNS);
  arg u[] = {AI(a->id), AI(a->org_id), AT(a->name), AT(a->role), AI(a->disabled), AI(a->now)};
  bind_args(up, u, NARGS(u));
  rc = user_step(c, up, a->out);
  if (rc)
    return rc;
  if (was_admin && !enabled_admin(a->out)) {
    SQ_STMT_OR_FAIL(left, c, ST_USER_ADMINS_LEFT,
                    "SELECT count(*) FROM users WHERE org_id = ?1 AND "
                    "(role = 'owner' OR role = 'admin') AND disabled_at IS NULL");
    sqlite3_bind_int64(left, 1, a->org_id);
    int step = sqlite3_step(left);
    int64_t admins = step == SQLITE_ROW ? sqlite3_column_int64(left, 0) : -1;
    rc = step == SQLITE_ROW ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
    sq_done_with(left);
    if (!rc && admins == 0)
      rc = CF_E_CONFLICT;
  }
  if (!rc && a->disabled == 1)
    rc = sessions_end(c, a->id, 0);
  if (rc)
    store_user_clear(a->out);
  return rc;
}

cf_err sq_user_update(void *impl, int64_t org_id, int64_t id, const store_user_change *change,
                      int64_t now, store_user *out) {
  user_update_args a = {.org_id = org_id,
                        .id = id,
                        .now = now,
                        .name = change->name,
                        .role = change->role < 0 ? NULL : db_role((store_role)change->role),
                        .disabled = change->disabled,
                        .out = out};
  return sq_write_job(impl, user_update_fn, &a, false);
}

typedef struct password_args {
  int64_t org_id, id, keep_session_id;
  const char *expected_hash, *new_hash;
} password_args;

static cf_err password_fn(sqlite_store *s, conn *c, void *arg_) {
  (void)s;
  password_args *a = arg_;
  store_user u = {0};
  cf_err rc = user_in_write(c, a->org_id, a->id, &u);
  if (!rc && u.disabled)
    rc = CF_E_NOT_FOUND;
  else if (!rc && (!u.password_hash || strcmp(u.password_hash, a->expected_hash) != 0))
    rc = CF_E_CONFLICT;
  store_user_clear(&u);
  if (rc)
    return rc;
  SQ_STMT_OR_FAIL(st, c, ST_USER_PASSWORD,
                  "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND org_id = ?2");
  arg p[] = {AI(a->id), AI(a->org_id), AT(a->new_hash)};
  bind_args(st, p, NARGS(p));
  rc = sq_step_done(c, st);
  return rc ? rc : sessions_end(c, a->id, a->keep_session_id);
}

cf_err sq_user_set_password(void *impl, int64_t org_id, int64_t id, const char *expected_hash,
                            const char *new_hash, int64_t keep_session_id) {
  password_args a = {.org_id = org_id,
                     .id = id,
                     .keep_session_id = keep_session_id,
                     .expected_hash = expected_hash,
                     .new_hash = new_hash};
  return sq_write_job(impl, password_fn, &a, false);
}

cf_err sq_user_count(void *impl, int64_t *count) {
  return query_one(impl, ST_USER_COUNT, "SELECT count(*) FROM users", NULL, 0, int_fill, count);
}

cf_err sq_user_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_user **out,
                    size_t *count) {
  arg a[] = {AI(org_id), AI(after_id), AI(limit)};
  return query_list(impl, ST_USER_LIST,
                    "SELECT " USER_COLUMNS " FROM users WHERE org_id = ?1 AND id > ?2 "
                    "ORDER BY id LIMIT ?3",
                    a, NARGS(a), sizeof(store_user), user_fill, user_clear, out, count);
}

/* ------------------------------------------------ tokens */

#define TOKEN_COLUMNS                                                                              \
  "t.id, t.org_id, coalesce(t.user_id, 0), t.name, t.prefix, t.role, t.created_at, "               \
  "coalesce(t.last_used_at, 0), coalesce(t.expires_at, 0), coalesce(t.revoked_at, 0), "            \
  "(SELECT u.role FROM users u WHERE u.id = t.user_id)"

static cf_err token_fill(sqlite3_stmt *st, void *item) {
  store_token *t = item;
  t->id = sqlite3_column_int64(st, 0);
  t->org_id = sqlite3_column_int64(st, 1);
  t->user_id = sqlite3_column_int64(st, 2);
  t->name = sq_column_dup(st, 3);
  t->prefix = sq_column_dup(st, 4);
  if (!store_role_parse((const char *)sqlite3_column_text(st, 5), &t->role))
    t->role = STORE_ROLE_VIEWER;
  t->created_at = sqlite3_column_int64(st, 6);
  t->last_used_at = sqlite3_column_int64(st, 7);
  t->expires_at = sqlite3_column_int64(st, 8);
  t->revoked_at = sqlite3_column_int64(st, 9);
  /* A user's token never has more rights than the user has now. */
  if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
    store_role user = api_role((const char *)sqlite3_column_text(st, 10));
    if (user < t->role)
      t->role = user;
  }
  return t->name && t->prefix ? CF_OK : CF_E_NOMEM;
}

static void token_clear(void *item) {
  store_token_clear(item);
}

cf_err sq_token_create(void *impl, const store_token_new *t, int64_t now, int64_t *id) {
  arg a[] = {AI(t->org_id), t->user_id ? (arg)AI(t->user_id) : (arg)AT(NULL),
             AT(t->name),   AT(t->prefix),
             AB(t->hash),   AT(store_role_name(t->role)),
             AI(now),       t->expires_at ? (arg)AI(t->expires_at) : (arg)AT(NULL)};
  write_one w = {ST_TOKEN_INSERT,
                 "INSERT INTO api_tokens (org_id, user_id, name, prefix, token_hash, role, "
                 "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                 "ON CONFLICT (token_hash) DO NOTHING",
                 a,
                 NARGS(a),
                 0,
                 0};
  return insert(impl, &w, id);
}

cf_err sq_token_lookup(void *impl, const unsigned char *hash, int64_t now, store_token *out) {
  arg a[] = {AB(hash), AI(now)};
  cf_err rc = query_one(impl, ST_TOKEN_LOOKUP,
                        "SELECT " TOKEN_COLUMNS " FROM api_tokens t WHERE t.token_hash = ?1 AND "
                        "t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2) AND "
                        "(t.user_id IS NULL OR EXISTS (SELECT 1 FROM users u WHERE "
                        "u.id = t.user_id AND u.disabled_at IS NULL))",
                        a, NARGS(a), token_fill, out);
  if (rc)
    store_token_clear(out);
  return rc;
}

cf_err sq_token_list(void *impl, int64_t org_id, int64_t after_id, int limit, store_token **out,
                     size_t *count) {
  arg a[] = {AI(org_id), AI(after_id), AI(limit)};
  return query_list(impl, ST_TOKEN_LIST,
                    "SELECT " TOKEN_COLUMNS " FROM api_tokens t WHERE t.org_id = ?1 AND "
                    "t.id > ?2 ORDER BY t.id LIMIT ?3",
                    a, NARGS(a), sizeof(store_token), token_fill, token_clear, out, count);
}

cf_err sq_token_revoke(void *impl, int64_t org_id, int64_t id, int64_t user_id, int64_t now) {
  arg a[] = {AI(id), AI(org_id), AI(user_id), AI(now)};
  write_one w = {ST_TOKEN_REVOKE,
                 "UPDATE api_tokens SET revoked_at = ?4 WHERE id = ?1 AND org_id = ?2 AND "
                 "(?3 = 0 OR user_id = ?3) AND revoked_at IS NULL",
                 a,
                 NARGS(a),
                 0,
                 0};
  return update(impl, &w);
}

typedef struct async_touch {
  job j;
  arg a[2];
  write_one w;
} async_touch;

cf_err sq_token_touch_async(void *impl, int64_t id, int64_t now) {
  async_touch *x = calloc(1, sizeof *x);
  if (!x)
    return CF_E_NOMEM;
  x->a[0] = (arg)AI(id);
  x->a[1] = (arg)AI(now);
  x->w = (write_one){
      ST_TOKEN_TOUCH, "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", x->a, 2, 0, 0};
  x->j = (job){.fn = write_one_fn,
               .arg = &x->w,
               .one_write = true,
               .volatile_ok = true, /* a lost last_used_at harms nobody */
               .done_fn = sq_async_ignore};
  return sq_submit_async(impl, &x->j);
}

/* ------------------------------------------------ sessions */

cf_err sq_session_create(void *impl, const unsigned char *hash, int64_t user_id,
                         const char *csrf_token, int64_t now, int64_t expires_at) {
  arg a[] = {AB(hash), AI(user_id), AT(csrf_token), AI(now), AI(expires_at)};
  write_one w = {ST_SESSION_INSERT,
                 "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
                 a,
                 NARGS(a),
                 0,
                 0};
  return write_stmt(impl, &w, false);
}

static cf_err session_fill(sqlite3_stmt *st, void *item) {
  store_session *x = item;
  x->id = sqlite3_column_int64(st, 0);
  x->user_id = sqlite3_column_int64(st, 1);
  x->org_id = sqlite3_column_int64(st, 2);
  x->role = api_role((const char *)sqlite3_column_text(st, 3));
  x->csrf_token = sq_column_dup(st, 4);
  x->email = sq_column_dup(st, 5);
  x->expires_at = sqlite3_column_int64(st, 6);
  return x->csrf_token && x->email ? CF_OK : CF_E_NOMEM;
}

cf_err sq_session_lookup(void *impl, const unsigned char *hash, int64_t now, store_session *out) {
  arg a[] = {AB(hash), AI(now)};
  cf_err rc = query_one(impl, ST_SESSION_LOOKUP,
                        "SELECT s.id, s.user_id, u.org_id, u.role, s.csrf_token, u.email, "
                        "s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id "
                        "WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL",
                        a, NARGS(a), session_fill, out);
  if (rc)
    store_session_clear(out);
  return rc;
}

cf_err sq_session_delete(void *impl, const unsigned char *hash, int64_t now) {
  arg a[] = {AB(hash), AI(now)};
  write_one w = {ST_SESSION_DELETE,
                 "DELETE FROM sessions WHERE token_hash = ?1 OR expires_at <= ?2",
                 a,
                 NARGS(a),
                 0,
                 0};
  return write_stmt(impl, &w, false);
}

/* ------------------------------------------------ executions */

static cf_err exec_fill(sqlite3_stmt *st, void *item) {
  return sq_exec_row(st, item);
}

static void exec_clear(void *item) {
  store_exec_clear(item);
}

cf_err sq_exec_list(void *impl, const store_exec_filter *f, store_exec **out, size_t *count) {
  const char *status = f->status >= 0 ? store_exec_status_name((store_exec_status)f->status) : NULL;
  arg a[] = {AI(f->org_id), AI(f->workflow_id), AI(f->schedule_id), AT(status),
             AI(f->since),  AI(f->until),       AI(f->before_id),   AI(f->limit)};
  return query_list(impl, ST_EXEC_LIST,
                    "SELECT " SQ_EXEC_COLUMNS " FROM executions WHERE org_id = ?1 AND "
                    "(?2 = 0 OR workflow_id = ?2) AND (?3 = 0 OR schedule_id = ?3) AND "
                    "(?4 IS NULL OR status = ?4) AND (?5 = 0 OR created_at >= ?5) AND "
                    "(?6 = 0 OR created_at < ?6) AND (?7 = 0 OR id < ?7) "
                    "ORDER BY id DESC LIMIT ?8",
                    a, NARGS(a), sizeof(store_exec), exec_fill, exec_clear, out, count);
}

cf_err sq_exec_rerun(void *impl, int64_t org_id, int64_t id, int64_t now, int64_t *new_id) {
  arg a[] = {AI(id), AI(org_id), AI(now)};
  write_one w = {ST_EXEC_RERUN,
                 "INSERT INTO executions (org_id, workflow_id, workflow_version, trigger_kind, "
                 "trigger_data, priority, run_at, max_attempts, backoff_ms, backoff_max_ms, "
                 "timeout_ms, rerun_of, created_at, updated_at) "
                 "SELECT org_id, workflow_id, workflow_version, 'rerun', trigger_data, priority, "
                 "?3, max_attempts, backoff_ms, backoff_max_ms, timeout_ms, id, ?3, ?3 "
                 "FROM executions WHERE id = ?1 AND org_id = ?2 AND "
                 "status NOT IN ('queued', 'running')",
                 a,
                 NARGS(a),
                 0,
                 0};
  cf_err rc = write_stmt(impl, &w, true);
  if (rc)
    return rc;
  if (w.changes) {
    *new_id = w.rowid;
    return CF_OK;
  }
  int64_t one;
  rc = query_one(impl, ST_EXEC_IN_ORG, "SELECT 1 FROM executions WHERE id = ?1 AND org_id = ?2", a,
                 2, int_fill, &one);
  return rc ? rc : CF_E_CONFLICT;
}
