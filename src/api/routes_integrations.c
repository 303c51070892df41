/*
 * routes_integrations.c — the HTTP side of the credential and e-mail
 * endpoints, whose logic is in routes_credentials.c and routes_email.c
 * (integrations.h, shared with the CLI): each handler reads the request
 * (caller's organization, path name, body, query) and hands it over, and
 * answers with the status and body it gets back. Lists get a next_cursor
 * like every other list of the API.
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

/* A list answer {"items"} gets "next_cursor": null (these lists are
 * whole) unless the caller paged it. */
static void whole_list(api_response *res) {
  if (res->status == 200 && json_is_object(res->json) && !json_object_get(res->json, "next_cursor"))
    json_object_set_new(res->json, "next_cursor", json_null());
}

static void credentials_list(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status = api_credential_list(req->cfg->store, req->auth.org_id, &out);
  reply(res, status, out);
  whole_list(res);
}

static void credentials_create(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status =
        api_credential_create(req->cfg->store, req->auth.org_id, body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void credentials_get(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status =
      api_credential_get(req->cfg->store, req->auth.org_id, api_param(req, "name"), &out);
  reply(res, status, out);
}

static void credentials_rotate(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status = api_credential_rotate(req->cfg->store, req->auth.org_id,
                                            api_param(req, "name"), body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void credentials_delete(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status =
      api_credential_delete(req->cfg->store, req->auth.org_id, api_param(req, "name"), &out);
  reply(res, status, out);
}

static void templates_list(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status = api_email_template_list(req->cfg->store, req->auth.org_id, &out);
  reply(res, status, out);
  whole_list(res);
}

static void templates_create(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status =
        api_email_template_create(req->cfg->store, req->auth.org_id, body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void templates_get(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status =
      api_email_template_get(req->cfg->store, req->auth.org_id, api_param(req, "name"), &out);
  reply(res, status, out);
}

static void templates_update(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res), *out = NULL;
  if (body) {
    unsigned status = api_email_template_update(req->cfg->store, req->auth.org_id,
                                                api_param(req, "name"), body, now_ms(), &out);
    reply(res, status, out);
  }
  json_decref(body);
}

static void templates_delete(const api_request *req, api_response *res) {
  json_t *out = NULL;
  unsigned status =
      api_email_template_delete(req->cfg->store, req->auth.org_id, api_param(req, "name"), &out);
  reply(res, status, out);
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
  if (res->status != 200)
    return;
  json_t *items = json_object_get(res->json, "items");
  size_t n = json_array_size(items);
  json_t *last = n == (size_t)limit ? json_array_get(items, n - 1) : NULL;
  api_list(res, json_incref(items), last ? json_integer_value(json_object_get(last, "id")) : 0);
  json_decref(out);
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
