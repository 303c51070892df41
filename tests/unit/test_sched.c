/*
 * test_sched.c — the scheduler on a real store file, driven by a clock the
 * test moves: every instant fires once; each misfire policy after a
 * downtime; each overlap policy with executions held running by claiming
 * them; DST days in New York; enable, disable and delete taking effect at
 * once; a deleted schedule never firing from a scheduler that still holds
 * it; two schedulers on one database never double-firing. Plus the store's
 * schedule operations (validation, ledger paging, pruning, cancel).
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
#include <sqlite3.h>

#include "base/civil.h"
#include "sched/sched.h"
#include "store/store.h"

static char dir[64];
static char path[128];
static store *st;
static tz_db *zones;
static int64_t workflow;

/* ------------------------------------------------------------ the test clock */

static _Atomic int64_t vnow;

static int64_t test_now(void *ctx) {
  (void)ctx;
  return atomic_load(&vnow);
}

/* Time moves only when the test says so: wait for a signal (or the
 * scheduler's periodic check). */
static void test_wait(void *ctx, pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline,
                      int64_t max_real_ms) {
  (void)ctx;
  if (deadline <= atomic_load(&vnow))
    return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = ts.tv_nsec + (max_real_ms < 200 ? max_real_ms : 200) * 1000000;
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  (void)pthread_cond_timedwait(cv, mu, &ts);
}

static int64_t iso(const char *text) {
  int64_t sec;
  int32_t nanos;
  bool off;
  if (civil_parse_iso(text, &sec, &nanos, &off, NULL, 0) != CF_OK || !off)
    abort();
  return sec * 1000 + nanos / 1000000;
}

static sched *start_sched(void) {
  sched_options o = {.clock = {test_now, test_wait, NULL}, .quiet = true};
  sched *s;
  assert_int_equal(sched_start(st, zones, &o, &s), CF_OK);
  return s;
}

static void move_to(sched *s, int64_t t) {
  atomic_store(&vnow, t);
  sched_settle(s);
}

/* ------------------------------------------------------------ fixtures */

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/cronflow-sched-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  snprintf(path, sizeof path, "%s/test.db", dir);
  store_config cfg = {.url = path};
  char err[256];
  if (store_open(&cfg, &st, err, sizeof err) != CF_OK ||
      store_migrate(st, NULL, NULL, err, sizeof err) != CF_OK) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  if (tz_db_open(NULL, &zones) != CF_OK)
    return -1;
  if (store_workflow_create(st, 0, "wf", "", "{\"nodes\":[]}", 1, &workflow) != CF_OK)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  store_close(st);
  tz_db_free(zones);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int64_t add_schedule(const char *cron, const char *zone, store_misfire misfire,
                            store_overlap overlap) {
  store_schedule_new n = {.workflow_id = workflow,
                          .cron = cron,
                          .timezone = zone,
                          .enabled = true,
                          .misfire = misfire,
                          .overlap = overlap,
                          .misfire_limit = 3,
                          .grace_ms = -1,
                          .input = "{\"k\":1}"};
  int64_t id;
  assert_int_equal(store_sched_create(st, &n, time(NULL) * INT64_C(1000), &id), CF_OK);
  return id;
}

/* Runs SQL against the file directly, returning the first column of the
 * first row as an integer (or -1). */
static int64_t sql_int(const char *fmt, ...) {
  char q[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *s;
  if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", q, sqlite3_errmsg(db));
    fail();
  }
  int64_t v = -1;
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  else if (rc != SQLITE_DONE)
    fail_msg("%s: %s", q, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static char *sql_text(const char *q) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
  char *v = NULL;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
    v = strdup((const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static int64_t execs(int64_t sid) {
  return sql_int("SELECT count(*) FROM executions WHERE schedule_id = %lld", (long long)sid);
}

static int64_t ticks(int64_t sid, const char *outcome) {
  return sql_int("SELECT count(*) FROM ticks WHERE schedule_id = %lld AND outcome = '%s'",
                 (long long)sid, outcome);
}

/* ------------------------------------------------------------ tests */

static void test_every_second_ten(void **state) {
  (void)state;
  int64_t t0 = iso("2027-01-01T00:00:00Z");
  atomic_store(&vnow, t0 + 500);
  int64_t id = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  for (int k = 1; k <= 10; k++)
    move_to(s, t0 + k * 1000 + 500);
  sched_stats stats;
  sched_get_stats(s, &stats);
  sched_stop(s);
  assert_int_equal(execs(id), 10);
  /* each instant once: 00:00:01 through 00:00:10 */
  assert_int_equal(sql_int("SELECT count(DISTINCT scheduled_at) FROM executions WHERE "
                           "schedule_id = %lld AND scheduled_at BETWEEN %lld AND %lld",
                           (long long)id, (long long)(t0 + 1000), (long long)(t0 + 10000)),
                   10);
  assert_int_equal(ticks(id, "fired"), 10);
  assert_int_equal(stats.executions, 10);
  char q[256];
  snprintf(q, sizeof q, "SELECT trigger_data FROM executions WHERE scheduled_at = %lld",
           (long long)(t0 + 3000));
  char *td = sql_text(q);
  assert_non_null(td);
  char want[400];
  snprintf(want, sizeof want,
           "{\"schedule_id\":%lld,\"scheduled_at\":\"2027-01-01T00:00:03.000Z\","
           "\"scheduled_local\":\"2027-01-01T00:00:03+00:00\",\"timezone\":\"UTC\","
           "\"late\":false,\"catch_up\":false,\"input\":{\"k\":1}}",
           (long long)id);
  assert_string_equal(td, want);
  free(td);
  store_schedule sc;
  assert_int_equal(store_sched_get(st, 0, id, &sc), CF_OK);
  assert_int_equal(sc.total_runs, 10);
  assert_int_equal(sc.next_fire_at, t0 + 11000);
  assert_int_equal(sc.last_fire_at, t0 + 10000);
  store_schedule_clear(&sc);
}

static void test_late_within_grace(void **state) {
  (void)state;
  int64_t t0 = iso("2027-01-01T00:00:00Z");
  atomic_store(&vnow, t0 + 500);
  int64_t id = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_SKIP, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  move_to(s, t0 + 5500); /* a 5-second pause: within the 60 s grace */
  sched_stop(s);
  assert_int_equal(execs(id), 5);
  assert_int_equal(ticks(id, "missed"), 0);
  /* 00:00:01 is 4.5 s late; 00:00:05 is 0.5 s late, which is on time */
  assert_int_equal(sql_int("SELECT count(*) FROM executions WHERE schedule_id = %lld AND "
                           "json_extract(trigger_data, '$.late') = 1",
                           (long long)id),
                   4);
}

static void test_misfire_policies(void **state) {
  (void)state;
  int64_t t0 = iso("2027-01-01T12:00:00Z");
  atomic_store(&vnow, t0 + 500);
  int64_t skip = add_schedule("* * * * *", "UTC", STORE_MISFIRE_SKIP, STORE_OVERLAP_ALLOW);
  int64_t once = add_schedule("* * * * *", "UTC", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  int64_t all = add_schedule("* * * * *", "UTC", STORE_MISFIRE_ALL, STORE_OVERLAP_ALLOW);
  int64_t many = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_SKIP, STORE_OVERLAP_ALLOW);
  /* The server was down: cursors ten minutes (and 1000 s) in the past. */
  sql_int("UPDATE schedules SET next_fire_at = %lld WHERE id IN (%lld, %lld, %lld)",
          (long long)(t0 - 600000), (long long)skip, (long long)once, (long long)all);
  sql_int("UPDATE schedules SET next_fire_at = %lld WHERE id = %lld", (long long)(t0 - 1000000),
          (long long)many);
  sched *s = start_sched();
  sched_settle(s);
  sched_stop(s);
  /* 11:50 .. 11:59 are missed (older than grace), 12:00 is on time. */
  assert_int_equal(ticks(skip, "missed"), 10);
  assert_int_equal(execs(skip), 1);
  assert_int_equal(ticks(skip, "fired"), 1);

  assert_int_equal(ticks(once, "missed"), 9);
  assert_int_equal(ticks(once, "missed_fired"), 1);
  assert_int_equal(execs(once), 2);
  assert_int_equal(sql_int("SELECT scheduled_at FROM executions WHERE schedule_id = %lld AND "
                           "json_extract(trigger_data, '$.catch_up') = 1",
                           (long long)once),
                   t0 - 60000);

  assert_int_equal(ticks(all, "missed_fired"), 3);
  assert_int_equal(ticks(all, "missed"), 7);
  assert_int_equal(execs(all), 4);
  assert_int_equal(
      sql_int("SELECT min(scheduled_at) FROM executions WHERE schedule_id = %lld", (long long)all),
      t0 - 180000);
  assert_int_equal(sql_int("SELECT count(*) FROM ticks WHERE schedule_id = %lld AND "
                           "outcome = 'missed' AND detail LIKE '%%misfire limit of 3%%'",
                           (long long)all),
                   7);

  /* 941 missed every-second instants: 100 listed, 841 in one summary;
   * the 60 within grace ran. */
  assert_int_equal(ticks(many, "missed"), 101);
  assert_int_equal(sql_int("SELECT count(*) FROM ticks WHERE schedule_id = %lld AND "
                           "detail LIKE '841 missed fires from%%'",
                           (long long)many),
                   1);
  assert_int_equal(execs(many), 60);
  /* every expected instant is accounted for once (the summary covers 841) */
  assert_int_equal(sql_int("SELECT count(DISTINCT scheduled_at) FROM ticks WHERE schedule_id = "
                           "%lld AND outcome IN ('missed', 'fired')",
                           (long long)many),
                   161);
}

/* Claims whatever is due, as a worker would (real clock). */
static size_t claim_all(store_claim **c) {
  size_t n;
  assert_int_equal(store_exec_claim(st, "t", time(NULL) * INT64_C(1000) + 1000, 600000, 100, c, &n),
                   CF_OK);
  return n;
}

typedef struct overlap_run {
  int64_t id;
  sched *s;
  int64_t t0;
} overlap_run;

static overlap_run overlap_start(store_overlap policy) {
  overlap_run r;
  r.t0 = iso("2027-01-01T00:00:00Z");
  atomic_store(&vnow, r.t0 + 500);
  r.id = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_ONCE, policy);
  r.s = start_sched();
  move_to(r.s, r.t0 + 1500); /* first fire */
  assert_int_equal(execs(r.id), 1);
  return r;
}

static void test_overlap_skip(void **state) {
  (void)state;
  overlap_run r = overlap_start(STORE_OVERLAP_SKIP);
  store_claim *c;
  assert_int_equal(claim_all(&c), 1); /* now running */
  move_to(r.s, r.t0 + 2500);
  move_to(r.s, r.t0 + 3500);
  assert_int_equal(execs(r.id), 1);
  assert_int_equal(ticks(r.id, "skipped_overlap"), 2);
  assert_int_equal(store_exec_finish(st, c[0].id, c[0].lease_token, STORE_EXEC_FAILED, "boom", NULL,
                                     time(NULL) * INT64_C(1000)),
                   CF_OK);
  store_claims_free(c, 1);
  move_to(r.s, r.t0 + 4500);
  sched_stop(r.s);
  assert_int_equal(execs(r.id), 2);
  store_schedule sc;
  assert_int_equal(store_sched_get(st, 0, r.id, &sc), CF_OK);
  assert_int_equal(sc.failed_runs, 1);
  assert_int_equal(sc.succeeded_runs, 0);
  assert_string_equal(sc.last_status, "failed");
  assert_int_equal(sc.total_runs, 2);
  store_schedule_clear(&sc);
}

static void test_overlap_allow(void **state) {
  (void)state;
  overlap_run r = overlap_start(STORE_OVERLAP_ALLOW);
  store_claim *c;
  assert_int_equal(claim_all(&c), 1);
  store_claims_free(c, 1);
  move_to(r.s, r.t0 + 2500);
  move_to(r.s, r.t0 + 3500);
  sched_stop(r.s);
  assert_int_equal(execs(r.id), 3);
  assert_int_equal(ticks(r.id, "skipped_overlap"), 0);
}

static void test_overlap_queue_one(void **state) {
  (void)state;
  overlap_run r = overlap_start(STORE_OVERLAP_QUEUE_ONE);
  store_claim *c;
  assert_int_equal(claim_all(&c), 1);
  move_to(r.s, r.t0 + 2500); /* waits behind the running one */
  move_to(r.s, r.t0 + 3500); /* one is waiting already: skipped */
  assert_int_equal(execs(r.id), 2);
  assert_int_equal(ticks(r.id, "queued"), 1);
  assert_int_equal(ticks(r.id, "skipped_overlap"), 1);
  store_claim *none;
  assert_int_equal(claim_all(&none), 0); /* held while the first runs */
  assert_int_equal(store_exec_finish(st, c[0].id, c[0].lease_token, STORE_EXEC_SUCCEEDED, NULL,
                                     "{}", time(NULL) * INT64_C(1000)),
                   CF_OK);
  store_claims_free(c, 1);
  store_claim *next;
  assert_int_equal(claim_all(&next), 1); /* released when it ended */
  assert_int_equal(next[0].scheduled_at, r.t0 + 2000);
  store_claims_free(next, 1);
  sched_stop(r.s);
  store_schedule sc;
  assert_int_equal(store_sched_get(st, 0, r.id, &sc), CF_OK);
  assert_int_equal(sc.succeeded_runs, 1);
  assert_string_equal(sc.last_status, "succeeded");
  store_schedule_clear(&sc);
}

static void test_overlap_replace(void **state) {
  (void)state;
  overlap_run r = overlap_start(STORE_OVERLAP_REPLACE);
  store_claim *c;
  assert_int_equal(claim_all(&c), 1);
  int64_t first = c[0].id;
  store_claims_free(c, 1);
  move_to(r.s, r.t0 + 2500); /* the running one is asked to stop */
  assert_int_equal(
      sql_int("SELECT cancel_requested FROM executions WHERE id = %lld", (long long)first), 1);
  assert_int_equal(ticks(r.id, "replaced"), 1);
  int64_t second =
      sql_int("SELECT max(id) FROM executions WHERE schedule_id = %lld", (long long)r.id);
  move_to(r.s, r.t0 + 3500); /* the queued second one is cancelled outright */
  sched_stop(r.s);
  store_exec e;
  assert_int_equal(store_exec_get(st, second, &e), CF_OK);
  assert_int_equal(e.status, STORE_EXEC_CANCELLED);
  store_exec_clear(&e);
  assert_int_equal(execs(r.id), 3);
  assert_int_equal(ticks(r.id, "replaced"), 2);
  assert_int_equal(sql_int("SELECT count(*) FROM executions WHERE schedule_id = %lld AND "
                           "status = 'queued'",
                           (long long)r.id),
                   1);
}

/* Moves the clock from `from` to `to` in steps, settling each time. */
static void walk(sched *s, int64_t from, int64_t to, int64_t step) {
  for (int64_t t = from; t <= to; t += step)
    move_to(s, t);
  move_to(s, to);
}

static void test_dst_spring_forward(void **state) {
  (void)state;
  int64_t from = iso("2027-03-13T12:00:00-05:00"), to = iso("2027-03-15T12:00:00-04:00");
  atomic_store(&vnow, from);
  int64_t id =
      add_schedule("30 2 * * *", "America/New_York", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  walk(s, from, to, 45000);
  sched_stop(s);
  assert_int_equal(execs(id), 2);
  /* 02:30 did not exist on the 14th: it fired at 03:30 EDT */
  char *local = sql_text("SELECT json_extract(trigger_data, '$.scheduled_local') FROM executions "
                         "ORDER BY scheduled_at LIMIT 1");
  assert_string_equal(local, "2027-03-14T03:30:00-04:00");
  free(local);
  assert_int_equal(sql_int("SELECT scheduled_at FROM executions ORDER BY scheduled_at LIMIT 1"),
                   iso("2027-03-14T07:30:00Z"));
  assert_int_equal(sql_int("SELECT count(*) FROM ticks WHERE schedule_id = %lld AND outcome = "
                           "'fired' AND detail LIKE '%%dst_shifted%%'",
                           (long long)id),
                   1);
  assert_int_equal(sql_int("SELECT scheduled_at FROM executions ORDER BY scheduled_at DESC "
                           "LIMIT 1"),
                   iso("2027-03-15T02:30:00-04:00"));
  assert_int_equal(ticks(id, "missed"), 0);
}

static void test_dst_fall_back(void **state) {
  (void)state;
  int64_t from = iso("2027-11-06T12:00:00-04:00"), to = iso("2027-11-08T00:00:00-05:00");
  atomic_store(&vnow, from);
  int64_t at230 =
      add_schedule("30 2 * * *", "America/New_York", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  int64_t at130 =
      add_schedule("30 1 * * *", "America/New_York", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  int64_t hourly =
      add_schedule("30 * * * *", "America/New_York", STORE_MISFIRE_ONCE, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  walk(s, from, to, 45000);
  sched_stop(s);
  /* 02:30 exists once on the 7th */
  assert_int_equal(sql_int("SELECT count(*) FROM executions WHERE schedule_id = %lld AND "
                           "scheduled_at = %lld",
                           (long long)at230, (long long)iso("2027-11-07T02:30:00-05:00")),
                   1);
  assert_int_equal(execs(at230), 1);
  /* 01:30 happens twice: a daily job fires at the first, EDT, only */
  assert_int_equal(execs(at130), 1);
  assert_int_equal(
      sql_int("SELECT scheduled_at FROM executions WHERE schedule_id = %lld", (long long)at130),
      iso("2027-11-07T01:30:00-04:00"));
  /* an hourly job fires in both passes: 37 hours, 37 fires */
  assert_int_equal(execs(hourly), 37);
  assert_int_equal(sql_int("SELECT count(*) FROM executions WHERE schedule_id = %lld AND "
                           "scheduled_at IN (%lld, %lld)",
                           (long long)hourly, (long long)iso("2027-11-07T01:30:00-04:00"),
                           (long long)iso("2027-11-07T01:30:00-05:00")),
                   2);
}

static void test_enable_disable_delete(void **state) {
  (void)state;
  int64_t t0 = iso("2027-01-01T00:00:00Z");
  atomic_store(&vnow, t0 + 500);
  int64_t id = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_ALL, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  move_to(s, t0 + 1500);
  assert_int_equal(execs(id), 1);
  assert_int_equal(store_sched_set_enabled(st, 0, id, false, time(NULL) * INT64_C(1000)), CF_OK);
  sched_notify(s, id);
  sched_settle(s);
  walk(s, t0 + 2500, t0 + 5500, 1000);
  assert_int_equal(execs(id), 1); /* disabled at once */
  assert_int_equal(ticks(id, "disabled"), 1);
  assert_int_equal(store_sched_set_enabled(st, 0, id, true, time(NULL) * INT64_C(1000)), CF_OK);
  sched_notify(s, id);
  sched_settle(s);
  move_to(s, t0 + 6500);
  /* enabled again: fires from now on, not the disabled seconds */
  assert_int_equal(execs(id), 2);
  assert_int_equal(ticks(id, "missed"), 0);
  /* a second scheduler that will still hold the schedule after it is
   * deleted: it hears of no change for an hour */
  sched_options lazy = {
      .clock = {test_now, test_wait, NULL}, .quiet = true, .reload_check_ms = 3600000};
  sched *stale;
  assert_int_equal(sched_start(st, zones, &lazy, &stale), CF_OK);
  assert_int_equal(store_sched_delete(st, 0, id, time(NULL) * INT64_C(1000)), CF_OK);
  assert_int_equal(store_sched_delete(st, 0, id, time(NULL) * INT64_C(1000)), CF_E_NOT_FOUND);
  sched_notify(s, id);
  sched_settle(s);
  walk(s, t0 + 7500, t0 + 9500, 1000);
  sched_settle(stale); /* it still has the schedule: its fire must be refused */
  sched_stats stats;
  sched_get_stats(stale, &stats);
  sched_stop(stale);
  sched_stop(s);
  assert_int_equal(execs(id), 2);
  assert_true(stats.stale >= 1);
  assert_int_equal(stats.loaded, 0);
  assert_int_equal(ticks(id, "deleted"), 1);
  store_schedule sc;
  assert_int_equal(store_sched_get(st, 0, id, &sc), CF_E_NOT_FOUND);
  assert_int_equal(store_sched_load(st, id, &sc), CF_OK);
  assert_true(sc.deleted);
  store_schedule_clear(&sc);
}

/* Schedules disabled, enabled again and deleted while their fires are in
 * flight (a regression: a change read while a fire transaction was still
 * writing freed the record the transaction pointed at; the API suite
 * crashed on it under ASan). Every change must still take effect once its
 * fire comes back: nothing fires once deleted, re-enabled ones go on. */
static void test_changes_during_fires(void **state) {
  (void)state;
  enum { N = 600, ROUNDS = 6 };
  int64_t t0 = iso("2027-02-01T00:00:00Z");
  atomic_store(&vnow, t0 + 500);
  static int64_t ids[N];
  for (int i = 0; i < N; i++)
    ids[i] = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_SKIP, STORE_OVERLAP_ALLOW);
  sched *s = start_sched();
  sched_settle(s);
  for (int r = 1; r <= ROUNDS; r++) {
    atomic_store(&vnow, t0 + r * 1000 + 500);
    sched_wake(s); /* fires go out; the changes below race with them */
    for (int i = r % 2; i < N; i += 2) {
      int64_t now = time(NULL) * INT64_C(1000);
      assert_int_equal(store_sched_set_enabled(st, 0, ids[i], (r / 2) % 2 == 1, now), CF_OK);
      sched_notify(s, ids[i]);
    }
    sched_settle(s);
  }
  /* Delete the first half while the next fires are on their way. */
  atomic_store(&vnow, t0 + (ROUNDS + 1) * 1000 + 500);
  sched_wake(s);
  for (int i = 0; i < N / 2; i++) {
    assert_int_equal(store_sched_delete(st, 0, ids[i], time(NULL) * INT64_C(1000)), CF_OK);
    sched_notify(s, ids[i]);
  }
  sched_settle(s);
  sched_settle(s);
  /* Everything still enabled fires in the next second; nothing deleted. */
  for (int i = 0; i < N; i++)
    assert_int_equal(store_sched_set_enabled(st, 0, ids[i], true, time(NULL) * INT64_C(1000)),
                     i < N / 2 ? CF_E_NOT_FOUND : CF_OK);
  for (int i = N / 2; i < N; i++)
    sched_notify(s, ids[i]);
  sched_settle(s);
  int64_t before = sql_int("SELECT count(*) FROM executions");
  int64_t deleted_before = sql_int("SELECT count(*) FROM executions WHERE schedule_id <= %lld",
                                   (long long)ids[N / 2 - 1]);
  move_to(s, t0 + (ROUNDS + 2) * 1000 + 500);
  sched_settle(s);
  sched_stats stats;
  sched_get_stats(s, &stats);
  sched_stop(s);
  assert_int_equal(stats.loaded, N / 2);
  assert_int_equal(sql_int("SELECT count(*) FROM executions WHERE schedule_id <= %lld",
                           (long long)ids[N / 2 - 1]),
                   deleted_before);
  /* Each of the N/2 left fires once for that second (skip: the missed
   * seconds before it are recorded, not run). */
  assert_int_equal(sql_int("SELECT count(*) FROM executions") - before, N / 2);
}

typedef struct racer {
  sched *s;
  pthread_barrier_t *go;
} racer;

static void *race_settle(void *arg) {
  racer *r = arg;
  pthread_barrier_wait(r->go);
  sched_settle(r->s);
  return NULL;
}

static void test_two_schedulers_manual(void **state) {
  (void)state;
  int64_t t0 = iso("2027-01-01T00:00:00Z");
  atomic_store(&vnow, t0 + 500);
  int64_t first = 0;
  for (int i = 0; i < 20; i++) {
    int64_t id = add_schedule("* * * * * *", "UTC", STORE_MISFIRE_ALL, STORE_OVERLAP_ALLOW);
    if (!first)
      first = id;
  }
  /* a second store handle, as another process would have */
  store *st2;
  store_config cfg = {.url = path};
  assert_int_equal(store_open(&cfg, &st2, NULL, 0), CF_OK);
  sched_options o = {.clock = {test_now, test_wait, NULL}, .quiet = true};
  sched *a = start_sched(), *b;
  assert_int_equal(sched_start(st2, zones, &o, &b), CF_OK);
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2);
  for (int k = 1; k <= 30; k++) {
    atomic_store(&vnow, t0 + k * 1000 + 500);
    racer ra = {a, &go}, rb = {b, &go};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race_settle, &ra);
    pthread_create(&tb, NULL, race_settle, &rb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
  }
  pthread_barrier_destroy(&go);
  sched_stats sa, sb;
  sched_get_stats(a, &sa);
  sched_get_stats(b, &sb);
  sched_stop(a);
  sched_stop(b);
  store_close(st2);
  assert_int_equal(sql_int("SELECT count(*) FROM executions"), 20 * 30);
  assert_int_equal(sql_int("SELECT count(*) FROM (SELECT DISTINCT schedule_id, scheduled_at "
                           "FROM executions)"),
                   20 * 30);
  assert_int_equal(sql_int("SELECT count(*) FROM ticks WHERE outcome = 'fired'"), 20 * 30);
  assert_int_equal(sa.executions + sb.executions, 20 * 30);
}

static void test_two_schedulers_real_clock(void **state) {
  (void)state;
  for (int i = 0; i < 30; i++)
    (void)add_schedule("* * * * * *", "UTC", STORE_MISFIRE_ALL, STORE_OVERLAP_ALLOW);
  store *st2;
  store_config cfg = {.url = path};
  assert_int_equal(store_open(&cfg, &st2, NULL, 0), CF_OK);
  sched_options o = {.quiet = true};
  sched *a, *b;
  assert_int_equal(sched_start(st, zones, &o, &a), CF_OK);
  assert_int_equal(sched_start(st2, zones, &o, &b), CF_OK);
  sleep(3);
  sched_stop(a);
  sched_stop(b);
  store_close(st2);
  /* every schedule fired every second between its first and last fire,
   * each instant exactly once */
  int64_t n = sql_int("SELECT count(*) FROM executions");
  assert_true(n >= 30 * 2);
  assert_int_equal(sql_int("SELECT count(*) FROM (SELECT schedule_id, scheduled_at FROM "
                           "executions GROUP BY 1, 2 HAVING count(*) > 1)"),
                   0);
  assert_int_equal(sql_int("SELECT count(*) FROM (SELECT schedule_id FROM executions GROUP BY 1 "
                           "HAVING count(*) <> (max(scheduled_at) - min(scheduled_at)) / 1000 "
                           "+ 1)"),
                   0);
  assert_int_equal(sql_int("SELECT count(*) FROM ticks WHERE outcome NOT IN ('fired', "
                           "'enabled')"),
                   0);
}

static void test_store_validation_and_ledger(void **state) {
  (void)state;
  store_schedule_new n = {.workflow_id = workflow, .cron = "* * * * *", .enabled = true};
  int64_t id;
  n.input = "[1]";
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_E_INVALID);
  n.input = "{nope";
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_E_INVALID);
  n.input = NULL;
  n.workflow_id = 999;
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_E_INVALID);
  n.workflow_id = workflow;
  n.starts_at = 10;
  n.ends_at = 5;
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_E_INVALID);
  n.starts_at = n.ends_at = 0;
  n.overlap = (store_overlap)9;
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_E_INVALID);
  n.overlap = STORE_OVERLAP_SKIP;
  assert_int_equal(store_sched_create(st, &n, 1, &id), CF_OK);
  /* update records 'changed' and the flip; revision goes up */
  n.enabled = false;
  n.cron = "0 * * * *";
  assert_int_equal(store_sched_update(st, 0, id, &n, 2), CF_OK);
  assert_int_equal(store_sched_set_enabled(st, 0, id, false, 3), CF_OK); /* no change */
  assert_int_equal(store_sched_set_enabled(st, 0, id, true, 4), CF_OK);
  assert_int_equal(store_sched_update(st, 0, 4242, &n, 2), CF_E_NOT_FOUND);
  store_schedule sc;
  assert_int_equal(store_sched_get(st, 0, id, &sc), CF_OK);
  assert_int_equal(sc.revision, 3);
  assert_string_equal(sc.cron, "0 * * * *");
  assert_true(sc.enabled);
  store_schedule_clear(&sc);
  /* the ledger, newest first, paged by id */
  store_tick *t;
  size_t count;
  assert_int_equal(store_sched_ticks(st, id, 0, 2, &t, &count), CF_OK);
  assert_int_equal(count, 2);
  assert_string_equal(t[0].outcome, "enabled");
  assert_string_equal(t[1].outcome, "disabled");
  int64_t before = t[1].id;
  store_ticks_free(t, count);
  assert_int_equal(store_sched_ticks(st, id, before, 10, &t, &count), CF_OK);
  assert_int_equal(count, 2);
  assert_string_equal(t[0].outcome, "changed");
  assert_string_equal(t[1].outcome, "enabled");
  assert_string_equal(t[1].detail, "created");
  store_ticks_free(t, count);
  /* pruning by age */
  int64_t deleted;
  assert_int_equal(store_sched_ticks_prune(st, 3, 100, &deleted), CF_OK);
  assert_int_equal(deleted, 3);
  assert_int_equal(store_sched_ticks(st, id, 0, 10, &t, &count), CF_OK);
  assert_int_equal(count, 1);
  store_ticks_free(t, count);
  /* listing and change feed */
  store_schedule *list;
  assert_int_equal(store_sched_list(st, 0, 0, 10, &list, &count), CF_OK);
  assert_int_equal(count, 1);
  int64_t seq = list[0].change_seq;
  store_schedules_free(list, count);
  int64_t max;
  assert_int_equal(store_sched_change_seq(st, &max), CF_OK);
  assert_int_equal(max, seq);
  assert_int_equal(store_sched_changed(st, seq, 10, &list, &count), CF_OK);
  assert_int_equal(count, 0);
  store_schedules_free(list, count);
  /* cancel: queued -> cancelled; unknown -> NOT_FOUND */
  store_exec_new e = {.workflow_id = workflow, .workflow_version = 1, .trigger_kind = "manual"};
  int64_t xid;
  assert_int_equal(store_exec_enqueue(st, &e, 5, &xid), CF_OK);
  assert_int_equal(store_exec_cancel(st, xid, 6), CF_OK);
  store_exec x;
  assert_int_equal(store_exec_get(st, xid, &x), CF_OK);
  assert_int_equal(x.status, STORE_EXEC_CANCELLED);
  store_exec_clear(&x);
  assert_int_equal(store_exec_cancel(st, 999999, 6), CF_E_NOT_FOUND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_every_second_ten, setup, teardown),
      cmocka_unit_test_setup_teardown(test_late_within_grace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_misfire_policies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlap_skip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlap_allow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlap_queue_one, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overlap_replace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dst_spring_forward, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dst_fall_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_enable_disable_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_changes_during_fires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_schedulers_manual, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_schedulers_real_clock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_validation_and_ledger, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
