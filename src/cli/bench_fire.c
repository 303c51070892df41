/*
 * bench_fire.c — `cronflow bench fire`: the scheduler's fire latency and
 * memory, printed as one JSON line for scripts/run-bench.
 *
 * Latency is measured from a fire's due instant (its cron instant plus the
 * schedule's jitter offset) to the start of the execution's first step:
 * the execution row committed by the fire transaction, claimed by the
 * worker pool with a lease, handed to the workflow engine, which runs the
 * workflow's trigger node (the first step) on one of its loops.
 *
 *   burst:  N schedules (default 10,000) all firing on the same second;
 *   spread: M schedules (default 100,000) `H * * * * *` (a hashed second
 *           each) with a 1 s jitter window, measured for S seconds
 *           (default 60: every schedule fires once);
 *   memory: VmRSS of this process with the M schedules loaded (and before
 *           loading them), and of a `cronflow serve` with no schedules.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "sched/sched.h"
#include "worker/worker.h"

typedef struct fire_bench {
  int64_t jitter_ms;
  int64_t measure_from; /* due instants before this are not counted (ms) */
  int64_t measure_to;   /* nor from this on */
  _Atomic int64_t *lat_us;
  size_t cap;
  atomic_size_t n;
  atomic_long started;
} fire_bench;

static int64_t real_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The engine's progress hook: the trigger node is every execution's first
 * step. */
static void record_step(void *arg, const store_claim *c, const store_step *step) {
  int64_t now = real_us();
  if (strcmp(step->node_id, "start") != 0)
    return;
  fire_bench *b = arg;
  int64_t due = c->scheduled_at + sched_jitter_offset(c->schedule_id, b->jitter_ms);
  atomic_fetch_add(&b->started, 1);
  if (due >= b->measure_from && due < b->measure_to) {
    size_t i = atomic_fetch_add(&b->n, 1);
    if (i < b->cap)
      atomic_store(&b->lat_us[i], now - due * 1000);
  }
}

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* p50, p99 and max in ms, over the recorded samples. */
static void latency_summary(fire_bench *b, double out[3], size_t *count) {
  size_t n = atomic_load(&b->n);
  if (n > b->cap)
    n = b->cap;
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  for (size_t i = 0; v && i < n; i++)
    v[i] = atomic_load(&b->lat_us[i]);
  out[0] = out[1] = out[2] = 0;
  if (v && n) {
    qsort(v, n, sizeof *v, compare_i64);
    out[0] = (double)v[(size_t)(0.50 * (double)(n - 1) + 0.5)] / 1000;
    out[1] = (double)v[(size_t)(0.99 * (double)(n - 1) + 0.5)] / 1000;
    out[2] = (double)v[n - 1] / 1000;
  }
  free(v);
  *count = n;
}

static double rss_mb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  double kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
      break;
  if (f)
    fclose(f);
  return kb / 1024;
}

/* The resident size of `cronflow serve` on an empty database, once it
 * has served for a second. -1 if it could not be measured. */
static double idle_server_rss(const char *dir) {
  char db[300], exe[4096];
  snprintf(db, sizeof db, "%s/idle.db", dir);
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return -1;
  exe[len] = '\0';
  pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
      _exit(127);
    execl(exe, exe, "serve", "--listen", "127.0.0.1:0", "--db", db, (char *)NULL);
    _exit(127);
  }
  if (pid < 0)
    return -1;
  sleep_ms(1500);
  double mb = rss_mb(pid);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  return mb;
}

typedef struct phase {
  store *st;
  tz_db *zones;
  fire_bench b;
  engine *eng;
  worker_pool *pool;
  sched *sc;
} phase;

static cf_err phase_open(phase *p, const char *path, size_t cap, int workers) {
  memset(p, 0, sizeof *p);
  if (cli_open_store(path, true, &p->st) != 0)
    return CF_E_STORE;
  p->b.cap = cap;
  p->b.lat_us = calloc(cap, sizeof *p->b.lat_us);
  if (!p->b.lat_us || tz_db_open(NULL, &p->zones) != CF_OK)
    return CF_E_NOMEM;
  engine_config ec = {.store = p->st, .tz = p->zones, .on_step = record_step, .on_step_ctx = &p->b};
  cf_err rc = engine_new(&ec, &p->eng);
  if (rc)
    return rc;
  worker_config wc = {
      .store = p->st, .concurrency = workers, .start = engine_start, .run_ctx = p->eng};
  return worker_pool_start(&wc, &p->pool);
}

static void phase_close(phase *p) {
  sched_stop(p->sc);
  worker_pool_stop(p->pool);
  engine_free(p->eng);
  tz_db_free(p->zones);
  store_close(p->st);
  free(p->b.lat_us);
}

/* Creates n schedules of `cron` in batches; 0 on success. */
static cf_err add_schedules(store *st, int64_t workflow, long n, const char *cron, int64_t jitter,
                            int64_t starts_at) {
  enum { BATCH = 5000 };
  store_schedule_new *items = calloc(BATCH, sizeof *items);
  if (!items)
    return CF_E_NOMEM;
  cf_err rc = CF_OK;
  for (long done = 0; !rc && done < n;) {
    size_t k = (size_t)(n - done < BATCH ? n - done : BATCH);
    for (size_t i = 0; i < k; i++)
      items[i] = (store_schedule_new){.workflow_id = workflow,
                                      .cron = cron,
                                      .enabled = true,
                                      .misfire = STORE_MISFIRE_ONCE,
                                      .overlap = STORE_OVERLAP_ALLOW,
                                      .grace_ms = 60000,
                                      .jitter_ms = jitter,
                                      .starts_at = starts_at};
    rc = store_sched_create_batch(st, items, k, real_us() / 1000, NULL);
    done += (long)k;
  }
  free(items);
  return rc;
}

static int64_t workflow_for(store *st) {
  int64_t id = 0;
  const char *def = "{\"name\":\"bench\",\"nodes\":[{\"id\":\"start\",\"type\":\"trigger\"}]}";
  if (store_workflow_create(st, 0, "bench", "", def, real_us() / 1000, &id) != CF_OK)
    return 0;
  return id;
}

int cli_bench_fire(int argc, char **argv) {
  long burst = 10000, spread = 100000, seconds = 60, workers = 1000;
  for (int i = 0; i < argc; i += 2) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    long *slot = strcmp(argv[i], "--burst") == 0            ? &burst
                 : strcmp(argv[i], "--schedules") == 0      ? &spread
                 : strcmp(argv[i], "--spread-seconds") == 0 ? &seconds
                 : strcmp(argv[i], "--workers") == 0        ? &workers
                                                            : NULL;
    char *end = NULL;
    if (!slot || !v) {
      fprintf(stderr, "usage: cronflow bench fire [--burst N] [--schedules N] "
                      "[--spread-seconds S] [--workers W]\n");
      return 2;
    }
    *slot = strtol(v, &end, 10);
    if (*end || *slot < 1 || *slot > 1000000) {
      fprintf(stderr, "cronflow: %s '%s' is out of range\n", argv[i], v);
      return 2;
    }
  }
  char dir[128], path[256];
  snprintf(dir, sizeof dir, "/tmp/cronflow-bench-fire-%d-%lld", (int)getpid(),
           (long long)real_us());
  if (mkdir(dir, 0700) != 0) {
    fprintf(stderr, "cronflow: cannot make a temporary directory: %s\n", strerror(errno));
    return 1;
  }
  double idle_mb = idle_server_rss(dir);
  sched_options quiet = {.quiet = true};
  int status = 1;

  /* Burst: every schedule on one second, a few seconds ahead. */
  phase p;
  snprintf(path, sizeof path, "%s/burst.db", dir);
  double burst_lat[3] = {0};
  size_t burst_n = 0;
  int64_t burst_started = 0;
  cf_err rc = phase_open(&p, path, (size_t)burst, (int)workers);
  int64_t wf = rc ? 0 : workflow_for(p.st);
  if (!rc && wf) {
    int64_t t = (real_us() / 1000000 + 5) * 1000;
    char cron[64];
    time_t ts = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&ts, &tm);
    snprintf(cron, sizeof cron, "%d %d %d %d %d *", tm.tm_sec, tm.tm_min, tm.tm_hour, tm.tm_mday,
             tm.tm_mon + 1);
    p.b.measure_from = t;
    p.b.measure_to = t + 1;
    rc = add_schedules(p.st, wf, burst, cron, 0, 0);
    if (!rc)
      rc = sched_start(p.st, p.zones, &quiet, &p.sc);
    while (!rc && atomic_load(&p.b.started) < burst && real_us() / 1000 < t + 15000)
      sleep_ms(5);
    burst_started = atomic_load(&p.b.started);
    latency_summary(&p.b, burst_lat, &burst_n);
  }
  phase_close(&p);
  if (rc || !wf)
    goto out;

  /* Spread: a hashed second per schedule, jittered within the second. */
  snprintf(path, sizeof path, "%s/spread.db", dir);
  double spread_lat[3] = {0};
  size_t spread_n = 0;
  size_t cap = (size_t)spread * (size_t)(seconds / 60 + 2);
  rc = phase_open(&p, path, cap, (int)workers);
  wf = rc ? 0 : workflow_for(p.st);
  double rss_before = rss_mb(getpid()), rss_loaded = 0, load_s = 0;
  sched_stats stats = {0};
  if (!rc && wf) {
    int64_t starts = real_us() / 1000 + 5000 + spread / 10; /* after the load */
    rc = add_schedules(p.st, wf, spread, "H * * * * *", 1000, starts);
    int64_t t0 = real_us();
    if (!rc)
      rc = sched_start(p.st, p.zones, &quiet, &p.sc);
    load_s = (double)(real_us() - t0) / 1e6;
    rss_loaded = rss_mb(getpid());
    int64_t from = real_us() / 1000 + 1000;
    p.b.jitter_ms = 1000;
    p.b.measure_from = from > starts ? from : starts;
    p.b.measure_to = p.b.measure_from + seconds * 1000;
    while (!rc && real_us() / 1000 < p.b.measure_to + 3000)
      sleep_ms(100);
    latency_summary(&p.b, spread_lat, &spread_n);
    if (p.sc)
      sched_get_stats(p.sc, &stats);
  }
  phase_close(&p);
  if (rc || !wf)
    goto out;
  printf("{\"bench\":\"fire\",\"note\":\"latency is from the due instant to the start of the "
         "execution's first step (the trigger node, run by the engine)\","
         "\"burst_schedules\":%ld,\"burst_started\":%lld,\"burst_start_latency_ms\":{\"p50\":%.2f,"
         "\"p99\":%.2f,\"max\":%.2f},\"burst_all_started_within_ms\":%.1f,"
         "\"spread_schedules\":%ld,\"spread_seconds\":%ld,\"spread_fires\":%zu,"
         "\"spread_start_latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
         "\"load_seconds\":%.2f,\"rss_mb_before_load\":%.1f,\"rss_mb_with_schedules\":%.1f,"
         "\"fire_transactions\":%lld,\"idle_server_rss_mb\":%.1f}\n",
         burst, (long long)burst_started, burst_lat[0], burst_lat[1], burst_lat[2],
         burst_n == (size_t)burst ? burst_lat[2] : -1.0, spread, seconds, spread_n, spread_lat[0],
         spread_lat[1], spread_lat[2], load_s, rss_before, rss_loaded,
         (long long)stats.transactions, idle_mb);
  status = 0;
out:
  if (rc)
    fprintf(stderr, "cronflow: bench fire failed: %s\n", cf_strerror(rc));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cronflow: could not remove %s\n", dir);
  return status;
}
