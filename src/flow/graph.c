/*
 * graph.c — the edges of a definition and the graph they make: labels that
 * fit their source, one trigger with nothing entering it, no cycles, every
 * node reachable, loop bodies closed, loops nested at most
 * FLOW_MAX_LOOP_DEPTH deep, and a topological order.
 *
 * Checks that need a whole graph (reachability, bodies, order) run only
 * when the nodes and edges are sound (every id known and unique, every
 * type known, one trigger, every edge resolved); otherwise their findings
 * would be echoes of the problems already reported. Cycles are looked for
 * on whatever edges resolved, since a cycle found there is real.
 *
 * Loop bodies: the body of loop L is what its `each` edges reach, following
 * every edge of the nodes reached. A node of it that is also entered from
 * outside (other than by L's `each` edges) is not body; the edges from the
 * body to such nodes are the ones reported ("leads out of the body"), or,
 * when nothing from the body leads there, the edge entering from outside.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_int.h"

static const char *const edge_keys[] = {"from", "to", "when"};
static const char *const labels[] = {"", "true", "false", "each", "done", "error"};
#define N_LABELS (int)(sizeof labels / sizeof *labels)

/* Edges by node, as compressed lists of edge indexes in document order:
 * out_list[out_start[v] .. out_start[v + 1]) leave v; likewise in_. */
typedef struct graph {
  int n;
  int *out_start, *out_list;
  int *in_start, *in_list;
} graph;

static int resolve_end(flow_check *c, const json_t *edge, const char *parent, const char *key) {
  const char *id = flow_required_string(c, edge, parent, key, "required: a node id");
  if (!id)
    return -1;
  char path[FLOW_PATH_MAX], shown[64], hint[64];
  flow_path_key(path, parent, key);
  int i = flow_check_lookup(c, id);
  if (i < 0)
    flow_problem_add(c->problems, path, "no node '%s'%s", flow_show(id, shown),
                     flow_suggest_node(c, id, hint, sizeof hint));
  return i;
}

static int resolve_when(flow_check *c, const json_t *edge, const char *parent) {
  const json_t *v = json_object_get(edge, "when");
  if (!v)
    return FLOW_WHEN_ALWAYS;
  char path[FLOW_PATH_MAX], shown[64];
  flow_path_key(path, parent, "when");
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    for (int w = 0; w < N_LABELS; w++)
      if (strcmp(s, labels[w]) == 0)
        return w;
    flow_problem_add(c->problems, path,
                     "unknown label '%s' (known: true, false, each, done, error, or none)",
                     flow_show(s, shown));
    return -1;
  }
  flow_problem_add(c->problems, path, "must be a string: true, false, each, done or error");
  return -1;
}

static void check_edge_shape(flow_check *c, int k, const json_t *edge) {
  char path[FLOW_PATH_MAX];
  flow_path_index(path, "edges", (size_t)k);
  if (!json_is_object(edge)) {
    flow_problem_add(c->problems, path,
                     "an edge is an object like {\"from\": \"a\", \"to\": \"b\"}");
    return;
  }
  flow_only_keys(c, edge, path, edge_keys, sizeof edge_keys / sizeof *edge_keys, NULL, 0, false);
  c->from[k] = resolve_end(c, edge, path, "from");
  c->to[k] = resolve_end(c, edge, path, "to");
  c->when[k] = resolve_when(c, edge, path);
}

/* The label fits the kind of node the edge leaves. */
static void check_label(flow_check *c, int k) {
  int from = c->from[k], when = c->when[k], type = from >= 0 ? c->type[from] : -1;
  if (type < 0 || when < 0 || when == FLOW_WHEN_ERROR)
    return;
  char path[FLOW_PATH_MAX], shown[64];
  flow_path_index(path, "edges", (size_t)k);
  const char *id = flow_show(c->ids[from], shown);
  if (type == FLOW_CONDITION && (when == FLOW_WHEN_TRUE || when == FLOW_WHEN_FALSE))
    return;
  if (type == FLOW_LOOP && (when == FLOW_WHEN_EACH || when == FLOW_WHEN_DONE))
    return;
  if (type != FLOW_CONDITION && type != FLOW_LOOP && when == FLOW_WHEN_ALWAYS)
    return;
  if (when == FLOW_WHEN_ALWAYS) {
    if (type == FLOW_CONDITION)
      flow_problem_add(c->problems, path,
                       "an edge leaving condition '%s' needs \"when\": \"true\" or \"false\" "
                       "(or \"error\")",
                       id);
    else
      flow_problem_add(c->problems, path,
                       "an edge leaving loop '%s' needs \"when\": \"each\" (into its body) or "
                       "\"done\" (after it), or \"error\"",
                       id);
    return;
  }
  flow_path_key(path, path, "when");
  const char *fits = type == FLOW_CONDITION ? "\"true\", \"false\" or \"error\""
                     : type == FLOW_LOOP    ? "\"each\", \"done\" or \"error\""
                                            : "unlabelled (or \"error\")";
  flow_problem_add(c->problems, path, "'%s' does not fit %s '%s': its edges are %s", labels[when],
                   flow_node_type_name((flow_node_type)type), id, fits);
}

static bool build_graph(graph *g, const flow_check *c) {
  int n = c->f->n_nodes, m = c->f->n_edges;
  g->n = n;
  g->out_start = calloc((size_t)n + 1, sizeof *g->out_start);
  g->in_start = calloc((size_t)n + 1, sizeof *g->in_start);
  g->out_list = malloc(((size_t)m + 1) * sizeof *g->out_list);
  g->in_list = malloc(((size_t)m + 1) * sizeof *g->in_list);
  int *fill = calloc((size_t)n + 1, sizeof *fill);
  if (!g->out_start || !g->in_start || !g->out_list || !g->in_list || !fill) {
    free(fill);
    return false;
  }
  for (int k = 0; k < m; k++)
    if (c->from[k] >= 0 && c->to[k] >= 0) {
      g->out_start[c->from[k] + 1]++;
      g->in_start[c->to[k] + 1]++;
    }
  for (int v = 0; v < n; v++) {
    g->out_start[v + 1] += g->out_start[v];
    g->in_start[v + 1] += g->in_start[v];
  }
  for (int k = 0; k < m; k++)
    if (c->from[k] >= 0 && c->to[k] >= 0)
      g->out_list[g->out_start[c->from[k]] + fill[c->from[k]]++] = k;
  memset(fill, 0, ((size_t)n + 1) * sizeof *fill);
  for (int k = 0; k < m; k++)
    if (c->from[k] >= 0 && c->to[k] >= 0)
      g->in_list[g->in_start[c->to[k]] + fill[c->to[k]]++] = k;
  free(fill);
  return true;
}

static void free_graph(graph *g) {
  free(g->out_start);
  free(g->out_list);
  free(g->in_start);
  free(g->in_list);
}

/* Same (from, to, when) twice; the trigger entered; a loop without `each`. */
static void check_edge_set(flow_check *c, const graph *g) {
  char path[FLOW_PATH_MAX], shown[64];
  for (int v = 0; v < g->n; v++) {
    bool has_each = false;
    for (int a = g->out_start[v]; a < g->out_start[v + 1]; a++) {
      int k = g->out_list[a];
      has_each = has_each || c->when[k] == FLOW_WHEN_EACH;
      for (int b = g->out_start[v]; b < a; b++) {
        int j = g->out_list[b];
        if (c->to[j] == c->to[k] && c->when[j] == c->when[k] && c->when[k] >= 0) {
          flow_path_index(path, "edges", (size_t)k);
          flow_problem_add(c->problems, path, "duplicate of edges[%d]", j);
          break;
        }
      }
    }
    if (c->type[v] == FLOW_LOOP && !has_each) {
      flow_path_index(path, "nodes", (size_t)v);
      flow_problem_add(c->problems, path,
                       "loop '%s' has no \"each\" edge, so its body would never run",
                       flow_show(c->ids[v] ? c->ids[v] : "", shown));
    }
    if (c->type[v] == FLOW_TRIGGER)
      for (int a = g->in_start[v]; a < g->in_start[v + 1]; a++) {
        flow_path_index(path, "edges", (size_t)g->in_list[a]);
        flow_path_key(path, path, "to");
        flow_problem_add(c->problems, path, "the trigger '%s' cannot have incoming edges",
                         flow_show(c->ids[v], shown));
      }
  }
}

/* "a → b → a" for the back edge k that closes the cycle stack[p..top]. */
static void report_cycle(flow_check *c, int k, const int *stack, int top, int v) {
  int p = top;
  while (p > 0 && stack[p] != v)
    p--;
  char chain[200] = "", shown[64], path[FLOW_PATH_MAX];
  size_t used = 0;
  bool cut = false;
  for (int i = p; i <= top + 1 && !cut; i++) {
    const char *id = flow_show(c->ids[i <= top ? stack[i] : v], shown);
    size_t need = strlen(id) + 5;
    if (used + need + 8 >= sizeof chain) {
      id = "\xE2\x80\xA6";
      cut = true;
    }
    int w = snprintf(chain + used, sizeof chain - used, "%s%s", i > p ? " \xE2\x86\x92 " : "", id);
    used += w > 0 ? (size_t)w : 0;
  }
  flow_path_index(path, "edges", (size_t)k);
  flow_problem_add(c->problems, path, "makes a cycle %s", chain);
}

/* Depth-first from the trigger, then from each node in document order;
 * every edge to a node still on the stack closes a cycle. */
static bool check_cycles(flow_check *c, const graph *g) {
  int n = g->n;
  unsigned char *color = calloc((size_t)n + 1, 1);
  int *stack = malloc(((size_t)n + 1) * sizeof *stack);
  int *next = malloc(((size_t)n + 1) * sizeof *next);
  bool cyclic = false;
  if (!color || !stack || !next) {
    c->nomem = true;
    n = 0;
  }
  for (int r = -1; r < n; r++) {
    int root = r < 0 ? c->f->trigger : r;
    if (root < 0 || color[root])
      continue;
    int top = 0;
    stack[0] = root;
    next[root] = g->out_start[root];
    color[root] = 1;
    while (top >= 0) {
      int u = stack[top];
      if (next[u] == g->out_start[u + 1]) {
        color[u] = 2;
        top--;
        continue;
      }
      int k = g->out_list[next[u]++], v = c->to[k];
      if (color[v] == 0) {
        color[v] = 1;
        next[v] = g->out_start[v];
        stack[++top] = v;
      } else if (color[v] == 1) {
        report_cycle(c, k, stack, top, v);
        cyclic = true;
      }
    }
  }
  free(color);
  free(stack);
  free(next);
  return cyclic;
}

/* Breadth-first over every edge from the n_queue nodes in queue (marked
 * seen already); marks what it reaches and appends it to queue. Returns
 * the length of the queue. */
static int reach(const flow_check *c, const graph *g, int *queue, int n_queue,
                 unsigned char *seen) {
  for (int head = 0; head < n_queue; head++) {
    int u = queue[head];
    for (int a = g->out_start[u]; a < g->out_start[u + 1]; a++) {
      int v = c->to[g->out_list[a]];
      if (!seen[v]) {
        seen[v] = 1;
        queue[n_queue++] = v;
      }
    }
  }
  return n_queue;
}

/* Unreachable nodes that nothing enters: the others hang off them. */
static void check_reachable(flow_check *c, const graph *g, int *queue, unsigned char *seen) {
  char path[FLOW_PATH_MAX], shown[64], trigger[64];
  memset(seen, 0, (size_t)g->n);
  int roots = 0, first = -1;
  for (int v = 0; v < g->n; v++)
    if (c->type[v] == FLOW_TRIGGER) {
      seen[v] = 1;
      queue[roots++] = v;
      if (first < 0)
        first = v;
    }
  (void)reach(c, g, queue, roots, seen);
  for (int v = 0; v < g->n; v++)
    if (!seen[v] && g->in_start[v] == g->in_start[v + 1]) {
      flow_path_index(path, "nodes", (size_t)v);
      flow_problem_add(c->problems, path,
                       "'%s' is not reachable from the trigger '%s': no edge leads to it",
                       flow_show(c->ids[v], shown), flow_show(c->ids[first], trigger));
    }
}

/* True when some edge into v comes from a node of in_b. */
static bool entered_from(const flow_check *c, const graph *g, int v, const unsigned char *in_b) {
  for (int a = g->in_start[v]; a < g->in_start[v + 1]; a++)
    if (in_b[c->from[g->in_list[a]]])
      return true;
  return false;
}

/* Reports the edges that break the body of loop L: in_c is what its each
 * edges reach, in_b the part of it entered only from inside. A node
 * reached both from the body and from what runs after the loop (its done
 * and error edges onwards) is after the loop: the body's edge to it leads
 * out. A node entered from anywhere else is entered from outside: that
 * edge is the wrong one. Each edge is reported once over all loops. */
static void blame_body(flow_check *c, const graph *g, int L, const unsigned char *in_c,
                       const unsigned char *in_b, unsigned char *blamed) {
  int n = g->n;
  unsigned char *after = calloc((size_t)n + 1, 1);
  int *queue = malloc(((size_t)n + 1) * sizeof *queue);
  if (!after || !queue) {
    c->nomem = true;
    free(after);
    free(queue);
    return;
  }
  int n_queue = 0;
  after[L] = 1;
  for (int a = g->out_start[L]; a < g->out_start[L + 1]; a++) {
    int k = g->out_list[a];
    if (c->when[k] != FLOW_WHEN_EACH && !after[c->to[k]]) {
      after[c->to[k]] = 1;
      queue[n_queue++] = c->to[k];
    }
  }
  (void)reach(c, g, queue, n_queue, after);
  char path[FLOW_PATH_MAX], shown[64];
  const char *loop_id = flow_show(c->ids[L], shown);
  enum { FINE, LEADS_OUT, FROM_OUTSIDE, BACK_IN };
  for (int k = 0; k < c->f->n_edges; k++) {
    int u = c->from[k], v = c->to[k], kind = FINE;
    if (in_b[u] && !in_b[v] && after[v])
      kind = LEADS_OUT;
    else if (in_c[u] || !in_c[v] || (u == L && c->when[k] == FLOW_WHEN_EACH))
      kind = FINE;
    else if (!after[u])
      kind = FROM_OUTSIDE;
    else if (!entered_from(c, g, v, in_b))
      kind = BACK_IN;
    if (kind == FINE || blamed[k])
      continue;
    blamed[k] = 1;
    flow_path_index(path, "edges", (size_t)k);
    if (kind == LEADS_OUT)
      flow_problem_add(c->problems, path,
                       "leads out of the body of loop '%s'; continue after a loop from its "
                       "\"done\" edge",
                       loop_id);
    else if (kind == FROM_OUTSIDE)
      flow_problem_add(c->problems, path,
                       "enters the body of loop '%s' from outside; only the loop's \"each\" "
                       "edges lead into it",
                       loop_id);
    else
      flow_problem_add(c->problems, path,
                       "leads into the body of loop '%s', which only its \"each\" edges enter",
                       loop_id);
  }
  free(after);
  free(queue);
}

/* The body of loop L: its nodes in document order into body (room for 2n
 * entries) and how many, or -1 when it is not closed (problems reported).
 * in_c and in_b are scratch space of n bytes. */
static int loop_body(flow_check *c, const graph *g, int L, int *body, unsigned char *in_c,
                     unsigned char *in_b, unsigned char *blamed) {
  int n = g->n, count = 0;
  memset(in_c, 0, (size_t)n);
  for (int a = g->out_start[L]; a < g->out_start[L + 1]; a++) {
    int k = g->out_list[a];
    if (c->when[k] == FLOW_WHEN_EACH && !in_c[c->to[k]]) {
      in_c[c->to[k]] = 1;
      body[count++] = c->to[k];
    }
  }
  count = reach(c, g, body, count, in_c);
  /* Entered from outside: not body, nor anything it leads to. */
  memcpy(in_b, in_c, (size_t)n);
  int n_out = 0;
  int *out_queue = body + count; /* body has room for 2n entries */
  for (int v = 0; v < n; v++) {
    if (!in_c[v])
      continue;
    for (int a = g->in_start[v]; a < g->in_start[v + 1] && in_b[v]; a++) {
      int k = g->in_list[a], u = c->from[k];
      if (!in_c[u] && !(u == L && c->when[k] == FLOW_WHEN_EACH)) {
        in_b[v] = 0;
        out_queue[n_out++] = v;
      }
    }
  }
  for (int head = 0; head < n_out; head++) {
    int u = out_queue[head];
    for (int a = g->out_start[u]; a < g->out_start[u + 1]; a++) {
      int v = c->to[g->out_list[a]];
      if (in_b[v]) {
        in_b[v] = 0;
        out_queue[n_out++] = v;
      }
    }
  }
  if (n_out == 0) {
    int m = 0;
    for (int v = 0; v < n; v++)
      if (in_c[v])
        body[m++] = v;
    return m;
  }
  blame_body(c, g, L, in_c, in_b, blamed);
  return -1;
}

/* Bodies, then depth (loops around each node), the innermost loop of each
 * node, and each loop's sinks. */
static void check_loops(flow_check *c, const graph *g, unsigned char *in_c, unsigned char *in_b) {
  flow *f = c->f;
  int n = g->n;
  int **bodies = calloc((size_t)n, sizeof *bodies);
  int *sizes = calloc((size_t)n, sizeof *sizes);
  unsigned char *blamed = calloc((size_t)f->n_edges + 1, 1);
  if (!bodies || !sizes || !blamed) {
    c->nomem = true;
    free(bodies);
    free(sizes);
    free(blamed);
    return;
  }
  bool closed = true;
  for (int L = 0; L < n && !c->nomem; L++) {
    if (c->type[L] != FLOW_LOOP)
      continue;
    int *body = malloc(2 * (size_t)n * sizeof *body);
    if (!body) {
      c->nomem = true;
      break;
    }
    sizes[L] = loop_body(c, g, L, body, in_c, in_b, blamed);
    bodies[L] = body;
    closed = closed && sizes[L] >= 0;
  }
  for (int L = 0; L < n && closed && !c->nomem; L++)
    for (int i = 0; i < sizes[L]; i++)
      f->nodes[bodies[L][i]].depth++;
  for (int L = 0; L < n && closed && !c->nomem; L++)
    for (int i = 0; i < sizes[L]; i++) {
      flow_node *v = &f->nodes[bodies[L][i]];
      if (v->loop < 0 || f->nodes[L].depth > f->nodes[v->loop].depth)
        v->loop = L;
    }
  char path[FLOW_PATH_MAX], shown[64];
  for (int L = 0; L < n && closed && !c->nomem; L++) {
    if (c->type[L] != FLOW_LOOP)
      continue;
    if (f->nodes[L].depth >= FLOW_MAX_LOOP_DEPTH) {
      if (f->nodes[L].depth == FLOW_MAX_LOOP_DEPTH) {
        flow_path_index(path, "nodes", (size_t)L);
        flow_problem_add(c->problems, path,
                         "loop '%s' is inside %d loops already; loops nest at most %d deep",
                         flow_show(c->ids[L], shown), FLOW_MAX_LOOP_DEPTH, FLOW_MAX_LOOP_DEPTH);
      }
      continue;
    }
    /* A sink has no edge to a node at its own level: nested loops count
     * by their `done` edges, not their bodies. */
    flow_node *loop = &f->nodes[L];
    loop->body_sinks = malloc(((size_t)sizes[L] + 1) * sizeof *loop->body_sinks);
    if (!loop->body_sinks) {
      c->nomem = true;
      break;
    }
    for (int i = 0; i < sizes[L]; i++) {
      int v = bodies[L][i];
      if (f->nodes[v].loop != L)
        continue;
      bool sink = true;
      for (int a = g->out_start[v]; a < g->out_start[v + 1] && sink; a++)
        sink = f->nodes[c->to[g->out_list[a]]].loop != L;
      if (sink)
        loop->body_sinks[loop->n_body_sinks++] = v;
    }
  }
  for (int L = 0; L < n; L++)
    free(bodies[L]);
  free(bodies);
  free(sizes);
  free(blamed);
}

/* Kahn's algorithm; among the nodes ready at once, the first in the
 * document goes first (a binary min-heap of node indexes). */
static bool topological_order(flow_check *c, const graph *g) {
  int n = g->n;
  int *order = malloc(((size_t)n + 1) * sizeof *order);
  int *indegree = malloc(((size_t)n + 1) * sizeof *indegree);
  int *heap = malloc(((size_t)n + 1) * sizeof *heap);
  if (!order || !indegree || !heap) {
    free(order);
    free(indegree);
    free(heap);
    return false;
  }
  int size = 0, done = 0;
  for (int v = 0; v < n; v++) {
    indegree[v] = g->in_start[v + 1] - g->in_start[v];
    if (indegree[v] == 0)
      heap[size++] = v; /* ascending: already a heap */
  }
  while (size > 0) {
    int u = heap[0];
    heap[0] = heap[--size];
    for (int i = 0;;) { /* sift down */
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < size && heap[l] < heap[m])
        m = l;
      if (r < size && heap[r] < heap[m])
        m = r;
      if (m == i)
        break;
      int t = heap[i];
      heap[i] = heap[m];
      heap[m] = t;
      i = m;
    }
    order[done++] = u;
    for (int a = g->out_start[u]; a < g->out_start[u + 1]; a++) {
      int v = c->to[g->out_list[a]];
      if (--indegree[v] > 0)
        continue;
      int i = size++; /* sift up */
      heap[i] = v;
      while (i > 0 && heap[(i - 1) / 2] > heap[i]) {
        int p = (i - 1) / 2, t = heap[p];
        heap[p] = heap[i];
        heap[i] = t;
        i = p;
      }
    }
  }
  free(indegree);
  free(heap);
  c->f->order = order;
  return true;
}

/* The flow's edges and each node's lists of them. */
static void fill_edges(flow_check *c, const graph *g) {
  flow *f = c->f;
  for (int k = 0; k < f->n_edges; k++)
    f->edges[k] = (flow_edge){c->from[k], c->to[k], c->when[k] < 0 ? 0 : (flow_when)c->when[k]};
  for (int v = 0; v < g->n && !c->nomem; v++) {
    flow_node *node = &f->nodes[v];
    node->n_out = g->out_start[v + 1] - g->out_start[v];
    node->n_in = g->in_start[v + 1] - g->in_start[v];
    node->out = malloc(((size_t)node->n_out + 1) * sizeof *node->out);
    node->in = malloc(((size_t)node->n_in + 1) * sizeof *node->in);
    if (!node->out || !node->in) {
      c->nomem = true;
      break;
    }
    memcpy(node->out, g->out_list + g->out_start[v], (size_t)node->n_out * sizeof *node->out);
    memcpy(node->in, g->in_list + g->in_start[v], (size_t)node->n_in * sizeof *node->in);
  }
}

/* Ids, types and edge ends all valid; *triggers counts the triggers. */
static bool graph_is_sound(const flow_check *c, int *triggers_out) {
  const flow *f = c->f;
  int triggers = 0;
  for (int v = 0; v < f->n_nodes; v++) {
    if (c->type[v] < 0 || !c->ids[v])
      return false;
    triggers += c->type[v] == FLOW_TRIGGER;
  }
  for (int k = 1; k < c->n_by_id; k++)
    if (strcmp(c->ids[c->by_id[k - 1]], c->ids[c->by_id[k]]) == 0)
      return false;
  for (int k = 0; k < f->n_edges; k++)
    if (c->from[k] < 0 || c->to[k] < 0 || c->when[k] < 0)
      return false;
  *triggers_out = triggers;
  return true;
}

void flow_check_graph(flow_check *c, const json_t *edges) {
  flow *f = c->f;
  for (int k = 0; k < f->n_edges; k++)
    check_edge_shape(c, k, json_array_get(edges, (size_t)k));
  for (int k = 0; k < f->n_edges; k++)
    check_label(c, k);
  graph g = {0};
  int n = f->n_nodes;
  int *queue = malloc(2 * ((size_t)n + 1) * sizeof *queue);
  unsigned char *seen = malloc((size_t)n + 1), *other = malloc((size_t)n + 1);
  if (!build_graph(&g, c) || !queue || !seen || !other) {
    c->nomem = true;
  } else {
    check_edge_set(c, &g);
    bool cyclic = check_cycles(c, &g);
    int triggers = 0;
    bool sound = !cyclic && graph_is_sound(c, &triggers) && !c->nomem;
    if (sound && triggers == 1) {
      check_reachable(c, &g, queue, seen);
      check_loops(c, &g, seen, other);
      if (!topological_order(c, &g))
        c->nomem = true;
    } else if (sound && triggers > 1) {
      /* The extra triggers are reported already; what none of them reaches
       * is a problem of its own. */
      check_reachable(c, &g, queue, seen);
    }
    fill_edges(c, &g);
  }
  free(queue);
  free(seen);
  free(other);
  free_graph(&g);
}
