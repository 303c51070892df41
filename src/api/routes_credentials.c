/*
 * routes_credentials.c — named, encrypted credentials per organization
 * (integrations.h). The data is checked against its type here, then
 * sealed by the store; nothing this file returns holds a value, and no
 * error message quotes one.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/integrations.h"

#define NAME_MAX_LEN 64

unsigned api_error_body(unsigned status, const char *code, const char *message, json_t **out) {
  *out = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
  return status;
}

/* The fields each type knows: required ones first (count), then optional. */
typedef struct cred_type {
  const char *name;
  int required; /* how many of fields[] are required */
  const char *fields[9];
} cred_type;

static const cred_type types[] = {
    {"smtp",
     1,
     {"host", "port", "security", "username", "password", "from", "ca_file", "tls_verify", NULL}},
    {"slack", 0, {"webhook_url", "token", "api_base", NULL}},
    {"http_header", 2, {"name", "value", NULL}},
    {"bearer", 1, {"token", NULL}},
    {"basic", 2, {"username", "password", NULL}},
    {"postgres", 1, {"url", "read_only", NULL}},
    {"sqlite", 1, {"path", "read_only", NULL}},
};

static const cred_type *find_type(const char *name) {
  for (size_t i = 0; name && i < sizeof types / sizeof *types; i++)
    if (strcmp(types[i].name, name) == 0)
      return &types[i];
  return NULL;
}

static bool name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > NAME_MAX_LEN)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

static bool starts(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool api_credential_check(const char *type, const json_t *data, char *msg, size_t cap) {
  const cred_type *t = find_type(type);
  if (!t) {
    snprintf(msg, cap,
             "type: must be one of smtp, slack, http_header, bearer, basic, postgres, sqlite");
    return false;
  }
  if (!json_is_object(data)) {
    snprintf(msg, cap, "data: must be an object of the credential's fields");
    return false;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)data, key, v) {
    bool known = false;
    for (int i = 0; t->fields[i]; i++)
      known |= strcmp(t->fields[i], key) == 0;
    if (!known) {
      char list[200] = "";
      for (int i = 0; t->fields[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 t->fields[i]);
      snprintf(msg, cap, "data.%.64s: not a field of a %s credential (fields: %s)", key, type,
               list);
      return false;
    }
    bool want_bool = strcmp(key, "tls_verify") == 0 || strcmp(key, "read_only") == 0;
    bool want_int = strcmp(key, "port") == 0;
    if (want_bool && !json_is_boolean(v)) {
      snprintf(msg, cap, "data.%s: must be true or false", key);
      return false;
    }
    if (want_int &&
        !(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535)) {
      snprintf(msg, cap, "data.port: must be an integer from 1 to 65535");
      return false;
    }
    if (!want_bool && !want_int && !json_is_string(v)) {
      snprintf(msg, cap, "data.%s: must be a string", key);
      return false;
    }
  }
  for (int i = 0; i < t->required; i++) {
    const char *v2 = json_string_value(json_object_get(data, t->fields[i]));
    if (!v2 || !v2[0]) {
      snprintf(msg, cap, "data.%s: required for a %s credential", t->fields[i], type);
      return false;
    }
  }
  const char *sec = json_string_value(json_object_get(data, "security"));
  if (sec && strcmp(sec, "none") != 0 && strcmp(sec, "starttls") != 0 && strcmp(sec, "tls") != 0) {
    snprintf(msg, cap, "data.security: must be none, starttls or tls");
    return false;
  }
  if (strcmp(type, "slack") == 0) {
    const char *hook = json_string_value(json_object_get(data, "webhook_url"));
    const char *token = json_string_value(json_object_get(data, "token"));
    if (!hook && !token) {
      snprintf(msg, cap, "data: a slack credential needs webhook_url or token");
      return false;
    }
    if (hook && !starts(hook, "https://") && !starts(hook, "http://")) {
      snprintf(msg, cap, "data.webhook_url: must start with https://");
      return false;
    }
  }
  const char *url = json_string_value(json_object_get(data, "url"));
  if (strcmp(type, "postgres") == 0 && !starts(url, "postgres://") &&
      !starts(url, "postgresql://")) {
    snprintf(msg, cap, "data.url: must be a postgres:// or postgresql:// URL");
    return false;
  }
  return true;
}

static json_t *credential_json(const store_credential *c) {
  json_t *fields = json_loads(c->fields ? c->fields : "[]", 0, NULL);
  return json_pack("{s:s, s:s, s:o, s:b, s:I, s:I}", "name", c->name, "type", c->type, "fields",
                   fields ? fields : json_array(), "read_only", c->read_only, "created_at",
                   (json_int_t)c->created_at, "updated_at", (json_int_t)c->updated_at);
}

static unsigned store_failure(cf_err rc, const char *what, json_t **out) {
  char msg[200];
  switch (rc) {
  case CF_E_NOT_FOUND:
    snprintf(msg, sizeof msg, "no %s by that name", what);
    return api_error_body(404, "not_found", msg, out);
  case CF_E_CONFLICT:
    snprintf(msg, sizeof msg, "a %s by that name exists already", what);
    return api_error_body(409, "conflict", msg, out);
  case CF_E_KEY: return api_error_body(500, "master_key", cf_strerror(rc), out);
  case CF_E_TOO_LARGE:
    return api_error_body(413, "too_large", "the data is larger than 64 KiB", out);
  default: return api_error_body(500, "store", cf_strerror(rc), out);
  }
}

/* The name, data and read_only of a create or rotate body; a status on
 * failure. */
static unsigned read_body(const json_t *body, const char *type, char **data_text, int *read_only,
                          json_t **out) {
  char msg[300];
  const json_t *data = json_object_get(body, "data");
  if (!api_credential_check(type, data, msg, sizeof msg))
    return api_error_body(400, "invalid_request", msg, out);
  const json_t *ro = json_object_get(body, "read_only");
  if (ro && !json_is_null(ro) && !json_is_boolean(ro))
    return api_error_body(400, "invalid_request", "read_only: must be true or false", out);
  *read_only = json_is_boolean(ro) ? json_is_true(ro) : -1;
  if (json_is_true(json_object_get(data, "read_only")))
    *read_only = 1;
  *data_text = json_dumps(data, JSON_COMPACT);
  return *data_text ? 0 : api_error_body(500, "nomem", "out of memory", out);
}

/* Wipes and frees the JSON text of credential data. */
static void wipe(char *text) {
  if (!text)
    return;
  sodium_memzero(text, strlen(text));
  free(text);
}

unsigned api_credential_create(store *s, int64_t org_id, const json_t *body, int64_t now,
                               json_t **out) {
  if (!json_is_object(body))
    return api_error_body(400, "invalid_request", "the body must be a JSON object", out);
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *type = json_string_value(json_object_get(body, "type"));
  if (!name_ok(name))
    return api_error_body(400, "invalid_request",
                          "name: required, 1 to 64 characters of A-Z a-z 0-9 _ -", out);
  char *data = NULL;
  int read_only;
  unsigned bad = read_body(body, type, &data, &read_only, out);
  if (bad)
    return bad;
  cf_err rc = store_credential_create(s, org_id, name, type, data, read_only == 1, now);
  wipe(data);
  if (rc)
    return store_failure(rc, "credential", out);
  return api_credential_get(s, org_id, name, out) == 200 ? 201 : 500;
}

unsigned api_credential_list(store *s, int64_t org_id, json_t **out) {
  store_credential *items;
  size_t n;
  cf_err rc = store_credential_list(s, org_id, &items, &n);
  if (rc)
    return store_failure(rc, "credential", out);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, credential_json(&items[i]));
  store_credentials_free(items, n);
  *out = json_pack("{s:o}", "items", arr);
  return 200;
}

unsigned api_credential_get(store *s, int64_t org_id, const char *name, json_t **out) {
  store_credential c;
  cf_err rc = store_credential_get(s, org_id, name, &c);
  if (rc)
    return store_failure(rc, "credential", out);
  *out = credential_json(&c);
  store_credential_clear(&c);
  return 200;
}

unsigned api_credential_rotate(store *s, int64_t org_id, const char *name, const json_t *body,
                               int64_t now, json_t **out) {
  if (!json_is_object(body))
    return api_error_body(400, "invalid_request", "the body must be a JSON object", out);
  store_credential c;
  cf_err rc = store_credential_get(s, org_id, name, &c);
  if (rc)
    return store_failure(rc, "credential", out);
  char *data = NULL;
  int read_only;
  unsigned bad = read_body(body, c.type, &data, &read_only, out);
  store_credential_clear(&c);
  if (bad)
    return bad;
  rc = store_credential_rotate(s, org_id, name, data, read_only, now);
  wipe(data);
  if (rc)
    return store_failure(rc, "credential", out);
  return api_credential_get(s, org_id, name, out);
}

unsigned api_credential_delete(store *s, int64_t org_id, const char *name, json_t **out) {
  *out = NULL;
  cf_err rc = store_credential_delete(s, org_id, name);
  return rc ? store_failure(rc, "credential", out) : 204;
}
