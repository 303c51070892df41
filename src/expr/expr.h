/*
 * expr.h — the `{{ … }}` expression language of workflow parameters. Pure:
 * no I/O, no global state, no clock of its own (the caller passes "now").
 *
 * A template is a string with zero or more `{{ expr }}` parts. It is
 * compiled once per workflow version (expr_tmpl_parse) and evaluated once
 * per step (expr_tmpl_eval) against an environment that resolves the root
 * names: trigger, nodes, item, index, vars, secrets, execution.
 *
 * Values are jansson values (json_t). A template that is exactly one
 * `{{ expr }}` (whitespace around it allowed) evaluates to the expression's
 * JSON value with its type kept; any other template evaluates to a string:
 * the text with each part's value interpolated (strings as they are, null
 * as "", numbers and booleans as JSON would write them, arrays and objects
 * as compact JSON).
 *
 * Evaluation always terminates and is bounded: each evaluation has a step
 * budget and a cap on the bytes of every value it builds (expr_limits).
 * Errors name the 1-based column in the template text and say why.
 *
 * Templated JSON (expr_json) compiles every string inside a JSON value
 * (object keys stay literal) and evaluates the whole value at once: this is
 * how a node's `params` become its input.
 *
 * Compiled templates are immutable: one may be evaluated by many threads
 * at once.
 */
#ifndef CF_EXPR_EXPR_H
#define CF_EXPR_EXPR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct tz_db tz_db;

/* What went wrong and where. column is 1-based in the template's text
 * (0 when the error has no position). */
typedef struct expr_error {
  size_t column;
  char message[240];
} expr_error;

typedef struct expr_limits {
  size_t max_text;       /* template text bytes; 0 = 65536 */
  int max_depth;         /* nesting of the parse tree; 0 = 64 */
  uint64_t max_steps;    /* evaluation steps per evaluation; 0 = 1,000,000 */
  size_t max_value_size; /* bytes of any string/array/object built; 0 = 16 MiB */
} expr_limits;

/* The environment of one evaluation. */
typedef struct expr_env {
  /* Resolves a root name (one of the names above) to a borrowed value,
   * or NULL when it has none (then it evaluates to null). */
  json_t *(*lookup)(void *ctx, const char *name);
  void *ctx;
  int64_t now_ms;         /* what now() returns: ms since the epoch, UTC */
  tz_db *tz;              /* zones for format_time; NULL = UTC only */
  const expr_limits *lim; /* NULL = defaults */
} expr_env;

typedef struct expr_tmpl expr_tmpl;

/*
 * Compiles a template of `len` bytes (need not be NUL-terminated). On
 * CF_E_INVALID (syntax, unknown root name or function, wrong argument
 * count) or CF_E_TOO_LARGE, *err says where and why and *out is NULL.
 * CF_E_NOMEM. The caller owns *out.
 */
CF_MUST_CHECK cf_err expr_tmpl_parse(const char *text, size_t len, const expr_limits *lim,
                                     expr_tmpl **out, expr_error *err);
void expr_tmpl_free(expr_tmpl *t);

/* True when the template has no `{{ }}` part (it always yields its text). */
bool expr_tmpl_is_constant(const expr_tmpl *t);

/* True when the text contains "{{" at all (cheap pre-check). */
bool expr_text_has_template(const char *text, size_t len);

/*
 * Evaluates. *out is a new reference owned by the caller. CF_E_INVALID
 * for a runtime error (type mismatch, division by zero, bad argument),
 * CF_E_TOO_LARGE when a limit was hit; *err says which and where.
 * Thread-safe on a shared template.
 */
CF_MUST_CHECK cf_err expr_tmpl_eval(const expr_tmpl *t, const expr_env *env, json_t **out,
                                    expr_error *err);

/*
 * Evaluates for an HTML document: always a string, the text as it is and
 * each `{{ }}` part's value written as expr_tmpl_eval would, then
 * HTML-escaped (& < > " ') — unless the part is a call to raw(), e.g.
 * `{{ raw(nodes.report.output.html) }}`, which is written as it is.
 * Errors and thread-safety as expr_tmpl_eval.
 */
CF_MUST_CHECK cf_err expr_tmpl_eval_html(const expr_tmpl *t, const expr_env *env, json_t **out,
                                         expr_error *err);

/*
 * Calls fn for each node id the template references as `nodes.ID` or
 * `nodes["ID"]` (with a literal id), so that a validator can check that
 * the nodes exist. Stops early when fn returns false.
 */
void expr_tmpl_node_refs(const expr_tmpl *t, bool (*fn)(void *ctx, const char *id), void *ctx);

/* JSON truthiness: null, false, 0, "" are false; everything else true. */
bool expr_truthy(const json_t *v);

/* ------------------------------------------------------------ templated JSON */

typedef struct expr_json expr_json;

/*
 * Compiles every string of `value` (borrowed; copied as needed). Each
 * string that fails to compile is reported through on_error with its path
 * below `path` (e.g. path "nodes[2].params" gives
 * "nodes[2].params.headers.Accept") and compilation goes on, so that all
 * problems are found; the result is then CF_E_INVALID and *out NULL.
 */
CF_MUST_CHECK cf_err expr_json_compile(
    const json_t *value, const char *path, const expr_limits *lim,
    void (*on_error)(void *ctx, const char *path, const expr_error *e), void *ctx, expr_json **out);
void expr_json_free(expr_json *j);

/* Evaluates to a new JSON value (new reference). On error *err says what
 * went wrong and err_path (may be NULL, cap bytes) where in the value. */
CF_MUST_CHECK cf_err expr_json_eval(const expr_json *j, const expr_env *env, json_t **out,
                                    expr_error *err, char *err_path, size_t err_path_cap);

/* Calls fn for every node id referenced anywhere in the value. */
void expr_json_node_refs(const expr_json *j, bool (*fn)(void *ctx, const char *id), void *ctx);

#endif
