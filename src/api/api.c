/*
 * api.c — the HTTP core: libmicrohttpd daemon, request bodies read into a
 * capped buffer, the path router (patterns with {parameters}, 404 vs 405
 * with Allow), authentication and role checks before any handler runs,
 * JSON responses, connections parked until an execution ends (webhooks'
 * ?wait=true), and the embedded UI for everything outside /api/.
 *
 * Every request body is capped at API_BODY_MAX (413 past it); query
 * strings at API_QUERY_MAX arguments; every response carries nosniff and
 * no-frame headers; handlers never see a partial body. Parked connections
 * hold no thread: one waiter thread polls their executions, at most
 * WAITERS_MAX at once, each until its deadline.
 */
#include "api/api_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/exec_json.h"
#include "base/buf.h"
#include "base/civil.h"

#define WAITERS_MAX  256
#define WAIT_POLL_MS 20

typedef struct conn_state conn_state;

struct api_server {
  struct MHD_Daemon *daemon;
  api_config cfg;
  uint16_t port;
  api_auth *auth;
  /* Parked connections waiting for an execution to end. */
  pthread_mutex_t wait_lock;
  pthread_cond_t wait_cv;
  pthread_t waiter;
  bool waiter_started, stopping;
  conn_state *waiting; /* a list through conn_state.next */
  int n_waiting;
};

struct conn_state {
  cf_buf body; /* capped at API_BODY_MAX */
  /* Parked: the response to send once resumed. */
  struct MHD_Connection *conn;
  bool parked, resumed;
  api_response pending;
  int64_t wait_execution, wait_deadline_ms;
  conn_state *next;
};

const api_route *const api_route_tables[] = {
    api_util_routes, api_auth_routes,        api_workflow_routes, api_execution_routes,
    api_hook_routes, api_integration_routes, api_schedule_routes, NULL,
};

/* ------------------------------------------------------------ routing */

bool api_path_match(const char *pattern, const char *path, api_request *req) {
  int n = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p == '{') {
      const char *close = strchr(p, '}');
      const char *end = strchr(s, '/');
      size_t len = end ? (size_t)(end - s) : strlen(s);
      if (!close || len == 0 || len > API_PARAM_LEN_MAX || n >= API_PARAMS_MAX)
        return false;
      if (req) {
        req->param_names[n] = p + 1;
        req->param_name_lens[n] = (size_t)(close - p - 1);
        memcpy(req->param_values[n], s, len);
        req->param_values[n][len] = '\0';
      }
      n++;
      p = close + 1;
      s += len;
      continue;
    }
    if (*p != *s)
      return false;
    p++;
    s++;
  }
  if (*p || *s)
    return false;
  if (req)
    req->n_params = n;
  return true;
}

const char *api_param(const api_request *req, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < req->n_params; i++)
    if (req->param_name_lens[i] == len && memcmp(req->param_names[i], name, len) == 0)
      return req->param_values[i];
  return NULL;
}

bool api_param_id(const api_request *req, api_response *res, const char *name, const char *what,
                  int64_t *out) {
  const char *v = api_param(req, name);
  int64_t id = 0;
  bool ok = v && *v && strlen(v) <= 18;
  for (const char *c = v; ok && *c; c++) {
    ok = *c >= '0' && *c <= '9';
    id = id * 10 + (*c - '0');
  }
  if (!ok || id <= 0) {
    char msg[120];
    snprintf(msg, sizeof msg, "no such %s", what);
    api_error(res, 404, "not_found", msg);
    return false;
  }
  *out = id;
  return true;
}

/* ------------------------------------------------------------ request */

const char *api_query(const api_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *api_header(const api_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *api_cookie(const api_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

typedef struct each_ctx {
  void (*fn)(void *ctx, const char *k, const char *v);
  void *ctx;
} each_ctx;

static enum MHD_Result each_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  (void)kind;
  each_ctx *e = cls;
  e->fn(e->ctx, key, value ? value : "");
  return MHD_YES;
}

void api_headers_each(const api_request *req, void (*fn)(void *ctx, const char *k, const char *v),
                      void *ctx) {
  each_ctx e = {fn, ctx};
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, each_value, &e);
}

void api_query_each(const api_request *req, void (*fn)(void *ctx, const char *k, const char *v),
                    void *ctx) {
  each_ctx e = {fn, ctx};
  MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, each_value, &e);
}

/* Counts query arguments and finds the longest value. */
typedef struct query_check {
  int count;
  bool too_long;
} query_check;

static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value) {
  (void)kind;
  query_check *q = cls;
  q->count++;
  if (strlen(key) > API_QUERY_LEN_MAX || (value && strlen(value) > API_QUERY_LEN_MAX))
    q->too_long = true;
  return q->count > API_QUERY_MAX ? MHD_NO : MHD_YES;
}

/* ------------------------------------------------------------ bodies */

int api_json_depth(const char *text, size_t len, int limit) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max && (max = depth) > limit)
        return max;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return max;
}

json_t *api_body_json(const api_request *req, api_response *res) {
  if (api_json_depth(req->body, req->body_len, API_JSON_DEPTH) > API_JSON_DEPTH) {
    char msg[100];
    snprintf(msg, sizeof msg, "the body nests deeper than %d levels", API_JSON_DEPTH);
    api_error(res, 400, "too_deep", msg);
    return NULL;
  }
  json_error_t jerr;
  json_t *v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!v) {
    char msg[300];
    snprintf(msg, sizeof msg, "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
             jerr.line, jerr.column);
    api_error(res, 400, "invalid_json", msg);
  }
  return v;
}

static json_t *parse_object(const api_request *req, api_response *res, bool allow_empty) {
  if (allow_empty && req->body_len == 0)
    return json_object();
  json_t *v = api_body_json(req, res);
  if (v && !json_is_object(v)) {
    json_decref(v);
    api_error(res, 400, "invalid_json", "the body must be a JSON object");
    return NULL;
  }
  return v;
}

json_t *api_body_object(const api_request *req, api_response *res) {
  return parse_object(req, res, false);
}

json_t *api_body_object_or_empty(const api_request *req, api_response *res) {
  return parse_object(req, res, true);
}

static bool field_error(api_response *res, const char *code, const char *key, const char *what) {
  char msg[300];
  snprintf(msg, sizeof msg, "%.100s: %s", key, what);
  api_error_field(res, 422, code, msg, key);
  return false;
}

bool api_fields_known(const json_t *obj, const char *const *allowed, api_response *res) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (const char *const *a = allowed; *a && !known; a++)
      known = strcmp(*a, key) == 0;
    if (!known)
      return field_error(res, "unknown_field", key, "unknown field");
  }
  return true;
}

/* The field, or NULL when absent (or null and not required): false after
 * an error when a required one is missing. */
static bool field_get(const json_t *obj, const char *key, bool required, json_t **v,
                      api_response *res) {
  *v = json_object_get(obj, key);
  if (*v && json_is_null(*v) && !required)
    *v = NULL;
  if (!*v && required)
    return field_error(res, "missing_field", key, "required");
  return true;
}

bool api_field_string(const json_t *obj, const char *key, bool required, size_t max_len,
                      const char **out, api_response *res) {
  json_t *v;
  if (!field_get(obj, key, required, &v, res))
    return false;
  if (!v)
    return true;
  if (!json_is_string(v) || json_string_length(v) > max_len ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    char what[80];
    snprintf(what, sizeof what, "must be a string of at most %zu bytes", max_len);
    return field_error(res, "invalid_field", key, what);
  }
  *out = json_string_value(v);
  return true;
}

bool api_field_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, api_response *res) {
  json_t *v;
  if (!field_get(obj, key, required, &v, res))
    return false;
  if (!v)
    return true;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    char what[120];
    snprintf(what, sizeof what, "must be a whole number from %lld to %lld", (long long)min,
             (long long)max);
    return field_error(res, "invalid_field", key, what);
  }
  *out = json_integer_value(v);
  return true;
}

bool api_field_bool(const json_t *obj, const char *key, bool *out, api_response *res) {
  json_t *v;
  if (!field_get(obj, key, false, &v, res))
    return false;
  if (!v)
    return true;
  if (!json_is_boolean(v))
    return field_error(res, "invalid_field", key, "must be true or false");
  *out = json_is_true(v);
  return true;
}

bool api_field_time(const json_t *obj, const char *key, int64_t *out_ms, api_response *res) {
  json_t *v;
  if (!field_get(obj, key, false, &v, res))
    return false;
  if (!v) {
    if (json_object_get(obj, key))
      *out_ms = 0; /* an explicit null clears it */
    return true;
  }
  int64_t sec;
  int32_t nanos;
  bool has_offset;
  char why[160];
  if (!json_is_string(v) ||
      civil_parse_iso(json_string_value(v), &sec, &nanos, &has_offset, why, sizeof why) != CF_OK ||
      !has_offset)
    return field_error(res, "invalid_field", key,
                       "must be an ISO-8601 date-time with Z or an offset, or null");
  *out_ms = sec * 1000 + nanos / 1000000;
  return true;
}

/* ------------------------------------------------------------ responses */

void api_error_field(api_response *res, unsigned status, const char *code, const char *message,
                     const char *field) {
  json_decref(res->json);
  res->status = status;
  res->json = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
  if (field && res->json)
    json_object_set_new(json_object_get(res->json, "error"), "field", json_string(field));
}

void api_error(api_response *res, unsigned status, const char *code, const char *message) {
  api_error_field(res, status, code, message, NULL);
}

void api_store_error(api_response *res, cf_err err, const char *what) {
  char msg[160];
  switch (err) {
  case CF_E_NOT_FOUND:
    snprintf(msg, sizeof msg, "no such %s", what);
    api_error(res, 404, "not_found", msg);
    break;
  case CF_E_CONFLICT:
    snprintf(msg, sizeof msg, "the %s changed or already exists", what);
    api_error(res, 409, "conflict", msg);
    break;
  case CF_E_STORE_BUSY:
  case CF_E_STORE_CLOSED:
  case CF_E_STORE_FULL:
  case CF_E_STORE_READONLY:
    api_header_add(res, "Retry-After", "1");
    api_error(res, 503, "unavailable", cf_strerror(err));
    break;
  default: api_error(res, 500, "internal", cf_strerror(err));
  }
}

void api_header_add(api_response *res, const char *name, const char *value) {
  if (res->n_headers >= API_HEADERS_MAX)
    return;
  snprintf(res->headers[res->n_headers].name, sizeof res->headers[0].name, "%s", name);
  snprintf(res->headers[res->n_headers].value, sizeof res->headers[0].value, "%s", value);
  res->n_headers++;
}

void api_no_content(api_response *res) {
  json_decref(res->json);
  res->json = NULL;
  res->status = 204;
  res->body = "";
  res->body_len = 0;
}

void api_created(api_response *res, json_t *obj, const char *location) {
  json_decref(res->json);
  res->status = 201;
  res->json = obj;
  if (location)
    api_header_add(res, "Location", location);
}

/* ------------------------------------------------------------ pagination */

/* The seal: 8 bytes of the key, mixed so that neighbouring keys share no
 * visible digits, then a 2-byte check. Opaque, not secret: cursors carry
 * nothing a client may not see. */
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= UINT64_C(0x7fb5d329728ea185);
  x ^= x >> 27;
  return x;
}

static uint64_t unmix(uint64_t x) {
  x ^= x >> 27 ^ x >> 54;
  x *= UINT64_C(0x4c5ff4596f4a2f4d); /* the inverse of the multiplier mod 2^64 */
  x ^= x >> 31 ^ x >> 62;
  return x;
}

static uint16_t check_of(uint64_t x) {
  uint64_t h = mix(x ^ UINT64_C(0x9e3779b97f4a7c15));
  return (uint16_t)(h ^ h >> 16 ^ h >> 32 ^ h >> 48);
}

void api_cursor_encode(int64_t key, char *out) {
  uint64_t x = mix((uint64_t)key);
  unsigned char raw[12] = {0};
  for (int i = 0; i < 8; i++)
    raw[i] = (unsigned char)(x >> (56 - 8 * i));
  uint16_t c = check_of((uint64_t)key);
  raw[8] = (unsigned char)(c >> 8);
  raw[9] = (unsigned char)c;
  /* 10 bytes → 14 characters (the last group of 1 byte gives 2). */
  int n = 0;
  for (int i = 0; i < 10; i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
    int chars = i + 3 <= 10 ? 4 : 10 - i + 1;
    for (int k = 0; k < chars; k++)
      out[n++] = b64url[(v >> (18 - 6 * k)) & 63];
  }
  out[n] = '\0';
}

bool api_cursor_decode(const char *text, int64_t *key) {
  if (!text || strlen(text) != 14)
    return false;
  unsigned char raw[12] = {0};
  uint32_t bits = 0;
  int nbits = 0, n = 0;
  for (const char *c = text; *c; c++) {
    const char *at = strchr(b64url, *c);
    if (!at || !*c)
      return false;
    bits = bits << 6 | (uint32_t)(at - b64url);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      raw[n++] = (unsigned char)(bits >> nbits);
      bits &= (1u << nbits) - 1;
    }
  }
  if (n != 10 || bits != 0)
    return false;
  uint64_t x = 0;
  for (int i = 0; i < 8; i++)
    x = x << 8 | raw[i];
  uint64_t k = unmix(x);
  uint16_t c = (uint16_t)(raw[8] << 8 | raw[9]);
  if (c != check_of(k) || (int64_t)k <= 0)
    return false;
  *key = (int64_t)k;
  return true;
}

bool api_page(const api_request *req, api_response *res, int def, int max_limit, int *limit,
              int64_t *after) {
  const char *l = api_query(req, "limit");
  const char *c = api_query(req, "cursor");
  *limit = def;
  *after = 0;
  if (l) {
    char *end;
    long v = strtol(l, &end, 10);
    if (!*l || *end || v < 1 || v > max_limit) {
      char msg[100];
      snprintf(msg, sizeof msg, "limit: must be a whole number from 1 to %d", max_limit);
      api_error_field(res, 400, "invalid_query", msg, "limit");
      return false;
    }
    *limit = (int)v;
  }
  if (c && *c && !api_cursor_decode(c, after)) {
    api_error_field(res, 400, "invalid_cursor",
                    "cursor: not a cursor this API gave (use next_cursor as it came)", "cursor");
    return false;
  }
  return true;
}

void api_list(api_response *res, json_t *items, int64_t next_key) {
  char cursor[API_CURSOR_LEN];
  json_t *next = json_null();
  if (next_key > 0) {
    api_cursor_encode(next_key, cursor);
    json_decref(next);
    next = json_string(cursor);
  }
  res->json = json_pack("{s:o,s:o}", "items", items, "next_cursor", next);
}

/* ------------------------------------------------------------ the UI */

static const char *content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
  };
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
    if (strcmp(dot, types[i].ext) == 0)
      return types[i].type;
  return "application/octet-stream";
}

static void serve_asset(const api_request *req, api_response *res) {
  const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
  for (size_t i = 0; i < web_files_count; i++)
    if (path[0] == '/' && strcmp(web_files[i].name, path + 1) == 0) {
      res->status = 200;
      res->content_type = content_type(web_files[i].name);
      res->body = web_files[i].data;
      res->body_len = web_files[i].len;
      res->cache_control = "no-cache";
      return;
    }
  api_error(res, 404, "not_found", "no such page");
}

/* ------------------------------------------------------------ dispatch */

static bool allowed(const api_principal *p, api_access access) {
  switch (access) {
  case API_PUBLIC:
  case API_READ: return true;
  case API_WRITE: return p->role >= STORE_ROLE_EDITOR;
  case API_ADMIN: return p->role >= STORE_ROLE_ADMIN;
  }
  return false;
}

static void dispatch(api_request *req, api_response *res) {
  char allow[80] = "";
  const api_route *found = NULL;
  for (size_t t = 0; api_route_tables[t] && !found; t++)
    for (const api_route *r = api_route_tables[t]; r->path; r++) {
      if (!api_path_match(r->path, req->path, NULL))
        continue;
      if (strcmp(r->method, req->method) == 0) {
        found = r;
        break;
      }
      if (!strstr(allow, r->method) && strlen(allow) + strlen(r->method) + 3 < sizeof allow)
        snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s", allow[0] ? ", " : "",
                 r->method);
    }
  if (!found && allow[0]) {
    api_header_add(res, "Allow", allow);
    api_error(res, 405, "method_not_allowed", "this path does not take that method");
    return;
  }
  if (!found) {
    bool is_api = strncmp(req->path, "/api/", 5) == 0 || strcmp(req->path, "/api") == 0;
    if (!is_api && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
      serve_asset(req, res);
    else
      api_error(res, 404, "not_found", "no such endpoint");
    return;
  }
  query_check q = {0, false};
  MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_query_arg, &q);
  if (q.count > API_QUERY_MAX || q.too_long) {
    api_error(res, 400, "invalid_query", "the query string has too many or too long arguments");
    return;
  }
  api_path_match(found->path, req->path, req);
  if (found->access != API_PUBLIC) {
    if (api_authenticate(req, res))
      return;
    if (!allowed(&req->auth, found->access)) {
      api_error(res, 403, "forbidden",
                found->access == API_ADMIN ? "this needs the admin role"
                                           : "this needs the editor or admin role");
      return;
    }
  }
  found->handler(req, res);
}

/* ------------------------------------------------------------ sending */

static enum MHD_Result send_response(struct MHD_Connection *conn, api_response *res) {
  struct MHD_Response *r;
  if (res->json) {
    char *text = json_dumps(res->json, JSON_COMPACT);
    json_decref(res->json);
    res->json = NULL;
    if (!text)
      return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r)
      MHD_add_response_header(r, "Content-Type", "application/json");
  } else {
    r = MHD_create_response_from_buffer(res->body_len, (void *)res->body, MHD_RESPMEM_PERSISTENT);
    if (r && res->content_type)
      MHD_add_response_header(r, "Content-Type", res->content_type);
  }
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "Cache-Control", res->cache_control ? res->cache_control : "no-store");
  if (res->content_type && strncmp(res->content_type, "text/html", 9) == 0)
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; object-src 'none'; frame-ancestors 'none'");
  for (int i = 0; i < res->n_headers; i++)
    MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
  enum MHD_Result ok = MHD_queue_response(conn, res->status, r);
  MHD_destroy_response(r);
  return ok;
}

/* ------------------------------------------------------------ waiting */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool finished(store_exec_status s) {
  return s != STORE_EXEC_QUEUED && s != STORE_EXEC_RUNNING;
}

/* Ends a parked request with its execution (200 when it ended, 202 when
 * the wait ran out) and resumes the connection. Called with wait_lock. */
static void unpark(api_server *srv, conn_state *w, bool ended) {
  json_t *doc;
  cf_err rc = api_execution_json(srv->cfg.store, w->wait_execution, ended, &doc);
  if (rc == CF_OK) {
    json_decref(w->pending.json);
    w->pending.status = ended ? 200 : 202;
    w->pending.json = doc;
  }
  w->resumed = true;
  MHD_resume_connection(w->conn);
}

static void *waiter_main(void *arg) {
  api_server *srv = arg;
  pthread_mutex_lock(&srv->wait_lock);
  while (!srv->stopping || srv->waiting) {
    int64_t now = now_ms();
    for (conn_state **pp = &srv->waiting; *pp;) {
      conn_state *w = *pp;
      store_exec e;
      bool ended = false;
      if (store_exec_get(srv->cfg.store, w->wait_execution, &e) == CF_OK) {
        ended = finished(e.status);
        store_exec_clear(&e);
      }
      if (ended || now >= w->wait_deadline_ms || srv->stopping) {
        *pp = w->next;
        srv->n_waiting--;
        unpark(srv, w, ended);
      } else {
        pp = &w->next;
      }
    }
    if (srv->stopping)
      continue;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WAIT_POLL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    if (srv->waiting)
      pthread_cond_timedwait(&srv->wait_cv, &srv->wait_lock, &until);
    else
      pthread_cond_wait(&srv->wait_cv, &srv->wait_lock);
  }
  pthread_mutex_unlock(&srv->wait_lock);
  return NULL;
}

/* Parks the connection; false when too many wait already (answer now). */
static bool park(api_server *srv, conn_state *st, api_response *res) {
  pthread_mutex_lock(&srv->wait_lock);
  bool ok = !srv->stopping && srv->n_waiting < WAITERS_MAX && srv->cfg.store;
  if (ok) {
    st->pending = *res;
    st->wait_execution = res->wait_execution;
    st->wait_deadline_ms = res->wait_deadline_ms;
    st->parked = true;
    st->next = srv->waiting;
    srv->waiting = st;
    srv->n_waiting++;
    MHD_suspend_connection(st->conn);
    pthread_cond_signal(&srv->wait_cv);
  }
  pthread_mutex_unlock(&srv->wait_lock);
  return ok;
}

/* ------------------------------------------------------------ callbacks */

static void client_ip(struct MHD_Connection *conn, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
              (socklen_t)cap);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
              (socklen_t)cap);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state) {
  (void)version;
  api_server *srv = cls;
  conn_state *b = *state;
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b)
      return MHD_NO;
    b->conn = conn;
    b->body.max = API_BODY_MAX;
    *state = b;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!cf_buf_add(&b->body, upload_data, *upload_data_size) && !b->body.too_big)
      return MHD_NO; /* out of memory; past the cap is answered with 413 below */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (b->resumed) {
    b->resumed = false;
    b->parked = false;
    return send_response(conn, &b->pending);
  }
  api_response res = {.status = 200};
  if (b->body.too_big) {
    char msg[100];
    snprintf(msg, sizeof msg, "the request body is larger than %d bytes", API_BODY_MAX);
    api_error(&res, 413, "body_too_large", msg);
  } else {
    api_request req = {.method = method,
                       .path = url,
                       .body = b->body.data ? b->body.data : "",
                       .body_len = b->body.len,
                       .cfg = &srv->cfg,
                       .server = srv,
                       .conn = conn};
    client_ip(conn, req.client_ip, sizeof req.client_ip);
    dispatch(&req, &res);
  }
  if (!res.json && !res.body)
    api_error(&res, 500, "internal", "the server could not build a response");
  if (res.wait_execution && park(srv, b, &res))
    return MHD_YES;
  return send_response(conn, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode code) {
  (void)cls;
  (void)conn;
  (void)code;
  conn_state *b = *state;
  if (b) {
    json_decref(b->pending.json);
    cf_buf_clear(&b->body);
    free(b);
    *state = NULL;
  }
}

api_auth *api_server_auth(api_server *server) {
  return server->auth;
}

cf_err api_server_start(const api_config *cfg, api_server **out) {
  *out = NULL;
  struct sockaddr_in in4 = {0};
  struct sockaddr_in6 in6 = {0};
  struct sockaddr *addr;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
  if (inet_pton(AF_INET, cfg->host, &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    in4.sin_port = htons(cfg->port);
    addr = (struct sockaddr *)&in4;
  } else if (inet_pton(AF_INET6, cfg->host, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(cfg->port);
    addr = (struct sockaddr *)&in6;
    flags |= MHD_USE_IPv6;
  } else {
    return CF_E_INVALID;
  }
  cf_err rc = api_init();
  if (rc)
    return rc;
  api_server *srv = calloc(1, sizeof *srv);
  if (!srv)
    return CF_E_NOMEM;
  srv->cfg = *cfg;
  if (!srv->cfg.wait_ms)
    srv->cfg.wait_ms = 30000;
  pthread_mutex_init(&srv->wait_lock, NULL);
  pthread_cond_init(&srv->wait_cv, NULL);
  if ((rc = api_auth_new(&srv->auth)) != CF_OK) {
    api_server_stop(srv);
    return rc;
  }
  if (pthread_create(&srv->waiter, NULL, waiter_main, srv) != 0) {
    api_server_stop(srv);
    return CF_E_NOMEM;
  }
  srv->waiter_started = true;
  srv->daemon =
      MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, addr,
                       MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 2),
                       MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT, 1024u,
                       MHD_OPTION_PER_IP_CONNECTION_LIMIT, 512u, MHD_OPTION_NOTIFY_COMPLETED,
                       on_completed, srv, MHD_OPTION_END);
  if (!srv->daemon) {
    api_server_stop(srv);
    return CF_E_IO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  srv->port = info ? info->port : cfg->port;
  *out = srv;
  return CF_OK;
}

uint16_t api_server_port(const api_server *server) {
  return server->port;
}

void api_server_stop(api_server *server) {
  if (!server)
    return;
  /* Parked connections first: each is answered (202, still running) and
   * resumed, so the daemon can close them. */
  pthread_mutex_lock(&server->wait_lock);
  server->stopping = true;
  pthread_cond_signal(&server->wait_cv);
  pthread_mutex_unlock(&server->wait_lock);
  if (server->waiter_started)
    pthread_join(server->waiter, NULL);
  if (server->daemon)
    MHD_stop_daemon(server->daemon);
  api_auth_free(server->auth);
  pthread_cond_destroy(&server->wait_cv);
  pthread_mutex_destroy(&server->wait_lock);
  free(server);
}
