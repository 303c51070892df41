/*
 * fuzz_expr.c — the `{{ }}` template parser and evaluator under arbitrary
 * input.
 *
 * Input: the template text, up to the first NUL byte (the rest, if any,
 * picks the limits). It is parsed, then evaluated against one fixed
 * environment with a clock and time zones.
 *
 * Invariants (CHECK, which aborts):
 *  - a parse either gives a template or fails with CF_E_INVALID or
 *    CF_E_TOO_LARGE, no template, a message and a column within the text
 *    (or just past it); the outcome does not depend on whether an error is
 *    wanted; every message is valid UTF-8;
 *  - an evaluation either gives a value or fails the same way, with no
 *    value; it is deterministic (a second run gives an equal result);
 *  - a template that is not a single expression gives a string, and a
 *    constant one gives its own text;
 *  - the same text inside templated JSON evaluates to the same value;
 *  - node references are non-empty C strings.
 * Leaks are the sanitizer's to find.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "fuzz.h"
#include "tz/tz.h"

#define TEXT_CAP 8192

static const char *const env_text =
    "{\"trigger\": {\"body\": {\"name\": \"Ada\", \"n\": 3, \"list\": [3, 1, 2, \"x\", null],"
    " \"s\": \"h\\u00e9llo\", \"when\": \"2024-03-10T07:30:00Z\", \"deep\": {\"a\": [{\"b\": "
    "1.5}]}}},"
    " \"nodes\": {\"fetch\": {\"json\": {\"items\": [1, 2, 3]}}}, \"item\": {\"id\": 7},"
    " \"index\": 2, \"vars\": {\"big\": 9223372036854775807, \"t\": true}, \"secrets\": {},"
    " \"execution\": {\"id\": \"e\"}}";

typedef struct world {
  json_t *env;
  tz_db *db;
} world;

/* Built once and kept for the life of the process (reachable, so leak
 * checkers stay quiet). Without tzdata format_time still runs, on UTC. */
static const world *load_world(void) {
  static world w;
  static bool loaded;
  if (loaded)
    return &w;
  loaded = true;
  w.env = json_loads(env_text, 0, NULL);
  CHECK(w.env != NULL);
  if (tz_db_open(NULL, &w.db) != CF_OK)
    w.db = NULL;
  return &w;
}

static json_t *lookup(void *ctx, const char *name) {
  return json_object_get(((const world *)ctx)->env, name);
}

static bool check_ref(void *ctx, const char *id) {
  (void)ctx;
  CHECK(id != NULL);
  return true;
}

static void check_error(cf_err rc, const expr_error *err, size_t len) {
  CHECK(rc == CF_E_INVALID || rc == CF_E_TOO_LARGE);
  size_t msg = strnlen(err->message, sizeof err->message);
  CHECK(msg > 0 && msg < sizeof err->message);
  CHECK(err->column <= len + 1);
  /* Messages end up in JSON responses: they must be UTF-8. */
  json_t *as_json = json_string(err->message);
  CHECK(as_json != NULL);
  json_decref(as_json);
}

/* Evaluates; returns the value or NULL after checking the error. */
static json_t *evaluate(const expr_tmpl *t, const expr_env *env, size_t len) {
  json_t *out = (json_t *)1; /* must be overwritten */
  expr_error err;
  cf_err rc = expr_tmpl_eval(t, env, &out, &err);
  if (rc == CF_OK) {
    CHECK(out != NULL);
    return out;
  }
  CHECK(out == NULL);
  check_error(rc, &err, len);
  return NULL;
}

static void check_json(const char *text, size_t len, const expr_env *env, const json_t *direct) {
  json_t *s = json_stringn(text, len);
  if (!s) /* not UTF-8: jansson will not hold it */
    return;
  json_t *holder = json_pack("{s:[o]}", "k", s);
  CHECK(holder != NULL);
  expr_json *j = NULL;
  cf_err rc = expr_json_compile(holder, "p", env->lim, NULL, NULL, &j);
  if (rc != CF_OK) {
    CHECK(rc == CF_E_INVALID && j == NULL);
    json_decref(holder);
    return;
  }
  json_t *out = NULL;
  expr_error err;
  char path[16];
  rc = expr_json_eval(j, env, &out, &err, path, sizeof path);
  if (direct) {
    CHECK(rc == CF_OK);
    CHECK(json_equal(json_array_get(json_object_get(out, "k"), 0), direct));
  } else {
    CHECK(rc != CF_OK && out == NULL);
    CHECK(strcmp(path, "p.k[0]") == 0);
  }
  expr_json_node_refs(j, check_ref, NULL);
  json_decref(out);
  expr_json_free(j);
  json_decref(holder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t len = 0;
  while (len < size && data[len] != 0)
    len++;
  if (len > TEXT_CAP)
    len = TEXT_CAP;
  /* An exact-size copy without a NUL: the parser must respect len. */
  char *text = malloc(len ? len : 1);
  if (!text)
    return 0;
  if (len)
    memcpy(text, data, len);

  expr_limits lim = {0, 0, 200000, 1 << 20};
  if (len + 1 < size) {
    uint8_t pick = data[len + 1];
    lim.max_depth = 1 + pick % 80;
    lim.max_steps = 1 + (uint64_t)pick * 997;
    lim.max_value_size = 16 + (size_t)pick * 64;
    lim.max_text = pick & 1 ? 0 : 16 + (size_t)pick * 8;
  }

  expr_tmpl *t = (expr_tmpl *)1;
  expr_error err;
  cf_err rc = expr_tmpl_parse(text, len, &lim, &t, &err);
  if (rc != CF_OK) {
    CHECK(t == NULL);
    check_error(rc, &err, len);
    expr_tmpl *again = NULL;
    CHECK(expr_tmpl_parse(text, len, &lim, &again, NULL) == rc && again == NULL);
    free(text);
    return 0;
  }
  CHECK(t != NULL);
  expr_tmpl_node_refs(t, check_ref, NULL);

  const world *w = load_world();
  expr_env env = {lookup, (void *)w, INT64_C(1795845600000), w->db, &lim};
  json_t *first = evaluate(t, &env, len);
  json_t *second = evaluate(t, &env, len);
  CHECK((first == NULL) == (second == NULL));
  if (first) {
    CHECK(json_equal(first, second));
    if (expr_tmpl_is_constant(t)) {
      CHECK(json_is_string(first));
      CHECK(json_string_length(first) == len && memcmp(json_string_value(first), text, len) == 0);
    }
    if (!expr_text_has_template(text, len))
      CHECK(expr_tmpl_is_constant(t));
  }
  check_json(text, len, &env, first);
  json_decref(first);
  json_decref(second);
  expr_tmpl_free(t);
  free(text);
  return 0;
}
