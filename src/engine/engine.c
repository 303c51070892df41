/*
 * engine.c — executions on event loops.
 *
 * Each loop thread owns its executions entirely: their frames, steps,
 * timers and transfers are touched only there. Other threads reach a loop
 * through its inbox (a locked list and a uv_async): new executions from
 * the worker's dispatcher, commit acknowledgements from the store's
 * writer.
 *
 * An execution is a tree of frames. The top frame holds the top-level
 * nodes; each loop iteration runs in a frame of its own holding the loop's
 * body, whose parent is the frame the loop node runs in. In a frame, every
 * node waits until each edge entering it is decided (taken or not); then
 * it runs if one was taken, or is skipped (and decides its own edges as
 * not taken) — dead-path elimination, so joins after a condition run once.
 * A frame is complete when all its nodes ran or were skipped.
 *
 * Work that becomes ready is queued on the loop's ready list and run by
 * pump(), never by recursion, so a 100,000-item loop of instant steps
 * uses constant stack.
 *
 * Lifetimes: an execution lives until it has concluded (its outcome handed
 * to the worker) and every asynchronous callback that names it has come
 * back (refs).
 */
#include "engine/engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "actions/action.h"
#include "base/civil.h"
#include "expr/expr.h"
#include "flow/flow.h"
#include "net/http.h"

#define CHECK_EVERY_MS     100
#define MAX_KEPT_OUTPUT    (4 * 1024 * 1024) /* bytes of a step's output kept */
#define MAX_RESULT         (1024 * 1024)
#define FLOW_CACHE_MAX     256
#define ITERATION_BITS     20
#define DEFAULT_MAX_ITEMS  10000 /* as the validator documents */
#define MAX_RETRY_AFTER_MS (3600 * 1000)

/* ------------------------------------------------------------ flow cache */

/* A transform's parts, compiled one by one: `map.value` is evaluated once
 * per item, the others once. */
typedef struct transform_parts {
  expr_json *from, *value, *set, *map_items, *map_value;
  json_t *pick, *rename; /* literal */
} transform_parts;

/* An action's html_params, compiled to be evaluated with HTML escaping. */
typedef struct html_parts {
  size_t n;
  const char *names[4];
  expr_tmpl *tmpls[4];
} html_parts;

typedef struct cached_flow {
  int64_t workflow_id;
  int32_t version;
  flow *f;
  transform_parts *parts; /* per node; zero for other types */
  html_parts *html;       /* per node; zero for most */
  int refs;
  uint64_t used;
  struct cached_flow *next;
} cached_flow;

/* ------------------------------------------------------------ run state */

typedef struct engine_loop engine_loop;
typedef struct exec_run exec_run;
typedef struct frame frame;

enum node_state { NS_WAITING, NS_READY, NS_RUNNING, NS_DONE };

typedef struct loop_run {
  frame *fr; /* the frame the loop node runs in */
  int node;
  json_t *items;
  size_t n, next, active, finished;
  int parallelism;
  json_t *results;
  int64_t started_at;
  frame *iterations;              /* running iteration frames */
  struct loop_run *lprev, *lnext; /* in the run's list */
} loop_run;

struct frame {
  exec_run *run;
  frame *parent;
  int scope;         /* the loop node whose body this frame runs; -1 = top */
  int64_t iteration; /* recorded with the steps */
  json_t *item, *index;
  bool has_item;                /* item and index are bound here */
  loop_run *owner;              /* the loop this frame is an iteration of */
  size_t slot;                  /* its index in the loop */
  frame *iter_prev, *iter_next; /* in owner->iterations */
  int *remaining;
  unsigned char *taken, *state;
  int pending;   /* nodes of the scope not yet done */
  json_t *nodes; /* {id: {"output", "status"}} of this frame's nodes */
  int refs;      /* the run's frames are freed when the last user goes */
};

typedef struct step_run {
  exec_run *run;
  frame *fr;
  int node;
  int attempt;
  json_t *input;
  json_t *shown; /* the input as recorded, secrets redacted; NULL = input */
  int64_t started_at;
  action_call call;
  bool in_action;
  uv_timer_t timer; /* the step's timeout, or the wait before a retry */
  bool timer_live;
  bool timed_out;
  char key[200];
  struct step_run *prev, *next;
} step_run;

struct exec_run {
  engine_loop *loop;
  worker_exec *x;
  int64_t id, created_at;
  cached_flow *cf;
  const flow *f;
  json_t *trigger, *execution, *checkpoints;
  int64_t org_id;
  /* Credentials, read when first needed (see "secrets" below). */
  bool secrets_tried;
  char secrets_error[200];
  json_t *secrets_full;  /* name -> {"type", "read_only", "data"} */
  json_t *secrets;       /* name -> data: `secrets` in templates */
  json_t *secrets_shown; /* the same with every string "[secret]" */
  json_t *scrub;         /* secret strings kept out of records, longest first */
  frame *top;
  step_run *steps; /* steps in flight */
  loop_run *loops; /* loops running */
  uv_timer_t timeout;
  int64_t timeout_ms;
  bool has_timeout;
  bool concluded;
  int refs; /* the run itself + pending callbacks + open handles */
  exec_run *prev, *next;
};

typedef struct ready_item {
  frame *fr;
  int node;     /* a node to run... */
  loop_run *lr; /* ...or iteration `slot` of a loop */
  size_t slot;
  struct ready_item *next;
} ready_item;

typedef enum inbox_kind { IN_EXEC, IN_COMMITTED } inbox_kind;

typedef struct inbox_item {
  inbox_kind kind;
  worker_exec *x;
  void *ctx;
  cf_err rc;
  struct inbox_item *next;
} inbox_item;

struct engine_loop {
  engine *e;
  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t check;
  http_client *http;
  pthread_t thread;
  pthread_mutex_t lock;
  inbox_item *inbox, *inbox_tail;
  bool stopping;
  exec_run *runs;
  ready_item *ready, *ready_tail;
  uint64_t rng;
};

struct engine {
  engine_config cfg;
  engine_loop *loops;
  int nloops;
  unsigned next_loop;
  pthread_mutex_t cache_lock;
  cached_flow *cache;
  int cache_len;
  uint64_t cache_clock;
  _Atomic int64_t n_execs, n_actions, n_steps;
};

static void pump(engine_loop *l);
static void node_done(frame *fr, int node, const char *status, json_t *output, flow_when route);
static void exec_fail(exec_run *r, worker_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_unref(exec_run *r);
static void frame_unref(frame *fr);

static int64_t now_ms(void) {
  return worker_now_ms();
}

/* ------------------------------------------------------------ the flow cache */

static void parts_free(transform_parts *p) {
  expr_json_free(p->from);
  expr_json_free(p->value);
  expr_json_free(p->set);
  expr_json_free(p->map_items);
  expr_json_free(p->map_value);
  json_decref(p->pick);
  json_decref(p->rename);
}

static void cached_free(cached_flow *c) {
  if (!c)
    return;
  for (int i = 0; c->parts && c->f && i < c->f->n_nodes; i++)
    parts_free(&c->parts[i]);
  for (int i = 0; c->html && c->f && i < c->f->n_nodes; i++)
    for (size_t k = 0; k < c->html[i].n; k++)
      expr_tmpl_free(c->html[i].tmpls[k]);
  free(c->html);
  free(c->parts);
  flow_free(c->f);
  free(c);
}

static void ignore_problem(void *ctx, const char *path, const expr_error *e) {
  (void)path;
  (void)e;
  *(bool *)ctx = true;
}

static cf_err compile_part(const json_t *v, expr_json **out) {
  *out = NULL;
  if (!v)
    return CF_OK;
  bool failed = false;
  return expr_json_compile(v, "", NULL, ignore_problem, &failed, out);
}

/* An action's html_params that are literal strings, compiled again for
 * evaluation with HTML escaping. */
static cf_err compile_html(cached_flow *c, int i) {
  const flow_node *n = &c->f->nodes[i];
  const action_def *a = action_find(n->action);
  html_parts *h = &c->html[i];
  for (size_t k = 0; a && a->html_params && a->html_params[k] && h->n < 4; k++) {
    const json_t *v = json_object_get(n->params, a->html_params[k]);
    if (!json_is_string(v) || !expr_text_has_template(json_string_value(v), json_string_length(v)))
      continue;
    expr_error ee;
    expr_tmpl *t;
    if (expr_tmpl_parse(json_string_value(v), json_string_length(v), NULL, &t, &ee) != CF_OK)
      return CF_E_INVALID; /* cannot happen: the validator compiled it */
    h->names[h->n] = a->html_params[k];
    h->tmpls[h->n++] = t;
  }
  return CF_OK;
}

static cf_err compile_transforms(cached_flow *c) {
  c->parts = calloc((size_t)c->f->n_nodes, sizeof *c->parts);
  c->html = calloc((size_t)c->f->n_nodes, sizeof *c->html);
  if (!c->parts || !c->html)
    return CF_E_NOMEM;
  for (int i = 0; i < c->f->n_nodes; i++) {
    const flow_node *n = &c->f->nodes[i];
    if (n->type == FLOW_ACTION && compile_html(c, i) != CF_OK)
      return CF_E_INVALID;
    if (n->type != FLOW_TRANSFORM)
      continue;
    transform_parts *p = &c->parts[i];
    const json_t *map = json_object_get(n->params, "map");
    cf_err rc = compile_part(json_object_get(n->params, "from"), &p->from);
    if (!rc)
      rc = compile_part(json_object_get(n->params, "value"), &p->value);
    if (!rc)
      rc = compile_part(json_object_get(n->params, "set"), &p->set);
    if (!rc && map)
      rc = compile_part(json_object_get(map, "items"), &p->map_items);
    if (!rc && map)
      rc = compile_part(json_object_get(map, "value"), &p->map_value);
    if (rc)
      return rc;
    p->pick = json_incref(json_object_get(n->params, "pick"));
    p->rename = json_incref(json_object_get(n->params, "rename"));
  }
  return CF_OK;
}

/* The parsed flow of a workflow version, shared; error text in err. */
static cached_flow *flow_get(engine *e, int64_t workflow_id, int32_t version, char *err,
                             size_t cap) {
  pthread_mutex_lock(&e->cache_lock);
  for (cached_flow *c = e->cache; c; c = c->next)
    if (c->workflow_id == workflow_id && c->version == version) {
      c->refs++;
      c->used = ++e->cache_clock;
      pthread_mutex_unlock(&e->cache_lock);
      return c;
    }
  pthread_mutex_unlock(&e->cache_lock);

  char *def = NULL;
  int32_t got;
  cf_err rc = store_workflow_version_get(e->cfg.store, workflow_id, version, &def, &got);
  if (rc) {
    snprintf(err, cap, "cannot load workflow %lld version %d: %s", (long long)workflow_id,
             (int)version, cf_strerror(rc));
    return NULL;
  }
  cached_flow *c = calloc(1, sizeof *c);
  flow_problems *problems = malloc(sizeof *problems);
  if (!c || !problems) {
    free(def);
    free(c);
    free(problems);
    snprintf(err, cap, "out of memory");
    return NULL;
  }
  problems->count = 0;
  problems->truncated = false;
  size_t nspecs;
  const flow_action_spec *specs = actions_specs(&nspecs);
  rc = flow_parse(def, strlen(def), NULL, specs, nspecs, &c->f, problems);
  free(def);
  if (!rc)
    rc = compile_transforms(c);
  if (rc) {
    char text[400];
    flow_problems_format(problems, text, sizeof text);
    snprintf(err, cap, "the workflow definition is not valid: %s", text);
    free(problems);
    cached_free(c);
    return NULL;
  }
  free(problems);
  c->workflow_id = workflow_id;
  c->version = version;
  c->refs = 1;
  pthread_mutex_lock(&e->cache_lock);
  c->used = ++e->cache_clock;
  c->next = e->cache;
  e->cache = c;
  e->cache_len++;
  /* Bounded: drop the least recently used entry nobody holds. */
  while (e->cache_len > FLOW_CACHE_MAX) {
    cached_flow **victim = NULL;
    for (cached_flow **pp = &e->cache; *pp; pp = &(*pp)->next)
      if ((*pp)->refs == 0 && (!victim || (*pp)->used < (*victim)->used))
        victim = pp;
    if (!victim)
      break;
    cached_flow *v = *victim;
    *victim = v->next;
    e->cache_len--;
    cached_free(v);
  }
  pthread_mutex_unlock(&e->cache_lock);
  return c;
}

static void flow_put(engine *e, cached_flow *c) {
  if (!c)
    return;
  pthread_mutex_lock(&e->cache_lock);
  c->refs--;
  pthread_mutex_unlock(&e->cache_lock);
}

/* ------------------------------------------------------------ inbox */

static void inbox_push(engine_loop *l, inbox_item *it) {
  it->next = NULL;
  pthread_mutex_lock(&l->lock);
  if (l->inbox_tail)
    l->inbox_tail->next = it;
  else
    l->inbox = it;
  l->inbox_tail = it;
  pthread_mutex_unlock(&l->lock);
  uv_async_send(&l->wake);
}

/* ------------------------------------------------------------ expressions */

typedef struct eval_scope {
  frame *fr;
  json_t *merged;    /* nodes of the frame and its parents, built on demand */
  bool redact;       /* `secrets` gives "[secret]" for every value */
  bool used_secrets; /* the evaluation read `secrets` */
} eval_scope;

static bool secrets_load(exec_run *r);

static json_t *merged_nodes(eval_scope *s) {
  if (!s->fr->parent)
    return s->fr->nodes;
  if (s->merged)
    return s->merged;
  frame *chain[FLOW_MAX_LOOP_DEPTH + 2];
  int n = 0;
  for (frame *f = s->fr; f && n < (int)(sizeof chain / sizeof *chain); f = f->parent)
    chain[n++] = f;
  s->merged = json_object();
  for (int i = n - 1; s->merged && i >= 0; i--)
    json_object_update(s->merged, chain[i]->nodes);
  return s->merged;
}

static json_t *lookup(void *ctx, const char *name) {
  eval_scope *s = ctx;
  exec_run *r = s->fr->run;
  if (strcmp(name, "trigger") == 0)
    return r->trigger;
  if (strcmp(name, "nodes") == 0)
    return merged_nodes(s);
  if (strcmp(name, "vars") == 0)
    return r->f->vars;
  if (strcmp(name, "execution") == 0)
    return r->execution;
  if (strcmp(name, "item") == 0 || strcmp(name, "index") == 0) {
    for (frame *f = s->fr; f; f = f->parent)
      if (f->has_item)
        return name[1] == 't' ? f->item : f->index;
    return NULL;
  }
  if (strcmp(name, "secrets") == 0) {
    s->used_secrets = true;
    if (!secrets_load(r))
      return NULL;
    return s->redact ? r->secrets_shown : r->secrets;
  }
  return NULL;
}

static expr_env env_for(eval_scope *s, engine *e) {
  return (expr_env){.lookup = lookup, .ctx = s, .now_ms = now_ms(), .tz = e->cfg.tz};
}

/* A template that read `secrets` when they could not be loaded fails. */
static bool secrets_failed(eval_scope *s, char *err, size_t cap) {
  exec_run *r = s->fr->run;
  if (!s->used_secrets || r->secrets)
    return false;
  snprintf(err, cap, "secrets: %s", r->secrets_error);
  return true;
}

/* Evaluates a compiled value in a frame; NULL and a message on error.
 * *used (may be NULL) tells whether it read `secrets`. */
static json_t *evaluate_in(frame *fr, const expr_json *j, bool redact, bool *used, char *err,
                           size_t cap) {
  if (used)
    *used = false;
  if (!j)
    return json_object();
  eval_scope s = {fr, NULL, redact, false};
  expr_env env = env_for(&s, fr->run->loop->e);
  json_t *out = NULL;
  expr_error ee;
  char path[160] = "";
  cf_err rc = expr_json_eval(j, &env, &out, &ee, path, sizeof path);
  json_decref(s.merged);
  if (used)
    *used = s.used_secrets;
  if (!rc && secrets_failed(&s, err, cap)) {
    json_decref(out);
    return NULL;
  }
  if (rc) {
    snprintf(err, cap, "%s%s%s", path, path[0] ? ": " : "", ee.message);
    return NULL;
  }
  return out;
}

static json_t *evaluate(frame *fr, const expr_json *j, char *err, size_t cap) {
  return evaluate_in(fr, j, false, NULL, err, cap);
}

/* Evaluates one template (html: escaped) in a frame. */
static json_t *evaluate_tmpl(frame *fr, const expr_tmpl *t, bool html, bool redact, bool *used,
                             char *err, size_t cap) {
  eval_scope s = {fr, NULL, redact, false};
  expr_env env = env_for(&s, fr->run->loop->e);
  json_t *out = NULL;
  expr_error ee;
  cf_err rc = html ? expr_tmpl_eval_html(t, &env, &out, &ee) : expr_tmpl_eval(t, &env, &out, &ee);
  json_decref(s.merged);
  if (used)
    *used = s.used_secrets;
  if (!rc && secrets_failed(&s, err, cap)) {
    json_decref(out);
    return NULL;
  }
  if (rc) {
    snprintf(err, cap, "column %zu: %s", ee.column, ee.message);
    return NULL;
  }
  return out;
}

/* ------------------------------------------------------------ recording */

typedef struct commit_wait {
  exec_run *run;
  frame *fr;
  int node;
  char *status;
  json_t *output;
  flow_when route;
} commit_wait;

static char *dump_kept(const json_t *v) {
  if (!v)
    return NULL;
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text && strlen(text) > MAX_KEPT_OUTPUT) {
    size_t n = strlen(text);
    free(text);
    json_t *note = json_pack("{s:b, s:I}", "truncated", 1, "size", (json_int_t)n);
    text = note ? json_dumps(note, JSON_COMPACT) : NULL;
    json_decref(note);
  }
  return text;
}

static void on_step_committed(void *ctx, cf_err rc);

/* ------------------------------------------------------------ secrets
 *
 * `{{ secrets.NAME.field }}` and actions' `credential` params read the
 * credentials of the execution's organization, decrypted by the store
 * when first needed and kept only in memory for the execution's life.
 * They must never reach a record: a step's input is recorded as evaluated
 * with every secret value replaced by "[secret]", and every string that
 * is recorded or logged (inputs, outputs, errors, log lines, the result)
 * has any secret value that still appears in it (an action's echo, an
 * error quoting a URL) replaced by "[secret]".
 */

/* Fields whose values are secrets whatever their length; any other string
 * of 16 bytes or more is treated as one too, except these public ones. */
static const char *const secret_fields[] = {"password",      "token",  "webhook_url", "url",
                                            "value",         "secret", "api_key",     "key",
                                            "client_secret", NULL};
static const char *const public_fields[] = {"host",     "port",     "username", "user",    "path",
                                            "api_base", "security", "from",     "channel", "name",
                                            "header",   "database", "ca_file",  NULL};

static bool listed(const char *const *names, const char *name) {
  for (size_t i = 0; names[i]; i++)
    if (strcmp(names[i], name) == 0)
      return true;
  return false;
}

static void scrub_add(json_t *list, const char *text, size_t n) {
  if (n < 4)
    return; /* shorter ones would blank out ordinary text */
  json_t *v = json_stringn(text, n);
  if (!v)
    return;
  size_t i, at = json_array_size(list);
  json_t *old;
  json_array_foreach(list, i, old) {
    if (json_equal(old, v)) {
      json_decref(v);
      return;
    }
    if (at == json_array_size(list) && json_string_length(old) < n)
      at = i;
  }
  json_array_insert_new(list, at, v);
}

/* The password inside a URL's user info (scheme://user:PASSWORD@host). */
static void scrub_add_url_password(json_t *list, const char *url) {
  const char *p = strstr(url, "://");
  if (!p)
    return;
  p += 3;
  const char *at = strchr(p, '@');
  const char *slash = strchr(p, '/');
  if (!at || (slash && slash < at))
    return;
  const char *colon = memchr(p, ':', (size_t)(at - p));
  if (colon)
    scrub_add(list, colon + 1, (size_t)(at - colon - 1));
}

static void scrub_collect(json_t *list, const json_t *data) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)data, k, v) {
    if (!json_is_string(v))
      continue;
    size_t n = json_string_length(v);
    if (listed(secret_fields, k) || (n >= 16 && !listed(public_fields, k)))
      scrub_add(list, json_string_value(v), n);
    scrub_add_url_password(list, json_string_value(v));
  }
}

static json_t *shown_copy(const json_t *data) {
  json_t *o = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)data, k, v) {
    json_object_set_new(o, k, json_is_string(v) ? json_string("[secret]") : json_incref(v));
  }
  return o;
}

/* Reads the organization's credentials once; false (with the reason in
 * secrets_error) when they cannot be read. */
static bool secrets_load(exec_run *r) {
  if (r->secrets_tried)
    return r->secrets != NULL;
  r->secrets_tried = true;
  store_credential *items = NULL;
  size_t n = 0;
  cf_err rc = store_credential_open_all(r->loop->e->cfg.store, r->org_id, &items, &n);
  if (rc) {
    snprintf(r->secrets_error, sizeof r->secrets_error, "the credentials cannot be read: %s",
             cf_strerror(rc));
    return false;
  }
  json_t *full = json_object(), *plain = json_object(), *shown = json_object(),
         *scrub = json_array();
  for (size_t i = 0; full && plain && shown && scrub && i < n; i++) {
    json_t *data = json_loads(items[i].data, 0, NULL);
    if (!json_is_object(data)) {
      json_decref(data);
      continue;
    }
    scrub_collect(scrub, data);
    json_object_set_new(shown, items[i].name, shown_copy(data));
    json_object_set(plain, items[i].name, data);
    json_object_set_new(full, items[i].name,
                        json_pack("{s:s, s:b, s:o}", "type", items[i].type, "read_only",
                                  items[i].read_only, "data", data));
  }
  store_credentials_free(items, n);
  if (!full || !plain || !shown || !scrub) {
    json_decref(full);
    json_decref(plain);
    json_decref(shown);
    json_decref(scrub);
    snprintf(r->secrets_error, sizeof r->secrets_error, "out of memory");
    return false;
  }
  r->secrets_full = full;
  r->secrets = plain;
  r->secrets_shown = shown;
  r->scrub = scrub;
  return true;
}

/* `text` with every secret replaced, or NULL when it holds none (or there
 * are none): the caller frees what it gets. */
static char *scrub_text(const exec_run *r, const char *text) {
  if (!r->scrub || json_array_size(r->scrub) == 0 || !text)
    return NULL;
  char *out = NULL;
  size_t i;
  json_t *secret;
  json_array_foreach(r->scrub, i, secret) {
    const char *cur = out ? out : text;
    const char *needle = json_string_value(secret);
    size_t nlen = json_string_length(secret);
    if (!strstr(cur, needle))
      continue;
    size_t cap = strlen(cur) + 1, count = 0;
    for (const char *p = strstr(cur, needle); p; p = strstr(p + nlen, needle))
      count++;
    cap += count * sizeof "[secret]";
    char *next = malloc(cap), *w = next;
    if (!next)
      continue;
    for (const char *p = cur, *hit; (hit = strstr(p, needle)); p = hit + nlen) {
      memcpy(w, p, (size_t)(hit - p));
      w += hit - p;
      memcpy(w, "[secret]", 8);
      w += 8;
      cur = hit + nlen;
    }
    strcpy(w, cur);
    free(out);
    out = next;
  }
  return out;
}

/* A copy of v with secrets replaced in every string (keys included), or
 * a new reference to v itself when there is nothing to replace. */
static json_t *scrub_json(const exec_run *r, const json_t *v) {
  if (!v || !r->scrub || json_array_size(r->scrub) == 0)
    return json_incref((json_t *)v);
  if (json_is_string(v)) {
    char *t = scrub_text(r, json_string_value(v));
    if (!t)
      return json_incref((json_t *)v);
    json_t *s = json_string(t);
    free(t);
    return s ? s : json_string("[secret]");
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      json_array_append_new(a, scrub_json(r, x));
    }
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      char *kk = scrub_text(r, k);
      json_object_set_new(o, kk ? kk : k, scrub_json(r, x));
      free(kk);
    }
    return o;
  }
  return json_incref((json_t *)v);
}

/* A value's recorded text: secrets replaced, capped (dump_kept). */
static char *dump_shown(const exec_run *r, const json_t *v) {
  if (!v)
    return NULL;
  json_t *shown = scrub_json(r, v);
  char *text = dump_kept(shown);
  json_decref(shown);
  return text;
}

/* Appends a log line of the execution, secrets replaced. */
static void log_line(exec_run *r, const char *node_id, const char *level, const char *message) {
  char *shown = scrub_text(r, message);
  (void)worker_exec_log(r->x, node_id, level, shown ? shown : message);
  free(shown);
}

/*
 * Records a step. With `wait`, the node is finished (node_done) only once
 * the record is committed — for actions, whose effects must not be
 * repeated after a crash; otherwise at once.
 */
static void record_step(frame *fr, int node, const char *status, int attempts, const json_t *input,
                        json_t *output, const char *error, int64_t started_at, bool wait,
                        flow_when route) {
  exec_run *r = fr->run;
  const flow_node *n = &r->f->nodes[node];
  char *in = dump_shown(r, input);
  char *out = dump_shown(r, output);
  char *err_shown = error ? scrub_text(r, error) : NULL;
  if (err_shown)
    error = err_shown;
  store_step step = {.node_id = n->id,
                     .iteration = fr->iteration,
                     .status = status,
                     .attempts = attempts,
                     .input = in,
                     .output = out,
                     .error = error,
                     .started_at = started_at,
                     .finished_at = strcmp(status, "running") == 0 ? 0 : now_ms()};
  commit_wait *w = NULL;
  if (wait) {
    w = malloc(sizeof *w);
    if (w) {
      *w = (commit_wait){r, fr, node, strdup(status), output, route};
      r->refs++;
      fr->refs++;
    }
  }
  cf_err rc = worker_exec_checkpoint_async(r->x, &step, w ? on_step_committed : NULL, w);
  engine *e = r->loop->e;
  if (step.finished_at)
    atomic_fetch_add(&e->n_steps, 1);
  if (e->cfg.on_step)
    e->cfg.on_step(e->cfg.on_step_ctx, worker_exec_claim(r->x), &step);
  free(in);
  free(out);
  free(err_shown);
  if (rc && w) {
    /* Not queued: the callback never comes. Go on; the outcome write will
     * fail the same way and the lease decides. */
    r->refs--;
    fr->refs--;
    free(w->status);
    free(w);
    w = NULL;
  }
  if (!w && wait)
    node_done(fr, node, status, output, route);
}

/* On the store's writer thread: hand the acknowledgement to the loop. */
static void on_step_committed(void *ctx, cf_err rc) {
  commit_wait *w = ctx;
  inbox_item *it = calloc(1, sizeof *it);
  if (!it)
    abort(); /* cannot even say so: the loop would wait forever */
  it->kind = IN_COMMITTED;
  it->ctx = w;
  it->rc = rc;
  inbox_push(w->run->loop, it);
}

static void committed(commit_wait *w, cf_err rc) {
  exec_run *r = w->run;
  if (!r->concluded) {
    if (rc == CF_E_LEASE_LOST)
      exec_fail(r, WORKER_INTERRUPTED, "the lease was lost");
    else
      node_done(w->fr, w->node, w->status, w->output, w->route);
  } else {
    json_decref(w->output);
  }
  free(w->status);
  frame_unref(w->fr);
  run_unref(r);
  free(w);
}

/* ------------------------------------------------------------ frames */

static void ready_push(engine_loop *l, frame *fr, int node, loop_run *lr, size_t slot) {
  ready_item *it = malloc(sizeof *it);
  if (!it) {
    exec_fail(fr->run, WORKER_FAILED, "out of memory");
    return;
  }
  *it = (ready_item){fr, node, lr, slot, NULL};
  fr->refs++;
  if (l->ready_tail)
    l->ready_tail->next = it;
  else
    l->ready = it;
  l->ready_tail = it;
}

static bool in_scope(const frame *fr, int node) {
  return fr->run->f->nodes[node].loop == fr->scope;
}

static frame *frame_new(exec_run *r, frame *parent, int scope, int64_t iteration) {
  frame *fr = calloc(1, sizeof *fr);
  int n = r->f->n_nodes;
  if (!fr)
    return NULL;
  fr->run = r;
  fr->parent = parent;
  fr->scope = scope;
  fr->iteration = iteration;
  fr->refs = 1;
  fr->remaining = calloc((size_t)n, sizeof *fr->remaining);
  fr->taken = calloc((size_t)n, 1);
  fr->state = calloc((size_t)n, 1);
  fr->nodes = json_object();
  if (!fr->remaining || !fr->taken || !fr->state || !fr->nodes) {
    frame_unref(fr);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (in_scope(fr, i)) {
      fr->pending++;
      fr->remaining[i] = r->f->nodes[i].n_in;
    }
  if (parent)
    parent->refs++;
  r->refs++;
  return fr;
}

static void frame_unref(frame *fr) {
  if (!fr || --fr->refs > 0)
    return;
  frame *parent = fr->parent;
  exec_run *r = fr->run;
  free(fr->remaining);
  free(fr->taken);
  free(fr->state);
  json_decref(fr->nodes);
  json_decref(fr->item);
  json_decref(fr->index);
  free(fr);
  if (parent)
    frame_unref(parent);
  if (r)
    run_unref(r);
}

static void edge_decided(frame *fr, int node, bool taken) {
  if (taken)
    fr->taken[node] = 1;
  if (--fr->remaining[node] > 0 || fr->state[node] != NS_WAITING)
    return;
  if (fr->taken[node]) {
    fr->state[node] = NS_READY;
    ready_push(fr->run->loop, fr, node, NULL, 0);
  } else {
    /* Skipped: nothing reached it; its own edges are not taken either. */
    fr->state[node] = NS_RUNNING;
    node_done(fr, node, "skipped", NULL, FLOW_WHEN_ALWAYS);
  }
}

static void loop_iteration_done(frame *it);
static void exec_complete(exec_run *r);

/* Every node of the frame ran or was skipped. */
static void frame_complete(frame *fr) {
  if (fr->owner)
    loop_iteration_done(fr);
  else if (!fr->parent)
    exec_complete(fr->run);
}

/* Whether an edge leaving a finished node is taken. */
static bool edge_taken(flow_when when, const char *status, flow_when route) {
  if (strcmp(status, "skipped") == 0)
    return false;
  return when == route;
}

/*
 * A node finished: record its output in the frame (steals `output`), then
 * decide the edges leaving it. route is the edge label to follow:
 * ALWAYS/DONE on success, TRUE/FALSE for conditions, ERROR on a handled
 * failure.
 */
static void node_done(frame *fr, int node, const char *status, json_t *output, flow_when route) {
  exec_run *r = fr->run;
  if (r->concluded) {
    json_decref(output);
    return;
  }
  const flow_node *n = &r->f->nodes[node];
  fr->state[node] = NS_DONE;
  json_t *entry =
      json_pack("{s:o, s:s}", "output", output ? output : json_null(), "status", status);
  if (entry)
    json_object_set_new(fr->nodes, n->id, entry);
  for (int k = 0; k < n->n_out; k++) {
    const flow_edge *e = &r->f->edges[n->out[k]];
    if (e->when == FLOW_WHEN_EACH)
      continue; /* the body runs in the loop's own frames */
    flow_when effective = route;
    /* A loop that finished goes on along `done`. */
    if (n->type == FLOW_LOOP && route == FLOW_WHEN_ALWAYS)
      effective = FLOW_WHEN_DONE;
    edge_decided(fr, e->to, edge_taken(e->when, status, effective));
  }
  if (--fr->pending == 0)
    frame_complete(fr);
}

/* ------------------------------------------------------------ loops */

static void loop_start_next(loop_run *lr);

static void loop_unlink(loop_run *lr) {
  exec_run *r = lr->fr->run;
  if (lr->lprev)
    lr->lprev->lnext = lr->lnext;
  else
    r->loops = lr->lnext;
  if (lr->lnext)
    lr->lnext->lprev = lr->lprev;
}

static void iteration_unlink(frame *it) {
  loop_run *lr = it->owner;
  if (it->iter_prev)
    it->iter_prev->iter_next = it->iter_next;
  else
    lr->iterations = it->iter_next;
  if (it->iter_next)
    it->iter_next->iter_prev = it->iter_prev;
  it->owner = NULL;
}

/* A concluded execution's loops: let go of their frames. */
static void loops_release(exec_run *r) {
  while (r->loops) {
    loop_run *lr = r->loops;
    loop_unlink(lr);
    while (lr->iterations) {
      frame *it = lr->iterations;
      iteration_unlink(it);
      frame_unref(it);
    }
    json_decref(lr->items);
    json_decref(lr->results);
    frame_unref(lr->fr);
    free(lr);
  }
}

static void loop_finish(loop_run *lr) {
  frame *fr = lr->fr;
  loop_unlink(lr);
  json_t *out = json_pack("{s:O, s:I}", "items", lr->results, "count", (json_int_t)lr->n);
  json_decref(lr->items);
  json_decref(lr->results);
  int node = lr->node;
  int64_t started = lr->started_at;
  free(lr);
  record_step(fr, node, "succeeded", 1, NULL, out, NULL, started, false, FLOW_WHEN_ALWAYS);
  node_done(fr, node, "succeeded", out, FLOW_WHEN_ALWAYS);
  frame_unref(fr);
}

/* An iteration's result: its body's sink output, or an object of them. */
static json_t *iteration_result(frame *it, const flow_node *loop_node) {
  const flow *f = it->run->f;
  if (loop_node->n_body_sinks == 1) {
    json_t *e = json_object_get(it->nodes, f->nodes[loop_node->body_sinks[0]].id);
    return json_incref(e ? json_object_get(e, "output") : json_null());
  }
  json_t *o = json_object();
  for (int k = 0; o && k < loop_node->n_body_sinks; k++) {
    const char *id = f->nodes[loop_node->body_sinks[k]].id;
    json_t *e = json_object_get(it->nodes, id);
    json_object_set(o, id, e ? json_object_get(e, "output") : json_null());
  }
  return o;
}

static void loop_iteration_done(frame *it) {
  loop_run *lr = it->owner;
  exec_run *r = it->run;
  json_t *res = iteration_result(it, &r->f->nodes[lr->node]);
  json_array_set_new(lr->results, it->slot, res ? res : json_null());
  iteration_unlink(it);
  lr->active--;
  lr->finished++;
  frame_unref(it);
  if (lr->finished == lr->n)
    loop_finish(lr);
  else
    loop_start_next(lr);
}

static void loop_start_next(loop_run *lr) {
  while (lr->next < lr->n && lr->active < (size_t)lr->parallelism) {
    lr->active++;
    ready_push(lr->fr->run->loop, lr->fr, lr->node, lr, lr->next);
    lr->next++;
  }
}

/* Starts iteration number `slot` of a loop (from the ready list). */
static void loop_iteration_start(loop_run *lr, size_t slot) {
  frame *parent = lr->fr;
  exec_run *r = parent->run;
  int64_t iteration = (parent->iteration << ITERATION_BITS) + (int64_t)slot;
  frame *it = frame_new(r, parent, lr->node, iteration);
  if (!it) {
    exec_fail(r, WORKER_FAILED, "out of memory");
    return;
  }
  it->owner = lr;
  it->iter_next = lr->iterations;
  if (lr->iterations)
    lr->iterations->iter_prev = it;
  lr->iterations = it;
  it->has_item = true;
  it->slot = slot;
  it->item = json_incref(json_array_get(lr->items, slot));
  it->index = json_integer((json_int_t)slot);
  const flow_node *ln = &r->f->nodes[lr->node];
  for (int k = 0; k < ln->n_out; k++) {
    const flow_edge *e = &r->f->edges[ln->out[k]];
    if (e->when == FLOW_WHEN_EACH)
      edge_decided(it, e->to, true);
  }
  if (it->pending == 0)
    frame_complete(it);
}

static void run_loop(frame *fr, int node, json_t *input) {
  exec_run *r = fr->run;
  json_t *items = json_object_get(input, "items");
  const flow_node *n = &r->f->nodes[node];
  char err[300] = "";
  if (!json_is_array(items))
    snprintf(err, sizeof err, "items must be an array, not %s",
             items ? (json_is_object(items) ? "an object" : "a single value") : "missing");
  bool bad = false;
  int64_t par = action_param_int(input, "parallelism", 1, 1, 10000, &bad);
  int64_t max_items = action_param_int(input, "max_items", DEFAULT_MAX_ITEMS, 1, 100000, &bad);
  if (!err[0] && bad)
    snprintf(err, sizeof err, "parallelism must be 1 to 10000 and max_items 1 to 100000");
  if (!err[0] && json_array_size(items) > (size_t)max_items)
    snprintf(err, sizeof err, "%zu items, more than max_items (%lld)", json_array_size(items),
             (long long)max_items);
  if (!err[0] && json_array_size(items) >= ((size_t)1 << ITERATION_BITS))
    snprintf(err, sizeof err, "%zu items; a loop runs at most %d", json_array_size(items),
             (1 << ITERATION_BITS) - 1);
  if (err[0]) {
    bool handled = false;
    for (int k = 0; k < n->n_out; k++)
      handled |= r->f->edges[n->out[k]].when == FLOW_WHEN_ERROR;
    json_t *out = json_pack("{s:s}", "error", err);
    record_step(fr, node, "failed", 1, input, out, err, now_ms(), false, FLOW_WHEN_ERROR);
    if (handled) {
      node_done(fr, node, "failed", out, FLOW_WHEN_ERROR);
    } else {
      json_decref(out);
      exec_fail(r, WORKER_FAILED_FINAL, "node '%s': %s", n->id, err);
    }
    return;
  }
  loop_run *lr = calloc(1, sizeof *lr);
  json_t *results = json_array();
  for (size_t i = 0; results && i < json_array_size(items); i++)
    json_array_append_new(results, json_null());
  if (!lr || !results) {
    free(lr);
    json_decref(results);
    exec_fail(r, WORKER_FAILED, "out of memory");
    return;
  }
  lr->fr = fr;
  fr->refs++;
  lr->lnext = r->loops;
  if (r->loops)
    r->loops->lprev = lr;
  r->loops = lr;
  lr->node = node;
  lr->items = json_incref(items);
  lr->n = json_array_size(items);
  lr->parallelism = (int)par;
  lr->results = results;
  lr->started_at = now_ms();
  /* Its record shows how many items; the items themselves are its
   * input's source's output already. */
  json_t *summary = json_pack("{s:I, s:i}", "count", (json_int_t)lr->n, "parallelism", (int)par);
  record_step(fr, node, "running", 1, summary, NULL, NULL, lr->started_at, false, FLOW_WHEN_ALWAYS);
  json_decref(summary);
  if (lr->n == 0) {
    loop_finish(lr);
    return;
  }
  loop_start_next(lr);
}

/* ------------------------------------------------------------ transforms */

static cf_err set_path(json_t *obj, const char *path, json_t *value) {
  char key[256];
  const char *dot = strchr(path, '.');
  if (!dot)
    return json_object_set_new(obj, path, value) == 0 ? CF_OK : CF_E_NOMEM;
  size_t n = (size_t)(dot - path);
  if (n == 0 || n >= sizeof key) {
    json_decref(value);
    return CF_E_INVALID;
  }
  memcpy(key, path, n);
  key[n] = '\0';
  json_t *child = json_object_get(obj, key);
  if (!json_is_object(child)) {
    child = json_object();
    if (!child || json_object_set_new(obj, key, child) != 0) {
      json_decref(value);
      return CF_E_NOMEM;
    }
  }
  return set_path(child, dot + 1, value);
}

/* Builds a transform's output; NULL and err on failure. */
static json_t *run_transform(frame *fr, int node, char *err, size_t cap) {
  const transform_parts *p = &fr->run->cf->parts[node];
  if (p->value)
    return evaluate(fr, p->value, err, cap);
  json_t *out;
  if (p->from) {
    json_t *from = evaluate(fr, p->from, err, cap);
    if (!from)
      return NULL;
    /* Deep: setting "a.b" must not reach into the source node's output. */
    out = json_is_object(from) ? json_deep_copy(from) : NULL;
    if (!out && !json_is_object(from) && p->map_items == NULL && !p->set && !p->pick && !p->rename)
      return from; /* a plain value passes through */
    json_decref(from);
    if (!out) {
      snprintf(err, cap, "from must be an object to pick, rename or set keys in");
      return NULL;
    }
  } else {
    out = json_object();
  }
  if (p->pick && json_is_array(p->pick)) {
    json_t *kept = json_object();
    size_t i;
    json_t *k;
    json_array_foreach(p->pick, i, k) {
      json_t *v = json_is_string(k) ? json_object_get(out, json_string_value(k)) : NULL;
      if (v)
        json_object_set(kept, json_string_value(k), v);
    }
    json_decref(out);
    out = kept;
  }
  if (p->rename && json_is_object(p->rename)) {
    const char *from_key;
    json_t *to;
    json_object_foreach(p->rename, from_key, to) {
      json_t *v = json_object_get(out, from_key);
      if (v && json_is_string(to)) {
        json_incref(v);
        json_object_del(out, from_key);
        json_object_set_new(out, json_string_value(to), v);
      }
    }
  }
  if (p->set) {
    json_t *set = evaluate(fr, p->set, err, cap);
    if (!set) {
      json_decref(out);
      return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(set, key, v) {
      if (set_path(out, key, json_incref(v)) != CF_OK) {
        snprintf(err, cap, "set: cannot set '%s'", key);
        json_decref(set);
        json_decref(out);
        return NULL;
      }
    }
    json_decref(set);
  }
  if (p->map_items) {
    json_t *items_obj = evaluate(fr, p->map_items, err, cap);
    if (!items_obj) {
      json_decref(out);
      return NULL;
    }
    if (!json_is_array(items_obj)) {
      snprintf(err, cap, "map.items must be an array");
      json_decref(items_obj);
      json_decref(out);
      return NULL;
    }
    json_t *mapped = json_array();
    /* Each item is evaluated in a frame-like scope of its own. */
    frame scope = *fr;
    scope.has_item = true;
    scope.owner = NULL;
    scope.parent = fr;
    scope.nodes = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(items_obj, i, item) {
      scope.item = item;
      scope.index = json_integer((json_int_t)i);
      json_t *v = evaluate(&scope, p->map_value, err, cap);
      json_decref(scope.index);
      if (!v) {
        json_decref(mapped);
        mapped = NULL;
        break;
      }
      json_array_append_new(mapped, v);
    }
    json_decref(scope.nodes);
    json_decref(items_obj);
    if (!mapped) {
      json_decref(out);
      return NULL;
    }
    if (json_object_size(out) == 0 && !p->from && !p->set) {
      json_decref(out);
      return mapped;
    }
    json_object_set_new(out, "items", mapped);
  }
  return out;
}

/* ------------------------------------------------------------ steps */

static void step_unlink(step_run *s) {
  exec_run *r = s->run;
  if (s->prev)
    s->prev->next = s->next;
  else
    r->steps = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void step_free_cb(uv_handle_t *h) {
  step_run *s = h->data;
  exec_run *r = s->run;
  frame_unref(s->fr);
  free(s);
  run_unref(r);
}

/* Ends a step's life: its timer closes, then it is freed. */
static void step_release(step_run *s) {
  step_unlink(s);
  json_decref(s->input);
  json_decref(s->shown);
  s->input = s->shown = NULL;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, step_free_cb);
}

static void step_attempt(step_run *s);

/* What a step's record shows as its input. */
static json_t *step_shown(step_run *s) {
  return s->shown ? s->shown : s->input;
}

static void on_retry_timer(uv_timer_t *t) {
  step_run *s = t->data;
  s->timer_live = false;
  step_attempt(s);
}

/* A step failed for good: route it, or fail the execution. */
static void step_failed(step_run *s, const char *error, bool retryable) {
  exec_run *r = s->run;
  frame *fr = s->fr;
  const flow_node *n = &r->f->nodes[s->node];
  const char *status = s->timed_out ? "timed_out" : "failed";
  bool has_error_edge = false;
  for (int k = 0; k < n->n_out; k++)
    has_error_edge |= r->f->edges[n->out[k]].when == FLOW_WHEN_ERROR;
  json_t *out = json_pack("{s:s}", "error", error);
  int node = s->node;
  json_t *input = json_incref(step_shown(s));
  int attempts = s->attempt;
  int64_t started = s->started_at;
  step_release(s);
  if (has_error_edge || n->on_error == FLOW_ON_ERROR_CONTINUE) {
    record_step(fr, node, status, attempts, input, out, error, started, true,
                has_error_edge ? FLOW_WHEN_ERROR : FLOW_WHEN_ALWAYS);
  } else {
    record_step(fr, node, status, attempts, input, NULL, error, started, false, FLOW_WHEN_ALWAYS);
    json_decref(out);
    exec_fail(r, retryable ? WORKER_FAILED : WORKER_FAILED_FINAL, "node '%s': %s", n->id, error);
  }
  json_decref(input);
}

static void action_complete(action_call *call, json_t *output, const char *error, bool retryable) {
  step_run *s = call->engine_data;
  exec_run *r = s->run;
  if (s->in_action)
    atomic_fetch_sub(&r->loop->e->n_actions, 1);
  s->in_action = false;
  uv_timer_stop(&s->timer);
  s->timer_live = false;
  if (r->concluded) {
    json_decref(output);
    step_release(s);
    pump(r->loop);
    return;
  }
  const flow_node *n = &r->f->nodes[s->node];
  if (error) {
    json_decref(output);
    if (retryable && s->attempt < n->retry.max_attempts) {
      int64_t delay = worker_backoff_ms(n->retry.backoff_ms, n->retry.backoff_max_ms, s->attempt,
                                        n->retry.jitter ? worker_random(&r->loop->rng) : 1.0);
      /* The remote said when to come back (Retry-After): at most an hour. */
      if (call->retry_after_ms > 0)
        delay =
            call->retry_after_ms < MAX_RETRY_AFTER_MS ? call->retry_after_ms : MAX_RETRY_AFTER_MS;
      char line[700];
      snprintf(line, sizeof line, "attempt %d failed: %s; retrying in %lld ms", s->attempt, error,
               (long long)delay);
      log_line(r, n->id, "warn", line);
      s->timed_out = false;
      s->timer_live = true;
      uv_timer_start(&s->timer, on_retry_timer, (uint64_t)delay, 0);
      return;
    }
    step_failed(s, error, retryable);
    pump(r->loop);
    return;
  }
  frame *fr = s->fr;
  int node = s->node;
  json_t *input = json_incref(step_shown(s));
  int attempts = s->attempt;
  int64_t started = s->started_at;
  step_release(s);
  record_step(fr, node, "succeeded", attempts, input, output, NULL, started, true,
              FLOW_WHEN_ALWAYS);
  json_decref(input);
  pump(r->loop);
}

static void action_log(action_call *call, const char *level, const char *message) {
  step_run *s = call->engine_data;
  log_line(s->run, s->run->f->nodes[s->node].id, level, message);
}

static const json_t *action_credential(action_call *call, const char *name, char *err, size_t cap) {
  step_run *s = call->engine_data;
  exec_run *r = s->run;
  if (!secrets_load(r)) {
    snprintf(err, cap, "%s", r->secrets_error);
    return NULL;
  }
  const json_t *c = json_object_get(r->secrets_full, name);
  if (!c)
    snprintf(err, cap, "no credential named '%.100s' in this organization", name);
  return c;
}

static json_t *action_render(action_call *call, const char *text, bool html, char *err,
                             size_t cap) {
  step_run *s = call->engine_data;
  expr_tmpl *t;
  expr_error ee;
  if (expr_tmpl_parse(text, strlen(text), NULL, &t, &ee) != CF_OK) {
    snprintf(err, cap, "column %zu: %s", ee.column, ee.message);
    return NULL;
  }
  json_t *out = evaluate_tmpl(s->fr, t, html, false, NULL, err, cap);
  expr_tmpl_free(t);
  return out;
}

static void on_step_timeout(uv_timer_t *t) {
  step_run *s = t->data;
  exec_run *r = s->run;
  const flow_node *n = &r->f->nodes[s->node];
  s->timer_live = false;
  if (!s->in_action)
    return;
  const action_def *a = action_find(n->action);
  if (a->cancel)
    a->cancel(&s->call);
  s->in_action = false;
  atomic_fetch_sub(&r->loop->e->n_actions, 1);
  s->timed_out = true;
  char msg[120];
  snprintf(msg, sizeof msg, "timed out after %lld ms", (long long)n->timeout_ms);
  /* A timeout counts as a failed attempt: retried like any other. */
  action_complete(&s->call, NULL, msg, true);
}

static void step_attempt(step_run *s) {
  exec_run *r = s->run;
  const flow_node *n = &r->f->nodes[s->node];
  const action_def *a = action_find(n->action);
  s->attempt++;
  s->timed_out = false;
  s->call = (action_call){.loop = &r->loop->loop,
                          .http = r->loop->http,
                          .params = s->input,
                          .idempotency_key = s->key,
                          .timeout_ms = n->timeout_ms,
                          .log = action_log,
                          .complete = action_complete,
                          .engine_data = s,
                          .store = r->loop->e->cfg.store,
                          .org_id = r->org_id,
                          .execution_id = r->id,
                          .node_id = n->id,
                          .credential = action_credential,
                          .render = action_render};
  s->in_action = true;
  atomic_fetch_add(&r->loop->e->n_actions, 1);
  if (n->timeout_ms > 0) {
    s->timer_live = true;
    uv_timer_start(&s->timer, on_step_timeout, (uint64_t)n->timeout_ms, 0);
  }
  a->start(&s->call);
}

static void run_action(frame *fr, int node, json_t *input, json_t *shown) {
  exec_run *r = fr->run;
  step_run *s = calloc(1, sizeof *s);
  if (!s) {
    json_decref(input);
    json_decref(shown);
    exec_fail(r, WORKER_FAILED, "out of memory");
    return;
  }
  s->run = r;
  s->shown = shown;
  s->fr = fr;
  fr->refs++;
  r->refs++;
  s->node = node;
  s->input = input;
  s->started_at = now_ms();
  /* Stable across retries and resumes of this execution; the enqueue time
   * tells apart executions of different databases that share an id. */
  snprintf(s->key, sizeof s->key, "%lld.%lld-%s-%lld", (long long)r->id, (long long)r->created_at,
           r->f->nodes[node].id, (long long)fr->iteration);
  uv_timer_init(&r->loop->loop, &s->timer);
  s->timer.data = s;
  s->next = r->steps;
  if (r->steps)
    r->steps->prev = s;
  r->steps = s;
  record_step(fr, node, "running", 1, step_shown(s), NULL, NULL, s->started_at, false,
              FLOW_WHEN_ALWAYS);
  step_attempt(s);
}

/* A checkpoint of this node from an earlier attempt, or NULL. */
static json_t *checkpoint_of(frame *fr, int node) {
  char key[200];
  snprintf(key, sizeof key, "%s#%lld", fr->run->f->nodes[node].id, (long long)fr->iteration);
  return json_object_get(fr->run->checkpoints, key);
}

/* Replaces an action's html_params in `input` by their HTML-escaped
 * evaluation; *used (may be NULL) is set when one read `secrets`. */
static bool html_params_eval(frame *fr, int node, json_t *input, bool redact, bool *used, char *err,
                             size_t cap) {
  const html_parts *h = &fr->run->cf->html[node];
  for (size_t k = 0; k < h->n; k++) {
    bool u = false;
    json_t *v = evaluate_tmpl(fr, h->tmpls[k], true, redact, &u, err, cap);
    if (!v)
      return false;
    if (used && u)
      *used = true;
    json_object_set_new(input, h->names[k], v);
  }
  return true;
}

/* Runs a ready node (from pump). */
static void node_run(frame *fr, int node) {
  exec_run *r = fr->run;
  const flow_node *n = &r->f->nodes[node];
  fr->state[node] = NS_RUNNING;
  if (n->disabled) {
    node_done(fr, node, "succeeded", NULL, FLOW_WHEN_ALWAYS);
    return;
  }
  json_t *saved = checkpoint_of(fr, node);
  if (saved) {
    flow_when route = FLOW_WHEN_ALWAYS;
    if (n->type == FLOW_CONDITION)
      route = json_is_true(json_object_get(saved, "result")) ? FLOW_WHEN_TRUE : FLOW_WHEN_FALSE;
    node_done(fr, node, "succeeded", json_incref(saved), route);
    return;
  }
  char err[600];
  int64_t started = now_ms();
  if (n->type == FLOW_TRIGGER) {
    json_t *out = json_incref(r->trigger);
    record_step(fr, node, "succeeded", 1, NULL, out, NULL, started, false, FLOW_WHEN_ALWAYS);
    node_done(fr, node, "succeeded", out, FLOW_WHEN_ALWAYS);
    return;
  }
  if (n->type == FLOW_TRANSFORM) {
    json_t *out = run_transform(fr, node, err, sizeof err);
    if (!out)
      goto failed;
    record_step(fr, node, "succeeded", 1, NULL, out, NULL, started, false, FLOW_WHEN_ALWAYS);
    node_done(fr, node, "succeeded", out, FLOW_WHEN_ALWAYS);
    return;
  }
  bool used = false;
  json_t *input = evaluate_in(fr, n->compiled, false, &used, err, sizeof err);
  if (!input)
    goto failed;
  if (n->type == FLOW_CONDITION) {
    bool result = expr_truthy(json_object_get(input, "expression"));
    json_t *out = json_pack("{s:b}", "result", result);
    record_step(fr, node, "succeeded", 1, input, out, NULL, started, false, FLOW_WHEN_ALWAYS);
    json_decref(input);
    node_done(fr, node, "succeeded", out, result ? FLOW_WHEN_TRUE : FLOW_WHEN_FALSE);
    return;
  }
  if (n->type == FLOW_LOOP) {
    run_loop(fr, node, input);
    json_decref(input);
    return;
  }
  /* An action's input as recorded: evaluated again with every secret
   * "[secret]" when its templates read `secrets`. */
  json_t *shown = NULL;
  if (!html_params_eval(fr, node, input, false, &used, err, sizeof err))
    goto failed_input;
  if (used) {
    shown = evaluate_in(fr, n->compiled, true, NULL, err, sizeof err);
    if (!shown || !html_params_eval(fr, node, shown, true, NULL, err, sizeof err)) {
      json_decref(shown);
      goto failed_input;
    }
  }
  run_action(fr, node, input, shown);
  return;

failed_input:
  json_decref(input);
  goto failed;

failed : {
  /* Parameters that cannot be evaluated: the same on every retry. */
  bool has_error_edge = false;
  for (int k = 0; k < n->n_out; k++)
    has_error_edge |= r->f->edges[n->out[k]].when == FLOW_WHEN_ERROR;
  json_t *out = json_pack("{s:s}", "error", err);
  if (has_error_edge || n->on_error == FLOW_ON_ERROR_CONTINUE) {
    record_step(fr, node, "failed", 1, NULL, out, err, started, false, FLOW_WHEN_ALWAYS);
    node_done(fr, node, "failed", out, has_error_edge ? FLOW_WHEN_ERROR : FLOW_WHEN_ALWAYS);
  } else {
    record_step(fr, node, "failed", 1, NULL, NULL, err, started, false, FLOW_WHEN_ALWAYS);
    json_decref(out);
    exec_fail(r, WORKER_FAILED_FINAL, "node '%s': %s", n->id, err);
  }
}
}

/* Runs whatever became ready, until nothing is. */
static void pump(engine_loop *l) {
  while (l->ready) {
    ready_item *it = l->ready;
    l->ready = it->next;
    if (!l->ready)
      l->ready_tail = NULL;
    frame *fr = it->fr;
    if (!fr->run->concluded) {
      if (it->lr)
        loop_iteration_start(it->lr, it->slot);
      else
        node_run(fr, it->node);
    }
    frame_unref(fr);
    free(it);
  }
}

/* ------------------------------------------------------------ executions */

static void timeout_closed(uv_handle_t *h) {
  run_unref(h->data);
}

static void run_unref(exec_run *r) {
  if (--r->refs > 0)
    return;
  engine_loop *l = r->loop;
  if (r->prev)
    r->prev->next = r->next;
  else if (l->runs == r)
    l->runs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  json_decref(r->trigger);
  json_decref(r->execution);
  json_decref(r->checkpoints);
  json_decref(r->secrets_full);
  json_decref(r->secrets);
  json_decref(r->secrets_shown);
  json_decref(r->scrub);
  flow_put(l->e, r->cf);
  free(r);
}

/* Hands the outcome to the worker, cancels what still runs, and lets the
 * run go once its callbacks are back. */
static void conclude(exec_run *r, worker_outcome outcome, const char *error, json_t *result) {
  if (r->concluded) {
    json_decref(result);
    return;
  }
  r->concluded = true;
  /* What was still going ends with the execution: recorded as timed out
   * with it, as failed for a loop whose body failed it, else cancelled. */
  const char *cut = outcome == WORKER_TIMED_OUT ? "timed_out" : "cancelled";
  char why[600];
  snprintf(why, sizeof why, "not finished: %s", error ? error : "the execution ended");
  for (step_run *s = r->steps; s; s = s->next)
    record_step(s->fr, s->node, cut, s->attempt > 0 ? s->attempt : 1, step_shown(s), NULL, why,
                s->started_at, false, FLOW_WHEN_ALWAYS);
  bool body_failed = outcome == WORKER_FAILED || outcome == WORKER_FAILED_FINAL;
  for (loop_run *lr = r->loops; lr; lr = lr->lnext)
    record_step(lr->fr, lr->node, body_failed ? "failed" : cut, 1, NULL, NULL, why, lr->started_at,
                false, FLOW_WHEN_ALWAYS);
  /* Abort the steps in flight; their actions release what they hold. */
  while (r->steps) {
    step_run *s = r->steps;
    if (s->in_action) {
      const action_def *a = action_find(r->f->nodes[s->node].action);
      if (a && a->cancel)
        a->cancel(&s->call);
      s->in_action = false;
      atomic_fetch_sub(&r->loop->e->n_actions, 1);
    }
    step_release(s);
  }
  if (r->has_timeout) {
    uv_timer_stop(&r->timeout);
    uv_close((uv_handle_t *)&r->timeout, timeout_closed);
    r->has_timeout = false;
  }
  worker_result wr = {.outcome = outcome};
  if (error) {
    char *shown = scrub_text(r, error);
    snprintf(wr.error, sizeof wr.error, "%s", shown ? shown : error);
    free(shown);
  }
  if (result) {
    json_t *shown = scrub_json(r, result);
    char *text = json_dumps(shown, JSON_COMPACT);
    json_decref(shown);
    if (text && strlen(text) > MAX_RESULT) {
      free(text);
      text = NULL;
    }
    wr.result = text;
    json_decref(result);
  }
  loops_release(r);
  worker_exec_done(r->x, &wr);
  r->x = NULL;
  atomic_fetch_sub(&r->loop->e->n_execs, 1);
  frame *top = r->top;
  r->top = NULL;
  frame_unref(top);
  run_unref(r);
}

static void exec_fail(exec_run *r, worker_outcome outcome, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  conclude(r, outcome, msg, NULL);
}

/* Every top-level node ran or was skipped: success. The result holds the
 * outputs of the top-level nodes nothing follows. */
static void exec_complete(exec_run *r) {
  json_t *result = json_object();
  const flow *f = r->f;
  for (int i = 0; result && i < f->n_nodes; i++) {
    if (f->nodes[i].loop != -1 || f->nodes[i].n_out > 0)
      continue;
    json_t *e = json_object_get(r->top->nodes, f->nodes[i].id);
    if (e && strcmp(json_string_value(json_object_get(e, "status")), "skipped") != 0)
      json_object_set(result, f->nodes[i].id, json_object_get(e, "output"));
  }
  conclude(r, WORKER_SUCCEEDED, NULL, result);
}

static void on_exec_timeout(uv_timer_t *t) {
  exec_run *r = t->data;
  exec_fail(r, WORKER_TIMED_OUT, "the execution took longer than its timeout of %lld ms",
            (long long)r->timeout_ms);
  pump(r->loop);
}

/* The checkpoints of earlier attempts: "node#iteration" -> output. */
static json_t *load_checkpoints(worker_exec *x) {
  json_t *map = json_object();
  store_step *steps;
  size_t n;
  if (!map || worker_exec_steps(x, &steps, &n) != CF_OK)
    return map;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(steps[i].status, "succeeded") != 0 || !steps[i].output)
      continue;
    json_t *out = json_loads(steps[i].output, JSON_DECODE_ANY, NULL);
    if (!out)
      continue;
    char key[200];
    snprintf(key, sizeof key, "%s#%lld", steps[i].node_id, (long long)steps[i].iteration);
    json_object_set_new(map, key, out);
  }
  store_steps_free(steps, n);
  return map;
}

/* An execution the engine could not even take on: failed, so the worker
 * retries it later. */
static void refuse_for_memory(worker_exec *x) {
  worker_result wr = {.outcome = WORKER_FAILED};
  snprintf(wr.error, sizeof wr.error, "out of memory");
  worker_exec_done(x, &wr);
}

static void exec_begin(engine_loop *l, worker_exec *x) {
  const store_claim *c = worker_exec_claim(x);
  exec_run *r = calloc(1, sizeof *r);
  if (!r) {
    refuse_for_memory(x);
    return;
  }
  r->loop = l;
  r->x = x;
  r->id = c->id;
  r->created_at = c->created_at;
  r->org_id = c->org_id;
  r->refs = 1;
  atomic_fetch_add(&l->e->n_execs, 1);
  r->next = l->runs;
  if (l->runs)
    l->runs->prev = r;
  l->runs = r;
  char err[512];
  r->cf = flow_get(l->e, c->workflow_id, c->workflow_version, err, sizeof err);
  if (!r->cf) {
    exec_fail(r, WORKER_FAILED_FINAL, "%s", err);
    return;
  }
  r->f = r->cf->f;
  r->trigger = json_loads(c->trigger_data ? c->trigger_data : "{}", 0, NULL);
  if (!r->trigger)
    r->trigger = json_object();
  r->execution =
      json_pack("{s:I, s:I, s:i, s:i, s:s}", "id", (json_int_t)c->id, "workflow_id",
                (json_int_t)c->workflow_id, "workflow_version", (int)c->workflow_version, "attempt",
                (int)c->attempt, "trigger", c->trigger_kind ? c->trigger_kind : "manual");
  if (r->execution && c->schedule_id) {
    char when[48];
    civil_format_utc_ms(c->scheduled_at, when, sizeof when);
    json_object_set_new(r->execution, "schedule_id", json_integer((json_int_t)c->schedule_id));
    json_object_set_new(r->execution, "scheduled_at", json_string(when));
  }
  /* A first attempt that never ran anywhere has no checkpoints to read. */
  r->checkpoints = c->attempt > 1 || c->resumes > 0 ? load_checkpoints(x) : json_object();
  r->top = frame_new(r, NULL, -1, 0);
  if (!r->trigger || !r->execution || !r->checkpoints || !r->top) {
    exec_fail(r, WORKER_FAILED, "out of memory");
    return;
  }
  int64_t timeout = c->timeout_ms > 0 ? c->timeout_ms : r->f->timeout_ms;
  if (timeout > 0) {
    uv_timer_init(&l->loop, &r->timeout);
    r->timeout.data = r;
    r->has_timeout = true;
    r->timeout_ms = timeout;
    r->refs++; /* released when the timer handle has closed */
    uv_timer_start(&r->timeout, on_exec_timeout, (uint64_t)timeout, 0);
  }
  r->top->state[r->f->trigger] = NS_READY;
  ready_push(l, r->top, r->f->trigger, NULL, 0);
}

/* ------------------------------------------------------------ loop threads */

static void on_wake(uv_async_t *h) {
  engine_loop *l = h->data;
  pthread_mutex_lock(&l->lock);
  inbox_item *it = l->inbox;
  l->inbox = l->inbox_tail = NULL;
  bool stopping = l->stopping;
  pthread_mutex_unlock(&l->lock);
  while (it) {
    inbox_item *next = it->next;
    if (it->kind == IN_EXEC)
      exec_begin(l, it->x);
    else
      committed(it->ctx, it->rc);
    free(it);
    pump(l);
    it = next;
  }
  if (stopping && !l->runs) {
    uv_close((uv_handle_t *)&l->wake, NULL);
    uv_timer_stop(&l->check);
    uv_close((uv_handle_t *)&l->check, NULL);
    http_client_free(l->http);
    l->http = NULL;
  }
}

/* Shutdown, lost leases and cancel requests, seen every CHECK_EVERY_MS. */
static void on_check(uv_timer_t *t) {
  engine_loop *l = t->data;
  exec_run *r = l->runs;
  while (r) {
    exec_run *next = r->next;
    if (!r->concluded && r->x) {
      if (worker_exec_should_stop(r->x))
        exec_fail(r, WORKER_INTERRUPTED, "stopped: the worker is shutting down or lost its lease");
      else if (worker_exec_cancel_requested(r->x))
        exec_fail(r, WORKER_CANCELLED, "cancelled on request");
    }
    r = next;
  }
  pump(l);
}

static void *loop_main(void *arg) {
  engine_loop *l = arg;
  pthread_setname_np(pthread_self(), "cf-engine");
  uv_run(&l->loop, UV_RUN_DEFAULT);
  return NULL;
}

void engine_start(void *ctx, worker_exec *x) {
  engine *e = ctx;
  unsigned k = __atomic_fetch_add(&e->next_loop, 1, __ATOMIC_RELAXED);
  engine_loop *l = &e->loops[k % (unsigned)e->nloops];
  inbox_item *it = calloc(1, sizeof *it);
  if (!it) {
    refuse_for_memory(x);
    return;
  }
  it->kind = IN_EXEC;
  it->x = x;
  inbox_push(l, it);
}

void engine_get_stats(engine *e, engine_stats *out) {
  out->executions = atomic_load(&e->n_execs);
  out->actions = atomic_load(&e->n_actions);
  out->steps_done = atomic_load(&e->n_steps);
}

/* Thousands of transfers need thousands of sockets: take the hard limit. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

cf_err engine_new(const engine_config *cfg, engine **out) {
  *out = NULL;
  if (!cfg->store)
    return CF_E_INVALID;
  raise_fd_limit();
  if (http_global_init() != CF_OK)
    return CF_E_NOMEM;
  engine *e = calloc(1, sizeof *e);
  if (!e)
    return CF_E_NOMEM;
  e->cfg = *cfg;
  e->nloops = cfg->threads > 0 ? cfg->threads : 2;
  e->loops = calloc((size_t)e->nloops, sizeof *e->loops);
  if (!e->loops) {
    free(e);
    return CF_E_NOMEM;
  }
  pthread_mutex_init(&e->cache_lock, NULL);
  int started = 0;
  for (int i = 0; i < e->nloops; i++) {
    engine_loop *l = &e->loops[i];
    l->e = e;
    l->rng = (uint64_t)now_ms() * 2654435761u ^ (uint64_t)(uintptr_t)l ^ 0x9E3779B97F4A7C15u;
    pthread_mutex_init(&l->lock, NULL);
    if (uv_loop_init(&l->loop) != 0)
      break;
    uv_async_init(&l->loop, &l->wake, on_wake);
    l->wake.data = l;
    uv_timer_init(&l->loop, &l->check);
    l->check.data = l;
    uv_timer_start(&l->check, on_check, CHECK_EVERY_MS, CHECK_EVERY_MS);
    if (http_client_new(&l->loop, &l->http) != CF_OK ||
        pthread_create(&l->thread, NULL, loop_main, l) != 0) {
      uv_close((uv_handle_t *)&l->wake, NULL);
      uv_close((uv_handle_t *)&l->check, NULL);
      http_client_free(l->http);
      uv_run(&l->loop, UV_RUN_DEFAULT);
      uv_loop_close(&l->loop);
      break;
    }
    started++;
  }
  if (started < e->nloops) {
    e->nloops = started;
    engine_free(e);
    return CF_E_NOMEM;
  }
  *out = e;
  return CF_OK;
}

void engine_free(engine *e) {
  if (!e)
    return;
  for (int i = 0; i < e->nloops; i++) {
    engine_loop *l = &e->loops[i];
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_mutex_unlock(&l->lock);
    uv_async_send(&l->wake);
  }
  for (int i = 0; i < e->nloops; i++) {
    engine_loop *l = &e->loops[i];
    pthread_join(l->thread, NULL);
    uv_loop_close(&l->loop);
    pthread_mutex_destroy(&l->lock);
  }
  while (e->cache) {
    cached_flow *c = e->cache;
    e->cache = c->next;
    cached_free(c);
  }
  pthread_mutex_destroy(&e->cache_lock);
  free(e->loops);
  free(e);
}
