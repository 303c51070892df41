/*
 * log_message.c — writes a line to the execution's log. The message may
 * be any value: strings as they are, others as compact JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "actions/action.h"

static const char *const levels[] = {"debug", "info", "warn", "error"};

static bool level_ok(const char *level) {
  for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
    if (strcmp(level, levels[i]) == 0)
      return true;
  return false;
}

static void check(const json_t *params, const char *path, flow_problems *problems) {
  const json_t *level = json_object_get(params, "level");
  if (level && json_is_string(level) && !strstr(json_string_value(level), "{{") &&
      !level_ok(json_string_value(level)))
    flow_problem_add(problems, path, "level: '%s' is not one of debug, info, warn, error",
                     json_string_value(level));
  else if (level && !json_is_string(level))
    flow_problem_add(problems, path, "level: must be a string");
}

static void start(action_call *call) {
  bool bad = false;
  const char *level = action_param_string(call->params, "level", &bad);
  if (bad || (level && !level_ok(level))) {
    call->complete(call, NULL, "level must be one of debug, info, warn, error", false);
    return;
  }
  if (!level)
    level = "info";
  const json_t *message = json_object_get(call->params, "message");
  char *dumped = NULL;
  const char *text;
  if (!message || json_is_null(message))
    text = "";
  else if (json_is_string(message))
    text = json_string_value(message);
  else
    text = dumped = json_dumps(message, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  call->log(call, level, text);
  json_t *out = json_pack("{s:s, s:s}", "level", level, "message", text);
  free(dumped);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

static const char *const required[] = {"message", NULL};

const action_def action_log_message = {
    .name = "log_message",
    .required = required,
    .check = check,
    .start = start,
};
