/*
 * bench_engine.c — `cronflow bench engine`: the workflow engine through
 * the real store, worker pool and event loops, printed as one JSON line.
 *
 * Phases, on a temporary database:
 *  - steps: E executions of a chain of K no-op steps (transforms that set
 *    one key): engine overhead per step, every step recorded;
 *  - inflight (with --url), against a server that answers after a delay:
 *    one execution whose loop runs N http_request steps at once, then N
 *    executions of one http_request each started together: the most
 *    transfers in flight at once, the time until all succeeded, and the
 *    process's resident memory at the peak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "store/store.h"
#include "worker/worker.h"

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* VmRSS or VmHWM of this process in KiB (0 if unknown). */
static long proc_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return 0;
  char line[256];
  long v = 0;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':')
      v = strtol(line + n + 1, NULL, 10);
  fclose(f);
  return v;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

typedef struct watch {
  int64_t peak_actions;
  long peak_rss_kib;
} watch;

/* Waits until `want` executions have ended (failures counted in *failed),
 * sampling the engine into w (may be NULL); false after `seconds`. */
static bool wait_done(store *s, engine *eng, int64_t want, int seconds, watch *w, int64_t *failed) {
  int64_t deadline = mono_us() + (int64_t)seconds * 1000000;
  int64_t counts[6];
  int tick = 0;
  while (mono_us() < deadline) {
    engine_stats st;
    engine_get_stats(eng, &st);
    if (w && st.actions > w->peak_actions) {
      w->peak_actions = st.actions;
      long rss = proc_kib("VmRSS");
      if (rss > w->peak_rss_kib)
        w->peak_rss_kib = rss;
    }
    if ((++tick % 10 == 0 || !w) && store_exec_counts(s, counts) == CF_OK &&
        counts[STORE_EXEC_SUCCEEDED] + counts[STORE_EXEC_FAILED] + counts[STORE_EXEC_TIMED_OUT] >=
            want) {
      *failed = counts[STORE_EXEC_FAILED] + counts[STORE_EXEC_TIMED_OUT];
      return true;
    }
    sleep_ms(w ? 2 : 5);
  }
  return false;
}

static char *chain_workflow(int k) {
  size_t cap = 256 + (size_t)k * 160;
  char *buf = malloc(cap);
  if (!buf)
    return NULL;
  size_t n = (size_t)snprintf(buf, cap,
                              "{\"name\":\"bench chain\",\"nodes\":[{\"id\":\"t\",\"type\":"
                              "\"trigger\"}");
  for (int i = 0; i < k; i++)
    n += (size_t)snprintf(
        buf + n, cap - n,
        ",{\"id\":\"s%d\",\"type\":\"transform\",\"params\":{\"set\":{\"n\":%d}}}", i, i);
  n += (size_t)snprintf(buf + n, cap - n, "],\"edges\":[");
  for (int i = 0; i < k; i++) {
    char from[16] = "t";
    if (i)
      snprintf(from, sizeof from, "s%d", i - 1);
    n += (size_t)snprintf(buf + n, cap - n, "%s{\"from\":\"%s\",\"to\":\"s%d\"}", i ? "," : "",
                          from, i);
  }
  snprintf(buf + n, cap - n, "]}");
  return buf;
}

static int enqueue_many(store *s, int64_t wf, int64_t n) {
  store_exec_new batch[500];
  for (int64_t done = 0; done < n;) {
    size_t m = (size_t)(n - done < 500 ? n - done : 500);
    for (size_t i = 0; i < m; i++)
      batch[i] =
          (store_exec_new){.workflow_id = wf, .workflow_version = 1, .trigger_kind = "manual"};
    if (store_exec_enqueue_batch(s, batch, m, worker_now_ms(), NULL) != CF_OK)
      return 1;
    done += (int64_t)m;
  }
  return 0;
}

/* Runs n executions of `doc` and waits for them; 0 or an exit status. */
static int run_phase(store *s, engine *eng, const char *name, const char *doc, int64_t n, watch *w,
                     double *seconds) {
  int64_t wf, before[6], failed = 0;
  if (store_workflow_create(s, 0, name, "", doc, worker_now_ms(), &wf) != CF_OK ||
      store_exec_counts(s, before) != CF_OK) {
    fprintf(stderr, "cronflow: cannot create the %s workflow\n", name);
    return 1;
  }
  int64_t want =
      before[STORE_EXEC_SUCCEEDED] + before[STORE_EXEC_FAILED] + before[STORE_EXEC_TIMED_OUT] + n;
  int64_t t0 = mono_us();
  if (enqueue_many(s, wf, n) || !wait_done(s, eng, want, 300, w, &failed) ||
      failed > before[STORE_EXEC_FAILED] + before[STORE_EXEC_TIMED_OUT]) {
    fprintf(stderr, "cronflow: the %s phase did not succeed\n", name);
    return 1;
  }
  *seconds = (double)(mono_us() - t0) / 1e6;
  return 0;
}

int cli_bench_engine(int argc, char **argv) {
  long execs = 500, chain = 20, inflight = 5000, threads = 2;
  const char *url = NULL;
  if (argc % 2) {
    fprintf(stderr, "usage: cronflow bench engine [--executions N] [--chain K] "
                    "[--url URL --inflight N] [--threads T]\n");
    return 2;
  }
  for (int i = 0; i + 1 < argc; i += 2) {
    char *end;
    long v = strtol(argv[i + 1], &end, 10);
    if (strcmp(argv[i], "--url") == 0) {
      url = argv[i + 1];
      continue;
    }
    if (*end || v < 1 || v > 1000000) {
      fprintf(stderr, "cronflow: %s needs a number from 1 to 1000000\n", argv[i]);
      return 2;
    }
    if (strcmp(argv[i], "--executions") == 0)
      execs = v;
    else if (strcmp(argv[i], "--chain") == 0)
      chain = v > 400 ? 400 : v;
    else if (strcmp(argv[i], "--inflight") == 0)
      inflight = v > 10000 ? 10000 : v;
    else if (strcmp(argv[i], "--threads") == 0)
      threads = v > 64 ? 64 : v;
    else {
      fprintf(stderr, "cronflow: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  char dir[256];
  if (cli_make_temp_dir("cronflow-bench-engine", dir, sizeof dir) != 0) {
    perror("cronflow: cannot make a temporary directory");
    return 1;
  }
  char path[300];
  snprintf(path, sizeof path, "%s/bench.db", dir);
  store *s;
  int rc = cli_open_store(path, true, &s);
  if (rc)
    return rc;
  engine_config ec = {.store = s, .threads = (int)threads};
  engine *eng = NULL;
  worker_pool *pool = NULL;
  worker_config wc = {.store = s,
                      .concurrency = (int)(inflight > 1000 ? inflight : 1000),
                      .poll_ms = 50,
                      .start = engine_start};
  if (engine_new(&ec, &eng) != CF_OK ||
      (wc.run_ctx = eng, worker_pool_start(&wc, &pool)) != CF_OK) {
    fprintf(stderr, "cronflow: cannot start the engine\n");
    engine_free(eng);
    store_close(s);
    return 1;
  }
  long idle_rss = proc_kib("VmRSS");

  double chain_s = 0, loop_s = 0, execs_s = 0;
  watch wl = {0, 0}, we = {0, 0};
  char *def = chain_workflow((int)chain);
  rc = def ? run_phase(s, eng, "chain", def, execs, NULL, &chain_s) : 1;
  free(def);
  if (!rc && url) {
    char doc[1400];
    snprintf(doc, sizeof doc,
             "{\"name\":\"bench http loop\",\"nodes\":[{\"id\":\"t\",\"type\":\"trigger\"},"
             "{\"id\":\"each\",\"type\":\"loop\",\"params\":{\"items\":\"{{ range(%ld) }}\","
             "\"parallelism\":%ld,\"max_items\":%ld}},"
             "{\"id\":\"get\",\"type\":\"action\",\"action\":\"http_request\",\"params\":"
             "{\"url\":\"%.900s\",\"timeout_ms\":120000}}],\"edges\":[{\"from\":\"t\",\"to\":"
             "\"each\"},{\"from\":\"each\",\"to\":\"get\",\"when\":\"each\"}]}",
             inflight, inflight, inflight, url);
    rc = run_phase(s, eng, "loop", doc, 1, &wl, &loop_s);
    snprintf(doc, sizeof doc,
             "{\"name\":\"bench http\",\"nodes\":[{\"id\":\"t\",\"type\":\"trigger\"},"
             "{\"id\":\"get\",\"type\":\"action\",\"action\":\"http_request\",\"params\":"
             "{\"url\":\"%.900s\",\"timeout_ms\":120000}}],\"edges\":[{\"from\":\"t\",\"to\":"
             "\"get\"}]}",
             url);
    if (!rc)
      rc = run_phase(s, eng, "executions", doc, inflight, &we, &execs_s);
  }
  worker_pool_stop(pool);
  engine_free(eng);
  store_close(s);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cronflow: could not remove %s\n", dir);
  if (rc)
    return rc;
  double steps = (double)execs * (double)(chain + 1);
  printf("{\"bench\":\"engine\",\"executions\":%ld,\"chain_steps\":%ld,\"chain_seconds\":%.3f,"
         "\"steps_per_second\":%.0f,\"us_per_step\":%.1f,\"inflight_target\":%ld,"
         "\"loop_inflight_peak\":%lld,\"loop_seconds\":%.3f,\"loop_rss_at_peak_mib\":%.1f,"
         "\"execs_inflight_peak\":%lld,\"execs_seconds\":%.3f,\"execs_rss_at_peak_mib\":%.1f,"
         "\"rss_idle_mib\":%.1f,\"rss_high_water_mib\":%.1f}\n",
         execs, chain + 1, chain_s, steps / chain_s, chain_s * 1e6 / steps, url ? inflight : 0,
         (long long)wl.peak_actions, loop_s, (double)wl.peak_rss_kib / 1024.0,
         (long long)we.peak_actions, execs_s, (double)we.peak_rss_kib / 1024.0,
         (double)idle_rss / 1024.0, (double)proc_kib("VmHWM") / 1024.0);
  return 0;
}
