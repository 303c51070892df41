/*
 * flow_int.h — what the parts of the flow module share while one
 * definition is checked: the checker's state, JSON paths and the quoting of
 * user text inside messages.
 *
 * flow.c checks the shape of the document and builds the flow; graph.c
 * checks edges and the graph (cycles, reachability, loop bodies, order);
 * params.c checks each node's params and compiles their templates. Each
 * check reports through the checker and carries on, so that one pass finds
 * every problem. Nothing here does I/O.
 */
#ifndef CF_FLOW_FLOW_INT_H
#define CF_FLOW_FLOW_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "flow/flow.h"

/* A path is as long as a problem's path field; longer ones are cut. */
#define FLOW_PATH_MAX sizeof(((flow_problem *)0)->path)

/* Upper bound of every timeout and backoff in milliseconds: 24 hours. */
#define FLOW_MAX_NODE_MS (24LL * 3600 * 1000)

typedef struct flow_check {
  flow *f;
  const flow_action_spec *actions;
  size_t n_actions;
  const expr_limits *expr_lim;
  flow_problems *problems;
  bool nomem;
  bool too_large; /* a count over its limit: CF_E_TOO_LARGE */
  /* Per node: its flow_node_type, or -1 when missing or unknown. */
  int *type;
  /* Per node: its id as written (borrowed from the document), NULL when
   * the node has no string id. */
  const char **ids;
  /* Node indexes sorted by id, for lookups; only nodes with an id. */
  int *by_id;
  int n_by_id;
  /* Per edge: node indexes (-1 when the id names no node) and label (-1
   * when the label is not one of the known ones). */
  int *from, *to, *when;
} flow_check;

/* The problems found so far. */
static inline int flow_check_count(const flow_check *c) {
  return c->problems->count + (c->problems->truncated ? 1 : 0);
}

/* Node index of an id (the first node that has it), or -1. */
int flow_check_lookup(const flow_check *c, const char *id);

/* " (did you mean 'x'?)" when one of the n words is a likely typo of s,
 * else "". Writes into buf (cap bytes) and returns it. */
const char *flow_suggest(const char *s, const char *const *words, size_t n, char *buf, size_t cap);

/* The same over node ids. */
const char *flow_suggest_node(const flow_check *c, const char *s, char *buf, size_t cap);

/* parent + "[i]". In both path functions buf may be parent itself. */
void flow_path_index(char *buf, const char *parent, size_t i);

/* parent + ".key" (just "key" when parent is empty); keys that are not
 * identifiers (a letter or _, then letters, digits and _) are written
 * ["key"], as expr writes the paths of templates. */
void flow_path_key(char *buf, const char *parent, const char *key);

/* User text made safe to quote in a message: at most about 40 bytes, cut
 * on a character boundary, control characters shown as '?'. */
const char *flow_show(const char *s, char buf[64]);

/* A key for UI or tool metadata, ignored wherever it appears: "x-…", "_…". */
bool flow_is_extension_key(const char *key);

/* Reports every key of obj (at path) that is not among the known ones,
 * nor among the ignored ones, nor (when extensions) an extension key; with
 * a suggestion when one is a likely typo of a known key. */
void flow_only_keys(flow_check *c, const json_t *obj, const char *path, const char *const *known,
                    size_t n_known, const char *const *ignored, size_t n_ignored, bool extensions);

/* A required string field: its value, or NULL after reporting that it is
 * missing (with the text `missing`) or not a string. */
const char *flow_required_string(flow_check *c, const json_t *obj, const char *parent,
                                 const char *key, const char *missing);

/* Checks an optional integer field of obj in [min, max]; the field's path
 * is parent.key. Returns true with *out set when the field is present and
 * valid, false otherwise (absent, or a problem was reported). */
bool flow_check_int(flow_check *c, const json_t *obj, const char *parent, const char *key,
                    int64_t min, int64_t max, int64_t *out);

/* graph.c: edges, labels, cycles, reachability, loop bodies and order. */
void flow_check_graph(flow_check *c, const json_t *edges);

/* params.c: one node's params (by its type and action) and templates. */
void flow_check_params(flow_check *c, int i);

#endif
