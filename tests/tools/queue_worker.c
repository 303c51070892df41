/*
 * queue_worker.c — a worker process for the queue's crash tests: the real
 * store and the real worker pool, with a runner whose steps sleep.
 *
 *   queue_worker enqueue DB COUNT STEPS SLEEP_MS
 *   queue_worker run DB CONCURRENCY LEASE_MS LOG [--until-empty]
 *   queue_worker check DB COUNT STEPS LOG
 *
 * Each execution runs STEPS steps; a step that has a succeeded checkpoint
 * is skipped, otherwise the runner appends "start ID STEP" to LOG, sleeps,
 * saves the checkpoint and appends "done ID STEP". `check` then proves the
 * queue's promises after any number of kill -9s: every execution succeeded,
 * exactly once, with every step checkpointed, and no step was started again
 * after it had been recorded as done.
 */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "worker/worker.h"

static int log_fd = -1;

static void log_line(const char *what, int64_t id, int step) {
  char line[96];
  int n = snprintf(line, sizeof line, "%s %lld %d %d\n", what, (long long)id, step, (int)getpid());
  /* One write with O_APPEND: lines from several processes never mix. */
  if (write(log_fd, line, (size_t)n) != n)
    abort();
}

static void run(void *ctx, worker_exec *x, worker_result *out) {
  (void)ctx;
  const store_claim *c = worker_exec_claim(x);
  json_t *t = json_loads(c->trigger_data, 0, NULL);
  int steps = (int)json_integer_value(json_object_get(t, "steps"));
  int sleep_ms = (int)json_integer_value(json_object_get(t, "sleep_ms"));
  json_decref(t);
  store_step *done;
  size_t ndone;
  if (worker_exec_steps(x, &done, &ndone) != CF_OK) {
    out->outcome = WORKER_INTERRUPTED;
    return;
  }
  for (int i = 0; i < steps; i++) {
    char node[16];
    snprintf(node, sizeof node, "s%d", i);
    bool already = false;
    for (size_t k = 0; k < ndone; k++)
      already |= strcmp(done[k].node_id, node) == 0 && strcmp(done[k].status, "succeeded") == 0;
    if (already)
      continue;
    log_line("start", c->id, i);
    int64_t started = worker_now_ms();
    for (int slept = 0; slept < sleep_ms; slept += 5) {
      if (worker_exec_should_stop(x)) {
        store_steps_free(done, ndone);
        out->outcome = WORKER_INTERRUPTED;
        return;
      }
      struct timespec ts = {0, 5 * 1000000L};
      nanosleep(&ts, NULL);
    }
    char output[32];
    snprintf(output, sizeof output, "{\"step\":%d}", i);
    store_step st = {.node_id = node,
                     .status = "succeeded",
                     .output = output,
                     .started_at = started,
                     .finished_at = worker_now_ms()};
    if (worker_exec_checkpoint(x, &st) != CF_OK) {
      store_steps_free(done, ndone);
      out->outcome = WORKER_INTERRUPTED;
      return;
    }
    log_line("done", c->id, i);
  }
  store_steps_free(done, ndone);
  out->outcome = WORKER_SUCCEEDED;
}

static store *open_store(const char *path) {
  store_config cfg = {.url = path};
  store *s;
  char err[512];
  if (store_open(&cfg, &s, err, sizeof err) != CF_OK ||
      store_migrate(s, NULL, NULL, err, sizeof err) != CF_OK) {
    fprintf(stderr, "queue_worker: %s\n", err);
    exit(1);
  }
  return s;
}

static int cmd_enqueue(char **argv) {
  store *s = open_store(argv[0]);
  int count = atoi(argv[1]);
  char data[64];
  snprintf(data, sizeof data, "{\"steps\":%d,\"sleep_ms\":%d}", atoi(argv[2]), atoi(argv[3]));
  for (int i = 0; i < count; i++) {
    store_exec_new e = {.workflow_id = 1,
                        .workflow_version = 1,
                        .trigger_kind = "api",
                        .trigger_data = data,
                        .max_attempts = 3,
                        .backoff_ms = 10};
    int64_t id;
    if (store_exec_enqueue(s, &e, worker_now_ms(), &id) != CF_OK)
      return 1;
  }
  store_close(s);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  store *s = open_store(argv[0]);
  log_fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log_fd < 0)
    return 1;
  bool until_empty = argc > 4 && strcmp(argv[4], "--until-empty") == 0;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  worker_config cfg = {.store = s,
                       .concurrency = atoi(argv[1]),
                       .lease_ms = atoll(argv[2]),
                       .grace_ms = 5000,
                       .poll_ms = 100,
                       .run = run};
  worker_pool *pool;
  if (worker_pool_start(&cfg, &pool) != CF_OK)
    return 1;
  if (until_empty) {
    /* Bounded: two minutes at most. */
    for (int i = 0; i < 1200; i++) {
      int64_t counts[6];
      if (store_exec_counts(s, counts) == CF_OK && counts[STORE_EXEC_QUEUED] == 0 &&
          counts[STORE_EXEC_RUNNING] == 0)
        break;
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
    }
  } else {
    int sig;
    sigwait(&stop, &sig);
  }
  worker_pool_stop(pool);
  store_close(s);
  close(log_fd);
  return 0;
}

static int cmd_check(char **argv) {
  store *s = open_store(argv[0]);
  int count = atoi(argv[1]), steps = atoi(argv[2]);
  int pass = 0, fail = 0;
  int64_t counts[6];
  if (store_exec_counts(s, counts) != CF_OK)
    return 1;
  if (counts[STORE_EXEC_SUCCEEDED] == count && counts[STORE_EXEC_QUEUED] == 0 &&
      counts[STORE_EXEC_RUNNING] == 0 && counts[STORE_EXEC_FAILED] == 0)
    pass++;
  else {
    fail++;
    printf("FAIL counts: succeeded %lld of %d, queued %lld, running %lld, failed %lld\n",
           (long long)counts[STORE_EXEC_SUCCEEDED], count, (long long)counts[STORE_EXEC_QUEUED],
           (long long)counts[STORE_EXEC_RUNNING], (long long)counts[STORE_EXEC_FAILED]);
  }
  /* Per execution: every step checkpointed, exactly one succeeded attempt. */
  int bad_steps = 0, bad_attempts = 0;
  for (int64_t id = 1; id <= count; id++) {
    store_step *st;
    size_t n;
    if (store_step_list(s, id, &st, &n) != CF_OK)
      return 1;
    int ok = 0;
    for (size_t k = 0; k < n; k++)
      ok += strcmp(st[k].status, "succeeded") == 0;
    bad_steps += ok != steps;
    store_steps_free(st, n);
    store_attempt *at;
    if (store_attempt_list(s, id, &at, &n) != CF_OK)
      return 1;
    int succeeded = 0;
    for (size_t k = 0; k < n; k++)
      succeeded += at[k].status && strcmp(at[k].status, "succeeded") == 0;
    bad_attempts += succeeded != 1;
    store_attempts_free(at, n);
  }
  if (bad_steps == 0)
    pass++;
  else {
    fail++;
    printf("FAIL %d executions lack a succeeded checkpoint for every step\n", bad_steps);
  }
  if (bad_attempts == 0)
    pass++;
  else {
    fail++;
    printf("FAIL %d executions do not have exactly one succeeded attempt\n", bad_attempts);
  }
  /* No step started again once it was done. */
  FILE *f = fopen(argv[3], "r");
  if (!f)
    return 1;
  size_t cells = (size_t)(count + 1) * (size_t)steps;
  char *done = calloc(cells, 1);
  int *starts = calloc(cells, sizeof *starts);
  char what[8];
  long long id;
  int step, pid, reruns = 0, repeated = 0, lines = 0;
  while (fscanf(f, "%7s %lld %d %d", what, &id, &step, &pid) == 4) {
    lines++;
    if (id < 1 || id > count || step < 0 || step >= steps)
      continue;
    size_t cell = (size_t)id * (size_t)steps + (size_t)step;
    if (strcmp(what, "start") == 0) {
      reruns += done[cell];
      repeated += starts[cell]++ > 0;
    } else {
      done[cell] = 1;
    }
  }
  fclose(f);
  free(done);
  free(starts);
  if (reruns == 0)
    pass++;
  else {
    fail++;
    printf("FAIL %d steps were started again after they had succeeded\n", reruns);
  }
  printf("%d log lines; %d steps ran more than once because a worker died mid-step "
         "(at-least-once, allowed)\n",
         lines, repeated);
  store_close(s);
  printf("SUMMARY: %d passed, %d failed\n", pass, fail);
  return fail ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "enqueue") == 0)
    return cmd_enqueue(argv + 2);
  if (argc >= 6 && strcmp(argv[1], "run") == 0)
    return cmd_run(argc - 2, argv + 2);
  if (argc >= 6 && strcmp(argv[1], "check") == 0)
    return cmd_check(argv + 2);
  fprintf(stderr, "usage: queue_worker enqueue|run|check ...\n");
  return 2;
}
