/*
 * sqlite.c — the embedded store: one SQLite file in WAL mode.
 *
 * One writer thread owns the only writing connection and commits in groups:
 * callers queue a write and wait; the writer takes every queued write (up to
 * group_commit_max), runs each inside its own savepoint within one
 * transaction and commits once. Commits are not synced by SQLite
 * (synchronous=NORMAL, under which checkpoints still sync and the file stays
 * consistent); a syncer thread fdatasyncs the WAL behind the writer, and a
 * write is acknowledged only once a sync that began after its commit has
 * finished. So one fsync makes many transactions durable, and the writer
 * never stops to wait for the disk. One failing write rolls back to its
 * savepoint and does not spoil the others; a failed COMMIT or sync fails
 * them all, so an OK return always means "on disk".
 *
 * Reads use a small pool of read-only connections, which WAL lets run
 * beside the writer. Every connection keeps its prepared statements.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/embed.h"
#include "store/sqlite_int.h"

#define DEFAULT_BUSY_MS 5000
#define DEFAULT_BATCH   512

enum stmt_id {
  ST_SAVEPOINT,
  ST_RELEASE,
  ST_ROLLBACK_TO,
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_ENQUEUE,
  ST_ENQUEUE_MANY,
  ST_CLAIM_DUE,
  ST_CLAIM_EXPIRED,
  ST_RENEW,
  ST_FINISH,
  ST_FINISH_PLAIN,
  ST_SCHEDULE_OF,
  ST_RETRY,
  ST_RELEASE_EXEC,
  ST_RERUN,
  ST_ATTEMPT_END,
  ST_ATTEMPT_FINAL,
  ST_EXISTS,
  ST_STEP_SAVE,
  ST_PRUNE,
  ST_GET,
  ST_COUNTS,
  ST_NEXT_DUE,
  ST_PENDING,
  ST_ATTEMPT_LIST,
  ST_STEP_LIST,
  ST_VERSION,
  ST_COUNT
};
_Static_assert((int)ST_COUNT <= (int)SQ_SLOT_WORKFLOWS, "statement slots overlap");

#define CLAIM_COLUMNS                                                                              \
  "id, workflow_id, workflow_version, attempt, max_attempts, backoff_ms, backoff_max_ms, "         \
  "coalesce(timeout_ms, 0), lease_token, coalesce(schedule_id, 0), coalesce(scheduled_at, 0), "    \
  "resumes, trigger_kind, trigger_data, priority, run_at, created_at, org_id"

#define FINISH_SQL                                                                                 \
  "UPDATE executions SET status = ?3, error = ?4, result = ?5, finished_at = ?6, "                 \
  "updated_at = ?6, lease_expires_at = NULL "                                                      \
  "WHERE id = ?1 AND lease_token = ?2 AND status = 'running'"

#define ENQUEUE_ROWS    16
#define ENQUEUE_ROW     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define ENQUEUE_VALUES4 ENQUEUE_ROW ", " ENQUEUE_ROW ", " ENQUEUE_ROW ", " ENQUEUE_ROW
#define ENQUEUE_VALUES16                                                                           \
  ENQUEUE_VALUES4 ", " ENQUEUE_VALUES4 ", " ENQUEUE_VALUES4 ", " ENQUEUE_VALUES4
#define ENQUEUE_PARAMS 14 /* per row */

static const char *const sql_text[ST_COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT w",
    [ST_RELEASE] = "RELEASE w",
    [ST_ROLLBACK_TO] = "ROLLBACK TO w",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_ENQUEUE] =
        "INSERT INTO executions (org_id, workflow_id, workflow_version, schedule_id, "
        "scheduled_at, trigger_kind, trigger_data, priority, run_at, max_attempts, backoff_ms, "
        "backoff_max_ms, timeout_ms, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    /* ENQUEUE_ROWS rows in one statement: SQLite's cost is mostly per
     * statement, and AUTOINCREMENT writes its counter once per statement. */
    [ST_ENQUEUE_MANY] =
        "INSERT INTO executions (org_id, workflow_id, workflow_version, schedule_id, "
        "scheduled_at, trigger_kind, trigger_data, priority, run_at, max_attempts, backoff_ms, "
        "backoff_max_ms, timeout_ms, created_at) VALUES " ENQUEUE_VALUES16,
    [ST_RENEW] = "UPDATE executions SET lease_expires_at = ?3 "
                 "WHERE id = ?1 AND lease_token = ?2 AND status = 'running' "
                 "RETURNING cancel_requested",
    [ST_EXISTS] = "SELECT 1 FROM executions WHERE id = ?1",
    [ST_CLAIM_EXPIRED] =
        "UPDATE executions SET resumes = resumes + 1, lease_owner = ?2, "
        "lease_token = lease_token + 1, lease_expires_at = ?3, updated_at = ?1 "
        "WHERE id IN (SELECT id FROM executions WHERE status = 'running' AND "
        "lease_expires_at <= ?1 ORDER BY lease_expires_at LIMIT ?4) RETURNING " CLAIM_COLUMNS,
    [ST_CLAIM_DUE] =
        "UPDATE executions SET attempt = attempt + 1, status = 'running', lease_owner = ?2, "
        "lease_token = lease_token + 1, lease_expires_at = ?3, started_at = coalesce(started_at, "
        "?1), attempt_started_at = ?1, updated_at = ?1 "
        "WHERE id IN (SELECT id FROM executions WHERE status = 'queued' AND run_at <= ?1 "
        "ORDER BY priority DESC, run_at, id LIMIT ?4) RETURNING " CLAIM_COLUMNS,
    /* The last attempt's record is the execution itself (lease_owner and
     * attempt_started_at stay): see ST_ATTEMPT_LIST. */
    [ST_FINISH] = FINISH_SQL,
    /* The same for an execution of no schedule, the common case: one
     * statement. When it changes nothing, the schedule (or a lost lease)
     * is looked up with ST_SCHEDULE_OF (a RETURNING clause would cost
     * SQLite a temporary table on every finish). */
    [ST_FINISH_PLAIN] = FINISH_SQL " AND schedule_id IS NULL",
    [ST_SCHEDULE_OF] = "SELECT coalesce(schedule_id, 0) FROM executions WHERE id = ?1",
    /* Retries, releases and re-runs first record the attempt that ended
     * (ST_ATTEMPT_END, ST_ATTEMPT_FINAL), then clear attempt_started_at:
     * no attempt is under way. */
    [ST_RETRY] =
        "UPDATE executions SET status = 'queued', run_at = ?3, error = ?4, updated_at = ?5, "
        "lease_owner = NULL, lease_expires_at = NULL, attempt_started_at = NULL "
        "WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
    [ST_RELEASE_EXEC] = "UPDATE executions SET status = 'queued', run_at = ?3, updated_at = ?3, "
                        "attempt = attempt - 1, lease_owner = NULL, lease_expires_at = NULL, "
                        "attempt_started_at = NULL "
                        "WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
    [ST_RERUN] = "UPDATE executions SET status = 'queued', run_at = ?2, updated_at = ?2, "
                 "finished_at = NULL, max_attempts = attempt + 1, resumes = 0, lease_owner = NULL, "
                 "lease_expires_at = NULL, attempt_started_at = NULL "
                 "WHERE id = ?1 AND status IN ('failed', 'timed_out', 'cancelled')",
    /* A running attempt that ends without finishing the execution: ?3 is
     * 'failed' (a retry follows after backoff ?5 - ?4) or 'released'. */
    [ST_ATTEMPT_END] =
        "INSERT OR REPLACE INTO execution_attempts (execution_id, attempt, lease_owner, "
        "started_at, finished_at, status, error, backoff_ms) "
        "SELECT id, attempt, lease_owner, coalesce(attempt_started_at, ?4), ?4, ?3, ?6, "
        "CASE WHEN ?3 = 'failed' THEN max(?5 - ?4, 0) END "
        "FROM executions WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
    /* A finished execution about to run again keeps its last attempt. */
    [ST_ATTEMPT_FINAL] =
        "INSERT OR REPLACE INTO execution_attempts (execution_id, attempt, lease_owner, "
        "started_at, finished_at, status, error, backoff_ms) "
        "SELECT id, attempt, lease_owner, attempt_started_at, coalesce(finished_at, updated_at), "
        "status, error, NULL FROM executions WHERE id = ?1 AND attempt > 0 AND "
        "attempt_started_at IS NOT NULL AND status NOT IN ('queued', 'running')",
    /* Fenced: writes nothing unless the lease is still held. */
    [ST_STEP_SAVE] = "INSERT INTO execution_steps (execution_id, node_id, iteration, "
                     "status, attempts, input, output, error, started_at, finished_at, seq) "
                     "SELECT ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 WHERE EXISTS (SELECT 1 "
                     "FROM executions WHERE id = ?1 AND lease_token = ?2 AND status = 'running') "
                     "ON CONFLICT (execution_id, node_id, iteration) DO UPDATE SET "
                     "status = excluded.status, attempts = excluded.attempts, "
                     "input = coalesce(excluded.input, input), output = excluded.output, "
                     "error = excluded.error, started_at = excluded.started_at, "
                     "finished_at = excluded.finished_at",
    [ST_PRUNE] = "DELETE FROM executions WHERE id IN (SELECT id FROM executions "
                 "WHERE finished_at IS NOT NULL AND finished_at < ?1 ORDER BY finished_at "
                 "LIMIT ?2)",
    [ST_GET] = "SELECT " SQ_EXEC_COLUMNS " FROM executions WHERE id = ?1",
    [ST_COUNTS] = "SELECT status, count(*) FROM executions GROUP BY status",
    [ST_NEXT_DUE] = "SELECT min(run_at) FROM executions WHERE status = 'queued'",
    [ST_PENDING] = "SELECT (SELECT count(*) FROM executions WHERE status = 'queued') + "
                   "(SELECT count(*) FROM executions WHERE status = 'running')",
    /* The attempts recorded as they ended, and the execution's last one,
     * read from the execution once it has finished (attempt_started_at
     * is set only when that attempt ran). A record of the same attempt
     * stands unless it says 'released' (the attempt was given back and
     * ran again under the same number); databases from before version 6
     * hold a record of the last attempt too. */
    [ST_ATTEMPT_LIST] =
        "SELECT attempt, lease_owner, status, error, started_at, coalesce(finished_at, 0), "
        "coalesce(backoff_ms, 0) FROM execution_attempts a WHERE execution_id = ?1 AND NOT "
        "(status = 'released' AND EXISTS (SELECT 1 FROM executions e WHERE e.id = ?1 AND "
        "e.attempt = a.attempt AND e.attempt_started_at IS NOT NULL AND "
        "e.status NOT IN ('queued', 'running'))) "
        "UNION ALL "
        "SELECT attempt, lease_owner, status, error, attempt_started_at, "
        "coalesce(finished_at, updated_at), 0 FROM executions e WHERE id = ?1 AND attempt > 0 "
        "AND attempt_started_at IS NOT NULL AND status NOT IN ('queued', 'running') AND "
        "NOT EXISTS (SELECT 1 FROM execution_attempts a WHERE a.execution_id = ?1 AND "
        "a.attempt = e.attempt AND a.status <> 'released') "
        "ORDER BY 1",
    [ST_STEP_LIST] = "SELECT node_id, iteration, status, attempts, input, output, error, "
                     "started_at, coalesce(finished_at, 0) FROM execution_steps "
                     "WHERE execution_id = ?1 ORDER BY seq, started_at, node_id, iteration",
    [ST_VERSION] = "SELECT coalesce(max(version), 0) FROM schema_migrations",
};

/* ------------------------------------------------------------ errors */

cf_err sq_map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW: return CF_OK;
  case SQLITE_NOMEM: return CF_E_NOMEM;
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return CF_E_STORE_BUSY;
  case SQLITE_READONLY: return CF_E_STORE_READONLY;
  case SQLITE_FULL: return CF_E_STORE_FULL;
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB: return CF_E_STORE_CORRUPT;
  case SQLITE_CANTOPEN: return CF_E_STORE_CANTOPEN;
  case SQLITE_IOERR: return CF_E_IO;
  case SQLITE_CONSTRAINT:
    return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? CF_E_CONFLICT
                                                                                : CF_E_INVALID;
  default: return CF_E_STORE;
  }
}

/* ------------------------------------------------------------ connections */

static void conn_close(conn *c) {
  if (!c)
    return;
  for (int i = 0; i < SQ_SLOTS; i++)
    sqlite3_finalize(c->stmts[i]);
  sqlite3_close(c->db);
  free(c);
}

/* The statement `id`, prepared once per connection, reset and unbound. */
sqlite3_stmt *sq_stmt(conn *c, int slot, const char *sql) {
  sqlite3_stmt *st = c->stmts[slot];
  if (!st) {
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
      return NULL;
    c->stmts[slot] = st;
  }
  return st;
}

static sqlite3_stmt *stmt(conn *c, enum stmt_id id) {
  return sq_stmt(c, id, sql_text[id]);
}

void sq_done_with(sqlite3_stmt *st) {
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static cf_err run(conn *c, enum stmt_id id) {
  sqlite3_stmt *st = stmt(c, id);
  if (!st)
    return sq_map_rc(sqlite3_errcode(c->db));
  int rc = sqlite3_step(st);
  sq_done_with(st);
  return rc == SQLITE_DONE ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
}

static cf_err open_conn(sqlite_store *s, bool writer, conn **out, char *err, size_t err_cap) {
  conn *c = calloc(1, sizeof *c);
  if (!c)
    return CF_E_NOMEM;
  int flags = SQLITE_OPEN_NOMUTEX |
              (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
  const char *why = NULL;
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(c->db, s->busy_ms);
    sqlite3_extended_result_codes(c->db, 1);
    if (writer && sqlite3_db_readonly(c->db, "main") == 1) {
      rc = SQLITE_READONLY;
      why = "the file is read-only; cronflow needs to write it (check its owner and mode)";
    }
  }
  if (rc == SQLITE_OK && writer) {
    /* WAL lets readers run beside the writer; FULL makes each commit an
     * fsync of the WAL, so an acknowledged write survives power loss. */
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(st);
      if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
        why = "the database cannot be switched to WAL mode";
      rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
      sqlite3_finalize(st);
      if (why && rc == SQLITE_OK)
        rc = SQLITE_CANTOPEN;
    }
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(c->db,
                        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                        "PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-32768;",
                        NULL, NULL, NULL);
  }
  if (rc == SQLITE_OK && !writer)
    rc = sqlite3_exec(c->db, "PRAGMA query_only=1", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    if (err && err_cap)
      snprintf(err, err_cap, "cannot open the database %s: %s", s->path,
               why     ? why
               : c->db ? sqlite3_errmsg(c->db)
                       : "out of memory");
    cf_err e = c->db ? sq_map_rc(sqlite3_extended_errcode(c->db)) : CF_E_NOMEM;
    if (rc == SQLITE_READONLY)
      e = CF_E_STORE_READONLY;
    if (e == CF_OK)
      e = sq_map_rc(rc);
    conn_close(c);
    return e == CF_OK ? CF_E_STORE : e;
  }
  *out = c;
  return CF_OK;
}

cf_err sq_reader_get(sqlite_store *s, conn **out) {
  pthread_mutex_lock(&s->pool_lock);
  conn *c = s->nidle ? s->idle[--s->nidle] : NULL;
  pthread_mutex_unlock(&s->pool_lock);
  if (c) {
    *out = c;
    return CF_OK;
  }
  return open_conn(s, false, out, NULL, 0);
}

void sq_reader_put(sqlite_store *s, conn *c) {
  pthread_mutex_lock(&s->pool_lock);
  if (s->nidle < POOL_MAX) {
    s->idle[s->nidle++] = c;
    c = NULL;
  }
  pthread_mutex_unlock(&s->pool_lock);
  conn_close(c);
}

/* ------------------------------------------------------------ the writer */

typedef struct claim_args {
  const char *owner;
  int64_t now, lease_ms;
  int max;
  store_claim *claims;
  size_t count;
} claim_args;

static cf_err claim_rows(conn *c, enum stmt_id id, claim_args *a, int limit);
static int compare_claims(const void *x, const void *y);

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Claims due work for the local claimer inside the batch's transaction,
 * under a savepoint: on any error nothing is claimed (the pool's own
 * claims find the work later). */
static void claim_locally(sqlite_store *s, const store_claimer *cl, claim_args *a) {
  conn *c = &s->writer;
  int want = cl->capacity(cl->ctx);
  if (want <= 0)
    return;
  if (want > 1024)
    want = 1024;
  *a = (claim_args){cl->owner, wall_ms(), cl->lease_ms, want, NULL, 0};
  a->claims = calloc((size_t)want, sizeof *a->claims);
  if (!a->claims || run(c, ST_SAVEPOINT) != CF_OK) {
    free(a->claims);
    a->claims = NULL;
    return;
  }
  cf_err rc = claim_rows(c, ST_CLAIM_DUE, a, want);
  if (rc && !sqlite3_get_autocommit(c->db))
    (void)run(c, ST_ROLLBACK_TO);
  if (!sqlite3_get_autocommit(c->db))
    (void)run(c, ST_RELEASE);
  if (rc || a->count == 0) {
    store_claims_free(a->claims, a->count);
    a->claims = NULL;
    a->count = 0;
    return;
  }
  qsort(a->claims, a->count, sizeof *a->claims, compare_claims);
}

static void run_batch(sqlite_store *s, job *batch, const store_claimer *cl, claim_args *local) {
  conn *c = &s->writer;
  if (batch->exclusive) {
    batch->result = batch->fn(s, c, batch->arg);
    return;
  }
  cf_err rc = run(c, ST_BEGIN);
  for (job *j = batch; j; j = j->next) {
    if (rc) {
      j->result = rc;
      continue;
    }
    if (j->one_write) {
      /* A failing statement undoes itself; nothing else to roll back. */
      j->result = j->fn(s, c, j->arg);
    } else {
      cf_err sp = run(c, ST_SAVEPOINT);
      j->result = sp ? sp : j->fn(s, c, j->arg);
      if (!sp && j->result && !sqlite3_get_autocommit(c->db))
        (void)run(c, ST_ROLLBACK_TO);
      if (!sp && !sqlite3_get_autocommit(c->db))
        (void)run(c, ST_RELEASE);
    }
    if (sqlite3_get_autocommit(c->db)) {
      /* The error rolled back the whole transaction (an I/O error or a full
       * disk while spilling the cache): the writes before it are gone, and
       * the ones after it must not run outside a transaction. */
      rc = j->result ? j->result : CF_E_STORE;
      for (job *k = batch; k != j; k = k->next)
        k->result = rc;
    }
  }
  if (rc)
    return;
  /* New due work, or a slot of the local pool freed by an outcome: claim
   * for the pool now, in this transaction. */
  bool claim = s->released_work;
  for (job *j = batch; j; j = j->next)
    claim |= (j->wakes || j->frees) && j->result == CF_OK;
  if (cl && claim)
    claim_locally(s, cl, local);
  cf_err commit = run(c, ST_COMMIT);
  if (commit) {
    (void)run(c, ST_ROLLBACK);
    for (job *j = batch; j; j = j->next)
      if (!j->result)
        j->result = commit;
    store_claims_free(local->claims, local->count);
    local->claims = NULL;
    local->count = 0;
  }
}

/* The callback of an asynchronous write nobody waits for. */
void sq_async_ignore(void *ctx, cf_err result) {
  (void)ctx;
  (void)result;
}

/* Hands jobs their results: wakes synchronous callers, runs (unlocked, as
 * they may queue more asynchronous writes) and frees asynchronous ones. */
static void release_jobs(sqlite_store *s, job *list) {
  job *async = NULL;
  pthread_mutex_lock(&s->lock);
  for (job *j = list, *next; j; j = next) {
    next = j->next;
    if (j->done_fn) {
      j->next = async;
      async = j;
    } else {
      j->done = true; /* the caller owns it; do not touch it after this */
    }
  }
  pthread_cond_broadcast(&s->done_cv);
  pthread_mutex_unlock(&s->lock);
  for (job *j = async, *next; j; j = next) {
    next = j->next;
    if (j->done_fn != sq_async_ignore)
      j->done_fn(j->done_ctx, j->result);
    free(j);
  }
}

static void checkpoint_tail(sqlite_store *s);

static void *writer_main(void *arg) {
  sqlite_store *s = arg;
  pthread_setname_np(pthread_self(), "cf-writer");
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->head && !s->stopping && !s->ckpt_tail)
      pthread_cond_wait(&s->job_cv, &s->lock);
    if (s->ckpt_tail && !s->stopping)
      checkpoint_tail(s);
    if (!s->head) {
      if (s->stopping)
        break;
      continue;
    }
    /* Take an exclusive job alone. Otherwise take lease-only writes first,
     * in a batch of their own that needs no fsync, so that claims never
     * wait behind a sync; else every plain job up to the cap. Moving a
     * lease write ahead of an earlier durable one is harmless: they come
     * from different flows, and a claim that misses work queued a moment
     * earlier finds it on its next round. */
    job *batch = NULL, *last = NULL;
    int n = 0;
    if (s->head->exclusive) {
      batch = last = s->head;
      s->head = batch->next;
      n = 1;
    } else {
      for (job **pp = &s->head; *pp && n < s->batch_max;) {
        job *j = *pp;
        if (j->exclusive)
          break;
        if (!j->volatile_ok) {
          pp = &j->next;
          continue;
        }
        *pp = j->next;
        j->next = NULL;
        if (last)
          last->next = j;
        else
          batch = j;
        last = j;
        n++;
      }
      if (!batch) {
        batch = last = s->head;
        n = 1;
        while (last->next && !last->next->exclusive && n < s->batch_max) {
          last = last->next;
          n++;
        }
        s->head = last->next;
      }
    }
    last->next = NULL;
    s->tail = NULL;
    for (job *j = s->head; j; j = j->next)
      s->tail = j;
    store_claimer cl = s->claimer;
    bool has_claimer = s->has_claimer;
    if (has_claimer)
      s->claimer_busy++;
    pthread_mutex_unlock(&s->lock);

    claim_args local = {0};
    run_batch(s, batch, has_claimer ? &cl : NULL, &local);

    /* Committed: visible to every reader now, so wake the workers. A batch
     * of lease-only writes (claims, renewals) is acknowledged at once: if
     * the machine loses power before the next sync, those writes vanish
     * and the executions are queued again, which is what a lost worker
     * means anyway. Anything else waits for the syncer. */
    bool wake = s->released_work, durable = false;
    s->released_work = false;
    for (job *j = batch; j; j = j->next) {
      wake |= j->wakes && j->result == CF_OK;
      durable |= !j->volatile_ok && j->result == CF_OK;
    }
    if (local.count)
      cl.deliver(cl.ctx, local.claims, local.count);
    bool committed = false;
    for (job *j = batch; j; j = j->next)
      committed |= j->result == CF_OK;
    for (size_t i = 0; committed && has_claimer && cl.cancelled && i < s->n_cancels; i++)
      cl.cancelled(cl.ctx, s->cancels[i]);
    s->n_cancels = 0;
    pthread_mutex_lock(&s->lock);
    if (has_claimer && --s->claimer_busy == 0)
      pthread_cond_broadcast(&s->work_cv);
    if (wake) {
      s->work_seq++;
      pthread_cond_broadcast(&s->work_cv);
    }
    if (durable) {
      if (s->sync_tail)
        s->sync_tail->next = batch;
      else
        s->sync_head = batch;
      s->sync_tail = last;
      pthread_cond_signal(&s->sync_cv);
    } else {
      pthread_mutex_unlock(&s->lock);
      release_jobs(s, batch);
      pthread_mutex_lock(&s->lock);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* Makes every committed frame durable: fdatasync of the WAL file, which
 * covers all commits made before the call. */
static cf_err sync_wal(sqlite_store *s) {
  if (s->wal_fd < 0) {
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (s->wal_fd < 0) {
      fprintf(stderr, "cronflow store: cannot open %s to sync it: %s\n", wal, strerror(errno));
      return CF_E_IO;
    }
    /* The WAL file's directory entry must be durable too, once. */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", s->path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *(slash == dir ? slash + 1 : slash) = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  if (fdatasync(s->wal_fd) != 0) {
    fprintf(stderr, "cronflow store: cannot sync %s-wal to disk: %s\n", s->path, strerror(errno));
    return CF_E_IO;
  }
  return CF_OK;
}

/* The writer's WAL hook: after each commit, how many frames the WAL holds
 * (SQLite counts from the top again once a checkpoint let it restart). */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames) {
  (void)db;
  (void)name;
  atomic_store(&((sqlite_store *)ctx)->wal_frames, frames);
  return SQLITE_OK;
}

/*
 * Checkpoints copy the WAL into the database file (each with its own
 * fsyncs) so that the WAL can start again from the top. SQLite starts it
 * again only when a write transaction begins with every frame already
 * copied; under steady writes the writer always commits something between
 * another connection's checkpoint and its own next transaction, and the
 * WAL grew without end (1.6 GB in 20 s of fires; every new frame a fresh
 * block the kernel zeroes). So checkpoints come in two parts:
 *   1. every CHECKPOINT_FRAMES new frames (about 1 MB) the syncer copies
 *      what is new, PASSIVE, on its own connection (the writer and readers
 *      go on), which keeps the database file close behind the WAL;
 *   2. once the WAL holds RESTART_FRAMES (about 64 MB), the writer, between
 *      two batches, copies the few frames committed since (ckpt_tail),
 *      with SQLite's two fsyncs (1-9 ms under load), and waits up to 5 ms
 *      for readers of older frames; its next transaction then starts the
 *      WAL from the top. Rarely, because the writer waits meanwhile
 *      (restarting every 16 MB put the fires' p99 latency at 5 ms, every
 *      64 MB at 3.6 ms).
 * Frames are counted by the writer's WAL hook (wal_frames); the writer has
 * wal_autocheckpoint=0. Both thresholds can be set in store_config.
 */
#define CHECKPOINT_FRAMES 256
#define RESTART_FRAMES    16384

static void checkpoint_if_due(sqlite_store *s) {
  int frames = atomic_load(&s->wal_frames);
  if (frames < s->ckpt_frames)
    s->ckpt_frames = 0; /* the WAL started again */
  if (s->wal_fd < 0 || frames - s->ckpt_frames < s->checkpoint_frames)
    return;
  /* A new connection knows the file is in WAL mode only once it has read
   * it: until then a checkpoint quietly does nothing (-1 frames). */
  if (!s->checkpointer &&
      (sqlite3_open_v2(s->path, &s->checkpointer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK ||
       sqlite3_exec(s->checkpointer,
                    "PRAGMA wal_autocheckpoint=0; SELECT count(*) FROM sqlite_schema", NULL, NULL,
                    NULL) != SQLITE_OK)) {
    sqlite3_close(s->checkpointer);
    s->checkpointer = NULL;
    return;
  }
  int log = 0, done = 0;
  if (sqlite3_wal_checkpoint_v2(s->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) !=
      SQLITE_OK)
    return;
  s->ckpt_frames = done;
  /* Ask the writer again only after another quarter of the threshold: a
   * reader that keeps an old snapshot (say, a shell holding a transaction
   * open) makes the restart give up, and the writer should not wait 5 ms
   * for it at every checkpoint. */
  if (log < s->tail_asked)
    s->tail_asked = 0; /* the WAL started again */
  if (log >= s->restart_frames &&
      (!s->tail_asked || log >= s->tail_asked + s->restart_frames / 4)) {
    s->tail_asked = log;
    pthread_mutex_lock(&s->lock);
    s->ckpt_tail = true;
    pthread_cond_signal(&s->job_cv);
    pthread_mutex_unlock(&s->lock);
  }
}

/* The writer's busy handler while it waits for readers in checkpoint_tail. */
static int tail_busy(void *ctx, int count) {
  (void)ctx;
  if (count >= 25)
    return 0; /* 5 ms: give up, the next checkpoint asks again */
  struct timespec ts = {0, 200000L};
  nanosleep(&ts, NULL);
  return 1;
}

/* The writer's part (see above); called with s->lock held, outside any
 * transaction. */
static void checkpoint_tail(sqlite_store *s) {
  s->ckpt_tail = false;
  pthread_mutex_unlock(&s->lock);
  /* RESTART: copy the rest, then wait (briefly, in 0.2 ms steps) for
   * readers still on the old frames, so that the next transaction starts
   * the WAL from the top; a reader seen between the checkpoint and that
   * transaction would otherwise keep the WAL growing. */
  sqlite3_busy_handler(s->writer.db, tail_busy, NULL);
  int log = 0, done = 0;
  (void)sqlite3_wal_checkpoint_v2(s->writer.db, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done);
  sqlite3_busy_timeout(s->writer.db, s->busy_ms);
  pthread_mutex_lock(&s->lock);
}

static void *syncer_main(void *arg) {
  sqlite_store *s = arg;
  pthread_setname_np(pthread_self(), "cf-syncer");
  pthread_mutex_lock(&s->lock);
  for (;;) {
    while (!s->sync_head && !s->syncer_stop)
      pthread_cond_wait(&s->sync_cv, &s->lock);
    if (!s->sync_head)
      break;
    job *jobs = s->sync_head;
    s->sync_head = s->sync_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    /* Everything taken was committed before this sync starts. */
    cf_err rc = sync_wal(s);
    if (rc) {
      /* The pages may be gone while a later fsync succeeds (Linux marks
       * them clean): accept no more writes on this store. */
      pthread_mutex_lock(&s->lock);
      s->sync_failed = rc;
      pthread_mutex_unlock(&s->lock);
    }
    if (rc)
      for (job *j = jobs; j; j = j->next)
        if (j->result == CF_OK)
          j->result = rc;
    release_jobs(s, jobs);
    checkpoint_if_due(s);
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  checkpoint_if_due(s);
  if (s->checkpointer)
    sqlite3_close(s->checkpointer);
  return NULL;
}

/* Queues a write and waits for its commit. */
static cf_err submit(sqlite_store *s, job *j) {
  j->done = false;
  j->next = NULL;
  pthread_mutex_lock(&s->lock);
  if (s->sync_failed) {
    cf_err e = s->sync_failed;
    pthread_mutex_unlock(&s->lock);
    return e;
  }
  if (s->stopping) {
    pthread_mutex_unlock(&s->lock);
    return CF_E_STORE_CLOSED;
  }
  if (s->tail)
    s->tail->next = j;
  else
    s->head = j;
  s->tail = j;
  pthread_cond_signal(&s->job_cv);
  while (!j->done)
    pthread_cond_wait(&s->done_cv, &s->lock);
  pthread_mutex_unlock(&s->lock);
  return j->result;
}

/* Queues a heap job (job header first, its arguments after it) without
 * waiting; the writer calls its done_fn and frees it. */
cf_err sq_submit_async(sqlite_store *s, job *j) {
  j->next = NULL;
  pthread_mutex_lock(&s->lock);
  if (s->sync_failed) {
    cf_err e = s->sync_failed;
    pthread_mutex_unlock(&s->lock);
    free(j);
    return e;
  }
  if (s->stopping) {
    pthread_mutex_unlock(&s->lock);
    free(j);
    return CF_E_STORE_CLOSED;
  }
  if (s->tail)
    s->tail->next = j;
  else
    s->head = j;
  s->tail = j;
  pthread_cond_signal(&s->job_cv);
  pthread_mutex_unlock(&s->lock);
  return CF_OK;
}

const char *sq_arena_copy(sq_arena *a, const char *text) {
  if (!text)
    return NULL;
  size_t n = strlen(text) + 1;
  char *p = a->next;
  memcpy(p, text, n);
  a->next += n;
  return p;
}

size_t sq_text_size(const char *text) {
  return text ? strlen(text) + 1 : 0;
}

cf_err sq_write_job(sqlite_store *s, cf_err (*fn)(sqlite_store *, conn *, void *), void *arg,
                    bool wakes) {
  job j = {.fn = fn, .arg = arg, .wakes = wakes};
  return submit(s, &j);
}

/* A write that only moves leases, safe to lose on power failure. */
static cf_err lease_job(sqlite_store *s, cf_err (*fn)(sqlite_store *, conn *, void *), void *arg) {
  job j = {.fn = fn, .arg = arg, .volatile_ok = true};
  return submit(s, &j);
}

/* ------------------------------------------------------------ migrations */

typedef struct migrate_args {
  int applied, version;
  char *err;
  size_t err_cap;
} migrate_args;

static int latest_version(void) {
  return (int)sqlite_migrations_count;
}

static cf_err read_version(conn *c, int *version) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(c->db,
                              "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                              "name = 'schema_migrations'",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  rc = sqlite3_step(st);
  bool exists = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  *version = 0;
  if (!exists)
    return CF_OK;
  sqlite3_stmt *v = stmt(c, ST_VERSION);
  if (!v)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  rc = sqlite3_step(v);
  if (rc == SQLITE_ROW)
    *version = sqlite3_column_int(v, 0);
  sq_done_with(v);
  return rc == SQLITE_ROW ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
}

static cf_err too_new(const char *path, int version, char *err, size_t err_cap) {
  if (err && err_cap)
    snprintf(err, err_cap,
             "the database %s has schema version %d, newer than this cronflow knows (%d): "
             "it was written by a newer cronflow; run that version, or restore a backup",
             path, version, latest_version());
  return CF_E_STORE_TOO_NEW;
}

static cf_err migrate_pending(conn *c, migrate_args *a);

static cf_err migrate_fn(sqlite_store *s, conn *c, void *arg) {
  migrate_args *a = arg;
  if (sqlite3_exec(c->db,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                   "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                   NULL, NULL, NULL) != SQLITE_OK) {
    if (a->err)
      snprintf(a->err, a->err_cap, "cannot record migrations in %s: %s", s->path,
               sqlite3_errmsg(c->db));
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  }
  cf_err rc = read_version(c, &a->version);
  if (rc)
    return rc;
  if (a->version > latest_version())
    return too_new(s->path, a->version, a->err, a->err_cap);
  /* Foreign keys are off while migrations run, so that a migration can
   * rebuild a table (create, copy, drop, rename) without the drop deleting
   * the rows that point at it; every reference is checked before each
   * commit instead. (The pragma cannot change inside a transaction.) */
  if (a->version < latest_version())
    (void)sqlite3_exec(c->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
  rc = migrate_pending(c, a);
  (void)sqlite3_exec(c->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
  return rc;
}

/* A row of PRAGMA foreign_key_check: a reference with nothing behind it. */
static int dangling_row(void *ctx, int ncols, char **vals, char **names) {
  (void)names;
  char *out = ctx;
  if (!out[0])
    snprintf(out, 200, "table %s row %s refers to a missing row of %s",
             ncols > 0 && vals[0] ? vals[0] : "?", ncols > 1 && vals[1] ? vals[1] : "?",
             ncols > 2 && vals[2] ? vals[2] : "?");
  return 0;
}

static cf_err migrate_pending(conn *c, migrate_args *a) {
  for (int v = a->version + 1; v <= latest_version(); v++) {
    const embedded_file *m = &sqlite_migrations[v - 1];
    char *msg = NULL, dangling[200] = "";
    int src = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    /* Another process may have applied it since we looked: look again
     * under the write lock. */
    int now_version = 0;
    if (src == SQLITE_OK && read_version(c, &now_version) != CF_OK)
      src = SQLITE_ERROR;
    if (src == SQLITE_OK && now_version >= v) {
      sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
      a->version = now_version;
      continue;
    }
    if (src == SQLITE_OK)
      src = sqlite3_exec(c->db, (const char *)m->data, NULL, NULL, &msg);
    if (src == SQLITE_OK)
      src = sqlite3_exec(c->db, "PRAGMA foreign_key_check", dangling_row, dangling, &msg);
    if (src == SQLITE_OK && dangling[0]) {
      msg = sqlite3_mprintf("%s", dangling);
      src = SQLITE_CONSTRAINT_FOREIGNKEY;
    }
    if (src == SQLITE_OK) {
      char record[512];
      snprintf(record, sizeof record,
               "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', "
               "CAST(strftime('%%s', 'now') AS INTEGER) * 1000)",
               v, m->name);
      src = sqlite3_exec(c->db, record, NULL, NULL, &msg);
    }
    if (src == SQLITE_OK)
      src = sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg);
    if (src != SQLITE_OK) {
      cf_err e = sq_map_rc(sqlite3_extended_errcode(c->db));
      if (a->err)
        snprintf(a->err, a->err_cap, "migration %s failed: %s", m->name, msg ? msg : "error");
      sqlite3_free(msg);
      sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
      return e ? e : CF_E_STORE;
    }
    a->applied++;
    a->version = v;
  }
  return CF_OK;
}

static cf_err sq_migrate(void *impl, int *applied, int *version, char *err, size_t err_cap) {
  sqlite_store *s = impl;
  migrate_args a = {0, 0, err, err_cap};
  job j = {.fn = migrate_fn, .arg = &a, .exclusive = true, .wakes = true};
  cf_err rc = submit(s, &j);
  if (applied)
    *applied = a.applied;
  if (version)
    *version = a.version;
  return rc;
}

static cf_err sq_schema_version(void *impl, int *current, int *latest) {
  sqlite_store *s = impl;
  conn *c;
  cf_err rc = sq_reader_get(s, &c);
  if (rc)
    return rc;
  rc = read_version(c, current);
  sq_reader_put(s, c);
  *latest = latest_version();
  return rc;
}

static cf_err sq_ping(void *impl) {
  int current, latest;
  cf_err rc = sq_schema_version(impl, &current, &latest);
  if (rc)
    return rc;
  return current == latest ? CF_OK : current > latest ? CF_E_STORE_TOO_NEW : CF_E_STORE;
}

/* ------------------------------------------------------------ open/close */

static void sq_close(void *impl);

/* Process-wide settings, before SQLite initialises: no memory statistics
 * (they take a global mutex on every allocation, which showed as the
 * writer's top cost in the scheduler's burst benchmark). */
static void sqlite_global_setup(void) {
  (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static cf_err sq_open(const store_config *cfg, const char *location, void **impl, char *err,
                      size_t err_cap) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, sqlite_global_setup);
  if (!*location) {
    if (err)
      snprintf(err, err_cap, "the database path is empty");
    return CF_E_INVALID;
  }
  sqlite_store *s = calloc(1, sizeof *s);
  if (!s)
    return CF_E_NOMEM;
  s->path = strdup(location);
  s->busy_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : DEFAULT_BUSY_MS;
  s->batch_max = cfg->group_commit_max > 0 ? cfg->group_commit_max : DEFAULT_BATCH;
  s->checkpoint_frames = cfg->checkpoint_frames > 0 ? cfg->checkpoint_frames : CHECKPOINT_FRAMES;
  s->restart_frames = cfg->wal_restart_frames > 0 ? cfg->wal_restart_frames : RESTART_FRAMES;
  pthread_mutex_init(&s->lock, NULL);
  pthread_mutex_init(&s->pool_lock, NULL);
  pthread_cond_init(&s->job_cv, NULL);
  pthread_cond_init(&s->done_cv, NULL);
  pthread_cond_init(&s->sync_cv, NULL);
  s->wal_fd = -1;
  atomic_init(&s->wal_frames, 0);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->work_cv, &ca);
  pthread_condattr_destroy(&ca);
  conn *w = NULL;
  cf_err rc = s->path ? open_conn(s, true, &w, err, err_cap) : CF_E_NOMEM;
  int version = 0;
  if (!rc) {
    s->writer = *w;
    s->writer.writer_of = s;
    free(w);
    sqlite3_wal_hook(s->writer.db, on_wal_commit, s);
    rc = read_version(&s->writer, &version);
    if (rc && err)
      snprintf(err, err_cap, "cannot read the database %s: %s", s->path,
               sqlite3_errmsg(s->writer.db));
  }
  if (!rc && version > latest_version())
    rc = too_new(s->path, version, err, err_cap);
  if (!rc && pthread_create(&s->syncer, NULL, syncer_main, s) != 0)
    rc = CF_E_NOMEM;
  if (!rc)
    s->syncer_started = true;
  if (!rc && pthread_create(&s->thread, NULL, writer_main, s) != 0) {
    rc = CF_E_NOMEM;
    pthread_mutex_lock(&s->lock);
    s->syncer_stop = true;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->syncer, NULL);
  }
  if (rc) {
    for (int i = 0; i < SQ_SLOTS; i++)
      sqlite3_finalize(s->writer.stmts[i]);
    sqlite3_close(s->writer.db);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->job_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_cond_destroy(&s->work_cv);
    free(s->path);
    free(s);
    return rc;
  }
  *impl = s;
  return CF_OK;
}

static void sq_close(void *impl) {
  sqlite_store *s = impl;
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_cond_broadcast(&s->job_cv);
  pthread_cond_broadcast(&s->work_cv);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  /* The writer has committed everything; let the syncer finish. */
  pthread_mutex_lock(&s->lock);
  s->syncer_stop = true;
  pthread_cond_signal(&s->sync_cv);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->syncer, NULL);
  if (s->wal_fd >= 0)
    close(s->wal_fd);
  pthread_cond_destroy(&s->sync_cv);
  for (size_t i = 0; i < s->nidle; i++)
    conn_close(s->idle[i]);
  for (int i = 0; i < SQ_SLOTS; i++)
    sqlite3_finalize(s->writer.stmts[i]);
  sqlite3_close(s->writer.db);
  pthread_mutex_destroy(&s->lock);
  pthread_mutex_destroy(&s->pool_lock);
  pthread_cond_destroy(&s->job_cv);
  pthread_cond_destroy(&s->done_cv);
  pthread_cond_destroy(&s->work_cv);
  free(s->cancels);
  free(s->path);
  free(s);
}

/* ------------------------------------------------------------ helpers */

void sq_bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

void sq_bind_int_or_null(sqlite3_stmt *st, int i, int64_t v) {
  if (v)
    sqlite3_bind_int64(st, i, v);
  else
    sqlite3_bind_null(st, i);
}

char *sq_column_dup(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? strdup((const char *)t) : NULL;
}

/* Steps a statement expected to change rows; its error, or CF_OK. */
cf_err sq_step_done(conn *c, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sq_done_with(st);
  return rc == SQLITE_DONE ? CF_OK : sq_map_rc(sqlite3_extended_errcode(c->db));
}

#define STMT_OR_FAIL(var, c, id)                                                                   \
  sqlite3_stmt *var = stmt(c, id);                                                                 \
  if (!var)                                                                                        \
  return sq_map_rc(sqlite3_extended_errcode((c)->db))

/* ------------------------------------------------------------ enqueue */

typedef struct enqueue_args {
  const store_exec_new *e;
  int64_t now, id;
} enqueue_args;

/* Binds one new execution as parameters base+1 .. base+ENQUEUE_PARAMS, in
 * the column order of ST_ENQUEUE and ST_ENQUEUE_MANY. */
static void bind_exec_new(sqlite3_stmt *st, int base, const store_exec_new *e, int64_t now) {
  sqlite3_bind_int64(st, base + 1, e->org_id ? e->org_id : 1);
  sqlite3_bind_int64(st, base + 2, e->workflow_id);
  sqlite3_bind_int(st, base + 3, e->workflow_version);
  sq_bind_int_or_null(st, base + 4, e->schedule_id);
  if (e->schedule_id)
    sqlite3_bind_int64(st, base + 5, e->scheduled_at);
  else
    sqlite3_bind_null(st, base + 5);
  sqlite3_bind_text(st, base + 6, e->trigger_kind ? e->trigger_kind : "manual", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, base + 7, e->trigger_data ? e->trigger_data : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_int(st, base + 8, e->priority);
  sqlite3_bind_int64(st, base + 9, e->run_at ? e->run_at : now);
  sqlite3_bind_int(st, base + 10, e->max_attempts > 0 ? e->max_attempts : 1);
  sqlite3_bind_int64(st, base + 11, e->backoff_ms > 0 ? e->backoff_ms : 1000);
  sqlite3_bind_int64(st, base + 12, e->backoff_max_ms > 0 ? e->backoff_max_ms : 300000);
  sq_bind_int_or_null(st, base + 13, e->timeout_ms);
  sqlite3_bind_int64(st, base + 14, now);
}

static cf_err enqueue_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  enqueue_args *a = arg;
  STMT_OR_FAIL(st, c, ST_ENQUEUE);
  bind_exec_new(st, 0, a->e, a->now);
  cf_err rc = sq_step_done(c, st);
  if (!rc)
    a->id = sqlite3_last_insert_rowid(c->db);
  return rc;
}

static cf_err sq_exec_enqueue(void *impl, const store_exec_new *e, int64_t now, int64_t *id) {
  enqueue_args a = {e, now, 0};
  cf_err rc = sq_write_job(impl, enqueue_fn, &a, true);
  if (!rc && id)
    *id = a.id;
  return rc;
}

typedef struct enqueue_batch_args {
  const store_exec_new *items;
  size_t n;
  int64_t now;
  int64_t *ids;
} enqueue_batch_args;

static cf_err enqueue_batch_fn(sqlite_store *s, conn *c, void *arg) {
  enqueue_batch_args *b = arg;
  size_t i = 0;
  for (; i + ENQUEUE_ROWS <= b->n; i += ENQUEUE_ROWS) {
    STMT_OR_FAIL(st, c, ST_ENQUEUE_MANY);
    for (int k = 0; k < ENQUEUE_ROWS; k++)
      bind_exec_new(st, k * ENQUEUE_PARAMS, &b->items[i + (size_t)k], b->now);
    cf_err rc = sq_step_done(c, st);
    if (rc)
      return rc;
    /* One writer, rows in VALUES order: the statement's ids are the
     * ENQUEUE_ROWS consecutive ones ending at the last one. */
    int64_t last = sqlite3_last_insert_rowid(c->db);
    for (int k = 0; b->ids && k < ENQUEUE_ROWS; k++)
      b->ids[i + (size_t)k] = last - (ENQUEUE_ROWS - 1) + k;
  }
  for (; i < b->n; i++) {
    enqueue_args a = {&b->items[i], b->now, 0};
    cf_err rc = enqueue_fn(s, c, &a);
    if (rc)
      return rc;
    if (b->ids)
      b->ids[i] = a.id;
  }
  return CF_OK;
}

static cf_err sq_exec_enqueue_batch(void *impl, const store_exec_new *items, size_t n, int64_t now,
                                    int64_t *ids) {
  if (n == 0)
    return CF_OK;
  enqueue_batch_args b = {items, n, now, ids};
  return sq_write_job(impl, enqueue_batch_fn, &b, true);
}

/* ------------------------------------------------------------ claim */

/* Runs one claiming UPDATE ... RETURNING and collects its rows. */
static cf_err claim_rows(conn *c, enum stmt_id id, claim_args *a, int limit) {
  STMT_OR_FAIL(st, c, id);
  sqlite3_bind_int64(st, 1, a->now);
  sqlite3_bind_text(st, 2, a->owner, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, a->now + a->lease_ms);
  sqlite3_bind_int(st, 4, limit);
  int rc;
  cf_err err = CF_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (a->count >= (size_t)a->max)
      continue; /* cannot happen: LIMIT bounds it */
    store_claim *cl = &a->claims[a->count++];
    cl->id = sqlite3_column_int64(st, 0);
    cl->workflow_id = sqlite3_column_int64(st, 1);
    cl->workflow_version = sqlite3_column_int(st, 2);
    cl->attempt = sqlite3_column_int(st, 3);
    cl->max_attempts = sqlite3_column_int(st, 4);
    cl->backoff_ms = sqlite3_column_int64(st, 5);
    cl->backoff_max_ms = sqlite3_column_int64(st, 6);
    cl->timeout_ms = sqlite3_column_int64(st, 7);
    cl->lease_token = sqlite3_column_int64(st, 8);
    cl->schedule_id = sqlite3_column_int64(st, 9);
    cl->scheduled_at = sqlite3_column_int64(st, 10);
    cl->resumes = sqlite3_column_int(st, 11);
    cl->trigger_kind = sq_column_dup(st, 12);
    cl->trigger_data = sq_column_dup(st, 13);
    cl->priority = sqlite3_column_int(st, 14);
    cl->run_at = sqlite3_column_int64(st, 15);
    cl->created_at = sqlite3_column_int64(st, 16);
    cl->org_id = sqlite3_column_int64(st, 17);
    cl->lease_expires_at = a->now + a->lease_ms;
    if (!cl->trigger_kind || !cl->trigger_data)
      err = CF_E_NOMEM;
  }
  sq_done_with(st);
  if (rc != SQLITE_DONE)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  return err;
}

/* RETURNING rows come in no promised order: put due work back in the
 * order it was chosen (priority, then age). */
static int compare_claims(const void *x, const void *y) {
  const store_claim *a = x, *b = y;
  if (a->priority != b->priority)
    return a->priority > b->priority ? -1 : 1;
  if (a->run_at != b->run_at)
    return a->run_at < b->run_at ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static cf_err claim_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  claim_args *a = arg;
  a->claims = calloc((size_t)a->max, sizeof *a->claims);
  if (!a->claims)
    return CF_E_NOMEM;
  /* Lost leases first: that work was promised earliest. */
  cf_err rc = claim_rows(c, ST_CLAIM_EXPIRED, a, a->max);
  size_t expired = a->count;
  if (!rc && a->count < (size_t)a->max)
    rc = claim_rows(c, ST_CLAIM_DUE, a, a->max - (int)a->count);
  if (!rc)
    qsort(a->claims + expired, a->count - expired, sizeof *a->claims, compare_claims);
  return rc;
}

static cf_err sq_exec_claim(void *impl, const char *owner, int64_t now, int64_t lease_ms, int max,
                            store_claim **claims, size_t *count) {
  *claims = NULL;
  *count = 0;
  if (max <= 0)
    return CF_OK;
  claim_args a = {owner, now, lease_ms, max, NULL, 0};
  cf_err rc = lease_job(impl, claim_fn, &a);
  if (rc) {
    store_claims_free(a.claims, a.count);
    return rc;
  }
  if (a.count == 0) {
    free(a.claims);
    a.claims = NULL;
  }
  *claims = a.claims;
  *count = a.count;
  return CF_OK;
}

/* ------------------------------------------------------------ lease writes */

typedef struct lease_args {
  int64_t id, token, now, lease_ms, run_at;
  store_exec_status status;
  const char *error, *result;
} lease_args;

static cf_err renew_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  lease_args *a = arg;
  STMT_OR_FAIL(st, c, ST_RENEW);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_int64(st, 3, a->now + a->lease_ms);
  int step = sqlite3_step(st);
  cf_err rc = step == SQLITE_ROW    ? (sqlite3_column_int(st, 0) ? CF_E_CANCELLED : CF_OK)
              : step == SQLITE_DONE ? CF_E_LEASE_LOST
                                    : sq_map_rc(sqlite3_extended_errcode(c->db));
  sq_done_with(st);
  return rc;
}

static cf_err sq_exec_renew(void *impl, int64_t id, int64_t token, int64_t now, int64_t lease_ms) {
  lease_args a = {.id = id, .token = token, .now = now, .lease_ms = lease_ms};
  return lease_job(impl, renew_fn, &a);
}

/* Steps a fenced UPDATE: LEASE_LOST when it changed nothing. */
static cf_err fenced(conn *c, sqlite3_stmt *st) {
  cf_err rc = sq_step_done(c, st);
  if (!rc && sqlite3_changes(c->db) == 0)
    rc = CF_E_LEASE_LOST;
  return rc;
}

static void bind_finish(sqlite3_stmt *st, const lease_args *a, const char *status) {
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
  sq_bind_text_or_null(st, 4, a->error);
  sq_bind_text_or_null(st, 5, a->result);
  sqlite3_bind_int64(st, 6, a->now);
}

/*
 * A finish is one UPDATE; for an execution of a schedule, the schedule's
 * counters and the release of a held run come with it, under a savepoint
 * of its own. So the job undoes itself on failure either way and runs
 * without the batch's savepoint (one_write).
 */
static cf_err finish_fn(sqlite_store *s, conn *c, void *arg) {
  lease_args *a = arg;
  const char *status = store_exec_status_name(a->status);
  STMT_OR_FAIL(plain, c, ST_FINISH_PLAIN);
  bind_finish(plain, a, status);
  cf_err rc = sq_step_done(c, plain);
  if (rc || sqlite3_changes(c->db) > 0)
    return rc;
  /* A schedule's execution, or the lease is gone. */
  STMT_OR_FAIL(of, c, ST_SCHEDULE_OF);
  sqlite3_bind_int64(of, 1, a->id);
  int step = sqlite3_step(of);
  int64_t schedule_id = step == SQLITE_ROW ? sqlite3_column_int64(of, 0) : 0;
  sq_done_with(of);
  if (step == SQLITE_DONE)
    return CF_E_LEASE_LOST; /* no such execution (pruned) */
  if (step != SQLITE_ROW)
    return sq_map_rc(sqlite3_extended_errcode(c->db));
  if (!schedule_id)
    return CF_E_LEASE_LOST;
  STMT_OR_FAIL(st, c, ST_FINISH);
  if ((rc = run(c, ST_SAVEPOINT)) != CF_OK)
    return rc;
  bind_finish(st, a, status);
  rc = fenced(c, st);
  if (!rc)
    rc = sq_schedule_exec_ended(s, c, schedule_id, status, a->now);
  if (rc && !sqlite3_get_autocommit(c->db))
    (void)run(c, ST_ROLLBACK_TO);
  if (!sqlite3_get_autocommit(c->db))
    (void)run(c, ST_RELEASE);
  return rc;
}

/* Records the running attempt of a fenced execution as ended (see
 * ST_ATTEMPT_END); the caller's UPDATE then moves the execution on. */
static cf_err attempt_end(conn *c, const lease_args *a, const char *status, const char *error) {
  STMT_OR_FAIL(st, c, ST_ATTEMPT_END);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, a->now);
  sqlite3_bind_int64(st, 5, a->run_at);
  sq_bind_text_or_null(st, 6, error);
  return sq_step_done(c, st);
}

static cf_err sq_exec_finish(void *impl, int64_t id, int64_t token, store_exec_status status,
                             const char *error, const char *result, int64_t now) {
  lease_args a = {
      .id = id, .token = token, .now = now, .status = status, .error = error, .result = result};
  job j = {.fn = finish_fn, .arg = &a, .one_write = true};
  return submit(impl, &j);
}

static cf_err retry_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  lease_args *a = arg;
  cf_err rc = attempt_end(c, a, "failed", a->error);
  if (rc)
    return rc;
  STMT_OR_FAIL(st, c, ST_RETRY);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_int64(st, 3, a->run_at);
  sq_bind_text_or_null(st, 4, a->error);
  sqlite3_bind_int64(st, 5, a->now);
  return fenced(c, st);
}

static cf_err sq_exec_retry(void *impl, int64_t id, int64_t token, const char *error,
                            int64_t run_at, int64_t now) {
  lease_args a = {.id = id, .token = token, .now = now, .run_at = run_at, .error = error};
  return sq_write_job(impl, retry_fn, &a, true);
}

static cf_err release_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  lease_args *a = arg;
  cf_err rc = attempt_end(c, a, "released", NULL);
  if (rc)
    return rc;
  STMT_OR_FAIL(st, c, ST_RELEASE_EXEC);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_int64(st, 3, a->now);
  return fenced(c, st);
}

static cf_err sq_exec_release(void *impl, int64_t id, int64_t token, int64_t now) {
  lease_args a = {.id = id, .token = token, .now = now};
  return sq_write_job(impl, release_fn, &a, true);
}

typedef struct rerun_args {
  int64_t id, now;
} rerun_args;

static cf_err rerun_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  rerun_args *a = arg;
  STMT_OR_FAIL(fin, c, ST_ATTEMPT_FINAL);
  sqlite3_bind_int64(fin, 1, a->id);
  cf_err rc = sq_step_done(c, fin);
  if (rc)
    return rc;
  STMT_OR_FAIL(st, c, ST_RERUN);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->now);
  rc = sq_step_done(c, st);
  if (rc || sqlite3_changes(c->db) > 0)
    return rc;
  STMT_OR_FAIL(ex, c, ST_EXISTS);
  sqlite3_bind_int64(ex, 1, a->id);
  int step = sqlite3_step(ex);
  sq_done_with(ex);
  if (step == SQLITE_ROW)
    return CF_E_CONFLICT;
  return step == SQLITE_DONE ? CF_E_NOT_FOUND : sq_map_rc(sqlite3_extended_errcode(c->db));
}

static cf_err sq_exec_rerun_failed(void *impl, int64_t id, int64_t now) {
  rerun_args a = {id, now};
  return sq_write_job(impl, rerun_fn, &a, true);
}

/* ------------------------------------------------------------ steps */

typedef struct step_args {
  int64_t id, token;
  const store_step *step;
} step_args;

static cf_err step_save_fn(sqlite_store *s, conn *c, void *arg) {
  step_args *a = arg;
  const store_step *p = a->step;
  STMT_OR_FAIL(st, c, ST_STEP_SAVE);
  sqlite3_bind_int64(st, 1, a->id);
  sqlite3_bind_int64(st, 2, a->token);
  sqlite3_bind_text(st, 3, p->node_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, p->iteration);
  sqlite3_bind_text(st, 5, p->status, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, p->attempts > 0 ? p->attempts : 1);
  sq_bind_text_or_null(st, 7, p->input);
  sq_bind_text_or_null(st, 8, p->output);
  sq_bind_text_or_null(st, 9, p->error);
  sqlite3_bind_int64(st, 10, p->started_at);
  sq_bind_int_or_null(st, 11, p->finished_at);
  /* The order steps were first recorded in: microseconds of the wall
   * clock, kept strictly increasing by this writer. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t seq = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  if (seq <= s->step_seq)
    seq = s->step_seq + 1;
  s->step_seq = seq;
  sqlite3_bind_int64(st, 12, seq);
  return fenced(c, st);
}

static cf_err sq_step_save(void *impl, int64_t execution_id, int64_t token,
                           const store_step *step) {
  step_args a = {execution_id, token, step};
  job j = {.fn = step_save_fn, .arg = &a, .one_write = true};
  return submit(impl, &j);
}

/* ------------------------------------------------------------ async */

typedef struct async_lease {
  job j;
  lease_args a;
} async_lease;

static cf_err queue_lease_async(sqlite_store *s, cf_err (*fn)(sqlite_store *, conn *, void *),
                                const lease_args *args, bool wakes, store_done_fn done, void *ctx) {
  size_t extra = sq_text_size(args->error) + sq_text_size(args->result);
  async_lease *x = calloc(1, sizeof *x + extra);
  if (!x)
    return CF_E_NOMEM;
  sq_arena ar = {(char *)(x + 1), (char *)(x + 1) + extra};
  x->a = *args;
  x->a.error = sq_arena_copy(&ar, args->error);
  x->a.result = sq_arena_copy(&ar, args->result);
  /* A retry records the attempt too: two statements, so under the batch's
   * savepoint. A finish keeps its own (see finish_fn). */
  x->j = (job){.fn = fn,
               .arg = &x->a,
               .wakes = wakes,
               .one_write = fn == finish_fn,
               .frees = true,
               .done_fn = done ? done : sq_async_ignore,
               .done_ctx = ctx};
  return sq_submit_async(s, &x->j);
}

static cf_err sq_exec_finish_async(void *impl, int64_t id, int64_t token, store_exec_status status,
                                   const char *error, const char *result, int64_t now,
                                   store_done_fn done, void *ctx) {
  lease_args a = {
      .id = id, .token = token, .now = now, .status = status, .error = error, .result = result};
  return queue_lease_async(impl, finish_fn, &a, false, done, ctx);
}

static cf_err sq_exec_retry_async(void *impl, int64_t id, int64_t token, const char *error,
                                  int64_t run_at, int64_t now, store_done_fn done, void *ctx) {
  lease_args a = {.id = id, .token = token, .now = now, .run_at = run_at, .error = error};
  return queue_lease_async(impl, retry_fn, &a, true, done, ctx);
}

typedef struct async_step {
  job j;
  step_args a;
  store_step step;
} async_step;

static cf_err sq_step_save_async(void *impl, int64_t execution_id, int64_t token,
                                 const store_step *step, store_done_fn done, void *ctx) {
  size_t extra = sq_text_size(step->node_id) + sq_text_size(step->status) +
                 sq_text_size(step->input) + sq_text_size(step->output) + sq_text_size(step->error);
  async_step *x = calloc(1, sizeof *x + extra);
  if (!x)
    return CF_E_NOMEM;
  sq_arena ar = {(char *)(x + 1), (char *)(x + 1) + extra};
  x->step = *step;
  x->step.node_id = sq_arena_copy(&ar, step->node_id);
  x->step.status = sq_arena_copy(&ar, step->status);
  x->step.input = sq_arena_copy(&ar, step->input);
  x->step.output = sq_arena_copy(&ar, step->output);
  x->step.error = sq_arena_copy(&ar, step->error);
  x->a = (step_args){execution_id, token, &x->step};
  /* One INSERT ... ON CONFLICT: atomic as a statement, no savepoint. */
  x->j = (job){.fn = step_save_fn,
               .arg = &x->a,
               .one_write = true,
               .done_fn = done ? done : sq_async_ignore,
               .done_ctx = ctx};
  return sq_submit_async(impl, &x->j);
}

/* ------------------------------------------------------------ prune */

typedef struct prune_args {
  int64_t before;
  int limit;
  int64_t deleted;
} prune_args;

static cf_err prune_fn(sqlite_store *s, conn *c, void *arg) {
  (void)s;
  prune_args *a = arg;
  STMT_OR_FAIL(st, c, ST_PRUNE);
  sqlite3_bind_int64(st, 1, a->before);
  sqlite3_bind_int(st, 2, a->limit);
  cf_err rc = sq_step_done(c, st);
  if (!rc)
    a->deleted = sqlite3_changes(c->db);
  return rc;
}

static cf_err sq_exec_prune(void *impl, int64_t before, int limit, int64_t *deleted) {
  prune_args a = {before, limit > 0 ? limit : 1000, 0};
  cf_err rc = sq_write_job(impl, prune_fn, &a, false);
  if (deleted)
    *deleted = a.deleted;
  return rc;
}

/* ------------------------------------------------------------ reads */

/*
 * Runs read-only statement `id` on a pooled reader connection: binds
 * `key` as ?1 when it is not 0, then calls row(st, ctx) for every row until
 * it returns an error. Returns that error, a database error, or CF_OK.
 */
/* See sqlite_int.h. */
cf_err sq_run_read(sqlite_store *s, const read_one *r) {
  conn *c;
  cf_err rc = sq_reader_get(s, &c);
  if (rc)
    return rc;
  sqlite3_stmt *st = sq_stmt(c, r->slot, r->sql);
  if (!st) {
    rc = sq_map_rc(sqlite3_extended_errcode(c->db));
    sq_reader_put(s, c);
    return rc;
  }
  if (r->bind)
    r->bind(st, r->ctx);
  else if (r->key)
    sqlite3_bind_int64(st, 1, r->key);
  int step = SQLITE_DONE;
  while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
    rc = r->row(st, r->ctx);
  if (!rc && step != SQLITE_DONE)
    rc = sq_map_rc(sqlite3_extended_errcode(c->db));
  sq_done_with(st);
  sq_reader_put(s, c);
  return rc;
}

static cf_err read_rows(sqlite_store *s, enum stmt_id id, int64_t key,
                        cf_err (*row)(sqlite3_stmt *st, void *ctx), void *ctx) {
  read_one r = {.slot = id, .sql = sql_text[id], .row = row, .ctx = ctx, .key = key};
  return sq_run_read(s, &r);
}

/* See sqlite_int.h. */
void *sq_append(void **items, size_t *count, size_t *cap, size_t size) {
  if (*count == *cap) {
    size_t n = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, n * size);
    if (!p)
      return NULL;
    *items = p;
    *cap = n;
  }
  void *item = (char *)*items + *count * size;
  memset(item, 0, size);
  (*count)++;
  return item;
}

/* See sqlite_int.h. */
cf_err sq_exec_row(sqlite3_stmt *st, store_exec *out) {
  out->id = sqlite3_column_int64(st, 0);
  out->org_id = sqlite3_column_int64(st, 1);
  out->workflow_id = sqlite3_column_int64(st, 2);
  out->workflow_version = sqlite3_column_int(st, 3);
  out->schedule_id = sqlite3_column_int64(st, 4);
  out->scheduled_at = sqlite3_column_int64(st, 5);
  out->attempt = sqlite3_column_int(st, 7);
  out->max_attempts = sqlite3_column_int(st, 8);
  out->run_at = sqlite3_column_int64(st, 9);
  out->created_at = sqlite3_column_int64(st, 10);
  out->started_at = sqlite3_column_int64(st, 11);
  out->finished_at = sqlite3_column_int64(st, 12);
  out->lease_token = sqlite3_column_int64(st, 13);
  out->trigger_kind = sq_column_dup(st, 14);
  out->trigger_data = sq_column_dup(st, 15);
  out->error = sq_column_dup(st, 16);
  out->result = sq_column_dup(st, 17);
  if (!store_exec_status_parse((const char *)sqlite3_column_text(st, 6), &out->status))
    return CF_E_STORE_CORRUPT;
  return out->trigger_kind && out->trigger_data ? CF_OK : CF_E_NOMEM;
}

static cf_err exec_row(sqlite3_stmt *st, void *ctx) {
  return sq_exec_row(st, ctx);
}

static cf_err sq_exec_get(void *impl, int64_t id, store_exec *out) {
  memset(out, 0, sizeof *out);
  cf_err rc = read_rows(impl, ST_GET, id, exec_row, out);
  if (!rc && !out->id)
    rc = CF_E_NOT_FOUND;
  if (rc)
    store_exec_clear(out);
  return rc;
}

static cf_err count_row(sqlite3_stmt *st, void *ctx) {
  int64_t *counts = ctx;
  store_exec_status status;
  if (store_exec_status_parse((const char *)sqlite3_column_text(st, 0), &status))
    counts[status] = sqlite3_column_int64(st, 1);
  return CF_OK;
}

static cf_err sq_exec_counts(void *impl, int64_t counts[6]) {
  memset(counts, 0, 6 * sizeof *counts);
  return read_rows(impl, ST_COUNTS, 0, count_row, counts);
}

/* See sqlite_int.h. */
cf_err sq_int_row(sqlite3_stmt *st, void *ctx) {
  if (sqlite3_column_type(st, 0) == SQLITE_NULL)
    return CF_E_NOT_FOUND;
  *(int64_t *)ctx = sqlite3_column_int64(st, 0);
  return CF_OK;
}

static cf_err sq_exec_next_due(void *impl, int64_t *run_at) {
  return read_rows(impl, ST_NEXT_DUE, 0, sq_int_row, run_at);
}

static cf_err sq_exec_pending(void *impl, int64_t *count) {
  return read_rows(impl, ST_PENDING, 0, sq_int_row, count);
}

typedef struct attempt_rows {
  store_attempt *items;
  size_t count, cap;
} attempt_rows;

static cf_err attempt_row(sqlite3_stmt *st, void *ctx) {
  attempt_rows *r = ctx;
  store_attempt *a = sq_append((void **)&r->items, &r->count, &r->cap, sizeof *a);
  if (!a)
    return CF_E_NOMEM;
  a->attempt = sqlite3_column_int(st, 0);
  a->lease_owner = sq_column_dup(st, 1);
  a->status = sq_column_dup(st, 2);
  a->error = sq_column_dup(st, 3);
  a->started_at = sqlite3_column_int64(st, 4);
  a->finished_at = sqlite3_column_int64(st, 5);
  a->backoff_ms = sqlite3_column_int64(st, 6);
  return CF_OK;
}

static cf_err sq_attempt_list(void *impl, int64_t execution_id, store_attempt **out,
                              size_t *count) {
  attempt_rows r = {0};
  cf_err rc = read_rows(impl, ST_ATTEMPT_LIST, execution_id, attempt_row, &r);
  if (rc) {
    store_attempts_free(r.items, r.count);
    r.items = NULL;
    r.count = 0;
  }
  *out = r.items;
  *count = r.count;
  return rc;
}

typedef struct step_rows {
  store_step *items;
  size_t count, cap;
} step_rows;

static cf_err step_row(sqlite3_stmt *st, void *ctx) {
  step_rows *r = ctx;
  store_step *p = sq_append((void **)&r->items, &r->count, &r->cap, sizeof *p);
  if (!p)
    return CF_E_NOMEM;
  p->node_id = sq_column_dup(st, 0);
  p->iteration = sqlite3_column_int64(st, 1);
  p->status = sq_column_dup(st, 2);
  p->attempts = sqlite3_column_int(st, 3);
  p->input = sq_column_dup(st, 4);
  p->output = sq_column_dup(st, 5);
  p->error = sq_column_dup(st, 6);
  p->started_at = sqlite3_column_int64(st, 7);
  p->finished_at = sqlite3_column_int64(st, 8);
  return p->node_id && p->status ? CF_OK : CF_E_NOMEM;
}

static cf_err sq_step_list(void *impl, int64_t execution_id, store_step **out, size_t *count) {
  step_rows r = {0};
  cf_err rc = read_rows(impl, ST_STEP_LIST, execution_id, step_row, &r);
  if (rc) {
    store_steps_free(r.items, r.count);
    r.items = NULL;
    r.count = 0;
  }
  *out = r.items;
  *count = r.count;
  return rc;
}

/* ------------------------------------------------------------ wake-ups */

static uint64_t sq_work_seq(void *impl) {
  sqlite_store *s = impl;
  pthread_mutex_lock(&s->lock);
  uint64_t seq = s->work_seq;
  pthread_mutex_unlock(&s->lock);
  return seq;
}

static void sq_wait_work(void *impl, uint64_t seen, int64_t timeout_ms) {
  sqlite_store *s = impl;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  if (timeout_ms < 0)
    timeout_ms = 0;
  until.tv_sec += (time_t)(timeout_ms / 1000);
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->lock);
  while (s->work_seq == seen && !s->stopping)
    if (pthread_cond_timedwait(&s->work_cv, &s->lock, &until) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&s->lock);
}

void sq_note_cancel(conn *c, int64_t id) {
  sqlite_store *s = c->writer_of;
  if (!s)
    return;
  if (s->n_cancels == s->cap_cancels) {
    size_t cap = s->cap_cancels ? s->cap_cancels * 2 : 16;
    int64_t *p = realloc(s->cancels, cap * sizeof *p);
    if (!p)
      return; /* the lease renewal tells the worker instead, a little later */
    s->cancels = p;
    s->cap_cancels = cap;
  }
  s->cancels[s->n_cancels++] = id;
}

static void sq_set_claimer(void *impl, const store_claimer *claimer) {
  sqlite_store *s = impl;
  pthread_mutex_lock(&s->lock);
  if (claimer) {
    s->claimer = *claimer;
    snprintf(s->claimer_owner, sizeof s->claimer_owner, "%s", claimer->owner);
    s->claimer.owner = s->claimer_owner;
    s->has_claimer = true;
  } else {
    s->has_claimer = false;
    /* A batch in progress may still call the old claimer: wait for it. */
    while (s->claimer_busy > 0)
      pthread_cond_wait(&s->work_cv, &s->lock);
  }
  pthread_mutex_unlock(&s->lock);
}

const store_backend store_sqlite_backend = {
    .name = "sqlite",
    .scheme = "sqlite:",
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .ping = sq_ping,
    .exec_enqueue = sq_exec_enqueue,
    .exec_enqueue_batch = sq_exec_enqueue_batch,
    .exec_claim = sq_exec_claim,
    .exec_renew = sq_exec_renew,
    .exec_finish = sq_exec_finish,
    .exec_retry = sq_exec_retry,
    .exec_finish_async = sq_exec_finish_async,
    .exec_retry_async = sq_exec_retry_async,
    .step_save_async = sq_step_save_async,
    .exec_release = sq_exec_release,
    .exec_rerun_failed = sq_exec_rerun_failed,
    .exec_get = sq_exec_get,
    SQ_API_OPS,
    .exec_counts = sq_exec_counts,
    .exec_next_due = sq_exec_next_due,
    .exec_pending = sq_exec_pending,
    .work_seq = sq_work_seq,
    .wait_work = sq_wait_work,
    .exec_prune = sq_exec_prune,
    .attempt_list = sq_attempt_list,
    .step_save = sq_step_save,
    .step_list = sq_step_list,
    .workflow_create = sq_workflow_create,
    .workflow_update = sq_workflow_update,
    .workflow_delete = sq_workflow_delete,
    .workflow_get = sq_workflow_get,
    .workflow_version_get = sq_workflow_version_get,
    .log_add_async = sq_log_add_async,
    .log_list = sq_log_list,
    .set_claimer = sq_set_claimer,
    .cred_put = sq_cred_put,
    .cred_delete = sq_cred_delete,
    .cred_list = sq_cred_list,
    .email_template_put = sq_email_template_put,
    .email_template_list = sq_email_template_list,
    .email_template_delete = sq_email_template_delete,
    .email_log_add_async = sq_email_log_add_async,
    .email_log_list = sq_email_log_list,
    .sched_create_batch = sq_sched_create_batch,
    .sched_update = sq_sched_update,
    .sched_set_enabled = sq_sched_set_enabled,
    .sched_delete = sq_sched_delete,
    .sched_get = sq_sched_get,
    .sched_load = sq_sched_load,
    .sched_list = sq_sched_list,
    .sched_changed = sq_sched_changed,
    .sched_change_seq = sq_sched_change_seq,
    .sched_fire = sq_sched_fire,
    .sched_fire_async = sq_sched_fire_async,
    .exec_cancel = sq_exec_cancel,
    .sched_ticks = sq_sched_ticks,
    .sched_ticks_prune = sq_sched_ticks_prune,
};
