/*
 * serve_cmd.c — `cronflow serve`: opens the data file and the zone
 * database, starts the workflow engine with its worker pool, the HTTP
 * server and the scheduler, and runs until SIGINT or SIGTERM; then stops
 * firing and taking work, lets running executions finish within the grace
 * period and gives back the rest (another process resumes them).
 * `--clock START [--clock-speed N]` runs the scheduler (only it) on a clock
 * that starts at START and runs N times as fast, to watch a March night's
 * DST fires in seconds.
 *
 * Signals are blocked in every thread and taken synchronously with
 * sigwait, so no handler runs on a thread in the middle of a request.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "base/civil.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "sched/sched.h"
#include "store/store.h"
#include "worker/worker.h"

static const char serve_usage[] =
    "usage: cronflow serve [--listen HOST:PORT] [--db PATH] [--threads N] [--key-file PATH]\n"
    "\n"
    "  --listen   address to serve HTTP on (default 127.0.0.1:8080; [::1]:8080 for IPv6)\n"
    "  --db       the SQLite data file, created and migrated if needed (default data/cronflow.db)\n"
    "  --threads  HTTP worker threads (default 2)\n"
    "  --key-file the master key that encrypts credentials (default: cronflow.key beside the\n"
    "             database, created with mode 0600; CRONFLOW_MASTER_KEY wins when set)\n"
    "  --clock    run the scheduler's clock from this ISO-8601 time (with Z or an offset)\n"
    "  --clock-speed  how many times as fast as real time that clock runs (default 1)\n";

/* Splits "host:port" / "[v6]:port". Returns false if malformed. */
static bool split_listen(const char *s, char *host, size_t cap, uint16_t *port) {
  const char *colon;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= cap)
      return false;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= cap || colon == s)
      return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
  }
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
    return false;
  *port = (uint16_t)p;
  return true;
}

/* mkdir -p for the directory part of path. */
static int make_parent_dirs(const char *path) {
  char buf[4096];
  if (strlen(path) >= sizeof buf)
    return -1;
  strcpy(buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  return 0;
}

static const char *check_ready(void *ctx) {
  cf_err rc = store_ping(ctx);
  return rc ? cf_strerror(rc) : NULL;
}

/* Opens the store at db_path (creating its directory) and migrates it.
 * Prints the error itself; returns the exit status, 0 on success. */
int cli_open_store(const char *db_path, bool migrate, store **out) {
  if (make_parent_dirs(db_path) != 0) {
    fprintf(stderr, "cronflow: cannot create the directory for %s: %s\n", db_path, strerror(errno));
    return 1;
  }
  store_config cfg = {.url = db_path};
  char err[512];
  cf_err rc = store_open(&cfg, out, err, sizeof err);
  if (rc) {
    fprintf(stderr, "cronflow: %s\n", err[0] ? err : cf_strerror(rc));
    return 1;
  }
  if (migrate && (rc = store_migrate(*out, NULL, NULL, err, sizeof err)) != CF_OK) {
    fprintf(stderr, "cronflow: %s\n", err[0] ? err : cf_strerror(rc));
    store_close(*out);
    *out = NULL;
    return 1;
  }
  return 0;
}

int cli_serve(int argc, char **argv) {
  const char *listen = "127.0.0.1:8080", *db_path = "data/cronflow.db", *key_file = NULL;
  long threads = 2;
  const char *clock_start = NULL;
  double clock_speed = 1;
  /* Every option takes a value: two arguments at a time. */
  for (int i = 0; i < argc; i += 2) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(serve_usage, stdout);
      return 0;
    }
    if (!val || (strcmp(argv[i], "--listen") && strcmp(argv[i], "--db") &&
                 strcmp(argv[i], "--threads") && strcmp(argv[i], "--clock") &&
                 strcmp(argv[i], "--clock-speed") && strcmp(argv[i], "--key-file"))) {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", argv[i], serve_usage);
      return 2;
    }
    if (strcmp(argv[i], "--listen") == 0)
      listen = val;
    else if (strcmp(argv[i], "--db") == 0)
      db_path = val;
    else if (strcmp(argv[i], "--key-file") == 0)
      key_file = val;
    else if (strcmp(argv[i], "--clock") == 0)
      clock_start = val;
    else if (strcmp(argv[i], "--clock-speed") == 0) {
      char *end;
      clock_speed = strtod(val, &end);
      if (*end || !(clock_speed >= 0.001 && clock_speed <= 1e7)) {
        fprintf(stderr, "cronflow: --clock-speed must be a number from 0.001 to 10000000\n");
        return 2;
      }
    } else {
      char *end;
      threads = strtol(val, &end, 10);
      if (*end || threads < 1 || threads > 256) {
        fprintf(stderr, "cronflow: --threads must be 1 to 256, not '%s'\n", val);
        return 2;
      }
    }
  }
  char host[256];
  uint16_t port;
  if (!split_listen(listen, host, sizeof host, &port)) {
    fprintf(stderr, "cronflow: --listen '%s' is not HOST:PORT (such as 127.0.0.1:8080)\n", listen);
    return 2;
  }
  sched_scaled_clock scaled;
  sched_options sopt = {0};
  if (clock_start) {
    int64_t sec;
    int32_t nanos;
    bool has_offset;
    char why[160] = "";
    if (civil_parse_iso(clock_start, &sec, &nanos, &has_offset, why, sizeof why) != CF_OK ||
        !has_offset) {
      fprintf(stderr, "cronflow: --clock '%s' is not an ISO-8601 time with Z or an offset%s%s\n",
              clock_start, why[0] ? ": " : "", why);
      return 2;
    }
    sched_scaled_clock_init(&scaled, sec * 1000 + nanos / 1000000, clock_speed);
    sopt.clock = sched_clock_scaled(&scaled);
  } else if (clock_speed != 1) {
    fprintf(stderr, "cronflow: --clock-speed needs --clock\n");
    return 2;
  }
  store *db;
  int rc = cli_open_store(db_path, true, &db);
  if (rc)
    return rc;
  if ((rc = cli_master_key(db, db_path, key_file)) != 0) {
    store_close(db);
    return rc;
  }
  tz_db *zones;
  if (tz_db_open(NULL, &zones) != CF_OK) {
    store_close(db);
    fprintf(stderr, "cronflow: out of memory\n");
    return 1;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  engine_config ec = {.store = db, .tz = zones, .threads = 2};
  engine *eng;
  cf_err err = engine_new(&ec, &eng);
  worker_pool *pool = NULL;
  if (!err) {
    worker_config wc = {.store = db, .concurrency = 1000, .start = engine_start, .run_ctx = eng};
    err = worker_pool_start(&wc, &pool);
    if (err)
      engine_free(eng);
  }
  if (err) {
    fprintf(stderr, "cronflow: cannot start the workers: %s\n", cf_strerror(err));
    tz_db_free(zones);
    store_close(db);
    return 1;
  }
  /* The scheduler first: the API tells it about schedule changes. */
  sched *scheduler;
  err = sched_start(db, zones, &sopt, &scheduler);
  if (err) {
    fprintf(stderr, "cronflow: cannot start the scheduler: %s\n", cf_strerror(err));
    worker_pool_stop(pool);
    engine_free(eng);
    tz_db_free(zones);
    store_close(db);
    return 1;
  }
  if ((err = api_bootstrap_admin(db, stdout)) != CF_OK)
    fprintf(stderr, "cronflow: cannot create the first admin: %s\n", cf_strerror(err));
  api_config cfg = {.host = host,
                    .port = port,
                    .threads = (unsigned)threads,
                    .zones = zones,
                    .ready = check_ready,
                    .ready_ctx = db,
                    .store = db,
                    .sched = scheduler};
  api_server *srv;
  err = api_server_start(&cfg, &srv);
  if (err) {
    fprintf(stderr, "cronflow: cannot serve on %s: %s\n", listen,
            err == CF_E_INVALID ? "not an IP address" : "the address is in use or not allowed");
    sched_stop(scheduler);
    worker_pool_stop(pool);
    engine_free(eng);
    tz_db_free(zones);
    store_close(db);
    return 1;
  }
  char where[300];
  if (strchr(host, ':'))
    snprintf(where, sizeof where, "[%s]:%u", host, (unsigned)api_server_port(srv));
  else
    snprintf(where, sizeof where, "%s:%u", host, (unsigned)api_server_port(srv));
  /* Start-up work (migrations, the first admin's password hash, loading the
   * schedules) leaves freed heap behind: give it back before idling. */
  malloc_trim(0);
  printf("cronflow %s serving on http://%s/ (data: %s)\n", CRONFLOW_VERSION, where, db_path);
  fflush(stdout);
  int sig;
  sigwait(&stop, &sig);
  printf("cronflow: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  sched_stop(scheduler);
  api_server_stop(srv);
  worker_pool_stop(pool);
  engine_free(eng);
  tz_db_free(zones);
  store_close(db);
  return 0;
}
