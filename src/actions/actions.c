/*
 * actions.c — the registry of actions and the helpers they share. Adding
 * an action: one file with its action_def, one line in actions_all.
 */
#include "actions/action.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const action_def action_http_request;
extern const action_def action_log_message;
extern const action_def action_sleep;
extern const action_def action_slack_message;
extern const action_def action_email_send;
extern const action_def action_database_query;

const action_def *const actions_all[] = {
    &action_http_request,  &action_log_message, &action_sleep,
    &action_slack_message, &action_email_send,  &action_database_query,
};
const size_t actions_count = sizeof actions_all / sizeof *actions_all;

const action_def *action_find(const char *name) {
  for (size_t i = 0; name && i < actions_count; i++)
    if (strcmp(actions_all[i]->name, name) == 0)
      return actions_all[i];
  return NULL;
}

static flow_action_spec specs[sizeof actions_all / sizeof *actions_all];
static pthread_once_t specs_once = PTHREAD_ONCE_INIT;

static void fill_specs(void) {
  for (size_t i = 0; i < actions_count; i++)
    specs[i] =
        (flow_action_spec){actions_all[i]->name, actions_all[i]->required, actions_all[i]->check};
}

const flow_action_spec *actions_specs(size_t *count) {
  pthread_once(&specs_once, fill_specs);
  *count = actions_count;
  return specs;
}

const char *action_param_string(const json_t *params, const char *key, bool *bad) {
  const json_t *v = json_object_get(params, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = true;
    return NULL;
  }
  return json_string_value(v);
}

int64_t action_param_int(const json_t *params, const char *key, int64_t dflt, int64_t min,
                         int64_t max, bool *bad) {
  const json_t *v = json_object_get(params, key);
  if (!v || json_is_null(v))
    return dflt;
  double d;
  if (json_is_integer(v))
    d = (double)json_integer_value(v);
  else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v))
    d = json_real_value(v);
  else {
    *bad = true;
    return dflt;
  }
  if (d < (double)min || d > (double)max) {
    *bad = true;
    return dflt;
  }
  return (int64_t)d;
}

int64_t action_retry_after_ms(const char *value, int64_t dflt) {
  if (!value)
    return dflt;
  while (isspace((unsigned char)*value))
    value++;
  char *end;
  double sec = strtod(value, &end);
  if (end == value || sec < 0 || sec > 86400)
    return dflt;
  return (int64_t)(sec * 1000);
}

bool action_is_template(const json_t *v) {
  return json_is_string(v) && strstr(json_string_value(v), "{{") != NULL;
}

void action_transfer_begin(action_call *call, const char *why, CURL *easy, http_done_fn done,
                           void *state, void (*release)(void *state)) {
  if (why) {
    char copy[512];
    snprintf(copy, sizeof copy, "%s", why);
    release(state);
    call->complete(call, NULL, copy, false);
    return;
  }
  if (http_client_add(call->http, easy, done, state) != CF_OK) {
    release(state);
    call->complete(call, NULL, "cannot start the transfer", true);
    return;
  }
  call->state = state;
}
