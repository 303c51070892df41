/*
 * bench_cmd.c — `cronflow bench queue`: the execution queue's throughput and
 * start latency through the real store (durable commits) and the real
 * worker pool, printed as one JSON line for scripts/run-bench.
 *
 * Each execution is a one-step no-op: the runner checkpoints one step and
 * succeeds, which is the store traffic a one-step workflow makes; it runs
 * as an asynchronous runner, the way the engine does (no thread per
 * execution). Two
 * phases: a burst (enqueue N in batches while the workers run, until every
 * one has succeeded) for throughput, then an idle phase (one execution at a
 * time into an idle pool) for start latency: from the enqueue call to the
 * runner starting the execution (workers see a write once it is committed,
 * which can be before the caller's durable acknowledgement returns).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "worker/worker.h"

typedef struct bench_ctx {
  int64_t first_id;
  size_t cap;
  _Atomic int64_t *started_us; /* by id - first_id */
  atomic_long started;
} bench_ctx;

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void noop_run(void *arg, worker_exec *x, worker_result *out) {
  bench_ctx *b = arg;
  const store_claim *c = worker_exec_claim(x);
  int64_t i = c->id - b->first_id;
  if (i >= 0 && (size_t)i < b->cap)
    atomic_store(&b->started_us[i], mono_us());
  atomic_fetch_add(&b->started, 1);
  store_step step = {.node_id = "noop",
                     .status = "succeeded",
                     .output = "{}",
                     .started_at = worker_now_ms(),
                     .finished_at = worker_now_ms()};
  if (worker_exec_checkpoint_async(x, &step, NULL, NULL) != CF_OK) {
    out->outcome = WORKER_INTERRUPTED;
    return;
  }
  out->outcome = WORKER_SUCCEEDED;
}

/* The asynchronous form, as the engine runs executions: the dispatcher
 * hands the claim over and the outcome comes back without a thread per
 * execution. */
static void noop_start(void *arg, worker_exec *x) {
  worker_result r = {.outcome = WORKER_FAILED};
  noop_run(arg, x, &r);
  worker_exec_done(x, &r);
}

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double percentile_ms(int64_t *us, size_t n, double p) {
  if (n == 0)
    return 0;
  qsort(us, n, sizeof *us, compare_i64);
  size_t k = (size_t)(p * (double)(n - 1) + 0.5);
  return (double)us[k] / 1000.0;
}

/* Waits until `started` runs have begun (counted in-process, so the wait
 * costs the store nothing), then until nothing is queued or running, then
 * checks that `want` executions succeeded. */
static bool wait_succeeded(store *s, bench_ctx *b, long started, int64_t want, int seconds) {
  for (int i = 0; i < seconds * 1000 && atomic_load(&b->started) < started; i++) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < seconds * 500; i++) {
    int64_t pending;
    if (store_exec_pending(s, &pending) == CF_OK && pending == 0) {
      int64_t counts[6];
      return store_exec_counts(s, counts) == CF_OK && counts[STORE_EXEC_SUCCEEDED] >= want;
    }
    struct timespec ts = {0, 2000000L};
    nanosleep(&ts, NULL);
  }
  return false;
}

static int bench_queue(int argc, char **argv) {
  long executions = 10000, workers = 50, idle_samples = 200;
  const char *db_path = NULL;
  /* Every option takes a value: two arguments at a time. */
  for (int i = 0; i < argc; i += 2) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (!v) {
      fprintf(stderr, "cronflow: %s needs a value\n", argv[i]);
      return 2;
    }
    if (strcmp(argv[i], "--executions") == 0)
      executions = strtol(v, &end, 10);
    else if (strcmp(argv[i], "--workers") == 0)
      workers = strtol(v, &end, 10);
    else if (strcmp(argv[i], "--idle-samples") == 0)
      idle_samples = strtol(v, &end, 10);
    else if (strcmp(argv[i], "--db") == 0)
      db_path = v;
    else {
      fprintf(stderr, "cronflow: unknown option %s\n", argv[i]);
      return 2;
    }
    if (end && (*end || executions < 1 || executions > 10000000 || workers < 1 || workers > 1024 ||
                idle_samples < 1 || idle_samples > 100000)) {
      fprintf(stderr, "cronflow: %s '%s' is out of range\n", argv[i], v);
      return 2;
    }
  }
  char tmpdir[256], path[300];
  bool own_db = !db_path;
  if (own_db) {
    if (cli_make_temp_dir("cronflow-bench", tmpdir, sizeof tmpdir) != 0) {
      fprintf(stderr, "cronflow: cannot make a temporary directory: %s\n", strerror(errno));
      return 1;
    }
    snprintf(path, sizeof path, "%s/bench.db", tmpdir);
    db_path = path;
  }
  store *s;
  int rc = cli_open_store(db_path, true, &s);
  if (rc)
    return rc;
  size_t total = (size_t)executions + (size_t)idle_samples;
  bench_ctx b = {.cap = total};
  b.started_us = calloc(total, sizeof *b.started_us);
  int64_t *acked_us = calloc(total, sizeof *acked_us);
  store_exec_new *batch = calloc(1000, sizeof *batch);
  int64_t *ids = calloc(1000, sizeof *ids);
  if (!b.started_us || !acked_us || !batch || !ids) {
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  for (int i = 0; i < 1000; i++)
    batch[i] = (store_exec_new){.workflow_id = 1, .workflow_version = 1, .trigger_kind = "api"};
  /* Ids are assigned in order from the next rowid. */
  int64_t probe;
  if (store_exec_enqueue_batch(s, batch, 1, worker_now_ms(), &probe) != CF_OK)
    return 1;
  b.first_id = probe + 1;
  worker_config cfg = {.store = s,
                       .concurrency = (int)workers,
                       .lease_ms = 30000,
                       .poll_ms = 200,
                       .start = noop_start,
                       .run_ctx = &b};
  worker_pool *pool;
  if (worker_pool_start(&cfg, &pool) != CF_OK)
    return 1;
  if (!wait_succeeded(s, &b, 1, 1, 30))
    return 1;

  /* Burst: throughput. */
  int64_t t0 = mono_us();
  for (long done = 0; done < executions;) {
    size_t n = executions - done < 1000 ? (size_t)(executions - done) : 1000;
    int64_t now = mono_us();
    if (store_exec_enqueue_batch(s, batch, n, worker_now_ms(), ids) != CF_OK) {
      fprintf(stderr, "cronflow: enqueue failed\n");
      return 1;
    }
    for (size_t i = 0; i < n; i++)
      if (ids[i] - b.first_id >= 0 && (size_t)(ids[i] - b.first_id) < total)
        acked_us[ids[i] - b.first_id] = now;
    done += (long)n;
  }
  int64_t t_enqueued = mono_us();
  if (!wait_succeeded(s, &b, executions + 1, executions + 1, 600)) {
    fprintf(stderr, "cronflow: the burst did not finish in 10 minutes\n");
    return 1;
  }
  int64_t t_done = mono_us();
  int64_t *lat = calloc(total, sizeof *lat);
  size_t nl = 0;
  for (long i = 0; i < executions; i++)
    if (b.started_us[i] && acked_us[i])
      lat[nl++] = b.started_us[i] > acked_us[i] ? b.started_us[i] - acked_us[i] : 0;
  double loaded_p50 = percentile_ms(lat, nl, 0.50), loaded_p99 = percentile_ms(lat, nl, 0.99);

  /* Idle: one at a time into a waiting pool. */
  nl = 0;
  for (long k = 0; k < idle_samples; k++) {
    struct timespec pause = {0, 2000000L};
    nanosleep(&pause, NULL);
    int64_t id, asked = mono_us();
    if (store_exec_enqueue_batch(s, batch, 1, worker_now_ms(), &id) != CF_OK)
      return 1;
    size_t i = (size_t)(id - b.first_id);
    for (int spin = 0; spin < 100000 && i < total && !atomic_load(&b.started_us[i]); spin++) {
      struct timespec ts = {0, 20000L};
      nanosleep(&ts, NULL);
    }
    if (i < total && atomic_load(&b.started_us[i]))
      lat[nl++] = atomic_load(&b.started_us[i]) - asked;
  }
  double idle_p50 = percentile_ms(lat, nl, 0.50), idle_p99 = percentile_ms(lat, nl, 0.99);
  worker_pool_stop(pool);
  store_close(s);
  double enqueue_s = (double)(t_enqueued - t0) / 1e6, total_s = (double)(t_done - t0) / 1e6;
  printf("{\"executions\":%ld,\"workers\":%ld,\"enqueue_per_s\":%.0f,\"process_per_s\":%.0f,"
         "\"start_latency_ms_p50\":%.3f,\"start_latency_ms_p99\":%.3f,"
         "\"loaded_start_latency_ms_p50\":%.3f,\"loaded_start_latency_ms_p99\":%.3f,"
         "\"durable\":true}\n",
         executions, workers, (double)executions / enqueue_s, (double)executions / total_s,
         idle_p50, idle_p99, loaded_p50, loaded_p99);
  free(lat);
  free(b.started_us);
  free(acked_us);
  free(batch);
  free(ids);
  if (own_db) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
      fprintf(stderr, "cronflow: could not remove %s\n", tmpdir);
  }
  return 0;
}

int cli_bench(int argc, char **argv) {
  if (argc >= 1 && strcmp(argv[0], "queue") == 0)
    return bench_queue(argc - 1, argv + 1);
  if (argc >= 1 && strcmp(argv[0], "engine") == 0)
    return cli_bench_engine(argc - 1, argv + 1);
  if (argc >= 1 && strcmp(argv[0], "fire") == 0)
    return cli_bench_fire(argc - 1, argv + 1);
  fprintf(stderr, "usage: cronflow bench queue [--executions N] [--workers W] [--db PATH]\n"
                  "       cronflow bench engine [--executions N] [--chain K] [--url URL "
                  "--inflight N]\n"
                  "       cronflow bench fire [--burst N] [--schedules N] [--spread-seconds S]\n");
  return 2;
}
