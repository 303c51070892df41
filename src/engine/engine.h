/*
 * engine.h — runs workflow executions: walks a flow's graph (flow/),
 * evaluates each node's `{{ }}` parameters (expr/), runs actions
 * (actions/) and records every step through the worker's checkpoint
 * interface, on a few libuv event-loop threads. A step waiting on the
 * network or a timer holds no thread, so thousands run at once.
 *
 * The engine is the worker pool's asynchronous runner: pass engine_start
 * as worker_config.start with the engine as run_ctx. Per node: retries
 * with exponential backoff and jitter, an enforced timeout (the transfer
 * is aborted), `on_error: continue` and `error` edges; per execution: an
 * enforced timeout, cancellation, and resumption from checkpoints (a step
 * that succeeded before is not run again; its recorded output is used).
 *
 * Semantics are specified in docs/workflow-format.md.
 */
#ifndef CF_ENGINE_ENGINE_H
#define CF_ENGINE_ENGINE_H

#include <stdint.h>

#include "base/error.h"
#include "store/store.h"
#include "worker/worker.h"

typedef struct engine engine;
typedef struct tz_db tz_db;

typedef struct engine_config {
  store *store; /* workflow definitions are read from it */
  tz_db *tz;    /* for format_time in expressions; may be NULL */
  int threads;  /* event loops; 0 = 2 */
  /* Progress: called on a loop thread after each step is recorded (may
   * be NULL), with the execution's claim. Must be quick. */
  void (*on_step)(void *ctx, const store_claim *claim, const store_step *step);
  void *on_step_ctx;
} engine_config;

/* Starts the loop threads. CF_E_NOMEM, CF_E_INVALID. */
CF_MUST_CHECK cf_err engine_new(const engine_config *cfg, engine **out);

/* Stops the loops. Call after the worker pool that feeds it has stopped
 * (every execution has been given back or finished). NULL is a no-op. */
void engine_free(engine *e);

typedef struct engine_stats {
  int64_t executions; /* in flight */
  int64_t actions;    /* action steps waiting on the network or a timer */
  int64_t steps_done; /* steps finished since the start */
} engine_stats;

/* A snapshot of the counters; thread-safe. */
void engine_get_stats(engine *e, engine_stats *out);

/* worker_start_fn: takes an execution and runs it on one of the loops. */
void engine_start(void *engine, worker_exec *x);

#endif
