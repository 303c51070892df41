/*
 * support.h — shared by tests/unit/test_flow.c and fuzz/fuzz_flow.c: the
 * action specs the tests validate against (the shapes of http_request,
 * log_message and sleep), and a check of every invariant flow.h promises
 * of a parsed flow, written independently of src/flow/.
 *
 * Header-only (static functions): each binary includes it once.
 */
#ifndef CF_TESTS_FLOW_SUPPORT_H
#define CF_TESTS_FLOW_SUPPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"

/* ------------------------------------------------------------ actions */

static bool support_literal(const json_t *v) {
  return v && !(json_is_string(v) && strstr(json_string_value(v), "{{"));
}

static void support_problem(flow_problems *p, const char *path, const char *key, const char *msg) {
  char where[160];
  snprintf(where, sizeof where, "%s.%s", path, key);
  flow_problem_add(p, where, "%s", msg);
}

static void check_http_request(const json_t *params, const char *path, flow_problems *p) {
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
  const json_t *method = json_object_get(params, "method");
  if (support_literal(method)) {
    bool ok = false;
    for (size_t i = 0; i < sizeof methods / sizeof *methods && json_is_string(method); i++)
      ok = ok || strcmp(json_string_value(method), methods[i]) == 0;
    if (!ok)
      support_problem(p, path, "method", "must be GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS");
  }
  const json_t *headers = json_object_get(params, "headers");
  if (support_literal(headers) && !json_is_object(headers))
    support_problem(p, path, "headers", "must be an object of names and values");
}

static void check_log_message(const json_t *params, const char *path, flow_problems *p) {
  const json_t *level = json_object_get(params, "level");
  if (!support_literal(level))
    return;
  const char *s = json_string_value(level);
  if (!s || (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") && strcmp(s, "error")))
    support_problem(p, path, "level", "must be debug, info, warn or error");
}

static void check_sleep(const json_t *params, const char *path, flow_problems *p) {
  const json_t *d = json_object_get(params, "duration_ms");
  if (!support_literal(d) || json_is_null(d))
    return;
  if (!json_is_integer(d) || json_integer_value(d) < 0 ||
      json_integer_value(d) > 24LL * 3600 * 1000)
    support_problem(p, path, "duration_ms", "must be an integer from 0 to 86400000");
}

static const char *const http_required[] = {"url", NULL};
static const char *const log_required[] = {"message", NULL};
static const char *const sleep_required[] = {"duration_ms", NULL};

static const flow_action_spec support_actions[] = {
    {"http_request", http_required, check_http_request},
    {"log_message", log_required, check_log_message},
    {"sleep", sleep_required, check_sleep},
};
#define SUPPORT_N_ACTIONS (sizeof support_actions / sizeof *support_actions)

/* ------------------------------------------------------------ invariants */

/* Says why an invariant does not hold (into why) and returns false. */
__attribute__((format(printf, 3, 4))) static bool support_broken(char *why, size_t cap,
                                                                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return false;
}

static bool support_label_fits(flow_node_type t, flow_when w) {
  if (w == FLOW_WHEN_ERROR)
    return true;
  if (t == FLOW_CONDITION)
    return w == FLOW_WHEN_TRUE || w == FLOW_WHEN_FALSE;
  if (t == FLOW_LOOP)
    return w == FLOW_WHEN_EACH || w == FLOW_WHEN_DONE;
  return w == FLOW_WHEN_ALWAYS;
}

/* The edges of node v in one direction are exactly those naming it, in
 * document order. */
static bool support_edge_list(const flow *f, int v, const int *list, int n, bool out) {
  int at = 0;
  for (int k = 0; k < f->n_edges; k++)
    if ((out ? f->edges[k].from : f->edges[k].to) == v) {
      if (at >= n || list[at] != k)
        return false;
      at++;
    }
  return at == n;
}

static bool support_node_ok(const flow *f, int i, char *why, size_t cap) {
  const flow_node *n = &f->nodes[i];
  size_t len = n->id ? strlen(n->id) : 0;
  if (len < 1 || len > 64 ||
      strspn(n->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_-") != len)
    return support_broken(why, cap, "nodes[%d]: bad id", i);
  if (flow_node_index(f, n->id) != i)
    return support_broken(why, cap, "nodes[%d]: id '%s' is not unique", i, n->id);
  if (!n->name || !flow_node_type_name(n->type) || (n->type == FLOW_ACTION) != (n->action != NULL))
    return support_broken(why, cap, "nodes[%d]: name, type or action", i);
  if (!json_is_object(n->params) || !n->compiled)
    return support_broken(why, cap, "nodes[%d]: params not an object or not compiled", i);
  if (n->retry.max_attempts < 1 || n->retry.max_attempts > 100 || n->retry.backoff_ms < 0 ||
      n->retry.backoff_max_ms < n->retry.backoff_ms || n->timeout_ms < 0)
    return support_broken(why, cap, "nodes[%d]: retry or timeout out of range", i);
  if (!support_edge_list(f, i, n->out, n->n_out, true) ||
      !support_edge_list(f, i, n->in, n->n_in, false))
    return support_broken(why, cap, "nodes[%d]: in/out lists disagree with the edges", i);
  if (n->loop < -1 || n->loop >= f->n_nodes ||
      (n->loop >= 0 && f->nodes[n->loop].type != FLOW_LOOP))
    return support_broken(why, cap, "nodes[%d]: loop is not a loop node", i);
  int expect_depth = n->loop < 0 ? 0 : f->nodes[n->loop].depth + 1;
  if (n->depth != expect_depth || n->depth > FLOW_MAX_LOOP_DEPTH)
    return support_broken(why, cap, "nodes[%d]: depth %d", i, n->depth);
  if (n->type != FLOW_LOOP && n->n_body_sinks != 0)
    return support_broken(why, cap, "nodes[%d]: sinks on a node that is not a loop", i);
  return true;
}

/* Sinks of loop L: body nodes at L's own level with no edge to that level. */
static bool support_sinks_ok(const flow *f, int L, char *why, size_t cap) {
  int at = 0;
  for (int v = 0; v < f->n_nodes; v++) {
    if (f->nodes[v].loop != L)
      continue;
    bool sink = true;
    for (int a = 0; a < f->nodes[v].n_out; a++)
      sink = sink && f->nodes[f->edges[f->nodes[v].out[a]].to].loop != L;
    if (!sink)
      continue;
    if (at >= f->nodes[L].n_body_sinks || f->nodes[L].body_sinks[at] != v)
      return support_broken(why, cap, "nodes[%d]: body_sinks lack nodes[%d]", L, v);
    at++;
  }
  if (at != f->nodes[L].n_body_sinks || at == 0)
    return support_broken(why, cap, "nodes[%d]: %d sinks, expected %d", L, f->nodes[L].n_body_sinks,
                          at);
  return true;
}

/* Every invariant of flow.h; false with the reason in why. */
static bool support_invariants(const flow *f, char *why, size_t cap) {
  if (!f || !f->name || !f->name[0] || !f->description || !json_is_object(f->vars) ||
      !json_is_object(f->settings) || !json_is_object(f->doc) || f->timeout_ms < 0)
    return support_broken(why, cap, "top-level fields");
  if (f->n_nodes < 1 || f->trigger < 0 || f->trigger >= f->n_nodes ||
      f->nodes[f->trigger].type != FLOW_TRIGGER || f->nodes[f->trigger].n_in != 0)
    return support_broken(why, cap, "the trigger");
  int *pos = malloc((size_t)f->n_nodes * sizeof *pos);
  int *queue = malloc((size_t)f->n_nodes * sizeof *queue);
  bool ok = pos && queue;
  for (int i = 0; ok && i < f->n_nodes; i++) {
    pos[i] = -1;
    ok = support_node_ok(f, i, why, cap);
    if (ok && f->nodes[i].type == FLOW_TRIGGER && i != f->trigger)
      ok = support_broken(why, cap, "nodes[%d]: a second trigger", i);
  }
  for (int k = 0; ok && k < f->n_nodes; k++) {
    int v = f->order[k];
    if (v < 0 || v >= f->n_nodes || pos[v] >= 0)
      ok = support_broken(why, cap, "order is not a permutation");
    else
      pos[v] = k;
  }
  for (int k = 0; ok && k < f->n_edges; k++) {
    const flow_edge *e = &f->edges[k];
    if (e->from < 0 || e->from >= f->n_nodes || e->to < 0 || e->to >= f->n_nodes)
      ok = support_broken(why, cap, "edges[%d]: ends out of range", k);
    else if (!flow_when_name(e->when) || !support_label_fits(f->nodes[e->from].type, e->when))
      ok = support_broken(why, cap, "edges[%d]: label does not fit", k);
    else if (pos[e->from] >= pos[e->to])
      ok = support_broken(why, cap, "edges[%d]: against the order (a cycle)", k);
    else if (f->nodes[e->to].loop != (e->when == FLOW_WHEN_EACH ? e->from : f->nodes[e->from].loop))
      ok = support_broken(why, cap, "edges[%d]: crosses a loop body's border", k);
    for (int j = 0; ok && j < k; j++)
      if (f->edges[j].from == e->from && f->edges[j].to == e->to && f->edges[j].when == e->when)
        ok = support_broken(why, cap, "edges[%d]: duplicate of edges[%d]", k, j);
  }
  for (int i = 0; ok && i < f->n_nodes; i++)
    if (f->nodes[i].type == FLOW_LOOP) {
      bool each = false;
      for (int a = 0; a < f->nodes[i].n_out; a++)
        each = each || f->edges[f->nodes[i].out[a]].when == FLOW_WHEN_EACH;
      ok = each ? support_sinks_ok(f, i, why, cap)
                : support_broken(why, cap, "nodes[%d]: a loop without each", i);
    }
  if (ok) { /* everything reachable from the trigger */
    int n = 1, seen = 1;
    for (int i = 0; i < f->n_nodes; i++)
      pos[i] = i == f->trigger;
    queue[0] = f->trigger;
    for (int h = 0; h < n; h++)
      for (int a = 0; a < f->nodes[queue[h]].n_out; a++) {
        int v = f->edges[f->nodes[queue[h]].out[a]].to;
        if (!pos[v]) {
          pos[v] = 1;
          queue[n++] = v;
          seen++;
        }
      }
    if (seen != f->n_nodes)
      ok = support_broken(why, cap, "%d of %d nodes reachable", seen, f->n_nodes);
  }
  free(pos);
  free(queue);
  return ok;
}

#endif
