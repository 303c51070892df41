/*
 * worker.h — runs queued executions: claims them from the store with a
 * lease, keeps the lease alive with heartbeats while a runner works, and
 * records the outcome: success, failure with a retry after exponential
 * backoff with jitter, or failure for good once the attempts are used up.
 *
 * What an execution does is the runner's business (the workflow engine;
 * tests plug in their own). The runner gets a worker_exec handle to read
 * the claim, reuse step checkpoints from earlier attempts or from a worker
 * that died, write new checkpoints (fenced by the lease), and learn when to
 * stop (lease lost, or shutdown past its grace period).
 *
 * Shutdown (worker_pool_stop) stops claiming, lets running executions
 * finish within the grace period, then interrupts them and gives their
 * leases back so another worker resumes them at once. A worker killed
 * outright loses nothing either: its leases expire and others resume.
 */
#ifndef CF_WORKER_WORKER_H
#define CF_WORKER_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "store/store.h"

typedef struct worker_pool worker_pool;
typedef struct worker_exec worker_exec;

typedef enum worker_outcome {
  WORKER_SUCCEEDED,
  WORKER_FAILED,       /* retried while attempts remain */
  WORKER_FAILED_FINAL, /* failed, no retry whatever the attempts */
  WORKER_CANCELLED,
  WORKER_TIMED_OUT,
  WORKER_INTERRUPTED, /* stopped because worker_exec_should_stop said so */
} worker_outcome;

typedef struct worker_result {
  worker_outcome outcome;
  char error[512]; /* for failures: what went wrong, for people */
  char *result;    /* JSON text to keep, malloc'd, or NULL; the pool frees it */
} worker_result;

/* Runs one execution. Called on a pool thread; may block. */
typedef void (*worker_run_fn)(void *ctx, worker_exec *x, worker_result *out);

/*
 * Starts one execution and returns at once (event-loop runners: the
 * workflow engine). Called on the pool's dispatcher thread; must not
 * block. The runner later calls worker_exec_done(x, ...) exactly once,
 * from any thread; x is valid until then.
 */
typedef void (*worker_start_fn)(void *ctx, worker_exec *x);

typedef struct worker_config {
  store *store;
  const char *owner;     /* lease owner id; NULL = "host:pid:random" */
  int concurrency;       /* executions in flight; 0 = 4 */
  int64_t lease_ms;      /* 0 = 10000 */
  int64_t grace_ms;      /* shutdown grace; 0 = 30000 */
  int64_t poll_ms;       /* look for other processes' work; 0 = 500 */
  int64_t retention_ms;  /* prune finished executions older; 0 = keep */
  int max_resumes;       /* fail an execution whose worker died this often; 0 = 20 */
  worker_run_fn run;     /* a thread per execution in flight... */
  worker_start_fn start; /* ...or asynchronous runs: exactly one of the two */
  void *run_ctx;
} worker_config;

/*
 * Starts the pool's threads. Returns CF_E_INVALID for a bad config,
 * CF_E_NOMEM. The caller owns *out and must call worker_pool_stop.
 */
CF_MUST_CHECK cf_err worker_pool_start(const worker_config *cfg, worker_pool **out);

/* Graceful stop as described above; frees the pool. NULL is a no-op. */
void worker_pool_stop(worker_pool *pool);

/* The lease owner id this pool claims as. */
const char *worker_pool_owner(const worker_pool *pool);

/* Milliseconds since the Unix epoch: the clock leases and run_at use. */
int64_t worker_now_ms(void);

/*
 * The delay before retry number `attempt` (1 = after the first failure):
 * base * 2^(attempt-1), capped at cap, then "equal jitter" (a uniform
 * value between half the delay and the delay) from `random` in [0, 1).
 */
int64_t worker_backoff_ms(int64_t base, int64_t cap, int attempt, double random);

/* A pseudo-random number in [0, 1) from *state (not 0), which it advances;
 * for jitter only, not for anything secret. */
double worker_random(uint64_t *state);

/* ---- for runners ---- */

/* The claim being run (id, workflow, attempt, trigger data...). */
const store_claim *worker_exec_claim(const worker_exec *x);

/* True once the runner should stop: lease lost or shutdown past grace. */
bool worker_exec_should_stop(const worker_exec *x);

/* True once somebody asked to cancel the execution (seen at the next lease
 * renewal): the runner should stop and report WORKER_CANCELLED. */
bool worker_exec_cancel_requested(const worker_exec *x);

/* Ends an asynchronous run (worker_start_fn) with its outcome; takes
 * r->result. x is freed. Thread-safe. */
void worker_exec_done(worker_exec *x, worker_result *r);

/* Step checkpoints saved for this execution so far (by any attempt or
 * worker). Free with store_steps_free. */
CF_MUST_CHECK cf_err worker_exec_steps(worker_exec *x, store_step **steps, size_t *count);

/* Saves a step checkpoint, fenced by the lease: CF_E_LEASE_LOST means
 * another worker owns the execution now and this runner must stop. */
CF_MUST_CHECK cf_err worker_exec_checkpoint(worker_exec *x, const store_step *step);

/* Saves a step checkpoint without waiting for its commit: for runners that
 * go straight on. A lost lease shows in the outcome write that follows.
 * done (may be NULL) runs on the store's writer thread after the commit
 * (see store_step_save_async) with the write's result; CF_E_LEASE_LOST
 * there means another worker owns the execution now. */
CF_MUST_CHECK cf_err worker_exec_checkpoint_async(worker_exec *x, const store_step *step,
                                                  store_done_fn done, void *ctx);

/* Appends a log line to the execution's logs, without waiting; best
 * effort (a line that cannot be queued is lost, the run goes on). */
cf_err worker_exec_log(worker_exec *x, const char *node_id, const char *level, const char *message);

#endif
