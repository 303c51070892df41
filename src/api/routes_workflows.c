/*
 * routes_workflows.c — workflows: list, create (the body is the workflow
 * document itself, docs/workflow-format.md), get, update (each update is a
 * new immutable version), delete, versions, export and import, validation
 * without saving, manual runs, and the webhook secret.
 *
 * A definition is saved only when flow_parse accepts it with the action
 * registry's specs; otherwise 422 lists every problem with its JSON path,
 * and nothing is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions/action.h"
#include "api/api_int.h"
#include "api/exec_json.h"
#include "flow/flow.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *workflow_json(const store_workflow *w) {
  return json_pack("{s:I,s:s,s:s,s:i,s:o,s:o,s:b}", "id", (json_int_t)w->id, "name", w->name,
                   "description", w->description, "version", (int)w->current_version, "created_at",
                   api_time_json(w->created_at), "updated_at", api_time_json(w->updated_at),
                   "has_webhook", w->has_webhook);
}

/* Parses and validates a definition; *out the flow (caller frees). On
 * failure *problems lists what is wrong (caller frees) and false. */
static cf_err parse_flow(const char *text, size_t len, flow **out, flow_problems **problems) {
  size_t nspecs;
  const flow_action_spec *specs = actions_specs(&nspecs);
  *problems = calloc(1, sizeof **problems);
  if (!*problems)
    return CF_E_NOMEM;
  cf_err rc = flow_parse(text, len, NULL, specs, nspecs, out, *problems);
  if (!rc) {
    free(*problems);
    *problems = NULL;
  }
  return rc;
}

static json_t *problems_json(const flow_problems *p) {
  json_t *arr = json_array();
  for (int i = 0; i < p->count; i++)
    json_array_append_new(
        arr, json_pack("{s:s,s:s}", "path", p->items[i].path, "message", p->items[i].message));
  return arr;
}

static void invalid_workflow(api_response *res, const flow_problems *p) {
  char msg[400];
  const flow_problem *first = p->count ? &p->items[0] : NULL;
  snprintf(msg, sizeof msg, "the workflow is not valid: %d problem%s%s; first: %s%s%s", p->count,
           p->count == 1 ? "" : "s", p->truncated ? " (and more)" : "",
           first && first->path[0] ? first->path : "", first && first->path[0] ? ": " : "",
           first ? first->message : "");
  api_error_field(res, 422, "invalid_workflow", msg, first && first->path[0] ? first->path : NULL);
  json_object_set_new(json_object_get(res->json, "error"), "problems", problems_json(p));
}

/* The body as a valid definition: its flow (caller frees) and its text
 * (compact, caller frees). False after the error response. */
static bool body_definition(const api_request *req, api_response *res, flow **f, char **text) {
  json_t *body = api_body_object(req, res);
  if (!body)
    return false;
  *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!*text) {
    api_error(res, 500, "internal", "out of memory");
    return false;
  }
  flow_problems *problems;
  cf_err rc = parse_flow(*text, strlen(*text), f, &problems);
  if (rc == CF_E_NOMEM) {
    api_error(res, 500, "internal", "out of memory");
  } else if (rc) {
    invalid_workflow(res, problems);
  }
  free(problems);
  if (rc) {
    free(*text);
    *text = NULL;
  }
  return rc == CF_OK;
}

static void answer_workflow(const api_request *req, api_response *res, int64_t id, bool created) {
  store_workflow w;
  char *definition = NULL;
  cf_err rc = store_workflow_get(req->cfg->store, req->auth.org_id, id, &w);
  if (rc) {
    api_store_error(res, rc, "workflow");
    return;
  }
  rc = store_workflow_version_get(req->cfg->store, id, w.current_version, &definition, NULL);
  if (rc) {
    store_workflow_clear(&w);
    api_store_error(res, rc, "workflow");
    return;
  }
  json_t *o = workflow_json(&w);
  json_object_set_new(o, "definition", json_loads(definition, 0, NULL));
  store_workflow_clear(&w);
  free(definition);
  if (created) {
    char where[64];
    snprintf(where, sizeof where, "/api/workflows/%lld", (long long)id);
    api_created(res, o, where);
  } else {
    res->json = o;
  }
}

static void workflows_list(const api_request *req, api_response *res) {
  int limit;
  int64_t after;
  if (!api_page(req, res, 100, 1000, &limit, &after))
    return;
  store_workflow *items;
  size_t n;
  cf_err rc = store_workflow_list(req->cfg->store, req->auth.org_id, after, limit, &items, &n);
  if (rc) {
    api_store_error(res, rc, "workflow");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, workflow_json(&items[i]));
  api_list(res, arr, n == (size_t)limit ? items[n - 1].id : 0);
  store_workflows_free(items, n);
}

static void workflows_create(const api_request *req, api_response *res) {
  flow *f;
  char *text;
  if (!body_definition(req, res, &f, &text))
    return;
  int64_t id;
  cf_err rc = store_workflow_create(req->cfg->store, req->auth.org_id, f->name, f->description,
                                    text, now_ms(), &id);
  flow_free(f);
  free(text);
  if (rc)
    api_store_error(res, rc, "workflow");
  else
    answer_workflow(req, res, id, true);
}

static void workflows_validate(const api_request *req, api_response *res) {
  json_t *body = api_body_object(req, res);
  if (!body)
    return;
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  flow *f = NULL;
  flow_problems *problems = NULL;
  cf_err rc = text ? parse_flow(text, strlen(text), &f, &problems) : CF_E_NOMEM;
  free(text);
  if (rc == CF_E_NOMEM)
    api_error(res, 500, "internal", "out of memory");
  else if (rc)
    res->json = json_pack("{s:b,s:o,s:b}", "valid", 0, "problems", problems_json(problems),
                          "truncated", problems->truncated);
  else
    res->json = json_pack("{s:b,s:s,s:i,s:i}", "valid", 1, "name", f->name, "nodes", f->n_nodes,
                          "edges", f->n_edges);
  flow_free(f);
  free(problems);
}

static void workflows_get(const api_request *req, api_response *res) {
  int64_t id;
  if (api_param_id(req, res, "id", "workflow", &id))
    answer_workflow(req, res, id, false);
}

static void workflows_update(const api_request *req, api_response *res) {
  int64_t id;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  flow *f;
  char *text;
  if (!body_definition(req, res, &f, &text))
    return;
  cf_err rc = store_workflow_update(req->cfg->store, req->auth.org_id, id, f->name, f->description,
                                    text, now_ms(), NULL);
  flow_free(f);
  free(text);
  if (rc)
    api_store_error(res, rc, "workflow");
  else
    answer_workflow(req, res, id, false);
}

static void workflows_delete(const api_request *req, api_response *res) {
  int64_t id;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  cf_err rc = store_workflow_delete(req->cfg->store, req->auth.org_id, id, now_ms());
  if (rc)
    api_store_error(res, rc, "workflow");
  else
    api_no_content(res);
}

static void versions_list(const api_request *req, api_response *res) {
  int64_t id;
  int limit;
  int64_t after;
  if (!api_param_id(req, res, "id", "workflow", &id) ||
      !api_page(req, res, 100, 1000, &limit, &after))
    return;
  store_version_info *items;
  size_t n;
  cf_err rc = store_workflow_versions(req->cfg->store, req->auth.org_id, id,
                                      (int32_t)(after > INT32_MAX ? 0 : after), limit, &items, &n);
  if (rc) {
    api_store_error(res, rc, "workflow");
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:i,s:o}", "version", (int)items[i].version,
                                         "created_at", api_time_json(items[i].created_at)));
  api_list(res, arr, n == (size_t)limit ? items[n - 1].version : 0);
  free(items);
}

/* The definition of version `version` (0 = current) of an organization's
 * workflow, parsed; NULL after the error response. */
static json_t *definition_of(const api_request *req, api_response *res, int64_t id, int32_t version,
                             int32_t *found) {
  store_workflow w;
  cf_err rc = store_workflow_get(req->cfg->store, req->auth.org_id, id, &w);
  if (rc) {
    api_store_error(res, rc, "workflow");
    return NULL;
  }
  store_workflow_clear(&w);
  char *text;
  rc = store_workflow_version_get(req->cfg->store, id, version, &text, found);
  if (rc) {
    api_store_error(res, rc, "version");
    return NULL;
  }
  json_t *doc = json_loads(text, 0, NULL);
  free(text);
  if (!doc)
    api_error(res, 500, "internal", "the stored definition does not parse");
  return doc;
}

static void version_get(const api_request *req, api_response *res) {
  int64_t id, version;
  if (!api_param_id(req, res, "id", "workflow", &id) ||
      !api_param_id(req, res, "version", "version", &version))
    return;
  if (version > INT32_MAX) {
    api_error(res, 404, "not_found", "no such version");
    return;
  }
  int32_t found;
  json_t *doc = definition_of(req, res, id, (int32_t)version, &found);
  if (doc)
    res->json = json_pack("{s:I,s:i,s:o}", "workflow_id", (json_int_t)id, "version", (int)found,
                          "definition", doc);
}

static void workflows_export(const api_request *req, api_response *res) {
  int64_t id;
  int32_t found;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  json_t *doc = definition_of(req, res, id, 0, &found);
  if (!doc)
    return;
  res->json = doc;
  char disposition[96];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"workflow-%lld-v%d.json\"",
           (long long)id, (int)found);
  api_header_add(res, "Content-Disposition", disposition);
}

/* ------------------------------------------------------------ runs */

cf_err api_workflow_enqueue(const api_request *req, int64_t org_id, int64_t workflow_id,
                            const char *kind, json_t *trigger, int64_t *execution_id) {
  char *definition;
  int32_t version;
  cf_err rc = store_workflow_version_get(req->cfg->store, workflow_id, 0, &definition, &version);
  if (rc)
    return rc;
  flow *f;
  flow_problems *problems;
  rc = parse_flow(definition, strlen(definition), &f, &problems);
  free(definition);
  free(problems);
  if (rc)
    return rc == CF_E_NOMEM ? rc : CF_E_INVALID;
  int64_t timeout = f->timeout_ms;
  flow_free(f);
  char *data = json_dumps(trigger, JSON_COMPACT);
  if (!data)
    return CF_E_NOMEM;
  store_exec_new e = {.org_id = org_id,
                      .workflow_id = workflow_id,
                      .workflow_version = version,
                      .trigger_kind = kind,
                      .trigger_data = data,
                      .max_attempts = 1,
                      .timeout_ms = timeout};
  rc = store_exec_enqueue(req->cfg->store, &e, now_ms(), execution_id);
  free(data);
  return rc;
}

void api_accepted_execution(api_response *res, int64_t id) {
  char where[64];
  snprintf(where, sizeof where, "/api/executions/%lld", (long long)id);
  res->status = 202;
  res->json =
      json_pack("{s:I,s:s,s:s}", "execution_id", (json_int_t)id, "status", "queued", "url", where);
  api_header_add(res, "Location", where);
}

static void workflows_run(const api_request *req, api_response *res) {
  static const char *const fields[] = {"input", NULL};
  int64_t id;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  json_t *body = api_body_object_or_empty(req, res);
  if (!body || !api_fields_known(body, fields, res)) {
    json_decref(body);
    return;
  }
  store_workflow w;
  cf_err rc = store_workflow_get(req->cfg->store, req->auth.org_id, id, &w);
  if (rc) {
    api_store_error(res, rc, "workflow");
    json_decref(body);
    return;
  }
  store_workflow_clear(&w);
  json_t *input = json_object_get(body, "input");
  json_t *trigger =
      json_pack("{s:s,s:o}", "kind", "manual", "input", input ? json_incref(input) : json_object());
  int64_t exec_id;
  rc = api_workflow_enqueue(req, req->auth.org_id, id, "manual", trigger, &exec_id);
  json_decref(trigger);
  json_decref(body);
  if (rc == CF_E_INVALID)
    api_error(res, 409, "workflow_invalid",
              "the workflow's current version no longer validates (an action it uses is gone)");
  else if (rc)
    api_store_error(res, rc, "workflow");
  else
    api_accepted_execution(res, exec_id);
}

/* ------------------------------------------------------------ webhooks */

static void webhook_rotate(const api_request *req, api_response *res) {
  int64_t id;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  char secret[80], url[100];
  unsigned char hash[STORE_HASH_BYTES];
  api_secret_new("", 24, secret, sizeof secret);
  api_secret_hash(secret, hash);
  cf_err rc = store_workflow_webhook_set(req->cfg->store, req->auth.org_id, id, hash, now_ms());
  if (rc) {
    api_store_error(res, rc, "workflow");
    return;
  }
  snprintf(url, sizeof url, "/hooks/%s", secret);
  res->json =
      json_pack("{s:I,s:s,s:s}", "workflow_id", (json_int_t)id, "secret", secret, "url", url);
}

static void webhook_delete(const api_request *req, api_response *res) {
  int64_t id;
  if (!api_param_id(req, res, "id", "workflow", &id))
    return;
  cf_err rc = store_workflow_webhook_set(req->cfg->store, req->auth.org_id, id, NULL, now_ms());
  if (rc)
    api_store_error(res, rc, "workflow");
  else
    api_no_content(res);
}

const api_route api_workflow_routes[] = {
    {"GET", "/api/workflows", API_READ, workflows_list},
    {"POST", "/api/workflows", API_WRITE, workflows_create},
    {"POST", "/api/workflows/validate", API_READ, workflows_validate},
    {"POST", "/api/workflows/import", API_WRITE, workflows_create},
    {"GET", "/api/workflows/{id}", API_READ, workflows_get},
    {"PUT", "/api/workflows/{id}", API_WRITE, workflows_update},
    {"DELETE", "/api/workflows/{id}", API_WRITE, workflows_delete},
    {"GET", "/api/workflows/{id}/versions", API_READ, versions_list},
    {"GET", "/api/workflows/{id}/versions/{version}", API_READ, version_get},
    {"GET", "/api/workflows/{id}/export", API_READ, workflows_export},
    {"POST", "/api/workflows/{id}/run", API_WRITE, workflows_run},
    {"POST", "/api/workflows/{id}/webhook", API_WRITE, webhook_rotate},
    {"DELETE", "/api/workflows/{id}/webhook", API_WRITE, webhook_delete},
    {NULL, NULL, 0, NULL},
};
