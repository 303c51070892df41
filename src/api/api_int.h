/*
 * api_int.h — what route handlers share with the server core (internal to
 * api/).
 *
 * Adding an area of the API takes one file and one line: write
 * routes_AREA.c with a const api_route table ended by a zeroed entry,
 * declare it below, and add it to route_tables[] in api.c (and its
 * operations to openapi.json: a unit test holds the two together).
 *
 * A route is (method, path pattern, access, handler). Patterns name
 * parameters in braces, one path segment each:
 * "/api/workflows/{id}/versions/{version}". The core matches the path
 * (404 when no pattern matches, 405 with Allow when the path matches but
 * not the method), authenticates the caller (Authorization: Bearer TOKEN,
 * or the UI's session cookie with X-CSRF-Token on state-changing
 * methods), checks the route's access against the caller's role (403),
 * reads the body (capped at API_BODY_MAX: 413), and only then calls the
 * handler. So a handler starts with everything it needs in the request:
 *
 *   req->auth     who is calling: organization, user or token, role
 *   req->cfg      the server's configuration: store, zones, scheduler...
 *   api_param()   path parameters; api_param_id() for numeric ids (404)
 *   api_query()   query-string values (at most API_QUERY_MAX of them)
 *   api_header()  request headers; api_cookie() cookies
 *   req->body     the body, NUL-terminated; api_body_object() parses it
 *                 (400 for bad JSON, over-deep nesting, duplicate keys)
 *
 * Handlers answer by setting res->json (owned by the response) and
 * res->status, or call api_error*(); every error body is
 * {"error": {"code", "message", "field"?}}. Handlers must scope every
 * store call by req->auth.org_id: another organization's object answers
 * 404, exactly as a missing one. A handler never runs for a request that
 * failed authentication. Handlers run on the HTTP threads: they may block
 * on the store, briefly; long waits go through res->wait_execution.
 */
#ifndef CF_API_API_INT_H
#define CF_API_API_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "base/embed.h"
#include "store/store.h"

#define API_PARAMS_MAX    4    /* parameters in one path pattern */
#define API_PARAM_LEN_MAX 200  /* bytes of one path parameter; longer: 404 */
#define API_QUERY_MAX     32   /* query-string arguments; more: 400 */
#define API_QUERY_LEN_MAX 2048 /* bytes of one query value; longer: 400 */
#define API_JSON_DEPTH    64   /* nesting of request bodies; deeper: 400 */
#define API_HEADERS_MAX   6    /* extra response headers */

/* Who may call a route. */
typedef enum api_access {
  API_PUBLIC, /* no authentication (health probes, login, webhooks) */
  API_READ,   /* any role, viewer included */
  API_WRITE,  /* editor or admin */
  API_ADMIN,  /* admin only */
} api_access;

/* The authenticated caller. */
typedef struct api_principal {
  int64_t org_id;
  int64_t user_id;  /* 0 for a token made by the CLI for the organization */
  int64_t token_id; /* 0 when the caller came with a session */
  int64_t session_id;
  store_role role;
  char csrf[48]; /* sessions: the token X-CSRF-Token must repeat */
} api_principal;

typedef struct api_request {
  const char *method;
  const char *path;
  const char *body; /* NUL-terminated; "" when there is none */
  size_t body_len;
  const api_config *cfg;
  api_server *server;
  void *conn; /* the libmicrohttpd connection (api.c only) */
  api_principal auth;
  char client_ip[64];
  int n_params;
  const char *param_names[API_PARAMS_MAX]; /* into the route's pattern */
  size_t param_name_lens[API_PARAMS_MAX];
  char param_values[API_PARAMS_MAX][API_PARAM_LEN_MAX + 1];
} api_request;

typedef struct api_response {
  unsigned status;
  const char *content_type;
  /* Either json (owned, serialized by the core) or a static body. */
  json_t *json;
  const void *body;
  size_t body_len;
  const char *cache_control;
  int n_headers;
  struct {
    char name[32];
    char value[256];
  } headers[API_HEADERS_MAX];
  /* Set by a handler that wants to answer when execution `id` ends (or at
   * wait_deadline_ms, CLOCK_REALTIME): the core parks the connection
   * without holding a thread and answers with the execution then. json is
   * what is sent if the server cannot wait (too many waiting). */
  int64_t wait_execution;
  int64_t wait_deadline_ms;
} api_response;

typedef void (*api_handler)(const api_request *req, api_response *res);

typedef struct api_route {
  const char *method;
  const char *path; /* a pattern: "/api/workflows/{id}" */
  api_access access;
  api_handler handler;
} api_route;

/* ------------------------------------------------------------ routing */

/* Matches a path against a pattern; fills the request's parameters (may be
 * NULL to test only). False when it does not match, also when a parameter
 * is empty or longer than API_PARAM_LEN_MAX. Pure. */
bool api_path_match(const char *pattern, const char *path, api_request *req);

/* Every route table, ended by NULL (api.c). */
extern const api_route *const api_route_tables[];

/* The route tables of each area, each ended by a zeroed entry. */
extern const api_route api_util_routes[];
extern const api_route api_auth_routes[];
extern const api_route api_workflow_routes[];
extern const api_route api_execution_routes[];
extern const api_route api_hook_routes[];
extern const api_route api_schedule_routes[];
extern const api_route api_integration_routes[];

/* ------------------------------------------------------------ request */

/* A path parameter by name, or NULL. */
const char *api_param(const api_request *req, const char *name);

/* A path parameter that must be a positive id; false (404, "not_found"
 * naming `what`) when it is not one. */
bool api_param_id(const api_request *req, api_response *res, const char *name, const char *what,
                  int64_t *out);

/* A query-string argument, a request header (case-insensitive) or a
 * cookie, or NULL. Valid for the request's duration. */
const char *api_query(const api_request *req, const char *name);
const char *api_header(const api_request *req, const char *name);
const char *api_cookie(const api_request *req, const char *name);

/* Calls fn for every request header, in order. */
void api_headers_each(const api_request *req, void (*fn)(void *ctx, const char *k, const char *v),
                      void *ctx);
/* The same for query-string arguments. */
void api_query_each(const api_request *req, void (*fn)(void *ctx, const char *k, const char *v),
                    void *ctx);

/* ------------------------------------------------------------ bodies */

/* Parses the body as a JSON object; on failure sets a 400 response
 * ("invalid_json", or "too_deep" past API_JSON_DEPTH) and returns NULL.
 * The _or_empty variant takes an empty body as {}. The caller owns the
 * result. */
json_t *api_body_object(const api_request *req, api_response *res);
json_t *api_body_object_or_empty(const api_request *req, api_response *res);

/* The body as any JSON value (400 as above). */
json_t *api_body_json(const api_request *req, api_response *res);

/* The nesting depth of a JSON text, counted on brackets outside strings
 * and stopping past `limit`. Pure. */
int api_json_depth(const char *text, size_t len, int limit);

/* Field checks on a parsed object. Each returns false after setting a
 * 422 error that names the field ("unknown_field", "invalid_field",
 * "missing_field"). Absent optional fields leave *out alone. */
bool api_fields_known(const json_t *obj, const char *const *allowed, api_response *res);
bool api_field_string(const json_t *obj, const char *key, bool required, size_t max_len,
                      const char **out, api_response *res);
bool api_field_int(const json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                   int64_t *out, api_response *res);
bool api_field_bool(const json_t *obj, const char *key, bool *out, api_response *res);
/* A date-time string (ISO-8601 with Z or an offset) or null (0). */
bool api_field_time(const json_t *obj, const char *key, int64_t *out_ms, api_response *res);

/* ------------------------------------------------------------ responses */

/* {"error": {"code": code, "message": message[, "field": field]}}. */
void api_error(api_response *res, unsigned status, const char *code, const char *message);
void api_error_field(api_response *res, unsigned status, const char *code, const char *message,
                     const char *field);
/* The response for a store error: 404 for CF_E_NOT_FOUND (naming `what`),
 * 409 for CF_E_CONFLICT, 503 for a busy or closing store, else 500. */
void api_store_error(api_response *res, cf_err err, const char *what);

/* Adds a response header (copied; cut at the buffer sizes). */
void api_header_add(api_response *res, const char *name, const char *value);

/* Sets status 201 (or `status`), the object, and Location: location. */
void api_created(api_response *res, json_t *obj, const char *location);

/* ------------------------------------------------------------ pagination */

/*
 * Cursors are opaque strings: an id (the last one a page showed) sealed
 * so that clients cannot build or edit one. Encode writes at most
 * API_CURSOR_LEN bytes with the NUL. Decode returns false for anything it
 * did not make.
 */
#define API_CURSOR_LEN 24
void api_cursor_encode(int64_t key, char *out);
bool api_cursor_decode(const char *text, int64_t *key);

/* Reads ?limit (1..max_limit, default def) and ?cursor; false after a 400
 * for bad values. *after is 0 without a cursor. */
bool api_page(const api_request *req, api_response *res, int def, int max_limit, int *limit,
              int64_t *after);

/* {"items": items, "next_cursor": cursor of next_key, or null when 0}. */
void api_list(api_response *res, json_t *items, int64_t next_key);

/* ------------------------------------------------------------ auth (api_auth.c) */

typedef struct api_auth api_auth;

/* The server's token and session cache and login rate limiter. */
CF_MUST_CHECK cf_err api_auth_new(api_auth **out);
void api_auth_free(api_auth *a);
api_auth *api_server_auth(api_server *server);

/* Authenticates the request into req->auth: 0 on success, else the HTTP
 * status of the failure (401; 403 for a missing CSRF token), with the
 * error response set. */
unsigned api_authenticate(api_request *req, api_response *res);

/* Forgets cached tokens and sessions (after a revocation or logout); the
 * _user variant only those of one user (after the user was disabled,
 * changed role or password). Thread-safe. */
void api_auth_forget(api_auth *a);
void api_auth_forget_user(api_auth *a, int64_t org_id, int64_t user_id);

/* Login attempts: 0 when allowed, else the seconds to wait. */
int64_t api_login_blocked(api_auth *a, const char *ip, const char *email);
void api_login_failed(api_auth *a, const char *ip, const char *email);
void api_login_succeeded(api_auth *a, const char *email);

/* The hash of a token, cookie or webhook secret (SHA-256). */
void api_secret_hash(const char *secret, unsigned char hash[STORE_HASH_BYTES]);

/* A new random secret as text (hex of `bytes` random bytes) after
 * `prefix`, into out (cap bytes). */
void api_secret_new(const char *prefix, size_t bytes, char *out, size_t cap);

/* ------------------------------------------------------------ runs */

/* Queues an execution of the current version of a workflow with this
 * trigger (borrowed), its limits from the definition (routes_workflows.c).
 * CF_E_NOT_FOUND, CF_E_INVALID when the definition no longer validates,
 * store errors. The caller has checked the workflow is the org's. */
CF_MUST_CHECK cf_err api_workflow_enqueue(const api_request *req, int64_t org_id,
                                          int64_t workflow_id, const char *kind, json_t *trigger,
                                          int64_t *execution_id);

/* 202 {"execution_id", "status": "queued", "url"} with Location. */
void api_accepted_execution(api_response *res, int64_t id);

/* 204 with no body. */
void api_no_content(api_response *res);

#endif
