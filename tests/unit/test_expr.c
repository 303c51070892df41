/*
 * test_expr.c — the `{{ }}` expression language through its public API.
 *
 * Most cases are rows of one table: a template, and either the JSON value
 * it must evaluate to (types compared exactly: 2 is not 2.0) or the error
 * it must fail with (code, column, a piece of the message). All rows run
 * against one environment (ENV below) with the clock at
 * 2026-11-28T06:00:00Z. The rest covers what a table cannot: node
 * references, templated JSON and its paths, limits, and sharing one
 * compiled template between threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "expr/expr.h"
#include "tz/tz.h"

static const char *const ENV =
    "{"
    " \"trigger\": {\"body\": {\"name\": \"Ada\", \"age\": 36, \"tags\": [\"a\", \"b\", \"c\"],"
    "   \"empty\": \"\", \"zero\": 0, \"nested\": {\"deep\": {\"x\": 1}}, \"weird key\": 5,"
    "   \"length\": 99, \"ok\": true, \"none\": null, \"price\": 2.5,"
    "   \"when\": \"2024-03-10T07:30:00Z\"}},"
    " \"nodes\": {\"fetch\": {\"json\": {\"items\": [1, 2, 3], \"status\": 200}},"
    "   \"my-node\": {\"ok\": true}},"
    " \"item\": {\"id\": 7, \"price\": 2.5, \"qty\": 4, \"name\": \"  Widget  \"},"
    " \"index\": 3,"
    " \"vars\": {\"greeting\": \"hello\", \"list\": [3, 1, 2], \"words\": [\"b\", \"a\", \"c\", "
    "\"a\"],"
    "   \"n\": null, \"pi\": 3.14159, \"big\": 9223372036854775807, \"small\": "
    "-9223372036854775808,"
    "   \"mixed\": [1, \"a\", null, [2, 3], {\"k\": 1}], \"utf\": \"h\\u00e9llo \\u2603!\","
    "   \"csv\": \"a,b,,c\", \"objs\": [{\"a\": 1}, {\"a\": 1}, {\"a\": 2}]},"
    " \"secrets\": {\"token\": \"s3cr3t\"},"
    " \"execution\": {\"id\": \"ex-1\"}"
    "}";

#define NOW_MS INT64_C(1795845600000) /* 2026-11-28T06:00:00Z */

static json_t *env_json;
static tz_db *db;

static json_t *lookup(void *ctx, const char *name) {
  return json_object_get((json_t *)ctx, name);
}

static expr_env make_env(const expr_limits *lim) {
  expr_env env = {lookup, env_json, NOW_MS, db, lim};
  return env;
}

static int setup(void **state) {
  (void)state;
  json_error_t e;
  env_json = json_loads(ENV, 0, &e);
  if (!env_json) {
    fprintf(stderr, "ENV: %s at %d\n", e.text, e.position);
    return -1;
  }
  return tz_db_open(NULL, &db) == CF_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  json_decref(env_json);
  tz_db_free(db);
  return 0;
}

/* One row: `want` is the JSON text of the value, or NULL when `error` (a
 * piece of the message) is expected with `code` and `column`. */
typedef struct row {
  const char *tmpl;
  const char *want;
  const char *error;
  size_t column;
  cf_err code; /* 0 means CF_E_INVALID */
} row;

#define OK(t, v)                                                                                   \
  { t, v, NULL, 0, CF_OK }
#define ERR(t, col, msg)                                                                           \
  { t, NULL, msg, col, CF_E_INVALID }
#define ERR_CODE(t, col, msg, c)                                                                   \
  { t, NULL, msg, col, c }

static char *show(const json_t *v) {
  return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* Messages end up in JSON: jansson refuses strings that are not UTF-8. */
static bool is_utf8(const char *s) {
  json_t *v = json_string(s);
  json_decref(v);
  return v != NULL;
}

/* Runs one row; returns false (after printing why) when it fails. */
static bool run_row(const row *r, const expr_limits *lim) {
  expr_tmpl *t = NULL;
  expr_error err;
  json_t *got = NULL;
  cf_err rc = expr_tmpl_parse(r->tmpl, strlen(r->tmpl), lim, &t, &err);
  if (rc == CF_OK) {
    expr_env env = make_env(lim);
    rc = expr_tmpl_eval(t, &env, &got, &err);
    expr_tmpl_free(t);
  } else if (t) {
    fprintf(stderr, "'%s': failed parse left a template\n", r->tmpl);
    return false;
  }
  bool ok = true;
  if (r->want) {
    json_error_t je;
    json_t *want = json_loads(r->want, JSON_DECODE_ANY, &je);
    if (!want) {
      fprintf(stderr, "'%s': bad expected JSON %s\n", r->tmpl, r->want);
      ok = false;
    } else if (rc != CF_OK) {
      fprintf(stderr, "'%s': expected %s, got error %s: %s\n", r->tmpl, r->want, cf_errname(rc),
              err.message);
      ok = false;
    } else if (!json_equal(want, got)) {
      char *g = show(got);
      fprintf(stderr, "'%s': expected %s, got %s\n", r->tmpl, r->want, g);
      free(g);
      ok = false;
    }
    json_decref(want);
  } else if (rc != r->code) {
    char *g = got ? show(got) : NULL;
    fprintf(stderr, "'%s': expected %s '%s', got %s (%s)\n", r->tmpl, cf_errname(r->code), r->error,
            cf_errname(rc), g ? g : err.message);
    free(g);
    ok = false;
  } else if (got) {
    fprintf(stderr, "'%s': a failed evaluation returned a value\n", r->tmpl);
    ok = false;
  } else if (!strstr(err.message, r->error) || err.column != r->column || !is_utf8(err.message)) {
    fprintf(stderr, "'%s': expected column %zu '%s', got column %zu '%s'\n", r->tmpl, r->column,
            r->error, err.column, err.message);
    ok = false;
  }
  json_decref(got);
  return ok;
}

static void run_rows(const row *rows, size_t n, const expr_limits *lim) {
  size_t failed = 0;
  for (size_t i = 0; i < n; i++)
    if (!run_row(&rows[i], lim))
      failed++;
  if (failed)
    fail_msg("%zu of %zu rows failed", failed, n);
}

#define RUN(rows) run_rows(rows, sizeof rows / sizeof *rows, NULL)

/* ---------------------------------------------------------------- templates */

static const row template_rows[] = {
    OK("plain text", "\"plain text\""),
    OK("", "\"\""),
    OK("{{ 42 }}", "42"),
    OK("  {{ 42 }}\n", "42"),
    OK("{{ 1.5 }}", "1.5"),
    OK("{{ true }}", "true"),
    OK("{{ null }}", "null"),
    OK("{{ trigger.body.tags }}", "[\"a\",\"b\",\"c\"]"),
    OK("n={{ 42 }}", "\"n=42\""),
    OK("{{ 1 }}{{ 2 }}", "\"12\""),
    OK("x{{ null }}y", "\"xy\""),
    OK("{{ true }} and {{ false }}", "\"true and false\""),
    OK("[{{ trigger.body.tags }}]", "\"[[\\\"a\\\",\\\"b\\\",\\\"c\\\"]]\""),
    OK("{{ {\"a\": {\"b\": 1}} }}", "{\"a\":{\"b\":1}}"),
    OK("{{ {} }}", "{}"),
    OK("{{ [] }}", "[]"),
    OK("{{ [1, 2,] }}", "[1,2]"),
    OK("{{ {a: 1, 'b': [2,],} }}", "{\"a\":1,\"b\":[2]}"),
    OK("{{ {a: 1, a: 2} }}", "{\"a\":2}"),
    OK("{{ {null: 1, true: 2}.null }}", "1"),
    OK("{{ \"}}\" }}", "\"}}\""),
    OK("a {{ '}}{{' }} b", "\"a }}{{ b\""),
    OK("{{ \"{{\" }}", "\"{{\""),
    OK("}} alone", "\"}} alone\""),
    OK("{ single { braces }", "\"{ single { braces }\""),
    OK("{{ 1 }}}", "\"1}\""),
    OK("obj: {{ {a: 1, \"b c\": [true, null]} }}",
       "\"obj: {\\\"a\\\":1,\\\"b c\\\":[true,null]}\""),
    OK("{{ 0.1 }} {{ 2.0 }} {{ 1e21 }} {{ -0.5 }}", "\"0.1 2.0 1e+21 -0.5\""),
    OK("{{ vars.utf }}", "\"h\\u00e9llo \\u2603!\""),
    OK("{{ \"tab\\tquote\\\" \\u00e9 \\ud83d\\ude00\" }}",
       "\"tab\\tquote\\\" \\u00e9 \\ud83d\\ude00\""),
    OK("{{ 'it\\'s' }}", "\"it's\""),
    OK("{{ json(\"a\\nb\\u0001\") }}", "\"\\\"a\\\\nb\\\\u0001\\\"\""),
    ERR("abc {{ 1 + ", 5, "this '{{' has no closing '}}'"),
    ERR("{{ 1 }", 6, "expected '}}' after the expression, found '}'"),
    ERR("{{ }}", 1, "empty '{{ }}'"),
    ERR("{{ 1 2 }}", 6, "expected '}}' after the expression, found '2'"),
    ERR("{{ \"abc }}", 4, "this string has no closing \""),
    ERR("{{ 'a\\q' }}", 6, "unknown escape \\q"),
    ERR("{{ '\\u12' }}", 5, "four hex digits"),
    ERR("{{ '\\ud800' }}", 5, "second half of its surrogate pair"),
    ERR("{{ '\\udc00' }}", 5, "without its first half"),
    ERR("{{ 1 = 1 }}", 6, "use '==' to compare"),
    ERR("{{ 1 & 1 }}", 6, "use '&&'"),
    ERR("{{ # }}", 4, "unexpected '#'"),
    ERR("{{ 12abc }}", 4, "is not a number"),
    ERR("{{ 1e999 }}", 4, "too large"),
    ERR("ok {{ \xff }}", 7, "not valid UTF-8"),
    ERR("{{ (1 + 2 }}", 11, "expected ')' to close the '('"),
    ERR("{{ [1, 2 }}", 10, "expected ']' after the items of an array"),
    ERR("{{ {a 1} }}", 7, "expected ':' after the key"),
    ERR("{{ {1: 2} }}", 5, "expected a key"),
    ERR("{{ a.b }}", 4,
        "unknown name 'a' (use trigger, nodes, item, index, vars, secrets, execution)"),
    ERR("{{ trigger. }}", 13, "expected a name after '.'"),
    ERR("{{ trigger[ }}", 13, "expected a value"),
    /* A quote cut inside a character is not passed on half. */
    ERR("{{ ééééééééééééééééééééé }}", 4, "unexpected character outside a string"),
    ERR("{{ 1 'ééééééééééééééééééééé' }}", 6, "found ''ééééééééé?'..."),
    ERR("{{ trigger.body.age.é }}", 21, "unexpected character outside a string"),
};

static void test_templates(void **state) {
  (void)state;
  RUN(template_rows);
}

/* ------------------------------------------------------------------ paths */

static const row path_rows[] = {
    OK("{{ trigger.body.name }}", "\"Ada\""),
    OK("{{ trigger[\"body\"]['age'] }}", "36"),
    OK("{{ trigger.body[\"weird key\"] }}", "5"),
    OK("{{ trigger.body.nested.deep.x }}", "1"),
    OK("{{ trigger.body.tags[0] }}", "\"a\""),
    OK("{{ trigger.body.tags[-1] }}", "\"c\""),
    OK("{{ trigger.body.tags[-3] }}", "\"a\""),
    OK("{{ trigger.body.tags[-4] }}", "null"),
    OK("{{ trigger.body.tags[3] }}", "null"),
    OK("{{ trigger.body.tags[1.0] }}", "\"b\""),
    OK("{{ trigger.body.tags[0.5] }}", "null"),
    OK("{{ trigger.body.tags['x'] }}", "null"),
    OK("{{ trigger.body.tags.length }}", "3"),
    OK("{{ trigger.body.name.length }}", "3"),
    OK("{{ vars.utf.length }}", "8"),
    OK("{{ trigger.body.length }}", "99"),
    OK("{{ trigger.body.name[0] }}", "\"A\""),
    OK("{{ vars.utf[1] }}", "\"\\u00e9\""),
    OK("{{ vars.utf[-2] }}", "\"\\u2603\""),
    OK("{{ trigger.body.missing }}", "null"),
    OK("{{ trigger.body.missing.deeper[0].x }}", "null"),
    OK("{{ trigger.nope.length }}", "null"),
    OK("{{ trigger.body.tags.foo }}", "null"),
    OK("{{ nodes.fetch.json.items[1] }}", "2"),
    OK("{{ nodes[\"my-node\"].ok }}", "true"),
    OK("{{ item.id }}", "7"),
    OK("{{ index }}", "3"),
    OK("{{ secrets.token }}", "\"s3cr3t\""),
    OK("{{ execution.id }}", "\"ex-1\""),
    OK("{{ vars.n }}", "null"),
    OK("{{ vars['n'] ?? 'dflt' }}", "\"dflt\""),
    OK("{{ trigger.body[vars.n] }}", "null"),
    OK("{{ [10, 20, 30][index - 2] }}", "20"),
    OK("{{ {a: {b: [5]}}.a.b[0] }}", "5"),
    ERR("{{ trigger.body.age.x }}", 20, "cannot read 'x' of a number"),
    ERR("{{ trigger.body.ok.x }}", 19, "cannot read 'x' of a boolean"),
    ERR("{{ index[0] }}", 9, "cannot index into a number"),
    ERR("{{ trigger.body[1] }}", 16, "an object's keys are strings, not number"),
};

static void test_paths(void **state) {
  (void)state;
  RUN(path_rows);
}

/* -------------------------------------------------------------- operators */

static const row operator_rows[] = {
    OK("{{ 1 + 2 * 3 }}", "7"),
    OK("{{ (1 + 2) * 3 }}", "9"),
    OK("{{ 10 - 4 - 3 }}", "3"),
    OK("{{ 2 * 3 % 4 }}", "2"),
    OK("{{ -2 * -3 }}", "6"),
    OK("{{ - -2 }}", "2"),
    OK("{{ -item.id }}", "-7"),
    OK("{{ 7 / 2 }}", "3.5"),
    OK("{{ 8 / 2 }}", "4"),
    OK("{{ 8.0 / 2 }}", "4.0"),
    OK("{{ -7 % 3 }}", "-1"),
    OK("{{ 7.5 % 2 }}", "1.5"),
    OK("{{ 1 + 1.5 }}", "2.5"),
    OK("{{ item.price * item.qty }}", "10.0"),
    OK("{{ vars.big + 1 }}", "9.2233720368547758e18"),
    OK("{{ vars.big - -1 }}", "9.2233720368547758e18"),
    OK("{{ vars.big * 2 }}", "1.8446744073709552e19"),
    OK("{{ vars.small / -1 }}", "9.2233720368547758e18"),
    OK("{{ vars.small % -1 }}", "0"),
    OK("{{ -vars.small }}", "9.2233720368547758e18"),
    OK("{{ vars.big + 0 }}", "9223372036854775807"),
    OK("{{ 'a' + 1 }}", "\"a1\""),
    OK("{{ 1 + 'a' }}", "\"1a\""),
    OK("{{ 'x' + null + true }}", "\"xtrue\""),
    OK("{{ 'n=' + 2.5 }}", "\"n=2.5\""),
    OK("{{ 'v' + [1, 'b'] }}", "\"v[1,\\\"b\\\"]\""),
    OK("{{ 1 + 2 + 'a' }}", "\"3a\""),
    OK("{{ 'a' + 1 + 2 }}", "\"a12\""),
    OK("{{ [1] + [2, 3] }}", "[1,2,3]"),
    OK("{{ 1 < 2 }}", "true"),
    OK("{{ 2 <= 2 }}", "true"),
    OK("{{ 1.5 > 2 }}", "false"),
    OK("{{ 3 >= 2.5 }}", "true"),
    OK("{{ 'abc' < 'abd' }}", "true"),
    OK("{{ 'ab' < 'abc' }}", "true"),
    OK("{{ 'B' < 'a' }}", "true"),
    OK("{{ 1 == 1.0 }}", "true"),
    OK("{{ 1 != 1 }}", "false"),
    OK("{{ 'a' == 'a' }}", "true"),
    OK("{{ 1 == '1' }}", "false"),
    OK("{{ null == null }}", "true"),
    OK("{{ [1, {a: 2}] == [1.0, {a: 2}] }}", "true"),
    OK("{{ {a: 1, b: 2} == {b: 2, a: 1} }}", "true"),
    OK("{{ {a: 1} == {a: 1, b: 2} }}", "false"),
    OK("{{ [1, 2] != [1] }}", "true"),
    OK("{{ !true }}", "false"),
    OK("{{ !0 }}", "true"),
    OK("{{ ![] }}", "false"),
    OK("{{ !{} }}", "false"),
    OK("{{ !'' }}", "true"),
    OK("{{ !0.0 }}", "true"),
    OK("{{ !!'x' }}", "true"),
    OK("{{ 0 || 'b' }}", "\"b\""),
    OK("{{ 'a' || 'b' }}", "\"a\""),
    OK("{{ 'a' && 'b' }}", "\"b\""),
    OK("{{ '' && 'b' }}", "\"\""),
    OK("{{ null && 1 / 0 }}", "null"),
    OK("{{ 1 || 1 / 0 }}", "1"),
    OK("{{ vars.n ?? 5 }}", "5"),
    OK("{{ 0 ?? 5 }}", "0"),
    OK("{{ false ?? 5 }}", "false"),
    OK("{{ trigger.body.missing ?? vars.n ?? 'last' }}", "\"last\""),
    OK("{{ 1 ?? 1 / 0 }}", "1"),
    OK("{{ true ? 'y' : 'n' }}", "\"y\""),
    OK("{{ 0 ? 'y' : 'n' }}", "\"n\""),
    OK("{{ false ? 1 : true ? 2 : 3 }}", "2"),
    OK("{{ true ? false ? 1 : 2 : 3 }}", "2"),
    OK("{{ 1 < 2 == true }}", "true"),
    OK("{{ 1 + 1 == 2 && 'a' }}", "\"a\""),
    OK("{{ false || true && false }}", "false"),
    OK("{{ null ?? false || true }}", "true"),
    OK("{{ false ? 1 / 0 : 2 }}", "2"),
    ERR("{{ 1 / 0 }}", 6, "division by zero"),
    ERR("{{ 1.5 / 0.0 }}", 8, "division by zero"),
    ERR("{{ 5 % 0 }}", 6, "modulo by zero"),
    ERR("{{ 1 < 'a' }}", 6, "cannot compare a number with a string"),
    ERR("{{ null < 1 }}", 9, "cannot compare null with a number"),
    ERR("{{ [1] < [2] }}", 8, "cannot compare an array with an array"),
    ERR("{{ true + 1 }}", 9, "cannot add a boolean and a number"),
    ERR("{{ {} + [] }}", 7, "cannot add an object and an array"),
    ERR("{{ 'a' - 1 }}", 8, "cannot apply '-' to a string and a number"),
    ERR("{{ null * 2 }}", 9, "cannot apply '*' to null and a number"),
    ERR("{{ -'a' }}", 4, "cannot negate a string"),
    ERR("{{ 1e308 * 10 }}", 10, "not a finite number"),
};

static void test_operators(void **state) {
  (void)state;
  RUN(operator_rows);
}

/* -------------------------------------------------------------- functions */

static const row function_rows[] = {
    /* strings */
    OK("{{ length('héllo') }}", "5"),
    OK("{{ length([1, 2]) }}", "2"),
    OK("{{ length({a: 1}) }}", "1"),
    OK("{{ length(null) }}", "0"),
    ERR("{{ length(5) }}", 4, "length expects a string, an array or an object, not a number"),
    OK("{{ lower('HeLLo É') }}", "\"hello É\""),
    OK("{{ upper('abc-é') }}", "\"ABC-é\""),
    ERR("{{ upper(1) }}", 4, "upper expects a string as argument 1, not a number"),
    OK("{{ trim(item.name) }}", "\"Widget\""),
    OK("{{ trim('  \\t ') }}", "\"\""),
    OK("{{ contains('hello', 'ell') }}", "true"),
    OK("{{ contains('hello', '') }}", "true"),
    OK("{{ contains('hello', 'xyz') }}", "false"),
    OK("{{ contains([1, [2], {a: 1}], [2.0]) }}", "true"),
    OK("{{ contains([1, 2], 3) }}", "false"),
    OK("{{ contains(trigger.body, 'name') }}", "true"),
    OK("{{ contains(trigger.body, 'nope') }}", "false"),
    ERR("{{ contains(1, 1) }}", 4, "contains expects a string, an array or an object"),
    ERR("{{ contains('a', 1) }}", 4, "contains expects a string as argument 2, not a number"),
    OK("{{ starts_with('hello', 'he') }}", "true"),
    OK("{{ starts_with('he', 'hello') }}", "false"),
    OK("{{ ends_with('hello', 'llo') }}", "true"),
    OK("{{ ends_with('hello', 'he') }}", "false"),
    OK("{{ join(['a', 1, null, true, [2]], '-') }}", "\"a-1--true-[2]\""),
    OK("{{ join([], ',') }}", "\"\""),
    ERR("{{ join('a', ',') }}", 4, "join expects an array as argument 1, not a string"),
    OK("{{ split(vars.csv, ',') }}", "[\"a\",\"b\",\"\",\"c\"]"),
    OK("{{ split('a--b', '--') }}", "[\"a\",\"b\"]"),
    OK("{{ split('', ',') }}", "[\"\"]"),
    OK("{{ split('hé!', '') }}", "[\"h\",\"é\",\"!\"]"),
    OK("{{ split('', '') }}", "[]"),
    OK("{{ replace('a.b.c', '.', '/') }}", "\"a/b/c\""),
    OK("{{ replace('aaa', 'aa', 'b') }}", "\"ba\""),
    OK("{{ replace('abc', 'x', 'y') }}", "\"abc\""),
    ERR("{{ replace('abc', '', 'y') }}", 4, "replace cannot look for an empty string"),
    OK("{{ substring('hello', 1, 3) }}", "\"el\""),
    OK("{{ substring('hello', 3) }}", "\"lo\""),
    OK("{{ substring('hello', 3, 1) }}", "\"el\""),
    OK("{{ substring('hello', -5, 99) }}", "\"hello\""),
    OK("{{ substring('héllo', 1, 2) }}", "\"é\""),
    OK("{{ substring(vars.utf, 7) }}", "\"!\""),
    ERR("{{ substring('abc', 1.5) }}", 4,
        "substring expects a whole number as argument 2, not a fraction"),
    /* conversions */
    OK("{{ default(vars.n, 'x') }}", "\"x\""),
    OK("{{ default('', 'x') }}", "\"x\""),
    OK("{{ default(0, 'x') }}", "0"),
    OK("{{ default(false, 'x') }}", "false"),
    OK("{{ json({a: [1, 'b', null], 'k\"': 2.5}) }}",
       "\"{\\\"a\\\":[1,\\\"b\\\",null],\\\"k\\\\\\\"\\\":2.5}\""),
    OK("{{ json('x') }}", "\"\\\"x\\\"\""),
    OK("{{ json(null) }}", "\"null\""),
    OK("{{ parse_json('{\"a\": [1, 2.5]}').a[1] }}", "2.5"),
    OK("{{ parse_json('3') }}", "3"),
    OK("{{ parse_json(json(trigger.body.tags)) == trigger.body.tags }}", "true"),
    ERR("{{ parse_json('{') }}", 4, "parse_json: "),
    OK("{{ to_number('42') }}", "42"),
    OK("{{ to_number(' -4.5e1 ') }}", "-45.0"),
    OK("{{ to_number('.5') }}", "0.5"),
    OK("{{ to_number(7) }}", "7"),
    OK("{{ to_number(true) }}", "1"),
    OK("{{ to_number('99999999999999999999') }}", "1e20"),
    ERR("{{ to_number('12abc') }}", 4, "to_number: '12abc' is not a number"),
    ERR("{{ to_number('') }}", 4, "is not a number"),
    ERR("{{ to_number('0x10') }}", 4, "is not a number"),
    ERR("{{ to_number('inf') }}", 4, "is not a number"),
    ERR("{{ to_number(null) }}", 4, "to_number expects a string, not null"),
    OK("{{ to_string(42) }}", "\"42\""),
    OK("{{ to_string(null) }}", "\"\""),
    OK("{{ to_string(0.1 + 0.2) }}", "\"0.30000000000000004\""),
    OK("{{ to_string([1, 'a']) }}", "\"[1,\\\"a\\\"]\""),
    OK("{{ to_bool('false') }}", "false"),
    OK("{{ to_bool('0') }}", "false"),
    OK("{{ to_bool('no') }}", "true"),
    OK("{{ to_bool(0) }}", "false"),
    OK("{{ to_bool([]) }}", "true"),
    OK("{{ to_bool(null) }}", "false"),
    OK("{{ type_of(null) }}", "\"null\""),
    OK("{{ type_of(true) }}", "\"boolean\""),
    OK("{{ type_of(1.5) }}", "\"number\""),
    OK("{{ type_of('s') }}", "\"string\""),
    OK("{{ type_of([]) }}", "\"array\""),
    OK("{{ type_of({}) }}", "\"object\""),
    OK("{{ is_empty('') }}", "true"),
    OK("{{ is_empty([]) }}", "true"),
    OK("{{ is_empty({}) }}", "true"),
    OK("{{ is_empty(null) }}", "true"),
    OK("{{ is_empty(0) }}", "false"),
    OK("{{ is_empty(' ') }}", "false"),
    /* objects */
    OK("{{ keys({b: 1, a: 2}) }}", "[\"b\",\"a\"]"),
    OK("{{ values({b: 1, a: [2]}) }}", "[1,[2]]"),
    ERR("{{ keys([1]) }}", 4, "keys expects an object as argument 1, not an array"),
    /* numbers */
    OK("{{ round(2.5) }}", "3"),
    OK("{{ round(-2.5) }}", "-3"),
    OK("{{ round(vars.pi, 2) }}", "3.14"),
    OK("{{ round(1234, -2) }}", "1200"),
    OK("{{ round(7) }}", "7"),
    OK("{{ round(1e300) }}", "1e300"),
    ERR("{{ round(1, 99) }}", 4, "round takes -15 to 15 digits"),
    OK("{{ floor(2.7) }}", "2"),
    OK("{{ floor(-2.5) }}", "-3"),
    OK("{{ ceil(2.1) }}", "3"),
    OK("{{ ceil(5) }}", "5"),
    OK("{{ abs(-3) }}", "3"),
    OK("{{ abs(-3.5) }}", "3.5"),
    OK("{{ abs(vars.small) }}", "9.2233720368547758e18"),
    ERR("{{ abs('1') }}", 4, "abs expects a number as argument 1, not a string"),
    OK("{{ min(3, 1.5, 2) }}", "1.5"),
    OK("{{ max(vars.list) }}", "3"),
    OK("{{ max(4) }}", "4"),
    OK("{{ min([]) }}", "null"),
    ERR("{{ max(1, 'a') }}", 4, "max expects numbers, but item 2 is a string"),
    OK("{{ sum(vars.list) }}", "6"),
    OK("{{ sum([1, 0.5]) }}", "1.5"),
    OK("{{ sum([]) }}", "0"),
    OK("{{ sum([vars.big, 1]) }}", "9.2233720368547758e18"),
    OK("{{ avg([1, 2, 3]) }}", "2"),
    OK("{{ avg([1, 2]) }}", "1.5"),
    OK("{{ avg([]) }}", "null"),
    ERR("{{ sum([1, null]) }}", 4, "sum expects numbers, but item 2 is null"),
    ERR("{{ avg(false) }}", 4, "avg expects an array as argument 1, not a boolean"),
    ERR("{{ avg(['a']) }}", 4, "avg expects numbers, but item 1 is a string"),
    /* arrays */
    OK("{{ first(vars.list) }}", "3"),
    OK("{{ last(vars.list) }}", "2"),
    OK("{{ first([]) }}", "null"),
    OK("{{ slice([1, 2, 3, 4], 1, 3) }}", "[2,3]"),
    OK("{{ slice([1, 2, 3, 4], -2) }}", "[3,4]"),
    OK("{{ slice([1, 2, 3], 2, 1) }}", "[]"),
    OK("{{ slice('héllo', 1, -1) }}", "\"éll\""),
    OK("{{ slice('abc', 5) }}", "\"\""),
    ERR("{{ slice(5, 1) }}", 4, "slice expects an array or a string, not a number"),
    OK("{{ reverse([1, 2, 3]) }}", "[3,2,1]"),
    OK("{{ reverse('aé☃') }}", "\"☃éa\""),
    OK("{{ sort(vars.list) }}", "[1,2,3]"),
    OK("{{ sort([2.5, 1, -3]) }}", "[-3,1,2.5]"),
    OK("{{ sort(vars.words) }}", "[\"a\",\"a\",\"b\",\"c\"]"),
    OK("{{ sort([]) }}", "[]"),
    ERR("{{ sort([1, 'a']) }}", 4,
        "sort expects only numbers or only strings, but item 2 is a string"),
    OK("{{ unique(vars.words) }}", "[\"b\",\"a\",\"c\"]"),
    OK("{{ unique([1, 1.0, 2]) }}", "[1,2]"),
    OK("{{ unique(vars.objs) }}", "[{\"a\":1},{\"a\":2}]"),
    OK("{{ flatten([1, [2, [3]], [], 'a']) }}", "[1,2,[3],\"a\"]"),
    OK("{{ range(3) }}", "[0,1,2]"),
    OK("{{ range(2, 5) }}", "[2,3,4]"),
    OK("{{ range(5, 2) }}", "[]"),
    OK("{{ range(-2) }}", "[]"),
    /* time */
    OK("{{ now() }}", "\"2026-11-28T06:00:00.000Z\""),
    OK("{{ timestamp() }}", "1795845600000"),
    OK("{{ format_time(timestamp(), '%Y-%m-%d %H:%M:%S.%L %j %a %A %b %B %Z %z %%') }}",
       "\"2026-11-28 06:00:00.000 332 Sat Saturday Nov November UTC +0000 %\""),
    OK("{{ format_time(1795845600123, '%H:%M %Z', 'America/New_York') }}", "\"01:00 EST\""),
    OK("{{ format_time(trigger.body.when, '%H:%M %z', 'America/New_York') }}", "\"03:30 -0400\""),
    OK("{{ format_time('2024-03-10T01:59:59-05:00', '%H:%M:%S %Z', 'America/New_York') }}",
       "\"01:59:59 EST\""),
    OK("{{ format_time('2024-06-01', '%d %B %Y', 'Asia/Kolkata') }}", "\"01 June 2024\""),
    OK("{{ format_time(0, '%H:%M %z', 'Asia/Kolkata') }}", "\"05:30 +0530\""),
    OK("{{ format_time(1500.9, '%S.%L') }}", "\"01.500\""),
    OK("{{ format_time(-1, '%Y-%m-%dT%H:%M:%S.%L') }}", "\"1969-12-31T23:59:59.999\""),
    OK("{{ format_time(0, 'plain') }}", "\"plain\""),
    OK("{{ format_time(now(), '%A %d %B %Y, %H:%M %Z', 'Europe/Paris') }}",
       "\"Saturday 28 November 2026, 07:00 CET\""),
    OK("{{ format_time(now(), '%j %a %d %H', 'Pacific/Pago_Pago') }}", "\"331 Fri 27 19\""),
    ERR("{{ format_time(0, '%Q') }}", 4, "format_time: unknown conversion '%Q'"),
    ERR("{{ format_time(0, 'x%') }}", 4, "unknown conversion"),
    ERR("{{ format_time(0, '%H', 'Mars/Olympus') }}", 4, "unknown time zone 'Mars/Olympus'"),
    ERR("{{ format_time('yesterday', '%H') }}", 4, "'yesterday' is not an ISO-8601 date-time"),
    ERR("{{ format_time(1e18, '%H') }}", 4, "outside years 1 to 9999"),
    ERR("{{ format_time(true, '%H') }}", 4, "format_time expects milliseconds since 1970"),
    /* parse-time function errors */
    ERR("{{ lenght('a') }}", 4, "unknown function 'lenght'"),
    ERR("{{ join(trigger.body.tags) }}", 4, "join takes 2 arguments, not 1"),
    ERR("{{ now(1) }}", 4, "now takes 0 arguments, not 1"),
    ERR("{{ substring('a') }}", 4, "substring takes 2 to 3 arguments, not 1"),
    ERR("{{ min() }}", 4, "min takes at least 1 argument, not 0"),
    ERR("{{ join(trigger.body.tags, ',' }}", 32, "expected ')' after the arguments of join"),
    ERR("{{ trigger(1) }}", 4, "unknown function 'trigger'"),
    /* nesting and chaining */
    OK("{{ upper(join(sort(split('c,a,b', ',')), '+')) }}", "\"A+B+C\""),
    OK("{{ length(trim(item.name)) > 3 ? 'long' : 'short' }}", "\"long\""),
    OK("{{ keys(parse_json('{\"x\":1}'))[0] }}", "\"x\""),
};

static void test_functions(void **state) {
  (void)state;
  RUN(function_rows);
}

static void test_format_time_without_tz(void **state) {
  (void)state;
  expr_tmpl *t = NULL;
  expr_error err;
  const char *text = "{{ format_time(0, '%H', 'Europe/Paris') }}";
  assert_int_equal(expr_tmpl_parse(text, strlen(text), NULL, &t, &err), CF_OK);
  expr_env env = {lookup, env_json, NOW_MS, NULL, NULL};
  json_t *out = NULL;
  assert_int_equal(expr_tmpl_eval(t, &env, &out, &err), CF_E_INVALID);
  assert_null(out);
  assert_non_null(strstr(err.message, "'Europe/Paris' is not available here (only UTC is)"));
  expr_tmpl_free(t);
  /* UTC needs no database. */
  text = "{{ format_time(0, '%Y %Z', 'UTC') }}";
  assert_int_equal(expr_tmpl_parse(text, strlen(text), NULL, &t, &err), CF_OK);
  assert_int_equal(expr_tmpl_eval(t, &env, &out, &err), CF_OK);
  assert_string_equal(json_string_value(out), "1970 UTC");
  json_decref(out);
  expr_tmpl_free(t);
}

/* ------------------------------------------------------------------ limits */

static void test_limits(void **state) {
  (void)state;
  char deep[400];
  size_t n = 0;
  n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
  for (int i = 0; i < 70; i++)
    deep[n++] = '(';
  deep[n++] = '1';
  for (int i = 0; i < 70; i++)
    deep[n++] = ')';
  snprintf(deep + n, sizeof deep - n, " }}");
  char chain[800];
  n = (size_t)snprintf(chain, sizeof chain, "{{ 1");
  for (int i = 0; i < 80; i++)
    n += (size_t)snprintf(chain + n, sizeof chain - n, " + 1");
  snprintf(chain + n, sizeof chain - n, " }}");
  char bangs[200];
  n = (size_t)snprintf(bangs, sizeof bangs, "{{ ");
  for (int i = 0; i < 100; i++)
    bangs[n++] = '!';
  snprintf(bangs + n, sizeof bangs - n, "1 }}");
  const row rows[] = {
      ERR_CODE(deep, 0, "nests more than 64 levels deep", CF_E_TOO_LARGE),
      ERR_CODE(chain, 0, "nests more than 64 levels deep", CF_E_TOO_LARGE),
      ERR_CODE(bangs, 0, "nests more than 64 levels deep", CF_E_TOO_LARGE),
      ERR_CODE("{{ range(100000000) }}", 4, "larger than 16777216 bytes", CF_E_TOO_LARGE),
      ERR_CODE("{{ range(-9223372036854775807, 9223372036854775807) }}", 4,
               "larger than 16777216 bytes", CF_E_TOO_LARGE),
      ERR_CODE("{{ length(join(range(1000000), 'xxxxxxxxxxxxxxxxxxxx')) }}", 16,
               "more than 1000000 steps", CF_E_TOO_LARGE),
      ERR_CODE("{{ unique(range(900000)) }}", 4, "more than 1000000 steps", CF_E_TOO_LARGE),
      OK("{{ length(range(1000)) }}", "1000"),
      OK("{{ sum(range(1001)) }}", "500500"),
      /* Linear, not quadratic, in the number of pieces. */
      OK("{{ length(split(join(range(3000), ''), '')) }}", "10890"),
  };
  /* The errors' columns depend on where the limit was found; check the
   * message and code here, the column only for the rows that fix it. */
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    expr_tmpl *t = NULL;
    expr_error err;
    json_t *out = NULL;
    const row *r = &rows[i];
    cf_err rc = expr_tmpl_parse(r->tmpl, strlen(r->tmpl), NULL, &t, &err);
    if (rc == CF_OK) {
      expr_env env = make_env(NULL);
      rc = expr_tmpl_eval(t, &env, &out, &err);
      expr_tmpl_free(t);
    }
    if (r->want) {
      assert_true(run_row(r, NULL));
      json_decref(out);
      continue;
    }
    if (rc != r->code || !strstr(err.message, r->error) || (r->column && err.column != r->column))
      fail_msg("'%.60s': expected %s '%s', got %s column %zu '%s'", r->tmpl, cf_errname(r->code),
               r->error, cf_errname(rc), err.column, err.message);
    assert_null(out);
  }
}

/* Doubling a string stops at the value cap, not in a crash. */
static void test_value_cap(void **state) {
  (void)state;
  expr_limits lim = {0, 0, 0, 1000};
  const row rows[] = {
      OK("{{ length(join(range(50), 'x')) }}", "139"),
      ERR_CODE("{{ join(range(60), 'xxxxxxxxxxxxxxxxxxxx') }}", 4, "larger than 1000 bytes",
               CF_E_TOO_LARGE),
      ERR_CODE("{{ range(63) }}", 4, "larger than 1000 bytes", CF_E_TOO_LARGE),
      ERR_CODE("{{ join(range(60), 'xxxxxxxxxx') + join(range(60), 'xxxxxxxxxx') }}", 34,
               "larger than 1000 bytes", CF_E_TOO_LARGE),
      ERR_CODE("{{ join(range(60), 'xxxxxxxxxx') }}{{ join(range(60), 'xxxxxxxxxx') }}", 39,
               "larger than 1000 bytes", CF_E_TOO_LARGE),
      /* Each value built is measured by itself: its items are shared. */
      OK("{{ length([range(50), range(50)]) }}", "2"),
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    assert_true(run_row(&rows[i], &lim));
}

static void test_step_budget(void **state) {
  (void)state;
  expr_limits lim = {0, 0, 10, 0};
  const char *text = "{{ 1 + 1 + 1 + 1 + 1 + 1 }}"; /* 11 nodes */
  expr_tmpl *t = NULL;
  expr_error err;
  json_t *out = NULL;
  assert_int_equal(expr_tmpl_parse(text, strlen(text), &lim, &t, &err), CF_OK);
  expr_env env = make_env(&lim);
  assert_int_equal(expr_tmpl_eval(t, &env, &out, &err), CF_E_TOO_LARGE);
  assert_non_null(strstr(err.message, "more than 10 steps"));
  lim.max_steps = 11;
  assert_int_equal(expr_tmpl_eval(t, &env, &out, &err), CF_OK);
  assert_int_equal(json_integer_value(out), 6);
  json_decref(out);
  expr_tmpl_free(t);
}

static void test_text_and_depth_limits(void **state) {
  (void)state;
  expr_tmpl *t = NULL;
  expr_error err;
  size_t len = 70000;
  char *big = malloc(len);
  memset(big, 'a', len);
  assert_int_equal(expr_tmpl_parse(big, len, NULL, &t, &err), CF_E_TOO_LARGE);
  assert_null(t);
  assert_non_null(strstr(err.message, "longer than 65536 bytes"));
  expr_limits lim = {len, 0, 0, 0};
  assert_int_equal(expr_tmpl_parse(big, len, &lim, &t, &err), CF_OK);
  assert_true(expr_tmpl_is_constant(t));
  expr_tmpl_free(t);
  /* 10,000 nested brackets: refused at the depth limit, even when the
   * caller asks for far more than is safe. */
  size_t n = 0;
  memcpy(big, "{{ ", 3);
  n = 3;
  for (int i = 0; i < 10000; i++)
    big[n++] = '[';
  lim.max_depth = 1000000;
  assert_int_equal(expr_tmpl_parse(big, n, &lim, &t, &err), CF_E_TOO_LARGE);
  assert_non_null(strstr(err.message, "nests more than 1000 levels"));
  lim.max_depth = 8;
  const char *ok = "{{ [[[[1]]]] }}", *too_deep = "{{ [[[[[[[[1]]]]]]]] }}";
  assert_int_equal(expr_tmpl_parse(ok, strlen(ok), &lim, &t, &err), CF_OK);
  expr_tmpl_free(t);
  assert_int_equal(expr_tmpl_parse(too_deep, strlen(too_deep), &lim, &t, &err), CF_E_TOO_LARGE);
  free(big);
}

/* --------------------------------------------------------------- the rest */

static void test_constant_and_has_template(void **state) {
  (void)state;
  assert_true(expr_text_has_template("a {{ b", 6));
  assert_false(expr_text_has_template("a { { b }}", 10));
  assert_false(expr_text_has_template("{{", 1)); /* length counts */
  expr_tmpl *t = NULL;
  expr_error err;
  assert_int_equal(expr_tmpl_parse("no parts", 8, NULL, &t, &err), CF_OK);
  assert_true(expr_tmpl_is_constant(t));
  expr_tmpl_free(t);
  assert_int_equal(expr_tmpl_parse("{{ 1 }}", 7, NULL, &t, &err), CF_OK);
  assert_false(expr_tmpl_is_constant(t));
  expr_tmpl_free(t);
  /* Text need not end in NUL: only `len` bytes are read. */
  char buf[8] = {'{', '{', '1', '}', '}', '{', '{', 'x'};
  json_t *out = NULL;
  assert_int_equal(expr_tmpl_parse(buf, 5, NULL, &t, &err), CF_OK);
  expr_env env = make_env(NULL);
  assert_int_equal(expr_tmpl_eval(t, &env, &out, &err), CF_OK);
  assert_int_equal(json_integer_value(out), 1);
  json_decref(out);
  expr_tmpl_free(t);
  assert_int_equal(expr_tmpl_parse(buf, 8, NULL, &t, &err), CF_E_INVALID);
  assert_int_equal(err.column, 8); /* x is no root name */
  assert_non_null(strstr(err.message, "unknown name 'x'"));
  expr_tmpl_free(NULL);
}

static void test_truthy(void **state) {
  (void)state;
  json_t *falsy[] = {json_null(), json_false(), json_integer(0), json_real(0.0), json_string("")};
  json_t *truthy[] = {json_true(),      json_integer(-1), json_real(0.5),
                      json_string("0"), json_array(),     json_object()};
  for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++) {
    assert_false(expr_truthy(falsy[i]));
    json_decref(falsy[i]);
  }
  for (size_t i = 0; i < sizeof truthy / sizeof *truthy; i++) {
    assert_true(expr_truthy(truthy[i]));
    json_decref(truthy[i]);
  }
}

typedef struct refs {
  char seen[8][32];
  size_t n, stop_after;
} refs;

static bool collect(void *ctx, const char *id) {
  refs *r = ctx;
  if (r->n < 8)
    snprintf(r->seen[r->n++], 32, "%s", id);
  return r->n != r->stop_after;
}

static void test_node_refs(void **state) {
  (void)state;
  const char *text = "{{ nodes.fetch.json }} {{ nodes[\"my-node\"].ok + nodes[vars.x] }}"
                     " {{ length(nodes.third) }} {{ vars.nodes.no }}";
  expr_tmpl *t = NULL;
  expr_error err;
  assert_int_equal(expr_tmpl_parse(text, strlen(text), NULL, &t, &err), CF_OK);
  refs r = {.stop_after = 99};
  expr_tmpl_node_refs(t, collect, &r);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.seen[0], "fetch");
  assert_string_equal(r.seen[1], "my-node");
  assert_string_equal(r.seen[2], "third");
  refs early = {.stop_after = 1};
  expr_tmpl_node_refs(t, collect, &early);
  assert_int_equal(early.n, 1);
  expr_tmpl_free(t);
}

typedef struct errors {
  char paths[8][96];
  size_t columns[8];
  size_t n;
} errors;

static void on_error(void *ctx, const char *path, const expr_error *e) {
  errors *es = ctx;
  if (es->n < 8) {
    snprintf(es->paths[es->n], sizeof es->paths[0], "%s", path);
    es->columns[es->n++] = e->column;
  }
}

static json_t *load(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, 0, &e);
  if (!v)
    fail_msg("bad test JSON: %s", e.text);
  return v;
}

static void test_json_eval(void **state) {
  (void)state;
  json_t *params = load("{\"url\": \"https://x/{{ item.id }}\", \"count\": \"{{ item.qty }}\","
                        " \"fixed\": 5, \"list\": [\"{{ index }}\", \"b\", {\"deep\": \"{{ "
                        "nodes.fetch.json.status }}\"}],"
                        " \"keys {{ kept }}\": \"{{ vars.n }}\"}");
  expr_json *j = NULL;
  errors es = {0};
  assert_int_equal(expr_json_compile(params, "p", NULL, on_error, &es, &j), CF_OK);
  assert_int_equal(es.n, 0);
  expr_env env = make_env(NULL);
  json_t *out = NULL;
  expr_error err;
  char path[64];
  assert_int_equal(expr_json_eval(j, &env, &out, &err, path, sizeof path), CF_OK);
  json_t *want = load("{\"url\": \"https://x/7\", \"count\": 4, \"fixed\": 5,"
                      " \"list\": [3, \"b\", {\"deep\": 200}], \"keys {{ kept }}\": null}");
  assert_true(json_equal(out, want));
  /* Constant scalars are shared; containers are new. */
  assert_ptr_equal(json_object_get(out, "fixed"), json_object_get(params, "fixed"));
  assert_ptr_not_equal(json_object_get(out, "list"), json_object_get(params, "list"));
  json_decref(want);
  json_decref(out);
  refs r = {.stop_after = 99};
  expr_json_node_refs(j, collect, &r);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.seen[0], "fetch");
  expr_json_free(j);
  json_decref(params);
  expr_json_free(NULL);
}

static void test_json_errors_and_paths(void **state) {
  (void)state;
  json_t *params = load("{\"headers\": {\"Accept\": \"{{ 1 + }}\", \"x-y\": \"{{ nope }}\"},"
                        " \"list\": [1, \"ok {{ 2 }}\", \"{{ (\"], \"w\\\"k\": \"{{ ) }}\"}");
  expr_json *j = NULL;
  errors es = {0};
  assert_int_equal(expr_json_compile(params, "nodes[2].params", NULL, on_error, &es, &j),
                   CF_E_INVALID);
  assert_null(j);
  assert_int_equal(es.n, 4);
  assert_string_equal(es.paths[0], "nodes[2].params.headers.Accept");
  assert_int_equal(es.columns[0], 8);
  assert_string_equal(es.paths[1], "nodes[2].params.headers[\"x-y\"]");
  assert_int_equal(es.columns[1], 4);
  assert_string_equal(es.paths[2], "nodes[2].params.list[2]");
  assert_string_equal(es.paths[3], "nodes[2].params[\"w\\\"k\"]");
  json_decref(params);

  params = load("{\"a\": [0, {\"b\": \"{{ 1 / 0 }}\"}]}");
  assert_int_equal(expr_json_compile(params, NULL, NULL, NULL, NULL, &j), CF_OK);
  expr_env env = make_env(NULL);
  json_t *out = NULL;
  expr_error err;
  char path[64];
  assert_int_equal(expr_json_eval(j, &env, &out, &err, path, sizeof path), CF_E_INVALID);
  assert_null(out);
  assert_string_equal(path, ".a[1].b");
  assert_int_equal(err.column, 6);
  assert_non_null(strstr(err.message, "division by zero"));
  /* A short buffer keeps what fits. */
  char small[4];
  assert_int_equal(expr_json_eval(j, &env, &out, &err, small, sizeof small), CF_E_INVALID);
  assert_string_equal(small, ".a[");
  assert_int_equal(expr_json_eval(j, &env, &out, &err, NULL, 0), CF_E_INVALID);
  expr_json_free(j);
  json_decref(params);

  /* A plain string root and a templated one. */
  json_t *s = json_string("{{ item.id * 2 }}");
  assert_int_equal(expr_json_compile(s, "p", NULL, NULL, NULL, &j), CF_OK);
  assert_int_equal(expr_json_eval(j, &env, &out, &err, NULL, 0), CF_OK);
  assert_int_equal(json_integer_value(out), 14);
  json_decref(out);
  expr_json_free(j);
  json_decref(s);
}

/* Several threads evaluate one compiled template at once. */
typedef struct shared {
  const expr_tmpl *t;
  int failures;
} shared;

static void *evaluate_many(void *arg) {
  shared *s = arg;
  expr_env env = make_env(NULL);
  for (int i = 0; i < 200; i++) {
    json_t *out = NULL;
    expr_error err;
    if (expr_tmpl_eval(s->t, &env, &out, &err) != CF_OK ||
        strcmp(json_string_value(out), "Ada-6-[1,2,3]") != 0)
      __atomic_add_fetch(&s->failures, 1, __ATOMIC_RELAXED);
    json_decref(out);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  const char *text = "{{ trigger.body.name }}-{{ sum(vars.list) }}-{{ sort(vars.list) }}";
  expr_tmpl *t = NULL;
  expr_error err;
  assert_int_equal(expr_tmpl_parse(text, strlen(text), NULL, &t, &err), CF_OK);
  shared s = {t, 0};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, evaluate_many, &s), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(s.failures, 0);
  expr_tmpl_free(t);
}

static void test_no_env(void **state) {
  (void)state;
  expr_tmpl *t = NULL;
  expr_error err;
  json_t *out = NULL;
  const char *text = "{{ trigger.x ?? timestamp() }}";
  assert_int_equal(expr_tmpl_parse(text, strlen(text), NULL, &t, &err), CF_OK);
  assert_int_equal(expr_tmpl_eval(t, NULL, &out, &err), CF_OK);
  assert_int_equal(json_integer_value(out), 0);
  json_decref(out);
  expr_tmpl_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_templates),
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_operators),
      cmocka_unit_test(test_functions),
      cmocka_unit_test(test_format_time_without_tz),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_value_cap),
      cmocka_unit_test(test_step_budget),
      cmocka_unit_test(test_text_and_depth_limits),
      cmocka_unit_test(test_constant_and_has_template),
      cmocka_unit_test(test_truthy),
      cmocka_unit_test(test_node_refs),
      cmocka_unit_test(test_json_eval),
      cmocka_unit_test(test_json_errors_and_paths),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_no_env),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
