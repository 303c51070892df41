/*
 * params.c — each node's params: the keys its type defines (conditions,
 * loops, transforms), what its action requires (the action's spec), and
 * the `{{ }}` templates of every string in them, compiled once here and
 * kept in the node for the engine.
 *
 * Only literal values are checked against types and ranges; a templated
 * string stands for a value known at run time. A template that refers to
 * `nodes.ID` must name a node that exists (whether that node has run by
 * then depends on the path taken, which a join makes legal either way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow_int.h"

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Iterations of a loop when params.max_items does not say, and the most
 * it may say (also the cap of a transform's map). */
#define DEFAULT_MAX_ITEMS 10000
#define MAX_ITEMS         100000

static const char *const condition_keys[] = {"expression"};
static const char *const loop_keys[] = {"items", "parallelism", "max_items"};
static const char *const transform_keys[] = {"value", "from", "pick", "rename", "set", "map"};
static const char *const map_keys[] = {"items", "value"};

static void only_keys(flow_check *c, const json_t *obj, const char *path, const char *const *known,
                      size_t n_known) {
  flow_only_keys(c, obj, path, known, n_known, NULL, 0, false);
}

static bool is_template(const json_t *v) {
  return json_is_string(v) && expr_text_has_template(json_string_value(v), json_string_length(v));
}

/* A value that must end up an array: a literal array, or a template. */
static void check_items(flow_check *c, const json_t *obj, const char *parent, int64_t max_items) {
  char path[FLOW_PATH_MAX];
  flow_path_key(path, parent, "items");
  const json_t *items = json_object_get(obj, "items");
  if (!items)
    flow_problem_add(c->problems, path,
                     "required: an array, or a {{ }} template that gives one, such as "
                     "{{ nodes.fetch.output.body }}");
  else if (json_is_array(items) && json_array_size(items) > (size_t)max_items)
    flow_problem_add(c->problems, path, "holds %zu items; the limit (max_items) is %lld",
                     json_array_size(items), (long long)max_items);
  else if (!json_is_array(items) && !is_template(items))
    flow_problem_add(c->problems, path, "must be an array, or a {{ }} template that gives one");
}

static void check_condition(flow_check *c, const json_t *params, const char *path) {
  char where[FLOW_PATH_MAX];
  only_keys(c, params, path, condition_keys, N_OF(condition_keys));
  flow_path_key(where, path, "expression");
  const json_t *e = json_object_get(params, "expression");
  if (!e)
    flow_problem_add(c->problems, where,
                     "required: a {{ }} template such as {{ nodes.count.output.n > 10 }}");
  else if (json_is_string(e) && !is_template(e))
    flow_problem_add(c->problems, where,
                     "is not a template, so it would always be true; write the condition "
                     "inside {{ }}");
  else if (!json_is_string(e) && !json_is_boolean(e))
    flow_problem_add(c->problems, where, "must be a {{ }} template, or true or false");
}

static void check_loop(flow_check *c, const json_t *params, const char *path) {
  only_keys(c, params, path, loop_keys, N_OF(loop_keys));
  int64_t parallelism, max_items = DEFAULT_MAX_ITEMS;
  (void)flow_check_int(c, params, path, "parallelism", 1, 10000, &parallelism);
  (void)flow_check_int(c, params, path, "max_items", 1, MAX_ITEMS, &max_items);
  check_items(c, params, path, max_items);
}

/* Keys of set are paths "a.b.c" of non-empty parts. */
static void check_set(flow_check *c, const json_t *set, const char *path) {
  if (!json_is_object(set)) {
    flow_problem_add(c->problems, path, "must be an object of keys and (templated) values");
    return;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)set, key, v) {
    size_t len = strlen(key);
    if (len == 0 || key[0] == '.' || key[len - 1] == '.' || strstr(key, "..")) {
      char where[FLOW_PATH_MAX];
      flow_path_key(where, path, key);
      flow_problem_add(c->problems, where,
                       "is not a key path: write names joined by dots, such as \"user.name\"");
    }
  }
}

static void check_pick(flow_check *c, const json_t *pick, const char *path) {
  if (!json_is_array(pick)) {
    flow_problem_add(c->problems, path, "must be an array of key names");
    return;
  }
  char where[FLOW_PATH_MAX];
  size_t i;
  json_t *v;
  json_array_foreach(pick, i, v) {
    if (!json_is_string(v) || json_string_length(v) == 0) {
      flow_path_index(where, path, i);
      flow_problem_add(c->problems, where, "must be a key name (a non-empty string)");
    }
  }
}

static void check_rename(flow_check *c, const json_t *rename, const char *path) {
  if (!json_is_object(rename)) {
    flow_problem_add(c->problems, path, "must be an object of old names and new names");
    return;
  }
  char where[FLOW_PATH_MAX];
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)rename, key, v) {
    if (!json_is_string(v) || json_string_length(v) == 0) {
      flow_path_key(where, path, key);
      flow_problem_add(c->problems, where, "must be the new name (a non-empty string)");
    }
  }
}

static void check_map(flow_check *c, const json_t *map, const char *path) {
  if (!json_is_object(map)) {
    flow_problem_add(c->problems, path,
                     "must be an object like {\"items\": \"{{ … }}\", \"value\": …}");
    return;
  }
  only_keys(c, map, path, map_keys, N_OF(map_keys));
  check_items(c, map, path, MAX_ITEMS);
  if (!json_object_get(map, "value")) {
    char where[FLOW_PATH_MAX];
    flow_path_key(where, path, "value");
    flow_problem_add(c->problems, where,
                     "required: what each item becomes, with {{ item }} and {{ index }}");
  }
}

/* value, or map, or the object steps from → pick → rename → set. */
static void check_transform(flow_check *c, const json_t *params, const char *path) {
  only_keys(c, params, path, transform_keys, N_OF(transform_keys));
  char where[FLOW_PATH_MAX];
  bool has[N_OF(transform_keys)];
  size_t present = 0;
  for (size_t k = 0; k < N_OF(transform_keys); k++) {
    has[k] = json_object_get(params, transform_keys[k]) != NULL;
    present += has[k];
  }
  if (present == 0) {
    flow_problem_add(c->problems, path,
                     "a transform needs at least one of value, from, pick, rename, set, map");
    return;
  }
  /* value and map each make the whole output; they stand alone. */
  for (size_t k = 0; k < N_OF(transform_keys); k++) {
    const char *key = transform_keys[k];
    if (has[k] && present > 1 && (strcmp(key, "value") == 0 || strcmp(key, "map") == 0)) {
      flow_path_key(where, path, key);
      flow_problem_add(c->problems, where,
                       "makes the whole output, so it cannot be combined with other keys");
    }
  }
  const json_t *v;
  if ((v = json_object_get(params, "from")) && !json_is_object(v) && !is_template(v)) {
    flow_path_key(where, path, "from");
    flow_problem_add(c->problems, where, "must be an object, or a {{ }} template that gives one");
  }
  if ((v = json_object_get(params, "pick"))) {
    flow_path_key(where, path, "pick");
    check_pick(c, v, where);
  }
  if ((v = json_object_get(params, "rename"))) {
    flow_path_key(where, path, "rename");
    check_rename(c, v, where);
  }
  if ((v = json_object_get(params, "set"))) {
    flow_path_key(where, path, "set");
    check_set(c, v, where);
  }
  if ((v = json_object_get(params, "map"))) {
    flow_path_key(where, path, "map");
    check_map(c, v, where);
  }
}

static void check_action_params(flow_check *c, const flow_node *n, const char *path) {
  const flow_action_spec *spec = NULL;
  for (size_t k = 0; k < c->n_actions && n->action && !spec; k++)
    if (strcmp(c->actions[k].name, n->action) == 0)
      spec = &c->actions[k];
  if (!spec)
    return;
  char where[FLOW_PATH_MAX];
  for (const char *const *r = spec->required; r && *r; r++) {
    const json_t *v = json_object_get(n->params, *r);
    if (!v || json_is_null(v)) {
      flow_path_key(where, path, *r);
      flow_problem_add(c->problems, where, "required");
    }
  }
  if (spec->check)
    spec->check(n->params, path, c->problems);
}

/* ------------------------------------------------------------ templates */

/* expr's messages name their column ("column 5: …") already. */
static void on_template_error(void *ctx, const char *path, const expr_error *e) {
  flow_check *c = ctx;
  flow_problem_add(c->problems, path, "%s", e->message);
}

typedef struct ref_walk {
  flow_check *c;
  const char *path;
  int first; /* problems from here on belong to this string */
  bool missing;
} ref_walk;

static bool note_missing(void *ctx, const char *id) {
  ref_walk *w = ctx;
  if (flow_check_lookup(w->c, id) < 0) {
    w->missing = true;
    return false;
  }
  return true;
}

static bool report_missing(void *ctx, const char *id) {
  ref_walk *w = ctx;
  flow_check *c = w->c;
  if (flow_check_lookup(c, id) >= 0)
    return true;
  char shown[64], hint[64], message[sizeof c->problems->items[0].message];
  snprintf(message, sizeof message, "refers to node '%s', which does not exist%s",
           flow_show(id, shown), flow_suggest_node(c, id, hint, sizeof hint));
  for (int i = w->first; i < c->problems->count; i++) /* once per string */
    if (strcmp(c->problems->items[i].path, w->path) == 0 &&
        strncmp(c->problems->items[i].message, message, sizeof message - 1) == 0)
      return true;
  flow_problem_add(c->problems, w->path, "%s", message);
  return true;
}

/* Finds the strings whose templates name missing nodes, to report each
 * with its own path. */
static void locate_missing(flow_check *c, const json_t *v, const char *path) {
  char where[FLOW_PATH_MAX];
  if (json_is_object(v)) {
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)v, key, child) {
      flow_path_key(where, path, key);
      locate_missing(c, child, where);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child) {
      flow_path_index(where, path, i);
      locate_missing(c, child, where);
    }
  } else if (is_template(v)) {
    expr_tmpl *t = NULL;
    expr_error err;
    if (expr_tmpl_parse(json_string_value(v), json_string_length(v), c->expr_lim, &t, &err) !=
        CF_OK)
      return;
    ref_walk w = {c, path, c->problems->count, false};
    expr_tmpl_node_refs(t, report_missing, &w);
    expr_tmpl_free(t);
  }
}

static void compile_templates(flow_check *c, flow_node *n, const char *path) {
  int before = flow_check_count(c);
  cf_err rc = expr_json_compile(n->params, path, c->expr_lim, on_template_error, c, &n->compiled);
  if (rc == CF_E_NOMEM) {
    c->nomem = true;
    return;
  }
  if (rc != CF_OK) {
    if (flow_check_count(c) == before)
      flow_problem_add(c->problems, path, "the templates do not compile: %s", cf_strerror(rc));
    /* The strings that did compile may still name missing nodes. */
    locate_missing(c, n->params, path);
    return;
  }
  ref_walk w = {c, path, 0, false};
  expr_json_node_refs(n->compiled, note_missing, &w);
  if (w.missing)
    locate_missing(c, n->params, path);
}

void flow_check_params(flow_check *c, int i) {
  flow_node *n = &c->f->nodes[i];
  char path[FLOW_PATH_MAX];
  flow_path_index(path, "nodes", (size_t)i);
  /* A params that is not an object was reported with the node. */
  const json_t *raw =
      json_object_get(json_array_get(json_object_get(c->f->doc, "nodes"), (size_t)i), "params");
  flow_path_key(path, path, "params");
  if (raw && !json_is_object(raw))
    return;
  switch (c->type[i]) {
  case FLOW_CONDITION: check_condition(c, n->params, path); break;
  case FLOW_LOOP: check_loop(c, n->params, path); break;
  case FLOW_TRANSFORM: check_transform(c, n->params, path); break;
  case FLOW_ACTION: check_action_params(c, n, path); break;
  default: break; /* a trigger's params are its own: an input schema, sample data */
  }
  compile_templates(c, n, path);
}
