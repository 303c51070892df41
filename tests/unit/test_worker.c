/*
 * test_worker.c — the worker pool against a real SQLite store: a failing
 * execution is retried with exponential backoff (the delays recorded) and
 * succeeds on its third attempt; one that keeps failing ends failed with
 * its error; checkpointed steps are not run again on retry; shutdown lets
 * running work finish within the grace period, and past it gives the
 * execution back without counting an attempt.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "worker/worker.h"

static char dir[64];
static store *st;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cronflow-worker-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  char path[128];
  snprintf(path, sizeof path, "%s/w.db", dir);
  store_config cfg = {.url = path};
  if (store_open(&cfg, &st, NULL, 0) != CF_OK || store_migrate(st, NULL, NULL, NULL, 0) != CF_OK)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  store_close(st);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits (bounded) until an execution reaches a final status. */
static store_exec_status wait_final(int64_t id, int seconds) {
  for (int i = 0; i < seconds * 100; i++) {
    store_exec x;
    if (store_exec_get(st, id, &x) == CF_OK) {
      store_exec_status s = x.status;
      store_exec_clear(&x);
      if (s != STORE_EXEC_QUEUED && s != STORE_EXEC_RUNNING)
        return s;
    }
    sleep_ms(10);
  }
  return STORE_EXEC_RUNNING;
}

static int64_t enqueue(const char *data, int max_attempts, int64_t backoff_ms) {
  store_exec_new e = {.workflow_id = 1,
                      .workflow_version = 1,
                      .trigger_kind = "api",
                      .trigger_data = data,
                      .max_attempts = max_attempts,
                      .backoff_ms = backoff_ms,
                      .backoff_max_ms = 60000};
  int64_t id;
  assert_int_equal(store_exec_enqueue(st, &e, worker_now_ms(), &id), CF_OK);
  return id;
}

static void test_backoff_formula(void **state) {
  (void)state;
  /* Equal jitter: between half the delay and the delay. */
  assert_int_equal(worker_backoff_ms(1000, 300000, 1, 0.0), 500);
  assert_int_equal(worker_backoff_ms(1000, 300000, 1, 0.999999), 999);
  assert_int_equal(worker_backoff_ms(1000, 300000, 3, 0.0), 2000);
  assert_int_equal(worker_backoff_ms(1000, 300000, 3, 0.5), 3000);
  /* The cap holds however many attempts. */
  assert_int_equal(worker_backoff_ms(1000, 300000, 40, 0.0), 150000);
  assert_true(worker_backoff_ms(1000, 300000, 1000, 0.99) <= 300000);
}

static atomic_int calls;
static atomic_int step_runs[3];

/* Fails the first two attempts; checkpoints step s0 on the first. */
static void flaky(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  int n = atomic_fetch_add(&calls, 1) + 1;
  store_step *steps;
  size_t count;
  assert_int_equal(worker_exec_steps(x, &steps, &count), CF_OK);
  bool s0_done = false;
  for (size_t i = 0; i < count; i++)
    s0_done |= strcmp(steps[i].node_id, "s0") == 0;
  store_steps_free(steps, count);
  if (!s0_done) {
    atomic_fetch_add(&step_runs[0], 1);
    store_step s = {.node_id = "s0", .status = "succeeded", .started_at = worker_now_ms()};
    assert_int_equal(worker_exec_checkpoint(x, &s), CF_OK);
  }
  if (n < 3) {
    out->outcome = WORKER_FAILED;
    snprintf(out->error, sizeof out->error, "attempt %d failed", n);
    return;
  }
  out->outcome = WORKER_SUCCEEDED;
  out->result = strdup("{\"attempts\":3}");
}

static void test_retry_then_succeed(void **state) {
  (void)state;
  atomic_store(&calls, 0);
  atomic_store(&step_runs[0], 0);
  int64_t id = enqueue(NULL, 3, 100);
  worker_config cfg = {
      .store = st, .concurrency = 2, .lease_ms = 2000, .poll_ms = 50, .run = flaky};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 20), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
  assert_int_equal(atomic_load(&calls), 3);
  /* The checkpointed step ran once across three attempts. */
  assert_int_equal(atomic_load(&step_runs[0]), 1);
  store_attempt *a;
  size_t n;
  assert_int_equal(store_attempt_list(st, id, &a, &n), CF_OK);
  assert_int_equal(n, 3);
  assert_string_equal(a[0].status, "failed");
  assert_string_equal(a[0].error, "attempt 1 failed");
  assert_string_equal(a[1].error, "attempt 2 failed");
  assert_string_equal(a[2].status, "succeeded");
  /* Backoff 100 ms doubling, with equal jitter: [50,100] then [100,200]. */
  assert_true(a[0].backoff_ms >= 50 && a[0].backoff_ms <= 100);
  assert_true(a[1].backoff_ms >= 100 && a[1].backoff_ms <= 200);
  /* ... and the next attempt really waited for it. */
  assert_true(a[1].started_at >= a[0].finished_at + a[0].backoff_ms);
  assert_true(a[2].started_at >= a[1].finished_at + a[1].backoff_ms);
  store_attempts_free(a, n);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_string_equal(x.result, "{\"attempts\":3}");
  store_exec_clear(&x);
}

static void always_fails(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  (void)x;
  out->outcome = WORKER_FAILED;
  snprintf(out->error, sizeof out->error, "the remote said no");
}

static void test_exhausted_attempts(void **state) {
  (void)state;
  int64_t id = enqueue(NULL, 2, 20);
  worker_config cfg = {
      .store = st, .concurrency = 1, .lease_ms = 2000, .poll_ms = 50, .run = always_fails};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 20), STORE_EXEC_FAILED);
  worker_pool_stop(pool);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_int_equal(x.attempt, 2);
  assert_string_equal(x.error, "the remote said no");
  store_exec_clear(&x);
}

static atomic_int fixed;

/* Fails at step s1 until `fixed` is set; s0 is checkpointed once. */
static void fails_at_s1(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  store_step *steps;
  size_t count;
  assert_int_equal(worker_exec_steps(x, &steps, &count), CF_OK);
  bool s0_done = false;
  for (size_t i = 0; i < count; i++)
    s0_done |= strcmp(steps[i].node_id, "s0") == 0;
  store_steps_free(steps, count);
  if (!s0_done) {
    atomic_fetch_add(&step_runs[1], 1);
    store_step s = {.node_id = "s0", .status = "succeeded", .started_at = worker_now_ms()};
    assert_int_equal(worker_exec_checkpoint(x, &s), CF_OK);
  }
  if (!atomic_load(&fixed)) {
    out->outcome = WORKER_FAILED;
    snprintf(out->error, sizeof out->error, "s1: the remote is down");
    return;
  }
  atomic_fetch_add(&step_runs[2], 1);
  out->outcome = WORKER_SUCCEEDED;
}

static void test_rerun_from_failed_step(void **state) {
  (void)state;
  atomic_store(&fixed, 0);
  atomic_store(&step_runs[1], 0);
  atomic_store(&step_runs[2], 0);
  int64_t id = enqueue(NULL, 1, 10);
  worker_config cfg = {
      .store = st, .concurrency = 1, .lease_ms = 2000, .poll_ms = 50, .run = fails_at_s1};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 20), STORE_EXEC_FAILED);
  atomic_store(&fixed, 1);
  assert_int_equal(store_exec_rerun_failed(st, id, worker_now_ms()), CF_OK);
  assert_int_equal(wait_final(id, 20), STORE_EXEC_SUCCEEDED);
  /* A succeeded execution is not re-run this way. */
  assert_int_equal(store_exec_rerun_failed(st, id, worker_now_ms()), CF_E_CONFLICT);
  assert_int_equal(store_exec_rerun_failed(st, 99999999, worker_now_ms()), CF_E_NOT_FOUND);
  worker_pool_stop(pool);
  /* The re-run resumed at s1: s0 ran once, s1 succeeded once. */
  assert_int_equal(atomic_load(&step_runs[1]), 1);
  assert_int_equal(atomic_load(&step_runs[2]), 1);
  store_attempt *a;
  size_t n;
  assert_int_equal(store_attempt_list(st, id, &a, &n), CF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(a[0].status, "failed");
  assert_string_equal(a[0].error, "s1: the remote is down");
  assert_string_equal(a[1].status, "succeeded");
  store_attempts_free(a, n);
}

static atomic_int quick_runs;

/* A few milliseconds of work, so that heartbeats come round mid-run. */
static void quick(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  (void)x;
  atomic_fetch_add(&quick_runs, 1);
  sleep_ms(3);
  out->outcome = WORKER_SUCCEEDED;
}

/* Regression: the heartbeat once matched a lost lease to a runner by its
 * stack address and token, so it flagged the runner's next execution as
 * lost; that execution was never recorded and ran again. With nobody dying,
 * every execution must run exactly once. */
static void test_no_spurious_lost_leases(void **state) {
  (void)state;
  atomic_store(&quick_runs, 0);
  enum { N = 1500 };
  static store_exec_new items[N];
  static int64_t ids[N];
  for (int i = 0; i < N; i++)
    items[i] = (store_exec_new){.workflow_id = 2, .workflow_version = 1, .trigger_kind = "api"};
  assert_int_equal(store_exec_enqueue_batch(st, items, N, worker_now_ms(), ids), CF_OK);
  worker_config cfg = {
      .store = st, .concurrency = 16, .lease_ms = 150, .poll_ms = 50, .run = quick};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(ids[N - 1], 60), STORE_EXEC_SUCCEEDED);
  for (int i = 0; i < N; i++)
    assert_int_equal(wait_final(ids[i], 30), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
  assert_int_equal(atomic_load(&quick_runs), N);
}

/* A result that is not JSON is refused by the store for good. */
static void bad_result(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  (void)x;
  out->outcome = WORKER_SUCCEEDED;
  out->result = strdup("{not json");
}

/* Regression: such an outcome was re-sent forever and the execution stayed
 * running; now it is recorded without the result. */
static void test_unstorable_result(void **state) {
  (void)state;
  int64_t id = enqueue(NULL, 1, 10);
  worker_config cfg = {
      .store = st, .concurrency = 1, .lease_ms = 300, .poll_ms = 50, .run = bad_result};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 10), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_null(x.result);
  store_exec_clear(&x);
}

/* Regression: an execution failed for too many lost workers could not be
 * re-run (the resume count survived the re-run). */
static void test_rerun_after_too_many_resumes(void **state) {
  (void)state;
  atomic_store(&quick_runs, 0);
  int64_t id = enqueue(NULL, 1, 10);
  /* Three workers claim it and vanish. */
  int64_t t = worker_now_ms();
  for (int i = 0; i < 3; i++) {
    store_claim *c;
    size_t n;
    assert_int_equal(store_exec_claim(st, "vanishing", t, 10, 1, &c, &n), CF_OK);
    assert_int_equal(n, 1);
    store_claims_free(c, n);
    t += 20;
  }
  worker_config cfg = {.store = st,
                       .concurrency = 1,
                       .lease_ms = 2000,
                       .poll_ms = 50,
                       .max_resumes = 1,
                       .run = quick};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 10), STORE_EXEC_FAILED);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_non_null(strstr(x.error, "stopped"));
  store_exec_clear(&x);
  assert_int_equal(atomic_load(&quick_runs), 0);
  assert_int_equal(store_exec_rerun_failed(st, id, worker_now_ms()), CF_OK);
  assert_int_equal(wait_final(id, 10), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
  assert_int_equal(atomic_load(&quick_runs), 1);
}

static void slow_but_polite(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  for (int i = 0; i < 300; i++) {
    if (worker_exec_should_stop(x)) {
      out->outcome = WORKER_INTERRUPTED;
      return;
    }
    sleep_ms(10);
  }
  out->outcome = WORKER_SUCCEEDED;
}

static void test_shutdown_within_grace(void **state) {
  (void)state;
  int64_t id = enqueue(NULL, 1, 0);
  worker_config cfg = {.store = st,
                       .concurrency = 1,
                       .lease_ms = 2000,
                       .poll_ms = 50,
                       .grace_ms = 10000,
                       .run = slow_but_polite};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  sleep_ms(300); /* it is running now */
  worker_pool_stop(pool);
  /* The 3 s of work fit in the 10 s grace: it finished. */
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_int_equal(x.status, STORE_EXEC_SUCCEEDED);
  store_exec_clear(&x);
}

static void test_shutdown_past_grace(void **state) {
  (void)state;
  int64_t id = enqueue(NULL, 1, 0);
  worker_config cfg = {.store = st,
                       .concurrency = 1,
                       .lease_ms = 2000,
                       .poll_ms = 50,
                       .grace_ms = 300,
                       .run = slow_but_polite};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  sleep_ms(300);
  worker_pool_stop(pool);
  /* Interrupted and given back: queued again, the attempt not spent. */
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_int_equal(x.status, STORE_EXEC_QUEUED);
  assert_int_equal(x.attempt, 0);
  store_exec_clear(&x);
  /* Another pool picks it up at once and finishes it. */
  cfg.grace_ms = 10000;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  assert_int_equal(wait_final(id, 20), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
}

/* ---- asynchronous runners: the engine's way, with the store's local
 * claimer handing work over in the transactions that free slots ---- */

static atomic_int async_calls;

/* Fails the first attempt of every execution, then succeeds; reports from
 * a thread of its own, as the engine's loops do. */
static void *async_finish(void *arg) {
  worker_exec *x = arg;
  worker_result r = {.outcome = WORKER_SUCCEEDED};
  if (worker_exec_claim(x)->attempt == 1 && worker_exec_claim(x)->max_attempts > 1) {
    r.outcome = WORKER_FAILED;
    snprintf(r.error, sizeof r.error, "first attempt");
  }
  worker_exec_done(x, &r);
  return NULL;
}

static void async_start(void *ctx, worker_exec *x) {
  (void)ctx;
  atomic_fetch_add(&async_calls, 1);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, async_finish, x), 0);
  pthread_detach(t);
}

/* A backlog far larger than the pool drains through outcome-driven claims:
 * with a poll of 10 s, the dispatcher's own claims could not move it. */
static void test_async_backlog_drains(void **state) {
  (void)state;
  atomic_store(&async_calls, 0);
  enum { N = 300 };
  store_exec_new items[N];
  for (int i = 0; i < N; i++)
    items[i] = (store_exec_new){.workflow_id = 1, .workflow_version = 1, .trigger_kind = "api"};
  worker_config cfg = {
      .store = st, .concurrency = 4, .lease_ms = 5000, .poll_ms = 10000, .start = async_start};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  sleep_ms(100); /* the dispatcher's first look finds nothing: it waits 10 s */
  int64_t ids[N];
  assert_int_equal(store_exec_enqueue_batch(st, items, N, worker_now_ms(), ids), CF_OK);
  int64_t t0 = worker_now_ms();
  for (int i = 0; i < N; i++)
    assert_int_equal(wait_final(ids[i], 8), STORE_EXEC_SUCCEEDED);
  assert_true(worker_now_ms() - t0 < 8000);
  worker_pool_stop(pool);
  assert_int_equal(atomic_load(&async_calls), N);
}

/* A retry queued by the pool is claimed when its backoff has passed, not
 * when the dispatcher's (long) poll comes round. */
static void test_async_retry_on_time(void **state) {
  (void)state;
  worker_config cfg = {
      .store = st, .concurrency = 2, .lease_ms = 5000, .poll_ms = 10000, .start = async_start};
  worker_pool *pool;
  assert_int_equal(worker_pool_start(&cfg, &pool), CF_OK);
  sleep_ms(100);
  int64_t id = enqueue(NULL, 2, 400);
  assert_int_equal(wait_final(id, 8), STORE_EXEC_SUCCEEDED);
  worker_pool_stop(pool);
  store_attempt *a;
  size_t n;
  assert_int_equal(store_attempt_list(st, id, &a, &n), CF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(a[0].status, "failed");
  assert_string_equal(a[1].status, "succeeded");
  int64_t due = a[0].finished_at + a[0].backoff_ms;
  assert_true(a[1].started_at >= due);
  if (a[1].started_at > due + 1000)
    fail_msg("the retry started %lld ms after it was due", (long long)(a[1].started_at - due));
  store_attempts_free(a, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backoff_formula),
      cmocka_unit_test(test_retry_then_succeed),
      cmocka_unit_test(test_exhausted_attempts),
      cmocka_unit_test(test_shutdown_within_grace),
      cmocka_unit_test(test_shutdown_past_grace),
      cmocka_unit_test(test_rerun_from_failed_step),
      cmocka_unit_test(test_no_spurious_lost_leases),
      cmocka_unit_test(test_unstorable_result),
      cmocka_unit_test(test_rerun_after_too_many_resumes),
      cmocka_unit_test(test_async_backlog_drains),
      cmocka_unit_test(test_async_retry_on_time),
  };
  return cmocka_run_group_tests_name("worker", tests, setup, teardown);
}
