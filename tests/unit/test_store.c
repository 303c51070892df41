/*
 * test_store.c — the SQLite store on a real file: migrations (once, and
 * refusing a newer schema), executions as a queue (priority and due order,
 * unique fires, leases, fencing, resumes, retries with their backoff
 * recorded, release, steps, pruning), group commit under concurrent
 * writers, wake-ups, and the failures a disk or another process can cause
 * (a read-only file, a locked database), each a clear error with nothing
 * acknowledged lost; users changed with their sessions in one transaction.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/embed.h"
#include "store/store.h"

static char dir[64];
static char path[128];
static store *st;

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cronflow-store-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/test.db", dir);
  store_config cfg = {.url = path, .busy_timeout_ms = 200};
  char err[256];
  if (store_open(&cfg, &st, err, sizeof err) != CF_OK) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  int applied, version;
  if (store_migrate(st, &applied, &version, err, sizeof err) != CF_OK) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  return applied >= 1 && version >= 1 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  store_close(st);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static store_exec_new job(int64_t workflow, int32_t priority, int64_t run_at) {
  store_exec_new e = {.workflow_id = workflow,
                      .workflow_version = 1,
                      .trigger_kind = "manual",
                      .priority = priority,
                      .run_at = run_at};
  return e;
}

/* Claims everything claimable at `now` and finishes it, to start clean. */
static void drain(int64_t now) {
  store_claim *c;
  size_t n;
  do {
    assert_int_equal(store_exec_claim(st, "drain", now, 1000, 100, &c, &n), CF_OK);
    for (size_t i = 0; i < n; i++)
      assert_int_equal(
          store_exec_finish(st, c[i].id, c[i].lease_token, STORE_EXEC_CANCELLED, NULL, NULL, now),
          CF_OK);
    store_claims_free(c, n);
  } while (n > 0);
}

static void test_migrations(void **state) {
  (void)state;
  int applied = -1, version = 0, current, latest;
  assert_int_equal(store_migrate(st, &applied, &version, NULL, 0), CF_OK);
  assert_int_equal(applied, 0); /* each migration once */
  assert_int_equal(store_schema_version(st, &current, &latest), CF_OK);
  assert_int_equal(current, latest);
  assert_int_equal(version, latest);
  assert_int_equal(store_ping(st), CF_OK);
  assert_string_equal(store_backend_name(st), "sqlite");
}

/* A migration's version is its place in the list: the file names must say
 * the same, or two branches' migrations would be applied out of order. */
static void test_migration_names(void **state) {
  (void)state;
  assert_true(sqlite_migrations_count >= 1);
  for (size_t i = 0; i < sqlite_migrations_count; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%04zu_", i + 1);
    const char *base = strrchr(sqlite_migrations[i].name, '/');
    base = base ? base + 1 : sqlite_migrations[i].name;
    if (strncmp(base, prefix, 5) != 0)
      fail_msg("migration %zu is named %s; expected %s...", i + 1, sqlite_migrations[i].name,
               prefix);
  }
}

static void test_newer_schema_refused(void **state) {
  (void)state;
  char p2[160], err[300];
  snprintf(p2, sizeof p2, "%s/newer.db", dir);
  store *s2;
  store_config cfg = {.url = p2};
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_OK);
  assert_int_equal(store_migrate(s2, NULL, NULL, err, sizeof err), CF_OK);
  store_close(s2);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_E_STORE_TOO_NEW);
  assert_non_null(strstr(err, "newer cronflow"));
  assert_non_null(strstr(err, "999"));
}

/* Runs `sql` on a raw connection, failing the test on error. */
static void raw_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("%s: %s", sql, msg ? msg : "error");
}

static int64_t raw_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return v;
}

/* A database written by schema version 5, with executions (the newest one
 * pruned), their steps, attempts and logs, a re-run and a schedule's
 * ticks, upgraded by version 6 (which rebuilds those tables): every row is
 * kept, no id is handed out twice, foreign keys still hold, and the rebuilt
 * tables work for the queue, the attempt history and pruning. */
static void test_upgrade_keeps_rows(void **state) {
  (void)state;
  char p2[160], err[300];
  snprintf(p2, sizeof p2, "%s/v5.db", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
  raw_exec(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
               "applied_at INTEGER NOT NULL)");
  assert_true(sqlite_migrations_count >= 6);
  for (size_t i = 0; i < 5; i++) {
    raw_exec(db, (const char *)sqlite_migrations[i].data);
    char rec[200];
    snprintf(rec, sizeof rec, "INSERT INTO schema_migrations VALUES (%zu, 'v', 0)", i + 1);
    raw_exec(db, rec);
  }
  raw_exec(db, "PRAGMA foreign_keys=ON");
  raw_exec(
      db, "INSERT INTO workflows (id, org_id, name, created_at, updated_at) VALUES (1, 1, 'w', 0, "
          "0);"
          "INSERT INTO schedules (id, org_id, workflow_id, cron, created_at, updated_at, "
          "overlap_policy) VALUES (1, 1, 1, '* * * * *', 0, 0, 'queue_one');"
          "INSERT INTO executions (id, org_id, workflow_id, workflow_version, trigger_kind, "
          "status, run_at, attempt, max_attempts, lease_owner, attempt_started_at, created_at, "
          "started_at, finished_at, updated_at, error, schedule_id, scheduled_at) VALUES "
          "(1, 1, 1, 1, 'schedule', 'failed', 10, 2, 2, NULL, 20, 5, 10, 30, 30, 'boom', 1, 60000),"
          "(2, 1, 1, 1, 'manual', 'succeeded', 10, 1, 1, NULL, 20, 5, 10, 30, 30, NULL, NULL, "
          "NULL),"
          "(3, 1, 1, 1, 'rerun', 'succeeded', 10, 1, 1, NULL, 20, 5, 10, 30, 30, NULL, NULL, "
          "NULL);"
          "UPDATE executions SET rerun_of = 1 WHERE id = 2;"
          "DELETE FROM executions WHERE id = 3;"
          "INSERT INTO execution_attempts VALUES (1, 1, 'old-a', 10, 15, 'failed', 'x', 5),"
          "(1, 2, 'old-b', 20, 30, 'failed', 'boom', NULL), (2, 1, 'old-c', 20, 30, "
          "'succeeded', NULL, NULL);"
          "INSERT INTO execution_steps (execution_id, node_id, iteration, status, output, "
          "started_at, finished_at, seq) VALUES (1, 'a', 0, 'succeeded', '{\"n\":1}', 11, 12, 7);"
          "INSERT INTO execution_logs (id, execution_id, node_id, level, message, at) VALUES "
          "(40, 1, 'a', 'warn', 'slow', 12);"
          "INSERT INTO ticks (id, schedule_id, scheduled_at, outcome, execution_id, detail, "
          "recorded_at) VALUES (50, 1, 60000, 'fired', 1, '', 60001);");
  assert_int_equal(raw_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'executions'"), 3);
  sqlite3_close(db);

  store *s2;
  store_config cfg = {.url = p2};
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_OK);
  int applied = 0, version = 0;
  if (store_migrate(s2, &applied, &version, err, sizeof err) != CF_OK)
    fail_msg("%s", err);
  assert_int_equal(applied, (int)sqlite_migrations_count - 5);
  assert_int_equal(version, (int)sqlite_migrations_count);

  /* The rows are all there, with their ids. */
  store_exec x;
  assert_int_equal(store_exec_get(s2, 1, &x), CF_OK);
  assert_int_equal(x.status, STORE_EXEC_FAILED);
  assert_int_equal(x.attempt, 2);
  assert_string_equal(x.error, "boom");
  assert_int_equal(x.schedule_id, 1);
  store_exec_clear(&x);
  assert_int_equal(store_exec_get(s2, 3, &x), CF_E_NOT_FOUND);
  store_step *steps;
  size_t ns;
  assert_int_equal(store_step_list(s2, 1, &steps, &ns), CF_OK);
  assert_int_equal(ns, 1);
  assert_string_equal(steps[0].output, "{\"n\":1}");
  store_steps_free(steps, ns);
  /* Attempts recorded before the upgrade read as they were. */
  store_attempt *at;
  size_t nat;
  assert_int_equal(store_attempt_list(s2, 1, &at, &nat), CF_OK);
  assert_int_equal(nat, 2);
  assert_string_equal(at[0].lease_owner, "old-a");
  assert_int_equal(at[0].backoff_ms, 5);
  assert_string_equal(at[1].lease_owner, "old-b");
  assert_string_equal(at[1].status, "failed");
  store_attempts_free(at, nat);
  assert_int_equal(store_attempt_list(s2, 2, &at, &nat), CF_OK);
  assert_int_equal(nat, 1);
  assert_string_equal(at[0].lease_owner, "old-c");
  assert_string_equal(at[0].status, "succeeded");
  store_attempts_free(at, nat);

  /* Id 3 was handed out before: the next execution gets 4. */
  int64_t id;
  store_exec_new e = job(1, 0, 100);
  assert_int_equal(store_exec_enqueue(s2, &e, 100, &id), CF_OK);
  assert_int_equal(id, 4);
  store_claim *c;
  size_t n;
  assert_int_equal(store_exec_claim(s2, "new", 100, 1000, 5, &c, &n), CF_OK);
  assert_int_equal(n, 1);
  assert_int_equal(
      store_exec_finish(s2, id, c[0].lease_token, STORE_EXEC_SUCCEEDED, NULL, NULL, 200), CF_OK);
  store_claims_free(c, n);
  assert_int_equal(store_attempt_list(s2, id, &at, &nat), CF_OK);
  assert_int_equal(nat, 1);
  assert_string_equal(at[0].lease_owner, "new");
  assert_int_equal(at[0].started_at, 100);
  assert_int_equal(at[0].finished_at, 200);
  store_attempts_free(at, nat);

  /* Pruning the re-run's origin and the tick's execution keeps both ids. */
  int64_t deleted = 0;
  assert_int_equal(store_exec_prune(s2, 31, 10, &deleted), CF_OK);
  assert_int_equal(deleted, 2);
  store_close(s2);
  assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
  assert_int_equal(raw_int(db, "SELECT count(*) FROM execution_steps"), 0);
  assert_int_equal(raw_int(db, "SELECT count(*) FROM execution_logs"), 0);
  assert_int_equal(raw_int(db, "SELECT execution_id FROM ticks WHERE id = 50"), 1);
  assert_int_equal(raw_int(db, "SELECT count(*) FROM executions"), 1);
  /* Foreign keys are on again and hold. */
  raw_exec(db, "PRAGMA foreign_keys=ON");
  assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%IN (''%' "
                               "AND tbl_name IN ('executions', 'execution_steps', "
                               "'execution_logs', 'ticks')"),
                   0);
  sqlite3_close(db);
}

typedef struct migrate_arg {
  const char *path;
  cf_err rc;
} migrate_arg;

static void *migrate_thread(void *p) {
  migrate_arg *m = p;
  store *s;
  store_config cfg = {.url = m->path, .busy_timeout_ms = 10000};
  m->rc = store_open(&cfg, &s, NULL, 0);
  if (m->rc == CF_OK) {
    m->rc = store_migrate(s, NULL, NULL, NULL, 0);
    store_close(s);
  }
  return NULL;
}

/* Regression: two processes migrating a new file at once both applied the
 * first migration, and one failed. */
static void test_concurrent_migrations(void **state) {
  (void)state;
  for (int round = 0; round < 5; round++) {
    char p2[160];
    snprintf(p2, sizeof p2, "%s/race%d.db", dir, round);
    pthread_t th[6];
    migrate_arg args[6];
    for (int i = 0; i < 6; i++) {
      args[i] = (migrate_arg){p2, CF_E_INVALID};
      assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
      pthread_join(th[i], NULL);
      if (args[i].rc != CF_OK)
        fail_msg("round %d, migrator %d: %s", round, i, cf_strerror(args[i].rc));
    }
  }
}

static void test_bad_urls(void **state) {
  (void)state;
  store *s2;
  char err[300];
  store_config cfg = {.url = "mysql://localhost/db"};
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_E_INVALID);
  assert_non_null(strstr(err, "unsupported"));
  cfg.url = "/nonexistent-dir/sub/x.db";
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_E_STORE_CANTOPEN);
  assert_non_null(strstr(err, "/nonexistent-dir/sub/x.db"));
  /* A file that is not a database. */
  char p2[160];
  snprintf(p2, sizeof p2, "%s/garbage.db", dir);
  FILE *f = fopen(p2, "w");
  fputs("this is not a database, just some text that is long enough to be a header......", f);
  fclose(f);
  cfg.url = p2;
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_E_STORE_CORRUPT);
}

static void test_claim_order(void **state) {
  (void)state;
  int64_t now = 1000000;
  drain(now);
  int64_t low, high, later, future;
  store_exec_new e = job(7, 0, now - 50);
  assert_int_equal(store_exec_enqueue(st, &e, now, &low), CF_OK);
  e = job(7, 5, now - 10);
  assert_int_equal(store_exec_enqueue(st, &e, now, &high), CF_OK);
  e = job(7, 0, now - 5);
  assert_int_equal(store_exec_enqueue(st, &e, now, &later), CF_OK);
  e = job(7, 9, now + 60000);
  assert_int_equal(store_exec_enqueue(st, &e, now, &future), CF_OK);
  int64_t due;
  assert_int_equal(store_exec_next_due(st, &due), CF_OK);
  assert_int_equal(due, now - 50);
  store_claim *c;
  size_t n;
  assert_int_equal(store_exec_claim(st, "w1", now, 10000, 10, &c, &n), CF_OK);
  /* Priority first, then the oldest; not the future one. */
  assert_int_equal(n, 3);
  assert_int_equal(c[0].id, high);
  assert_int_equal(c[1].id, low);
  assert_int_equal(c[2].id, later);
  assert_int_equal(c[0].attempt, 1);
  assert_string_equal(c[0].trigger_kind, "manual");
  assert_string_equal(c[0].trigger_data, "{}");
  for (size_t i = 0; i < n; i++)
    assert_int_equal(store_exec_finish(st, c[i].id, c[i].lease_token, STORE_EXEC_SUCCEEDED, NULL,
                                       "{\"ok\":true}", now + 1),
                     CF_OK);
  store_claims_free(c, n);
  assert_int_equal(store_exec_claim(st, "w1", now + 60000, 10000, 10, &c, &n), CF_OK);
  assert_int_equal(n, 1);
  assert_int_equal(c[0].id, future);
  assert_int_equal(store_exec_finish(st, c[0].id, c[0].lease_token, STORE_EXEC_SUCCEEDED, NULL,
                                     NULL, now + 60001),
                   CF_OK);
  store_claims_free(c, n);
  store_exec x;
  assert_int_equal(store_exec_get(st, high, &x), CF_OK);
  assert_int_equal(x.status, STORE_EXEC_SUCCEEDED);
  assert_string_equal(x.result, "{\"ok\":true}");
  assert_int_equal(x.finished_at, now + 1);
  assert_int_equal(x.started_at, now);
  store_exec_clear(&x);
  assert_int_equal(store_exec_get(st, 987654321, &x), CF_E_NOT_FOUND);
}

/* A batch enqueue (written several rows to a statement) gives each item
 * the id of its own row, and one bad item fails the whole batch. */
static void test_enqueue_batch_ids(void **state) {
  (void)state;
  int64_t now = 1500000;
  drain(now);
  enum { N = 37 };
  store_exec_new items[N];
  char data[N][32];
  int64_t ids[N];
  for (int i = 0; i < N; i++) {
    items[i] = job(100 + i, i % 3, now);
    snprintf(data[i], sizeof data[i], "{\"i\":%d}", i);
    items[i].trigger_data = data[i];
  }
  assert_int_equal(store_exec_enqueue_batch(st, items, N, now, ids), CF_OK);
  for (int i = 0; i < N; i++) {
    store_exec x;
    assert_int_equal(store_exec_get(st, ids[i], &x), CF_OK);
    assert_int_equal(x.workflow_id, 100 + i);
    assert_string_equal(x.trigger_data, data[i]);
    if (i > 0)
      assert_true(ids[i] > ids[i - 1]);
    store_exec_clear(&x);
  }
  int64_t pending_before, pending_after;
  assert_int_equal(store_exec_pending(st, &pending_before), CF_OK);
  items[20].trigger_data = "{not json";
  assert_int_equal(store_exec_enqueue_batch(st, items, N, now, ids), CF_E_INVALID);
  assert_int_equal(store_exec_pending(st, &pending_after), CF_OK);
  assert_int_equal(pending_after, pending_before);
  drain(now);
}

static void test_unique_fires_and_bad_input(void **state) {
  (void)state;
  int64_t now = 2000000, id, id2;
  store_exec_new e = job(8, 0, 0);
  e.schedule_id = 42;
  e.scheduled_at = 1700000000000;
  e.trigger_kind = "schedule";
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_OK);
  assert_int_equal(store_exec_enqueue(st, &e, now, &id2), CF_E_CONFLICT);
  e.scheduled_at += 1000;
  assert_int_equal(store_exec_enqueue(st, &e, now, &id2), CF_OK);
  store_exec_new bad = job(8, 0, 0);
  bad.trigger_data = "{not json";
  assert_int_equal(store_exec_enqueue(st, &bad, now, &id2), CF_E_INVALID);
  bad = job(8, 0, 0);
  bad.trigger_kind = "carrier-pigeon";
  assert_int_equal(store_exec_enqueue(st, &bad, now, &id2), CF_E_INVALID);
  drain(now);
}

static void test_leases_and_fencing(void **state) {
  (void)state;
  int64_t now = 3000000, id;
  drain(now);
  store_exec_new e = job(9, 0, now);
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_OK);
  store_claim *a, *b;
  size_t na, nb;
  assert_int_equal(store_exec_claim(st, "worker-a", now, 10000, 5, &a, &na), CF_OK);
  assert_int_equal(na, 1);
  int64_t token_a = a[0].lease_token;
  store_step step = {.node_id = "fetch",
                     .status = "succeeded",
                     .output = "{\"n\":1}",
                     .started_at = now,
                     .finished_at = now + 5};
  assert_int_equal(store_step_save(st, id, token_a, &step), CF_OK);
  /* Renewed within the lease: nobody else can claim it. */
  assert_int_equal(store_exec_renew(st, id, token_a, now + 5000, 10000), CF_OK);
  assert_int_equal(store_exec_claim(st, "worker-b", now + 12000, 10000, 5, &b, &nb), CF_OK);
  assert_int_equal(nb, 0);
  store_claims_free(b, nb);
  /* worker-a goes silent: the lease expires and worker-b resumes it. */
  assert_int_equal(store_exec_claim(st, "worker-b", now + 15000, 10000, 5, &b, &nb), CF_OK);
  assert_int_equal(nb, 1);
  assert_int_equal(b[0].id, id);
  assert_true(b[0].lease_token > token_a);
  assert_int_equal(b[0].attempt, 1); /* a crash is not a failed attempt */
  assert_int_equal(b[0].resumes, 1);
  /* The late owner is fenced out of every write. */
  assert_int_equal(store_exec_renew(st, id, token_a, now + 15001, 10000), CF_E_LEASE_LOST);
  assert_int_equal(store_step_save(st, id, token_a, &step), CF_E_LEASE_LOST);
  assert_int_equal(store_exec_finish(st, id, token_a, STORE_EXEC_FAILED, "late", NULL, now + 15002),
                   CF_E_LEASE_LOST);
  assert_int_equal(store_exec_retry(st, id, token_a, "late", now + 20000, now + 15002),
                   CF_E_LEASE_LOST);
  assert_int_equal(store_exec_release(st, id, token_a, now + 15002), CF_E_LEASE_LOST);
  /* The checkpoint written before the crash is there for the new owner. */
  store_step *steps;
  size_t ns;
  assert_int_equal(store_step_list(st, id, &steps, &ns), CF_OK);
  assert_int_equal(ns, 1);
  assert_string_equal(steps[0].node_id, "fetch");
  assert_string_equal(steps[0].status, "succeeded");
  assert_string_equal(steps[0].output, "{\"n\":1}");
  store_steps_free(steps, ns);
  assert_int_equal(
      store_exec_finish(st, id, b[0].lease_token, STORE_EXEC_SUCCEEDED, NULL, NULL, now + 16000),
      CF_OK);
  /* Finished is final: no second finish. */
  assert_int_equal(
      store_exec_finish(st, id, b[0].lease_token, STORE_EXEC_FAILED, NULL, NULL, now + 16001),
      CF_E_LEASE_LOST);
  store_claims_free(a, na);
  store_claims_free(b, nb);
  store_attempt *at;
  size_t nat;
  assert_int_equal(store_attempt_list(st, id, &at, &nat), CF_OK);
  assert_int_equal(nat, 1);
  assert_string_equal(at[0].lease_owner, "worker-b");
  assert_string_equal(at[0].status, "succeeded");
  store_attempts_free(at, nat);
}

static void test_retries_record_backoff(void **state) {
  (void)state;
  int64_t now = 4000000, id;
  drain(now);
  store_exec_new e = job(10, 0, now);
  e.max_attempts = 3;
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_OK);
  int64_t t = now;
  int64_t delays[] = {500, 1000};
  for (int i = 0; i < 3; i++) {
    store_claim *c;
    size_t n;
    assert_int_equal(store_exec_claim(st, "w", t, 10000, 5, &c, &n), CF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].attempt, i + 1);
    assert_int_equal(c[0].max_attempts, 3);
    if (i < 2) {
      assert_int_equal(
          store_exec_retry(st, id, c[0].lease_token, "boom", t + 10 + delays[i], t + 10), CF_OK);
      store_claim *early;
      size_t ne;
      /* Not before its backoff has passed. */
      assert_int_equal(store_exec_claim(st, "w", t + 10 + delays[i] - 1, 10000, 5, &early, &ne),
                       CF_OK);
      assert_int_equal(ne, 0);
      store_claims_free(early, ne);
      t += 10 + delays[i];
    } else {
      assert_int_equal(
          store_exec_finish(st, id, c[0].lease_token, STORE_EXEC_SUCCEEDED, NULL, NULL, t + 10),
          CF_OK);
    }
    store_claims_free(c, n);
  }
  store_attempt *at;
  size_t n;
  assert_int_equal(store_attempt_list(st, id, &at, &n), CF_OK);
  assert_int_equal(n, 3);
  assert_string_equal(at[0].status, "failed");
  assert_string_equal(at[0].error, "boom");
  assert_int_equal(at[0].backoff_ms, 500);
  assert_int_equal(at[1].backoff_ms, 1000);
  assert_string_equal(at[2].status, "succeeded");
  store_attempts_free(at, n);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  assert_int_equal(x.attempt, 3);
  assert_int_equal(x.status, STORE_EXEC_SUCCEEDED);
  store_exec_clear(&x);
}

static void test_release_and_prune(void **state) {
  (void)state;
  int64_t now = 5000000, id;
  drain(now);
  store_exec_new e = job(11, 0, now);
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_OK);
  store_claim *c;
  size_t n;
  assert_int_equal(store_exec_claim(st, "w", now, 10000, 5, &c, &n), CF_OK);
  assert_int_equal(store_exec_release(st, id, c[0].lease_token, now + 1), CF_OK);
  store_claims_free(c, n);
  assert_int_equal(store_exec_claim(st, "w2", now + 2, 10000, 5, &c, &n), CF_OK);
  assert_int_equal(n, 1);
  assert_int_equal(c[0].attempt, 1); /* a release is not an attempt */
  store_step step = {.node_id = "a", .status = "succeeded", .started_at = now};
  assert_int_equal(store_step_save(st, id, c[0].lease_token, &step), CF_OK);
  assert_int_equal(
      store_exec_finish(st, id, c[0].lease_token, STORE_EXEC_SUCCEEDED, NULL, NULL, now + 3),
      CF_OK);
  store_claims_free(c, n);
  int64_t deleted;
  assert_int_equal(store_exec_prune(st, now + 3, 100, &deleted), CF_OK);
  store_exec x;
  assert_int_equal(store_exec_get(st, id, &x), CF_OK);
  store_exec_clear(&x);
  assert_int_equal(store_exec_prune(st, now + 4, 100000, &deleted), CF_OK);
  assert_true(deleted >= 1);
  assert_int_equal(store_exec_get(st, id, &x), CF_E_NOT_FOUND);
  store_step *steps;
  assert_int_equal(store_step_list(st, id, &steps, &n), CF_OK);
  assert_int_equal(n, 0); /* steps went with it */
  store_steps_free(steps, n);
}

typedef struct writer_arg {
  int64_t ids[500];
  int failures;
} writer_arg;

static void *writer(void *p) {
  writer_arg *w = p;
  for (int i = 0; i < 500; i++) {
    store_exec_new e = job(12, 0, 6000000);
    if (store_exec_enqueue(st, &e, 6000000, &w->ids[i]) != CF_OK)
      w->failures++;
  }
  return NULL;
}

static int compare_ids(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Under steady writes the WAL is checkpointed in the background and
 * starts again from the top once it holds wal_restart_frames: its file
 * stays bounded (it grew without end when another connection's checkpoint
 * was all there was, and before that, when that connection had not yet
 * read the file and its checkpoints did nothing). */
static void test_wal_stays_bounded(void **state) {
  (void)state;
  char p2[160], wal[170], err[300];
  snprintf(p2, sizeof p2, "%s/wal.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", p2);
  store *s2;
  store_config cfg = {.url = p2, .checkpoint_frames = 16, .wal_restart_frames = 128};
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_OK);
  assert_int_equal(store_migrate(s2, NULL, NULL, err, sizeof err), CF_OK);
  char data[2100];
  memset(data, 0, sizeof data);
  strcpy(data, "{\"pad\":\"");
  memset(data + 8, 'x', 2000);
  strcpy(data + 2008, "\"}");
  enum { N = 1500 };
  off_t largest = 0;
  int64_t first = 0, id = 0;
  for (int i = 0; i < N; i++) {
    store_exec_new e = job(1, 0, 1000);
    e.trigger_data = data;
    assert_int_equal(store_exec_enqueue(s2, &e, 1000, &id), CF_OK);
    if (i == 0)
      first = id;
    struct stat sb;
    if (stat(wal, &sb) == 0 && sb.st_size > largest)
      largest = sb.st_size;
  }
  /* Each enqueue is its own commit of several pages: 1,500 of them make
   * a WAL of more than 12 MB when it never starts again. */
  if (largest > 3 * 1024 * 1024)
    fail_msg("the WAL grew to %lld bytes", (long long)largest);
  int64_t pending;
  assert_int_equal(store_exec_pending(s2, &pending), CF_OK);
  assert_int_equal(pending, N);
  store_exec x;
  assert_int_equal(store_exec_get(s2, first, &x), CF_OK);
  assert_string_equal(x.trigger_data, data);
  store_exec_clear(&x);
  store_close(s2);
}

static void test_concurrent_writers(void **state) {
  (void)state;
  drain(6000000);
  int64_t before[6];
  assert_int_equal(store_exec_counts(st, before), CF_OK);
  pthread_t th[8];
  static writer_arg args[8];
  memset(args, 0, sizeof args);
  for (int i = 0; i < 8; i++)
    assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
  for (int i = 0; i < 8; i++)
    pthread_join(th[i], NULL);
  static int64_t all[4000];
  for (int i = 0; i < 8; i++) {
    assert_int_equal(args[i].failures, 0);
    memcpy(all + i * 500, args[i].ids, sizeof args[i].ids);
  }
  qsort(all, 4000, sizeof *all, compare_ids);
  for (int i = 1; i < 4000; i++)
    assert_true(all[i] > all[i - 1]);
  int64_t after[6];
  assert_int_equal(store_exec_counts(st, after), CF_OK);
  assert_int_equal(after[STORE_EXEC_QUEUED] - before[STORE_EXEC_QUEUED], 4000);
  drain(6000000);
}

static void *late_enqueue(void *p) {
  (void)p;
  struct timespec ts = {0, 50 * 1000000L};
  nanosleep(&ts, NULL);
  store_exec_new e = job(13, 0, 7000000);
  int64_t id;
  if (store_exec_enqueue(st, &e, 7000000, &id) != CF_OK)
    abort();
  return NULL;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_wakeups(void **state) {
  (void)state;
  drain(7000000);
  uint64_t seen = store_work_seq(st);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, late_enqueue, NULL), 0);
  double t0 = seconds_now();
  store_wait_work(st, seen, 10000);
  double waited = seconds_now() - t0;
  pthread_join(th, NULL);
  /* Woken by the enqueue, long before the 10 s timeout. */
  assert_true(waited < 5.0);
  assert_true(store_work_seq(st) > seen);
  /* With nothing new, it times out. */
  seen = store_work_seq(st);
  t0 = seconds_now();
  store_wait_work(st, seen, 100);
  assert_true(seconds_now() - t0 >= 0.09);
  drain(7000000);
}

static void test_locked_database(void **state) {
  (void)state;
  int64_t now = 8000000, id;
  drain(now);
  int64_t before[6];
  assert_int_equal(store_exec_counts(st, before), CF_OK);
  /* Another process's connection holds the write lock. */
  sqlite3 *other;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  store_exec_new e = job(14, 0, now);
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_E_STORE_BUSY);
  assert_string_equal(cf_strerror(CF_E_STORE_BUSY), "the database is locked by another process");
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  /* The store carries on; the refused write was not half-kept. */
  assert_int_equal(store_exec_enqueue(st, &e, now, &id), CF_OK);
  int64_t after[6];
  assert_int_equal(store_exec_counts(st, after), CF_OK);
  assert_int_equal(after[STORE_EXEC_QUEUED], before[STORE_EXEC_QUEUED] + 1);
  drain(now);
}

static void test_read_only_file(void **state) {
  (void)state;
  char p2[160];
  snprintf(p2, sizeof p2, "%s/ro.db", dir);
  store *s2;
  store_config cfg = {.url = p2};
  char err[300];
  assert_int_equal(store_open(&cfg, &s2, err, sizeof err), CF_OK);
  assert_int_equal(store_migrate(s2, NULL, NULL, err, sizeof err), CF_OK);
  store_close(s2);
  assert_int_equal(chmod(p2, 0444), 0);
  assert_int_equal(chmod(dir, 0755), 0);
  /* Root ignores file modes: check as an unprivileged user. */
  pid_t pid = fork();
  if (pid == 0) {
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(3);
    cf_err rc = store_open(&cfg, &s2, err, sizeof err);
    if (rc == CF_OK) {
      store_close(s2);
      _exit(4);
    }
    _exit(rc == CF_E_STORE_READONLY && strstr(err, "read-only") ? 0 : 5);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Versions are immutable and numbered; deleted workflows keep their
 * versions for history; logs come back in order, long ones cut. */
static void test_workflows_and_logs(void **state) {
  (void)state;
  int64_t id;
  assert_int_equal(store_workflow_create(st, 0, "wf", "first", "{\"v\": 1}", 1000, &id), CF_OK);
  assert_int_equal(store_workflow_create(st, 0, "bad", "", "{not json", 1000, &id), CF_E_INVALID);
  assert_int_equal(store_workflow_create(st, 0, "wf", "first", "{\"v\": 1}", 1000, &id), CF_OK);
  int32_t v;
  assert_int_equal(store_workflow_update(st, 0, id, "wf2", "second", "{\"v\": 2}", 2000, &v),
                   CF_OK);
  assert_int_equal(v, 2);
  store_workflow w;
  assert_int_equal(store_workflow_get(st, 0, id, &w), CF_OK);
  assert_string_equal(w.name, "wf2");
  assert_string_equal(w.description, "second");
  assert_int_equal(w.current_version, 2);
  assert_int_equal(w.created_at, 1000);
  assert_int_equal(w.updated_at, 2000);
  store_workflow_clear(&w);
  char *def;
  int32_t got;
  assert_int_equal(store_workflow_version_get(st, id, 1, &def, &got), CF_OK);
  assert_string_equal(def, "{\"v\": 1}");
  assert_int_equal(got, 1);
  free(def);
  assert_int_equal(store_workflow_version_get(st, id, 0, &def, &got), CF_OK);
  assert_string_equal(def, "{\"v\": 2}");
  assert_int_equal(got, 2);
  free(def);
  assert_int_equal(store_workflow_version_get(st, id, 3, &def, &got), CF_E_NOT_FOUND);
  assert_null(def);
  /* Another organization sees nothing of it. */
  assert_int_equal(store_workflow_get(st, 77, id, &w), CF_E_NOT_FOUND);
  assert_int_equal(store_workflow_update(st, 77, id, "x", "", "{}", 3000, &v), CF_E_NOT_FOUND);
  assert_int_equal(store_workflow_delete(st, 0, id, 3000), CF_OK);
  assert_int_equal(store_workflow_get(st, 0, id, &w), CF_E_NOT_FOUND);
  assert_int_equal(store_workflow_delete(st, 0, id, 3000), CF_E_NOT_FOUND);
  assert_int_equal(store_workflow_update(st, 0, id, "x", "", "{}", 3000, &v), CF_E_NOT_FOUND);
  assert_int_equal(store_workflow_version_get(st, id, 2, &def, &got), CF_OK);
  free(def);

  store_exec_new e = job(id, 0, 1000);
  int64_t exec;
  assert_int_equal(store_exec_enqueue(st, &e, 1000, &exec), CF_OK);
  size_t big = 70 * 1024;
  char *long_text = malloc(big + 1);
  assert_non_null(long_text);
  memset(long_text, 'a', big);
  long_text[big] = '\0';
  assert_int_equal(store_log_add_async(st, exec, "n1", "info", "one", 10, NULL, NULL), CF_OK);
  assert_int_equal(store_log_add_async(st, exec, NULL, "error", long_text, 11, NULL, NULL), CF_OK);
  assert_int_equal(store_log_add_async(st, exec, "n1", "loud", "x", 12, NULL, NULL), CF_E_INVALID);
  free(long_text);
  /* A synchronous write behind them: committed in order, so they are in. */
  assert_int_equal(store_exec_enqueue(st, &e, 1000, NULL), CF_OK);
  store_log *logs;
  size_t n;
  assert_int_equal(store_log_list(st, exec, &logs, &n), CF_OK);
  assert_int_equal(n, 2);
  assert_string_equal(logs[0].node_id, "n1");
  assert_string_equal(logs[0].level, "info");
  assert_string_equal(logs[0].message, "one");
  assert_int_equal(logs[0].at, 10);
  assert_null(logs[1].node_id);
  assert_int_equal(strlen(logs[1].message), 64 * 1024);
  store_logs_free(logs, n);
  drain(5000);
}

/* A session hash that differs per n. */
static void session_hash(int n, unsigned char hash[STORE_HASH_BYTES]) {
  memset(hash, 0, STORE_HASH_BYTES);
  hash[0] = (unsigned char)n;
  hash[1] = 0xa5;
}

static bool session_live(int n) {
  unsigned char hash[STORE_HASH_BYTES];
  session_hash(n, hash);
  store_session x;
  cf_err rc = store_session_lookup(st, hash, 5000, &x);
  store_session_clear(&x);
  return rc == CF_OK;
}

/* Users changed by an admin and their own password: each change with what
 * belongs to it in one transaction (sessions ended), the organization
 * never left without an enabled admin, another organization's user out of
 * reach. */
static void test_users_change(void **state) {
  (void)state;
  int64_t org, other, admin, ed, stranger;
  assert_int_equal(store_org_find(st, "users-org", true, 1000, &org, NULL), CF_OK);
  assert_int_equal(store_org_find(st, "users-other", true, 1000, &other, NULL), CF_OK);
  assert_int_equal(store_user_create(st, org, "root@users.example", "Root", "$h-root",
                                     STORE_ROLE_ADMIN, 1000, &admin),
                   CF_OK);
  assert_int_equal(
      store_user_create(st, org, "ed@users.example", "Ed", "$h-ed", STORE_ROLE_EDITOR, 1000, &ed),
      CF_OK);
  assert_int_equal(store_user_create(st, other, "x@users.example", "X", "$h-x", STORE_ROLE_ADMIN,
                                     1000, &stranger),
                   CF_OK);
  unsigned char hash[STORE_HASH_BYTES];
  for (int n = 1; n <= 3; n++) {
    session_hash(n, hash);
    assert_int_equal(store_session_create(st, hash, n == 3 ? admin : ed, "csrf", 1000, 99999),
                     CF_OK);
  }

  /* Name and role; the answer is the user as changed. */
  store_user u;
  store_user_change c = {.name = "Edward", .role = STORE_ROLE_ADMIN, .disabled = -1};
  assert_int_equal(store_user_update(st, org, ed, &c, 2000, &u), CF_OK);
  assert_string_equal(u.name, "Edward");
  assert_string_equal(u.email, "ed@users.example");
  assert_int_equal(u.role, STORE_ROLE_ADMIN);
  assert_false(u.disabled);
  store_user_clear(&u);
  assert_int_equal(store_user_get(st, org, ed, &u), CF_OK);
  assert_string_equal(u.name, "Edward");
  assert_int_equal(u.role, STORE_ROLE_ADMIN);
  store_user_clear(&u);

  /* Disabling ends every session of the user, and only theirs. */
  c = (store_user_change){.role = -1, .disabled = 1};
  assert_int_equal(store_user_update(st, org, ed, &c, 3000, &u), CF_OK);
  assert_true(u.disabled);
  store_user_clear(&u);
  assert_false(session_live(1));
  assert_false(session_live(2));
  assert_true(session_live(3));

  /* The last enabled admin can be neither demoted nor disabled; nothing
   * of the refused change is kept. */
  c = (store_user_change){.name = "Gone", .role = STORE_ROLE_VIEWER, .disabled = -1};
  assert_int_equal(store_user_update(st, org, admin, &c, 4000, &u), CF_E_CONFLICT);
  assert_null(u.email);
  c = (store_user_change){.name = "Gone", .role = -1, .disabled = 1};
  assert_int_equal(store_user_update(st, org, admin, &c, 4000, NULL), CF_E_CONFLICT);
  assert_int_equal(store_user_get(st, org, admin, &u), CF_OK);
  assert_string_equal(u.name, "Root");
  assert_int_equal(u.role, STORE_ROLE_ADMIN);
  assert_false(u.disabled);
  store_user_clear(&u);
  assert_true(session_live(3));
  /* Once another admin is enabled again, the first may step down. */
  c = (store_user_change){.role = -1, .disabled = 0};
  assert_int_equal(store_user_update(st, org, ed, &c, 5000, NULL), CF_OK);
  c = (store_user_change){.role = STORE_ROLE_EDITOR, .disabled = -1};
  assert_int_equal(store_user_update(st, org, admin, &c, 5000, &u), CF_OK);
  assert_int_equal(u.role, STORE_ROLE_EDITOR);
  store_user_clear(&u);
  /* A change that does not touch admins passes whatever the rest is. */
  c = (store_user_change){.name = "", .role = -1, .disabled = -1};
  assert_int_equal(store_user_update(st, org, admin, &c, 5000, &u), CF_OK);
  assert_string_equal(u.name, "");
  store_user_clear(&u);

  /* Another organization's user, a missing one, bad changes. */
  c = (store_user_change){.name = "Hijack", .role = -1, .disabled = 1};
  assert_int_equal(store_user_update(st, org, stranger, &c, 6000, &u), CF_E_NOT_FOUND);
  assert_int_equal(store_user_update(st, org, 999999, &c, 6000, NULL), CF_E_NOT_FOUND);
  c = (store_user_change){.role = 7, .disabled = -1};
  assert_int_equal(store_user_update(st, org, admin, &c, 6000, NULL), CF_E_INVALID);
  c = (store_user_change){.role = -1, .disabled = 2};
  assert_int_equal(store_user_update(st, org, admin, &c, 6000, NULL), CF_E_INVALID);
  assert_int_equal(store_user_get(st, other, stranger, &u), CF_OK);
  assert_string_equal(u.name, "X");
  assert_false(u.disabled);
  store_user_clear(&u);

  /* A new password ends the user's other sessions, keeps the one named. */
  int64_t keep = 0;
  for (int n = 4; n <= 6; n++) {
    session_hash(n, hash);
    assert_int_equal(store_session_create(st, hash, admin, "csrf", 1000, 99999), CF_OK);
  }
  session_hash(5, hash);
  store_session x;
  assert_int_equal(store_session_lookup(st, hash, 5000, &x), CF_OK);
  keep = x.id;
  store_session_clear(&x);
  assert_int_equal(store_user_set_password(st, org, admin, "$h-wrong", "$h-new", keep),
                   CF_E_CONFLICT);
  assert_true(session_live(4));
  assert_int_equal(store_user_set_password(st, org, admin, "$h-root", "$h-new", keep), CF_OK);
  assert_false(session_live(3));
  assert_false(session_live(4));
  assert_true(session_live(5));
  assert_false(session_live(6));
  assert_int_equal(store_user_get(st, org, admin, &u), CF_OK);
  assert_string_equal(u.password_hash, "$h-new");
  store_user_clear(&u);
  assert_int_equal(store_user_set_password(st, other, admin, "$h-new", "$h-x", 0), CF_E_NOT_FOUND);
  c = (store_user_change){.role = -1, .disabled = 1};
  assert_int_equal(store_user_update(st, org, ed, &c, 7000, NULL), CF_E_CONFLICT); /* the last */
  c = (store_user_change){.role = STORE_ROLE_ADMIN, .disabled = -1};
  assert_int_equal(store_user_update(st, org, admin, &c, 7000, NULL), CF_OK);
  c = (store_user_change){.role = -1, .disabled = 1};
  assert_int_equal(store_user_update(st, org, ed, &c, 7000, NULL), CF_OK);
  assert_int_equal(store_user_set_password(st, org, ed, "$h-ed", "$h-ed2", 0), CF_E_NOT_FOUND);
  assert_int_equal(store_user_set_password(st, org, admin, "$h-new", "", 0), CF_E_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_migrations),
      cmocka_unit_test(test_migration_names),
      cmocka_unit_test(test_upgrade_keeps_rows),
      cmocka_unit_test(test_newer_schema_refused),
      cmocka_unit_test(test_bad_urls),
      cmocka_unit_test(test_concurrent_migrations),
      cmocka_unit_test(test_claim_order),
      cmocka_unit_test(test_enqueue_batch_ids),
      cmocka_unit_test(test_unique_fires_and_bad_input),
      cmocka_unit_test(test_leases_and_fencing),
      cmocka_unit_test(test_retries_record_backoff),
      cmocka_unit_test(test_release_and_prune),
      cmocka_unit_test(test_wal_stays_bounded),
      cmocka_unit_test(test_concurrent_writers),
      cmocka_unit_test(test_wakeups),
      cmocka_unit_test(test_locked_database),
      cmocka_unit_test(test_read_only_file),
      cmocka_unit_test(test_workflows_and_logs),
      cmocka_unit_test(test_users_change),
  };
  return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
