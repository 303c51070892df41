/*
 * routes_integrations.c — the HTTP side of the credential and e-mail
 * endpoints, whose logic is in routes_credentials.c and routes_email.c
 * (integrations.h, shared with the CLI): each handler reads the request
 * (caller's organization, path name, body, query), hands it over through
 * one of four adapters below, and answers with the status and body it
 * gets back. Lists get a next_cursor like every other list of the API.
 *
 * Credentials are readable by every role of the organization (names,
 * types and which fields are set — never a value); changing them takes an
 * editor; e-mail previews are reads.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/integrations.h"

typedef unsigned (*list_fn)(store *s, int64_t org, json_t **out);
typedef unsigned (*named_fn)(store *s, int64_t org, const char *name, json_t **out);
typedef unsigned (*body_fn)(store *s, int64_t org, const json_t *body, int64_t now, json_t **out);
typedef unsigned (*named_body_fn)(store *s, int64_t org, const char *name, const json_t *body,
                                  int64_t now, json_t **out);

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the answer. Call it with the status already computed: the body is
 * an out-parameter of that call (argument order is unspecified in C). */
static void reply(api_response *res, unsigned status, json_t *out) {
  if (status == 204) {
    json_decref(out);
    api_no_content(res);
    return;
  }
  res->status = status;
  res->json = out;
}

/* A whole list {"items"}: next_cursor null, as every list has one. */
static void list(const api_request *req, api_response *res, list_fn fn) {
  json_t *out = NULL;
  unsigned status = fn(req->cfg->store, req->auth.org_id, &out);
  reply(res, status, out);
  if (status == 200 && json_is_object(out))
    json_object_set_new(out, "next_cursor", json_null());
}

static void named(const api_request *req, api_response *res, named_fn fn) {
  json_t *out = NULL;
  unsigned status = fn(req->cfg->store, req->auth.org_id, api_param(req, "name"), &out);
  reply(res, status, out);
}

static void with_body(const api_request *req, api_response *res, body_fn fn) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status = fn(req->cfg->store, req->auth.org_id, body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void named_with_body(const api_request *req, api_response *res, named_body_fn fn) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status =
        fn(req->cfg->store, req->auth.org_id, api_param(req, "name"), body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void credentials_list(const api_request *req, api_response *res) {
  list(req, res, api_credential_list);
}
static void credentials_create(const api_request *req, api_response *res) {
  with_body(req, res, api_credential_create);
}
static void credentials_get(const api_request *req, api_response *res) {
  named(req, res, api_credential_get);
}
static void credentials_rotate(const api_request *req, api_response *res) {
  named_with_body(req, res, api_credential_rotate);
}
static void credentials_delete(const api_request *req, api_response *res) {
  named(req, res, api_credential_delete);
}
static void templates_list(const api_request *req, api_response *res) {
  list(req, res, api_email_template_list);
}
static void templates_create(const api_request *req, api_response *res) {
  with_body(req, res, api_email_template_create);
}
static void templates_get(const api_request *req, api_response *res) {
  named(req, res, api_email_template_get);
}
static void templates_update(const api_request *req, api_response *res) {
  named_with_body(req, res, api_email_template_update);
}
static void templates_delete(const api_request *req, api_response *res) {
  named(req, res, api_email_template_delete);
}

static void email_preview(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status =
        api_email_preview(req->cfg->store, req->auth.org_id, body, req->cfg->zones, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void email_log(const api_request *req, api_response *res) {
  int limit;
  int64_t before, execution = 0;
  const char *x = api_query(req, "execution_id");
  if (!api_page(req, res, 100, 1000, &limit, &before))
    return;
  if (x) {
    char *end;
    execution = strtoll(x, &end, 10);
    if (!*x || *end || execution <= 0) {
      api_error_field(res, 400, "invalid_query", "execution_id: must be a positive id",
                      "execution_id");
      return;
    }
  }
  json_t *out = NULL;
  unsigned status =
      api_email_log_list(req->cfg->store, req->auth.org_id, execution, before, limit, &out);
  reply(res, status, out);
  if (status != 200)
    return;
  json_t *items = json_incref(json_object_get(out, "items"));
  size_t n = json_array_size(items);
  json_t *last = n == (size_t)limit ? json_array_get(items, n - 1) : NULL;
  int64_t next = last ? json_integer_value(json_object_get(last, "id")) : 0;
  json_decref(res->json);
  res->json = NULL;
  api_list(res, items, next);
}

const api_route api_integration_routes[] = {
    {"GET", "/api/credentials", API_READ, credentials_list},
    {"POST", "/api/credentials", API_WRITE, credentials_create},
    {"GET", "/api/credentials/{name}", API_READ, credentials_get},
    {"PUT", "/api/credentials/{name}", API_WRITE, credentials_rotate},
    {"DELETE", "/api/credentials/{name}", API_WRITE, credentials_delete},
    {"GET", "/api/email/templates", API_READ, templates_list},
    {"POST", "/api/email/templates", API_WRITE, templates_create},
    {"GET", "/api/email/templates/{name}", API_READ, templates_get},
    {"PUT", "/api/email/templates/{name}", API_WRITE, templates_update},
    {"DELETE", "/api/email/templates/{name}", API_WRITE, templates_delete},
    {"POST", "/api/email/preview", API_READ, email_preview},
    {"GET", "/api/email/log", API_READ, email_log},
    {NULL, NULL, 0, NULL},
};
