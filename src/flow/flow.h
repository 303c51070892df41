/*
 * flow.h — the workflow definition: a JSON document of nodes and edges
 * (docs/workflow-format.md), parsed, validated and compiled into an
 * immutable graph the engine walks. Pure: no I/O.
 *
 * Validation reports every problem it finds, each with a JSON path
 * ("nodes[3].params.url: required"), not just the first. A flow that
 * parsed is valid: the engine may rely on every invariant below.
 *
 * Invariants of a parsed flow:
 *  - exactly one trigger node, with no incoming edge; every node reachable
 *    from it; no cycles;
 *  - edge labels fit their source: a condition's edges are `true`/`false`
 *    (or `error`); a loop's are `each`/`done` (or `error`); other nodes'
 *    edges are unlabelled (or `error`);
 *  - a loop's body is the set of nodes reachable from its `each` edges;
 *    nodes of a body lead only to nodes of the same body (and are reached
 *    only from the loop's `each` edges or from the same body); a body may
 *    hold loops of its own, up to FLOW_MAX_LOOP_DEPTH levels;
 *  - every string parameter compiled as a template; `nodes.ID` references
 *    name existing nodes.
 *
 * A parsed flow is immutable and may be shared between threads.
 */
#ifndef CF_FLOW_FLOW_H
#define CF_FLOW_FLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "expr/expr.h"

#define FLOW_MAX_LOOP_DEPTH 3

typedef enum flow_node_type {
  FLOW_TRIGGER,
  FLOW_ACTION,
  FLOW_CONDITION,
  FLOW_TRANSFORM,
  FLOW_LOOP,
} flow_node_type;

/* "trigger", "action", ...; NULL for an unknown value. */
const char *flow_node_type_name(flow_node_type t);

typedef enum flow_when {
  FLOW_WHEN_ALWAYS, /* no label: followed when the node succeeds */
  FLOW_WHEN_TRUE,
  FLOW_WHEN_FALSE,
  FLOW_WHEN_EACH,
  FLOW_WHEN_DONE,
  FLOW_WHEN_ERROR, /* followed when the node failed for good */
} flow_when;

/* "", "true", "false", "each", "done", "error". */
const char *flow_when_name(flow_when w);

typedef enum flow_on_error {
  FLOW_ON_ERROR_FAIL,     /* default: the execution fails (unless an error edge) */
  FLOW_ON_ERROR_CONTINUE, /* the node's output becomes {"error": "..."}; go on */
} flow_on_error;

typedef struct flow_retry {
  int max_attempts;       /* >= 1; 1 = no retry */
  int64_t backoff_ms;     /* first delay */
  int64_t backoff_max_ms; /* cap */
  bool jitter;            /* equal jitter (half to full delay) */
} flow_retry;

typedef struct flow_edge {
  int from, to; /* node indexes */
  flow_when when;
} flow_edge;

typedef struct flow_node {
  char *id;
  char *name; /* "" when not given */
  flow_node_type type;
  char *action;        /* FLOW_ACTION: the action's name; else NULL */
  json_t *params;      /* the raw params object (never NULL; {} when absent) */
  expr_json *compiled; /* params compiled as templates */
  flow_retry retry;
  int64_t timeout_ms; /* 0 = none */
  flow_on_error on_error;
  bool disabled;   /* "disabled": true — passed through without running */
  int *out, n_out; /* edge indexes leaving this node, in document order */
  int *in, n_in;   /* edge indexes entering it */
  int loop;        /* index of the loop whose body holds it, -1 = top level */
  int depth;       /* loops around it: 0 at top level */
  /* FLOW_LOOP only: the body's nodes that have no edge leaving them (the
   * iteration's result is taken from them), as node indexes in document
   * order. Only nodes directly in this body count (node.loop == this
   * loop): a nested loop is a sink when nothing follows its `done`. */
  int *body_sinks, n_body_sinks;
} flow_node;

typedef struct flow {
  /* description: "" when not given */
  char *name, *description;
  json_t *vars;       /* object, never NULL */
  json_t *settings;   /* object, never NULL */
  int64_t timeout_ms; /* settings.timeout_ms; 0 = none */
  flow_node *nodes;
  int n_nodes;
  flow_edge *edges;
  int n_edges;
  int trigger; /* index of the trigger node */
  int *order;  /* node indexes in a topological order */
  json_t *doc; /* the whole definition as parsed */
} flow;

/* Limits on a definition. Zero fields take the defaults. */
typedef struct flow_limits {
  size_t max_bytes;   /* 0 = 1 MiB */
  int max_nodes;      /* 0 = 500 */
  int max_edges;      /* 0 = 2000 */
  int max_json_depth; /* nesting of the JSON document; 0 = 32 */
  const expr_limits *expr;
} flow_limits;

/* One problem: where (a JSON path) and what. */
typedef struct flow_problem {
  char path[160];
  char message[240];
} flow_problem;

#define FLOW_MAX_PROBLEMS 100

typedef struct flow_problems {
  flow_problem items[FLOW_MAX_PROBLEMS];
  int count;
  bool truncated; /* more than FLOW_MAX_PROBLEMS were found */
} flow_problems;

/* Adds a problem; printf-style message. Safe past the cap (sets truncated). */
void flow_problem_add(flow_problems *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * What the validator knows about an action: its name, the params it
 * requires (NULL-terminated list, may be NULL), and an optional check of
 * its params (literal values only; templated strings are not known until
 * run time). `path` is the params' JSON path ("nodes[3].params").
 */
typedef struct flow_action_spec {
  const char *name;
  const char *const *required;
  void (*check)(const json_t *params, const char *path, flow_problems *problems);
} flow_action_spec;

/*
 * Parses and validates a definition of `len` bytes. On success *out is the
 * compiled flow (caller owns; flow_free). On CF_E_INVALID (or
 * CF_E_TOO_LARGE for a definition over the limits) *out is NULL and
 * `problems` (must not be NULL) lists what is wrong. CF_E_NOMEM.
 */
CF_MUST_CHECK cf_err flow_parse(const char *json, size_t len, const flow_limits *lim,
                                const flow_action_spec *actions, size_t n_actions, flow **out,
                                flow_problems *problems);
void flow_free(flow *f);

/* The index of the node with this id, or -1. */
int flow_node_index(const flow *f, const char *id);

/* Formats problems as "path: message" lines into buf (always terminated). */
void flow_problems_format(const flow_problems *p, char *buf, size_t cap);

#endif
