/*
 * sqlite_creds.c — the SQLite backend's integration tables: credentials
 * (sealed blobs only: store_creds.c seals and opens them), saved e-mail
 * templates, and the e-mail log. Writes go through the writer's group
 * commit; reads use the reader pool (sqlite_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

enum {
  ST_CRED_INSERT = SQ_SLOT_INTEGRATIONS,
  ST_CRED_UPDATE,
  ST_CRED_DELETE,
  ST_CRED_LIST,
  ST_TPL_INSERT,
  ST_TPL_UPDATE,
  ST_TPL_DELETE,
  ST_TPL_LIST,
  ST_MAIL_INSERT,
  ST_MAIL_LIST,
  ST_CREDS_END
};
_Static_assert((int)ST_CREDS_END <= (int)SQ_SLOTS, "statement slots overlap");

/* A named row of an organization: the key of every write here. */
typedef struct cred_args {
  int64_t org_id, now;
  const store_cred_row *row;
  int read_only;
} cred_args;

static cf_err changed_one(conn *c, sqlite3_stmt *st) {
  cf_err rc = sq_step_done(c, st);
  if (!rc && sqlite3_changes(c->db) == 0)
    rc = CF_E_NOT_FOUND;
  return rc;
}

static cf_err cred_insert_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  cred_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_CRED_INSERT,
                  "INSERT INTO credentials (org_id, name, type, nonce, ciphertext, fields_set, "
                  "read_only, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->row->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, a->row->type, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, a->row->nonce, STORE_NONCE_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, a->row->sealed, (int)a->row->sealed_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, a->row->fields, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 7, a->read_only == 1);
  sqlite3_bind_int64(st, 8, a->now);
  int step = sqlite3_step(st);
  int ext = sqlite3_extended_errcode(c->db);
  sq_done_with(st);
  if (step == SQLITE_DONE)
    return CF_OK;
  if (ext == SQLITE_CONSTRAINT_UNIQUE)
    return CF_E_CONFLICT;
  if (ext == SQLITE_CONSTRAINT_CHECK)
    return CF_E_INVALID;
  return sq_map_rc(ext);
}

static cf_err cred_update_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  cred_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_CRED_UPDATE,
                  "UPDATE credentials SET nonce = ?3, ciphertext = ?4, fields_set = ?5, "
                  "read_only = CASE WHEN ?6 < 0 THEN read_only ELSE ?6 END, updated_at = ?7 "
                  "WHERE org_id = ?1 AND name = ?2");
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->row->name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, a->row->nonce, STORE_NONCE_BYTES, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, a->row->sealed, (int)a->row->sealed_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, a->row->fields, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, a->read_only);
  sqlite3_bind_int64(st, 7, a->now);
  return changed_one(c, st);
}

cf_err sq_cred_put(void *impl, int64_t org_id, const store_cred_row *row, bool create,
                   int read_only, int64_t now) {
  cred_args a = {org_id, now, row, read_only};
  return sq_write_job(impl, create ? cred_insert_fn : cred_update_fn, &a, false);
}

typedef struct name_args {
  int64_t org_id;
  const char *name;
} name_args;

static cf_err cred_delete_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  name_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_CRED_DELETE, "DELETE FROM credentials WHERE org_id = ?1 AND name = ?2");
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
  return changed_one(c, st);
}

cf_err sq_cred_delete(void *impl, int64_t org_id, const char *name) {
  name_args a = {org_id, name};
  return sq_write_job(impl, cred_delete_fn, &a, false);
}

/* Listing by organization, optionally one name (?2 NULL = all). */
typedef struct list_ctx {
  int64_t org_id;
  const char *name;
  void *items;
  size_t count, cap;
} list_ctx;

static void list_bind(sqlite3_stmt *st, const void *ctx) {
  const list_ctx *l = ctx;
  sqlite3_bind_int64(st, 1, l->org_id);
  sq_bind_text_or_null(st, 2, l->name);
}

static void *blob_dup(sqlite3_stmt *st, int i, size_t *len) {
  size_t n = (size_t)sqlite3_column_bytes(st, i);
  const void *p = sqlite3_column_blob(st, i);
  void *copy = malloc(n ? n : 1);
  if (copy && n)
    memcpy(copy, p, n);
  if (len)
    *len = n;
  return copy;
}

static cf_err cred_row(sqlite3_stmt *st, void *ctx) {
  list_ctx *l = ctx;
  store_cred_row *r = sq_append(&l->items, &l->count, &l->cap, sizeof *r);
  if (!r)
    return CF_E_NOMEM;
  r->name = sq_column_dup(st, 0);
  r->type = sq_column_dup(st, 1);
  r->fields = sq_column_dup(st, 2);
  r->read_only = sqlite3_column_int(st, 3) != 0;
  r->created_at = sqlite3_column_int64(st, 4);
  r->updated_at = sqlite3_column_int64(st, 5);
  size_t nonce_len = (size_t)sqlite3_column_bytes(st, 6);
  r->nonce = blob_dup(st, 6, NULL);
  r->sealed = blob_dup(st, 7, &r->sealed_len);
  if (!r->name || !r->type || !r->fields || !r->nonce || !r->sealed)
    return CF_E_NOMEM;
  return nonce_len == STORE_NONCE_BYTES ? CF_OK : CF_E_STORE_CORRUPT;
}

cf_err sq_cred_list(void *impl, int64_t org_id, const char *name, store_cred_row **out,
                    size_t *count) {
  list_ctx l = {.org_id = org_id, .name = name};
  read_one r = {ST_CRED_LIST,
                "SELECT name, type, fields_set, read_only, created_at, updated_at, nonce, "
                "ciphertext FROM credentials WHERE org_id = ?1 AND (?2 IS NULL OR name = ?2) "
                "ORDER BY name",
                list_bind,
                cred_row,
                &l,
                0};
  cf_err rc = sq_run_read(impl, &r);
  if (rc) {
    store_cred_rows_free(l.items, l.count);
    l.items = NULL;
    l.count = 0;
  }
  *out = l.items;
  *count = l.count;
  return rc;
}

/* ------------------------------------------------------------ templates */

typedef struct tpl_args {
  int64_t org_id, now;
  const store_email_template *t;
} tpl_args;

static void bind_parts(sqlite3_stmt *st, const tpl_args *a) {
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->t->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, a->t->subject ? a->t->subject : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, a->t->text ? a->t->text : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, a->t->html ? a->t->html : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, a->now);
}

static cf_err tpl_insert_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  SQ_STMT_OR_FAIL(st, c, ST_TPL_INSERT,
                  "INSERT INTO email_templates (org_id, name, subject, text_body, html_body, "
                  "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
  bind_parts(st, arg);
  int step = sqlite3_step(st);
  int ext = sqlite3_extended_errcode(c->db);
  sq_done_with(st);
  if (step == SQLITE_DONE)
    return CF_OK;
  return ext == SQLITE_CONSTRAINT_UNIQUE ? CF_E_CONFLICT : sq_map_rc(ext);
}

static cf_err tpl_update_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  SQ_STMT_OR_FAIL(st, c, ST_TPL_UPDATE,
                  "UPDATE email_templates SET subject = ?3, text_body = ?4, html_body = ?5, "
                  "updated_at = ?6 WHERE org_id = ?1 AND name = ?2");
  bind_parts(st, arg);
  return changed_one(c, st);
}

cf_err sq_email_template_put(void *impl, int64_t org_id, bool create, const store_email_template *t,
                             int64_t now) {
  tpl_args a = {org_id, now, t};
  return sq_write_job(impl, create ? tpl_insert_fn : tpl_update_fn, &a, false);
}

static cf_err tpl_delete_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  name_args *a = arg;
  SQ_STMT_OR_FAIL(st, c, ST_TPL_DELETE,
                  "DELETE FROM email_templates WHERE org_id = ?1 AND name = ?2");
  sqlite3_bind_int64(st, 1, a->org_id);
  sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
  return changed_one(c, st);
}

cf_err sq_email_template_delete(void *impl, int64_t org_id, const char *name) {
  name_args a = {org_id, name};
  return sq_write_job(impl, tpl_delete_fn, &a, false);
}

static cf_err tpl_row(sqlite3_stmt *st, void *ctx) {
  list_ctx *l = ctx;
  store_email_template *t = sq_append(&l->items, &l->count, &l->cap, sizeof *t);
  if (!t)
    return CF_E_NOMEM;
  t->name = sq_column_dup(st, 0);
  t->subject = sq_column_dup(st, 1);
  t->text = sq_column_dup(st, 2);
  t->html = sq_column_dup(st, 3);
  t->created_at = sqlite3_column_int64(st, 4);
  t->updated_at = sqlite3_column_int64(st, 5);
  return t->name && t->subject && t->text && t->html ? CF_OK : CF_E_NOMEM;
}

cf_err sq_email_template_list(void *impl, int64_t org_id, const char *name,
                              store_email_template **out, size_t *count) {
  list_ctx l = {.org_id = org_id, .name = name};
  read_one r = {ST_TPL_LIST,
                "SELECT name, subject, text_body, html_body, created_at, updated_at "
                "FROM email_templates WHERE org_id = ?1 AND (?2 IS NULL OR name = ?2) "
                "ORDER BY name",
                list_bind,
                tpl_row,
                &l,
                0};
  cf_err rc = sq_run_read(impl, &r);
  if (rc) {
    store_email_templates_free(l.items, l.count);
    l.items = NULL;
    l.count = 0;
  }
  *out = l.items;
  *count = l.count;
  return rc;
}

/* ------------------------------------------------------------ the e-mail log */

typedef struct async_mail {
  job j;
  store_email_log e;
} async_mail;

static cf_err mail_insert_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  const store_email_log *e = arg;
  SQ_STMT_OR_FAIL(st, c, ST_MAIL_INSERT,
                  "INSERT INTO email_log (org_id, execution_id, node_id, status, sender, "
                  "recipients, subject, message_id, smtp_response, error, at) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  sqlite3_bind_int64(st, 1, e->org_id);
  sq_bind_int_or_null(st, 2, e->execution_id);
  sq_bind_text_or_null(st, 3, e->node_id);
  sqlite3_bind_text(st, 4, e->status, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, e->sender ? e->sender : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, e->recipients ? e->recipients : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, e->subject ? e->subject : "", -1, SQLITE_STATIC);
  sq_bind_text_or_null(st, 8, e->message_id);
  sq_bind_text_or_null(st, 9, e->smtp_response);
  sq_bind_text_or_null(st, 10, e->error);
  sqlite3_bind_int64(st, 11, e->at);
  return sq_step_done(c, st);
}

cf_err sq_email_log_add_async(void *impl, const store_email_log *e, store_done_fn done, void *ctx) {
  if (!e->status || (strcmp(e->status, "sent") != 0 && strcmp(e->status, "failed") != 0))
    return CF_E_INVALID;
  size_t extra = sq_text_size(e->node_id) + sq_text_size(e->status) + sq_text_size(e->sender) +
                 sq_text_size(e->recipients) + sq_text_size(e->subject) +
                 sq_text_size(e->message_id) + sq_text_size(e->smtp_response) +
                 sq_text_size(e->error);
  async_mail *x = calloc(1, sizeof *x + extra);
  if (!x)
    return CF_E_NOMEM;
  sq_arena ar = {(char *)(x + 1), (char *)(x + 1) + extra};
  x->e = *e;
  x->e.node_id = (char *)sq_arena_copy(&ar, e->node_id);
  x->e.status = (char *)sq_arena_copy(&ar, e->status);
  x->e.sender = (char *)sq_arena_copy(&ar, e->sender);
  x->e.recipients = (char *)sq_arena_copy(&ar, e->recipients);
  x->e.subject = (char *)sq_arena_copy(&ar, e->subject);
  x->e.message_id = (char *)sq_arena_copy(&ar, e->message_id);
  x->e.smtp_response = (char *)sq_arena_copy(&ar, e->smtp_response);
  x->e.error = (char *)sq_arena_copy(&ar, e->error);
  x->j = (job){.fn = mail_insert_fn,
               .arg = &x->e,
               .one_write = true,
               .done_fn = done ? done : sq_async_ignore,
               .done_ctx = ctx};
  return sq_submit_async(impl, &x->j);
}

typedef struct mail_ctx {
  int64_t org_id, execution_id, before_id;
  int limit;
  store_email_log *items;
  size_t count, cap;
} mail_ctx;

static void mail_bind(sqlite3_stmt *st, const void *ctx) {
  const mail_ctx *m = ctx;
  sqlite3_bind_int64(st, 1, m->org_id);
  sqlite3_bind_int64(st, 2, m->execution_id);
  sqlite3_bind_int64(st, 3, m->before_id);
  sqlite3_bind_int(st, 4, m->limit);
}

static cf_err mail_row(sqlite3_stmt *st, void *ctx) {
  mail_ctx *m = ctx;
  store_email_log *e = sq_append((void **)&m->items, &m->count, &m->cap, sizeof *e);
  if (!e)
    return CF_E_NOMEM;
  e->id = sqlite3_column_int64(st, 0);
  e->org_id = m->org_id;
  e->execution_id = sqlite3_column_int64(st, 1);
  e->node_id = sq_column_dup(st, 2);
  e->status = sq_column_dup(st, 3);
  e->sender = sq_column_dup(st, 4);
  e->recipients = sq_column_dup(st, 5);
  e->subject = sq_column_dup(st, 6);
  e->message_id = sq_column_dup(st, 7);
  e->smtp_response = sq_column_dup(st, 8);
  e->error = sq_column_dup(st, 9);
  e->at = sqlite3_column_int64(st, 10);
  return e->status && e->sender && e->recipients && e->subject ? CF_OK : CF_E_NOMEM;
}

cf_err sq_email_log_list(void *impl, int64_t org_id, int64_t execution_id, int64_t before_id,
                         int limit, store_email_log **out, size_t *count) {
  mail_ctx m = {org_id, execution_id, before_id, limit, NULL, 0, 0};
  read_one r = {ST_MAIL_LIST,
                "SELECT id, coalesce(execution_id, 0), node_id, status, sender, recipients, "
                "subject, message_id, smtp_response, error, at FROM email_log "
                "WHERE org_id = ?1 AND (?2 = 0 OR execution_id = ?2) AND (?3 = 0 OR id < ?3) "
                "ORDER BY id DESC LIMIT ?4",
                mail_bind,
                mail_row,
                &m,
                0};
  cf_err rc = sq_run_read(impl, &r);
  if (rc) {
    store_email_logs_free(m.items, m.count);
    m.items = NULL;
    m.count = 0;
  }
  *out = m.items;
  *count = m.count;
  return rc;
}
