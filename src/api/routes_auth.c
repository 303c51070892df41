/*
 * routes_auth.c — signing in and out of the UI (session cookie + CSRF
 * token), changing one's password, who am I, API tokens (created, listed,
 * revoked) and the users of an organization (added, listed, changed).
 *
 * A token is shown once, in the answer that creates it; afterwards only
 * its prefix. A caller can make tokens up to its own role, never above.
 * Editors revoke the tokens they made; admins any of the organization's.
 * An admin cannot disable or demote themselves, and no change may leave
 * the organization without an enabled admin (the store checks that in the
 * change's transaction). A wrong current password counts toward the same
 * failed sign-in limits as a wrong login. Whatever ends a caller's access
 * (logout, revocation, a disabled user, a new password) empties the
 * server's cache of authenticated callers before it answers.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/exec_json.h"

#define SESSION_TTL_MS  (12LL * 3600 * 1000)
#define NAME_MAX_BYTES  200
#define EMAIL_MAX_BYTES 254
#define PASSWORD_MAX    1024
#define PASSWORD_MIN    8

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *user_json(const store_user *u) {
  return json_pack("{s:I,s:s,s:s,s:s,s:o,s:b}", "id", (json_int_t)u->id, "email", u->email, "name",
                   u->name, "role", store_role_name(u->role), "created_at",
                   api_time_json(u->created_at), "disabled", u->disabled);
}

/* ------------------------------------------------------------ sessions */

/* argon2id of a password nobody has: failed logins for unknown addresses
 * take as long as those for known ones. */
static char dummy_store[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void) {
  char pw[40];
  api_secret_new("", 16, pw, sizeof pw);
  if (api_password_hash(pw, dummy_store, sizeof dummy_store) != CF_OK)
    dummy_store[0] = '\0';
}

static bool password_ok(const char *hash, const char *password) {
  pthread_once(&dummy_once, make_dummy);
  const char *against = hash ? hash : dummy_store;
  bool ok = against[0] && crypto_pwhash_str_verify(against, password, strlen(password)) == 0;
  return ok && hash;
}

/* The answer to a sign-in (or a password check) while its address or its
 * client is blocked for `wait` seconds. */
static void too_many_attempts(api_response *res, int64_t wait) {
  char secs[24];
  snprintf(secs, sizeof secs, "%lld", (long long)wait);
  api_header_add(res, "Retry-After", secs);
  api_error(res, 429, "too_many_attempts",
            "too many failed sign-ins for this address or from this client; try again later");
}

static void login(const api_request *req, api_response *res) {
  static const char *const fields[] = {"email", "password", NULL};
  json_t *body = api_body_object(req, res);
  const char *email = NULL, *password = NULL;
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "email", true, EMAIL_MAX_BYTES, &email, res) ||
      !api_field_string(body, "password", true, PASSWORD_MAX, &password, res)) {
    json_decref(body);
    return;
  }
  api_auth *auth = api_server_auth(req->server);
  int64_t wait = api_login_blocked(auth, req->client_ip, email);
  if (wait > 0) {
    too_many_attempts(res, wait);
    json_decref(body);
    return;
  }
  store_user u;
  cf_err rc = store_user_by_email(req->cfg->store, email, &u);
  if (rc && rc != CF_E_NOT_FOUND) {
    api_store_error(res, rc, "user");
    json_decref(body);
    return;
  }
  bool ok = password_ok(rc ? NULL : u.password_hash, password) && !u.disabled;
  if (!ok) {
    api_login_failed(auth, req->client_ip, email);
    api_error(res, 401, "invalid_credentials", "the e-mail address or the password is wrong");
    store_user_clear(&u);
    json_decref(body);
    return;
  }
  api_login_succeeded(auth, email);
  char cookie[80], csrf[48], header[256];
  unsigned char hash[STORE_HASH_BYTES];
  api_secret_new("", 32, cookie, sizeof cookie);
  api_secret_new("", 20, csrf, sizeof csrf);
  api_secret_hash(cookie, hash);
  int64_t now = now_ms(), expires = now + SESSION_TTL_MS;
  rc = store_session_create(req->cfg->store, hash, u.id, csrf, now, expires);
  if (rc) {
    api_store_error(res, rc, "session");
  } else {
    snprintf(header, sizeof header,
             "cronflow_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld", cookie,
             SESSION_TTL_MS / 1000);
    api_header_add(res, "Set-Cookie", header);
    snprintf(header, sizeof header, "cronflow_csrf=%s; Path=/; SameSite=Strict; Max-Age=%lld", csrf,
             SESSION_TTL_MS / 1000);
    api_header_add(res, "Set-Cookie", header);
    res->json = json_pack("{s:o,s:s,s:o}", "user", user_json(&u), "csrf_token", csrf, "expires_at",
                          api_time_json(expires));
  }
  sodium_memzero(cookie, sizeof cookie);
  store_user_clear(&u);
  json_decref(body);
}

static void logout(const api_request *req, api_response *res) {
  const char *cookie = api_cookie(req, "cronflow_session");
  if (cookie && strlen(cookie) <= 128) {
    unsigned char hash[STORE_HASH_BYTES];
    api_secret_hash(cookie, hash);
    cf_err rc = store_session_delete(req->cfg->store, hash, now_ms());
    if (rc) {
      api_store_error(res, rc, "session");
      return;
    }
    api_auth_forget(api_server_auth(req->server));
  }
  api_header_add(res, "Set-Cookie",
                 "cronflow_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  api_header_add(res, "Set-Cookie", "cronflow_csrf=; Path=/; SameSite=Strict; Max-Age=0");
  res->status = 200;
  res->json = json_pack("{s:b}", "signed_out", 1);
}

/* A signed-in user changes their own password: the current one is checked
 * (a wrong one counts as a failed sign-in), the new one stored as
 * argon2id, and every other session of the user ends; the caller's own
 * session, if it came with one, stays. */
static void password_change(const api_request *req, api_response *res) {
  static const char *const fields[] = {"current_password", "new_password", NULL};
  json_t *body = api_body_object(req, res);
  const char *current = NULL, *fresh = NULL;
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "current_password", true, PASSWORD_MAX, &current, res) ||
      !api_field_string(body, "new_password", true, PASSWORD_MAX, &fresh, res)) {
    json_decref(body);
    return;
  }
  if (strlen(fresh) < PASSWORD_MIN) {
    api_error_field(res, 422, "invalid_field", "new_password: must have at least 8 characters",
                    "new_password");
    json_decref(body);
    return;
  }
  if (!req->auth.user_id) {
    api_error(res, 403, "forbidden",
              "this token belongs to no user, so it has no password to change; sign in, or use "
              "a token that a user made");
    json_decref(body);
    return;
  }
  store *st = req->cfg->store;
  api_auth *auth = api_server_auth(req->server);
  store_user u;
  cf_err rc = store_user_get(st, req->auth.org_id, req->auth.user_id, &u);
  if (rc) {
    api_store_error(res, rc, "user");
    json_decref(body);
    return;
  }
  int64_t wait = api_login_blocked(auth, req->client_ip, u.email);
  char hash[crypto_pwhash_STRBYTES];
  if (wait > 0) {
    too_many_attempts(res, wait);
  } else if (!password_ok(u.password_hash, current)) {
    api_login_failed(auth, req->client_ip, u.email);
    api_error_field(res, 403, "invalid_credentials",
                    "current_password: the current password is wrong", "current_password");
  } else if (strcmp(current, fresh) == 0) {
    api_error_field(res, 422, "invalid_field",
                    "new_password: must differ from the current password", "new_password");
  } else if ((rc = api_password_hash(fresh, hash, sizeof hash)) != CF_OK) {
    api_store_error(res, rc, "password");
  } else {
    rc = store_user_set_password(st, req->auth.org_id, u.id, u.password_hash, hash,
                                 req->auth.session_id);
    sodium_memzero(hash, sizeof hash);
    if (rc == CF_E_CONFLICT) {
      api_error(res, 409, "conflict",
                "the password was changed by another request meanwhile; sign in again");
    } else if (rc) {
      api_store_error(res, rc, "user");
    } else {
      api_login_succeeded(auth, u.email);
      api_auth_forget_user(auth, req->auth.org_id, u.id);
      api_no_content(res);
    }
  }
  store_user_clear(&u);
  json_decref(body);
}

static void me(const api_request *req, api_response *res) {
  char *org_name = NULL;
  cf_err rc = store_org_name(req->cfg->store, req->auth.org_id, &org_name);
  if (rc) {
    api_store_error(res, rc, "organization");
    return;
  }
  json_t *user = json_null();
  if (req->auth.user_id) {
    store_user u;
    if (store_user_get(req->cfg->store, req->auth.org_id, req->auth.user_id, &u) == CF_OK) {
      json_decref(user);
      user = user_json(&u);
      store_user_clear(&u);
    }
  }
  res->json =
      json_pack("{s:{s:I,s:s},s:s,s:o,s:s,s:o}", "organization", "id", (json_int_t)req->auth.org_id,
                "name", org_name, "role", store_role_name(req->auth.role), "user", user, "auth",
                req->auth.token_id ? "token" : "session", "token_id",
                req->auth.token_id ? json_integer(req->auth.token_id) : json_null());
  free(org_name);
}

/* ------------------------------------------------------------ tokens */

static json_t *token_json(const store_token *t) {
  return json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)t->id, "name",
                   t->name, "prefix", t->prefix, "role", store_role_name(t->role), "user_id",
                   t->user_id ? json_integer(t->user_id) : json_null(), "created_at",
                   api_time_json(t->created_at), "last_used_at", api_time_json(t->last_used_at),
                   "expires_at", api_time_json(t->expires_at), "revoked_at",
                   api_time_json(t->revoked_at));
}

static void tokens_list(const api_request *req, api_response *res) {
  int limit;
  int64_t after;
  if (!api_page(req, res, 100, 1000, &limit, &after))
    return;
  store_token *items;
  size_t n;
  cf_err rc = store_token_list(req->cfg->store, req->auth.org_id, after, limit, &items, &n);
  if (rc) {
    api_store_error(res, rc, "token");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, token_json(&items[i]));
  api_list(res, arr, n == (size_t)limit ? items[n - 1].id : 0);
  store_tokens_free(items, n);
}

static void tokens_create(const api_request *req, api_response *res) {
  static const char *const fields[] = {"name", "role", "expires_at", NULL};
  json_t *body = api_body_object(req, res);
  const char *name = NULL, *role_name = NULL;
  int64_t expires_at = 0;
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "name", true, NAME_MAX_BYTES, &name, res) ||
      !api_field_string(body, "role", false, 16, &role_name, res) ||
      !api_field_time(body, "expires_at", &expires_at, res)) {
    json_decref(body);
    return;
  }
  store_role role = req->auth.role;
  if (role_name && !store_role_parse(role_name, &role)) {
    api_error_field(res, 422, "invalid_field", "role: must be admin, editor or viewer", "role");
  } else if (role > req->auth.role) {
    api_error_field(res, 403, "forbidden", "role: a token cannot have more rights than its maker",
                    "role");
  } else if (!*name) {
    api_error_field(res, 422, "invalid_field", "name: must not be empty", "name");
  } else if (expires_at && expires_at <= now_ms()) {
    api_error_field(res, 422, "invalid_field", "expires_at: must be in the future", "expires_at");
  }
  if (res->json) {
    json_decref(body);
    return;
  }
  char token[API_TOKEN_LEN], prefix[16];
  unsigned char hash[STORE_HASH_BYTES];
  api_token_generate(token, sizeof token, hash, prefix);
  store_token_new t = {.org_id = req->auth.org_id,
                       .user_id = req->auth.user_id,
                       .name = name,
                       .prefix = prefix,
                       .hash = hash,
                       .role = role,
                       .expires_at = expires_at};
  int64_t now = now_ms(), id;
  cf_err rc = store_token_create(req->cfg->store, &t, now, &id);
  if (rc) {
    api_store_error(res, rc, "token");
  } else {
    store_token shown = {.id = id,
                         .org_id = t.org_id,
                         .user_id = t.user_id,
                         .name = (char *)name,
                         .prefix = prefix,
                         .role = role,
                         .created_at = now,
                         .expires_at = expires_at};
    json_t *o = token_json(&shown);
    json_object_set_new(o, "token", json_string(token));
    char where[64];
    snprintf(where, sizeof where, "/api/tokens/%lld", (long long)id);
    api_created(res, o, where);
  }
  sodium_memzero(token, sizeof token);
  json_decref(body);
}

static void tokens_revoke(const api_request *req, api_response *res) {
  int64_t id;
  if (!api_param_id(req, res, "id", "token", &id))
    return;
  int64_t only_of = 0;
  if (req->auth.role < STORE_ROLE_ADMIN) {
    if (!req->auth.user_id) {
      api_error(res, 403, "forbidden", "only admins revoke tokens that no user made");
      return;
    }
    only_of = req->auth.user_id;
  }
  cf_err rc = store_token_revoke(req->cfg->store, req->auth.org_id, id, only_of, now_ms());
  if (rc) {
    api_store_error(res, rc, "token");
    return;
  }
  api_auth_forget(api_server_auth(req->server));
  api_no_content(res);
}

/* ------------------------------------------------------------ users */

static void users_list(const api_request *req, api_response *res) {
  int limit;
  int64_t after;
  if (!api_page(req, res, 100, 1000, &limit, &after))
    return;
  store_user *items;
  size_t n;
  cf_err rc = store_user_list(req->cfg->store, req->auth.org_id, after, limit, &items, &n);
  if (rc) {
    api_store_error(res, rc, "user");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, user_json(&items[i]));
  api_list(res, arr, n == (size_t)limit ? items[n - 1].id : 0);
  store_users_free(items, n);
}

static void users_create(const api_request *req, api_response *res) {
  static const char *const fields[] = {"email", "password", "name", "role", NULL};
  json_t *body = api_body_object(req, res);
  const char *email = NULL, *password = NULL, *name = "", *role_name = "editor";
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "email", true, EMAIL_MAX_BYTES, &email, res) ||
      !api_field_string(body, "password", true, PASSWORD_MAX, &password, res) ||
      !api_field_string(body, "name", false, NAME_MAX_BYTES, &name, res) ||
      !api_field_string(body, "role", false, 16, &role_name, res)) {
    json_decref(body);
    return;
  }
  store_role role;
  const char *at = strchr(email, '@');
  if (!at || at == email || !at[1] || strchr(email, ' '))
    api_error_field(res, 422, "invalid_field", "email: must be an e-mail address", "email");
  else if (strlen(password) < PASSWORD_MIN)
    api_error_field(res, 422, "invalid_field", "password: must have at least 8 characters",
                    "password");
  else if (!store_role_parse(role_name, &role))
    api_error_field(res, 422, "invalid_field", "role: must be admin, editor or viewer", "role");
  if (res->json) {
    json_decref(body);
    return;
  }
  char hash[128];
  int64_t now = now_ms(), id = 0;
  cf_err rc = api_password_hash(password, hash, sizeof hash);
  if (!rc)
    rc = store_user_create(req->cfg->store, req->auth.org_id, email, name, hash, role, now, &id);
  if (rc == CF_E_CONFLICT) {
    api_error_field(res, 409, "conflict", "email: a user with this address exists", "email");
  } else if (rc) {
    api_store_error(res, rc, "user");
  } else {
    store_user u = {.id = id,
                    .org_id = req->auth.org_id,
                    .email = (char *)email,
                    .name = (char *)name,
                    .role = role,
                    .created_at = now};
    char where[64];
    snprintf(where, sizeof where, "/api/users/%lld", (long long)id);
    api_created(res, user_json(&u), where);
  }
  json_decref(body);
}

/* An admin changes a user of the organization: name, role, disabled. */
static void users_update(const api_request *req, api_response *res) {
  static const char *const fields[] = {"name", "role", "disabled", NULL};
  int64_t id;
  if (!api_param_id(req, res, "id", "user", &id))
    return;
  json_t *body = api_body_object(req, res);
  const char *name = NULL, *role_name = NULL;
  bool disabled = false;
  if (!body || !api_fields_known(body, fields, res) ||
      !api_field_string(body, "name", false, NAME_MAX_BYTES, &name, res) ||
      !api_field_string(body, "role", false, 16, &role_name, res) ||
      !api_field_bool(body, "disabled", &disabled, res)) {
    json_decref(body);
    return;
  }
  store_user_change change = {.name = name, .role = -1, .disabled = -1};
  if (json_is_boolean(json_object_get(body, "disabled")))
    change.disabled = disabled ? 1 : 0;
  store_role role;
  if (role_name) {
    if (store_role_parse(role_name, &role))
      change.role = (int)role;
    else
      api_error_field(res, 422, "invalid_field", "role: must be admin, editor or viewer", "role");
  }
  if (!res->json && id == req->auth.user_id) {
    if (change.disabled == 1)
      api_error_field(res, 409, "conflict",
                      "disabled: you cannot disable yourself; another admin of the organization "
                      "can",
                      "disabled");
    else if (change.role >= 0 && change.role != STORE_ROLE_ADMIN)
      api_error_field(res, 409, "conflict",
                      "role: you cannot lower your own role; another admin of the organization can",
                      "role");
  }
  if (res->json) {
    json_decref(body);
    return;
  }
  store_user u;
  cf_err rc = store_user_update(req->cfg->store, req->auth.org_id, id, &change, now_ms(), &u);
  if (rc == CF_E_CONFLICT) {
    const char *field = change.disabled == 1 ? "disabled" : "role";
    char message[200];
    snprintf(message, sizeof message,
             "%s: the organization must keep at least one enabled admin; make another user admin "
             "first",
             field);
    api_error_field(res, 409, "conflict", message, field);
  } else if (rc) {
    api_store_error(res, rc, "user");
  } else {
    /* Sessions and tokens cached for the user must not outlive a
     * disabling or keep a role the user no longer has. */
    api_auth_forget_user(api_server_auth(req->server), req->auth.org_id, id);
    res->json = user_json(&u);
    store_user_clear(&u);
  }
  json_decref(body);
}

const api_route api_auth_routes[] = {
    {"POST", "/api/auth/login", API_PUBLIC, login},
    {"POST", "/api/auth/logout", API_READ, logout},
    {"POST", "/api/auth/password", API_READ, password_change},
    {"GET", "/api/me", API_READ, me},
    {"GET", "/api/tokens", API_READ, tokens_list},
    {"POST", "/api/tokens", API_WRITE, tokens_create},
    {"DELETE", "/api/tokens/{id}", API_WRITE, tokens_revoke},
    {"GET", "/api/users", API_ADMIN, users_list},
    {"POST", "/api/users", API_ADMIN, users_create},
    {"PATCH", "/api/users/{id}", API_ADMIN, users_update},
    {NULL, NULL, 0, NULL},
};
