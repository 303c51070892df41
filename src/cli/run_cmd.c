/*
 * run_cmd.c — `cronflow run FILE.json` runs a workflow once, in-process,
 * through the same store, worker and engine a server uses (on a temporary
 * database unless --db names one), and `cronflow validate FILE.json`
 * checks a definition.
 *
 * run: progress (each step as it finishes) on stderr; the execution as one
 * JSON document on stdout, the shape of GET /api/executions/{id}. Exit 0
 * when it succeeded, 1 when it did not, 2 for an invalid definition or bad
 * usage (every validation problem printed).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions/action.h"
#include "api/exec_json.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "flow/flow.h"
#include "tz/tz.h"
#include "worker/worker.h"

#define MAX_DEFINITION  (1024 * 1024)
#define MAX_INPUT_BYTES (1024 * 1024)

static const char run_usage[] =
    "usage: cronflow run FILE.json [--input JSON] [--db PATH] [--credentials FILE.json]\n"
    "                    [--key-file PATH] [--quiet]\n"
    "  --credentials  {name: {type, data, read_only}} created in the store before the run\n"
    "       cronflow validate FILE.json\n";

/* Reads a whole file, at most cap bytes (one more is read to see that
 * it is too long). NULL with errno on failure; *len its size. */
static char *read_file(const char *path, size_t cap, size_t *len, bool *too_big) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  *too_big = false;
  if (!f)
    return NULL;
  char *buf = malloc(cap + 2);
  if (!buf) {
    if (f != stdin)
      fclose(f);
    errno = ENOMEM;
    return NULL;
  }
  size_t n = fread(buf, 1, cap + 1, f);
  int err = ferror(f) ? errno : 0;
  if (f != stdin)
    fclose(f);
  if (err) {
    free(buf);
    errno = err;
    return NULL;
  }
  if (n > cap)
    *too_big = true;
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Parses and validates; prints the problems. 0, or the exit status. */
static int load_flow(const char *path, char **text, flow **out) {
  size_t len;
  bool too_big;
  *text = read_file(path, MAX_DEFINITION, &len, &too_big);
  if (!*text) {
    fprintf(stderr, "cronflow: cannot read %s: %s\n", path, strerror(errno));
    return 2;
  }
  if (too_big) {
    fprintf(stderr, "cronflow: %s is larger than the 1 MiB a definition may have\n", path);
    return 2;
  }
  size_t nspecs;
  const flow_action_spec *specs = actions_specs(&nspecs);
  flow_problems *problems = calloc(1, sizeof *problems);
  if (!problems)
    return 1;
  cf_err rc = flow_parse(*text, len, NULL, specs, nspecs, out, problems);
  if (rc) {
    fprintf(stderr, "cronflow: %s is not a valid workflow (%d problem%s):\n", path, problems->count,
            problems->count == 1 ? "" : "s");
    for (int i = 0; i < problems->count; i++) {
      const flow_problem *p = &problems->items[i];
      if (p->path[0])
        fprintf(stderr, "  %s: %s\n", p->path, p->message);
      else
        fprintf(stderr, "  %s\n", p->message);
    }
    if (problems->truncated)
      fprintf(stderr, "  (and more)\n");
    free(problems);
    return rc == CF_E_NOMEM ? 1 : 2;
  }
  free(problems);
  return 0;
}

int cli_validate(int argc, char **argv) {
  if (argc != 1 || strcmp(argv[0], "--help") == 0) {
    fputs(run_usage, argc == 1 ? stdout : stderr);
    return argc == 1 ? 0 : 2;
  }
  char *text;
  flow *f = NULL;
  int rc = load_flow(argv[0], &text, &f);
  free(text);
  if (rc)
    return rc;
  printf("%s: valid — %d nodes, %d edges\n", argv[0], f->n_nodes, f->n_edges);
  flow_free(f);
  return 0;
}

static void print_step(void *ctx, const store_claim *claim, const store_step *step) {
  (void)claim;
  if (*(bool *)ctx || strcmp(step->status, "running") == 0)
    return;
  char iter[32] = "";
  if (step->iteration)
    snprintf(iter, sizeof iter, "[%lld]", (long long)step->iteration);
  fprintf(stderr, "%-9s %s%s (%lld ms%s%s)%s%s\n", step->status, step->node_id, iter,
          (long long)(step->finished_at - step->started_at), step->attempts > 1 ? ", " : "",
          step->attempts > 1 ? "retried" : "", step->error ? ": " : "",
          step->error ? step->error : "");
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void remove_dir(const char *dir) {
  const char *suffixes[] = {"/run.db", "/run.db-wal", "/run.db-shm"};
  char path[512];
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
    snprintf(path, sizeof path, "%s%s", dir, suffixes[i]);
    unlink(path);
  }
  rmdir(dir);
}

static bool finished(store_exec_status st) {
  return st == STORE_EXEC_SUCCEEDED || st == STORE_EXEC_FAILED || st == STORE_EXEC_CANCELLED ||
         st == STORE_EXEC_TIMED_OUT;
}

/* Runs execution `id` to its end; its final status in *status. */
static int drive(store *s, int64_t id, bool quiet, store_exec_status *status) {
  tz_db *zones = NULL;
  if (tz_db_open(NULL, &zones) != CF_OK)
    zones = NULL;
  engine_config ec = {
      .store = s, .tz = zones, .threads = 1, .on_step = print_step, .on_step_ctx = &quiet};
  engine *eng;
  if (engine_new(&ec, &eng) != CF_OK) {
    fprintf(stderr, "cronflow: cannot start the engine\n");
    tz_db_free(zones);
    return 1;
  }
  worker_config wc = {.store = s,
                      .concurrency = 64,
                      .poll_ms = 50,
                      .grace_ms = 5000,
                      .start = engine_start,
                      .run_ctx = eng};
  worker_pool *pool;
  if (worker_pool_start(&wc, &pool) != CF_OK) {
    fprintf(stderr, "cronflow: cannot start the worker\n");
    engine_free(eng);
    tz_db_free(zones);
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int rc = 0;
  for (;;) {
    store_exec e;
    cf_err err = store_exec_get(s, id, &e);
    if (err) {
      fprintf(stderr, "cronflow: cannot read the execution: %s\n", cf_strerror(err));
      rc = 1;
      break;
    }
    *status = e.status;
    store_exec_clear(&e);
    if (finished(*status))
      break;
    if (interrupted) {
      fprintf(stderr, "cronflow: interrupted\n");
      rc = 1;
      break;
    }
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  worker_pool_stop(pool);
  engine_free(eng);
  tz_db_free(zones);
  return rc;
}

int cli_run(int argc, char **argv) {
  const char *file = NULL, *input_text = NULL, *db_path = NULL, *creds_file = NULL,
             *key_file = NULL;
  bool quiet = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      fputs(run_usage, stdout);
      return 0;
    } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
      input_text = argv[++i];
    } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
      db_path = argv[++i];
    } else if (strcmp(argv[i], "--credentials") == 0 && i + 1 < argc) {
      creds_file = argv[++i];
    } else if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
      key_file = argv[++i];
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = true;
    } else if (argv[i][0] != '-' && !file) {
      file = argv[i];
    } else {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", argv[i], run_usage);
      return 2;
    }
  }
  if (!file) {
    fputs(run_usage, stderr);
    return 2;
  }
  json_t *input = NULL;
  if (input_text) {
    json_error_t jerr;
    if (strlen(input_text) > MAX_INPUT_BYTES) {
      fprintf(stderr, "cronflow: --input is larger than 1 MiB\n");
      return 2;
    }
    input = json_loads(input_text, JSON_DECODE_ANY, &jerr);
    if (!input) {
      fprintf(stderr, "cronflow: --input is not JSON: column %d: %s\n", jerr.column, jerr.text);
      return 2;
    }
  }
  char *text;
  flow *f = NULL;
  int rc = load_flow(file, &text, &f);
  if (rc) {
    free(text);
    json_decref(input);
    return rc;
  }
  char dir[256] = "";
  char path[512];
  bool temporary = !db_path;
  if (!db_path) {
    if (cli_make_temp_dir("cronflow-run", dir, sizeof dir) != 0) {
      fprintf(stderr, "cronflow: cannot create a temporary directory: %s\n", strerror(errno));
      free(text);
      flow_free(f);
      json_decref(input);
      return 1;
    }
    snprintf(path, sizeof path, "%s/run.db", dir);
    db_path = path;
  }
  store *s = NULL;
  rc = cli_open_store(db_path, true, &s);
  if (!rc && temporary && !getenv("CRONFLOW_MASTER_KEY") && !key_file) {
    /* A temporary store dies with the run: a key of its own, kept nowhere. */
    unsigned char key[STORE_KEY_BYTES];
    store_master_key_random(key);
    store_set_master_key(s, key);
    memset(key, 0, sizeof key);
  } else if (!rc) {
    rc = cli_master_key(s, db_path, key_file);
  }
  if (!rc && creds_file)
    rc = cli_load_credentials(s, creds_file);
  int64_t wf = 0, id = 0;
  cf_err err = CF_OK;
  if (!rc)
    err = store_workflow_create(s, 0, f->name, f->description, text, worker_now_ms(), &wf);
  if (!input)
    input = json_object();
  json_t *trigger = input ? json_pack("{s:s, s:O}", "kind", "manual", "input", input) : NULL;
  char *trigger_text = trigger ? json_dumps(trigger, JSON_COMPACT) : NULL;
  if (!rc && !err) {
    store_exec_new e = {.workflow_id = wf,
                        .workflow_version = 1,
                        .trigger_kind = "manual",
                        .trigger_data = trigger_text,
                        .max_attempts = 1,
                        .timeout_ms = f->timeout_ms};
    err = store_exec_enqueue(s, &e, worker_now_ms(), &id);
  }
  free(trigger_text);
  json_decref(trigger);
  json_decref(input);
  free(text);
  flow_free(f);
  if (!rc && err) {
    fprintf(stderr, "cronflow: cannot queue the execution: %s\n", cf_strerror(err));
    rc = 1;
  }
  store_exec_status status = STORE_EXEC_FAILED;
  if (!rc)
    rc = drive(s, id, quiet, &status);
  if (!rc) {
    json_t *doc;
    err = api_execution_json(s, id, true, &doc);
    if (err) {
      fprintf(stderr, "cronflow: cannot read the execution: %s\n", cf_strerror(err));
      rc = 1;
    } else {
      json_dumpf(doc, stdout, JSON_INDENT(2));
      fputc('\n', stdout);
      json_decref(doc);
      rc = status == STORE_EXEC_SUCCEEDED ? 0 : 1;
    }
  }
  store_close(s);
  if (dir[0])
    remove_dir(dir);
  return rc;
}
