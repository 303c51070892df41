/*
 * json.c — templated JSON: every string inside a JSON value compiled as a
 * template, evaluated all at once into a new value (a node's params become
 * its input this way).
 *
 * The compiled form mirrors the value: containers, compiled templates, and
 * constants (every scalar that is not a template, kept by reference to the
 * original). Evaluation builds fresh arrays and objects for the value's
 * own containers and shares the constant scalars (json_incref); what a
 * template yields may be shared with the environment, so results are
 * read-only to callers, as in expr_tmpl_eval. Each template is evaluated
 * with its own budget. Object keys are never templates. Every node knows its path
 * ("params.headers.Accept", "params[\"a b\"]", "params.list[3]") for error
 * messages. Compiled values are immutable and may be evaluated by many
 * threads at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

typedef enum jkind { J_CONST, J_TMPL, J_ARRAY, J_OBJECT } jkind;

typedef struct jnode {
  jkind kind;
  json_t *value;   /* J_CONST */
  expr_tmpl *tmpl; /* J_TMPL */
  char *path;
  size_t n;
  struct jnode *kids;
  json_t *keys; /* J_OBJECT: the keys as strings, in order */
} jnode;

struct expr_json {
  jnode root;
};

static void jnode_clear(jnode *j) {
  for (size_t i = 0; i < j->n; i++)
    jnode_clear(&j->kids[i]);
  free(j->kids);
  json_decref(j->value);
  json_decref(j->keys);
  expr_tmpl_free(j->tmpl);
  free(j->path);
}

void expr_json_free(expr_json *j) {
  if (!j)
    return;
  jnode_clear(&j->root);
  free(j);
}

/* ------------------------------------------------------------------ paths */

static bool is_identifier(const char *s, size_t n) {
  if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return false;
  return true;
}

/* base + ".key", base + "[\"key\"]" (JSON-escaped) or base + "[i]". */
static char *child_path(const char *base, const char *key, size_t key_len, size_t index) {
  size_t blen = strlen(base);
  /* Escaping makes a byte at most six ("\u001f"). */
  size_t cap = blen + (key ? key_len * 6 : 0) + 32;
  char *p = malloc(cap);
  if (!p)
    return NULL;
  memcpy(p, base, blen);
  size_t w = blen;
  if (!key) {
    snprintf(p + w, cap - w, "[%zu]", index);
    return p;
  }
  if (is_identifier(key, key_len)) {
    p[w++] = '.';
    memcpy(p + w, key, key_len);
    p[w + key_len] = '\0';
    return p;
  }
  p[w++] = '[';
  p[w++] = '"';
  for (size_t i = 0; i < key_len; i++) {
    unsigned char u = (unsigned char)key[i];
    if (u < 0x20) {
      w += (size_t)snprintf(p + w, cap - w, "\\u%04x", u);
      continue;
    }
    if (u == '"' || u == '\\')
      p[w++] = '\\';
    p[w++] = (char)u;
  }
  memcpy(p + w, "\"]", 3);
  return p;
}

/* ---------------------------------------------------------------- compile */

typedef struct compiler {
  const expr_limits *lim;
  void (*on_error)(void *ctx, const char *path, const expr_error *e);
  void *ctx;
  bool failed;
} compiler;

static cf_err compile(compiler *k, const json_t *v, char *path, jnode *j) {
  j->path = path;
  if (!path)
    return CF_E_NOMEM;
  if (json_is_string(v) && expr_text_has_template(json_string_value(v), json_string_length(v))) {
    expr_error e;
    cf_err rc = expr_tmpl_parse(json_string_value(v), json_string_length(v), k->lim, &j->tmpl, &e);
    j->kind = J_TMPL;
    if (rc == CF_E_NOMEM)
      return rc;
    if (rc != CF_OK) {
      k->failed = true;
      if (k->on_error)
        k->on_error(k->ctx, path, &e);
    }
    return CF_OK;
  }
  if (!json_is_array(v) && !json_is_object(v)) {
    j->kind = J_CONST;
    j->value = json_incref((json_t *)v);
    return CF_OK;
  }
  size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
  j->kind = json_is_array(v) ? J_ARRAY : J_OBJECT;
  j->kids = calloc(n ? n : 1, sizeof *j->kids);
  if (!j->kids)
    return CF_E_NOMEM;
  if (json_is_array(v)) {
    for (size_t i = 0; i < n; i++) {
      j->n = i + 1;
      cf_err rc = compile(k, json_array_get(v, i), child_path(path, NULL, 0, i), &j->kids[i]);
      if (rc != CF_OK)
        return rc;
    }
    return CF_OK;
  }
  j->keys = json_array();
  if (!j->keys)
    return CF_E_NOMEM;
  const char *key;
  size_t key_len;
  json_t *member;
  json_object_keylen_foreach((json_t *)v, key, key_len, member) {
    jnode *kid = &j->kids[j->n++];
    if (json_array_append_new(j->keys, json_stringn_nocheck(key, key_len)))
      return CF_E_NOMEM;
    cf_err rc = compile(k, member, child_path(path, key, key_len, 0), kid);
    if (rc != CF_OK)
      return rc;
  }
  return CF_OK;
}

cf_err expr_json_compile(const json_t *value, const char *path, const expr_limits *lim,
                         void (*on_error)(void *ctx, const char *path, const expr_error *e),
                         void *ctx, expr_json **out) {
  *out = NULL;
  expr_json *j = calloc(1, sizeof *j);
  if (!j)
    return CF_E_NOMEM;
  compiler k = {lim, on_error, ctx, false};
  cf_err rc = compile(&k, value ? value : json_null(), strdup(path ? path : ""), &j->root);
  if (rc == CF_OK && k.failed)
    rc = CF_E_INVALID;
  if (rc != CF_OK) {
    expr_json_free(j);
    return rc;
  }
  *out = j;
  return CF_OK;
}

/* ------------------------------------------------------------------- eval */

static void report_path(const jnode *j, char *err_path, size_t cap) {
  if (err_path && cap)
    snprintf(err_path, cap, "%s", j->path);
}

static cf_err eval(const jnode *j, const expr_env *env, json_t **out, expr_error *err,
                   char *err_path, size_t cap) {
  *out = NULL;
  cf_err rc = CF_OK;
  switch (j->kind) {
  case J_CONST: *out = json_incref(j->value); return CF_OK;
  case J_TMPL:
    rc = expr_tmpl_eval(j->tmpl, env, out, err);
    if (rc != CF_OK)
      report_path(j, err_path, cap);
    return rc;
  case J_ARRAY: *out = json_array(); break;
  case J_OBJECT: *out = json_object(); break;
  }
  for (size_t i = 0; i < j->n && *out && rc == CF_OK; i++) {
    json_t *v;
    rc = eval(&j->kids[i], env, &v, err, err_path, cap);
    if (rc != CF_OK)
      break;
    const json_t *key = j->keys ? json_array_get(j->keys, i) : NULL;
    int failed =
        key ? json_object_setn_new_nocheck(*out, json_string_value(key), json_string_length(key), v)
            : json_array_append_new(*out, v);
    if (failed)
      rc = CF_E_NOMEM;
  }
  if (!*out || rc == CF_E_NOMEM) {
    rc = CF_E_NOMEM;
    if (err) {
      err->column = 0;
      snprintf(err->message, sizeof err->message, "out of memory");
    }
    report_path(j, err_path, cap);
  }
  if (rc != CF_OK) {
    json_decref(*out);
    *out = NULL;
  }
  return rc;
}

cf_err expr_json_eval(const expr_json *j, const expr_env *env, json_t **out, expr_error *err,
                      char *err_path, size_t err_path_cap) {
  if (err_path && err_path_cap)
    err_path[0] = '\0';
  return eval(&j->root, env, out, err, err_path, err_path_cap);
}

static bool refs(const jnode *j, bool (*fn)(void *ctx, const char *id), void *ctx) {
  if (j->kind == J_TMPL)
    return expr_tmpl_refs_walk(j->tmpl, fn, ctx);
  for (size_t i = 0; i < j->n; i++)
    if (!refs(&j->kids[i], fn, ctx))
      return false;
  return true;
}

void expr_json_node_refs(const expr_json *j, bool (*fn)(void *ctx, const char *id), void *ctx) {
  if (j)
    (void)refs(&j->root, fn, ctx);
}
