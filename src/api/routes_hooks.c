/*
 * routes_hooks.c — the webhook trigger: POST /hooks/{secret} starts an
 * execution of the workflow whose secret it is, with the request's body,
 * query and headers as trigger data, and answers 202 with the execution
 * id; with ?wait=true it answers with the execution itself once it ends
 * (200), or as it stands when the wait runs out (202). trigger.input is the
 * body too, so a workflow reads its input the same way whether it runs by
 * hand or by webhook. The wait parks the
 * connection (api.c) and holds no thread.
 *
 * No authentication: the secret in the URL is the credential (160+ random
 * bits, stored only as a hash). An unknown secret answers 404, like any
 * unknown path. Authorization and Cookie headers are never copied into
 * trigger data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_int.h"

typedef struct collect {
  json_t *obj;
  bool headers;
} collect;

static void add_value(void *ctx, const char *k, const char *v) {
  collect *c = ctx;
  char key[128];
  size_t n = strlen(k);
  if (n >= sizeof key)
    return;
  for (size_t i = 0; i <= n; i++)
    key[i] = c->headers && k[i] >= 'A' && k[i] <= 'Z' ? (char)(k[i] - 'A' + 'a') : k[i];
  if (c->headers && (strcmp(key, "authorization") == 0 || strcmp(key, "cookie") == 0))
    return;
  json_t *s = json_string(v);
  if (s)
    json_object_set_new(c->obj, key, s);
}

/* The body as a value: JSON when it says so (or looks like it), else text. */
static json_t *body_value(const api_request *req, api_response *res) {
  if (req->body_len == 0)
    return json_null();
  const char *type = api_header(req, "Content-Type");
  bool is_json = type && strstr(type, "json");
  if (is_json)
    return api_body_json(req, res);
  json_t *text = json_stringn(req->body, req->body_len);
  if (!text)
    api_error(res, 400, "invalid_body", "the body must be JSON or UTF-8 text");
  return text;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hook(const api_request *req, api_response *res) {
  const char *secret = api_param(req, "secret");
  store_workflow w;
  unsigned char hash[STORE_HASH_BYTES];
  api_secret_hash(secret, hash);
  cf_err rc = store_workflow_by_webhook(req->cfg->store, hash, &w);
  if (rc) {
    api_store_error(res, rc, "webhook");
    return;
  }
  int64_t org = w.org_id, workflow = w.id;
  store_workflow_clear(&w);
  const char *wait = api_query(req, "wait");
  const char *timeout = api_query(req, "timeout");
  int64_t wait_ms = req->cfg->wait_ms;
  if (timeout) {
    char *end;
    long secs = strtol(timeout, &end, 10);
    if (!*timeout || *end || secs < 1 || secs * 1000 > req->cfg->wait_ms) {
      char msg[100];
      snprintf(msg, sizeof msg, "timeout: seconds from 1 to %lld",
               (long long)(req->cfg->wait_ms / 1000));
      api_error_field(res, 400, "invalid_query", msg, "timeout");
      return;
    }
    wait_ms = secs * 1000;
  }
  json_t *body = body_value(req, res);
  if (!body)
    return;
  collect query = {json_object(), false}, headers = {json_object(), true};
  api_query_each(req, add_value, &query);
  api_headers_each(req, add_value, &headers);
  /* input repeats the body so that a workflow reads trigger.input the
   * same way whether it was run by hand or by its webhook. */
  json_t *trigger =
      json_pack("{s:s,s:s,s:O,s:o,s:o,s:o}", "kind", "webhook", "method", req->method, "input",
                body, "body", body, "query", query.obj, "headers", headers.obj);
  int64_t id;
  rc = trigger ? api_workflow_enqueue(req, org, workflow, "webhook", trigger, &id) : CF_E_NOMEM;
  json_decref(trigger);
  if (rc == CF_E_INVALID) {
    api_error(res, 409, "workflow_invalid", "the workflow's current version no longer validates");
    return;
  }
  if (rc) {
    api_store_error(res, rc, "webhook");
    return;
  }
  api_accepted_execution(res, id);
  if (wait && (strcmp(wait, "true") == 0 || strcmp(wait, "1") == 0)) {
    res->wait_execution = id;
    res->wait_deadline_ms = now_ms() + wait_ms;
  }
}

const api_route api_hook_routes[] = {
    {"POST", "/hooks/{secret}", API_PUBLIC, hook},
    {NULL, NULL, 0, NULL},
};
