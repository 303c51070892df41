/*
 * sleep.c — waits a duration on the loop's timer, holding no thread.
 * Params: duration_ms (0 to 24 hours).
 */
#include <stdlib.h>

#include "actions/action.h"

#define MAX_SLEEP_MS (24LL * 3600 * 1000)

typedef struct sleep_state {
  uv_timer_t timer;
  action_call *call;
  int64_t ms;
} sleep_state;

static void check(const json_t *params, const char *path, flow_problems *problems) {
  const json_t *d = json_object_get(params, "duration_ms");
  if (!d || json_is_string(d))
    return; /* required is checked elsewhere; a template is known at run time */
  bool bad = false;
  action_param_int(params, "duration_ms", 0, 0, MAX_SLEEP_MS, &bad);
  if (bad)
    flow_problem_add(problems, path, "duration_ms: must be an integer from 0 to 86400000");
}

static void free_state(uv_handle_t *h) {
  free(h->data);
}

static void on_timer(uv_timer_t *t) {
  sleep_state *st = t->data;
  action_call *call = st->call;
  call->state = NULL;
  json_t *out = json_pack("{s:I}", "slept_ms", (json_int_t)st->ms);
  uv_close((uv_handle_t *)&st->timer, free_state);
  call->complete(call, out, out ? NULL : "out of memory", true);
}

static void start(action_call *call) {
  bool bad = false;
  int64_t ms = action_param_int(call->params, "duration_ms", -1, 0, MAX_SLEEP_MS, &bad);
  if (bad || ms < 0) {
    call->complete(call, NULL, "duration_ms must be an integer from 0 to 86400000", false);
    return;
  }
  sleep_state *st = calloc(1, sizeof *st);
  if (!st) {
    call->complete(call, NULL, "out of memory", true);
    return;
  }
  st->call = call;
  st->ms = ms;
  uv_timer_init(call->loop, &st->timer);
  st->timer.data = st;
  call->state = st;
  uv_timer_start(&st->timer, on_timer, (uint64_t)ms, 0);
}

static void cancel(action_call *call) {
  sleep_state *st = call->state;
  if (!st)
    return;
  call->state = NULL;
  uv_timer_stop(&st->timer);
  uv_close((uv_handle_t *)&st->timer, free_state);
}

static const char *const required[] = {"duration_ms", NULL};

const action_def action_sleep = {
    .name = "sleep",
    .required = required,
    .check = check,
    .start = start,
    .cancel = cancel,
};
