/*
 * routes_email.c — saved e-mail templates, the preview that renders one
 * with sample data without sending, and the e-mail log (integrations.h).
 *
 * A preview renders exactly as email_send does: subject and text as
 * templates, html with every `{{ }}` value HTML-escaped unless raw().
 */
#include <stdio.h>
#include <string.h>

#include "api/integrations.h"
#include "expr/expr.h"

#define PART_MAX (256 * 1024)

static const char *const parts[] = {"subject", "text", "html"};

static json_t *template_json(const store_email_template *t) {
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", t->name, "subject", t->subject, "text",
                   t->text, "html", t->html, "created_at", (json_int_t)t->created_at, "updated_at",
                   (json_int_t)t->updated_at);
}

static unsigned failure(cf_err rc, json_t **out) {
  if (rc == CF_E_NOT_FOUND)
    return api_error_body(404, "not_found", "no e-mail template by that name", out);
  if (rc == CF_E_CONFLICT)
    return api_error_body(409, "conflict", "an e-mail template by that name exists already", out);
  return api_error_body(500, "store", cf_strerror(rc), out);
}

static void ignore(void *ctx, const char *path, const expr_error *e) {
  (void)path;
  *(expr_error *)ctx = *e;
}

/* Checks the parts of a template body: strings that compile. 0 or a
 * status. */
static unsigned check_parts(const json_t *body, store_email_template *t, json_t **out) {
  for (size_t i = 0; i < 3; i++) {
    const json_t *v = json_object_get(body, parts[i]);
    char msg[400];
    if (v && !json_is_string(v)) {
      snprintf(msg, sizeof msg, "%s: must be a string", parts[i]);
      return api_error_body(400, "invalid_request", msg, out);
    }
    if (v && json_string_length(v) > PART_MAX) {
      snprintf(msg, sizeof msg, "%s: longer than 256 KiB", parts[i]);
      return api_error_body(400, "invalid_request", msg, out);
    }
    expr_json *j = NULL;
    expr_error e = {0};
    if (v && expr_json_compile(v, parts[i], NULL, ignore, &e, &j) != CF_OK) {
      snprintf(msg, sizeof msg, "%s: column %zu: %s", parts[i], e.column, e.message);
      return api_error_body(400, "invalid_request", msg, out);
    }
    expr_json_free(j);
    const char *text = v ? json_string_value(v) : "";
    if (i == 0)
      t->subject = (char *)text;
    else if (i == 1)
      t->text = (char *)text;
    else
      t->html = (char *)text;
  }
  return 0;
}

unsigned api_email_template_create(store *s, int64_t org_id, const json_t *body, int64_t now,
                                   json_t **out) {
  const char *name = json_string_value(json_object_get(body, "name"));
  if (!name || !name[0] || strlen(name) > 100)
    return api_error_body(400, "invalid_request", "name: required, at most 100 characters", out);
  store_email_template t = {.name = (char *)name};
  unsigned bad = check_parts(body, &t, out);
  if (bad)
    return bad;
  cf_err rc = store_email_template_put(s, org_id, true, &t, now);
  if (rc)
    return failure(rc, out);
  return api_email_template_get(s, org_id, name, out) == 200 ? 201 : 500;
}

unsigned api_email_template_update(store *s, int64_t org_id, const char *name, const json_t *body,
                                   int64_t now, json_t **out) {
  store_email_template t = {.name = (char *)name};
  unsigned bad = check_parts(body, &t, out);
  if (bad)
    return bad;
  cf_err rc = store_email_template_put(s, org_id, false, &t, now);
  if (rc)
    return failure(rc, out);
  return api_email_template_get(s, org_id, name, out);
}

unsigned api_email_template_list(store *s, int64_t org_id, json_t **out) {
  store_email_template *items;
  size_t n;
  cf_err rc = store_email_template_list(s, org_id, &items, &n);
  if (rc)
    return failure(rc, out);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, template_json(&items[i]));
  store_email_templates_free(items, n);
  *out = json_pack("{s:o}", "items", arr);
  return 200;
}

unsigned api_email_template_get(store *s, int64_t org_id, const char *name, json_t **out) {
  store_email_template t;
  cf_err rc = store_email_template_get(s, org_id, name, &t);
  if (rc)
    return failure(rc, out);
  *out = template_json(&t);
  store_email_template_clear(&t);
  return 200;
}

unsigned api_email_template_delete(store *s, int64_t org_id, const char *name, json_t **out) {
  *out = NULL;
  cf_err rc = store_email_template_delete(s, org_id, name);
  return rc ? failure(rc, out) : 204;
}

/* ------------------------------------------------------------ preview */

static json_t *sample_lookup(void *ctx, const char *name) {
  return json_object_get(ctx, name);
}

unsigned api_email_preview(store *s, int64_t org_id, const json_t *body, tz_db *zones, int64_t now,
                           json_t **out) {
  if (!json_is_object(body))
    return api_error_body(400, "invalid_request", "the body must be a JSON object", out);
  const json_t *data = json_object_get(body, "data");
  if (data && !json_is_object(data))
    return api_error_body(400, "invalid_request",
                          "data: must be an object of sample values by name (trigger, nodes, "
                          "vars, item, index, execution)",
                          out);
  if (json_object_get(data, "secrets"))
    return api_error_body(400, "invalid_request", "data.secrets: a preview never reads secrets",
                          out);
  store_email_template saved = {0};
  store_email_template given = {0};
  const char *name = json_string_value(json_object_get(body, "template"));
  if (name) {
    cf_err rc = store_email_template_get(s, org_id, name, &saved);
    if (rc)
      return failure(rc, out);
  } else {
    unsigned bad = check_parts(body, &given, out);
    if (bad)
      return bad;
  }
  const char *texts[3] = {name ? saved.subject : given.subject, name ? saved.text : given.text,
                          name ? saved.html : given.html};
  expr_env env = {.lookup = sample_lookup, .ctx = (void *)data, .now_ms = now, .tz = zones};
  json_t *result = json_object();
  unsigned status = 200;
  for (size_t i = 0; i < 3 && status == 200; i++) {
    const char *text = texts[i] ? texts[i] : "";
    expr_tmpl *t;
    expr_error e;
    json_t *v = NULL;
    cf_err rc = expr_tmpl_parse(text, strlen(text), NULL, &t, &e);
    if (!rc) {
      rc = i == 2 ? expr_tmpl_eval_html(t, &env, &v, &e) : expr_tmpl_eval(t, &env, &v, &e);
      expr_tmpl_free(t);
    }
    if (rc) {
      char msg[400];
      snprintf(msg, sizeof msg, "%s: column %zu: %s", parts[i], e.column, e.message);
      json_decref(result);
      status = api_error_body(400, "invalid_template", msg, out);
      break;
    }
    if (!json_is_string(v)) {
      char *dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      json_decref(v);
      v = json_string(dumped ? dumped : "");
      free(dumped);
    }
    json_object_set_new(result, parts[i], v);
  }
  store_email_template_clear(&saved);
  if (status == 200)
    *out = result;
  return status;
}

/* ------------------------------------------------------------ the log */

static json_t *text_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

unsigned api_email_log_list(store *s, int64_t org_id, int64_t execution_id, int64_t before_id,
                            int limit, json_t **out) {
  if (limit < 1 || limit > 1000)
    return api_error_body(400, "invalid_request", "limit: must be 1 to 1000", out);
  store_email_log *items;
  size_t n;
  cf_err rc = store_email_log_list(s, org_id, execution_id, before_id, limit, &items, &n);
  if (rc)
    return api_error_body(500, "store", cf_strerror(rc), out);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    const store_email_log *e = &items[i];
    json_t *rcpt = json_loads(e->recipients, 0, NULL);
    json_array_append_new(
        arr, json_pack(
                 "{s:I, s:o, s:o, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:I}", "id", (json_int_t)e->id,
                 "execution_id", e->execution_id ? json_integer(e->execution_id) : json_null(),
                 "node_id", text_or_null(e->node_id), "status", e->status, "from", e->sender,
                 "recipients", rcpt ? rcpt : json_object(), "subject", e->subject, "message_id",
                 text_or_null(e->message_id), "smtp_response", text_or_null(e->smtp_response),
                 "error", text_or_null(e->error), "at", (json_int_t)e->at));
  }
  store_email_logs_free(items, n);
  *out = json_pack("{s:o}", "items", arr);
  return 200;
}
