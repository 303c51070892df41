/*
 * action.h — what an action is (one file per action in actions/, one
 * registry table in actions.c) and what the engine gives it to run.
 *
 * An action starts from its evaluated parameters and ends by calling
 * call->complete exactly once — at once or later from the loop thread,
 * e.g. when an HTTP transfer or a timer finishes. It never blocks the
 * loop. When the engine must stop a step early (its timeout, the
 * execution's timeout, cancellation, shutdown) it calls the action's
 * cancel, after which the action releases what it holds and must not
 * call complete. Everything runs on the loop thread of the step.
 */
#ifndef CF_ACTIONS_ACTION_H
#define CF_ACTIONS_ACTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flow/flow.h"
#include "base/buf.h"
#include "net/http.h"
#include "store/store.h"

typedef struct action_call action_call;

struct action_call {
  /* Given by the engine: */
  uv_loop_t *loop;
  http_client *http;
  const json_t *params;        /* evaluated parameters, an object (borrowed) */
  const char *idempotency_key; /* execution id, node id, iteration: stable across retries */
  int64_t timeout_ms;          /* the step's limit (0 = none); the engine enforces it */
  /* Appends a line to the execution's log. */
  void (*log)(action_call *call, const char *level, const char *message);
  /* Ends the step: output (stolen, may be NULL on failure) on success, or
   * error (a message for people) on failure. retryable = false when
   * running it again cannot help (bad parameters). */
  void (*complete)(action_call *call, json_t *output, const char *error, bool retryable);
  void *engine_data;
  /* The action's own state between start and complete/cancel. */
  void *state;

  /* Given by the engine for the integrations: */
  store *store; /* saved e-mail templates, the e-mail log */
  int64_t org_id, execution_id;
  const char *node_id;
  /* A credential of the execution's organization by name: a borrowed
   * object {"type", "read_only", "data": {...}}, valid until the step
   * ends, or NULL with a message in err (which never holds a value). The
   * engine keeps its secret values out of the step's records and logs. */
  const json_t *(*credential)(action_call *call, const char *name, char *err, size_t cap);
  /* Renders template text in the step's scope (the names its params'
   * `{{ }}` see); html = true escapes as expr_tmpl_eval_html. A new
   * reference, or NULL with a message in err. */
  json_t *(*render)(action_call *call, const char *text, bool html, char *err, size_t cap);
  /* Set by the action before complete() with a retryable error to have
   * the next attempt wait this long instead of the node's backoff (an
   * HTTP Retry-After). 0 = the node's backoff. */
  int64_t retry_after_ms;
};

typedef struct action_def {
  const char *name;
  const char *const *required; /* required params, NULL-terminated, or NULL */
  /* Checks literal params when a workflow is validated (may be NULL). */
  void (*check)(const json_t *params, const char *path, flow_problems *problems);
  void (*start)(action_call *call);
  void (*cancel)(action_call *call); /* may be NULL for actions that end at once */
  /* String params whose `{{ }}` values are HTML-escaped when the engine
   * evaluates them (unless marked raw()): NULL-terminated, or NULL. */
  const char *const *html_params;
} action_def;

/* The registry: every action cronflow knows. */
extern const action_def *const actions_all[];
extern const size_t actions_count;

/* The action named `name`, or NULL. */
const action_def *action_find(const char *name);

/* The registry as validator specs (static storage). */
const flow_action_spec *actions_specs(size_t *count);

/* Starts a curl-based action's transfer, or ends the call. With `why`
 * NULL, hands `easy` to the call's HTTP client with `state` as the call's
 * state. Otherwise (the preparation failed; `why` may point into `state`)
 * and when the client refuses the transfer, `release` frees the state and
 * the call is completed with the error: not retryable for a failed
 * preparation, retryable for a refused transfer. */
void action_transfer_begin(action_call *call, const char *why, CURL *easy, http_done_fn done,
                           void *state, void (*release)(void *state));

/* Shared helpers for params. */
/* A string param or NULL when absent; *bad set when present but not a string. */
const char *action_param_string(const json_t *params, const char *key, bool *bad);
/* An integer param (integers, or reals with no fraction); dflt when absent;
 * *bad set when present but not a number in [min, max]. */
int64_t action_param_int(const json_t *params, const char *key, int64_t dflt, int64_t min,
                         int64_t max, bool *bad);

/* The seconds of an HTTP Retry-After value as milliseconds (the date form
 * is not used by the services we call); dflt when it is not a number. */
int64_t action_retry_after_ms(const char *value, int64_t dflt);

/* Whether a string holds a `{{ }}` template (validators skip those). */
bool action_is_template(const json_t *v);

#endif
