/*
 * store_api.c — the REST API's store operations (users, tokens, sessions,
 * listings), forwarded to the backend like every other call (store.c),
 * and the shared pieces: role names, freeing results.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static const char *const role_names[] = {"viewer", "editor", "admin"};

const char *store_role_name(store_role r) {
  return (unsigned)r < sizeof role_names / sizeof *role_names ? role_names[r] : NULL;
}

bool store_role_parse(const char *name, store_role *out) {
  for (size_t i = 0; name && i < sizeof role_names / sizeof *role_names; i++)
    if (strcmp(name, role_names[i]) == 0) {
      *out = (store_role)i;
      return true;
    }
  return false;
}

static int64_t org_or_default(int64_t org_id) {
  return org_id ? org_id : 1;
}

cf_err store_workflow_list(store *s, int64_t org_id, int64_t after_id, int limit,
                           store_workflow **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (limit < 1)
    return CF_E_INVALID;
  return s->backend->workflow_list(s->impl, org_or_default(org_id), after_id, limit, out, count);
}

void store_workflows_free(store_workflow *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_workflow_clear(&items[i]);
  free(items);
}

cf_err store_workflow_versions(store *s, int64_t org_id, int64_t workflow_id,
                               int32_t before_version, int limit, store_version_info **out,
                               size_t *count) {
  *out = NULL;
  *count = 0;
  if (limit < 1)
    return CF_E_INVALID;
  return s->backend->workflow_versions(s->impl, org_or_default(org_id), workflow_id, before_version,
                                       limit, out, count);
}

cf_err store_workflow_webhook_set(store *s, int64_t org_id, int64_t id, const unsigned char *hash,
                                  int64_t now) {
  return s->backend->workflow_webhook_set(s->impl, org_or_default(org_id), id, hash, now);
}

cf_err store_workflow_by_webhook(store *s, const unsigned char *hash, store_workflow *out) {
  return s->backend->workflow_by_webhook(s->impl, hash, out);
}

cf_err store_workflow_schedule(store *s, int64_t org_id, int64_t workflow_id,
                               int64_t *schedule_id) {
  return s->backend->workflow_schedule(s->impl, org_or_default(org_id), workflow_id, schedule_id);
}

cf_err store_org_find(store *s, const char *name, bool create, int64_t now, int64_t *id,
                      bool *created) {
  bool made = false;
  if (!name || !*name)
    return CF_E_INVALID;
  cf_err rc = s->backend->org_find(s->impl, name, create, now, id, &made);
  if (created)
    *created = made;
  return rc;
}

cf_err store_org_name(store *s, int64_t id, char **name) {
  return s->backend->org_name(s->impl, org_or_default(id), name);
}

cf_err store_user_create(store *s, int64_t org_id, const char *email, const char *name,
                         const char *password_hash, store_role role, int64_t now, int64_t *id) {
  if (!email || !*email || !store_role_name(role))
    return CF_E_INVALID;
  return s->backend->user_create(s->impl, org_or_default(org_id), email, name ? name : "",
                                 password_hash, role, now, id);
}

cf_err store_user_by_email(store *s, const char *email, store_user *out) {
  memset(out, 0, sizeof *out);
  return s->backend->user_by_email(s->impl, email, out);
}

cf_err store_user_get(store *s, int64_t org_id, int64_t id, store_user *out) {
  memset(out, 0, sizeof *out);
  return s->backend->user_get(s->impl, org_or_default(org_id), id, out);
}

void store_user_clear(store_user *u) {
  if (!u)
    return;
  free(u->email);
  free(u->name);
  free(u->password_hash);
  memset(u, 0, sizeof *u);
}

cf_err store_user_update(store *s, int64_t org_id, int64_t id, const store_user_change *change,
                         int64_t now, store_user *out) {
  store_user ignored;
  store_user *into = out ? out : &ignored;
  memset(into, 0, sizeof *into);
  if (!change || (change->role != -1 && !store_role_name((store_role)change->role)) ||
      change->disabled < -1 || change->disabled > 1)
    return CF_E_INVALID;
  cf_err rc = s->backend->user_update(s->impl, org_or_default(org_id), id, change, now, into);
  if (!out)
    store_user_clear(&ignored);
  return rc;
}

cf_err store_user_set_password(store *s, int64_t org_id, int64_t id, const char *expected_hash,
                               const char *new_hash, int64_t keep_session_id) {
  if (!expected_hash || !new_hash || !*new_hash)
    return CF_E_INVALID;
  return s->backend->user_set_password(s->impl, org_or_default(org_id), id, expected_hash, new_hash,
                                       keep_session_id);
}

cf_err store_user_count(store *s, int64_t *count) {
  return s->backend->user_count(s->impl, count);
}

cf_err store_user_list(store *s, int64_t org_id, int64_t after_id, int limit, store_user **out,
                       size_t *count) {
  *out = NULL;
  *count = 0;
  if (limit < 1)
    return CF_E_INVALID;
  return s->backend->user_list(s->impl, org_or_default(org_id), after_id, limit, out, count);
}

void store_users_free(store_user *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_user_clear(&items[i]);
  free(items);
}

cf_err store_token_create(store *s, const store_token_new *t, int64_t now, int64_t *id) {
  if (!t->hash || !t->name || !t->prefix || !store_role_name(t->role))
    return CF_E_INVALID;
  store_token_new copy = *t;
  copy.org_id = org_or_default(t->org_id);
  return s->backend->token_create(s->impl, &copy, now, id);
}

cf_err store_token_lookup(store *s, const unsigned char *hash, int64_t now, store_token *out) {
  memset(out, 0, sizeof *out);
  return s->backend->token_lookup(s->impl, hash, now, out);
}

void store_token_clear(store_token *t) {
  if (!t)
    return;
  free(t->name);
  free(t->prefix);
  memset(t, 0, sizeof *t);
}

cf_err store_token_list(store *s, int64_t org_id, int64_t after_id, int limit, store_token **out,
                        size_t *count) {
  *out = NULL;
  *count = 0;
  if (limit < 1)
    return CF_E_INVALID;
  return s->backend->token_list(s->impl, org_or_default(org_id), after_id, limit, out, count);
}

void store_tokens_free(store_token *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_token_clear(&items[i]);
  free(items);
}

cf_err store_token_revoke(store *s, int64_t org_id, int64_t id, int64_t user_id, int64_t now) {
  return s->backend->token_revoke(s->impl, org_or_default(org_id), id, user_id, now);
}

cf_err store_token_touch_async(store *s, int64_t id, int64_t now) {
  return s->backend->token_touch_async(s->impl, id, now);
}

cf_err store_session_create(store *s, const unsigned char *hash, int64_t user_id,
                            const char *csrf_token, int64_t now, int64_t expires_at) {
  if (!hash || !csrf_token)
    return CF_E_INVALID;
  return s->backend->session_create(s->impl, hash, user_id, csrf_token, now, expires_at);
}

cf_err store_session_lookup(store *s, const unsigned char *hash, int64_t now, store_session *out) {
  memset(out, 0, sizeof *out);
  return s->backend->session_lookup(s->impl, hash, now, out);
}

void store_session_clear(store_session *x) {
  if (!x)
    return;
  free(x->csrf_token);
  free(x->email);
  memset(x, 0, sizeof *x);
}

cf_err store_session_delete(store *s, const unsigned char *hash, int64_t now) {
  return s->backend->session_delete(s->impl, hash, now);
}

cf_err store_exec_list(store *s, const store_exec_filter *f, store_exec **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (f->limit < 1 || f->limit > 1000)
    return CF_E_INVALID;
  store_exec_filter copy = *f;
  copy.org_id = org_or_default(f->org_id);
  return s->backend->exec_list(s->impl, &copy, out, count);
}

void store_execs_free(store_exec *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_exec_clear(&items[i]);
  free(items);
}

cf_err store_exec_rerun(store *s, int64_t org_id, int64_t id, int64_t now, int64_t *new_id) {
  return s->backend->exec_rerun(s->impl, org_or_default(org_id), id, now, new_id);
}
