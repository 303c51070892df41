/*
 * flow.c — workflow definitions: the document's shape (top level and
 * nodes), limits, problems, and the flow that results.
 *
 * A definition is refused before it is parsed when it is larger than the
 * limit or nested deeper than the limit (a scan of the bytes, so jansson
 * never recurses through hostile input). After that every check reports
 * what it finds and goes on; the flow is handed out only when no check
 * found anything, so that a parsed flow keeps every invariant of flow.h.
 * Unknown keys are errors (typos are caught), except keys starting with
 * "x-" or "_" and the few that exported documents and the UI carry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_int.h"

#define DEFAULT_MAX_BYTES ((size_t)1 << 20)
#define DEFAULT_MAX_NODES 500
#define DEFAULT_MAX_EDGES 2000
#define DEFAULT_MAX_DEPTH 32
#define MAX_NAME_CHARS    200
#define MAX_ID_BYTES      64
/* An execution may wait for sleeps and slow peers; a week bounds it. */
#define MAX_EXECUTION_MS (7LL * 24 * 3600 * 1000)

static const char *const type_names[] = {"trigger", "action", "condition", "transform", "loop"};
static const char *const when_names[] = {"", "true", "false", "each", "done", "error"};

const char *flow_node_type_name(flow_node_type t) {
  return (unsigned)t < sizeof type_names / sizeof *type_names ? type_names[t] : NULL;
}

const char *flow_when_name(flow_when w) {
  return (unsigned)w < sizeof when_names / sizeof *when_names ? when_names[w] : NULL;
}

/* ------------------------------------------------------------ problems */

/* Cuts a string that snprintf may have split in the middle of a UTF-8
 * sequence back to the last whole character, so messages stay valid JSON
 * strings. */
static void trim_utf8(char *s) {
  size_t n = strlen(s);
  if (n == 0)
    return;
  size_t i = n - 1; /* the start of the last character */
  while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
    i--;
  unsigned char lead = (unsigned char)s[i];
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (n - i < want)
    s[i] = '\0';
}

void flow_problem_add(flow_problems *p, const char *path, const char *fmt, ...) {
  if (p->count >= FLOW_MAX_PROBLEMS) {
    p->truncated = true;
    return;
  }
  flow_problem *item = &p->items[p->count++];
  snprintf(item->path, sizeof item->path, "%s", path ? path : "");
  trim_utf8(item->path);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item->message, sizeof item->message, fmt, ap);
  va_end(ap);
  trim_utf8(item->message);
}

void flow_problems_format(const flow_problems *p, char *buf, size_t cap) {
  if (!cap)
    return;
  buf[0] = '\0';
  size_t used = 0;
  for (int i = 0; i < p->count && used + 1 < cap; i++) {
    const flow_problem *it = &p->items[i];
    int n = snprintf(buf + used, cap - used, "%s%s%s%s", i ? "\n" : "", it->path,
                     it->path[0] ? ": " : "", it->message);
    if (n < 0)
      break;
    used += (size_t)n;
  }
  if (p->truncated && used + 1 < cap)
    snprintf(buf + used, cap - used, "\n(more problems than the %d shown)", FLOW_MAX_PROBLEMS);
  trim_utf8(buf);
}

/* ------------------------------------------------------------ helpers */

static bool is_name_char(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

/* Paths grow in place and are cut at FLOW_PATH_MAX bytes. */
static void path_start(char *buf, const char *parent) {
  if (buf == parent)
    return;
  size_t n = strnlen(parent, FLOW_PATH_MAX - 1);
  memmove(buf, parent, n);
  buf[n] = '\0';
}

static void path_append(char *buf, const char *text) {
  size_t used = strnlen(buf, FLOW_PATH_MAX - 1), add = strlen(text);
  if (add > FLOW_PATH_MAX - 1 - used)
    add = FLOW_PATH_MAX - 1 - used;
  memcpy(buf + used, text, add);
  buf[used + add] = '\0';
  trim_utf8(buf);
}

void flow_path_index(char *buf, const char *parent, size_t i) {
  char index[32];
  snprintf(index, sizeof index, "[%zu]", i);
  path_start(buf, parent);
  path_append(buf, index);
}

void flow_path_key(char *buf, const char *parent, const char *key) {
  /* The same rule as expr's paths: identifiers plain, the rest quoted. */
  bool plain = key[0] != '\0' && key[0] != '-' && !(key[0] >= '0' && key[0] <= '9');
  for (const char *k = key; *k && plain; k++)
    plain = is_name_char((unsigned char)*k) && *k != '-';
  path_start(buf, parent);
  if (plain) {
    path_append(buf, buf[0] ? "." : "");
    path_append(buf, key);
    return;
  }
  char shown[64];
  flow_show(key, shown);
  /* Quotes and backslashes inside would make the path ambiguous. */
  for (char *s = shown; *s; s++)
    if (*s == '"' || *s == '\\')
      *s = '?';
  path_append(buf, "[\"");
  path_append(buf, shown);
  path_append(buf, "\"]");
}

const char *flow_show(const char *s, char buf[64]) {
  size_t keep = 40, n = 0, i = 0;
  while (s[i] && n < keep) {
    unsigned char ch = (unsigned char)s[i];
    size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
    if (n + len > keep)
      break;
    for (size_t k = 0; k < len && s[i]; k++, i++)
      buf[n++] = ch < 0x20 || ch == 0x7F ? '?' : s[i];
  }
  if (s[i]) /* "…" */
    memcpy(buf + n, "\xE2\x80\xA6", 3), n += 3;
  buf[n] = '\0';
  return buf;
}

bool flow_is_extension_key(const char *key) {
  return strncmp(key, "x-", 2) == 0 || key[0] == '_';
}

/* Levenshtein distance of two short strings (at most 32 bytes). */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t row[33];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* A typo is at most two edits away and shorter than the word itself. */
static bool likely_typo(const char *s, const char *word) {
  size_t ls = strlen(s), lw = strlen(word);
  if (ls > 32 || lw > 32 || ls < 2)
    return false;
  size_t d = edit_distance(s, word);
  return d > 0 && d <= (lw < 5 ? 1 : 2);
}

const char *flow_suggest(const char *s, const char *const *words, size_t n, char *buf, size_t cap) {
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++)
    if (words[i] && likely_typo(s, words[i])) {
      snprintf(buf, cap, " (did you mean '%s'?)", words[i]);
      break;
    }
  return buf;
}

const char *flow_suggest_node(const flow_check *c, const char *s, char *buf, size_t cap) {
  return flow_suggest(s, c->ids, (size_t)c->f->n_nodes, buf, cap);
}

static bool in_list(const char *key, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(key, list[i]) == 0)
      return true;
  return false;
}

void flow_only_keys(flow_check *c, const json_t *obj, const char *path, const char *const *known,
                    size_t n_known, const char *const *ignored, size_t n_ignored, bool extensions) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (in_list(key, known, n_known) || in_list(key, ignored, n_ignored) ||
        (extensions && flow_is_extension_key(key)))
      continue;
    char where[FLOW_PATH_MAX], hint[64];
    flow_path_key(where, path, key);
    flow_problem_add(c->problems, where, "unknown field%s",
                     flow_suggest(key, known, n_known, hint, sizeof hint));
  }
}

const char *flow_required_string(flow_check *c, const json_t *obj, const char *parent,
                                 const char *key, const char *missing) {
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, key);
  const json_t *v = json_object_get(obj, key);
  if (!v)
    flow_problem_add(c->problems, path, "%s", missing);
  else if (!json_is_string(v))
    flow_problem_add(c->problems, path, "must be a string");
  return json_string_value(v);
}

bool flow_check_int(flow_check *c, const json_t *obj, const char *parent, const char *key,
                    int64_t min, int64_t max, int64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return false;
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, key);
  json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
  if (!json_is_integer(v) || n < min || n > max) {
    flow_problem_add(c->problems, path, "must be an integer from %lld to %lld", (long long)min,
                     (long long)max);
    return false;
  }
  *out = n;
  return true;
}

static int compare_by_id(const void *a, const void *b, void *ctx) {
  const char *const *ids = ctx;
  int ia = *(const int *)a, ib = *(const int *)b;
  int r = strcmp(ids[ia], ids[ib]);
  return r ? r : (ia > ib) - (ia < ib);
}

int flow_check_lookup(const flow_check *c, const char *id) {
  int lo = 0, hi = c->n_by_id;
  while (lo < hi) { /* the first node with this id */
    int mid = lo + (hi - lo) / 2;
    if (strcmp(c->ids[c->by_id[mid]], id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < c->n_by_id && strcmp(c->ids[c->by_id[lo]], id) == 0 ? c->by_id[lo] : -1;
}

int flow_node_index(const flow *f, const char *id) {
  if (!f || !id)
    return -1;
  for (int i = 0; i < f->n_nodes; i++)
    if (strcmp(f->nodes[i].id, id) == 0)
      return i;
  return -1;
}

/* Number of characters (not bytes) of a UTF-8 string. */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* "2.1 MB", "300 KB", "17 bytes". */
static void format_size(size_t bytes, char *buf, size_t cap) {
  const double mb = 1024.0 * 1024.0, kb = 1024.0;
  if (bytes >= (size_t)mb)
    snprintf(buf, cap, "%.1f MB", (double)bytes / mb);
  else if (bytes >= (size_t)kb)
    snprintf(buf, cap, "%.1f KB", (double)bytes / kb);
  else
    snprintf(buf, cap, "%zu bytes", bytes);
  char *dot = strstr(buf, ".0 ");
  if (dot)
    memmove(dot, dot + 2, strlen(dot + 2) + 1);
}

/* The deepest nesting of arrays and objects, stopping as soon as it passes
 * max; strings (and escaped quotes inside them) do not count. */
static int json_depth_over(const char *s, size_t len, int max) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max)
        return depth;
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      depth--;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ the flow */

void flow_free(flow *f) {
  if (!f)
    return;
  for (int i = 0; i < f->n_nodes; i++) {
    flow_node *n = &f->nodes[i];
    free(n->id);
    free(n->name);
    free(n->action);
    json_decref(n->params);
    expr_json_free(n->compiled);
    free(n->out);
    free(n->in);
    free(n->body_sinks);
  }
  free(f->nodes);
  free(f->edges);
  free(f->order);
  free(f->name);
  free(f->description);
  json_decref(f->vars);
  json_decref(f->settings);
  json_decref(f->doc);
  free(f);
}

static char *copy_string(flow_check *c, const char *s) {
  char *d = strdup(s ? s : "");
  if (!d)
    c->nomem = true;
  return d;
}

/* An optional string field: NULL when absent; a problem when it is not a
 * string or longer than max_chars characters (0 = any length). */
static const char *optional_string(flow_check *c, const json_t *obj, const char *parent,
                                   const char *key, size_t max_chars) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return NULL;
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, key);
  if (!json_is_string(v)) {
    flow_problem_add(c->problems, path, "must be a string");
    return NULL;
  }
  const char *s = json_string_value(v);
  if (max_chars && utf8_chars(s) > max_chars) {
    flow_problem_add(c->problems, path, "is longer than %zu characters", max_chars);
    return NULL;
  }
  return s;
}

static const char *const node_keys[] = {"id",    "type",       "name",     "action",  "params",
                                        "retry", "timeout_ms", "on_error", "disabled"};
static const char *const node_ui_keys[] = {"position", "notes"};
static const char *const retry_keys[] = {"max_attempts", "backoff_ms", "backoff_max_ms", "jitter"};

#define N_OF(a) (sizeof(a) / sizeof *(a))

static void check_retry(flow_check *c, flow_node *n, const json_t *node, const char *parent) {
  const json_t *r = json_object_get(node, "retry");
  if (!r)
    return;
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, "retry");
  if (!json_is_object(r)) {
    flow_problem_add(c->problems, path, "must be an object like {\"max_attempts\": 3}");
    return;
  }
  flow_only_keys(c, r, path, retry_keys, N_OF(retry_keys), NULL, 0, false);
  int64_t x;
  if (flow_check_int(c, r, path, "max_attempts", 1, 100, &x))
    n->retry.max_attempts = (int)x;
  bool backoff_ok = true;
  if (flow_check_int(c, r, path, "backoff_ms", 0, FLOW_MAX_NODE_MS, &x))
    n->retry.backoff_ms = x;
  else
    backoff_ok = !json_object_get(r, "backoff_ms");
  /* The default cap never sits below a longer first delay. */
  if (n->retry.backoff_max_ms < n->retry.backoff_ms)
    n->retry.backoff_max_ms = n->retry.backoff_ms;
  if (flow_check_int(c, r, path, "backoff_max_ms", 0, FLOW_MAX_NODE_MS, &x)) {
    n->retry.backoff_max_ms = x;
    if (backoff_ok && x < n->retry.backoff_ms) {
      char where[FLOW_PATH_MAX];
      flow_path_key(where, path, "backoff_max_ms");
      flow_problem_add(c->problems, where, "must be at least backoff_ms (%lld)",
                       (long long)n->retry.backoff_ms);
    }
  }
  const json_t *jitter = json_object_get(r, "jitter");
  if (jitter && !json_is_boolean(jitter)) {
    char where[FLOW_PATH_MAX];
    flow_path_key(where, path, "jitter");
    flow_problem_add(c->problems, where, "must be true or false");
  } else if (jitter) {
    n->retry.jitter = json_is_true(jitter);
  }
}

static void check_id(flow_check *c, int i, const json_t *node, const char *parent) {
  const char *s = flow_required_string(c, node, parent, "id", "required");
  if (!s)
    return;
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, "id");
  /* Kept even when malformed, so that edges naming it resolve and the
   * problem is reported once, here. */
  c->ids[i] = s;
  size_t len = strlen(s);
  bool ok = len >= 1 && len <= MAX_ID_BYTES;
  for (size_t k = 0; k < len && ok; k++)
    ok = is_name_char((unsigned char)s[k]);
  if (!ok)
    flow_problem_add(c->problems, path, "must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-'",
                     MAX_ID_BYTES);
}

static void check_type(flow_check *c, int i, const json_t *node, const char *parent) {
  char path[FLOW_PATH_MAX], shown[64], hint[64];
  flow_path_key(path, parent, "type");
  const char *s = flow_required_string(
      c, node, parent, "type", "required: one of trigger, action, condition, transform, loop");
  if (!s)
    return;
  for (size_t t = 0; t < N_OF(type_names); t++)
    if (strcmp(s, type_names[t]) == 0) {
      c->type[i] = (int)t;
      c->f->nodes[i].type = (flow_node_type)t;
      return;
    }
  flow_problem_add(c->problems, path,
                   "unknown type '%s'%s (known: trigger, action, condition, transform, loop)",
                   flow_show(s, shown), flow_suggest(s, type_names, N_OF(type_names), hint, 64));
}

static void check_action(flow_check *c, int i, const json_t *node, const char *parent) {
  char path[FLOW_PATH_MAX], shown[64];
  flow_path_key(path, parent, "action");
  const json_t *action = json_object_get(node, "action");
  if (c->type[i] != FLOW_ACTION) {
    if (action && c->type[i] >= 0)
      flow_problem_add(c->problems, path, "only action nodes have an action; this one is a %s",
                       type_names[c->type[i]]);
    return;
  }
  const char *s = flow_required_string(c, node, parent, "action", "required for an action node");
  if (!s)
    return;
  for (size_t k = 0; k < c->n_actions; k++)
    if (strcmp(s, c->actions[k].name) == 0) {
      c->f->nodes[i].action = copy_string(c, s);
      return;
    }
  char known[160] = "", hint[64] = "";
  size_t used = 0;
  for (size_t k = 0; k < c->n_actions && used < sizeof known; k++) {
    int w = snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "", c->actions[k].name);
    used += w > 0 ? (size_t)w : 0;
    if (!hint[0] && likely_typo(s, c->actions[k].name))
      snprintf(hint, sizeof hint, " (did you mean '%s'?)", c->actions[k].name);
  }
  trim_utf8(known);
  flow_problem_add(c->problems, path, "unknown action '%s'%s (known: %s)", flow_show(s, shown),
                   hint, c->n_actions ? known : "none");
}

static void check_node(flow_check *c, int i, const json_t *node) {
  char path[FLOW_PATH_MAX], where[FLOW_PATH_MAX];
  flow_path_index(path, "nodes", (size_t)i);
  flow_node *n = &c->f->nodes[i];
  if (!json_is_object(node)) {
    flow_problem_add(c->problems, path,
                     "a node is an object like {\"id\": \"fetch\", \"type\": \"action\"}");
    return;
  }
  flow_only_keys(c, node, path, node_keys, N_OF(node_keys), node_ui_keys, N_OF(node_ui_keys), true);
  check_id(c, i, node, path);
  check_type(c, i, node, path);
  const char *name = optional_string(c, node, path, "name", MAX_NAME_CHARS);
  free(n->name);
  n->name = copy_string(c, name);
  check_action(c, i, node, path);

  const json_t *params = json_object_get(node, "params");
  if (params && !json_is_object(params)) {
    flow_path_key(where, path, "params");
    flow_problem_add(c->problems, where, "must be an object");
  } else if (params) {
    n->params = json_incref((json_t *)params);
  }
  check_retry(c, n, node, path);
  int64_t ms;
  if (flow_check_int(c, node, path, "timeout_ms", 1, FLOW_MAX_NODE_MS, &ms))
    n->timeout_ms = ms;
  const char *on_error = optional_string(c, node, path, "on_error", 0);
  if (on_error && strcmp(on_error, "continue") == 0) {
    n->on_error = FLOW_ON_ERROR_CONTINUE;
  } else if (on_error && strcmp(on_error, "fail") != 0) {
    flow_path_key(where, path, "on_error");
    flow_problem_add(c->problems, where, "must be \"fail\" or \"continue\"");
  }
  const json_t *disabled = json_object_get(node, "disabled");
  if (disabled && !json_is_boolean(disabled)) {
    flow_path_key(where, path, "disabled");
    flow_problem_add(c->problems, where, "must be true or false");
  }
  n->disabled = json_is_true(disabled);
}

/* Duplicate ids and the one trigger. */
static void check_ids_and_trigger(flow_check *c) {
  flow *f = c->f;
  char path[FLOW_PATH_MAX], shown[64];
  for (int k = 1; k < c->n_by_id; k++) {
    int first = c->by_id[k - 1], dup = c->by_id[k];
    if (strcmp(c->ids[first], c->ids[dup]) != 0)
      continue;
    /* by_id is sorted by (id, index): name the id's first node. */
    int j = k - 1;
    while (j > 0 && strcmp(c->ids[c->by_id[j - 1]], c->ids[dup]) == 0)
      j--;
    flow_path_index(path, "nodes", (size_t)dup);
    flow_path_key(path, path, "id");
    flow_problem_add(c->problems, path, "duplicate id '%s' (also nodes[%d])",
                     flow_show(c->ids[dup], shown), c->by_id[j]);
  }
  f->trigger = -1;
  for (int i = 0; i < f->n_nodes; i++) {
    if (c->type[i] != FLOW_TRIGGER)
      continue;
    if (f->trigger < 0) {
      f->trigger = i;
    } else {
      flow_path_index(path, "nodes", (size_t)i);
      flow_problem_add(c->problems, path, "a second trigger; a workflow has exactly one");
    }
  }
  if (f->trigger < 0 && f->n_nodes > 0)
    flow_problem_add(c->problems, "nodes", "a workflow needs exactly one trigger node");
}

static const char *const top_keys[] = {"name", "description", "nodes", "edges", "vars", "settings"};
static const char *const top_exported_keys[] = {"id",         "version", "created_at",
                                                "updated_at", "webhook", "active"};
static const char *const settings_keys[] = {"timeout_ms"};

static void check_top(flow_check *c, const json_t *doc) {
  flow *f = c->f;
  flow_only_keys(c, doc, "", top_keys, N_OF(top_keys), top_exported_keys, N_OF(top_exported_keys),
                 true);
  const char *name = optional_string(c, doc, "", "name", MAX_NAME_CHARS);
  if (!json_object_get(doc, "name"))
    flow_problem_add(c->problems, "name", "required: a name for the workflow");
  else if (name && !name[0])
    flow_problem_add(c->problems, "name", "must not be empty");
  f->name = copy_string(c, name);
  f->description = copy_string(c, optional_string(c, doc, "", "description", 0));

  json_t *vars = json_object_get(doc, "vars");
  if (vars && !json_is_object(vars))
    flow_problem_add(c->problems, "vars", "must be an object of names and values");
  f->vars = json_is_object(vars) ? json_incref(vars) : json_object();

  json_t *settings = json_object_get(doc, "settings");
  if (settings && !json_is_object(settings))
    flow_problem_add(c->problems, "settings", "must be an object");
  f->settings = json_is_object(settings) ? json_incref(settings) : json_object();
  if (!f->vars || !f->settings)
    c->nomem = true;
  if (json_is_object(settings)) {
    flow_only_keys(c, settings, "settings", settings_keys, N_OF(settings_keys), NULL, 0, true);
    int64_t ms;
    if (flow_check_int(c, settings, "settings", "timeout_ms", 1, MAX_EXECUTION_MS, &ms))
      f->timeout_ms = ms;
  }
}

/* Checks the sizes of nodes and edges; false when one is over its limit
 * (then nothing else is checked). */
static bool check_counts(flow_check *c, const json_t *doc, const flow_limits *lim,
                         const json_t **nodes, const json_t **edges) {
  *nodes = json_object_get(doc, "nodes");
  *edges = json_object_get(doc, "edges");
  int max_nodes = lim && lim->max_nodes > 0 ? lim->max_nodes : DEFAULT_MAX_NODES;
  int max_edges = lim && lim->max_edges > 0 ? lim->max_edges : DEFAULT_MAX_EDGES;
  if (json_is_array(*nodes) && json_array_size(*nodes) > (size_t)max_nodes) {
    flow_problem_add(c->problems, "nodes", "%zu nodes; the limit is %d", json_array_size(*nodes),
                     max_nodes);
    c->too_large = true;
    return false;
  }
  if (json_is_array(*edges) && json_array_size(*edges) > (size_t)max_edges) {
    flow_problem_add(c->problems, "edges", "%zu edges; the limit is %d", json_array_size(*edges),
                     max_edges);
    c->too_large = true;
    return false;
  }
  if (!*nodes)
    flow_problem_add(c->problems, "nodes", "required: a workflow needs at least a trigger node");
  else if (!json_is_array(*nodes))
    flow_problem_add(c->problems, "nodes", "must be an array of nodes");
  else if (json_array_size(*nodes) == 0)
    flow_problem_add(c->problems, "nodes", "must hold at least one node, the trigger");
  if (*edges && !json_is_array(*edges))
    flow_problem_add(c->problems, "edges", "must be an array of edges");
  if (!json_is_array(*nodes))
    *nodes = NULL;
  if (!json_is_array(*edges))
    *edges = NULL;
  return true;
}

static bool allocate(flow_check *c, size_t n_nodes, size_t n_edges) {
  flow *f = c->f;
  size_t nn = n_nodes ? n_nodes : 1, ne = n_edges ? n_edges : 1;
  f->nodes = calloc(nn, sizeof *f->nodes);
  f->edges = calloc(ne, sizeof *f->edges);
  c->type = malloc(nn * sizeof *c->type);
  c->ids = calloc(nn, sizeof *c->ids);
  c->by_id = malloc(nn * sizeof *c->by_id);
  c->from = malloc(ne * sizeof *c->from);
  c->to = malloc(ne * sizeof *c->to);
  c->when = malloc(ne * sizeof *c->when);
  if (!f->nodes || !f->edges || !c->type || !c->ids || !c->by_id || !c->from || !c->to || !c->when)
    return false;
  f->n_nodes = (int)n_nodes;
  f->n_edges = (int)n_edges;
  for (size_t i = 0; i < n_nodes; i++) {
    flow_node *n = &f->nodes[i];
    c->type[i] = -1;
    n->loop = -1;
    n->retry = (flow_retry){1, 1000, 300000, true};
  }
  for (size_t k = 0; k < n_edges; k++)
    c->from[k] = c->to[k] = c->when[k] = -1;
  return true;
}

static void check_document(flow_check *c, const json_t *doc, const flow_limits *lim) {
  const json_t *nodes, *edges;
  check_top(c, doc);
  if (!check_counts(c, doc, lim, &nodes, &edges))
    return;
  if (!allocate(c, nodes ? json_array_size(nodes) : 0, edges ? json_array_size(edges) : 0)) {
    c->nomem = true;
    return;
  }
  flow *f = c->f;
  for (int i = 0; i < f->n_nodes; i++)
    check_node(c, i, json_array_get(nodes, (size_t)i));
  for (int i = 0; i < f->n_nodes; i++)
    if (c->ids[i])
      c->by_id[c->n_by_id++] = i;
  qsort_r(c->by_id, (size_t)c->n_by_id, sizeof *c->by_id, compare_by_id, c->ids);
  check_ids_and_trigger(c);
  for (int i = 0; i < f->n_nodes; i++) {
    flow_node *n = &f->nodes[i];
    if (!n->params && !(n->params = json_object()))
      c->nomem = true;
    n->id = copy_string(c, c->ids[i]);
  }
  flow_check_graph(c, edges);
  for (int i = 0; i < f->n_nodes && !c->nomem; i++)
    flow_check_params(c, i);
}

cf_err flow_parse(const char *json, size_t len, const flow_limits *lim,
                  const flow_action_spec *actions, size_t n_actions, flow **out,
                  flow_problems *problems) {
  if (out)
    *out = NULL;
  if (!problems)
    return CF_E_INVALID;
  problems->count = 0;
  problems->truncated = false;
  if (!out || (!json && len) || (!actions && n_actions)) {
    flow_problem_add(problems, "", "flow_parse was called without a definition or a result");
    return CF_E_INVALID;
  }
  size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEFAULT_MAX_BYTES;
  int max_depth = lim && lim->max_json_depth > 0 ? lim->max_json_depth : DEFAULT_MAX_DEPTH;
  if (len > max_bytes) {
    char have[32], limit[32];
    format_size(len, have, sizeof have);
    format_size(max_bytes, limit, sizeof limit);
    if (strcmp(have, limit) == 0) { /* rounded alike: say it exactly */
      snprintf(have, sizeof have, "%zu bytes", len);
      snprintf(limit, sizeof limit, "%zu bytes", max_bytes);
    }
    flow_problem_add(problems, "", "the definition is %s; the limit is %s", have, limit);
    return CF_E_TOO_LARGE;
  }
  if (json_depth_over(json, len, max_depth)) {
    flow_problem_add(problems, "", "the definition nests arrays and objects more than %d deep",
                     max_depth);
    return CF_E_TOO_LARGE;
  }
  json_error_t jerr;
  json_t *doc = json_loadb(len ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    flow_problem_add(problems, "", "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    return CF_E_INVALID;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    flow_problem_add(problems, "", "a workflow definition is a JSON object");
    return CF_E_INVALID;
  }
  flow_check c = {0};
  c.problems = problems;
  c.actions = actions;
  c.n_actions = n_actions;
  c.expr_lim = lim ? lim->expr : NULL;
  c.f = calloc(1, sizeof *c.f);
  if (!c.f) {
    json_decref(doc);
    flow_problem_add(problems, "", "out of memory");
    return CF_E_NOMEM;
  }
  c.f->doc = doc;
  c.f->trigger = -1;
  check_document(&c, doc, lim);
  free(c.type);
  free(c.ids);
  free(c.by_id);
  free(c.from);
  free(c.to);
  free(c.when);
  if (c.nomem) {
    flow_free(c.f);
    flow_problem_add(problems, "", "out of memory");
    return CF_E_NOMEM;
  }
  if (problems->count > 0) {
    flow_free(c.f);
    return c.too_large ? CF_E_TOO_LARGE : CF_E_INVALID;
  }
  *out = c.f;
  return CF_OK;
}
