/*
 * test_flow.c — workflow definitions through the public API of flow/.
 *
 * Data-driven: every tests/flow/valid/NAME.json must parse, keep every
 * invariant of flow.h (tests/flow/support.h checks them independently) and
 * describe itself exactly as NAME.expect says (order, loops, depths,
 * sinks, labels); every tests/flow/invalid/NAME.json must fail with exactly
 * the problems of NAME.expect. An .expect line of an invalid case is a
 * whole "path: message" line, or "~ text" for a line that contains text;
 * "!TOO_LARGE" as a line expects CF_E_TOO_LARGE instead of CF_E_INVALID.
 * Problems and expected lines pair up one to one, in any order.
 *
 * The rest: limits (size, nesting, counts), the problem list's cap and
 * formatting, and the small public helpers.
 *
 * Run from the top of the tree (scripts/run-tests does).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../flow/support.h"
#include "flow/flow.h"

#define CASES "tests/flow"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *grown = realloc(buf, 2 * cap + 1);
      if (!grown) {
        free(buf);
        buf = NULL;
      }
      buf = grown;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf)
    buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

/* The .json files of a directory, sorted; NULL-terminated. */
static char **list_cases(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    fail_msg("%s: cannot open (run from the top of the tree)", dir);
  char **names = calloc(1024, sizeof *names);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 1023) {
    size_t len = strlen(de->d_name);
    if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0)
      names[n++] = strndup(de->d_name, len - 5);
  }
  closedir(d);
  for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen names */
    for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char *t = names[j];
      names[j] = names[j - 1];
      names[j - 1] = t;
    }
  return names;
}

static void free_names(char **names) {
  for (size_t i = 0; names[i]; i++)
    free(names[i]);
  free(names);
}

static cf_err parse_text(const char *text, size_t len, const flow_limits *lim, flow **f,
                         flow_problems *p) {
  return flow_parse(text, len, lim, support_actions, SUPPORT_N_ACTIONS, f, p);
}

static flow *parse_ok(const char *name, const char *text) {
  flow *f = NULL;
  flow_problems p;
  cf_err rc = parse_text(text, strlen(text), NULL, &f, &p);
  if (rc != CF_OK) {
    char buf[8192];
    flow_problems_format(&p, buf, sizeof buf);
    fail_msg("%s: %s\n%s", name, cf_errname(rc), buf);
  }
  char why[256];
  if (!support_invariants(f, why, sizeof why))
    fail_msg("%s: invariant broken: %s", name, why);
  return f;
}

/* ------------------------------------------------------------ valid cases */

__attribute__((format(printf, 3, 4))) static void append(char **buf, size_t *len, const char *fmt,
                                                         ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  *buf = realloc(*buf, *len + (size_t)n + 1);
  memcpy(*buf + *len, line, (size_t)n + 1);
  *len += (size_t)n;
}

/* What a reader of the .expect file checks: the order, each node's
 * settings and place in loops, each edge with its label. */
static char *describe(const flow *f) {
  char *out = NULL;
  size_t len = 0;
  append(&out, &len, "order:");
  for (int i = 0; i < f->n_nodes; i++)
    append(&out, &len, " %s", f->nodes[f->order[i]].id);
  append(&out, &len, "\n");
  if (f->timeout_ms)
    append(&out, &len, "timeout %lld\n", (long long)f->timeout_ms);
  for (int i = 0; i < f->n_nodes; i++) {
    const flow_node *n = &f->nodes[i];
    append(&out, &len, "node %s %s", n->id, flow_node_type_name(n->type));
    if (n->action)
      append(&out, &len, ":%s", n->action);
    if (n->loop >= 0)
      append(&out, &len, " in=%s depth=%d", f->nodes[n->loop].id, n->depth);
    for (int s = 0; s < n->n_body_sinks; s++)
      append(&out, &len, "%s%s", s ? "," : " sinks=", f->nodes[n->body_sinks[s]].id);
    const flow_retry *r = &n->retry;
    if (r->max_attempts != 1 || r->backoff_ms != 1000 || r->backoff_max_ms != 300000 || !r->jitter)
      append(&out, &len, " retry=%d/%lld/%lld/%s", r->max_attempts, (long long)r->backoff_ms,
             (long long)r->backoff_max_ms, r->jitter ? "jitter" : "exact");
    if (n->timeout_ms)
      append(&out, &len, " timeout=%lld", (long long)n->timeout_ms);
    if (n->on_error == FLOW_ON_ERROR_CONTINUE)
      append(&out, &len, " continue");
    if (n->disabled)
      append(&out, &len, " disabled");
    append(&out, &len, "\n");
  }
  for (int k = 0; k < f->n_edges; k++) {
    const flow_edge *e = &f->edges[k];
    append(&out, &len, "edge %s -> %s%s%s\n", f->nodes[e->from].id, f->nodes[e->to].id,
           e->when ? " " : "", flow_when_name(e->when));
  }
  return out;
}

static void test_valid_cases(void **state) {
  (void)state;
  char **names = list_cases(CASES "/valid");
  int count = 0;
  for (size_t i = 0; names[i]; i++, count++) {
    char path[512];
    snprintf(path, sizeof path, CASES "/valid/%s.json", names[i]);
    char *text = read_file(path, NULL);
    assert_non_null(text);
    flow *f = parse_ok(names[i], text);
    char *got = describe(f);
    snprintf(path, sizeof path, CASES "/valid/%s.expect", names[i]);
    char *want = read_file(path, NULL);
    if (!want)
      fail_msg("%s is missing; the case describes itself as:\n%s", path, got);
    if (strcmp(got, want) != 0)
      fail_msg("%s: described as\n%s\nexpected\n%s", names[i], got, want);
    free(want);
    free(got);
    flow_free(f);
    free(text);
  }
  free_names(names);
  assert_true(count >= 10);
}

/* ------------------------------------------------------------ invalid cases */

static bool line_matches(const char *expect, const char *got) {
  if (expect[0] == '~')
    return strstr(got, expect + 1 + (expect[1] == ' ')) != NULL;
  return strcmp(expect, got) == 0;
}

static void check_invalid_case(const char *name) {
  char path[512], line[512];
  snprintf(path, sizeof path, CASES "/invalid/%s.json", name);
  size_t len;
  char *text = read_file(path, &len);
  assert_non_null(text);
  flow *f = (flow *)1;
  flow_problems p;
  cf_err rc = parse_text(text, len, NULL, &f, &p);
  assert_null(f);
  char all[16384];
  flow_problems_format(&p, all, sizeof all);
  snprintf(path, sizeof path, CASES "/invalid/%s.expect", name);
  char *expect = read_file(path, NULL);
  if (!expect) {
    fprintf(stderr, "%s is missing; the case has these problems:\n%s\n\n", path, all);
    fail_msg("%s is missing", path);
  }
  cf_err want_rc = strstr(expect, "!TOO_LARGE\n") ? CF_E_TOO_LARGE : CF_E_INVALID;
  if (rc != want_rc)
    fail_msg("%s: %s, expected %s\n%s", name, cf_errname(rc), cf_errname(want_rc), all);
  bool used[FLOW_MAX_PROBLEMS] = {false};
  int expected = 0;
  for (char *l = strtok(expect, "\n"); l; l = strtok(NULL, "\n")) {
    if (l[0] == '#' || l[0] == '!' || !l[0])
      continue;
    expected++;
    bool found = false;
    for (int i = 0; i < p.count && !found; i++) {
      snprintf(line, sizeof line, "%s%s%s", p.items[i].path, p.items[i].path[0] ? ": " : "",
               p.items[i].message);
      if (!used[i] && line_matches(l, line))
        found = used[i] = true;
    }
    if (!found)
      fail_msg("%s: no problem matches\n  %s\nproblems:\n%s", name, l, all);
  }
  if (expected != p.count)
    fail_msg("%s: %d problems, expected %d:\n%s", name, p.count, expected, all);
  free(expect);
  free(text);
}

static void test_invalid_cases(void **state) {
  (void)state;
  char **names = list_cases(CASES "/invalid");
  int count = 0;
  for (size_t i = 0; names[i]; i++, count++)
    check_invalid_case(names[i]);
  free_names(names);
  assert_true(count >= 20);
}

/* ------------------------------------------------------------ the example */

/* The example of docs/workflow-format.md, field by field. */
static void test_example_in_detail(void **state) {
  (void)state;
  char *text = read_file(CASES "/valid/github_monitor.json", NULL);
  assert_non_null(text);
  flow *f = parse_ok("github_monitor", text);
  assert_string_equal(f->name, "GitHub activity monitor");
  assert_int_equal(f->timeout_ms, 60000);
  assert_string_equal(json_string_value(json_object_get(f->vars, "base_url")),
                      "https://api.example.com");
  assert_int_equal(f->n_nodes, 7);
  assert_int_equal(f->n_edges, 7);
  assert_int_equal(f->trigger, 0);
  int fetch = flow_node_index(f, "fetch"), each = flow_node_index(f, "each");
  int note = flow_node_index(f, "note"), report = flow_node_index(f, "report");
  assert_int_equal(fetch, 1);
  assert_int_equal(flow_node_index(f, "nope"), -1);
  assert_int_equal(flow_node_index(NULL, "fetch"), -1);
  const flow_node *n = &f->nodes[fetch];
  assert_int_equal(n->type, FLOW_ACTION);
  assert_string_equal(n->action, "http_request");
  assert_int_equal(n->retry.max_attempts, 3);
  assert_int_equal(n->retry.backoff_ms, 500);
  assert_int_equal(n->retry.backoff_max_ms, 300000);
  assert_true(n->retry.jitter);
  assert_int_equal(n->timeout_ms, 10000);
  assert_string_equal(n->name, "");
  assert_null(f->nodes[0].action);
  assert_int_equal(json_object_size(f->nodes[0].params), 0);
  assert_int_equal(f->nodes[note].loop, each);
  assert_int_equal(f->nodes[note].depth, 1);
  assert_int_equal(f->nodes[report].loop, -1);
  assert_int_equal(f->nodes[each].n_body_sinks, 1);
  assert_int_equal(f->nodes[each].body_sinks[0], note);
  assert_int_equal(f->nodes[report].n_in, 2);
  assert_int_equal(f->edges[f->nodes[report].in[0]].when, FLOW_WHEN_FALSE);
  assert_int_equal(f->edges[f->nodes[report].in[1]].when, FLOW_WHEN_DONE);
  assert_ptr_equal(json_object_get(json_object_get(f->doc, "vars"), "base_url"),
                   json_object_get(f->vars, "base_url"));
  flow_free(f);
  free(text);
}

/* ------------------------------------------------------------ limits */

static void expect_problem(const char *text, size_t len, const flow_limits *lim, cf_err rc,
                           const char *path, const char *message) {
  flow *f = NULL;
  flow_problems p;
  cf_err got = parse_text(text, len, lim, &f, &p);
  assert_null(f);
  char all[16384];
  flow_problems_format(&p, all, sizeof all);
  if (got != rc)
    fail_msg("%s, expected %s:\n%s", cf_errname(got), cf_errname(rc), all);
  for (int i = 0; i < p.count; i++)
    if (strcmp(p.items[i].path, path) == 0 && strstr(p.items[i].message, message))
      return;
  fail_msg("no problem '%s: %s' among:\n%s", path, message, all);
}

static void test_size_limit(void **state) {
  (void)state;
  size_t len = 2u << 20;
  char *big = malloc(len);
  memset(big, ' ', len);
  memcpy(big, "{\"name\": \"x\"}", 13);
  expect_problem(big, len, NULL, CF_E_TOO_LARGE, "", "the definition is 2 MB; the limit is 1 MB");
  expect_problem(big, 1100000, NULL, CF_E_TOO_LARGE, "",
                 "the definition is 1100000 bytes; the limit is 1048576 bytes");
  flow_limits lim = {.max_bytes = 1000};
  expect_problem(big, 2500, &lim, CF_E_TOO_LARGE, "",
                 "the definition is 2.4 KB; the limit is 1000 bytes");
  free(big);
}

static void test_nesting_limit(void **state) {
  (void)state;
  /* 10,000 levels inside a param: refused by the scan, not by recursion. */
  size_t depth = 10000, len = 0;
  char *deep = malloc(2 * depth + 256);
  len += (size_t)sprintf(deep, "{\"name\": \"deep\", \"nodes\": [{\"id\": \"t\", \"type\": "
                               "\"trigger\", \"params\": {\"a\": ");
  memset(deep + len, '[', depth);
  len += depth;
  memset(deep + len, ']', depth);
  len += depth;
  len += (size_t)sprintf(deep + len, "}}]}");
  expect_problem(deep, len, NULL, CF_E_TOO_LARGE, "", "more than 32 deep");
  /* Brackets inside strings, escaped quotes included, do not count. */
  char *text = malloc(60000);
  int n = sprintf(text, "{\"name\": \"\\\"[[[[\", \"nodes\": [{\"id\": \"t\", \"type\": "
                        "\"trigger\", \"params\": {\"s\": \"");
  memset(text + n, '[', 50000);
  n += 50000;
  n += sprintf(text + n, "\"}}]}");
  flow *f = parse_ok("brackets in strings", text);
  flow_free(f);
  /* Exactly at the limit parses; the default nesting is 32. */
  flow_limits lim = {.max_json_depth = 8};
  const char *eight = "{\"name\": \"x\", \"nodes\": [{\"id\": \"t\", \"type\": \"trigger\", "
                      "\"params\": {\"a\": [[[{\"b\": [1]}]]]}}]}";
  flow_problems p;
  assert_int_equal(parse_text(eight, strlen(eight), &lim, &f, &p), CF_E_TOO_LARGE);
  lim.max_json_depth = 9;
  assert_int_equal(parse_text(eight, strlen(eight), &lim, &f, &p), CF_OK);
  flow_free(f);
  free(text);
  free(deep);
}

/* n action nodes in a chain after the trigger. */
static char *chain(int n, int extra_edges) {
  size_t cap = 256 + (size_t)(n + extra_edges) * 160;
  char *s = malloc(cap);
  size_t len = (size_t)snprintf(s, cap,
                                "{\"name\": \"chain\", \"nodes\": [{\"id\": \"n0\", "
                                "\"type\": \"trigger\"}");
  for (int i = 1; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len,
                            ", {\"id\": \"n%d\", \"type\": \"action\", \"action\": "
                            "\"log_message\", \"params\": {\"message\": \"{{ index }}\"}}",
                            i);
  len += (size_t)snprintf(s + len, cap - len, "], \"edges\": [");
  for (int i = 1; i < n + extra_edges; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s{\"from\": \"n%d\", \"to\": \"n%d\"%s}",
                            i > 1 ? ", " : "", i < n ? i - 1 : 0, i < n ? i : 1,
                            i < n ? "" : ", \"when\": \"error\"");
  snprintf(s + len, cap - len, "]}");
  return s;
}

static void test_count_limits(void **state) {
  (void)state;
  char *s = chain(500, 0);
  flow *f = parse_ok("500 nodes", s);
  assert_int_equal(f->n_nodes, 500);
  assert_int_equal(f->order[499], 499);
  flow_free(f);
  free(s);
  s = chain(501, 0);
  expect_problem(s, strlen(s), NULL, CF_E_TOO_LARGE, "nodes", "501 nodes; the limit is 500");
  free(s);
  /* 2,001 edges: the chain's 499 and 1,502 more. */
  s = chain(500, 1502);
  expect_problem(s, strlen(s), NULL, CF_E_TOO_LARGE, "edges", "2001 edges; the limit is 2000");
  free(s);
  flow_limits lim = {.max_nodes = 3, .max_edges = 1};
  s = chain(3, 0);
  expect_problem(s, strlen(s), &lim, CF_E_TOO_LARGE, "edges", "2 edges; the limit is 1");
  lim.max_edges = 2;
  flow_problems p;
  assert_int_equal(parse_text(s, strlen(s), &lim, &f, &p), CF_OK);
  flow_free(f);
  free(s);
}

/* ------------------------------------------------------------ problems */

static void test_many_problems_capped(void **state) {
  (void)state;
  /* 300 nodes, each with three problems. */
  size_t cap = 300 * 100 + 200, len = 0;
  char *s = malloc(cap);
  len += (size_t)snprintf(s, cap,
                          "{\"name\": \"\", \"nodes\": [{\"id\": \"t\", \"type\": "
                          "\"trigger\"}");
  for (int i = 0; i < 300; i++)
    len += (size_t)snprintf(s + len, cap - len, ", {\"id\": \"bad id %d\", \"type\": \"act\"}", i);
  snprintf(s + len, cap - len, "]}");
  flow *f = NULL;
  flow_problems p;
  assert_int_equal(parse_text(s, strlen(s), NULL, &f, &p), CF_E_INVALID);
  assert_int_equal(p.count, FLOW_MAX_PROBLEMS);
  assert_true(p.truncated);
  assert_string_equal(p.items[0].path, "name");
  char buf[64 * 1024];
  flow_problems_format(&p, buf, sizeof buf);
  assert_non_null(strstr(buf, "(more problems than the 100 shown)"));
  /* A small buffer is cut and terminated. */
  char small[40];
  memset(small, 'x', sizeof small);
  flow_problems_format(&p, small, sizeof small);
  assert_true(strlen(small) < sizeof small);
  assert_int_equal(strncmp(small, "name: must not be empty", 23), 0);
  flow_problems_format(&p, small, 0);
  free(s);
}

static void test_problem_text(void **state) {
  (void)state;
  flow_problems p = {.count = 0};
  flow_problem_add(&p, "", "whole %s", "document");
  flow_problem_add(&p, NULL, "null path");
  flow_problem_add(&p, "nodes[1].id", "required");
  char buf[256];
  flow_problems_format(&p, buf, sizeof buf);
  assert_string_equal(buf, "whole document\nnull path\nnodes[1].id: required");
  /* Cut messages end on a whole UTF-8 character. */
  char arrows[1024] = "";
  for (int i = 0; i < 200; i++)
    strcat(arrows, "\xE2\x86\x92");
  flow_problem_add(&p, arrows, "%s", arrows);
  const flow_problem *last = &p.items[3];
  assert_int_equal(strlen(last->path) % 3, 0);
  assert_int_equal(strlen(last->message) % 3, 0);
  assert_true(strlen(last->message) >= sizeof last->message - 3);
  json_t *j = json_string(last->message);
  assert_non_null(j); /* valid UTF-8 */
  json_decref(j);
  flow_problems_format(&p, buf, 100);
  j = json_string(buf);
  assert_non_null(j);
  json_decref(j);
}

static void test_names_and_null(void **state) {
  (void)state;
  assert_string_equal(flow_node_type_name(FLOW_TRIGGER), "trigger");
  assert_string_equal(flow_node_type_name(FLOW_LOOP), "loop");
  assert_null(flow_node_type_name((flow_node_type)99));
  assert_string_equal(flow_when_name(FLOW_WHEN_ALWAYS), "");
  assert_string_equal(flow_when_name(FLOW_WHEN_ERROR), "error");
  assert_null(flow_when_name((flow_when)-1));
  flow_free(NULL);
  flow *f = (flow *)1;
  flow_problems p;
  assert_int_equal(flow_parse(NULL, 5, NULL, NULL, 0, &f, &p), CF_E_INVALID);
  assert_null(f);
  assert_int_equal(p.count, 1);
  assert_int_equal(flow_parse("{}", 2, NULL, NULL, 0, &f, NULL), CF_E_INVALID);
  /* Without any action spec, every action is unknown. */
  const char *text = "{\"name\": \"n\", \"nodes\": [{\"id\": \"t\", \"type\": \"trigger\"}, "
                     "{\"id\": \"a\", \"type\": \"action\", \"action\": \"sleep\"}], "
                     "\"edges\": [{\"from\": \"t\", \"to\": \"a\"}]}";
  assert_int_equal(flow_parse(text, strlen(text), NULL, NULL, 0, &f, &p), CF_E_INVALID);
  assert_int_equal(p.count, 1);
  assert_string_equal(p.items[0].message, "unknown action 'sleep' (known: none)");
}

/* Parsing is a pure function of the bytes: the same problems twice, and a
 * parsed flow may be parsed again from its own document. */
static void test_deterministic(void **state) {
  (void)state;
  char *text = read_file(CASES "/invalid/many_at_once.json", NULL);
  assert_non_null(text);
  flow_problems a, b;
  flow *f;
  assert_int_equal(parse_text(text, strlen(text), NULL, &f, &a), CF_E_INVALID);
  assert_int_equal(parse_text(text, strlen(text), NULL, &f, &b), CF_E_INVALID);
  assert_int_equal(a.count, b.count);
  for (int i = 0; i < a.count; i++) {
    assert_string_equal(a.items[i].path, b.items[i].path);
    assert_string_equal(a.items[i].message, b.items[i].message);
  }
  free(text);
  text = read_file(CASES "/valid/github_monitor.json", NULL);
  f = parse_ok("github_monitor", text);
  char *again = json_dumps(f->doc, JSON_COMPACT);
  flow *g = parse_ok("github_monitor again", again);
  assert_int_equal(g->n_nodes, f->n_nodes);
  flow_free(g);
  flow_free(f);
  free(again);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_cases),          cmocka_unit_test(test_invalid_cases),
      cmocka_unit_test(test_example_in_detail),    cmocka_unit_test(test_size_limit),
      cmocka_unit_test(test_nesting_limit),        cmocka_unit_test(test_count_limits),
      cmocka_unit_test(test_many_problems_capped), cmocka_unit_test(test_problem_text),
      cmocka_unit_test(test_names_and_null),       cmocka_unit_test(test_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
